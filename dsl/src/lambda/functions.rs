//! The lambda functions (Kapacitor's `tick/stateful/functions.go`): what
//! each accepts, returns and says when it refuses its arguments.

use std::time::{SystemTime, UNIX_EPOCH};

use super::EvalError;
use super::eval::{Ctx, Val};
use super::math;

/// One stateful call site's memory.
#[derive(Debug, Clone)]
pub(super) enum Accumulator {
    /// Welford's running mean and sum of squared deviations.
    Sigma {
        n: f64,
        mean: f64,
        m2: f64,
    },
    Count(i64),
    Spread {
        min: f64,
        max: f64,
    },
    Rand(u64),
}

pub(super) fn is_stateful(func: &str) -> bool {
    matches!(func, "sigma" | "count" | "spread" | "rand")
}

/// Go's `%T` of a value, for the messages that print it.
fn go_type(v: &Val) -> &'static str {
    match v {
        Val::Bool(_) => "bool",
        Val::Int(_) => "int64",
        Val::Float(_) => "float64",
        Val::String(_) => "string",
        Val::Duration(_) => "time.Duration",
        Val::Time(_) => "time.Time",
        Val::Regex(_) => "*regexp.Regexp",
        Val::Missing(_) => "*ast.Missing",
    }
}

const MATH1: &str = "(float)";
const MATH2: &str = "(float,float)";
const MATH_IF: &str = "(int,float)";
const STR1: &str = "(string)";
const STR2: &str = "(string,string)";
const TIME: &str = "(time)";

fn signature(func: &str, args: &[Val], sigs: &'static str) -> EvalError {
    if let Some(Val::Missing(name)) = args.iter().find(|a| matches!(a, Val::Missing(_))) {
        return EvalError::Missing(name.clone());
    }
    let types: Vec<&str> = args.iter().map(Val::type_name).collect();
    EvalError::Signature(func.to_owned(), types.join(","), sigs)
}

fn call_err(func: &str, msg: impl Into<String>) -> EvalError {
    EvalError::Call(func.to_owned(), msg.into())
}

/// Calls `func` (the call site numbered `site`) on evaluated arguments.
pub(super) fn call(
    func: &str,
    site: usize,
    args: Vec<Val>,
    ctx: &mut Ctx<'_>,
) -> Result<Val, EvalError> {
    use Val as V;
    let f = func;
    // The scope's own functions first (a match expression's `level()`,
    // asked per event): none of them shadows a lambda function.
    if args.is_empty()
        && let Some(v) = ctx.scope.function(f)
    {
        return Ok(V::from_eval(v));
    }
    if is_stateful(f) {
        return stateful(f, site, &args, ctx);
    }
    if let Some(m) = math::math1(f) {
        return match args.as_slice() {
            [V::Float(x)] => Ok(V::Float(m(*x))),
            _ => Err(signature(f, &args, MATH1)),
        };
    }
    if let Some(m) = math::math2(f) {
        return match args.as_slice() {
            [V::Float(x), V::Float(y)] => Ok(V::Float(m(*x, *y))),
            _ => Err(signature(f, &args, MATH2)),
        };
    }
    Ok(match (f, args.as_slice()) {
        ("bool", [a]) => V::Bool(to_bool(a)?),
        ("int", [a]) => V::Int(to_int(a)?),
        ("float", [a]) => V::Float(to_float(a)?),
        ("string", [a]) => V::String(to_string(a)?),
        ("duration", [a, rest @ ..]) => V::Duration(to_duration(a, rest.first())?),
        ("pow10", [V::Int(n)]) => V::Float(math::pow10(*n)),
        ("pow10", _) => return Err(signature(f, &args, "(int)")),
        ("jn", [V::Int(n), V::Float(x)]) => V::Float(math::jn(*n, *x)),
        ("yn", [V::Int(n), V::Float(x)]) => V::Float(math::yn(*n, *x)),
        ("jn" | "yn", _) => return Err(signature(f, &args, MATH_IF)),
        // Strings.
        ("strLength", [V::String(s)]) => V::Int(s.len() as i64),
        ("strToLower", [V::String(s)]) => V::String(s.to_lowercase()),
        ("strToUpper", [V::String(s)]) => V::String(s.to_uppercase()),
        ("strTrimSpace", [V::String(s)]) => V::String(s.trim().to_owned()),
        ("strLength" | "strToLower" | "strToUpper" | "strTrimSpace", _) => {
            return Err(signature(f, &args, STR1));
        }
        (_, [V::String(s), V::String(t)]) if string2(f).is_some() => {
            string2(f).map_or(V::Bool(false), |g| g(s, t))
        }
        (
            "strContains" | "strContainsAny" | "strCount" | "strHasPrefix" | "strHasSuffix"
            | "strIndex" | "strIndexAny" | "strLastIndex" | "strLastIndexAny" | "strTrim"
            | "strTrimLeft" | "strTrimPrefix" | "strTrimRight" | "strTrimSuffix",
            _,
        ) => return Err(signature(f, &args, STR2)),
        ("strReplace", [V::String(s), V::String(old), V::String(new), V::Int(n)]) => {
            V::String(replace(s, old, new, *n))
        }
        ("strReplace", _) => return Err(signature(f, &args, "(string,string,string,int)")),
        ("strSubstring", [V::String(s), V::Int(start), V::Int(stop)]) => {
            V::String(substring(s, *start, *stop)?)
        }
        ("strSubstring", _) => return Err(signature(f, &args, "(string,int,int)")),
        ("regexReplace", [V::Regex(re), V::String(s), V::String(repl)]) => {
            V::String(re.replace_all(s, repl.as_str()).into_owned())
        }
        ("regexReplace", _) => return Err(signature(f, &args, "(regex,string,string)")),
        // Time.
        ("unixNano", [V::Time(t)]) => V::Int(*t),
        ("minute", [V::Time(t)]) => V::Int(t.rem_euclid(3_600_000_000_000) / 60_000_000_000),
        ("hour", [V::Time(t)]) => V::Int(t.rem_euclid(86_400_000_000_000) / 3_600_000_000_000),
        // 1970-01-01 was a Thursday; Sunday is 0.
        ("weekday", [V::Time(t)]) => V::Int((days(*t) + 4).rem_euclid(7)),
        ("day", [V::Time(t)]) => V::Int(civil(days(*t)).2),
        ("month", [V::Time(t)]) => V::Int(civil(days(*t)).1),
        ("year", [V::Time(t)]) => V::Int(civil(days(*t)).0),
        ("unixNano" | "minute" | "hour" | "weekday" | "day" | "month" | "year", _) => {
            return Err(signature(f, &args, TIME));
        }
        ("now", []) => V::Time(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)),
        ),
        // Misc.
        ("isPresent", [a]) => V::Bool(!matches!(a, V::Missing(_))),
        ("humanBytes", [V::Float(x)]) => V::String(human_bytes(go_f64_to_u64(*x))),
        ("humanBytes", [V::Int(i)]) => V::String(human_bytes(*i as u64)),
        ("humanBytes", _) => return Err(signature(f, &args, "(float), (int)")),
        ("if", [c, a, b]) => {
            let V::Bool(c) = c else {
                return Err(call_err(
                    f,
                    format!(
                        "first argument to if must be a condition with type of bool - got {}",
                        go_type(c)
                    ),
                ));
            };
            if go_type(a) != go_type(b) {
                return Err(call_err(
                    f,
                    format!(
                        "Different return types are not supported - second argument is {} and third argument is {}",
                        go_type(a),
                        go_type(b)
                    ),
                ));
            }
            if *c { a.clone() } else { b.clone() }
        }
        _ => return Err(EvalError::UnknownFunction(f.to_owned())),
    })
}

fn stateful(f: &str, site: usize, args: &[Val], ctx: &mut Ctx<'_>) -> Result<Val, EvalError> {
    if !ctx.state.stateful {
        return Err(EvalError::Unsupported(f.to_owned()));
    }
    let sites = &mut ctx.state.sites;
    Ok(match (f, args) {
        ("sigma", [Val::Float(x)]) => {
            let Accumulator::Sigma { n, mean, m2 } =
                sites.entry(site).or_insert(Accumulator::Sigma {
                    n: 0.0,
                    mean: 0.0,
                    m2: 0.0,
                })
            else {
                return Err(EvalError::Unexpected("state"));
            };
            // The current value counts before the distance is taken, and
            // the deviation is the sample one (n - 1), as Kapacitor does.
            *n += 1.0;
            let delta = x - *mean;
            *mean += delta / *n;
            *m2 += delta * (x - *mean);
            let variance = *m2 / (*n - 1.0);
            if *n < 2.0 || variance == 0.0 {
                Val::Float(0.0)
            } else {
                Val::Float((x - *mean).abs() / variance.sqrt())
            }
        }
        ("spread", [Val::Float(x)]) => {
            let Accumulator::Spread { min, max } =
                sites.entry(site).or_insert(Accumulator::Spread {
                    min: f64::INFINITY,
                    max: f64::NEG_INFINITY,
                })
            else {
                return Err(EvalError::Unexpected("state"));
            };
            if *x < *min {
                *min = *x;
            }
            if *x > *max {
                *max = *x;
            }
            Val::Float(*max - *min)
        }
        ("sigma" | "spread", _) => return Err(signature(f, args, MATH1)),
        ("count", []) => {
            let Accumulator::Count(n) = sites.entry(site).or_insert(Accumulator::Count(0)) else {
                return Err(EvalError::Unexpected("state"));
            };
            *n += 1;
            Val::Int(*n)
        }
        ("rand", []) => {
            let Accumulator::Rand(s) = sites
                .entry(site)
                .or_insert_with(|| Accumulator::Rand(seed(site)))
            else {
                return Err(EvalError::Unexpected("state"));
            };
            // xorshift64*: any non-negative int64, like Kapacitor's rand().
            *s ^= *s >> 12;
            *s ^= *s << 25;
            *s ^= *s >> 27;
            Val::Int((s.wrapping_mul(0x2545_f491_4f6c_dd1d) & (i64::MAX as u64)) as i64)
        }
        _ => return Err(signature(f, args, "()")),
    })
}

fn seed(site: usize) -> u64 {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    // Never zero: xorshift would stay at zero.
    (t ^ (site as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1
}

// ---- conversions ----

fn to_bool(a: &Val) -> Result<bool, EvalError> {
    match a {
        Val::Bool(b) => Ok(*b),
        // strconv.ParseBool.
        Val::String(s) => match s.as_str() {
            "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
            "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
            _ => Err(call_err(
                "bool",
                format!("strconv.ParseBool: parsing {s:?}: invalid syntax"),
            )),
        },
        Val::Int(0) => Ok(false),
        Val::Int(1) => Ok(true),
        Val::Float(f) if *f == 0.0 => Ok(false),
        Val::Float(f) if *f == 1.0 => Ok(true),
        Val::Int(i) => Err(call_err("bool", format!("cannot convert {i} to boolean"))),
        Val::Float(f) => Err(call_err(
            "bool",
            format!("cannot convert {} to boolean", go_float(*f)),
        )),
        other => Err(signature("bool", std::slice::from_ref(other), CONV)),
    }
}

const CONV: &str = "(bool), (string), (int), (float)";

fn to_int(a: &Val) -> Result<i64, EvalError> {
    match a {
        Val::Int(i) => Ok(*i),
        Val::Float(f) => Ok(go_f64_to_i64(*f)),
        Val::Bool(b) => Ok(i64::from(*b)),
        Val::Duration(d) => Ok(*d),
        Val::String(s) => s.parse::<i64>().map_err(|e| {
            let why = if matches!(
                e.kind(),
                std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow
            ) {
                "value out of range"
            } else {
                "invalid syntax"
            };
            call_err("int", format!("strconv.ParseInt: parsing {s:?}: {why}"))
        }),
        other => Err(signature("int", std::slice::from_ref(other), CONV)),
    }
}

fn to_float(a: &Val) -> Result<f64, EvalError> {
    match a {
        Val::Int(i) => Ok(*i as f64),
        Val::Float(f) => Ok(*f),
        Val::Bool(b) => Ok(if *b { 1.0 } else { 0.0 }),
        Val::String(s) => s.parse::<f64>().map_err(|_| {
            call_err(
                "float",
                format!("strconv.ParseFloat: parsing {s:?}: invalid syntax"),
            )
        }),
        other => Err(signature("float", std::slice::from_ref(other), CONV)),
    }
}

fn to_string(a: &Val) -> Result<String, EvalError> {
    Ok(match a {
        Val::Bool(b) => b.to_string(),
        Val::Int(i) => i.to_string(),
        Val::Float(f) => go_float(*f),
        Val::Duration(d) => format_duration(*d),
        Val::String(s) => s.clone(),
        other => {
            return Err(signature(
                "string",
                std::slice::from_ref(other),
                "(bool), (string), (int), (float), (duration)",
            ));
        }
    })
}

fn to_duration(a: &Val, unit: Option<&Val>) -> Result<i64, EvalError> {
    let unit = || match unit {
        Some(Val::Duration(u)) => Ok(*u),
        Some(other) => Err(call_err(
            "duration",
            format!("invalid duration unit type: {}", go_type(other)),
        )),
        None => Err(call_err(
            "duration",
            "duration expects unit argument for int and float values",
        )),
    };
    match a {
        Val::Duration(d) => Ok(*d),
        Val::Int(i) => Ok(i.wrapping_mul(unit()?)),
        Val::Float(f) => Ok(go_f64_to_i64(f * unit()? as f64)),
        Val::String(s) => parse_duration(s)
            .ok_or_else(|| call_err("duration", format!("invalid duration string {s:?}"))),
        other => Err(signature(
            "duration",
            std::slice::from_ref(other),
            "(duration), (int,duration), (float,duration), (string)",
        )),
    }
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)`: shortest digits, no exponent.
fn go_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f == f64::INFINITY {
        "+Inf".into()
    } else if f == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        f.to_string()
    }
}

/// Go's float-to-int64 conversion on amd64: out of range (and NaN) gives
/// the minimum int64.
fn go_f64_to_i64(f: f64) -> i64 {
    // 2⁶³ is exactly representable; every finite f below it and at or above
    // -2⁶³ converts.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if !(-LIMIT..LIMIT).contains(&f) {
        i64::MIN
    } else {
        f as i64
    }
}

fn go_f64_to_u64(f: f64) -> u64 {
    if f < 0.0 {
        go_f64_to_i64(f) as u64
    } else {
        f as u64
    }
}

/// InfluxQL's duration format: the largest unit that divides it exactly.
pub fn format_duration(d: i64) -> String {
    const UNITS: [(i64, &str); 7] = [
        (604_800_000_000_000, "w"),
        (86_400_000_000_000, "d"),
        (3_600_000_000_000, "h"),
        (60_000_000_000, "m"),
        (1_000_000_000, "s"),
        (1_000_000, "ms"),
        (1_000, "u"),
    ];
    if d == 0 {
        return "0s".into();
    }
    for (n, unit) in UNITS {
        if d % n == 0 {
            return format!("{}{unit}", d / n);
        }
    }
    format!("{d}ns")
}

/// InfluxQL's duration syntax: one or more `<int><unit>`, e.g. `1h30m`.
pub(super) fn parse_duration(s: &str) -> Option<i64> {
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    if rest.is_empty() {
        return None;
    }
    let mut total: i64 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let n: i64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let (unit, len) = [
            ("ns", 1),
            ("ms", 1_000_000),
            ("µ", 1_000),
            ("u", 1_000),
            ("s", 1_000_000_000),
            ("m", 60_000_000_000),
            ("h", 3_600_000_000_000),
            ("d", 86_400_000_000_000),
            ("w", 604_800_000_000_000),
        ]
        .into_iter()
        .find(|(u, _)| rest.starts_with(u))
        .map(|(u, m)| (m, u.len()))?;
        total = total.checked_add(n.checked_mul(unit)?)?;
        rest = &rest[len..];
    }
    Some(if neg { -total } else { total })
}

// ---- strings ----

type String2 = fn(&str, &str) -> Val;

fn string2(f: &str) -> Option<String2> {
    Some(match f {
        "strContains" => |s, t| Val::Bool(s.contains(t)),
        "strContainsAny" => |s, t| Val::Bool(s.contains(|c| t.contains(c))),
        "strCount" => |s, t| {
            Val::Int(if t.is_empty() {
                s.chars().count() as i64 + 1
            } else {
                s.matches(t).count() as i64
            })
        },
        "strHasPrefix" => |s, t| Val::Bool(s.starts_with(t)),
        "strHasSuffix" => |s, t| Val::Bool(s.ends_with(t)),
        "strIndex" => |s, t| Val::Int(s.find(t).map_or(-1, |i| i as i64)),
        "strIndexAny" => |s, t| Val::Int(s.find(|c| t.contains(c)).map_or(-1, |i| i as i64)),
        "strLastIndex" => |s, t| Val::Int(s.rfind(t).map_or(-1, |i| i as i64)),
        "strLastIndexAny" => |s, t| Val::Int(s.rfind(|c| t.contains(c)).map_or(-1, |i| i as i64)),
        "strTrim" => |s, t| Val::String(s.trim_matches(|c| t.contains(c)).to_owned()),
        "strTrimLeft" => |s, t| Val::String(s.trim_start_matches(|c| t.contains(c)).to_owned()),
        "strTrimRight" => |s, t| Val::String(s.trim_end_matches(|c| t.contains(c)).to_owned()),
        "strTrimPrefix" => |s, t| Val::String(s.strip_prefix(t).unwrap_or(s).to_owned()),
        "strTrimSuffix" => |s, t| Val::String(s.strip_suffix(t).unwrap_or(s).to_owned()),
        _ => return None,
    })
}

/// Go's `strings.Replace`: at most `n` replacements, all when `n < 0`; an
/// empty `old` matches before each character and at the end.
fn replace(s: &str, old: &str, new: &str, n: i64) -> String {
    if n < 0 {
        return if old.is_empty() {
            replace(s, old, new, i64::MAX)
        } else {
            s.replace(old, new)
        };
    }
    if old.is_empty() {
        let mut out = String::with_capacity(s.len());
        let mut left = n;
        for c in s.chars() {
            if left > 0 {
                out.push_str(new);
                left -= 1;
            }
            out.push(c);
        }
        if left > 0 {
            out.push_str(new);
        }
        return out;
    }
    s.replacen(old, new, usize::try_from(n).unwrap_or(usize::MAX))
}

/// Byte offsets, as Kapacitor slices; the stop must be inside the string.
fn substring(s: &str, start: i64, stop: i64) -> Result<String, EvalError> {
    let f = "strSubstring";
    if start < 0 {
        return Err(call_err(
            f,
            format!("found negative index for strSubstring: {start}"),
        ));
    }
    if stop < 0 {
        return Err(call_err(
            f,
            format!("found negative index for strSubstring: {stop}"),
        ));
    }
    if stop as usize >= s.len() {
        return Err(call_err(
            f,
            format!("stop index too large for string in strSubstring: {stop}"),
        ));
    }
    if start > stop {
        return Err(call_err(
            f,
            format!("start index {start} is after stop index {stop}"),
        ));
    }
    Ok(String::from_utf8_lossy(&s.as_bytes()[start as usize..stop as usize]).into_owned())
}

/// go-humanize's `Bytes`: SI units, one decimal below 10.
fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    if b < 10 {
        return format!("{b} B");
    }
    let bf = b as f64;
    let e = (bf.ln() / 1000f64.ln()).floor();
    let val = (bf / 1000f64.powf(e) * 10.0 + 0.5).floor() / 10.0;
    let unit = UNITS[(e as usize).min(UNITS.len() - 1)];
    if val < 10.0 {
        format!("{val:.1} {unit}")
    } else {
        format!("{val:.0} {unit}")
    }
}

// ---- time ----

fn days(t: i64) -> i64 {
    t.div_euclid(86_400_000_000_000)
}

/// (year, month, day) of a day count since 1970-01-01, proleptic Gregorian
/// (Howard Hinnant's `civil_from_days`).
fn civil(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil(0), (1970, 1, 1));
        // 2000-02-29 is day 11016.
        assert_eq!(civil(11_016), (2000, 2, 29));
        assert_eq!(civil(-1), (1969, 12, 31));
    }

    #[test]
    fn human_bytes_like_go_humanize() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(9), "9 B");
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1000), "1.0 kB");
        assert_eq!(human_bytes(82_854_982), "83 MB");
        assert_eq!(human_bytes(1_500_000), "1.5 MB");
    }

    #[test]
    fn durations_format_and_parse() {
        assert_eq!(format_duration(0), "0s");
        assert_eq!(format_duration(90_000_000_000), "90s");
        assert_eq!(format_duration(3_600_000_000_000), "1h");
        assert_eq!(format_duration(1_209_600_000_000_000), "2w");
        assert_eq!(format_duration(1_500_000), "1500u");
        assert_eq!(format_duration(7), "7ns");
        assert_eq!(parse_duration("1h30m"), Some(5_400_000_000_000));
        assert_eq!(parse_duration("-10ms"), Some(-10_000_000));
        assert_eq!(parse_duration("10"), None);
        assert_eq!(parse_duration("1.5s"), None);
    }

    #[test]
    fn go_replace() {
        assert_eq!(replace("oink oink oink", "k", "ky", 2), "oinky oinky oink");
        assert_eq!(replace("oink oink oink", "oink", "moo", -1), "moo moo moo");
        assert_eq!(replace("ab", "", "-", -1), "-a-b-");
        assert_eq!(replace("ab", "", "-", 2), "-a-b");
        assert_eq!(replace("ab", "x", "-", 0), "ab");
    }
}
