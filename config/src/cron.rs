//! Cron schedules as a query node's `.cron()` and the YAML `cron` give
//! them, evaluated in UTC: 5 fields (minute hour day month weekday), 6
//! (seconds first) or 7 (year last); `*`, `?`, numbers, names, ranges,
//! lists and steps; `@yearly` … `@hourly` and `@every <duration>`.
//! When both the day of month and the day of week are restricted, either
//! matching is enough, as in cron.

use model::civil::{civil_from_days, days_from_civil};

const NS: i64 = 1_000_000_000;

#[derive(Clone, Debug, PartialEq)]
pub enum Cron {
    Fields(Box<Fields>),
    /// `@every 5m`: every so many ns, counted from the epoch.
    Every(i64),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Fields {
    second: u64,
    minute: u64,
    hour: u64,
    day: u64,
    month: u64,
    weekday: u64,
    day_any: bool,
    weekday_any: bool,
    /// Allowed years, or every year.
    years: Option<Vec<i64>>,
}

impl Cron {
    pub fn parse(text: &str) -> Result<Cron, String> {
        let t = text.trim();
        let expanded = match t {
            "@yearly" | "@annually" => "0 0 0 1 1 *",
            "@monthly" => "0 0 0 1 * *",
            "@weekly" => "0 0 0 * * 0",
            "@daily" | "@midnight" => "0 0 0 * * *",
            "@hourly" => "0 0 * * * *",
            d if d.starts_with("@every ") => {
                let every =
                    crate::task::parse_duration(&d[7..]).map_err(|e| format!("`{text}`: {e}"))?;
                let ns = i64::try_from(every.as_nanos()).unwrap_or(i64::MAX);
                if ns <= 0 {
                    return Err(format!("`{text}`: the interval must be positive"));
                }
                return Ok(Cron::Every(ns));
            }
            d if d.starts_with('@') => {
                return Err(format!(
                    "`{text}`: unknown descriptor; expected @yearly, @monthly, @weekly, @daily, \
                     @hourly or @every <duration>"
                ));
            }
            t => t,
        };
        let parts: Vec<&str> = expanded.split_whitespace().collect();
        let (sec, rest) = match parts.len() {
            5 => ("0", &parts[..]),
            6 | 7 => (parts[0], &parts[1..]),
            n => {
                return Err(format!(
                    "`{text}` has {n} fields; a cron expression has 5 (minute hour day month \
                     weekday), 6 (seconds first) or 7 (year last), e.g. '*/15 * * * *'"
                ));
            }
        };
        let field = |f: &str, name, lo, hi| {
            parse_field(f, name, lo, hi).map_err(|e| format!("`{text}`: {e}"))
        };
        let mut weekday = field(rest[4], "day of week", 0, 7)?;
        if weekday & (1 << 7) != 0 {
            weekday |= 1;
        }
        let years = match rest.get(5) {
            None => None,
            Some(y) if is_any(y) => None,
            Some(y) => {
                let mut out = Vec::new();
                for part in y.split(',') {
                    let (lo, hi, step) = range(part, "year", 1970, 2199)?;
                    out.extend((lo..=hi).step_by(step as usize).map(i64::from));
                }
                out.sort_unstable();
                Some(out)
            }
        };
        Ok(Cron::Fields(Box::new(Fields {
            second: field(sec, "second", 0, 59)?,
            minute: field(rest[0], "minute", 0, 59)?,
            hour: field(rest[1], "hour", 0, 23)?,
            day: field(rest[2], "day of month", 1, 31)?,
            month: field(rest[3], "month", 1, 12)?,
            weekday,
            day_any: is_any(rest[2]),
            weekday_any: is_any(rest[4]),
            years,
        })))
    }

    /// The first time of the schedule strictly after `after` (ns), or
    /// `None` when there is none (a past year).
    pub fn next_after(&self, after: i64) -> Option<i64> {
        let f = match self {
            Cron::Every(every) => {
                return Some((after.div_euclid(*every) + 1).saturating_mul(*every));
            }
            Cron::Fields(f) => f,
        };
        let mut s = after.div_euclid(NS) + 1;
        // Each step moves to the start of the next candidate unit; a few
        // hundred steps reach any time within the years a schedule allows.
        for _ in 0..100_000 {
            let days = s.div_euclid(86_400);
            let sod = s.rem_euclid(86_400);
            let (y, m, d) = civil_from_days(days);
            let (hh, mm, ss) = (sod / 3600, sod / 60 % 60, sod % 60);
            if let Some(years) = &f.years {
                match years.iter().find(|&&v| v >= y) {
                    None => return None,
                    Some(&v) if v > y => {
                        s = days_from_civil(v, 1, 1) * 86_400;
                        continue;
                    }
                    Some(_) => {}
                }
            }
            if !bit(f.month, m) {
                let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                s = days_from_civil(ny, nm, 1) * 86_400;
                continue;
            }
            let weekday = (days + 4).rem_euclid(7); // 1970-01-01 was a Thursday.
            let dom = bit(f.day, d);
            let dow = bit(f.weekday, weekday);
            let day_ok = match (f.day_any, f.weekday_any) {
                (true, true) => true,
                (true, false) => dow,
                (false, true) => dom,
                (false, false) => dom || dow,
            };
            if !day_ok {
                s = (days + 1) * 86_400;
                continue;
            }
            if !bit(f.hour, hh) {
                s = days * 86_400 + (hh + 1) * 3600;
                continue;
            }
            if !bit(f.minute, mm) {
                s = days * 86_400 + hh * 3600 + (mm + 1) * 60;
                continue;
            }
            if !bit(f.second, ss) {
                s += 1;
                continue;
            }
            return s.checked_mul(NS);
        }
        None
    }
}

fn bit(set: u64, v: i64) -> bool {
    (0..64).contains(&v) && set & (1 << v) != 0
}

fn is_any(f: &str) -> bool {
    f == "*" || f == "?"
}

fn parse_field(field: &str, name: &str, lo: u32, hi: u32) -> Result<u64, String> {
    let mut set = 0u64;
    for part in field.split(',') {
        let (a, b, step) = range(part, name, lo, hi)?;
        for v in (a..=b).step_by(step as usize) {
            set |= 1 << v;
        }
    }
    Ok(set)
}

/// `*`, `a`, `a-b`, each with an optional `/step`: (first, last, step).
fn range(part: &str, name: &str, lo: u32, hi: u32) -> Result<(u32, u32, u32), String> {
    const MONTHS: [&str; 12] = [
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ];
    const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
    let bad = || format!("bad {name} field `{part}` (allowed {lo}-{hi})");
    // Weekday names (`WED`) are not the `W` of "nearest weekday".
    let without_names = DAYS
        .iter()
        .fold(part.to_ascii_uppercase(), |p, d| p.replace(d, ""));
    if without_names.contains(['L', 'W', '#']) && name.starts_with("day") {
        return Err(format!(
            "`{part}`: L, W and # in the {name} field are not supported"
        ));
    }
    let value = |v: &str| -> Result<u32, String> {
        let upper = v.to_ascii_uppercase();
        if name == "month"
            && let Some(i) = MONTHS.iter().position(|m| *m == upper)
        {
            return Ok(i as u32 + 1);
        }
        if name == "day of week"
            && let Some(i) = DAYS.iter().position(|d| *d == upper)
        {
            return Ok(i as u32);
        }
        match v.parse::<u32>() {
            Ok(n) if (lo..=hi).contains(&n) => Ok(n),
            _ => Err(bad()),
        }
    };
    let (r, step) = match part.split_once('/') {
        Some((r, s)) => match s.parse::<u32>() {
            Ok(n) if n > 0 => (r, n),
            _ => return Err(bad()),
        },
        None => (part, 1),
    };
    let (a, b) = match r {
        "*" | "?" => (lo, hi),
        r => match r.split_once('-') {
            Some((a, b)) => (value(a)?, value(b)?),
            None if step > 1 => (value(r)?, hi),
            None => {
                let v = value(r)?;
                (v, v)
            }
        },
    };
    if a > b {
        return Err(bad());
    }
    Ok((a, b, step))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> i64 {
        pipeline::time::parse_rfc3339(text).unwrap()
    }

    fn next(cron: &str, after: &str) -> String {
        let c = Cron::parse(cron).unwrap();
        pipeline::time::format_rfc3339(c.next_after(at(after)).unwrap())
    }

    #[test]
    fn schedules_with_and_without_seconds() {
        assert_eq!(
            next("*/1 * * * * *", "2024-01-01T00:00:00Z"),
            "2024-01-01T00:00:01Z"
        );
        assert_eq!(
            next("*/15 * * * * *", "2024-01-01T00:00:00.5Z"),
            "2024-01-01T00:00:15Z"
        );
        assert_eq!(
            next("*/15 * * * *", "2024-01-01T00:00:00Z"),
            "2024-01-01T00:15:00Z"
        );
        assert_eq!(
            next("0 9 * * MON-FRI", "2024-01-05T10:00:00Z"),
            "2024-01-08T09:00:00Z"
        );
        assert_eq!(
            next("0 0 29 2 *", "2024-03-01T00:00:00Z"),
            "2028-02-29T00:00:00Z"
        );
        assert_eq!(
            next("@hourly", "2024-01-01T00:59:59Z"),
            "2024-01-01T01:00:00Z"
        );
        assert_eq!(
            next("@every 10s", "2024-01-01T00:00:05Z"),
            "2024-01-01T00:00:10Z"
        );
        assert_eq!(
            next("0 0 0 1 1 * 2030", "2024-01-01T00:00:00Z"),
            "2030-01-01T00:00:00Z"
        );
        // Day of month or day of week when both are given; 7 is Sunday.
        assert_eq!(
            next("0 0 13 * 7", "2024-01-01T00:00:00Z"),
            "2024-01-07T00:00:00Z"
        );
        assert_eq!(
            Cron::parse("0 0 0 1 1 * 2020")
                .unwrap()
                .next_after(at("2024-01-01T00:00:00Z")),
            None
        );
    }

    #[test]
    fn weekday_names_are_not_the_w_of_nearest_weekday() {
        assert_eq!(
            next("0 0 12 ? * WED *", "2024-01-01T00:00:00Z"),
            "2024-01-03T12:00:00Z"
        );
        assert!(
            Cron::parse("0 0 0 15W * *")
                .unwrap_err()
                .contains("not supported")
        );
    }

    #[test]
    fn bad_schedules_say_why() {
        assert!(Cron::parse("* * *").unwrap_err().contains("has 3 fields"));
        assert!(
            Cron::parse("61 * * * *")
                .unwrap_err()
                .contains("bad minute field")
        );
        assert!(
            Cron::parse("0 0 L * *")
                .unwrap_err()
                .contains("not supported")
        );
        assert!(
            Cron::parse("@fortnightly")
                .unwrap_err()
                .contains("unknown descriptor")
        );
    }
}
