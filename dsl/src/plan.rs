//! The compiled task: a serialisable DAG of typed node specs. This is the
//! contract between the DSL and the runtime in `pipeline`.

use std::fmt::Write as _;

pub use model::{DbRp, TaskType};
use serde::{Deserialize, Serialize};

use crate::ast::BinaryOp;
use crate::lambda::Lambda;
use crate::span::Span;

/// What travels on an edge: single points or batches of points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EdgeType {
    Stream,
    Batch,
}

impl EdgeType {
    pub fn name(self) -> &'static str {
        match self {
            EdgeType::Stream => "stream",
            EdgeType::Batch => "batch",
        }
    }
}

/// A constant argument of a node, property or handler, with its type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "lowercase")]
pub enum Value {
    Bool(bool),
    Int(i64),
    Float(f64),
    /// Nanoseconds.
    Duration(i64),
    String(String),
    /// A double-quoted name where any value was allowed.
    Reference(String),
    /// The pattern; the runtime compiles it.
    Regex(String),
    Star,
    List(Vec<Value>),
    Lambda(Lambda),
    /// Another node of this plan, by id (join, union).
    Node(usize),
    /// A bare comparison operator (seed `filter(<, 30)`).
    Operator(BinaryOp),
    /// A call such as `time(10s)` in a query's groupBy.
    Call {
        name: String,
        args: Vec<Value>,
    },
    /// A template variable declared without a value (`var x duration`),
    /// filled in when a task is created from the template.
    Var {
        name: String,
        ty: String,
    },
}

impl Value {
    /// Type name for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a float",
            Value::Duration(_) => "a duration",
            Value::String(_) => "a string",
            Value::Reference(_) => "a reference",
            Value::Regex(_) => "a regex",
            Value::Star => "*",
            Value::List(_) => "a list",
            Value::Lambda(_) => "a lambda expression",
            Value::Node(_) => "a pipeline",
            Value::Operator(_) => "an operator",
            Value::Call { .. } => "a function call",
            Value::Var { .. } => "a template variable",
        }
    }
}

/// `.name(args)` as set on a node or handler. Properties given twice
/// (`.where()`, `.tag()`) appear twice, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Property {
    pub name: String,
    pub args: Vec<Value>,
    pub span: Span,
}

/// An alert handler such as `.post(url).header(k, v)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HandlerSpec {
    pub kind: String,
    pub args: Vec<Value>,
    pub properties: Vec<Property>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeSpec {
    /// Position in creation order, as Kapacitor numbers nodes.
    pub id: usize,
    /// Kapacitor's name: kind and id, e.g. `window1`.
    pub name: String,
    /// The TICKscript name (`window`, `mean`, `alert`), or the UDF's name.
    pub kind: String,
    /// Created with `@name()`.
    pub udf: bool,
    pub args: Vec<Value>,
    pub properties: Vec<Property>,
    pub handlers: Vec<HandlerSpec>,
    /// The edge it is fed (`None` for the root).
    pub wants: Option<EdgeType>,
    /// The edge it emits (`None` for outputs that end a pipeline).
    pub provides: Option<EdgeType>,
    pub span: Span,
}

impl NodeSpec {
    /// The last value given to a property, if set.
    pub fn property(&self, name: &str) -> Option<&Property> {
        self.properties.iter().rev().find(|p| p.name == name)
    }

    /// How many instances to run, from `.parallelism(n)`; 1 by default.
    pub fn parallelism(&self) -> i64 {
        match self.property("parallelism").and_then(|p| p.args.first()) {
            Some(Value::Int(n)) => *n,
            _ => 1,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Edge {
    pub from: usize,
    pub to: usize,
    pub edge: EdgeType,
}

/// A script variable other than a pipeline; these can be overridden when a
/// task is defined.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VarSpec {
    pub name: String,
    /// `bool`, `int`, `float`, `duration`, `string`, `regex`, `lambda`,
    /// `star` or `list`.
    pub ty: String,
    /// `None` for a template variable that must be filled in.
    pub value: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub task_type: TaskType,
    /// Indexed by id; node 0 is the root.
    pub nodes: Vec<NodeSpec>,
    pub edges: Vec<Edge>,
    pub dbrps: Vec<DbRp>,
    pub vars: Vec<VarSpec>,
}

impl Plan {
    pub fn node(&self, id: usize) -> Option<&NodeSpec> {
        self.nodes.get(id)
    }

    /// Adds `|deadman(threshold, interval)` on node `parent`, as
    /// Kapacitor's global `[deadman]` adds one to every task's source.
    pub fn add_deadman(&mut self, parent: usize, threshold: f64, interval_ns: i64) {
        let id = self.nodes.len();
        self.nodes.push(NodeSpec {
            id,
            name: format!("deadman{id}"),
            kind: "deadman".into(),
            udf: false,
            args: vec![Value::Float(threshold), Value::Duration(interval_ns)],
            properties: Vec::new(),
            handlers: Vec::new(),
            wants: self.nodes.get(parent).and_then(|p| p.provides),
            provides: Some(EdgeType::Stream),
            span: crate::span::Span::default(),
        });
        let edge = self
            .nodes
            .get(parent)
            .and_then(|p| p.provides)
            .unwrap_or(EdgeType::Stream);
        self.edges.push(Edge {
            from: parent,
            to: id,
            edge,
        });
    }

    pub fn children(&self, id: usize) -> impl Iterator<Item = &NodeSpec> {
        self.edges
            .iter()
            .filter(move |e| e.from == id)
            .filter_map(|e| self.nodes.get(e.to))
    }

    pub fn parents(&self, id: usize) -> impl Iterator<Item = &NodeSpec> {
        self.edges
            .iter()
            .filter(move |e| e.to == id)
            .filter_map(|e| self.nodes.get(e.from))
    }

    /// Graphviz DOT in Kapacitor's shape: one `parent -> child;` line per
    /// edge, in node order.
    pub fn to_dot(&self, graph_name: &str) -> String {
        let plain = !graph_name.is_empty()
            && graph_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !graph_name.starts_with(|c: char| c.is_ascii_digit());
        let mut out = if plain {
            format!("digraph {graph_name} {{\n")
        } else {
            format!("digraph \"{}\" {{\n", graph_name.replace('"', "\\\""))
        };
        for node in &self.nodes {
            for edge in self.edges.iter().filter(|e| e.from == node.id) {
                if let Some(child) = self.nodes.get(edge.to) {
                    let _ = writeln!(out, "{} -> {};", node.name, child.name);
                }
            }
        }
        out.push_str("}\n");
        out
    }
}
