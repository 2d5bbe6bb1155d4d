//! Located config errors, collected rather than returned one at a time.

use std::fmt;

/// One problem in a config source, located as precisely as the source allows.
///
/// Displays as `kapacitor.yaml:3:3: http.bnd: unknown key (did you mean `bind`?)`;
/// without a position (environment, file not readable) as
/// `environment: KAPACITOR_HTTP_BIND: ...`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", Located(self))]
pub struct ConfigError {
    /// The file name as given, or `"environment"`.
    pub path: String,
    /// Dotted key (`http.bind`, `auth.users[0].username`), or the environment
    /// variable's name; empty for a YAML syntax error.
    pub key: String,
    /// 1-based.
    pub line: Option<usize>,
    /// 1-based, in characters.
    pub column: Option<usize>,
    pub message: String,
}

struct Located<'a>(&'a ConfigError);

impl fmt::Display for Located<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = self.0;
        f.write_str(&e.path)?;
        if let Some(line) = e.line {
            write!(f, ":{line}")?;
            if let Some(column) = e.column {
                write!(f, ":{column}")?;
            }
        }
        if !e.key.is_empty() {
            write!(f, ": {}", e.key)?;
        }
        write!(f, ": {}", e.message)
    }
}

impl ConfigError {
    /// An error at `line`:`column` of `path`, about `key` (empty: none).
    pub fn at(path: &str, line: usize, column: usize, key: &str, message: String) -> Self {
        ConfigError {
            path: path.to_owned(),
            key: key.to_owned(),
            line: Some(line),
            column: Some(column),
            message,
        }
    }

    /// An error about an environment variable.
    pub fn environment(variable: &str, message: impl Into<String>) -> Self {
        ConfigError {
            path: ENVIRONMENT.to_owned(),
            key: variable.to_owned(),
            line: None,
            column: None,
            message: message.into(),
        }
    }
}

/// The `path` of errors that come from environment variables.
pub const ENVIRONMENT: &str = "environment";

/// Every problem found in one load, in source order. Displays one per line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", Lines(&self.0))]
pub struct ConfigErrors(pub Vec<ConfigError>);

struct Lines<'a>(&'a [ConfigError]);

impl fmt::Display for Lines<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl ConfigErrors {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.0.iter()
    }

    /// Sorts by file, then position (errors without one last), keeping the
    /// discovery order among equals.
    pub(crate) fn sorted(mut errors: Vec<ConfigError>) -> Self {
        errors.sort_by_key(|e| (e.path == ENVIRONMENT, e.line.is_none(), e.line, e.column));
        ConfigErrors(errors)
    }
}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> Self {
        ConfigErrors(vec![e])
    }
}

impl IntoIterator for ConfigErrors {
    type Item = ConfigError;
    type IntoIter = std::vec::IntoIter<ConfigError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a ConfigErrors {
    type Item = &'a ConfigError;
    type IntoIter = std::slice::Iter<'a, ConfigError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn located(line: Option<usize>, column: Option<usize>, key: &str) -> ConfigError {
        ConfigError {
            path: "kapacitor.yaml".to_owned(),
            key: key.to_owned(),
            line,
            column,
            message: "unknown key (did you mean `bind`?)".to_owned(),
        }
    }

    #[test]
    fn display_formats() {
        assert_eq!(
            located(Some(3), Some(3), "http.bnd").to_string(),
            "kapacitor.yaml:3:3: http.bnd: unknown key (did you mean `bind`?)"
        );
        assert_eq!(
            located(None, None, "http.bnd").to_string(),
            "kapacitor.yaml: http.bnd: unknown key (did you mean `bind`?)"
        );
        assert_eq!(
            located(Some(1), Some(2), "").to_string(),
            "kapacitor.yaml:1:2: unknown key (did you mean `bind`?)"
        );
        assert_eq!(
            ConfigError::environment("KAPACITOR_HTTP_BIND", "bad").to_string(),
            "environment: KAPACITOR_HTTP_BIND: bad"
        );
    }

    #[test]
    fn errors_display_one_per_line() {
        let errors = ConfigErrors(vec![
            located(Some(1), Some(1), "a"),
            located(Some(2), Some(1), "b"),
        ]);
        assert_eq!(errors.to_string().lines().count(), 2);
        let _: &dyn std::error::Error = &errors;
    }
}
