//! Configuration as the user writes it, validated into what the daemon runs.
//!
//! Owns now: [`DaemonConfig`], the daemon's `kapacitor.yaml`: its schema and
//! built-in defaults, loading ([`DaemonConfig::load`]), environment overrides
//! ([`ENV_OVERRIDES`]), and printing the effective config as YAML
//! ([`DaemonConfig::to_yaml`], which for the defaults is the sample
//! `kapacitor.yaml` at the repository root). Problems are collected, not
//! returned one at a time: a bad file yields every unknown key (with a
//! did-you-mean), wrong type and bad value at once as [`ConfigErrors`], each
//! naming file, dotted key, line and column.
//!
//! Also owns the tasks directory: [`TaskMeta`], the YAML beside a script
//! (validated the same way, every error located), its compiled `where`
//! predicate ([`WherePredicate`]), and the directory scanner and watcher;
//! and topic handler files as Kapacitor writes them ([`TopicHandlerFile`]).
//! Does not own: starting listeners or anything else
//! done with the values, nor logging setup (the binaries do that), nor the
//! `DbRp` and `TaskType` a task's YAML names (`model`'s, re-exported).
//!
//! YAML is read with `saphyr-parser` (pure Rust, YAML 1.2) into a small tree
//! that keeps positions, rather than through serde, because serde stops at
//! the first error.

mod cron;
mod daemon;
mod error;
mod files;
mod handler_file;
mod predicate;
mod render;
mod sideload;
mod task;
mod taskdir;
mod values;
mod walk;
mod yaml;

pub use cron::Cron;
pub use daemon::{
    AuthConfig, DEFAULT_CONFIG_FILE, DaemonConfig, DeadmanConfig, ENV_OVERRIDES, HttpConfig,
    HttpPostConfig, InfluxDbConfig, IngestConfig, LimitsConfig, LoggingConfig,
    MAX_EXPRESSION_DEPTH_CEILING, PipelineConfig, ReplayConfig, SideloadConfig,
    SubscriptionProtocol, TcpConfig, TlsConfig, TopicsConfig, UdpConfig, UserConfig,
};
pub use error::{ConfigError, ConfigErrors, ENVIRONMENT};
pub use files::{FileError, read_text};
pub use handler_file::{TopicHandlerFile, is_valid_handler_id, is_valid_topic};
pub use model::{DbRp, TaskType};
pub use predicate::{CompareOp, Operand, Value, WhereError, WhereExpr, WherePredicate};
pub use sideload::read_yaml_values;
pub use task::{Overflow, TaskMeta, TaskVar, VarType, VarValue, check_cron, parse_duration};
pub use taskdir::{
    InvalidTask, ScanResult, TaskDir, TaskDirEvent, TaskDirWatcher, TaskFiles, WatchError,
    WatchMode, WatchOptions, Watching, is_valid_task_id,
};
pub use values::LOG_LEVELS;
