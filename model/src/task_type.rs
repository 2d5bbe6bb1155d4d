//! Stream or batch.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Whether a task is fed points as they arrive (`stream`) or the results of
/// a query run on a schedule (`batch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskType {
    Stream,
    Batch,
}

impl TaskType {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskType::Stream => "stream",
            TaskType::Batch => "batch",
        }
    }

    /// The name of the root node a script of this type starts from.
    pub fn root(self) -> &'static str {
        self.as_str()
    }
}

impl fmt::Display for TaskType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for TaskType {
    type Err = String;

    /// `stream` or `batch` in any case; also Kapacitor's older `streamer`
    /// and `batcher`.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "stream" | "streamer" => Ok(TaskType::Stream),
            "batch" | "batcher" => Ok(TaskType::Batch),
            _ => Err(format!("unknown task type `{s}`; expected stream or batch")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::TaskType;

    #[test]
    fn parses_kapacitors_names() {
        for (text, want) in [
            ("stream", TaskType::Stream),
            ("Streamer", TaskType::Stream),
            ("batch", TaskType::Batch),
            ("BATCHER", TaskType::Batch),
        ] {
            assert_eq!(text.parse(), Ok(want), "{text}");
        }
        assert_eq!(
            "river".parse::<TaskType>(),
            Err("unknown task type `river`; expected stream or batch".to_owned())
        );
    }

    #[test]
    fn writes_lowercase() {
        assert_eq!(TaskType::Batch.to_string(), "batch");
        assert_eq!(
            serde_json::to_string(&TaskType::Stream).unwrap(),
            "\"stream\""
        );
        assert_eq!(
            serde_json::from_str::<TaskType>("\"batch\"").unwrap(),
            TaskType::Batch
        );
    }
}
