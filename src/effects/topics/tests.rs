//! The topics service without a daemon: recording, matching, handler
//! kinds, persistence.

use std::sync::Arc;
use std::time::{Duration, Instant};

use pipeline::nodes::alert::{AlertEvent, EventData, Level};
use pipeline::{FieldValue, Fields, GroupKey, Name, Point, Series, Tags};

use super::*;

fn event(id: &str, host: &str, level: Level, secs: i64) -> AlertEvent {
    let tags: Tags = Tags::from([(Name::from("host"), Name::from(host))]);
    let fields = Fields::from_pairs([(Name::from("value"), FieldValue::Float(1.0))]);
    let point = Point {
        series: Arc::new(Series::new(Name::from("cpu"), tags.to_vec()).expect("series")),
        fields: fields.clone(),
        time: secs * 1_000_000_000,
    };
    AlertEvent {
        id: id.to_owned(),
        message: format!("{id} is {level}"),
        details: String::new(),
        time: secs * 1_000_000_000,
        duration: 0,
        level,
        previous_level: Level::Ok,
        recoverable: true,
        data: EventData::Point(point),
        name: Name::from("cpu"),
        task_name: "t".into(),
        group: GroupKey::nil().to_string(),
        tags,
        fields,
        inhibited: false,
    }
}

fn spec(
    topic: &str,
    id: &str,
    kind: &str,
    m: &str,
    options: serde_json::Value,
) -> TopicHandlerSpec {
    TopicHandlerSpec {
        id: id.into(),
        topic: topic.into(),
        kind: kind.into(),
        match_expr: m.into(),
        options: options.as_object().cloned().unwrap_or_default(),
    }
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_topic_keeps_the_latest_event_per_id_its_history_and_its_level() {
    let topics = Topics::in_memory(TopicSettings {
        history: 2,
        ..TopicSettings::default()
    });
    topics.collect("cpu", &event("a", "h1", Level::Warning, 1));
    topics.collect("cpu", &event("a", "h1", Level::Critical, 2));
    topics.collect("cpu", &event("a", "h1", Level::Critical, 3));
    topics.collect("cpu", &event("a", "h1", Level::Ok, 4));
    topics.collect("cpu", &event("b", "h2", Level::Info, 5));
    let t = topics.get("cpu").unwrap();
    assert_eq!((t.level, t.collected, t.events), (Level::Info, 5, 2));
    let a = topics.event("cpu", "a").unwrap();
    assert_eq!(a.state.level, Level::Ok);
    // Runs of a level: WARNING from 1, CRITICAL from 2 (its last message).
    let past: Vec<(i64, Level)> = a
        .history
        .iter()
        .map(|h| (h.time / 1_000_000_000, h.level))
        .collect();
    assert_eq!(past, [(1, Level::Warning), (2, Level::Critical)]);
    let crit = topics.events("cpu", Level::Info).unwrap();
    assert_eq!(crit.len(), 1);
    let pattern = |p: &str| model::IdPattern::new(p).unwrap();
    assert_eq!(topics.list(Some(&pattern("c*")), Level::Ok).len(), 1);
    assert!(topics.list(Some(&pattern("c*")), Level::Warning).is_empty());
    assert!(topics.list(Some(&pattern("x*")), Level::Ok).is_empty());
    assert_eq!(topics.list(None, Level::Ok).len(), 1);
    assert!(topics.delete_topic("cpu"));
    assert!(topics.get("cpu").is_none());
}

#[test]
fn a_topic_forgets_its_oldest_ok_events_past_its_bound() {
    let topics = Topics::in_memory(TopicSettings {
        max_events: 100,
        ..TopicSettings::default()
    });
    topics.collect("t", &event("standing", "h", Level::Critical, 0));
    for i in 1..=150 {
        topics.collect("t", &event(&format!("e{i}"), "h", Level::Ok, i));
    }
    let t = topics.get("t").unwrap();
    assert!(t.events <= 100, "{}", t.events);
    assert!(topics.event("t", "standing").is_some(), "not OK: kept");
    assert!(topics.event("t", "e1").is_none(), "oldest OK: gone");
    assert!(topics.event("t", "e150").is_some());
    assert_eq!(t.level, Level::Critical);
}

#[test]
fn handlers_get_what_their_match_lets_through_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("out.log");
    let topics = Topics::in_memory(TopicSettings::default());
    let opts = serde_json::json!({"path": log.display().to_string()});
    topics
        .create_handler(spec(
            "cpu",
            "web",
            "log",
            "changed() == TRUE AND level() >= WARNING AND \"host\" =~ /^web/",
            opts,
        ))
        .unwrap();
    let err = topics
        .create_handler(spec(
            "cpu",
            "web",
            "log",
            "",
            serde_json::json!({"path": "/x"}),
        ))
        .unwrap_err();
    assert!(matches!(err, TopicError::Exists { .. }), "{err}");
    topics.collect("cpu", &event("a", "web1", Level::Critical, 1));
    topics.collect("cpu", &event("a", "web1", Level::Critical, 2)); // not changed
    topics.collect("cpu", &event("b", "db1", Level::Critical, 3)); // not web
    topics.collect("cpu", &event("a", "web1", Level::Ok, 4)); // OK
    topics.collect("cpu", &event("c", "web2", Level::Warning, 5));
    wait_for("two lines", || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.lines().count() == 2)
    });
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["id"], "a");
    assert_eq!(lines[0]["previousLevel"], "OK");
    assert_eq!(lines[1]["id"], "c");
    let h = topics.handler("cpu", "web").unwrap();
    assert_eq!(
        (h.stats.matched, h.stats.unmatched, h.stats.sent),
        (2, 3, 2)
    );
    assert!(h.stats.delay_ms_p99.is_some());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&log).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}

#[test]
fn bad_handlers_are_refused_with_the_reason() {
    let topics = Topics::in_memory(TopicSettings::default());
    let refuse = |s: TopicHandlerSpec| topics.create_handler(s).unwrap_err().to_string();
    let e = refuse(spec(
        "cpu",
        "h",
        "log",
        "level() >= WARNIN",
        serde_json::json!({"path": "/tmp/x"}),
    ));
    assert!(
        e.starts_with("match:1:12: unknown variable `WARNIN`"),
        "{e}"
    );
    let e = refuse(spec(
        "cpu",
        "h",
        "log",
        "",
        serde_json::json!({"path": "rel.log"}),
    ));
    assert!(e.contains("must be absolute"), "{e}");
    let e = refuse(spec(
        "cpu",
        "h",
        "log",
        "",
        serde_json::json!({"path": "/a", "mode": 0o444}),
    ));
    assert!(e.contains("user writable"), "{e}");
    let e = refuse(spec(
        "cpu",
        "h",
        "post",
        "",
        serde_json::json!({"uri": "http://x"}),
    ));
    assert!(e.contains("unknown option \"uri\""), "{e}");
    let e = refuse(spec("cpu", "h", "nope", "", serde_json::json!({})));
    assert!(e.contains("unsupported handler kind"), "{e}");
    let e = refuse(spec(
        "cpu",
        "h",
        "publish",
        "",
        serde_json::json!({"topics": []}),
    ));
    assert!(e.contains("at least one topic"), "{e}");
    let e = refuse(spec(
        "cpu",
        "h",
        "aggregate",
        "",
        serde_json::json!({"interval": "1m"}),
    ));
    assert!(e.contains("\"topic\""), "{e}");
    let e = refuse(spec(
        "c/d",
        "h",
        "publish",
        "",
        serde_json::json!({"topics": ["x"]}),
    ));
    assert!(e.contains("handler topic must contain"), "{e}");
    // A kind of Kapacitor's catalogue this build lacks is accepted, its
    // events failing.
    let h = topics
        .create_handler(spec(
            "cpu",
            "s",
            "slack",
            "",
            serde_json::json!({"channel": "#a"}),
        ))
        .unwrap();
    assert!(h.error.unwrap().contains("not available"));
    topics.collect("cpu", &event("a", "h", Level::Critical, 1));
    assert_eq!(topics.handler("cpu", "s").unwrap().stats.failed, 1);
}

#[test]
fn publish_hands_events_on_and_aggregate_sums_them_up() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("sys.log");
    let topics = Topics::in_memory(TopicSettings::default());
    topics
        .create_handler(spec(
            "cpu",
            "pub",
            "publish",
            "",
            serde_json::json!({"topics": ["system"]}),
        ))
        .unwrap();
    topics
        .create_handler(spec(
            "cpu",
            "agg",
            "aggregate",
            "",
            serde_json::json!({"interval": 200_000_000, "topic": "summary",
                "message": "{{.Count}} in {{.Interval}}"}),
        ))
        .unwrap();
    topics
        .create_handler(spec(
            "system",
            "log",
            "log",
            "",
            serde_json::json!({"path": log.display().to_string()}),
        ))
        .unwrap();
    topics.collect("cpu", &event("a", "h", Level::Warning, 1));
    topics.collect("cpu", &event("b", "h", Level::Critical, 2));
    wait_for("republished", || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.lines().count() == 2)
    });
    wait_for("a summary", || topics.event("summary", "agg").is_some());
    let s = topics.event("summary", "agg").unwrap();
    assert_eq!(s.state.message, "2 in 200ms");
    assert_eq!(s.state.level, Level::Critical);
    assert_eq!(s.state.details, "a is WARNING\nb is CRITICAL");
    assert_eq!(topics.get("system").unwrap().collected, 2);
}

#[test]
fn a_publish_loop_ends() {
    let topics = Topics::in_memory(TopicSettings::default());
    topics
        .create_handler(spec(
            "a",
            "p",
            "publish",
            "",
            serde_json::json!({"topics": ["b"]}),
        ))
        .unwrap();
    topics
        .create_handler(spec(
            "b",
            "p",
            "publish",
            "",
            serde_json::json!({"topics": ["a"]}),
        ))
        .unwrap();
    topics.collect("a", &event("x", "h", Level::Critical, 1));
    wait_for("the loop to end", || {
        topics.handler("a", "p").unwrap().stats.failed
            + topics.handler("b", "p").unwrap().stats.failed
            == 1
    });
    let total = topics.get("a").unwrap().collected + topics.get("b").unwrap().collected;
    assert_eq!(total, u64::from(publish::MAX_HOPS) + 1);
}

#[test]
fn inhibited_events_are_recorded_not_handled() {
    let topics = Topics::in_memory(TopicSettings::default());
    topics
        .create_handler(spec(
            "cpu",
            "p",
            "publish",
            "",
            serde_json::json!({"topics": ["out"]}),
        ))
        .unwrap();
    let mut e = event("a", "h", Level::Critical, 1);
    e.inhibited = true;
    topics.collect("cpu", &e);
    let got = topics.event("cpu", "a").unwrap();
    assert!(got.state.inhibited);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(topics.handler("cpu", "p").unwrap().stats.matched, 0);
    assert!(topics.get("out").is_none());
}

#[test]
fn events_and_handlers_come_back_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(storage::Store::open(dir.path()).unwrap());
    let topics = Topics::with_store(TopicSettings::default(), store.clone());
    topics
        .create_handler(spec(
            "cpu",
            "p",
            "publish",
            "level() > OK",
            serde_json::json!({"topics": ["x"]}),
        ))
        .unwrap();
    topics.collect("cpu", &event("a", "h", Level::Warning, 1));
    topics.collect("cpu", &event("a", "h", Level::Critical, 2));
    topics.collect("cpu", &event("b", "h", Level::Ok, 3));
    // The writer commits within its interval, without a close.
    wait_for("a commit", || topics.store_counts().unwrap().saved >= 2);
    topics.collect("cpu", &event("c", "h", Level::Info, 4));
    topics.close(Instant::now() + Duration::from_secs(1));
    drop(topics);
    let again = Topics::with_store(TopicSettings::default(), store.clone());
    assert_eq!(again.restore().unwrap(), (5, 1));
    let a = again.event("cpu", "a").unwrap();
    assert_eq!(a.state.level, Level::Critical);
    assert_eq!(a.history.len(), 1);
    assert!(again.event("cpu", "c").is_some(), "committed at close");
    assert_eq!(again.handlers("cpu", None).len(), 1);
    assert_eq!(again.get("cpu").unwrap().level, Level::Critical);
    assert!(again.delete_topic("cpu"));
    again.close(Instant::now());
    let third = Topics::with_store(TopicSettings::default(), store);
    assert_eq!(
        third.restore().unwrap(),
        (2, 1),
        "x's events stay; cpu's are gone"
    );
    assert_eq!(third.get("cpu").unwrap().events, 0, "kept for its handler");
}
