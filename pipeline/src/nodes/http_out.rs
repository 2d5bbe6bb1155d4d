//! `httpOut`: keeps the latest result of each group for the API to serve at
//! `/kapacitor/v1/tasks/<task>/<endpoint>`, and passes everything on.

use std::sync::{Arc, Mutex};

use crate::batch::Message;
use crate::group::GroupKey;
use crate::node::{Node, NodeError};
use crate::result::{Result as SeriesResult, Series};

/// The latest result per group of one `httpOut` endpoint, in order of each
/// group's first appearance. Shared between the node and the API.
#[derive(Debug, Default)]
pub struct HttpOutEndpoint {
    slots: Mutex<Vec<(GroupKey, Series)>>,
}

impl HttpOutEndpoint {
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    /// What the endpoint serves now.
    pub fn result(&self) -> SeriesResult {
        let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        SeriesResult {
            series: slots.iter().map(|(_, s)| s.clone()).collect(),
        }
    }

    /// Forgets every group (a task re-enabled or replayed again).
    pub fn clear(&self) {
        self.slots.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    fn set(&self, group: &GroupKey, series: Series) {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        match slots.iter_mut().find(|(g, _)| g == group) {
            Some(slot) => slot.1 = series,
            None => slots.push((group.clone(), series)),
        }
    }

    fn remove(&self, group: &GroupKey) {
        self.slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(g, _)| g != group);
    }
}

/// The `httpOut` node.
pub struct HttpOutNode {
    endpoint: Arc<HttpOutEndpoint>,
}

impl HttpOutNode {
    pub fn new(endpoint: Arc<HttpOutEndpoint>) -> Self {
        HttpOutNode { endpoint }
    }
}

impl Node for HttpOutNode {
    fn process(&mut self, msg: Message, out: &mut Vec<Message>) -> Result<(), NodeError> {
        match &msg {
            Message::Point(p, group) => self.endpoint.set(group, Series::from_point(p)),
            Message::Batch(b) => self.endpoint.set(&b.group, Series::from_batch(b)),
            Message::DeleteGroup(group) => self.endpoint.remove(group),
            Message::Barrier { .. } => {}
        }
        out.push(msg);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::point::{FieldValue, Fields, Name, Point, Series as PointSeries};

    fn point(host: &str, v: f64, time: i64) -> Message {
        let s =
            PointSeries::new("cpu".into(), vec![(Name::from("host"), Name::from(host))]).unwrap();
        let g = GroupKey::from_parts(None, vec![(Name::from("host"), Name::from(host))].into());
        let p = Point {
            series: Arc::new(s),
            fields: Fields::from_pairs([("v".into(), FieldValue::Float(v))]),
            time,
        };
        Message::Point(p, g)
    }

    #[test]
    fn keeps_latest_per_group_in_first_seen_order() {
        let endpoint = HttpOutEndpoint::new();
        let mut node = HttpOutNode::new(endpoint.clone());
        let mut out = Vec::new();
        for msg in [point("b", 1.0, 1), point("a", 2.0, 2), point("b", 3.0, 3)] {
            node.process(msg, &mut out).unwrap();
        }
        assert_eq!(out.len(), 3);
        let json = serde_json::to_value(endpoint.result()).unwrap();
        assert_eq!(json["series"][0]["tags"]["host"], "b");
        assert_eq!(json["series"][0]["values"][0][1], 3.0);
        assert_eq!(json["series"][1]["tags"]["host"], "a");
    }
}
