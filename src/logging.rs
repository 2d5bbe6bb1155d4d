//! The daemon's log output and its level, which `kapacitor level LEVEL`
//! (`POST /kapacitor/v1/loglevel`) changes while it runs.
//!
//! The binary sets logging up once ([`init`]); the library only changes
//! the level of what was set up, and says so when nothing was (a server
//! started in-process by a test logs wherever that test decided).

use std::sync::OnceLock;

use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Registry, reload};

static LEVEL: OnceLock<reload::Handle<EnvFilter, Registry>> = OnceLock::new();

/// Logs to standard error at `level` (a level or directives such as
/// `info,ingest=debug`; `RUST_LOG` wins when set), changeable by
/// [`set_level`].
pub fn init(level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let (filter, handle) = reload::Layer::new(filter);
    use std::io::IsTerminal;
    let output = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    if tracing_subscriber::registry()
        .with(filter)
        .with(output)
        .try_init()
        .is_ok()
    {
        let _ = LEVEL.set(handle);
    }
}

/// Why the level was not changed.
#[derive(Debug, thiserror::Error)]
pub enum LevelError {
    #[error("invalid log level {0:?}: use one of {levels}", levels = config::LOG_LEVELS.join(", "))]
    Invalid(String),
    #[error("this process's logging was not set up by kapacitord; its level cannot be changed")]
    NotSetUp,
}

/// Sets every target's level to `level` (`debug`, `INFO`, … as Kapacitor
/// takes it, any case).
pub fn set_level(level: &str) -> Result<(), LevelError> {
    let lower = level.trim().to_ascii_lowercase();
    if !config::LOG_LEVELS.contains(&lower.as_str()) {
        return Err(LevelError::Invalid(level.to_string()));
    }
    let handle = LEVEL.get().ok_or(LevelError::NotSetUp)?;
    handle
        .modify(|filter| *filter = EnvFilter::new(&lower))
        .map_err(|_| LevelError::NotSetUp)?;
    tracing::info!(level = %lower, "log level changed");
    Ok(())
}
