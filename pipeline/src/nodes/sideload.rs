//! `sideload()`: adds fields and tags to each point (or batch point) from
//! files of values the server keeps (Kapacitor's `SideloadNode`). The
//! `.order(...)` templates, rendered with the point's tags (`{{.host}}`),
//! name the files to look in, first first; `.field(name, default)` and
//! `.tag(name, default)` set what the first file that has the key says,
//! converted to the default's type, else the default. A value that does not
//! convert gives the default and an error. Sideloaded tags do not change
//! the point's group.

use std::sync::Arc;

use dsl::{NodeSpec, Value};

use crate::batch::Message;
use crate::build::TaskEnv;
use crate::node::{Node, NodeError};
use crate::nodes::alert::{Template, TemplateData, TemplateKind};
use crate::point::{FieldValue, Fields, Name, Series, Tags};
use crate::spec::{BuildError, SpecExt};

/// Where sideload values come from: files of a directory, by path.
pub trait SideloadSource: Send + Sync {
    /// `key`'s value in the first of `files` (paths relative to the
    /// source) that has it.
    fn lookup(&self, files: &[String], key: &str) -> Option<serde_json::Value>;
}

pub struct SideloadNode {
    source: Arc<dyn SideloadSource>,
    order: Vec<Template>,
    fields: Vec<(Name, FieldValue)>,
    tags: Vec<(Name, Name)>,
}

impl SideloadNode {
    pub fn build(spec: &NodeSpec, env: &dyn TaskEnv) -> Result<Self, BuildError> {
        let source = spec
            .prop_string("source")?
            .ok_or_else(|| BuildError::unchecked(spec, ".source()"))?;
        let mut order = Vec::new();
        let mut fields: Vec<(Name, FieldValue)> = Vec::new();
        let mut tags: Vec<(Name, Name)> = Vec::new();
        for p in &spec.properties {
            match (p.name.as_str(), p.args.as_slice()) {
                ("order", args) => {
                    for a in args {
                        let Value::String(text) = a else {
                            return Err(BuildError::at(
                                &spec.name,
                                p.span,
                                ".order() takes templates",
                            ));
                        };
                        let t = Template::parse(TemplateKind::Order, text).map_err(|e| {
                            if e.syntax {
                                BuildError::unchecked(spec, "an .order() template")
                            } else {
                                BuildError::at(&spec.name, p.span, format!("sideload: {e}"))
                            }
                        })?;
                        order.push(t);
                    }
                }
                ("field", [Value::String(name), default]) => {
                    let default = crate::nodes::default_node::field_default(spec, default)?;
                    let name = Name::from(name.as_str());
                    fields.retain(|(k, _)| *k != name);
                    fields.push((name, default));
                }
                ("tag", [Value::String(name), Value::String(default)]) => {
                    let name = Name::from(name.as_str());
                    tags.retain(|(k, _)| *k != name);
                    tags.push((name, Name::from(default.as_str())));
                }
                ("field" | "tag", _) => {
                    return Err(BuildError::invalid(
                        spec,
                        format!(".{}() takes a name and a default value", p.name),
                    ));
                }
                _ => {}
            }
        }
        Ok(SideloadNode {
            source: env.sideload(spec, &source)?,
            order,
            fields,
            tags,
        })
    }

    /// The files to look in for a point with `tags`.
    fn files(&self, tags: &Tags) -> Result<Vec<String>, NodeError> {
        let data = TemplateData::of_series("", tags);
        self.order
            .iter()
            .map(|t| {
                t.render(&data)
                    .map_err(|e| NodeError::new(format!("sideload: {e}")))
            })
            .collect()
    }

    /// The point's fields and tags with the sideloaded ones set; `None`
    /// where nothing is to be set. Values that do not convert give their
    /// default and an error in `errors`.
    fn load(
        &self,
        tags: &Tags,
        fields: &Fields,
        errors: &mut Option<NodeError>,
    ) -> Result<Loaded, NodeError> {
        let files = self.files(tags)?;
        let mut value = |key: &Name, default: &FieldValue| -> FieldValue {
            match self.source.lookup(&files, key) {
                None => default.clone(),
                Some(found) => convert(&found, default).unwrap_or_else(|why| {
                    *errors = Some(NodeError::new(format!("sideload: key {key}: {why}")));
                    default.clone()
                }),
            }
        };
        let new_fields = (!self.fields.is_empty()).then(|| {
            let loaded: Vec<(Name, FieldValue)> = self
                .fields
                .iter()
                .map(|(k, d)| (k.clone(), value(k, d)))
                .collect();
            fields.with(loaded)
        });
        let new_tags = (!self.tags.is_empty()).then(|| {
            let mut out: Vec<(Name, Name)> = tags
                .iter()
                .filter(|(k, _)| !self.tags.iter().any(|(t, _)| t == k))
                .cloned()
                .collect();
            for (k, d) in &self.tags {
                let v = match value(k, &FieldValue::String(d.clone())) {
                    FieldValue::String(s) => s,
                    _ => d.clone(),
                };
                out.push((k.clone(), v));
            }
            out
        });
        Ok(Loaded {
            fields: new_fields,
            tags: new_tags,
        })
    }
}

/// A point's fields and tags with the sideloaded ones set; `None` where the
/// node sets none.
struct Loaded {
    fields: Option<Fields>,
    tags: Option<Vec<(Name, Name)>>,
}

/// `found` as a value of `default`'s type, as Kapacitor converts: numbers
/// between each other when nothing is lost, strings parsed, and anything
/// printed for a string.
fn convert(found: &serde_json::Value, default: &FieldValue) -> Result<FieldValue, String> {
    use serde_json::Value as J;
    let converted = match (default, found) {
        (FieldValue::Integer(_), J::Number(n)) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18)
                    .map(|f| f as i64)
            })
            .map(FieldValue::Integer),
        (FieldValue::Integer(_), J::String(s)) => s.trim().parse().ok().map(FieldValue::Integer),
        (FieldValue::Float(_), J::Number(n)) => n.as_f64().map(FieldValue::Float),
        (FieldValue::Float(_), J::String(s)) => s.trim().parse().ok().map(FieldValue::Float),
        (FieldValue::Boolean(_), J::Bool(b)) => Some(FieldValue::Boolean(*b)),
        (FieldValue::Boolean(_), J::String(s)) => match s.as_str() {
            "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(FieldValue::Boolean(true)),
            "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(FieldValue::Boolean(false)),
            _ => None,
        },
        (FieldValue::String(_), J::String(s)) => Some(FieldValue::String(Name::from(s.as_str()))),
        (FieldValue::String(_), J::Number(n)) => Some(FieldValue::String(Name::from(
            n.as_i64()
                .map_or_else(|| n.as_f64().unwrap_or(0.0).to_string(), |i| i.to_string())
                .as_str(),
        ))),
        (FieldValue::String(_), J::Bool(b)) => Some(FieldValue::String(Name::from(if *b {
            "true"
        } else {
            "false"
        }))),
        _ => None,
    };
    converted.ok_or_else(|| format!("cannot convert {found} to {}", default.type_name()))
}

impl Node for SideloadNode {
    fn process(&mut self, msg: Message, out: &mut Vec<Message>) -> Result<(), NodeError> {
        let mut errors = None;
        match msg {
            Message::Point(mut point, group) => {
                match self.load(point.tags(), &point.fields, &mut errors) {
                    Ok(Loaded { fields, tags }) => {
                        if let Some(fields) = fields {
                            point.fields = fields;
                        }
                        if let Some(tags) = tags {
                            let series = Series::new(point.measurement().clone(), tags)
                                .map_err(|e| NodeError::new(e.to_string()))?;
                            point.series = series.into();
                        }
                    }
                    // The point goes on as it came.
                    Err(e) => errors = Some(e),
                }
                out.push(Message::Point(point, group));
            }
            Message::Batch(mut batch) => {
                for p in &mut batch.points {
                    match self.load(&p.tags, &p.fields, &mut errors) {
                        Ok(Loaded { fields, tags }) => {
                            if let Some(fields) = fields {
                                p.fields = fields;
                            }
                            if let Some(mut tags) = tags {
                                tags.sort_by(|a, b| a.0.cmp(&b.0));
                                p.tags = tags.into();
                            }
                        }
                        Err(e) => errors = Some(e),
                    }
                }
                out.push(Message::Batch(batch));
            }
            other => out.push(other),
        }
        errors.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{Batch, BatchPoint};
    use crate::group::GroupKey;
    use crate::point::Point;
    use crate::testing::TestEnv;
    use serde_json::json;

    /// `host/a.yml` sets limit 50 and team "web"; `default.yml` limit "x".
    struct Files;

    impl SideloadSource for Files {
        fn lookup(&self, files: &[String], key: &str) -> Option<serde_json::Value> {
            files.iter().find_map(|f| match (f.as_str(), key) {
                ("host/a.yml", "limit") => Some(json!(50)),
                ("host/a.yml", "team") => Some(json!("web")),
                ("default.yml", "limit") => Some(json!("x")),
                _ => None,
            })
        }
    }

    fn node() -> SideloadNode {
        let spec = crate::testing::node_spec(
            "stream|from()|sideload().source('file:///s').order('host/{{.host}}.yml', 'default.yml').field('limit', 90).tag('team', 'none')",
            "sideload",
        );
        let env = TestEnv {
            sideload: Some(Arc::new(Files)),
            ..TestEnv::default()
        };
        SideloadNode::build(&spec, &env).unwrap()
    }

    fn tags(host: &str) -> Tags {
        Arc::from([(Name::from("host"), Name::from(host))])
    }

    #[test]
    fn points_and_batch_points_get_the_first_file_s_values_converted_or_the_default() {
        let mut node = node();
        let point = |host: &str| {
            Message::Point(
                Point {
                    series: Arc::new(
                        Series::with_sorted_tags(Name::from("cpu"), tags(host)).unwrap(),
                    ),
                    fields: Fields::from_pairs([(Name::from("limit"), FieldValue::Integer(1))]),
                    time: 0,
                },
                GroupKey::nil(),
            )
        };
        let mut out = Vec::new();
        node.process(point("a"), &mut out).unwrap();
        // b has no file of its own: default.yml's "x" is no integer.
        let err = node.process(point("b"), &mut out).unwrap_err().to_string();
        assert!(
            err.contains("key limit: cannot convert \"x\" to integer"),
            "{err}"
        );
        let got: Vec<_> = out
            .iter()
            .map(|m| match m {
                Message::Point(p, _) => (
                    p.fields.get("limit").cloned(),
                    p.series.tag("team").map(|t| t.to_string()),
                ),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            got,
            [
                (Some(FieldValue::Integer(50)), Some("web".into())),
                (Some(FieldValue::Integer(90)), Some("none".into())),
            ]
        );
        let batch = Batch {
            name: Name::from("cpu"),
            tmax: 0,
            group: GroupKey::nil(),
            tags: Arc::from([]),
            points: vec![BatchPoint {
                time: 0,
                fields: Fields::from_pairs([]),
                tags: tags("a"),
            }],
        };
        let mut out = Vec::new();
        node.process(Message::Batch(batch), &mut out).unwrap();
        let Some(Message::Batch(b)) = out.pop() else {
            panic!("a batch");
        };
        assert_eq!(
            b.points[0].fields.get("limit"),
            Some(&FieldValue::Integer(50))
        );
        assert_eq!(
            b.points[0]
                .tags
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>(),
            ["host=a", "team=web"]
        );
    }

    #[test]
    fn values_convert_as_kapacitor_converts_them() {
        let int = FieldValue::Integer(0);
        let float = FieldValue::Float(0.0);
        let boolean = FieldValue::Boolean(false);
        let string = FieldValue::String(Name::from(""));
        assert_eq!(convert(&json!(3.0), &int), Ok(FieldValue::Integer(3)));
        assert!(convert(&json!(3.5), &int).is_err());
        assert_eq!(convert(&json!("42"), &int), Ok(FieldValue::Integer(42)));
        assert_eq!(convert(&json!(2), &float), Ok(FieldValue::Float(2.0)));
        assert_eq!(
            convert(&json!("T"), &boolean),
            Ok(FieldValue::Boolean(true))
        );
        assert!(convert(&json!("yes"), &boolean).is_err());
        assert_eq!(
            convert(&json!(0.5), &string),
            Ok(FieldValue::String(Name::from("0.5")))
        );
        assert_eq!(
            convert(&json!(true), &string),
            Ok(FieldValue::String(Name::from("true")))
        );
        assert!(convert(&json!([1]), &string).is_err());
    }
}
