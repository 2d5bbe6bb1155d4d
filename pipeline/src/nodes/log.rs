//! `log`: logs every point and batch passing through with `tracing`, at
//! `.level()` (default INFO) with `.prefix()`, and passes everything on.

use dsl::NodeSpec;

use crate::batch::Message;
use crate::node::{Node, NodeError};
use crate::spec::{BuildError, SpecExt};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

pub struct LogNode {
    node: String,
    level: Level,
    prefix: String,
}

impl LogNode {
    pub fn from_spec(spec: &NodeSpec) -> Result<Self, BuildError> {
        let level = match spec
            .prop_string("level")?
            .map(|l| l.to_ascii_uppercase())
            .as_deref()
        {
            None | Some("INFO") => Level::Info,
            Some("DEBUG") => Level::Debug,
            Some("WARN" | "WARNING") => Level::Warn,
            Some("ERROR") => Level::Error,
            Some(_) => return Err(BuildError::unchecked(spec, ".level()")),
        };
        Ok(LogNode {
            node: spec.name.clone(),
            level,
            prefix: spec.prop_string("prefix")?.unwrap_or_default(),
        })
    }

    fn log(&self, what: &str, data: &dyn std::fmt::Debug) {
        let (node, prefix) = (&self.node, &self.prefix);
        match self.level {
            Level::Debug => tracing::debug!(node, prefix, "{what} {data:?}"),
            Level::Info => tracing::info!(node, prefix, "{what} {data:?}"),
            Level::Warn => tracing::warn!(node, prefix, "{what} {data:?}"),
            Level::Error => tracing::error!(node, prefix, "{what} {data:?}"),
        }
    }
}

impl Node for LogNode {
    fn process(&mut self, msg: Message, out: &mut Vec<Message>) -> Result<(), NodeError> {
        match &msg {
            Message::Point(p, group) => self.log("point", &(group, p.to_string())),
            Message::Batch(b) => self.log("batch", b),
            _ => {}
        }
        out.push(msg);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(script: &str) -> NodeSpec {
        crate::testing::node_spec(script, "log")
    }

    #[test]
    fn reads_level_and_prefix_and_passes_messages_on() {
        let mut node =
            LogNode::from_spec(&spec("stream|from()|log().level('debug').prefix('P')")).unwrap();
        assert_eq!((node.level, node.prefix.as_str()), (Level::Debug, "P"));
        let mut out = Vec::new();
        node.process(
            Message::Barrier {
                group: None,
                time: 5,
            },
            &mut out,
        )
        .unwrap();
        assert_eq!(
            out,
            [Message::Barrier {
                group: None,
                time: 5
            }]
        );
    }
}
