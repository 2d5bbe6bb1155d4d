//! A database and retention policy.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Name;

/// A database and retention policy, `telegraf.autogen`. Its parts are
/// shared [`Name`]s: every point carries one. In JSON it is Kapacitor's
/// `{"db": "telegraf", "rp": "autogen"}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DbRp {
    pub db: Name,
    pub rp: Name,
}

impl DbRp {
    pub fn new(db: impl Into<Name>, rp: impl Into<Name>) -> Self {
        DbRp {
            db: db.into(),
            rp: rp.into(),
        }
    }
}

impl fmt::Display for DbRp {
    /// `db.rp`, quoting a part that holds a dot or a quote, so that it
    /// parses back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let part = |s: &str| {
            if s.contains(['.', '"']) || s.is_empty() {
                format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
            } else {
                s.to_owned()
            }
        };
        write!(f, "{}.{}", part(&self.db), part(&self.rp))
    }
}

impl std::str::FromStr for DbRp {
    type Err = String;

    /// `db.rp`, `"my.db"."rp"`, `"my.db".rp`: a bare part cannot hold a dot.
    fn from_str(text: &str) -> Result<Self, String> {
        let expected = || {
            format!(
                "`{text}` is not a db.rp; expected database and retention policy such as \
                 `telegraf.autogen`, quoting a name that holds a dot: `\"my.db\".\"autogen\"`"
            )
        };
        let chars: Vec<char> = text.trim().chars().collect();
        let mut parts = Vec::new();
        let mut i = 0;
        loop {
            let mut part = String::new();
            if chars.get(i) == Some(&'"') {
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(expected()),
                        Some('\\') if i + 1 < chars.len() => {
                            part.push(chars[i + 1]);
                            i += 2;
                        }
                        Some('"') => {
                            i += 1;
                            break;
                        }
                        Some(&c) => {
                            part.push(c);
                            i += 1;
                        }
                    }
                }
            } else {
                while let Some(&c) = chars.get(i) {
                    if c == '.' {
                        break;
                    }
                    if c == '"' || c.is_whitespace() {
                        return Err(expected());
                    }
                    part.push(c);
                    i += 1;
                }
            }
            if part.is_empty() {
                return Err(expected());
            }
            parts.push(part);
            match chars.get(i) {
                None => break,
                Some('.') => i += 1,
                Some(_) => return Err(expected()),
            }
        }
        match <[String; 2]>::try_from(parts) {
            Ok([db, rp]) => Ok(DbRp::new(db, rp)),
            Err(_) => Err(expected()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::DbRp;

    fn parse(text: &str) -> Result<DbRp, String> {
        text.parse()
    }

    #[test]
    fn parses_and_prints_back() {
        let d = DbRp::new;
        assert_eq!(parse("telegraf.autogen"), Ok(d("telegraf", "autogen")));
        assert_eq!(parse("\"my.db\".\"rp\""), Ok(d("my.db", "rp")));
        assert_eq!(parse("\"my.db\".rp"), Ok(d("my.db", "rp")));
        assert_eq!(d("my.db", "rp").to_string(), "\"my.db\".rp");
        assert_eq!(d("telegraf", "autogen").to_string(), "telegraf.autogen");
        let odd = d("a\"b", "c\\d.e");
        assert_eq!(parse(&odd.to_string()), Ok(odd));
        for bad in ["telegraf", "a.b.c", ".rp", "\"db.rp", "db. rp", ""] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn json_is_kapacitors_shape() {
        let d = DbRp::new("telegraf", "autogen");
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, r#"{"db":"telegraf","rp":"autogen"}"#);
        assert_eq!(serde_json::from_str::<DbRp>(&json).unwrap(), d);
    }
}
