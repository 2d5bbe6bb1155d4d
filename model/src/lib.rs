//! The domain types the other crates share, each defined once here.
//!
//! Owns: [`Name`] (a shared, immutable string), [`DbRp`] (a database and
//! retention policy: how it is written, `telegraf.autogen` or
//! `"my.db"."autogen"`, and its JSON shape in Kapacitor's API, `{"db", "rp"}`)
//! [`TaskType`] (`stream` or `batch`), [`Limits`] (what one script may
//! ask for), [`IdPattern`] (Kapacitor's globs over task, recording and
//! replay ids) and [`Limit`] with [`LimitBreaches`] (every limit of the
//! daemon by its config key, and how often each was breached).
//!
//! Does not own: points, plans or task metadata (`pipeline`, `dsl`,
//! `config`), nor how a type is stored on disk (`storage` keeps its own
//! record shapes). Depends on serde only, so every crate can use it.

mod breaches;
pub mod civil;
mod dbrp;
mod limits;
mod pattern;
mod task_type;

pub use breaches::{Limit, LimitBreaches};
pub use dbrp::DbRp;
pub use limits::Limits;
pub use pattern::{BadPattern, IdPattern};
pub use task_type::TaskType;

/// A shared, immutable name: a measurement, a tag key or value, a field key,
/// a database or retention policy.
pub type Name = std::sync::Arc<str>;
