//! Statements to a [`Plan`]: evaluates the script against the node table,
//! checking every call, argument type and edge, and collecting every
//! problem instead of stopping at the first.

use std::collections::HashMap;

use crate::ast::{BinaryOp, Call, ChainOp, Expr, ExprKind, Ident, Stmt, UnaryOp};
use crate::diagnostic::{Diagnostic, Diagnostics, did_you_mean};
use crate::lambda::{EvalValue, Lambda, LambdaExpr, PointScope};
use crate::limits::{Limits, MAX_LAMBDA_SIZE, measure};
use crate::nodes::{
    self, HandlerDef, MAP, NodeDef, Parent, Sig, Ty, ValueType, Wants, function_def, handler_def,
    node_def,
};
use crate::plan::{
    DbRp, Edge, EdgeType, HandlerSpec, NodeSpec, Plan, Property, TaskType, Value, VarSpec,
};
use crate::span::Span;

/// Types a template variable may be declared with (`var x duration`).
const VAR_TYPES: &[&str] = &[
    "bool", "int", "float", "duration", "string", "regex", "lambda", "star", "list",
];

/// Properties and nodes whose lambda decides whether a point passes, so it
/// must be true or false.
const BOOLEAN_LAMBDAS: &[&str] = &[
    "where",
    "info",
    "warn",
    "crit",
    "infoReset",
    "warnReset",
    "critReset",
    "stateDuration",
    "stateCount",
    "combine",
    "deadman",
];

/// Compiles a script for a task of `task_type`. On failure every problem
/// found is returned, each with its span.
pub fn compile(script: &str, task_type: TaskType) -> Result<Plan, Diagnostics> {
    compile_with_vars(script, task_type, &HashMap::new())
}

/// Compiles a script with its vars set from outside, as Kapacitor does when
/// a task is created from a template: a value in `vars` replaces the
/// script's `var NAME = ...` default or fills its `var NAME TYPE`
/// declaration. Check the values first with [`check_vars`], which names
/// the var in its errors (these come from the task's metadata, not the
/// script).
pub fn compile_with_vars(
    script: &str,
    task_type: TaskType,
    vars: &HashMap<String, Value>,
) -> Result<Plan, Diagnostics> {
    compile_with_limits(script, task_type, vars, &Limits::default())
}

/// [`compile_with_vars`] under `limits` (the daemon's `limits:` config):
/// a script past one is refused with a diagnostic at the place that
/// breaks it (the byte past the size, the node past the count or depth,
/// the lambda too deep, the `.parallelism()` too large).
pub fn compile_with_limits(
    script: &str,
    task_type: TaskType,
    vars: &HashMap<String, Value>,
    limits: &Limits,
) -> Result<Plan, Diagnostics> {
    if script.len() > limits.max_script_size {
        let mut at = limits.max_script_size;
        while !script.is_char_boundary(at) {
            at -= 1;
        }
        return Err(Diagnostics(vec![
            Diagnostic::error(
                format!(
                    "the script is longer than {} bytes (limits.max_script_size)",
                    limits.max_script_size
                ),
                Span::new(at, at),
            )
            .with_label(format!("{} bytes in all", script.len())),
        ]));
    }
    let (stmts, syntax) = crate::parse::parse(script);
    if !syntax.is_empty() {
        // Meaning checks on a half-parsed script mostly echo the syntax
        // error (a var whose declaration was lost is "unknown"), so stop.
        return Err(Diagnostics(syntax));
    }
    let mut c = Compiler::new(task_type);
    c.overrides = vars.clone();
    c.limits = *limits;
    for stmt in &stmts {
        if c.nodes.len() > limits.max_nodes {
            // Stop early: the rest could only add nodes, and compiling
            // them costs time the refusal does not need.
            break;
        }
        c.statement(stmt);
    }
    c.finish()
}

/// What is wrong with setting `vars` on a script whose vars are
/// `declared` (a compiled plan's `vars`): names the script lacks, and
/// values of another type than the script's. Each error is (var, message).
pub fn check_vars(declared: &[VarSpec], vars: &HashMap<String, Value>) -> Vec<(String, String)> {
    let mut errors = Vec::new();
    let mut names: Vec<&String> = vars.keys().collect();
    names.sort();
    for name in names {
        let given = var_type(&vars[name]);
        match declared.iter().find(|v| &v.name == name) {
            None => {
                let known: Vec<&str> = declared.iter().map(|v| v.name.as_str()).collect();
                let mut message = format!("the script has no var `{name}`");
                if let Some(s) = did_you_mean(name, known.iter().copied()) {
                    message.push_str(&format!("; did you mean `{s}`?"));
                }
                errors.push((name.clone(), message));
            }
            Some(v) if v.ty != given => errors.push((
                name.clone(),
                format!("the script's var `{name}` is {}, not {given}", a(&v.ty)),
            )),
            Some(_) => {}
        }
    }
    errors
}

/// The value of a lambda var given as text (`"value" > 90`), as
/// [`compile_with_vars`] takes it.
pub fn lambda_var(source: &str) -> Result<Value, String> {
    let text = format!("var v = lambda: {source}\n");
    let (stmts, syntax) = crate::parse::parse(&text);
    let first_error = |d: Vec<Diagnostic>| {
        d.into_iter()
            .next()
            .map_or_else(|| "not a lambda expression".to_owned(), |d| d.message)
    };
    if !syntax.is_empty() {
        return Err(first_error(syntax));
    }
    let mut c = Compiler::new(TaskType::Stream);
    for stmt in &stmts {
        c.statement(stmt);
    }
    if !c.diags.is_empty() {
        return Err(first_error(c.diags));
    }
    match c.scope.remove("v").map(|b| b.val) {
        Some(Val::Const(v @ Value::Lambda(_))) => Ok(v),
        _ => Err("not a lambda expression".into()),
    }
}

/// Guesses a script's task type from the first root it names, for tools
/// that are given a script without its metadata.
pub fn detect_task_type(script: &str) -> TaskType {
    use crate::lexer::Token;
    let mut prev = None;
    for token in crate::lexer::tokens(script) {
        if let Token::Ident(name) = &token {
            let chained = matches!(prev, Some(Token::Pipe | Token::Dot | Token::At));
            if !chained && name == "batch" {
                return TaskType::Batch;
            }
            if !chained && name == "stream" {
                return TaskType::Stream;
            }
        }
        prev = Some(token);
    }
    TaskType::Stream
}

/// A node plus, inside an alert, the handler that `.x()` calls apply to.
#[derive(Debug, Clone, Copy)]
struct NodeRef {
    id: usize,
    handler: Option<usize>,
}

/// Stands for something that already failed to compile: using it reports
/// nothing more, so one mistake gives one error.
const POISON: NodeRef = NodeRef {
    id: usize::MAX,
    handler: None,
};

#[derive(Debug, Clone)]
enum Val {
    Node(NodeRef),
    Const(Value),
    /// A template variable of the given type, value supplied later.
    Template(String),
}

struct Binding {
    val: Val,
    span: Span,
}

pub(crate) struct Compiler {
    task_type: TaskType,
    nodes: Vec<NodeSpec>,
    /// `None` for UDF nodes.
    defs: Vec<Option<&'static NodeDef>>,
    edges: Vec<Edge>,
    dbrps: Vec<DbRp>,
    vars: Vec<VarSpec>,
    scope: HashMap<String, Binding>,
    pub(crate) diags: Vec<Diagnostic>,
    root_used: bool,
    wrong_root: bool,
    /// Nodes whose edge type could not be known because of an earlier error.
    unknown_edge: Vec<usize>,
    /// Nodes an error was reported on (a property or argument of theirs).
    reported: Vec<usize>,
    /// Vars set from outside the script (see [`compile_with_vars`]).
    overrides: HashMap<String, Value>,
    pub(crate) limits: Limits,
    /// Compiling a topic handler's match expression: its functions
    /// ([`crate::matching::MATCH_FUNCTIONS`]) are known too.
    pub(crate) match_functions: bool,
}

impl Compiler {
    pub(crate) fn new(task_type: TaskType) -> Self {
        let root = task_type.root();
        let provides = match task_type {
            TaskType::Stream => EdgeType::Stream,
            TaskType::Batch => EdgeType::Batch,
        };
        Compiler {
            task_type,
            nodes: vec![NodeSpec {
                id: 0,
                name: format!("{root}0"),
                kind: root.to_owned(),
                udf: false,
                args: Vec::new(),
                properties: Vec::new(),
                handlers: Vec::new(),
                wants: None,
                provides: Some(provides),
                span: Span::default(),
            }],
            defs: vec![node_def(root)],
            edges: Vec::new(),
            dbrps: Vec::new(),
            vars: Vec::new(),
            scope: HashMap::new(),
            diags: Vec::new(),
            root_used: false,
            wrong_root: false,
            unknown_edge: Vec::new(),
            reported: Vec::new(),
            overrides: HashMap::new(),
            limits: Limits::default(),
            match_functions: false,
        }
    }

    /// Binds `name` to a constant, as a `var` before the code would.
    pub(crate) fn bind_const(&mut self, name: &str, value: Value) {
        self.scope.insert(
            name.to_owned(),
            Binding {
                val: Val::Const(value),
                span: Span::default(),
            },
        );
    }

    /// The lambda function `name`, with the match functions when compiling
    /// a match expression.
    fn function(&self, name: &str) -> Option<&'static nodes::FuncDef> {
        let own = self
            .match_functions
            .then(|| {
                crate::matching::MATCH_FUNCTIONS
                    .iter()
                    .find(|f| f.name == name)
            })
            .flatten();
        own.or_else(|| function_def(name))
    }

    fn error(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    fn finish(mut self) -> Result<Plan, Diagnostics> {
        if !self.root_used && !self.wrong_root && self.diags.is_empty() {
            let root = self.task_type.root();
            let example = match self.task_type {
                TaskType::Stream => "`stream|from().measurement('cpu')`",
                TaskType::Batch => {
                    "`batch|query('SELECT mean(\"value\") FROM \"db\".\"rp\".\"cpu\"')`"
                }
            };
            self.error(
                Diagnostic::error(
                    format!("this {root} task never uses `{root}`"),
                    Span::new(0, 0),
                )
                .with_label(format!("a {root} task's pipeline starts from `{root}`"))
                .with_help(format!("begin a pipeline like {example}")),
            );
        }
        self.check_nodes();
        self.check_shape();
        if !self.diags.is_empty() {
            self.diags.sort_by_key(|d| d.span.start);
            return Err(Diagnostics(self.diags));
        }
        Ok(Plan {
            task_type: self.task_type,
            nodes: self.nodes,
            edges: self.edges,
            dbrps: self.dbrps,
            vars: self.vars,
        })
    }

    /// The meaning checks of [`crate::check`] on every node, skipping nodes
    /// already reported on: a node whose arguments or properties failed to
    /// type-check lacks them, and one mistake should give one error.
    /// Node count and chain depth against the limits: the runtime passes a
    /// point down a path by recursion, and each node costs memory.
    fn check_shape(&mut self) {
        let limits = self.limits;
        if let Some(node) = self.nodes.get(limits.max_nodes) {
            let d = Diagnostic::error(
                format!(
                    "the task has more than {} nodes (limits.max_nodes)",
                    limits.max_nodes
                ),
                node.span,
            )
            .with_label("one node too many")
            .with_help("split the work into several tasks");
            self.diags.push(d);
            return;
        }
        let mut parents: Vec<Vec<usize>> = vec![Vec::new(); self.nodes.len()];
        for e in &self.edges {
            if let Some(p) = parents.get_mut(e.to) {
                p.push(e.from);
            }
        }
        // Parents are created before their children, so one pass in id
        // order sees every parent's depth first.
        let mut depth = vec![0usize; self.nodes.len()];
        for node in &self.nodes {
            let d = 1 + parents[node.id]
                .iter()
                .filter(|&&p| p < node.id)
                .map(|&p| depth[p])
                .max()
                .unwrap_or(0);
            depth[node.id] = d;
            if d > limits.max_chain_depth {
                let d = Diagnostic::error(
                    format!(
                        "the chain of nodes is more than {} deep (limits.max_chain_depth)",
                        limits.max_chain_depth
                    ),
                    node.span,
                )
                .with_label(format!("node {} of one path from the root", d))
                .with_help("split the work into several tasks");
                self.diags.push(d);
                return;
            }
        }
    }

    fn check_nodes(&mut self) {
        let mut found = Vec::new();
        for node in &self.nodes {
            if self.unknown_edge.contains(&node.id) || self.reported.contains(&node.id) {
                continue;
            }
            let parents = self.edges.iter().filter(|e| e.to == node.id).count();
            crate::check::node(node, parents, &self.limits, &mut found);
        }
        self.diags.extend(found);
    }

    fn statement(&mut self, stmt: &Stmt) {
        match stmt {
            Stmt::Error => {}
            Stmt::Dbrp { db, rp, .. } => self.dbrps.push(DbRp::new(db.as_str(), rp.as_str())),
            Stmt::TypeDecl { name, ty, .. } => {
                if !VAR_TYPES.contains(&ty.name.as_str()) {
                    let mut d = Diagnostic::error(format!("unknown type `{}`", ty.name), ty.span)
                        .with_label(format!(
                            "template variables are one of {}",
                            VAR_TYPES.join(", ")
                        ));
                    if let Some(s) = did_you_mean(&ty.name, VAR_TYPES.iter().copied()) {
                        d = d.with_help(format!("did you mean `{s}`?"));
                    }
                    self.error(d);
                    return;
                }
                let given = self.overrides.get(&name.name).cloned();
                let val = given
                    .clone()
                    .map_or_else(|| Val::Template(ty.name.clone()), Val::Const);
                if self.define(name, val) {
                    self.vars.push(VarSpec {
                        name: name.name.clone(),
                        ty: ty.name.clone(),
                        value: given,
                    });
                }
            }
            Stmt::Var { name, value, .. } if self.overrides.contains_key(&name.name) => {
                let given = self.overrides[&name.name].clone();
                // The script's default is still checked, then replaced.
                let ty = match self.value_or_node(value) {
                    Some(Val::Const(v)) => var_type(&v).to_owned(),
                    _ => var_type(&given).to_owned(),
                };
                self.vars.push(VarSpec {
                    name: name.name.clone(),
                    ty,
                    value: Some(given.clone()),
                });
                self.define(name, Val::Const(given));
            }
            Stmt::Var { name, value, .. } => {
                let Some(val) = self.value_or_node(value) else {
                    // Still bind it, so later uses are not "unknown".
                    self.define(name, Val::Node(POISON));
                    return;
                };
                if let Val::Const(v) = &val {
                    self.vars.push(VarSpec {
                        name: name.name.clone(),
                        ty: var_type(v).to_owned(),
                        value: Some(v.clone()),
                    });
                }
                self.define(name, val);
            }
            Stmt::Expr(expr) => {
                self.pipeline(expr);
            }
        }
    }

    /// Binds a variable; vars are immutable, so a second definition is an
    /// error.
    fn define(&mut self, name: &Ident, val: Val) -> bool {
        if name.name == "stream" || name.name == "batch" {
            self.error(
                Diagnostic::error(format!("cannot redefine `{}`", name.name), name.span)
                    .with_label("this name is the task's root node"),
            );
            return false;
        }
        if let Some(prev) = self.scope.get(&name.name) {
            let first = prev.span;
            self.error(
                Diagnostic::error(
                    format!("variable `{}` is already defined", name.name),
                    name.span,
                )
                .with_label("defined again here")
                .with_secondary(first, "first defined here")
                .with_help("variables cannot be changed; pick another name"),
            );
            return false;
        }
        self.scope.insert(
            name.name.clone(),
            Binding {
                val,
                span: name.span,
            },
        );
        true
    }

    fn lookup(&mut self, name: &str, span: Span) -> Option<Val> {
        if name == "stream" || name == "batch" {
            if name == self.task_type.root() {
                self.root_used = true;
                return Some(Val::Node(NodeRef {
                    id: 0,
                    handler: None,
                }));
            }
            self.wrong_root = true;
            let other = self.task_type.root();
            self.error(
                Diagnostic::error(format!("`{name}` is not available in a {other} task"), span)
                    .with_label(format!("a {other} task starts from `{other}`"))
                    .with_help(format!(
                        "if this is a {name} task, check it with `--type {name}`"
                    )),
            );
            return None;
        }
        if let Some(b) = self.scope.get(name) {
            return Some(b.val.clone());
        }
        let mut d = Diagnostic::error(format!("unknown variable `{name}`"), span)
            .with_label("not defined before this point");
        if node_def(name).is_some() {
            d = d.with_help(format!(
                "`{name}` is a node; create it on a parent, e.g. `stream|{name}()`"
            ));
        } else if let Some(s) = did_you_mean(
            name,
            self.scope
                .keys()
                .map(String::as_str)
                .chain([self.task_type.root()]),
        ) {
            d = d.with_help(format!("did you mean `{s}`?"));
        }
        self.error(d);
        None
    }

    /// A statement: a pipeline that adds nodes or sets properties.
    fn pipeline(&mut self, expr: &Expr) -> Option<NodeRef> {
        match &expr.kind {
            ExprKind::Ident(name) => match self.lookup(name, expr.span)? {
                Val::Node(n) => Some(n),
                _ => {
                    self.error(
                        Diagnostic::error(format!("`{name}` is not a pipeline"), expr.span)
                            .with_label("this variable holds a value, not a node"),
                    );
                    None
                }
            },
            ExprKind::Call(call) => {
                let name = &call.name.name;
                let mut d =
                    Diagnostic::error(format!("`{name}()` needs a parent node"), call.name.span)
                        .with_label("a pipeline starts from `stream`, `batch` or a variable");
                if node_def(name).is_some() || name == MAP {
                    d = d.with_help(format!(
                        "chain it from a node: `{}|{name}(…)`",
                        self.task_type.root()
                    ));
                }
                self.error(d);
                None
            }
            ExprKind::Chain(target, op, call) => {
                // Carry on past a broken link so the rest is checked too.
                let parent = self.pipeline(target).unwrap_or(POISON);
                Some(self.chain(parent, *op, call, target).unwrap_or(POISON))
            }
            _ => {
                self.error(
                    Diagnostic::error("expected a pipeline", expr.span)
                        .with_label("a statement must start from `stream`, `batch` or a variable"),
                );
                None
            }
        }
    }

    /// Chains `call` on `at`, noting the nodes it reported errors on.
    fn chain(&mut self, at: NodeRef, op: ChainOp, call: &Call, target: &Expr) -> Option<NodeRef> {
        let before = self.diags.len();
        let result = self.chain_call(at, op, call, target);
        if self.diags.len() > before {
            // A failed child may well be a property meant for its parent
            // (`|period(10s)`), so the parent counts as reported too.
            self.reported
                .extend([at.id].into_iter().chain(result.map(|n| n.id)));
        }
        result
    }

    fn chain_call(
        &mut self,
        at: NodeRef,
        op: ChainOp,
        call: &Call,
        target: &Expr,
    ) -> Option<NodeRef> {
        let name = call.name.name.as_str();
        if at.id == POISON.id {
            // What the parent was is unknown: only check what stands alone.
            return match node_def(name) {
                Some(def) if op != ChainOp::At && def.parent == Parent::Any => {
                    self.create(at, def, call)
                }
                None if op == ChainOp::Pipe && name != MAP => {
                    self.chain_unknown_node(name, call, None);
                    None
                }
                _ => None,
            };
        }
        let def = self.defs[at.id];
        match op {
            ChainOp::At => self.udf(at, call),
            ChainOp::Pipe => {
                if name == MAP {
                    return self.seed_map(at, call);
                }
                if let Some(child) = node_def(name) {
                    return self.create(at, child, call);
                }
                let parent = def.map(|d| (d, self.nodes[at.id].kind.clone()));
                self.chain_unknown_node(name, call, parent);
                None
            }
            ChainOp::Dot => {
                // Inside an alert handler its own properties come first.
                if let Some(h) = at.handler {
                    let kind = self.nodes[at.id].handlers[h].kind.clone();
                    if let Some(prop) =
                        handler_def(&kind).and_then(|hd| hd.props.iter().find(|p| p.name == name))
                    {
                        let args = self.args(&prop.sig, call, &format!("`.{name}`"));
                        let property = Property {
                            name: name.to_owned(),
                            args,
                            span: call.span,
                        };
                        self.nodes[at.id].handlers[h].properties.push(property);
                        return Some(at);
                    }
                }
                let Some(def) = def else {
                    // UDF options are declared by the UDF process, which we
                    // cannot ask offline: accept any.
                    let args = self.args(&nodes_any(), call, &format!("`.{name}`"));
                    self.nodes[at.id].properties.push(Property {
                        name: name.to_owned(),
                        args,
                        span: call.span,
                    });
                    return Some(NodeRef {
                        id: at.id,
                        handler: None,
                    });
                };
                if let Some(prop) = def.prop(name) {
                    let args = self.args(&prop.sig, call, &format!("`.{name}`"));
                    self.check_bool_lambdas(name, &args, call);
                    self.nodes[at.id].properties.push(Property {
                        name: name.to_owned(),
                        args,
                        span: call.span,
                    });
                    return Some(NodeRef {
                        id: at.id,
                        handler: None,
                    });
                }
                if def.handlers
                    && let Some(hd) = handler_def(name)
                {
                    return Some(self.handler(at, hd, call));
                }
                // The seed's form: a `.` call that is not a property creates
                // a child node, as Kapacitor did before 0.12.
                if name == MAP {
                    return self.seed_map(at, call);
                }
                if let Some(child) = node_def(name)
                    && child.parent != Parent::Root
                {
                    return self.create(at, child, call);
                }
                let node = &self.nodes[at.id];
                let mut d = Diagnostic::error(
                    format!("{} has no property `{name}`", article_kind(&node.kind)),
                    call.name.span,
                )
                .with_label(format!("not a property of {}", node.kind));
                let mut candidates: Vec<&str> = def.prop_names().collect();
                if let Some(h) = at.handler
                    && let Some(hd) = handler_def(&self.nodes[at.id].handlers[h].kind)
                {
                    candidates.extend(hd.props.iter().map(|p| p.name));
                }
                if def.handlers {
                    candidates.extend(nodes::HANDLERS.iter().map(|h| h.name));
                }
                if let Some(s) = did_you_mean(name, candidates.iter().copied()) {
                    d = d.with_help(format!("did you mean `{s}`?"));
                } else if matches!(target.kind, ExprKind::Ident(_)) && def.kind == "stream" {
                    d = d.with_help("select data with `stream|from()` first");
                }
                self.error(d);
                // The node itself is fine; keep checking what follows.
                Some(at)
            }
        }
    }

    fn chain_unknown_node(
        &mut self,
        name: &str,
        call: &Call,
        parent: Option<(&'static NodeDef, String)>,
    ) {
        let mut d = Diagnostic::error(format!("unknown node `{name}`"), call.name.span);
        match parent {
            Some((def, kind)) if def.prop(name).is_some() => {
                d = d
                    .with_label(format!("`{name}` is a property of {kind}, not a node"))
                    .with_help(format!("set it with `.{name}(…)`"));
            }
            Some((def, _)) if def.handlers && handler_def(name).is_some() => {
                d = d
                    .with_label(format!("`{name}` is an alert handler, not a node"))
                    .with_help(format!("add it with `.{name}(…)`"));
            }
            _ => {
                d = d.with_label("no such node");
                let kinds = nodes::NODES.iter().map(|n| n.kind).chain([MAP]);
                if let Some(s) = did_you_mean(name, kinds) {
                    d = d.with_help(format!("did you mean `{s}`?"));
                }
            }
        }
        self.error(d);
    }

    fn check_bool_lambdas(&mut self, name: &str, args: &[Value], call: &Call) {
        if !BOOLEAN_LAMBDAS.contains(&name) {
            return;
        }
        let exprs = call.args.as_deref().unwrap_or_default();
        for (v, e) in args.iter().zip(exprs) {
            if let Value::Lambda(Lambda { ty: Some(ty), .. }) = v
                && *ty != ValueType::Bool
            {
                self.error(
                    Diagnostic::error(
                        format!(
                            "`{name}` needs a lambda that is TRUE or FALSE, but this one is {}",
                            a(ty.name())
                        ),
                        e.span,
                    )
                    .with_label(format!("this is {}", a(ty.name())))
                    .with_help("compare it with something, e.g. `lambda: \"value\" > 10`"),
                );
            }
        }
    }

    fn handler(&mut self, at: NodeRef, hd: &'static HandlerDef, call: &Call) -> NodeRef {
        let args = self.args(&hd.args, call, &format!("`.{}`", hd.name));
        let node = &mut self.nodes[at.id];
        node.handlers.push(HandlerSpec {
            kind: hd.name.to_owned(),
            args,
            properties: Vec::new(),
            span: call.span,
        });
        NodeRef {
            id: at.id,
            handler: Some(node.handlers.len() - 1),
        }
    }

    /// Adds `kind` as a child of `at`, checking where it may go and that
    /// the edge between them carries what it wants.
    fn create(&mut self, at: NodeRef, def: &'static NodeDef, call: &Call) -> Option<NodeRef> {
        if at.id == POISON.id {
            // Checked for its own arguments only; the plan is discarded.
            self.args(&def.args, call, &format!("`{}`", def.kind));
            let id = self.nodes.len();
            self.nodes.push(NodeSpec {
                id,
                name: format!("{}{id}", def.kind),
                kind: def.kind.to_owned(),
                udf: false,
                args: Vec::new(),
                properties: Vec::new(),
                handlers: Vec::new(),
                wants: None,
                provides: None,
                span: call.span,
            });
            self.defs.push(Some(def));
            // Its edge is unknown, so what follows is not edge-checked.
            self.unknown_edge.push(id);
            return Some(NodeRef { id, handler: None });
        }
        if self.unknown_edge.contains(&at.id) {
            return self.create(POISON, def, call);
        }
        let parent = &self.nodes[at.id];
        let parent_name = parent.name.clone();
        let span = call.name.span;
        match def.parent {
            Parent::Root => {
                self.error(
                    Diagnostic::error(format!("`{}` cannot be chained", def.kind), span)
                        .with_label(format!("`{}` is the root of a {} task", def.kind, def.kind)),
                );
                return None;
            }
            Parent::StreamRoot if parent.kind != "stream" || parent.udf => {
                self.error(
                    Diagnostic::error(format!("`{}` can only follow `stream`", def.kind), span)
                        .with_label(format!("{parent_name} is not `stream`")),
                );
                return None;
            }
            Parent::BatchRoot if parent.kind != "batch" || parent.udf => {
                self.error(
                    Diagnostic::error(format!("`{}` can only follow `batch`", def.kind), span)
                        .with_label(format!("{parent_name} is not `batch`")),
                );
                return None;
            }
            _ => {}
        }
        let input = match parent.provides {
            Some(e) => e,
            None => {
                self.error(
                    Diagnostic::error(format!("nothing can follow `{}`", parent.kind), span)
                        .with_label(format!(
                            "{parent_name} writes data out and ends the pipeline"
                        )),
                );
                return None;
            }
        };
        let want = match def.wants {
            Wants::Stream => EdgeType::Stream,
            Wants::Batch => EdgeType::Batch,
            Wants::Any => input,
        };
        if want != input {
            let (help, provides) = match want {
                EdgeType::Stream => (
                    "turn batches back into points with `|trickle()` first",
                    "batches",
                ),
                EdgeType::Batch => (
                    "collect points into batches with `|window()` first",
                    "a stream of points",
                ),
            };
            self.error(
                Diagnostic::error(
                    format!(
                        "`{}` needs {} but {parent_name} provides {provides}",
                        def.kind,
                        edge_words(want)
                    ),
                    span,
                )
                .with_label(format!("{} is fed {provides} here", def.kind))
                .with_help(help),
            );
            return None;
        }
        let args = self.args(&def.args, call, &format!("`{}`", def.kind));
        self.check_bool_lambdas(def.kind, &args, call);
        let id = self.nodes.len();
        // Join and union take their other parents as arguments.
        let mut others = Vec::new();
        for (v, e) in args.iter().zip(call.args.as_deref().unwrap_or_default()) {
            if let Value::Node(other) = v {
                let other_edge = self.nodes[*other].provides;
                if other_edge != Some(input) {
                    let found = other_edge.map_or("nothing", edge_words);
                    self.error(
                        Diagnostic::error(
                            format!(
                                "`{}` needs all its parents to provide {}",
                                def.kind,
                                edge_words(input)
                            ),
                            e.span,
                        )
                        .with_label(format!("this provides {found}")),
                    );
                    return None;
                }
                others.push(*other);
            }
        }
        self.edges.push(Edge {
            from: at.id,
            to: id,
            edge: input,
        });
        for from in others {
            self.edges.push(Edge {
                from,
                to: id,
                edge: input,
            });
        }
        self.nodes.push(NodeSpec {
            id,
            name: format!("{}{id}", def.kind),
            kind: def.kind.to_owned(),
            udf: false,
            args,
            properties: Vec::new(),
            handlers: Vec::new(),
            wants: Some(input),
            provides: def.output(input),
            span: call.span,
        });
        self.defs.push(Some(def));
        Some(NodeRef { id, handler: None })
    }

    fn udf(&mut self, at: NodeRef, call: &Call) -> Option<NodeRef> {
        let parent = &self.nodes[at.id];
        let Some(input) = parent.provides else {
            let kind = parent.kind.clone();
            self.error(
                Diagnostic::error(format!("nothing can follow `{kind}`"), call.name.span)
                    .with_label("this node ends the pipeline"),
            );
            return None;
        };
        let name = call.name.name.clone();
        let args = self.args(&nodes_any(), call, &format!("`@{name}`"));
        let id = self.nodes.len();
        self.edges.push(Edge {
            from: at.id,
            to: id,
            edge: input,
        });
        self.nodes.push(NodeSpec {
            id,
            name: format!("{name}{id}"),
            kind: name,
            udf: true,
            args,
            properties: Vec::new(),
            handlers: Vec::new(),
            wants: Some(input),
            // A UDF declares its edges to the daemon; offline we assume it
            // keeps what it is fed.
            provides: Some(input),
            span: call.span,
        });
        self.defs.push(None);
        Some(NodeRef { id, handler: None })
    }

    /// The seed's `x.map(mean, "value")`, the same as `x|mean('value')`.
    fn seed_map(&mut self, at: NodeRef, call: &Call) -> Option<NodeRef> {
        let args = call.args.as_deref().unwrap_or_default();
        let func = match args.first().map(|e| &e.kind) {
            Some(ExprKind::Ident(f)) => node_def(f).filter(|d| d.is_influxql()).ok_or(args[0].span),
            Some(_) => Err(args[0].span),
            None => Err(call.span),
        };
        let def = match func {
            Ok(def) => def,
            Err(span) => {
                self.error(
                    Diagnostic::error("`map` expects a function name and a field", span)
                        .with_label("expected a function such as mean, sum or count")
                        .with_help("write it as `.map(mean, \"value\")`"),
                );
                return None;
            }
        };
        let inner = Call {
            name: Ident {
                name: def.kind.to_owned(),
                span: args[0].span,
            },
            args: Some(args[1..].to_vec()),
            span: call.span,
        };
        self.create(at, def, &inner)
    }

    /// Evaluates and type-checks the arguments of a call against `sig`.
    fn args(&mut self, sig: &Sig, call: &Call, what: &str) -> Vec<Value> {
        let exprs = call.args.as_deref().unwrap_or_default();
        if !sig.accepts_count(exprs.len()) {
            let n = sig.arity();
            let plural = if n == "1" { "argument" } else { "arguments" };
            let span = exprs
                .get(sig.required.len() + sig.optional.len())
                .filter(|_| sig.rest.is_none())
                .map_or(call.span, |e| {
                    e.span.to(exprs.last().map_or(e.span, |l| l.span))
                });
            let mut d = Diagnostic::error(
                format!("{what} takes {n} {plural}, found {}", exprs.len()),
                span,
            );
            d = if exprs.len() < sig.required.len() {
                let missing: Vec<&str> = sig.required[exprs.len()..]
                    .iter()
                    .map(|t| t.describe())
                    .collect();
                d.with_label(format!("missing {}", missing.join(", ")))
            } else {
                d.with_label("too many arguments")
            };
            self.error(d);
        }
        let mut out = Vec::with_capacity(exprs.len());
        for (i, e) in exprs.iter().enumerate() {
            let Some(ty) = sig.at(i) else { break };
            match self.arg(ty, e, what) {
                // A list var fills the rest of a variadic call, as in
                // `var groups = ['host', 'dc']` … `.groupBy(groups)`.
                Some(Value::List(items)) if sig.rest.is_some() && ty != Ty::Any => {
                    out.extend(items)
                }
                Some(Value::List(_)) if ty != Ty::Any => self.error(
                    Diagnostic::error(
                        format!("{what} expects {}, found a list", ty.describe()),
                        e.span,
                    )
                    .with_label(format!("expected {}", ty.describe())),
                ),
                Some(v) => out.push(v),
                None => {}
            }
        }
        out
    }

    fn arg(&mut self, ty: Ty, e: &Expr, what: &str) -> Option<Value> {
        // Lambdas and nodes are evaluated by what they are, not as values.
        let v = match (&e.kind, ty) {
            (ExprKind::Call(c), Ty::Dimension) if c.name.name == "time" => {
                let inner = c.args.as_deref().unwrap_or_default();
                match inner {
                    [d] => match self.value(d)? {
                        v @ Value::Duration(_) => Value::Call {
                            name: "time".to_owned(),
                            args: vec![v],
                        },
                        other => {
                            self.error(
                                Diagnostic::error(
                                    format!(
                                        "`time` expects a duration, found {}",
                                        other.type_name()
                                    ),
                                    d.span,
                                )
                                .with_label("e.g. time(10s)"),
                            );
                            return None;
                        }
                    },
                    _ => {
                        self.error(
                            Diagnostic::error("`time` takes 1 argument, a duration", c.span)
                                .with_label("e.g. time(10s)"),
                        );
                        return None;
                    }
                }
            }
            _ => match self.value_or_node(e)? {
                Val::Node(n) if n.id == POISON.id => return None,
                Val::Node(n) => Value::Node(n.id),
                Val::Const(v) => v,
                Val::Template(t) => Value::Var {
                    name: match &e.kind {
                        ExprKind::Ident(n) => n.clone(),
                        _ => String::new(),
                    },
                    ty: t,
                },
            },
        };
        match coerce(ty, v) {
            Ok(v) => Some(v),
            Err(v) => {
                let found = match &v {
                    Value::Var { name, ty } => {
                        format!("`{name}`, a template variable of type {ty}")
                    }
                    other => other.type_name().to_owned(),
                };
                let mut d = Diagnostic::error(
                    format!("{what} expects {}, found {found}", ty.describe()),
                    e.span,
                )
                .with_label(format!("expected {}", ty.describe()));
                if let Some(help) = type_help(ty, &v) {
                    d = d.with_help(help);
                }
                self.error(d);
                None
            }
        }
    }

    /// A value, or the node a pipeline expression leads to.
    fn value_or_node(&mut self, e: &Expr) -> Option<Val> {
        match &e.kind {
            ExprKind::Ident(name) => self.lookup(name, e.span),
            ExprKind::Chain(..) => self.pipeline(e).map(Val::Node),
            _ => self.value(e).map(Val::Const),
        }
    }

    /// A constant value outside a lambda.
    pub(crate) fn value(&mut self, e: &Expr) -> Option<Value> {
        Some(match &e.kind {
            ExprKind::Bool(b) => Value::Bool(*b),
            ExprKind::Int(i) => Value::Int(*i),
            ExprKind::Float(f) => Value::Float(*f),
            ExprKind::Duration(d) => Value::Duration(*d),
            ExprKind::Str(s) => Value::String(s.clone()),
            ExprKind::Reference(r) => Value::Reference(r.clone()),
            ExprKind::Regex(r) => Value::Regex(r.clone()),
            ExprKind::Star => Value::Star,
            ExprKind::Operator(op) => Value::Operator(*op),
            ExprKind::List(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    out.push(self.value(item)?);
                }
                Value::List(out)
            }
            ExprKind::Lambda(inner) => {
                let (expr, ty) = self.lambda(inner)?;
                let (depth, size) = measure(&expr);
                let max = self.limits.max_expression_depth;
                if depth > max {
                    self.error(
                        Diagnostic::error(
                            format!("the lambda nests more than {max} deep (limits.max_expression_depth)"),
                            inner.span,
                        )
                        .with_label(format!("{depth} levels, counting the lambda vars it uses"))
                        .with_help("simplify it"),
                    );
                    return None;
                }
                if size > MAX_LAMBDA_SIZE {
                    self.error(
                        Diagnostic::error(
                            format!(
                                "the lambda has more than {MAX_LAMBDA_SIZE} operators and values"
                            ),
                            inner.span,
                        )
                        .with_label(format!(
                            "{size}, counting each use of a lambda var as a copy of it"
                        )),
                    );
                    return None;
                }
                Value::Lambda(Lambda { expr, ty })
            }
            ExprKind::Ident(_) | ExprKind::Chain(..) => match self.value_or_node(e)? {
                Val::Node(n) if n.id == POISON.id => return None,
                Val::Const(v) => v,
                Val::Node(n) => Value::Node(n.id),
                Val::Template(ty) => Value::Var {
                    name: match &e.kind {
                        ExprKind::Ident(n) => n.clone(),
                        _ => String::new(),
                    },
                    ty,
                },
            },
            ExprKind::Unary(..) | ExprKind::Binary(..) => return self.constant_expr(e),
            ExprKind::Call(c) => {
                let name = &c.name.name;
                let mut d =
                    Diagnostic::error(format!("`{name}()` cannot be used here"), c.name.span)
                        .with_label("a function call outside a lambda");
                if function_def(name).is_some() {
                    d = d.with_help(format!(
                        "functions run per point inside a lambda: `lambda: {name}(…)`"
                    ));
                } else if node_def(name).is_some() {
                    d = d.with_help(format!("to create a node, chain it: `|{name}(…)`"));
                }
                self.error(d);
                return None;
            }
            ExprKind::Error => return None,
        })
    }

    /// Folds an operator expression on constants, like `-5s` or `2 * 10`.
    fn constant_expr(&mut self, e: &Expr) -> Option<Value> {
        let (expr, _) = self.lambda(e)?;
        if reads_point(&expr) {
            self.error(
                Diagnostic::error(
                    "this expression reads the point, so it must be a lambda",
                    e.span,
                )
                .with_label("outside a lambda only constants are allowed")
                .with_help("write it as `lambda: …`"),
            );
            return None;
        }
        match (Lambda { expr, ty: None }).eval(&NoPoint) {
            Ok(EvalValue::Bool(b)) => Some(Value::Bool(b)),
            Ok(EvalValue::Int(i)) => Some(Value::Int(i)),
            Ok(EvalValue::Float(f)) => Some(Value::Float(f)),
            Ok(EvalValue::String(s)) => Some(Value::String(s)),
            Ok(EvalValue::Duration(d)) => Some(Value::Duration(d)),
            Err(err) => {
                self.error(Diagnostic::error(
                    format!("cannot compute this constant: {err}"),
                    e.span,
                ));
                None
            }
        }
    }

    /// Compiles a lambda body, inferring types where they are known and
    /// reporting mismatches the way Kapacitor would at run time.
    fn lambda(&mut self, e: &Expr) -> Option<(LambdaExpr, Option<ValueType>)> {
        use ValueType as T;
        Some(match &e.kind {
            ExprKind::Reference(r) => (LambdaExpr::Field(r.clone()), None),
            ExprKind::Bool(b) => (LambdaExpr::Bool(*b), Some(T::Bool)),
            ExprKind::Int(i) => (LambdaExpr::Int(*i), Some(T::Int)),
            ExprKind::Float(f) => (LambdaExpr::Float(*f), Some(T::Float)),
            ExprKind::Duration(d) => (LambdaExpr::Duration(*d), Some(T::Duration)),
            ExprKind::Str(s) => (LambdaExpr::String(s.clone()), Some(T::String)),
            ExprKind::Regex(r) => (LambdaExpr::Regex(r.clone()), Some(T::Regex)),
            ExprKind::Star => (LambdaExpr::Star, None),
            ExprKind::Ident(name) => {
                if !self.scope.contains_key(name) && name != "stream" && name != "batch" {
                    let d = Diagnostic::error(format!("unknown variable `{name}`"), e.span)
                        .with_label("not defined before this point")
                        .with_help(format!(
                            "to read a field or tag, use double quotes: \"{name}\""
                        ));
                    self.error(d);
                    return None;
                }
                match self.lookup(name, e.span)? {
                    Val::Const(v) => match v {
                        Value::Bool(b) => (LambdaExpr::Bool(b), Some(T::Bool)),
                        Value::Int(i) => (LambdaExpr::Int(i), Some(T::Int)),
                        Value::Float(f) => (LambdaExpr::Float(f), Some(T::Float)),
                        Value::Duration(d) => (LambdaExpr::Duration(d), Some(T::Duration)),
                        Value::String(s) => (LambdaExpr::String(s), Some(T::String)),
                        Value::Reference(r) => (LambdaExpr::Field(r), None),
                        Value::Regex(r) => (LambdaExpr::Regex(r), Some(T::Regex)),
                        Value::Lambda(l) => (l.expr, l.ty),
                        Value::Star => (LambdaExpr::Star, None),
                        other => {
                            self.error(
                                Diagnostic::error(
                                    format!(
                                        "`{name}` is {} and cannot be used in a lambda",
                                        other.type_name()
                                    ),
                                    e.span,
                                )
                                .with_label("not a single value"),
                            );
                            return None;
                        }
                    },
                    Val::Template(ty) => {
                        let vt = match ty.as_str() {
                            "bool" => Some(T::Bool),
                            "int" => Some(T::Int),
                            "float" => Some(T::Float),
                            "duration" => Some(T::Duration),
                            "string" => Some(T::String),
                            "regex" => Some(T::Regex),
                            _ => None,
                        };
                        (
                            LambdaExpr::Var {
                                name: name.clone(),
                                ty,
                            },
                            vt,
                        )
                    }
                    Val::Node(n) if n.id == POISON.id => return None,
                    Val::Node(_) => {
                        self.error(
                            Diagnostic::error(
                                format!("`{name}` is a pipeline and cannot be used in a lambda"),
                                e.span,
                            )
                            .with_label("a node, not a value"),
                        );
                        return None;
                    }
                }
            }
            ExprKind::Unary(op, inner) => {
                let (x, ty) = self.lambda(inner)?;
                let ok = match op {
                    UnaryOp::Neg => matches!(ty, None | Some(T::Int | T::Float | T::Duration)),
                    UnaryOp::Not => matches!(ty, None | Some(T::Bool)),
                };
                if !ok {
                    let sym = if *op == UnaryOp::Neg { "-" } else { "!" };
                    self.error(
                        Diagnostic::error(
                            format!(
                                "invalid unary operator `{sym}` on {}",
                                a(ty.map_or("value", T::name))
                            ),
                            e.span,
                        )
                        .with_label(format!("this is {}", a(ty.map_or("value", T::name)))),
                    );
                    return None;
                }
                (
                    LambdaExpr::Unary {
                        op: *op,
                        expr: Box::new(x),
                    },
                    ty,
                )
            }
            ExprKind::Binary(op, l, r) => {
                let left = self.lambda(l);
                let right = self.lambda(r);
                let ((lx, lt), (rx, rt)) = (left?, right?);
                let ty = self.binary_type(*op, (lt, l.span), (rt, r.span), e.span)?;
                (
                    LambdaExpr::Binary {
                        op: *op,
                        lhs: Box::new(lx),
                        rhs: Box::new(rx),
                    },
                    ty,
                )
            }
            ExprKind::Call(call) => {
                let args = call.args.as_deref().unwrap_or_default();
                // Kapacitor's documentation calls the event's duration
                // `duration()`; its code `alertDuration()`.
                let name = match call.name.name.as_str() {
                    "duration" if self.match_functions && args.is_empty() => "alertDuration",
                    other => other,
                };
                let Some(def) = self.function(name) else {
                    let mut d =
                        Diagnostic::error(format!("unknown function `{name}`"), call.name.span)
                            .with_label("no such lambda function");
                    let known = nodes::FUNCTIONS.iter().map(|f| f.name);
                    let own = crate::matching::MATCH_FUNCTIONS.iter().map(|f| f.name);
                    let own = own.filter(|_| self.match_functions);
                    if let Some(s) = did_you_mean(name, known.chain(own)) {
                        d = d.with_help(format!("did you mean `{s}`?"));
                    }
                    self.error(d);
                    return None;
                };
                if args.len() < def.min_args || args.len() > def.max_args {
                    let n = if def.min_args == def.max_args {
                        def.min_args.to_string()
                    } else {
                        format!("{} to {}", def.min_args, def.max_args)
                    };
                    let plural = if n == "1" { "argument" } else { "arguments" };
                    self.error(
                        Diagnostic::error(
                            format!("`{name}()` takes {n} {plural}, found {}", args.len()),
                            call.span,
                        )
                        .with_label(format!("{name}() called here")),
                    );
                    return None;
                }
                let mut out = Vec::with_capacity(args.len());
                let mut types = Vec::with_capacity(args.len());
                for a in args {
                    let (x, t) = self.lambda(a)?;
                    out.push(x);
                    types.push(t);
                }
                let mut ty = def.returns;
                if name == "if" {
                    if types[0].is_some_and(|t| t != T::Bool) {
                        self.error(
                            Diagnostic::error(
                                "the condition of `if()` must be TRUE or FALSE",
                                args[0].span,
                            )
                            .with_label("not a boolean"),
                        );
                        return None;
                    }
                    if let (Some(a), Some(b)) = (types[1], types[2])
                        && a != b
                    {
                        self.error(
                            Diagnostic::error(
                                format!("both branches of `if()` must have the same type, found {} and {}", a.name(), b.name()),
                                args[1].span.to(args[2].span),
                            )
                            .with_label("these differ"),
                        );
                        return None;
                    }
                    ty = types[1].or(types[2]);
                }
                (
                    LambdaExpr::Call {
                        func: name.to_owned(),
                        args: out,
                    },
                    ty,
                )
            }
            ExprKind::Lambda(_) => {
                self.error(
                    Diagnostic::error("a lambda cannot contain another `lambda:`", e.span)
                        .with_label("remove this `lambda:`"),
                );
                return None;
            }
            ExprKind::Chain(..) => {
                self.error(
                    Diagnostic::error("a pipeline cannot be used inside a lambda", e.span)
                        .with_label("this creates nodes"),
                );
                return None;
            }
            ExprKind::List(_) => {
                self.error(
                    Diagnostic::error("a list cannot be used inside a lambda", e.span)
                        .with_label("lists are arguments of node and property methods"),
                );
                return None;
            }
            ExprKind::Operator(op) => {
                self.error(
                    Diagnostic::error(
                        format!("`{}` needs an operand on each side", op.symbol()),
                        e.span,
                    )
                    .with_label("operator alone"),
                );
                return None;
            }
            ExprKind::Error => return None,
        })
    }

    fn binary_type(
        &mut self,
        op: BinaryOp,
        (lt, ls): (Option<ValueType>, Span),
        (rt, rs): (Option<ValueType>, Span),
        span: Span,
    ) -> Option<Option<ValueType>> {
        use ValueType as T;
        let sym = op.symbol();
        match op {
            BinaryOp::And | BinaryOp::Or => {
                for (t, s) in [(lt, ls), (rt, rs)] {
                    if let Some(t) = t
                        && t != T::Bool
                    {
                        self.error(
                            Diagnostic::error(
                                format!(
                                    "`{sym}` needs TRUE or FALSE on both sides, found {}",
                                    a(t.name())
                                ),
                                s,
                            )
                            .with_label(format!("this is {}", a(t.name())))
                            .with_help("compare it with something, e.g. `\"value\" > 10`"),
                        );
                        return None;
                    }
                }
                Some(Some(T::Bool))
            }
            BinaryOp::RegexMatch | BinaryOp::RegexNotMatch => {
                if let Some(t) = rt
                    && t != T::Regex
                {
                    self.error(
                        Diagnostic::error(
                            format!("`{sym}` needs a regex on its right, found {}", a(t.name())),
                            rs,
                        )
                        .with_label("expected a regex such as /^server/"),
                    );
                    return None;
                }
                if let Some(t) = lt
                    && t != T::String
                {
                    self.error(
                        Diagnostic::error(
                            format!("`{sym}` matches strings, found {}", a(t.name())),
                            ls,
                        )
                        .with_label(format!("this is {}", a(t.name()))),
                    );
                    return None;
                }
                Some(Some(T::Bool))
            }
            _ => {
                let (Some(l), Some(r)) = (lt, rt) else {
                    return Some(if op.is_arithmetic() {
                        lt.or(rt).filter(|t| {
                            *t != T::Duration || matches!(op, BinaryOp::Add | BinaryOp::Sub)
                        })
                    } else {
                        Some(T::Bool)
                    });
                };
                let result = if op.is_comparison() {
                    // Kapacitor compares ints with floats numerically; only
                    // arithmetic needs matching types.
                    let numeric = |t: T| matches!(t, T::Int | T::Float);
                    let same = l == r || (numeric(l) && numeric(r));
                    let ok = same && (matches!(op, BinaryOp::Eq | BinaryOp::NotEq) || l != T::Bool);
                    ok.then_some(T::Bool)
                } else {
                    match (l, op, r) {
                        (T::Int, _, T::Int) => Some(T::Int),
                        (
                            T::Float,
                            BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div,
                            T::Float,
                        ) => Some(T::Float),
                        (T::Duration, BinaryOp::Add | BinaryOp::Sub, T::Duration) => {
                            Some(T::Duration)
                        }
                        (T::Duration, BinaryOp::Mul | BinaryOp::Div, T::Int | T::Float)
                        | (T::Int | T::Float, BinaryOp::Mul, T::Duration) => Some(T::Duration),
                        (T::Duration, BinaryOp::Div, T::Duration) => Some(T::Int),
                        (T::String, BinaryOp::Add, T::String) => Some(T::String),
                        _ => None,
                    }
                };
                if result.is_none() {
                    let mut d = Diagnostic::error(
                        format!(
                            "mismatched type to binary operator: got {} {sym} {}",
                            l.name(),
                            r.name()
                        ),
                        span,
                    )
                    .with_label(format!(
                        "{} and {} cannot be combined with `{sym}`",
                        a(l.name()),
                        a(r.name())
                    ));
                    d = if matches!((l, r), (T::Int, T::Float) | (T::Float, T::Int)) {
                        d.with_help(
                            "10 is an int and 10.0 a float; convert one side with float() or int()",
                        )
                    } else {
                        d.with_help(
                            "see bool(), int(), float(), string() and duration() to convert",
                        )
                    };
                    self.error(d);
                    return None;
                }
                Some(result)
            }
        }
    }
}

/// Any number of any constant arguments (UDF calls and options).
fn nodes_any() -> Sig {
    Sig {
        required: &[],
        optional: &[],
        rest: Some(Ty::Any),
    }
}

/// A point with nothing in it, for folding constant expressions.
struct NoPoint;

impl PointScope for NoPoint {
    fn lookup(&self, _: &str) -> Option<EvalValue> {
        None
    }
    fn time(&self) -> i64 {
        0
    }
}

fn reads_point(e: &LambdaExpr) -> bool {
    match e {
        LambdaExpr::Field(_)
        | LambdaExpr::Call { .. }
        | LambdaExpr::Var { .. }
        | LambdaExpr::Regex(_)
        | LambdaExpr::Star => true,
        LambdaExpr::Unary { expr, .. } => reads_point(expr),
        LambdaExpr::Binary { lhs, rhs, .. } => reads_point(lhs) || reads_point(rhs),
        _ => false,
    }
}

/// Checks `v` against `ty`, converting where TICKscript does (an int where
/// a float is wanted, `"name"` where a name is wanted).
fn coerce(ty: Ty, v: Value) -> Result<Value, Value> {
    if let Value::Var { ty: vt, .. } = &v {
        let ok = match ty {
            Ty::Int => vt == "int",
            Ty::Float => vt == "float" || vt == "int",
            Ty::Number => vt == "int" || vt == "float",
            Ty::Bool => vt == "bool",
            Ty::Duration => vt == "duration",
            Ty::String | Ty::Name | Ty::Dimension => vt == "string",
            Ty::NameOrStar => vt == "string" || vt == "star",
            Ty::Lambda => vt == "lambda",
            Ty::Regex => vt == "regex",
            Ty::IntOrDuration => vt == "int" || vt == "duration",
            Ty::Any => true,
            Ty::Node | Ty::Operator | Ty::Function => false,
        };
        return if ok { Ok(v) } else { Err(v) };
    }
    match (ty, v) {
        (Ty::Int, v @ Value::Int(_)) => Ok(v),
        (Ty::Float, Value::Int(i)) => Ok(Value::Float(i as f64)),
        (Ty::Float | Ty::Number, v @ Value::Float(_)) => Ok(v),
        (Ty::Number, v @ Value::Int(_)) => Ok(v),
        (Ty::Bool, v @ Value::Bool(_)) => Ok(v),
        (Ty::Duration, v @ Value::Duration(_)) => Ok(v),
        (Ty::String, v @ Value::String(_)) => Ok(v),
        (Ty::Name | Ty::NameOrStar | Ty::Dimension, Value::String(s) | Value::Reference(s)) => {
            Ok(Value::String(s))
        }
        (Ty::NameOrStar, v @ Value::Star) => Ok(v),
        (Ty::Dimension, v @ Value::Call { .. }) => Ok(v),
        (Ty::Lambda, v @ Value::Lambda(_)) => Ok(v),
        (Ty::Regex, v @ Value::Regex(_)) => Ok(v),
        (Ty::Node, v @ Value::Node(_)) => Ok(v),
        (Ty::IntOrDuration, v @ (Value::Int(_) | Value::Duration(_))) => Ok(v),
        (Ty::Operator, v @ Value::Operator(_)) => Ok(v),
        (ty, Value::List(items)) if ty != Ty::Any => {
            let mut out = Vec::with_capacity(items.len());
            let mut ok = true;
            for item in &items {
                match coerce(ty, item.clone()) {
                    Ok(v) => out.push(v),
                    Err(_) => ok = false,
                }
            }
            if ok {
                Ok(Value::List(out))
            } else {
                Err(Value::List(items))
            }
        }
        (Ty::Any, v) if !matches!(v, Value::Node(_) | Value::Operator(_) | Value::Lambda(_)) => {
            Ok(v)
        }
        (_, v) => Err(v),
    }
}

fn type_help(ty: Ty, v: &Value) -> Option<String> {
    Some(match (ty, v) {
        (Ty::String, Value::Reference(r)) => {
            format!("single quotes make a string ('{r}'); double quotes name a field or tag")
        }
        (Ty::Duration, Value::Int(i)) => format!("a duration needs a unit, e.g. {i}s or {i}m"),
        (Ty::Duration, Value::String(s)) => format!("durations are written without quotes: {s}"),
        (Ty::Int, Value::Float(_)) => "write a whole number without a decimal point".to_owned(),
        (Ty::Lambda, _) => "write it as `lambda: <expression>`".to_owned(),
        (Ty::Name | Ty::NameOrStar, Value::Lambda(_)) => {
            "give the name as a string, e.g. 'value'".to_owned()
        }
        _ => return None,
    })
}

fn var_type(v: &Value) -> &'static str {
    match v {
        Value::Bool(_) => "bool",
        Value::Int(_) => "int",
        Value::Float(_) => "float",
        Value::Duration(_) => "duration",
        Value::String(_) | Value::Reference(_) => "string",
        Value::Regex(_) => "regex",
        Value::Lambda(_) => "lambda",
        Value::Star => "star",
        Value::List(_) => "list",
        Value::Node(_) | Value::Operator(_) | Value::Call { .. } => "unknown",
        Value::Var { .. } => "var",
    }
}

fn edge_words(e: EdgeType) -> &'static str {
    match e {
        EdgeType::Stream => "a stream of points",
        EdgeType::Batch => "batches",
    }
}

fn a(noun: &str) -> String {
    let article = if noun.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {noun}")
}

fn article_kind(kind: &str) -> String {
    format!("`{kind}`")
}
