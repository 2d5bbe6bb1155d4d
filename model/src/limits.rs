//! What one script may ask of the daemon: `kapacitor.yaml`'s `limits:`
//! section, which `dsl` checks every script against when it compiles.

/// Limits on what one task may ask for, checked when it is defined (each
/// breach a diagnostic at the script's line and column), so no script can
/// exhaust memory or the stack of the daemon. `Default` is the section's
/// defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest TICKscript in bytes. Default 1 MiB.
    pub max_script_size: usize,
    /// Most nodes in one task. Default 1,000.
    pub max_nodes: usize,
    /// Most nodes on one path from the root (nodes run recursively along
    /// a path). Default 200.
    pub max_chain_depth: usize,
    /// Deepest nesting of a `where` predicate or lambda expression
    /// (parentheses, operators). At most 1,000. Default 100.
    pub max_expression_depth: usize,
    /// Largest `.parallelism(n)`. Default 64.
    pub max_parallelism: u64,
    /// Largest `.history(n)` of alert and deadman nodes. Default 10,000.
    pub max_history: u64,
    /// Most values `holtWinters(field, h, ...)` may forecast (`h`) or take
    /// as a season (`m`). Default 100,000.
    pub max_forecast: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_script_size: 1_048_576,
            max_nodes: 1000,
            max_chain_depth: 200,
            max_expression_depth: 100,
            max_parallelism: 64,
            max_history: 10_000,
            max_forecast: 100_000,
        }
    }
}
