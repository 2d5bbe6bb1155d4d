//! `influxDBOut()`: writes points and batches as line protocol to an
//! InfluxDB 1.x server (`.database()`, `.retentionPolicy()`, `.cluster()`),
//! with `.measurement()` replacing the measurement, `.tag(k, v)` adding
//! tags and `.precision()` the timestamps' unit. The server's writer
//! buffers `.buffer(n)` lines (default 1000) or `.flushInterval(d)` (10s),
//! retries failed writes and counts what it drops, off the data path.

use std::sync::Arc;

use dsl::{NodeSpec, Value};

use crate::batch::Message;
use crate::node::{Node, NodeError};
use crate::output::{Output, OutputSpec};
use crate::point::{FieldValue, Fields, Name, Point, Series, Tags};
use crate::spec::{BuildError, SpecExt};

/// Kapacitor's defaults.
const BUFFER: i64 = 1000;
const FLUSH_INTERVAL: i64 = 10_000_000_000;

pub struct InfluxDbOutNode {
    output: Arc<dyn Output>,
    measurement: Option<Name>,
    tags: Vec<(Name, Name)>,
    /// Nanoseconds per unit of the written timestamps.
    unit: i64,
}

/// The `.tag(k, v)`s of a node.
pub fn static_tags(spec: &NodeSpec) -> Vec<(Name, Name)> {
    spec.properties
        .iter()
        .filter(|p| p.name == "tag")
        .filter_map(|p| match &p.args[..] {
            [Value::String(k), Value::String(v)] => {
                Some((Name::from(k.as_str()), Name::from(v.as_str())))
            }
            _ => None,
        })
        .collect()
}

/// The point with `measurement` and `tags` applied (tags override).
pub fn retag(
    p: &Point,
    measurement: Option<&Name>,
    tags: &[(Name, Name)],
) -> Result<Point, NodeError> {
    if measurement.is_none() && tags.is_empty() {
        return Ok(p.clone());
    }
    let mut all: Vec<(Name, Name)> = p
        .tags()
        .iter()
        .filter(|(k, _)| !tags.iter().any(|(t, _)| t == k))
        .cloned()
        .collect();
    all.extend(tags.iter().cloned());
    let name = measurement.unwrap_or(p.measurement()).clone();
    let series = Series::new(name, all).map_err(|e| NodeError::new(e.to_string()))?;
    Ok(Point {
        series: Arc::new(series),
        fields: p.fields.clone(),
        time: p.time,
    })
}

fn unit_ns(precision: &str) -> Option<i64> {
    Some(match precision {
        "" | "n" | "ns" => 1,
        "u" | "us" | "µs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return None,
    })
}

impl InfluxDbOutNode {
    /// What the node asks of the server, from its plan entry.
    pub fn output_spec(spec: &NodeSpec) -> Result<OutputSpec, BuildError> {
        let database = spec
            .prop_string("database")?
            .ok_or_else(|| BuildError::unchecked(spec, ".database()"))?;
        let precision = spec.prop_string("precision")?.unwrap_or_default();
        if unit_ns(&precision).is_none() {
            return Err(BuildError::unchecked(spec, ".precision()"));
        }
        let buffer = spec.prop_int("buffer")?.unwrap_or(BUFFER);
        let flush_interval = spec
            .prop_duration("flushInterval")?
            .unwrap_or(FLUSH_INTERVAL);
        if buffer <= 0 || flush_interval <= 0 {
            return Err(BuildError::unchecked(spec, ".buffer() or .flushInterval()"));
        }
        Ok(OutputSpec::InfluxDb {
            cluster: spec.prop_string("cluster")?,
            database,
            retention_policy: spec.prop_string("retentionPolicy")?.unwrap_or_default(),
            precision,
            buffer: buffer as usize,
            flush_interval,
            create: spec.has_prop("create"),
        })
    }

    pub fn new(spec: &NodeSpec, output: Arc<dyn Output>) -> Result<Self, BuildError> {
        let precision = spec.prop_string("precision")?.unwrap_or_default();
        Ok(InfluxDbOutNode {
            output,
            measurement: spec.prop_string("measurement")?.map(Name::from),
            tags: static_tags(spec),
            unit: unit_ns(&precision).unwrap_or(1),
        })
    }

    fn line(&self, p: &Point, out: &mut String) -> Result<(), NodeError> {
        // Line protocol has no NaN or infinity: such fields are left out.
        let fields = Fields::from_pairs(
            p.fields
                .iter()
                .filter(|(_, v)| !matches!(v, FieldValue::Float(f) if !f.is_finite()))
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        if fields.is_empty() {
            return Ok(());
        }
        let mut p = retag(p, self.measurement.as_ref(), &self.tags)?;
        p.fields = fields;
        p.time = p.time.div_euclid(self.unit);
        use std::fmt::Write as _;
        let _ = writeln!(out, "{p}");
        Ok(())
    }
}

impl Node for InfluxDbOutNode {
    fn process(&mut self, msg: Message, _out: &mut Vec<Message>) -> Result<(), NodeError> {
        let mut lines = String::new();
        match &msg {
            Message::Point(p, _) => self.line(p, &mut lines)?,
            Message::Batch(b) => {
                for bp in &b.points {
                    let tags: Tags = bp.tags.clone();
                    let series = Series::new(b.name.clone(), tags.to_vec())
                        .map_err(|e| NodeError::new(e.to_string()))?;
                    let p = Point {
                        series: Arc::new(series),
                        fields: bp.fields.clone(),
                        time: bp.time,
                    };
                    self.line(&p, &mut lines)?;
                }
            }
            Message::Barrier { .. } | Message::DeleteGroup(_) => {}
        }
        if !lines.is_empty() {
            self.output.offer(lines.into_bytes().into());
        }
        Ok(())
    }

    fn output(&self) -> Option<Arc<dyn Output>> {
        Some(self.output.clone())
    }
}
