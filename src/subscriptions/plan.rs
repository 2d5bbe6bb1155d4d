//! What one sync must change, worked out from what InfluxDB has: which
//! database/retention policies are wanted (`subscriptions` minus
//! `excluded_subscriptions`), which of the server's subscriptions are ours
//! (named `kapacitor-<cluster id>`, never any other), and the statements
//! that bring the two together. No I/O here.

use crate::batch::client::Series;
use crate::batch::query::{quote_ident, quote_string};

/// A database and one of its retention policies.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Target {
    pub db: String,
    pub rp: String,
}

impl Target {
    pub fn new(db: impl Into<String>, rp: impl Into<String>) -> Target {
        Target {
            db: db.into(),
            rp: rp.into(),
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", quote_ident(&self.db), quote_ident(&self.rp))
    }
}

/// Which database/retention policies to subscribe to.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filter {
    /// Empty: every database. A database with no retention policies
    /// listed: all of its.
    pub include: Vec<(String, Vec<String>)>,
    /// Never these, even when included.
    pub exclude: Vec<(String, Vec<String>)>,
}

fn listed(list: &[(String, Vec<String>)], db: &str, rp: &str) -> bool {
    list.iter()
        .any(|(d, rps)| d == db && (rps.is_empty() || rps.iter().any(|r| r == rp)))
}

impl Filter {
    pub fn from_config(c: &config::InfluxDbConfig) -> Filter {
        Filter {
            include: c.subscriptions.clone(),
            exclude: c.excluded_subscriptions.clone(),
        }
    }

    pub fn wants(&self, t: &Target) -> bool {
        (self.include.is_empty() || listed(&self.include, &t.db, &t.rp))
            && !listed(&self.exclude, &t.db, &t.rp)
    }

    /// Whether any retention policy of `db` could be wanted: the others'
    /// retention policies need not be asked for.
    pub fn may_want_db(&self, db: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|(d, _)| d == db))
            && !self
                .exclude
                .iter()
                .any(|(d, rps)| d == db && rps.is_empty())
    }
}

/// A subscription as `SHOW SUBSCRIPTIONS` lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct Existing {
    pub target: Target,
    pub name: String,
    pub mode: String,
    pub destinations: Vec<String>,
}

/// The subscriptions in a `SHOW SUBSCRIPTIONS` answer: one series per
/// database, a row per subscription.
pub fn existing(series: &[Series]) -> Vec<Existing> {
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    let mut out = Vec::new();
    for s in series {
        let rps = s.column("retention_policy");
        let names = s.column("name");
        let modes = s.column("mode");
        let destinations = s.column("destinations");
        for (i, rp) in rps.iter().enumerate() {
            out.push(Existing {
                target: Target::new(s.name.as_str(), text(rp)),
                name: names.get(i).map(|v| text(v)).unwrap_or_default(),
                mode: modes.get(i).map(|v| text(v)).unwrap_or_default(),
                destinations: destinations
                    .get(i)
                    .and_then(|v| v.as_array())
                    .map(|a| a.iter().map(text).collect())
                    .unwrap_or_default(),
            });
        }
    }
    out
}

/// The values of the `name` column of each series (`SHOW DATABASES`,
/// `SHOW RETENTION POLICIES ON db`).
pub fn names(series: &[Series]) -> Vec<String> {
    series
        .iter()
        .flat_map(|s| s.column("name"))
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

/// One change to the server's subscriptions.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    Create {
        target: Target,
        destination: String,
    },
    Drop {
        target: Target,
        /// Why, for the log.
        reason: &'static str,
    },
}

impl Change {
    /// The InfluxQL statement that makes it, for the subscription `name`.
    pub fn statement(&self, name: &str) -> String {
        match self {
            Change::Create {
                target,
                destination,
            } => format!(
                "CREATE SUBSCRIPTION {} ON {target} DESTINATIONS ANY {}",
                quote_ident(name),
                quote_string(destination)
            ),
            Change::Drop { target, .. } => {
                format!("DROP SUBSCRIPTION {} ON {target}", quote_ident(name))
            }
        }
    }
}

/// The changes that leave exactly one subscription called `name` on each
/// wanted target of `present` (the database/retention policies the
/// server has), sending to `destination(target)`, and none elsewhere. A
/// subscription of ours that sends elsewhere (the address changed) is
/// dropped and made again; subscriptions of other names are left alone.
pub fn plan(
    name: &str,
    present: &[Target],
    existing: &[Existing],
    filter: &Filter,
    destination: impl Fn(&Target) -> String,
) -> Vec<Change> {
    let mut changes = Vec::new();
    let mut kept: Vec<&Target> = Vec::new();
    for e in existing.iter().filter(|e| e.name == name) {
        if !present.contains(&e.target) || !filter.wants(&e.target) {
            changes.push(Change::Drop {
                target: e.target.clone(),
                reason: "no longer wanted",
            });
        } else if !e.mode.eq_ignore_ascii_case("ANY") || e.destinations != [destination(&e.target)]
        {
            changes.push(Change::Drop {
                target: e.target.clone(),
                reason: "stale: it sends elsewhere",
            });
        } else {
            kept.push(&e.target);
        }
    }
    for t in present {
        if filter.wants(t) && !kept.contains(&t) {
            changes.push(Change::Create {
                target: t.clone(),
                destination: destination(t),
            });
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(db: &str, rp: &str) -> Target {
        Target::new(db, rp)
    }

    fn ours(db: &str, rp: &str, dest: &str) -> Existing {
        Existing {
            target: t(db, rp),
            name: "kapacitor-1".into(),
            mode: "ANY".into(),
            destinations: vec![dest.into()],
        }
    }

    const URL: &str = "http://127.0.0.1:9092";

    /// The changes for `kapacitor-1`, every target sending to [`URL`].
    fn changes(present: &[Target], existing: &[Existing], filter: &Filter) -> Vec<Change> {
        plan("kapacitor-1", present, existing, filter, |_| URL.into())
    }

    fn create(db: &str, rp: &str) -> Change {
        Change::Create {
            target: t(db, rp),
            destination: URL.into(),
        }
    }

    fn drop(db: &str, rp: &str, reason: &'static str) -> Change {
        Change::Drop {
            target: t(db, rp),
            reason,
        }
    }

    #[test]
    fn every_target_gets_one_and_ours_that_point_elsewhere_are_made_again() {
        let present = [t("a", "autogen"), t("a", "week"), t("b", "autogen")];
        let mut other = ours("a", "autogen", "http://elsewhere:9092");
        other.name = "kapacitor-2".into();
        let existing = [
            ours("a", "autogen", URL),
            ours("a", "week", "http://127.0.0.1:1"),
            other,
        ];
        assert_eq!(
            changes(&present, &existing, &Filter::default()),
            vec![
                drop("a", "week", "stale: it sends elsewhere"),
                create("a", "week"),
                create("b", "autogen"),
            ]
        );
        // Once made, nothing more to do.
        let existing = [
            ours("a", "autogen", URL),
            ours("a", "week", URL),
            ours("b", "autogen", URL),
        ];
        assert_eq!(changes(&present, &existing, &Filter::default()), vec![]);
    }

    #[test]
    fn include_and_exclude_choose_the_targets_and_unwanted_ones_of_ours_go() {
        let filter = Filter {
            include: vec![("a".into(), vec![]), ("b".into(), vec!["autogen".into()])],
            exclude: vec![("a".into(), vec!["week".into()])],
        };
        assert!(filter.wants(&t("a", "autogen")));
        assert!(!filter.wants(&t("a", "week")));
        assert!(filter.wants(&t("b", "autogen")));
        assert!(!filter.wants(&t("b", "month")));
        assert!(!filter.wants(&t("c", "autogen")));
        assert!(filter.may_want_db("a") && filter.may_want_db("b") && !filter.may_want_db("c"));
        let all_of_c = Filter {
            exclude: vec![("c".into(), vec![])],
            ..Filter::default()
        };
        assert!(!all_of_c.may_want_db("c") && all_of_c.may_want_db("d"));
        let present = [t("a", "autogen"), t("a", "week"), t("c", "autogen")];
        assert_eq!(
            changes(&present, &[ours("a", "week", URL)], &filter),
            vec![
                drop("a", "week", "no longer wanted"),
                create("a", "autogen")
            ]
        );
    }

    #[test]
    fn statements_quote_names_and_the_destination() {
        let create = Change::Create {
            target: t("my \"db\"", "autogen"),
            destination: "http://h:9092/x'y".into(),
        };
        assert_eq!(
            create.statement("kapacitor-1"),
            r#"CREATE SUBSCRIPTION "kapacitor-1" ON "my \"db\""."autogen" DESTINATIONS ANY 'http://h:9092/x\'y'"#
        );
        let drop = Change::Drop {
            target: t("db", "rp"),
            reason: "",
        };
        assert_eq!(
            drop.statement("kapacitor-1"),
            r#"DROP SUBSCRIPTION "kapacitor-1" ON "db"."rp""#
        );
    }

    #[test]
    fn show_subscriptions_answers_are_read() {
        // As influxd 1.6 answers SHOW SUBSCRIPTIONS.
        let body = br#"{"results":[{"statement_id":0,"series":[
            {"name":"db","columns":["retention_policy","name","mode","destinations"],
             "values":[["autogen","kapacitor-1","ANY",["http://127.0.0.1:9092"]],
                       ["autogen","other","ALL",["udp://h:1","udp://h:2"]]]}]}]}"#;
        let series = crate::batch::client::parse_series(body).unwrap();
        assert_eq!(
            existing(&series),
            vec![
                ours("db", "autogen", URL),
                Existing {
                    target: t("db", "autogen"),
                    name: "other".into(),
                    mode: "ALL".into(),
                    destinations: vec!["udp://h:1".into(), "udp://h:2".into()],
                }
            ]
        );
        let dbs = br#"{"results":[{"statement_id":0,"series":[{"name":"databases","columns":["name"],"values":[["_internal"],["db"]]}]}]}"#;
        assert_eq!(
            names(&crate::batch::client::parse_series(dbs).unwrap()),
            ["_internal", "db"]
        );
    }
}
