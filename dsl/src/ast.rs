//! The syntax tree the grammar builds: close to the source, with a span on
//! every node, and no meaning attached yet (that is `compile`'s job).

use serde::{Deserialize, Serialize};

use crate::span::Span;

#[derive(Debug, Clone, PartialEq)]
pub enum Stmt {
    /// `var name type`: a template variable filled at task creation.
    TypeDecl { name: Ident, ty: Ident, span: Span },
    /// `var name = value`.
    Var {
        name: Ident,
        value: Expr,
        span: Span,
    },
    /// `dbrp "db"."rp"`.
    Dbrp { db: String, rp: String, span: Span },
    /// A pipeline, usually one that adds nodes or sets properties.
    Expr(Expr),
    /// A statement the parser could not read; already reported.
    Error,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Ident(String),
    Bool(bool),
    Int(i64),
    Float(f64),
    /// Nanoseconds.
    Duration(i64),
    Str(String),
    /// `"name"`: a field or tag inside a lambda, a name elsewhere.
    Reference(String),
    Regex(String),
    Star,
    List(Vec<Expr>),
    /// `lambda: expr`.
    Lambda(Box<Expr>),
    Unary(UnaryOp, Box<Expr>),
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    /// `name(args)` at the head of a pipeline or inside a lambda.
    Call(Call),
    /// `target|call`, `target.call`, `target.name` or `target@call`.
    Chain(Box<Expr>, ChainOp, Call),
    /// A bare comparison operator as an argument: the seed's `filter(<, 30)`.
    Operator(BinaryOp),
    /// Could not be parsed; already reported.
    Error,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub name: Ident,
    /// `None` for a bare `.name` with no parentheses.
    pub args: Option<Vec<Expr>>,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainOp {
    /// `|`: creates a child node.
    Pipe,
    /// `.`: sets a property (or, in the seed's form, creates a child node).
    Dot,
    /// `@`: a UDF node.
    At,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UnaryOp {
    #[serde(rename = "-")]
    Neg,
    #[serde(rename = "!")]
    Not,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BinaryOp {
    #[serde(rename = "OR")]
    Or,
    #[serde(rename = "AND")]
    And,
    #[serde(rename = "==")]
    Eq,
    #[serde(rename = "!=")]
    NotEq,
    #[serde(rename = "=~")]
    RegexMatch,
    #[serde(rename = "!~")]
    RegexNotMatch,
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    LtEq,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    GtEq,
    #[serde(rename = "+")]
    Add,
    #[serde(rename = "-")]
    Sub,
    #[serde(rename = "*")]
    Mul,
    #[serde(rename = "/")]
    Div,
    #[serde(rename = "%")]
    Mod,
}

impl BinaryOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Or => "OR",
            BinaryOp::And => "AND",
            BinaryOp::Eq => "==",
            BinaryOp::NotEq => "!=",
            BinaryOp::RegexMatch => "=~",
            BinaryOp::RegexNotMatch => "!~",
            BinaryOp::Lt => "<",
            BinaryOp::LtEq => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::GtEq => ">=",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
        }
    }

    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinaryOp::Eq
                | BinaryOp::NotEq
                | BinaryOp::Lt
                | BinaryOp::LtEq
                | BinaryOp::Gt
                | BinaryOp::GtEq
        )
    }

    /// Whether a comparison holds for operands ordered `ord` (false for an
    /// operator that is not a comparison).
    pub fn holds(self, ord: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            BinaryOp::Eq => ord == Equal,
            BinaryOp::NotEq => ord != Equal,
            BinaryOp::Lt => ord == Less,
            BinaryOp::LtEq => ord != Greater,
            BinaryOp::Gt => ord == Greater,
            BinaryOp::GtEq => ord != Less,
            _ => false,
        }
    }

    pub fn is_arithmetic(self) -> bool {
        matches!(
            self,
            BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod
        )
    }
}

impl Expr {
    pub fn new(kind: ExprKind, span: Span) -> Self {
        Expr { kind, span }
    }
}
