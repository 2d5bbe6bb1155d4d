use super::*;

const NOW: i64 = 1_700_000_000_123_456_789;

fn opts() -> DecodeOptions {
    DecodeOptions {
        precision: Precision::Nanosecond,
        now_ns: NOW,
        accept_unsigned: false,
    }
}

fn run_with(input: &str, o: &DecodeOptions) -> (Vec<Point>, Vec<String>) {
    let mut d = Decoder::new();
    let (mut points, mut errors) = (Vec::new(), Vec::new());
    d.decode(input.as_bytes(), o, &mut points, &mut errors);
    (
        points,
        errors
            .iter()
            .map(|e| format!("line {}: {e}", e.line))
            .collect(),
    )
}

fn ok(input: &str) -> Point {
    let (p, e) = run_with(input, &opts());
    assert!(e.is_empty(), "{input:?}: {e:?}");
    assert_eq!(p.len(), 1, "{input:?}");
    p.into_iter().next().expect("one point")
}

fn err(input: &str) -> String {
    let (p, e) = run_with(input, &opts());
    assert!(p.is_empty(), "{input:?} decoded to {p:?}");
    assert_eq!(e.len(), 1, "{input:?}: {e:?}");
    e[0].rsplit_once("': ")
        .map(|(_, r)| r.to_string())
        .unwrap_or_default()
}

#[test]
fn precision_parse_and_nanos() {
    assert_eq!(Precision::parse(""), Some(Precision::Nanosecond));
    assert_eq!(Precision::parse("ns"), Some(Precision::Nanosecond));
    assert_eq!(Precision::parse("µ"), Some(Precision::Microsecond));
    assert_eq!(Precision::parse("us"), Some(Precision::Microsecond));
    assert_eq!(Precision::parse("m"), Some(Precision::Minute));
    assert_eq!(Precision::parse("x"), None);
    assert_eq!(Precision::Hour.nanos(), 3_600_000_000_000);
    assert_eq!(Precision::Second.truncate(1_500_000_000), 1_000_000_000);
    assert_eq!(Precision::Second.truncate(-1), -1_000_000_000);
}

#[test]
fn a_telegraf_line() {
    let p = ok("cpu,host=h1,cpu=cpu0 usage_idle=99.5,n=3i,up=true,s=\"x\" 1700000000000000000\n");
    assert_eq!(
        p.to_string(),
        "cpu,cpu=cpu0,host=h1 usage_idle=99.5,n=3i,up=true,s=\"x\" 1700000000000000000"
    );
}

#[test]
fn cached_series_and_keys_are_shared() {
    let mut d = Decoder::new();
    let (mut p, mut e) = (Vec::new(), Vec::new());
    d.decode(
        b"cpu,host=a v=1,w=2 1\ncpu,host=a v=3,w=4 2\ncpu,host=a w=3 3\n",
        &opts(),
        &mut p,
        &mut e,
    );
    assert!(e.is_empty());
    assert!(Arc::ptr_eq(&p[0].series, &p[1].series));
    assert!(Arc::ptr_eq(p[0].fields.keys(), p[1].fields.keys()));
    assert_eq!(p[2].fields.keys().len(), 1);
    assert_eq!(p[1].fields.get("w"), Some(&FieldValue::Float(4.0)));
    // A later body reuses the cache but still validates everything after the key.
    d.decode(b"cpu,host=a v=x 1\n", &opts(), &mut p, &mut e);
    assert_eq!(e[0].reason, "invalid boolean");
}

#[test]
fn missing_time_is_now_truncated() {
    let o = DecodeOptions {
        precision: Precision::Second,
        ..opts()
    };
    let (p, _) = run_with("m f=1", &o);
    assert_eq!(p[0].time, 1_700_000_000_000_000_000);
    let (p, _) = run_with("m f=1 2", &o);
    assert_eq!(p[0].time, 2_000_000_000);
    assert_eq!(ok("m f=1").time, NOW);
}

#[test]
fn structure_errors_read_like_influxdb() {
    assert_eq!(err(",t=1 f=1"), "missing measurement");
    assert_eq!(err("m,t=1"), "missing fields");
    assert_eq!(err("m"), "missing fields");
    assert_eq!(err("m,t=1, f=1"), "missing tag key");
    assert_eq!(err("m,t= f=1"), "missing tag value");
    assert_eq!(err("m,a,b=c f=1"), "missing tag value");
    assert_eq!(err("m,a=b=c f=1"), "invalid tag format");
    assert_eq!(err("m,t=1,t=2 f=1"), "duplicate tags");
    assert_eq!(err("m,z=1,a=2,z=3 f=1"), "duplicate tags");
    assert_eq!(err("m =1"), "missing field key");
    assert_eq!(err("m f=1,=2"), "missing field key");
    assert_eq!(err("m f="), "missing field value");
    assert_eq!(err("m f= 1"), "missing field value");
    assert_eq!(err("m f"), "invalid field format");
    assert_eq!(err("m f=1,"), "invalid field format");
    assert_eq!(err("m f=1,g"), "invalid field format");
    assert_eq!(err("m "), "invalid field format");
    assert_eq!(err("m\tf=1 1"), "invalid field format");
    assert_eq!(err("m f=\"abc"), "unbalanced quotes");
    assert_eq!(err("m f=abc"), "invalid boolean");
    assert_eq!(err("m f=1 x"), "bad timestamp");
    assert_eq!(err("m f=1 1.5"), "bad timestamp");
    assert_eq!(err("m f=1 1 x"), "point is invalid");
    assert_eq!(
        err("m f=1 -"),
        "strconv.ParseInt: parsing \"-\": invalid syntax"
    );
}

#[test]
fn time_range_and_overflow() {
    assert_eq!(ok("m f=1 9223372036854775806").time, MAX_NANO);
    assert_eq!(ok("m f=1 -9223372036854775806").time, MIN_NANO);
    let outside = "time outside range -9223372036854775806 - 9223372036854775806";
    assert_eq!(err("m f=1 9223372036854775807"), outside);
    assert_eq!(err("m f=1 -9223372036854775807"), outside);
    assert_eq!(
        err("m f=1 9223372036854775808"),
        "strconv.ParseInt: parsing \"9223372036854775808\": value out of range"
    );
    let o = DecodeOptions {
        precision: Precision::Second,
        ..opts()
    };
    let (_, e) = run_with("m f=1 9223372036854", &o);
    assert!(e[0].ends_with(outside), "{e:?}");
    let (p, _) = run_with("m f=1 9223372036", &o);
    assert_eq!(p[0].time, 9_223_372_036_000_000_000);
}

#[test]
fn max_key_length() {
    let long = "k".repeat(MAX_KEY_LEN);
    assert_eq!(
        err(&format!("{long}x f=1")),
        "max key length exceeded: 65536 > 65535"
    );
    let m = "k".repeat(MAX_KEY_LEN - 5);
    assert_eq!(
        err(&format!("{m} ff=1")),
        "max key length exceeded: 65536 > 65535"
    );
    ok(&format!("{m} f=1"));
}

#[test]
fn bad_lines_do_not_cost_good_ones() {
    let input = b"a f=1 1\n\xff\xfe f=2\nb f=2 2\ngarbage\nc f=3 3";
    let mut d = Decoder::new();
    let (mut p, mut e) = (Vec::new(), Vec::new());
    d.decode(input, &opts(), &mut p, &mut e);
    assert_eq!(p.len(), 3);
    assert_eq!(e.len(), 2);
    assert_eq!(e[0].line, 2);
    assert_eq!(e[0].reason, "invalid UTF-8");
    assert_eq!(
        e[1].to_string(),
        "unable to parse 'garbage': missing fields"
    );
    assert_eq!(e[1].line, 4);
}

#[test]
fn line_numbers_count_embedded_newlines() {
    let (p, e) = run_with("m s=\"a\nb\" 1\n\nbad\n", &opts());
    assert_eq!(p.len(), 1);
    assert_eq!(
        e,
        vec!["line 4: unable to parse 'bad': missing fields".to_string()]
    );
}

#[test]
fn error_text_is_bounded() {
    let long = format!("m f={}", "x".repeat(5000));
    let (_, _) = run_with(&long, &opts());
    let mut d = Decoder::new();
    let (mut p, mut e) = (Vec::new(), Vec::new());
    d.decode(long.as_bytes(), &opts(), &mut p, &mut e);
    assert_eq!(e[0].text.len(), MAX_ERROR_TEXT);
    let multi = format!("m f={}", "é".repeat(1000));
    e.clear();
    d.decode(multi.as_bytes(), &opts(), &mut p, &mut e);
    assert!(e[0].text.len() <= MAX_ERROR_TEXT && !e[0].text.ends_with('\u{fffd}'));
}

#[test]
fn unsigned_is_an_option() {
    assert_eq!(err("m u=42u"), "invalid number");
    let o = DecodeOptions {
        accept_unsigned: true,
        ..opts()
    };
    let (p, _) = run_with("m u=18446744073709551615u", &o);
    assert_eq!(p[0].fields.get("u"), Some(&FieldValue::Unsigned(u64::MAX)));
    let (_, e) = run_with("m u=18446744073709551616u\nm u=-1u", &o);
    assert!(e[0].ends_with("unable to parse unsigned 18446744073709551616: strconv.ParseUint: parsing \"18446744073709551616\": value out of range"), "{e:?}");
    assert!(e[1].ends_with("invalid number"));
}

#[test]
fn escaped_keys_are_not_cached_but_still_share_field_keys() {
    let mut d = Decoder::new();
    let (mut p, mut e) = (Vec::new(), Vec::new());
    d.decode(
        b"m,t=a\\ b f=1 1\nm,t=a\\ b f=2 2\n",
        &opts(),
        &mut p,
        &mut e,
    );
    assert!(e.is_empty());
    assert_eq!(&**p[0].series.tag("t").expect("tag"), "a b");
    assert!(Arc::ptr_eq(p[0].fields.keys(), p[1].fields.keys()));
}

#[test]
fn duplicate_fields_keep_last_in_first_place() {
    let p = ok("m a=1,b=2,a=3 1");
    assert_eq!(p.to_string(), "m a=3,b=2 1");
    // And the deduplicated list is not mistaken for the raw one next time.
    let (p, _) = run_with("m a=1,b=2,a=3 1\nm a=1,b=2,a=4 2", &opts());
    assert_eq!(p[1].fields.get("a"), Some(&FieldValue::Float(4.0)));
}

#[test]
fn limits_make_lines_parse_errors_that_name_them() {
    let mut d = Decoder::new();
    d.limits = LineLimits {
        max_line_length: 40,
        max_fields: 3,
        max_tags: 2,
        max_errors: 100,
        max_future_ns: 0,
    };
    let input = format!(
        "m,a=1,b=2 f=1\nm,a=1,b=2,c=3 f=1\nm f=1,g=2,h=3,i=4\nm f=\"{}\"\nm f=1,g=2,h=3\n",
        "x".repeat(50)
    );
    let (mut points, mut errors) = (Vec::new(), Vec::new());
    let bad = d.decode(input.as_bytes(), &opts(), &mut points, &mut errors);
    assert_eq!((points.len(), bad), (2, 3));
    assert!(
        errors[0]
            .reason
            .contains("too many tags: 3 > 2 (ingest.max_tags)")
    );
    assert!(
        errors[1]
            .reason
            .contains("too many fields: 4 > 3 (ingest.max_fields)")
    );
    assert!(
        errors[2]
            .reason
            .contains("line too long: 56 bytes > 40 (ingest.max_line_length)")
    );
}

#[test]
fn only_max_errors_are_kept_but_every_bad_line_is_counted() {
    let mut d = Decoder::new();
    d.limits.max_errors = 5;
    let input = "a\n".repeat(100_000);
    let (mut points, mut errors) = (Vec::new(), Vec::new());
    let bad = d.decode(input.as_bytes(), &opts(), &mut points, &mut errors);
    assert_eq!((errors.len(), bad), (5, 100_000));
    assert_eq!(errors[4].line, 5);
}

#[test]
fn many_distinct_fields_dedup_in_linear_time_and_keep_the_last() {
    let mut fields: Vec<String> = (0..50_000).map(|i| format!("f{i}={i}")).collect();
    fields.push("f7=1.5".to_string());
    let line = format!("m {} 1", fields.join(","));
    let mut d = Decoder::new();
    d.limits.max_fields = 100_000;
    let started = std::time::Instant::now();
    let (mut points, mut errors) = (Vec::new(), Vec::new());
    d.decode(line.as_bytes(), &opts(), &mut points, &mut errors);
    // Quadratic took seconds even in release; linear takes milliseconds.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(points[0].fields.len(), 50_000);
    assert_eq!(points[0].fields.get("f7"), Some(&FieldValue::Float(1.5)));
}

#[test]
fn points_too_far_in_the_future_are_errors_naming_the_key_and_neighbours_kept() {
    let mut d = Decoder::new();
    let hour = 3_600_000_000_000i64;
    d.limits.max_future_ns = hour;
    let o = DecodeOptions {
        now_ns: 1_000 * hour,
        ..opts()
    };
    let now = o.now_ns;
    // The same series twice: once decoded fresh, once from the cache.
    let input = format!(
        "cpu v=1 {}\ncpu v=2 {}\ncpu v=3 {}\ncpu v=4 9223372036854775806\nmem v=5\n",
        now + hour,
        now + hour + 1,
        now - 100 * hour,
    );
    let (mut points, mut errors) = (Vec::new(), Vec::new());
    let bad = d.decode(input.as_bytes(), &o, &mut points, &mut errors);
    assert_eq!(bad, 2, "{errors:?}");
    assert_eq!(points.len(), 3);
    assert_eq!((errors[0].line, errors[1].line), (2, 4));
    assert!(
        errors[0]
            .reason
            .contains("is 3600s ahead of the clock, more than 3600s (ingest.max_future)"),
        "{}",
        errors[0].reason
    );
    // 0 turns it off.
    d.limits.max_future_ns = 0;
    let (mut points, mut errors) = (Vec::new(), Vec::new());
    assert_eq!(d.decode(input.as_bytes(), &o, &mut points, &mut errors), 0);
}
