//! The one table of what a script may say: every node kind with the edge it
//! wants and provides, its arguments and properties with their types, the
//! alert handlers, and the lambda functions. Adding a node is one entry in
//! [`NODES`] (plus a property list if it has properties).

use crate::plan::EdgeType;

/// The type an argument must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Int,
    Float,
    /// Int or float.
    Number,
    Bool,
    Duration,
    String,
    /// A field or tag name: `'name'` or `"name"`.
    Name,
    /// A name or `*` (all tags).
    NameOrStar,
    Lambda,
    Regex,
    /// Another pipeline (join, union).
    Node,
    /// `sample(10)` or `sample(10s)`.
    IntOrDuration,
    /// A query's group-by dimension: `time(10s)` or a tag name.
    Dimension,
    /// A bare comparison operator (the seed's `filter(<, 30)`).
    Operator,
    /// A function name (the seed's `map(mean, "value")`).
    Function,
    /// Any constant value.
    Any,
}

impl Ty {
    /// In user words, for "expects …" messages.
    pub fn describe(self) -> &'static str {
        match self {
            Ty::Int => "an integer",
            Ty::Float => "a float",
            Ty::Number => "a number",
            Ty::Bool => "a boolean",
            Ty::Duration => "a duration",
            Ty::String => "a string",
            Ty::Name => "a field or tag name",
            Ty::NameOrStar => "a tag name or *",
            Ty::Lambda => "a lambda expression",
            Ty::Regex => "a regex",
            Ty::Node => "a pipeline",
            Ty::IntOrDuration => "an integer or a duration",
            Ty::Dimension => "time(…) or a tag name",
            Ty::Operator => "a comparison operator",
            Ty::Function => "a function name",
            Ty::Any => "a value",
        }
    }
}

/// Positional arguments: required ones, then optional ones, then any number
/// of `rest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sig {
    pub required: &'static [Ty],
    pub optional: &'static [Ty],
    pub rest: Option<Ty>,
}

impl Sig {
    pub fn arity(&self) -> std::string::String {
        let min = self.required.len();
        match (self.optional.len(), self.rest) {
            (_, Some(_)) => format!("at least {min}"),
            (0, None) => format!("{min}"),
            (n, None) => format!("{min} to {}", min + n),
        }
    }

    pub fn accepts_count(&self, n: usize) -> bool {
        n >= self.required.len()
            && (self.rest.is_some() || n <= self.required.len() + self.optional.len())
    }

    /// The type expected at position `i`.
    pub fn at(&self, i: usize) -> Option<Ty> {
        self.required
            .iter()
            .chain(self.optional)
            .nth(i)
            .copied()
            .or(self.rest)
    }
}

const fn sig(required: &'static [Ty], optional: &'static [Ty], rest: Option<Ty>) -> Sig {
    Sig {
        required,
        optional,
        rest,
    }
}
/// No arguments.
const NONE: Sig = sig(&[], &[], None);
/// Exactly these arguments.
const fn req(t: &'static [Ty]) -> Sig {
    sig(t, &[], None)
}
/// Any number (≥ 0) of `t`.
const fn many(t: Ty) -> Sig {
    sig(&[], &[], Some(t))
}
/// A flag that may also be given a value, like `.align()` or `.keep(…)`.
const fn opt(t: &'static [Ty]) -> Sig {
    sig(&[], t, None)
}

use Ty::*;

/// A property method `.name(args)`.
#[derive(Debug, Clone, Copy)]
pub struct Prop {
    pub name: &'static str,
    pub sig: Sig,
}

const fn p(name: &'static str, sig: Sig) -> Prop {
    Prop { name, sig }
}

/// The edge a node needs from its parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wants {
    Stream,
    Batch,
    /// Whatever the parent provides.
    Any,
}

/// The edge a node gives its children.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provides {
    Stream,
    Batch,
    /// The same as it was fed.
    Same,
    /// Ends the pipeline (writes out).
    Nothing,
}

/// Which parents may chain a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parent {
    /// Any node (roots included: the seed chains `stream.window()`).
    Any,
    /// Only `stream` (`|from()`).
    StreamRoot,
    /// Only `batch` (`|query()`).
    BatchRoot,
    /// Never chained: a root.
    Root,
}

#[derive(Debug, Clone, Copy)]
pub struct NodeDef {
    pub kind: &'static str,
    pub wants: Wants,
    pub provides: Provides,
    pub parent: Parent,
    pub args: Sig,
    pub props: &'static [&'static [Prop]],
    /// Alert handlers (`.post()`, `.log()`, …) can be attached.
    pub handlers: bool,
}

const fn node(
    kind: &'static str,
    wants: Wants,
    provides: Provides,
    args: Sig,
    props: &'static [&'static [Prop]],
) -> NodeDef {
    NodeDef {
        kind,
        wants,
        provides,
        parent: Parent::Any,
        args,
        props,
        handlers: false,
    }
}

/// Any → same edge, the common case.
const fn pass(kind: &'static str, args: Sig, props: &'static [&'static [Prop]]) -> NodeDef {
    node(kind, Wants::Any, Provides::Same, args, props)
}

/// Any → stream: aggregates and single-point selectors emit one point per
/// batch, as in Kapacitor's InfluxQL node.
const fn reduce(kind: &'static str, args: Sig) -> NodeDef {
    node(kind, Wants::Any, Provides::Stream, args, &[INFLUXQL])
}

/// Any → batch: functions that emit several points per input.
const fn multi(kind: &'static str, args: Sig) -> NodeDef {
    node(kind, Wants::Any, Provides::Batch, args, &[INFLUXQL])
}

/// Any → same: transformations that emit per point.
const fn transform(kind: &'static str, args: Sig) -> NodeDef {
    node(kind, Wants::Any, Provides::Same, args, &[INFLUXQL])
}

/// Properties every node has.
pub const COMMON: &[Prop] = &[p("parallelism", req(&[Int]))];

const INFLUXQL: &[Prop] = &[p("as", req(&[String])), p("usePointTimes", NONE)];

const FROM: &[Prop] = &[
    p("database", req(&[String])),
    p("retentionPolicy", req(&[String])),
    p("measurement", req(&[String])),
    p("where", req(&[Lambda])),
    p("groupBy", many(NameOrStar)),
    p("groupByMeasurement", NONE),
    p("truncate", req(&[Duration])),
    p("round", req(&[Duration])),
];

const SCHEDULE: &[Prop] = &[
    p("period", req(&[Duration])),
    p("every", req(&[Duration])),
    p("cron", req(&[String])),
    p("offset", req(&[Duration])),
    p("align", NONE),
    p("cluster", req(&[String])),
];

const QUERY: &[Prop] = &[
    p("alignGroup", NONE),
    p("groupBy", many(Dimension)),
    p("groupByMeasurement", NONE),
    p("fill", req(&[Any])),
];

const QUERY_FLUX: &[Prop] = &[p("org", req(&[String])), p("orgID", req(&[String]))];

const WINDOW: &[Prop] = &[
    p("period", req(&[Duration])),
    p("every", req(&[Duration])),
    p("periodCount", req(&[Int])),
    p("everyCount", req(&[Int])),
    p("align", NONE),
    p("fillPeriod", NONE),
];

const EVAL: &[Prop] = &[
    p("as", many(String)),
    p("tags", many(String)),
    p("keep", many(Name)),
    p("quiet", NONE),
];

const GROUP_BY: &[Prop] = &[p("exclude", many(Name)), p("byMeasurement", NONE)];

pub const ALERT: &[Prop] = &[
    p("id", req(&[String])),
    p("message", req(&[String])),
    p("details", req(&[String])),
    p("info", req(&[Lambda])),
    p("warn", req(&[Lambda])),
    p("crit", req(&[Lambda])),
    p("infoReset", req(&[Lambda])),
    p("warnReset", req(&[Lambda])),
    p("critReset", req(&[Lambda])),
    p("history", req(&[Int])),
    p("flapping", req(&[Float, Float])),
    p("levelTag", req(&[String])),
    p("levelField", req(&[String])),
    p("messageField", req(&[String])),
    p("durationField", req(&[String])),
    p("idTag", req(&[String])),
    p("idField", req(&[String])),
    p("all", NONE),
    p("noRecoveries", NONE),
    p("stateChangesOnly", opt(&[Duration])),
    p("inhibit", sig(&[String], &[], Some(Name))),
    p("category", req(&[String])),
    p("topic", req(&[String])),
];

const OUT: &[Prop] = &[
    p("cluster", req(&[String])),
    p("database", req(&[String])),
    p("retentionPolicy", req(&[String])),
    p("measurement", req(&[String])),
    p("writeConsistency", req(&[String])),
    p("precision", req(&[String])),
    p("buffer", req(&[Int])),
    p("flushInterval", req(&[Duration])),
    p("tag", req(&[String, String])),
    p("create", NONE),
];

const HTTP_POST: &[Prop] = &[
    p("endpoint", req(&[String])),
    p("header", req(&[String, String])),
    p("codeField", req(&[String])),
    p("captureResponse", NONE),
    p("timeout", req(&[Duration])),
    p("skipSSLVerification", NONE),
];

const LOG: &[Prop] = &[p("level", req(&[String])), p("prefix", req(&[String]))];

const DERIVATIVE: &[Prop] = &[
    p("unit", req(&[Duration])),
    p("nonNegative", NONE),
    p("as", req(&[String])),
];

const STATS: &[Prop] = &[p("align", NONE)];

const DEFAULT: &[Prop] = &[
    p("field", req(&[String, Any])),
    p("tag", req(&[String, String])),
];

const DELETE: &[Prop] = &[p("field", req(&[String])), p("tag", req(&[String]))];

const FLATTEN: &[Prop] = &[
    p("on", many(Name)),
    p("delimiter", req(&[String])),
    p("tolerance", req(&[Duration])),
    p("dropOriginalFieldName", opt(&[Bool])),
];

const JOIN: &[Prop] = &[
    p("as", many(String)),
    p("on", many(Name)),
    p("delimiter", req(&[String])),
    p("tolerance", req(&[Duration])),
    p("fill", req(&[Any])),
    p("streamName", req(&[String])),
];

const UNION: &[Prop] = &[p("rename", req(&[String]))];

const COMBINE: &[Prop] = &[
    p("as", many(String)),
    p("delimiter", req(&[String])),
    p("tolerance", req(&[Duration])),
    p("max", req(&[Int])),
];

const BARRIER: &[Prop] = &[
    p("idle", req(&[Duration])),
    p("period", req(&[Duration])),
    p("delete", opt(&[Bool])),
];

const STATE_DURATION: &[Prop] = &[p("as", req(&[String])), p("unit", req(&[Duration]))];
const STATE_COUNT: &[Prop] = &[p("as", req(&[String]))];

const SIDELOAD: &[Prop] = &[
    p("source", req(&[String])),
    p("order", many(String)),
    p("field", req(&[String, Any])),
    p("tag", req(&[String, String])),
];

const LOOPBACK: &[Prop] = &[
    p("database", req(&[String])),
    p("retentionPolicy", req(&[String])),
    p("measurement", req(&[String])),
    p("tag", req(&[String, String])),
];

const AUTOSCALE: &[Prop] = &[
    p("cluster", req(&[String])),
    p("min", req(&[Int])),
    p("max", req(&[Int])),
    p("replicas", req(&[Lambda])),
    p("increaseCooldown", req(&[Duration])),
    p("decreaseCooldown", req(&[Duration])),
    p("currentField", req(&[String])),
];
const K8S: &[Prop] = &[
    p("namespace", req(&[String])),
    p("kind", req(&[String])),
    p("resourceName", req(&[String])),
    p("resourceNameTag", req(&[String])),
];
const SWARM: &[Prop] = &[
    p("serviceName", req(&[String])),
    p("serviceNameTag", req(&[String])),
    p("outputServiceNameTag", req(&[String])),
];
const EC2: &[Prop] = &[
    p("groupName", req(&[String])),
    p("groupNameTag", req(&[String])),
    p("outputGroupNameTag", req(&[String])),
];

const SEED_FILTER: &[Prop] = &[];

/// Every node kind, by its TICKscript name.
pub const NODES: &[NodeDef] = &[
    NodeDef {
        parent: Parent::Root,
        ..node("stream", Wants::Any, Provides::Stream, NONE, &[])
    },
    NodeDef {
        parent: Parent::Root,
        ..node("batch", Wants::Any, Provides::Batch, NONE, &[])
    },
    NodeDef {
        parent: Parent::StreamRoot,
        ..node("from", Wants::Stream, Provides::Stream, NONE, &[FROM])
    },
    NodeDef {
        parent: Parent::BatchRoot,
        ..node(
            "query",
            Wants::Batch,
            Provides::Batch,
            req(&[String]),
            &[SCHEDULE, QUERY],
        )
    },
    NodeDef {
        parent: Parent::BatchRoot,
        ..node(
            "queryFlux",
            Wants::Batch,
            Provides::Batch,
            req(&[String]),
            &[SCHEDULE, QUERY_FLUX],
        )
    },
    node("window", Wants::Stream, Provides::Batch, NONE, &[WINDOW]),
    pass("where", req(&[Lambda]), &[]),
    pass("eval", sig(&[Lambda], &[], Some(Lambda)), &[EVAL]),
    pass("groupBy", many(NameOrStar), &[GROUP_BY]),
    NodeDef {
        handlers: true,
        ..pass("alert", NONE, &[ALERT])
    },
    node("influxDBOut", Wants::Any, Provides::Nothing, NONE, &[OUT]),
    pass("httpOut", req(&[String]), &[]),
    pass("httpPost", opt(&[String]), &[HTTP_POST]),
    pass("log", NONE, &[LOG]),
    pass("derivative", req(&[Name]), &[DERIVATIVE]),
    node(
        "stats",
        Wants::Any,
        Provides::Stream,
        req(&[Duration]),
        &[STATS],
    ),
    NodeDef {
        handlers: true,
        ..node(
            "deadman",
            Wants::Any,
            Provides::Stream,
            sig(&[Number, Duration], &[], Some(Lambda)),
            &[ALERT],
        )
    },
    pass("shift", req(&[Duration]), &[]),
    pass("sample", req(&[IntOrDuration]), &[]),
    pass("default", NONE, &[DEFAULT]),
    pass("delete", NONE, &[DELETE]),
    pass("flatten", NONE, &[FLATTEN]),
    pass("join", sig(&[Node], &[], Some(Node)), &[JOIN]),
    pass("union", many(Node), &[UNION]),
    pass("combine", sig(&[Lambda], &[], Some(Lambda)), &[COMBINE]),
    pass("barrier", NONE, &[BARRIER]),
    pass("stateDuration", req(&[Lambda]), &[STATE_DURATION]),
    pass("stateCount", req(&[Lambda]), &[STATE_COUNT]),
    pass("changeDetect", sig(&[Name], &[], Some(Name)), &[]),
    pass("sideload", NONE, &[SIDELOAD]),
    node(
        "kapacitorLoopback",
        Wants::Any,
        Provides::Nothing,
        NONE,
        &[LOOPBACK],
    ),
    node("trickle", Wants::Batch, Provides::Stream, NONE, &[]),
    pass("noOp", NONE, &[]),
    pass("k8sAutoscale", NONE, &[AUTOSCALE, K8S]),
    pass("swarmAutoscale", NONE, &[AUTOSCALE, SWARM]),
    pass("ec2Autoscale", NONE, &[AUTOSCALE, EC2]),
    // InfluxQL aggregates.
    reduce("count", req(&[Name])),
    multi("distinct", req(&[Name])),
    reduce("mean", req(&[Name])),
    reduce("median", req(&[Name])),
    reduce("mode", req(&[Name])),
    reduce("spread", req(&[Name])),
    reduce("sum", req(&[Name])),
    reduce("stddev", req(&[Name])),
    // Selectors.
    reduce("first", req(&[Name])),
    reduce("last", req(&[Name])),
    reduce("min", req(&[Name])),
    reduce("max", req(&[Name])),
    reduce("percentile", req(&[Name, Number])),
    multi("top", sig(&[Int, Name], &[], Some(Name))),
    multi("bottom", sig(&[Int, Name], &[], Some(Name))),
    // Transformations.
    transform("elapsed", req(&[Name, Duration])),
    transform("difference", req(&[Name])),
    transform("movingAverage", req(&[Name, Int])),
    transform("cumulativeSum", req(&[Name])),
    multi("holtWinters", req(&[Name, Int, Int, Duration])),
    multi("holtWintersWithFit", req(&[Name, Int, Int, Duration])),
    // The seed's forms.
    pass("filter", req(&[Operator, Number]), &[SEED_FILTER]),
];

/// The seed's `x.map(fn, "field")`: creates the `fn` node on `field`.
pub const MAP: &str = "map";

/// Other spellings accepted for a node kind.
pub const ALIASES: &[(&str, &str)] = &[("groupby", "groupBy")];

pub fn node_def(kind: &str) -> Option<&'static NodeDef> {
    let kind = ALIASES
        .iter()
        .find(|(alias, _)| *alias == kind)
        .map_or(kind, |(_, real)| real);
    NODES.iter().find(|n| n.kind == kind)
}

impl NodeDef {
    pub fn prop(&self, name: &str) -> Option<&'static Prop> {
        self.props
            .iter()
            .flat_map(|set| set.iter())
            .chain(COMMON)
            .find(|p| p.name == name)
    }

    pub fn prop_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.props
            .iter()
            .flat_map(|set| set.iter())
            .chain(COMMON)
            .map(|p| p.name)
    }

    /// The edge this node emits when fed `input`; `None` for output nodes.
    pub fn output(&self, input: EdgeType) -> Option<EdgeType> {
        match self.provides {
            Provides::Stream => Some(EdgeType::Stream),
            Provides::Batch => Some(EdgeType::Batch),
            Provides::Same => Some(input),
            Provides::Nothing => None,
        }
    }

    /// Whether `map(fn, …)` may name this node: functions on one field.
    pub fn is_influxql(&self) -> bool {
        self.prop("usePointTimes").is_some()
    }
}

/// An alert handler `.name(args)` and its own properties.
#[derive(Debug, Clone, Copy)]
pub struct HandlerDef {
    pub name: &'static str,
    pub args: Sig,
    pub props: &'static [Prop],
}

const fn h(name: &'static str, args: Sig, props: &'static [Prop]) -> HandlerDef {
    HandlerDef { name, args, props }
}

pub const HANDLERS: &[HandlerDef] = &[
    h(
        "post",
        opt(&[String]),
        &[
            p("header", req(&[String, String])),
            p("captureResponse", NONE),
            p("skipSSLVerification", NONE),
            p("endpoint", req(&[String])),
            p("timeout", req(&[Duration])),
        ],
    ),
    h("tcp", req(&[String]), &[]),
    h(
        "email",
        many(String),
        &[p("to", many(String)), p("toTemplates", many(String))],
    ),
    h("exec", sig(&[String], &[], Some(String)), &[]),
    h("log", req(&[String]), &[p("mode", req(&[Int]))]),
    h(
        "slack",
        NONE,
        &[
            p("channel", req(&[String])),
            p("username", req(&[String])),
            p("iconEmoji", req(&[String])),
            p("workspace", req(&[String])),
        ],
    ),
    h("pagerDuty", NONE, &[p("serviceKey", req(&[String]))]),
    h(
        "pagerDuty2",
        NONE,
        &[
            p("serviceKey", req(&[String])),
            p("routingKey", req(&[String])),
            p("link", sig(&[String], &[String], None)),
        ],
    ),
    h("victorOps", NONE, &[p("routingKey", req(&[String]))]),
    h(
        "opsGenie",
        NONE,
        &[p("teams", many(String)), p("recipients", many(String))],
    ),
    h(
        "opsGenie2",
        NONE,
        &[
            p("teams", many(String)),
            p("recipients", many(String)),
            p("recoveryAction", req(&[String])),
        ],
    ),
    h(
        "pushover",
        NONE,
        &[
            p("userKey", req(&[String])),
            p("device", req(&[String])),
            p("title", req(&[String])),
            p("url", req(&[String])),
            p("urlTitle", req(&[String])),
            p("sound", req(&[String])),
        ],
    ),
    h(
        "sensu",
        NONE,
        &[
            p("source", req(&[String])),
            p("handlers", many(String)),
            p("metadata", req(&[String, Any])),
        ],
    ),
    h(
        "discord",
        NONE,
        &[
            p("workspace", req(&[String])),
            p("username", req(&[String])),
            p("avatarURL", req(&[String])),
            p("embedTitle", req(&[String])),
        ],
    ),
    h(
        "bigPanda",
        NONE,
        &[
            p("appKey", req(&[String])),
            p("primaryProperty", req(&[String])),
            p("secondaryProperty", req(&[String])),
            p("attribute", req(&[String, String])),
        ],
    ),
    h(
        "telegram",
        NONE,
        &[
            p("chatId", req(&[String])),
            p("parseMode", req(&[String])),
            p("disableNotification", NONE),
            p("disableWebPagePreview", NONE),
        ],
    ),
    h(
        "hipChat",
        NONE,
        &[p("room", req(&[String])), p("token", req(&[String]))],
    ),
    h(
        "alerta",
        NONE,
        &[
            p("token", req(&[String])),
            p("resource", req(&[String])),
            p("event", req(&[String])),
            p("environment", req(&[String])),
            p("group", req(&[String])),
            p("value", req(&[String])),
            p("origin", req(&[String])),
            p("services", many(String)),
            p("correlated", many(String)),
            p("timeout", req(&[Duration])),
            p("attribute", req(&[String, Any])),
        ],
    ),
    h("talk", NONE, &[]),
    h(
        "mqtt",
        opt(&[String]),
        &[
            p("brokerName", req(&[String])),
            p("qos", req(&[Int])),
            p("retained", NONE),
        ],
    ),
    h(
        "snmpTrap",
        req(&[String]),
        &[p("data", req(&[String, String, String]))],
    ),
    h(
        "kafka",
        NONE,
        &[
            p("cluster", req(&[String])),
            p("kafkaTopic", req(&[String])),
            p("template", req(&[String])),
            p("disablePartitionById", NONE),
        ],
    ),
    h("teams", NONE, &[p("channelURL", req(&[String]))]),
    h(
        "serviceNow",
        NONE,
        &[
            p("source", req(&[String])),
            p("node", req(&[String])),
            p("type", req(&[String])),
            p("resource", req(&[String])),
            p("metricName", req(&[String])),
            p("messageKey", req(&[String])),
            p("additionalInfo", req(&[String, Any])),
        ],
    ),
    h(
        "zenoss",
        NONE,
        &[
            p("action", req(&[String])),
            p("eventClass", req(&[String])),
            p("collector", req(&[String])),
            p("customField", req(&[String, Any])),
        ],
    ),
];

pub fn handler_def(name: &str) -> Option<&'static HandlerDef> {
    HANDLERS.iter().find(|h| h.name == name)
}

/// A value's type inside a lambda, where it is known before run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValueType {
    Bool,
    Int,
    Float,
    String,
    Duration,
    Regex,
    /// A time, e.g. `now()`.
    Time,
}

impl ValueType {
    pub fn name(self) -> &'static str {
        match self {
            ValueType::Bool => "bool",
            ValueType::Int => "int",
            ValueType::Float => "float",
            ValueType::String => "string",
            ValueType::Duration => "duration",
            ValueType::Regex => "regex",
            ValueType::Time => "time",
        }
    }
}

/// A function callable inside a lambda.
#[derive(Debug, Clone, Copy)]
pub struct FuncDef {
    pub name: &'static str,
    pub min_args: usize,
    pub max_args: usize,
    /// `None` when it depends on the arguments (`if`, `max`).
    pub returns: Option<ValueType>,
}

const fn f(name: &'static str, n: usize, returns: Option<ValueType>) -> FuncDef {
    FuncDef {
        name,
        min_args: n,
        max_args: n,
        returns,
    }
}

const B: Option<ValueType> = Some(ValueType::Bool);
const I: Option<ValueType> = Some(ValueType::Int);
const F: Option<ValueType> = Some(ValueType::Float);
const S: Option<ValueType> = Some(ValueType::String);

/// Kapacitor's lambda functions (`tick/stateful/functions.go`).
pub const FUNCTIONS: &[FuncDef] = &[
    // Type conversion.
    f("bool", 1, B),
    f("int", 1, I),
    f("float", 1, F),
    f("string", 1, S),
    FuncDef {
        max_args: 2,
        ..f("duration", 1, Some(ValueType::Duration))
    },
    // Math.
    f("abs", 1, F),
    f("acos", 1, F),
    f("acosh", 1, F),
    f("asin", 1, F),
    f("asinh", 1, F),
    f("atan", 1, F),
    f("atan2", 2, F),
    f("atanh", 1, F),
    f("cbrt", 1, F),
    f("ceil", 1, F),
    f("cos", 1, F),
    f("cosh", 1, F),
    f("erf", 1, F),
    f("erfc", 1, F),
    f("exp", 1, F),
    f("exp2", 1, F),
    f("expm1", 1, F),
    f("floor", 1, F),
    f("gamma", 1, F),
    f("hypot", 2, F),
    f("j0", 1, F),
    f("j1", 1, F),
    f("jn", 2, F),
    f("log", 1, F),
    f("log10", 1, F),
    f("log1p", 1, F),
    f("log2", 1, F),
    f("logb", 1, F),
    f("max", 2, F),
    f("min", 2, F),
    f("mod", 2, F),
    f("pow", 2, F),
    f("pow10", 1, F),
    f("sin", 1, F),
    f("sinh", 1, F),
    f("sqrt", 1, F),
    f("tan", 1, F),
    f("tanh", 1, F),
    f("trunc", 1, F),
    f("y0", 1, F),
    f("y1", 1, F),
    f("yn", 2, F),
    // Strings.
    f("strContains", 2, B),
    f("strContainsAny", 2, B),
    f("strCount", 2, I),
    f("strHasPrefix", 2, B),
    f("strHasSuffix", 2, B),
    f("strIndex", 2, I),
    f("strIndexAny", 2, I),
    f("strLastIndex", 2, I),
    f("strLastIndexAny", 2, I),
    f("strLength", 1, I),
    f("strReplace", 4, S),
    f("strSubstring", 3, S),
    f("strToLower", 1, S),
    f("strToUpper", 1, S),
    f("strTrim", 2, S),
    f("strTrimLeft", 2, S),
    f("strTrimPrefix", 2, S),
    f("strTrimRight", 2, S),
    f("strTrimSpace", 1, S),
    f("strTrimSuffix", 2, S),
    f("regexReplace", 3, S),
    // Time, on the point's time.
    f("unixNano", 1, I),
    f("minute", 1, I),
    f("hour", 1, I),
    f("weekday", 1, I),
    f("day", 1, I),
    f("month", 1, I),
    f("year", 1, I),
    f("now", 0, Some(ValueType::Time)),
    // Misc.
    f("isPresent", 1, B),
    f("humanBytes", 1, S),
    f("if", 3, None),
    // Stateful, per lambda and group.
    f("sigma", 1, F),
    f("count", 0, I),
    f("spread", 1, F),
    f("rand", 0, I),
];

pub fn function_def(name: &str) -> Option<&'static FuncDef> {
    FUNCTIONS.iter().find(|f| f.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kapacitor_node_is_known() {
        for kind in [
            "stream",
            "from",
            "batch",
            "query",
            "queryFlux",
            "window",
            "where",
            "eval",
            "groupBy",
            "alert",
            "influxDBOut",
            "httpOut",
            "httpPost",
            "log",
            "derivative",
            "stats",
            "deadman",
            "shift",
            "sample",
            "default",
            "delete",
            "flatten",
            "join",
            "union",
            "combine",
            "barrier",
            "stateDuration",
            "stateCount",
            "changeDetect",
            "sideload",
            "kapacitorLoopback",
            "trickle",
            "noOp",
            "k8sAutoscale",
            "swarmAutoscale",
            "ec2Autoscale",
            "count",
            "distinct",
            "mean",
            "median",
            "mode",
            "spread",
            "sum",
            "stddev",
            "first",
            "last",
            "min",
            "max",
            "percentile",
            "top",
            "bottom",
            "elapsed",
            "difference",
            "movingAverage",
            "cumulativeSum",
            "holtWinters",
            "holtWintersWithFit",
        ] {
            assert!(node_def(kind).is_some(), "{kind}");
        }
    }

    #[test]
    fn names_are_unique() {
        for (i, n) in NODES.iter().enumerate() {
            assert!(
                NODES[i + 1..].iter().all(|m| m.kind != n.kind),
                "{}",
                n.kind
            );
        }
        for (i, n) in FUNCTIONS.iter().enumerate() {
            assert!(
                FUNCTIONS[i + 1..].iter().all(|m| m.name != n.name),
                "{}",
                n.name
            );
        }
    }

    #[test]
    fn influxql_nodes_are_recognised() {
        assert!(node_def("mean").is_some_and(NodeDef::is_influxql));
        assert!(!node_def("window").is_some_and(NodeDef::is_influxql));
    }
}
