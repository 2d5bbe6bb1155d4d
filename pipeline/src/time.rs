//! Time as kapacitord shows it: nanoseconds since the Unix epoch inside,
//! RFC 3339 outside, formatted as Go's `time.RFC3339Nano` does (trailing
//! zeros of the fraction dropped), so JSON output matches Kapacitor's.

const NANOS_PER_SEC: i64 = 1_000_000_000;
const SECS_PER_DAY: i64 = 86_400;

/// Formats `ns` as Go's RFC3339Nano in UTC: `2006-01-02T15:04:05.999999999Z`.
pub fn format_rfc3339(ns: i64) -> String {
    let secs = ns.div_euclid(NANOS_PER_SEC);
    let frac = ns.rem_euclid(NANOS_PER_SEC);
    let days = secs.div_euclid(SECS_PER_DAY);
    let sod = secs.rem_euclid(SECS_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    let mut out = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    );
    if frac != 0 {
        let digits = format!("{frac:09}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// Parses RFC 3339 (`Z` or a `±hh:mm` offset, any fraction up to 9 digits)
/// into nanoseconds since the epoch.
pub fn parse_rfc3339(s: &str) -> Result<i64, String> {
    let bad = || format!("invalid RFC 3339 time {s:?}");
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| -> Result<i64, String> {
        s.get(r)
            .filter(|t| t.bytes().all(|c| c.is_ascii_digit()))
            .and_then(|t| t.parse().ok())
            .ok_or_else(bad)
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if b[13] != b':' || b[16] != b':' {
        return Err(bad());
    }
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return Err(bad());
    }
    let mut i = 19;
    let mut frac: i64 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let digits = &s[start..i];
        if digits.is_empty() || digits.len() > 9 {
            return Err(bad());
        }
        frac = digits.parse::<i64>().map_err(|_| bad())? * 10i64.pow(9 - digits.len() as u32);
    }
    let offset_secs = match &s[i..] {
        "Z" | "z" => 0,
        rest if rest.len() == 6
            && (rest.starts_with('+') || rest.starts_with('-'))
            && &rest[3..4] == ":" =>
        {
            let oh: i64 = rest[1..3].parse().map_err(|_| bad())?;
            let om: i64 = rest[4..6].parse().map_err(|_| bad())?;
            let o = oh * 3600 + om * 60;
            if rest.starts_with('-') { -o } else { o }
        }
        _ => return Err(bad()),
    };
    let days = days_from_civil(y, mo, d);
    let secs = days * SECS_PER_DAY + h * 3600 + mi * 60 + sec - offset_secs;
    secs.checked_mul(NANOS_PER_SEC)
        .and_then(|n| n.checked_add(frac))
        .ok_or_else(bad)
}

pub use model::civil::{civil_from_days, days_from_civil};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_go_rfc3339nano() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            format_rfc3339(31_536_000 * NANOS_PER_SEC),
            "1971-01-01T00:00:00Z"
        );
        assert_eq!(
            format_rfc3339(1_700_000_000_500_000_000),
            "2023-11-14T22:13:20.5Z"
        );
        assert_eq!(
            format_rfc3339(1_446_225_252_000_000_001),
            "2015-10-30T17:14:12.000000001Z"
        );
        assert_eq!(format_rfc3339(-1), "1969-12-31T23:59:59.999999999Z");
        assert_eq!(
            format_rfc3339(951_782_400 * NANOS_PER_SEC),
            "2000-02-29T00:00:00Z"
        );
    }

    #[test]
    fn parses_what_it_formats_and_offsets() {
        for ns in [
            0,
            1,
            -1,
            1_700_000_000_500_000_000,
            951_782_400 * NANOS_PER_SEC,
            4_102_444_800 * NANOS_PER_SEC,
        ] {
            assert_eq!(parse_rfc3339(&format_rfc3339(ns)), Ok(ns));
        }
        assert_eq!(
            parse_rfc3339("2015-10-30T17:14:12Z"),
            Ok(1_446_225_252 * NANOS_PER_SEC)
        );
        assert_eq!(
            parse_rfc3339("1971-01-01T02:00:00+02:00"),
            Ok(31_536_000 * NANOS_PER_SEC)
        );
        assert_eq!(
            parse_rfc3339("1971-01-01T00:00:00.25Z"),
            Ok(31_536_000 * NANOS_PER_SEC + 250_000_000)
        );
        for bad in [
            "",
            "1971-01-01",
            "1971-13-01T00:00:00Z",
            "1971-01-01T00:00:00",
            "1971-01-01T00:00:00.Z",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad}");
        }
    }
}
