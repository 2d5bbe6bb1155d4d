//! Parsing and checking of single values, shared by the YAML walker and the
//! environment overrides so both give the same messages.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Log levels accepted in `logging.level`, alone or as `target=level`.
pub const LOG_LEVELS: &[&str] = &["trace", "debug", "info", "warn", "error", "off"];

/// `IP:port`. Host names are not resolved (that would make loading depend on
/// DNS); the hints cover the shapes people carry over from other configs.
pub(crate) fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let port_only = text.strip_prefix(':').unwrap_or(text);
    if port_only.parse::<u16>().is_ok() {
        return Err(format!(
            "`{text}` has no IP address; write `127.0.0.1:{port_only}` for loopback only \
             or `0.0.0.0:{port_only}` for every interface"
        ));
    }
    if let Some((host, port)) = text.rsplit_once(':')
        && !host.is_empty()
        && port.parse::<u16>().is_ok()
    {
        return Err(format!(
            "`{text}`: host names are not resolved; use an IP address such as `127.0.0.1:{port}`"
        ));
    }
    Err(format!(
        "`{text}` is not a socket address; expected IP:port such as `127.0.0.1:9092`"
    ))
}

/// A byte size: a plain number of bytes, or a number with a unit
/// (`B`, `KB`/`MB`/`GB` = powers of 1000, `KiB`/`MiB`/`GiB` = powers of 1024),
/// case-insensitive, with optional space and `_` digit separators.
pub(crate) fn parse_size(text: &str) -> Result<u64, String> {
    let bad = || {
        format!(
            "`{text}` is not a size; expected bytes such as 25000000, or a number with a unit \
             (B, KB, MB, GB, KiB, MiB, GiB) such as \"25MB\""
        )
    };
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '_'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let digits: String = number.chars().filter(|&c| c != '_').collect();
    if digits.is_empty() {
        return Err(bad());
    }
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        _ => return Err(bad()),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .ok_or_else(|| format!("`{text}` is too large"))
}

pub(crate) fn parse_dir(text: &str) -> Result<PathBuf, String> {
    if text.is_empty() {
        return Err("must not be empty".to_owned());
    }
    Ok(PathBuf::from(text))
}

/// `info`, or directives like `info,ingest=debug` (what `tracing`'s env
/// filter understands, restricted to plain levels so typos are caught here).
pub(crate) fn check_log_level(text: &str) -> Result<(), String> {
    let expected = || {
        format!(
            "expected one of {}, or directives such as \"info,ingest=debug\"",
            LOG_LEVELS.join(", ")
        )
    };
    if text.trim().is_empty() {
        return Err(format!("must not be empty; {}", expected()));
    }
    for directive in text.split(',').map(str::trim) {
        let level = match directive.split_once('=') {
            Some((target, level)) => {
                let target_ok = !target.is_empty()
                    && target
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
                if !target_ok {
                    return Err(format!("bad target in `{directive}`; {}", expected()));
                }
                level
            }
            None => directive,
        };
        if !LOG_LEVELS.contains(&level.to_ascii_lowercase().as_str()) {
            let hint = did_you_mean(&level.to_ascii_lowercase(), LOG_LEVELS)
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            return Err(format!("unknown log level `{level}`{hint}; {}", expected()));
        }
    }
    Ok(())
}

/// The closest known key, if it is close enough to be a plausible typo.
pub(crate) fn did_you_mean<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    let normalized = key.to_ascii_lowercase().replace('-', "_");
    if let Some(exact) = known.iter().find(|k| **k == normalized) {
        return Some(exact);
    }
    // Names carried over from Kapacitor's TOML config.
    let alias = match normalized.as_str() {
        "bind_address" | "address" | "addr" | "listen" => Some("bind"),
        "db" => Some("database"),
        "rp" => Some("retention_policy"),
        "log_level" => Some("level"),
        "user" | "name" => Some("username"),
        "pass" => Some("password"),
        // Task metadata.
        "measurement" => Some("from"),
        "filter" => Some("where"),
        "kind" => Some("type"),
        "dbrps" | "database" => Some("dbrp"),
        "every" | "interval" => Some("period"),
        "tick" | "tickscript" => Some("script"),
        "groupby" => Some("group_by"),
        "variables" => Some("vars"),
        _ => None,
    };
    if let Some(alias) = alias
        && let Some(k) = known.iter().find(|k| **k == alias)
    {
        return Some(k);
    }
    let limit = (normalized.chars().count() / 3).clamp(1, 3);
    known
        .iter()
        .map(|k| (levenshtein(&normalized, k), *k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Edit distance counting an adjacent swap as one edit (`form` → `from`).
fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("25000000"), Ok(25_000_000));
        assert_eq!(parse_size("25MB"), Ok(25_000_000));
        assert_eq!(parse_size("25 mb"), Ok(25_000_000));
        assert_eq!(parse_size("1MiB"), Ok(1_048_576));
        assert_eq!(parse_size("25_000_000"), Ok(25_000_000));
        assert_eq!(parse_size("512B"), Ok(512));
        assert_eq!(parse_size("3GiB"), Ok(3 << 30));
        assert!(parse_size("big").is_err());
        assert!(parse_size("MB").is_err());
        assert!(parse_size("-1").is_err());
        assert!(parse_size("1.5MB").is_err());
        assert!(parse_size("99999999999999999999GB").is_err());
    }

    #[test]
    fn addresses() {
        assert!(parse_addr("127.0.0.1:9092").is_ok());
        assert!(parse_addr("[::1]:0").is_ok());
        assert!(parse_addr(":9092").unwrap_err().contains("0.0.0.0:9092"));
        assert!(parse_addr("9092").unwrap_err().contains("127.0.0.1:9092"));
        assert!(
            parse_addr("localhost:9092")
                .unwrap_err()
                .contains("host names")
        );
        assert!(
            parse_addr("nope")
                .unwrap_err()
                .contains("not a socket address")
        );
        assert!(parse_addr("127.0.0.1:99999").is_err());
    }

    #[test]
    fn log_levels() {
        assert!(check_log_level("info").is_ok());
        assert!(check_log_level("DEBUG").is_ok());
        assert!(check_log_level("info,ingest=debug,kapacitor::http=trace").is_ok());
        assert!(check_log_level("").is_err());
        assert!(check_log_level("verbose").is_err());
        assert!(
            check_log_level("infoo")
                .unwrap_err()
                .contains("did you mean `info`")
        );
        assert!(check_log_level("=debug").is_err());
    }

    #[test]
    fn suggestions() {
        let known = ["enabled", "bind", "max_body_size"];
        assert_eq!(did_you_mean("bnd", &known), Some("bind"));
        assert_eq!(did_you_mean("max-body-size", &known), Some("max_body_size"));
        assert_eq!(did_you_mean("bind-address", &known), Some("bind"));
        assert_eq!(did_you_mean("enable", &known), Some("enabled"));
        assert_eq!(did_you_mean("colour", &known), None);
    }
}
