//! `kapacitorLoopback()`: writes points and batches back into this
//! kapacitord, as if written to `.database()`.`.retentionPolicy()`, with
//! `.measurement()` and `.tag(k, v)` applied as `influxDBOut` does, so
//! other tasks (or this one) can read them. The hand-off goes through the
//! router's non-blocking path: a task looping into itself neither blocks
//! nor recurses, and what a full queue refuses is counted there.

use std::sync::Arc;

use dsl::NodeSpec;

use super::influxdb_out::{retag, static_tags};
use crate::batch::Message;
use crate::node::{Node, NodeError};
use crate::point::{DbRp, Name, Point, PointBatch, Series};
use crate::router::PointSink;
use crate::spec::{BuildError, SpecExt};

pub struct LoopbackNode {
    sink: Arc<dyn PointSink>,
    dbrp: DbRp,
    measurement: Option<Name>,
    tags: Vec<(Name, Name)>,
}

impl LoopbackNode {
    pub fn from_spec(spec: &NodeSpec, sink: Arc<dyn PointSink>) -> Result<Self, BuildError> {
        let need = |name: &str| -> Result<String, BuildError> {
            spec.prop_string(name)?
                .filter(|s| !s.is_empty())
                .ok_or_else(|| BuildError::unchecked(spec, &format!(".{name}()")))
        };
        Ok(LoopbackNode {
            sink,
            dbrp: DbRp::new(
                need("database")?.as_str(),
                need("retentionPolicy")?.as_str(),
            ),
            measurement: spec.prop_string("measurement")?.map(Name::from),
            tags: static_tags(spec),
        })
    }
}

impl Node for LoopbackNode {
    fn process(&mut self, msg: Message, _out: &mut Vec<Message>) -> Result<(), NodeError> {
        let points = match &msg {
            Message::Point(p, _) => vec![retag(p, self.measurement.as_ref(), &self.tags)?],
            Message::Batch(b) => b
                .points
                .iter()
                .map(|bp| {
                    let series = Series::new(b.name.clone(), bp.tags.to_vec())
                        .map_err(|e| NodeError::new(e.to_string()))?;
                    let p = Point {
                        series: Arc::new(series),
                        fields: bp.fields.clone(),
                        time: bp.time,
                    };
                    retag(&p, self.measurement.as_ref(), &self.tags)
                })
                .collect::<Result<_, _>>()?,
            Message::Barrier { .. } | Message::DeleteGroup(_) => return Ok(()),
        };
        if !points.is_empty() {
            self.sink.write(PointBatch {
                dbrp: self.dbrp.clone(),
                points,
            });
        }
        Ok(())
    }
}
