//! Byte-level scanners mirroring the Go 1.x parser (`models/points.go`): the
//! same separators, the same "escaped if the previous byte is a backslash"
//! rule in keys, and the same error for each malformed input, so a rejected
//! line reads exactly as InfluxDB would report it.

use std::borrow::Cow;
use std::sync::Arc;

use memchr::{memchr, memchr2, memchr3};
use pipeline::FieldValue;

use super::{MAX_NANO, MIN_NANO, Precision, Reason};

/// Where the line starting at `start` ends (the index of its `\n`, or the end
/// of input), and whether that line holds newlines of its own (inside a
/// quoted string or after a backslash).
pub(super) fn line_end(b: &[u8], start: usize) -> (usize, bool) {
    let rest = &b[start..];
    match memchr3(b'\n', b'"', b'\\', rest) {
        None => (b.len(), false),
        Some(k) if rest[k] == b'\n' => (start + k, false),
        // Quotes or escapes before the newline: walk the line as Go's
        // scanLine does.
        Some(_) => {
            let end = line_end_slow(b, start);
            (end, memchr(b'\n', &b[start..end]).is_some())
        }
    }
}

/// Go's `scanLine`: a newline ends the line unless it follows a backslash or
/// sits inside a string field value (a `"` after a field's `=`).
fn line_end_slow(b: &[u8], start: usize) -> usize {
    let mut i = start;
    let mut quoted = false;
    let mut fields = false;
    let mut equals = 0usize;
    let mut commas = 0usize;
    while i < b.len() {
        let c = b[i];
        if c == b'\\' {
            i += 2;
            continue;
        }
        if c == b' ' {
            fields = true;
        }
        if fields {
            if !quoted && c == b'=' {
                equals += 1;
                i += 1;
                continue;
            } else if !quoted && c == b',' {
                commas += 1;
                i += 1;
                continue;
            } else if c == b'"' && equals > commas {
                quoted = !quoted;
                i += 1;
                continue;
            }
        }
        if c == b'\n' && !quoted {
            break;
        }
        i += 1;
    }
    i.min(b.len())
}

/// Go's `skipWhitespace`: spaces, tabs and NUL bytes.
pub(super) fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | 0) {
        i += 1;
    }
    i
}

/// A slice of the line at byte offsets that the scanners found at ASCII
/// separators. `get` rather than indexing so that a scanner bug becomes a
/// rejected line, never a panic.
pub(super) fn sub(line: &str, a: usize, e: usize) -> Result<&str, Reason> {
    line.get(a..e).ok_or(Cow::Borrowed("invalid UTF-8"))
}

/// The measurement and tags of a line, as offsets into it.
pub(super) struct KeyScan {
    /// Index of the space that ends the key.
    pub key_end: usize,
    /// End of the measurement (a `,` or the key's end).
    pub meas_end: usize,
}

/// Scans measurement and tags (Go's `scanMeasurement`, `scanTagsKey`,
/// `scanTagsValue`), pushing `[key_start, key_end, value_start, value_end]`
/// for each tag.
pub(super) fn scan_key(b: &[u8], tags: &mut Vec<[usize; 4]>) -> Result<KeyScan, Reason> {
    tags.clear();
    let len = b.len();
    if len == 0 || b[0] == b',' {
        return Err("missing measurement".into());
    }
    let mut i = 0;
    let meas_end;
    loop {
        i += 1;
        if i >= len {
            return Err("missing fields".into());
        }
        if b[i - 1] == b'\\' {
            continue;
        }
        if b[i] == b',' {
            meas_end = i;
            i += 1;
            break;
        }
        if b[i] == b' ' {
            return Ok(KeyScan {
                key_end: i,
                meas_end: i,
            });
        }
    }
    loop {
        // Tag key.
        let k0 = i;
        if i >= len || matches!(b[i], b' ' | b',' | b'=') {
            return Err("missing tag key".into());
        }
        let k1 = loop {
            i += 1;
            if i >= len || (matches!(b[i], b' ' | b',') && b[i - 1] != b'\\') {
                return Err("missing tag value".into());
            }
            if b[i] == b'=' && b[i - 1] != b'\\' {
                break i;
            }
        };
        i += 1;
        // Tag value. Its first byte is never a separator check for `=`, as in
        // Go, so `t==x` is the value `=x`.
        let v0 = i;
        if i >= len || matches!(b[i], b',' | b' ') {
            return Err("missing tag value".into());
        }
        loop {
            i += 1;
            if i >= len {
                return Err("missing fields".into());
            }
            let escaped = b[i - 1] == b'\\';
            match b[i] {
                b'=' if !escaped => return Err("invalid tag format".into()),
                b',' if !escaped => {
                    tags.push([k0, k1, v0, i]);
                    i += 1;
                    break;
                }
                b' ' if !escaped => {
                    tags.push([k0, k1, v0, i]);
                    return Ok(KeyScan {
                        key_end: i,
                        meas_end,
                    });
                }
                _ => {}
            }
        }
    }
}

/// Drops each backslash that directly precedes one of `special` (what Go's
/// `unescapeTag` and `escape.Unescape` amount to); every other backslash,
/// `\\` included, stays.
fn unescape<'a>(s: &'a str, special: &[u8]) -> Cow<'a, str> {
    let b = s.as_bytes();
    let Some(first) = memchr(b'\\', b) else {
        return Cow::Borrowed(s);
    };
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    let mut i = first;
    while i + 1 < b.len() {
        if b[i] == b'\\' && special.contains(&b[i + 1]) {
            // Both offsets sit at ASCII bytes, so the slice is on char boundaries.
            out.push_str(s.get(last..i).unwrap_or_default());
            last = i + 1;
            i += 2;
        } else {
            i += 1;
        }
    }
    if last == 0 {
        return Cow::Borrowed(s);
    }
    out.push_str(s.get(last..).unwrap_or_default());
    Cow::Owned(out)
}

/// Tag keys and values: `\,` `\ ` `\=`.
pub(super) fn unescape_tag(s: &str) -> Cow<'_, str> {
    unescape(s, b", =")
}

/// Measurements and field keys go through Go's `escape.Unescape`, which also
/// knows `\"`.
pub(super) fn unescape_name(s: &str) -> Cow<'_, str> {
    unescape(s, b", =\"")
}

/// String field contents: `\\` and `\"`, read left to right in pairs; any
/// other backslash stays.
fn unescape_string(s: &str) -> Cow<'_, str> {
    let b = s.as_bytes();
    if memchr(b'\\', b).is_none() {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    let mut i = 0;
    while i + 1 < b.len() {
        if b[i] == b'\\' && matches!(b[i + 1], b'\\' | b'"') {
            out.push_str(s.get(last..i).unwrap_or_default());
            last = i + 1;
            i += 2;
        } else {
            i += 1;
        }
    }
    out.push_str(s.get(last..).unwrap_or_default());
    Cow::Owned(out)
}

/// Scans the field section starting at `from` (Go's `scanFields` together
/// with the value scanners), pushing each field's raw key offsets and its
/// decoded value. Returns where the section ends (a space or the line end)
/// and whether the keys were exactly `hint`, in order.
///
/// `hint` is the key list of the series' previous point; it must hold only
/// names without escapable bytes (see `is_plain`), so that a name equal to
/// the raw bytes is also what scanning those bytes would have produced.
pub(super) fn scan_fields(
    line: &str,
    from: usize,
    accept_unsigned: bool,
    hint: &[pipeline::Name],
    keys: &mut Vec<(usize, usize)>,
    values: &mut Vec<FieldValue>,
) -> Result<(usize, bool), Reason> {
    keys.clear();
    values.clear();
    let b = line.as_bytes();
    let len = b.len();
    let mut i = skip_ws(b, from);
    let mut key_start = i;
    let mut commas = 0usize;
    let mut equals = 0usize;
    let mut matched = true;
    while i < len {
        if matched && i == key_start {
            // The common case: the same key as last time, compared whole
            // instead of scanned byte by byte.
            let h = hint.get(values.len()).map_or(&b""[..], |n| n.as_bytes());
            let eq = i + h.len();
            if !h.is_empty() && eq < len && b[eq] == b'=' && super::cache::bytes_eq(&b[i..eq], h) {
                i = eq;
            } else {
                matched = false;
                continue;
            }
        } else {
            let c = b[i];
            if c == b'\\' && i + 1 < len {
                i += 2;
                continue;
            }
            match c {
                b' ' => break,
                b',' => {
                    commas += 1;
                    i += 1;
                    key_start = i;
                    continue;
                }
                b'=' => {}
                _ => {
                    i += 1;
                    continue;
                }
            }
        }
        // b[i] is an unescaped `=`.
        equals += 1;
        // `... =1` and `a=1,=2` have no key; `a\ =1` and `a\,=1` do.
        let before = |k: usize| if i >= k { b[i - k] } else { 0 };
        if (before(1) == b' ' || before(1) == b',') && before(2) != b'\\' {
            return Err("missing field key".into());
        }
        if i + 1 >= len || matches!(b[i + 1], b',' | b' ') {
            return Err("missing field value".into());
        }
        if key_start == i {
            // Only reachable after skipped tabs or NULs; Go would silently
            // drop such a field.
            return Err("missing field key".into());
        }
        let v = i + 1;
        // Values are pushed where they are parsed: returning them through a
        // Result costs stack round trips on the hottest path.
        let end = match b[v] {
            b'0'..=b'9' | b'.' | b'-' => number(line, v, accept_unsigned, values)?,
            b'N' | b'n' => push(values, scan_number(line, v, accept_unsigned)?),
            b'"' if equals > commas => push(values, scan_string(line, v)?),
            // A quote that Go would not treat as opening a string (the key
            // held an unescaped comma): the line fails its format check later.
            b'"' => {
                i = v;
                matched = false;
                continue;
            }
            _ => push(values, scan_bool(b, v)?),
        };
        keys.push((key_start, i));
        i = end;
    }
    if equals == 0 || commas + 1 != equals {
        return Err("invalid field format".into());
    }
    Ok((i, matched && values.len() == hint.len()))
}

/// Whether a name can stand for its own raw bytes: no byte that the key
/// scanner treats specially.
pub(super) fn is_plain(name: &str) -> bool {
    !name.is_empty()
        && !name
            .bytes()
            .any(|c| matches!(c, b'\\' | b',' | b' ' | b'=' | b'"'))
}

/// A number value. Tries the two shapes Telegraf sends (a float, an `i`
/// integer) directly; anything else goes through the exact Go scan for its
/// verdict and wording.
fn number(
    line: &str,
    start: usize,
    accept_unsigned: bool,
    values: &mut Vec<FieldValue>,
) -> Result<usize, Reason> {
    let b = line.as_bytes();
    // One pass for the common `-?digits[.digits]` shape, collecting up to 19
    // significant digits; stops at the first other byte.
    let mut i = start;
    let negative = b[i] == b'-';
    if negative {
        i += 1;
    }
    let mut mantissa: u64 = 0;
    let mut digits = 0u32;
    let mut frac_digits = 0u32;
    let mut dot = false;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_digit() {
            mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(c - b'0'));
            digits += 1;
            frac_digits += u32::from(dot);
        } else if c == b'.' && !dot {
            dot = true;
        } else {
            break;
        }
        i += 1;
    }
    let at_end = i >= b.len() || b[i] == b',' || b[i] == b' ';
    if at_end && digits > 0 {
        // Exact when both the mantissa and the power of ten are exact
        // doubles: one correctly rounded division (Clinger's fast path).
        if digits <= 19 && mantissa <= 1 << 53 && frac_digits < POW10.len() as u32 {
            let v = mantissa as f64 / POW10[frac_digits as usize];
            values.push(FieldValue::Float(if negative { -v } else { v }));
            return Ok(i);
        }
        if let Some(Ok(v)) = line.get(start..i).map(str::parse::<f64>) {
            values.push(FieldValue::Float(v));
            return Ok(i);
        }
    }
    if !dot && digits > 0 && b.get(i) == Some(&b'i') {
        let end = i + 1;
        if (end >= b.len() || b[end] == b',' || b[end] == b' ')
            && let Some(v) = parse_i64(&b[start..i])
        {
            values.push(FieldValue::Integer(v));
            return Ok(end);
        }
    }
    let mut end = i;
    while end < b.len() && b[end] != b',' && b[end] != b' ' {
        end += 1;
    }
    if let Some(Ok(v)) = line.get(start..end).map(str::parse::<f64>) {
        // A finite result means the token was a plain decimal, perhaps with an
        // exponent (Rust's other spellings, `inf` and `nan`, are not finite),
        // and Go's scanner admits every plain decimal.
        if v.is_finite() {
            values.push(FieldValue::Float(v));
            return Ok(end);
        }
    }
    Ok(push(values, scan_number(line, start, accept_unsigned)?))
}

fn push(values: &mut Vec<FieldValue>, (end, value): (usize, FieldValue)) -> usize {
    values.push(value);
    end
}

/// Powers of ten that are exact doubles.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

fn scan_bool(b: &[u8], start: usize) -> Result<(usize, FieldValue), Reason> {
    let mut end = start + 1;
    while end < b.len() && b[end] != b',' && b[end] != b' ' {
        end += 1;
    }
    let v = match &b[start..end.min(b.len())] {
        b"t" | b"T" | b"true" | b"True" | b"TRUE" => true,
        b"f" | b"F" | b"false" | b"False" | b"FALSE" => false,
        _ => return Err("invalid boolean".into()),
    };
    Ok((end, FieldValue::Boolean(v)))
}

/// A string value from its opening quote at `q`.
fn scan_string(line: &str, q: usize) -> Result<(usize, FieldValue), Reason> {
    let b = line.as_bytes();
    let mut j = q + 1;
    loop {
        let Some(k) = memchr2(b'"', b'\\', &b[j.min(b.len())..]) else {
            return Err("unbalanced quotes".into());
        };
        j += k;
        if b[j] == b'"' {
            break;
        }
        // A backslash escapes the next byte; one at the very end escapes nothing.
        if j + 1 >= b.len() {
            return Err("unbalanced quotes".into());
        }
        j += 2;
    }
    let after = j + 1;
    // Go accepts bytes after the closing quote and folds them into the value
    // in odd ways (`f="a"b` stores `a"`); we refuse the line instead.
    if after < b.len() && b[after] != b',' && b[after] != b' ' {
        return Err("invalid field format".into());
    }
    let s = unescape_string(sub(line, q + 1, j)?);
    Ok((after, FieldValue::String(Arc::from(s))))
}

/// Go's `scanNumber`, followed by decoding the value it admitted.
#[cold]
#[inline(never)]
fn scan_number(
    line: &str,
    start: usize,
    accept_unsigned: bool,
) -> Result<(usize, FieldValue), Reason> {
    const INVALID: &str = "invalid number";
    let b = line.as_bytes();
    let len = b.len();
    let mut i = start;
    let negative = b[start] == b'-';
    if negative {
        i += 1;
        if i == len {
            return Err(INVALID.into());
        }
    }
    let (mut decimal, mut scientific, mut int, mut uint) = (false, false, false, false);
    while i < len {
        let c = b[i];
        match c {
            b',' | b' ' => break,
            b'0'..=b'9' => {}
            b'i' if i > start && !(int || uint) => int = true,
            b'u' if i > start && !(int || uint) => uint = true,
            b'.' if decimal => return Err(INVALID.into()),
            b'.' => decimal = true,
            b'e' | b'E' if i > start => scientific = true,
            b'+' | b'-' if matches!(b[i - 1], b'e' | b'E') => {}
            _ => return Err(INVALID.into()),
        }
        i += 1;
    }
    if (int || uint) && (decimal || scientific) {
        return Err(INVALID.into());
    }
    let digits = i - start - usize::from(int) - usize::from(decimal) - usize::from(negative);
    if digits == 0 {
        return Err(INVALID.into());
    }
    if int {
        if b[i - 1] != b'i' {
            return Err(INVALID.into());
        }
        let text = sub(line, start, i - 1)?;
        return match parse_i64(text.as_bytes()) {
            Some(v) => Ok((i, FieldValue::Integer(v))),
            None => Err(format!(
                "unable to parse integer {text}: strconv.ParseInt: parsing \"{text}\": value out of range"
            )
            .into()),
        };
    }
    if uint {
        if !accept_unsigned || b[i - 1] != b'u' || negative {
            return Err(INVALID.into());
        }
        let text = sub(line, start, i - 1)?;
        return match text.parse::<u64>() {
            Ok(v) => Ok((i, FieldValue::Unsigned(v))),
            Err(_) => Err(format!(
                "unable to parse unsigned {text}: strconv.ParseUint: parsing \"{text}\": value out of range"
            )
            .into()),
        };
    }
    match sub(line, start, i)?.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok((i, FieldValue::Float(v))),
        _ => Err("invalid float".into()),
    }
}

/// A decimal `-?[0-9]+`, or None if empty, malformed or out of range.
/// Accumulates negatively so that `i64::MIN` parses.
pub(super) fn parse_i64(b: &[u8]) -> Option<i64> {
    let (neg, digits) = match b.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, b),
    };
    if digits.is_empty() {
        return None;
    }
    let mut v: i64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_sub(i64::from(c - b'0'))?;
    }
    if neg { Some(v) } else { v.checked_neg() }
}

/// Scans the optional timestamp after the fields (Go's `scanTime`, then its
/// integer parse, range check and trailing-bytes check); returns nanoseconds,
/// or `default_ns` when there is no timestamp.
pub(super) fn scan_time(
    b: &[u8],
    from: usize,
    precision: Precision,
    default_ns: i64,
) -> Result<i64, Reason> {
    let start = skip_ws(b, from);
    let negative = b.get(start) == Some(&b'-');
    let digits = start + usize::from(negative);
    let mut i = digits;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if i < b.len() && b[i] != b' ' && b[i] != b'\n' {
        return Err("bad timestamp".into());
    }
    if i == start {
        return Ok(default_ns);
    }
    let raw = &b[start..i];
    let ts = if i - digits <= 18 && i > digits {
        // Cannot overflow: at most 18 digits.
        let v = b[digits..i]
            .iter()
            .fold(0i64, |v, &c| v * 10 + i64::from(c - b'0'));
        Some(if negative { -v } else { v })
    } else {
        parse_i64(raw)
    };
    let Some(ts) = ts else {
        let text = String::from_utf8_lossy(raw);
        let why = if raw == b"-" {
            "invalid syntax"
        } else {
            "value out of range"
        };
        return Err(format!("strconv.ParseInt: parsing \"{text}\": {why}").into());
    };
    let ns = ts
        .checked_mul(precision.nanos())
        .filter(|t| (MIN_NANO..=MAX_NANO).contains(t))
        .ok_or_else(|| Cow::Owned(format!("time outside range {MIN_NANO} - {MAX_NANO}")))?;
    if b[i..].iter().any(|&c| c != b' ') {
        return Err("point is invalid".into());
    }
    Ok(ns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescape_keeps_unknown_and_double_backslashes() {
        assert_eq!(unescape_tag(r"a\,b\ c\=d"), "a,b c=d");
        assert_eq!(unescape_tag(r"x\\y"), r"x\\y");
        assert_eq!(unescape_tag(r"a\\,b"), r"a\,b");
        assert_eq!(unescape_tag(r"a\tb"), r"a\tb");
        assert_eq!(unescape_name(r#"a\"b"#), r#"a"b"#);
        assert_eq!(unescape_tag(r#"a\"b"#), r#"a\"b"#);
        assert_eq!(unescape_string(r#"a\"b\\c\d"#), r#"a"b\c\d"#);
        assert_eq!(unescape_string(r"\\\\"), r"\\");
    }

    #[test]
    fn line_end_respects_quotes_and_backslashes() {
        let b = b"m f=\"a\nb\" 1\nm f=1";
        assert_eq!(line_end(b, 0), (11, true));
        let b = b"m,t=a\\\nb f=1\nx";
        assert_eq!(line_end(b, 0), (12, true));
        assert_eq!(line_end(b"m f=1\nx", 0), (5, false));
        assert_eq!(line_end(b"m f=1", 0), (5, false));
    }

    #[test]
    fn parse_i64_limits() {
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        assert_eq!(parse_i64(b"-"), None);
        assert_eq!(parse_i64(b""), None);
        assert_eq!(parse_i64(b"01"), Some(1));
    }

    fn number_value(text: &str) -> Result<FieldValue, Reason> {
        let mut values = Vec::new();
        number(text, 0, false, &mut values).map(|_| values.pop().expect("a value was pushed"))
    }

    #[test]
    fn fast_number_path_agrees_with_std_and_go() {
        let mut x: u64 = 0x9e3779b97f4a7c15;
        for i in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let f = match i % 4 {
                0 => f64::from_bits(x >> 2),
                1 => (x % 1_000_000) as f64 / 1000.0,
                2 => (x % 100_000_000_000) as f64 / 7.0,
                _ => -((x % 1000) as f64) / 8.0,
            };
            if !f.is_finite() {
                continue;
            }
            for text in [format!("{f}"), format!("{f:e}"), format!("{f:.3}")] {
                let got = number_value(&text);
                let want = text.parse::<f64>().expect("std parses what it printed");
                assert_eq!(got, Ok(FieldValue::Float(want)), "{text}");
            }
        }
        for (text, want) in [
            ("12i", FieldValue::Integer(12)),
            ("0.5", FieldValue::Float(0.5)),
        ] {
            assert_eq!(number_value(text), Ok(want));
        }
        for bad in [
            "1.5i", "1ii", "-", "1-", "1.2.3", "--1", "1e", "-inf", "-nan", "12u",
        ] {
            assert_eq!(
                number_value(bad),
                scan_number(bad, 0, false).map(|(_, v)| v),
                "{bad}"
            );
        }
    }

    #[test]
    fn numbers_follow_go_scan_number() {
        let n = |s: &str, u: bool| scan_number(s, 0, u).map(|(_, v)| v);
        assert_eq!(n(".5", false), Ok(FieldValue::Float(0.5)));
        assert_eq!(n("5.", false), Ok(FieldValue::Float(5.0)));
        assert_eq!(n("1.e3", false), Ok(FieldValue::Float(1000.0)));
        assert_eq!(n("1", false), Ok(FieldValue::Float(1.0)));
        assert_eq!(n("-3i", false), Ok(FieldValue::Integer(-3)));
        assert_eq!(n("3u", false), Err("invalid number".into()));
        assert_eq!(n("3u", true), Ok(FieldValue::Unsigned(3)));
        assert_eq!(n("-3u", true), Err("invalid number".into()));
        assert_eq!(n("1.0i", false), Err("invalid number".into()));
        assert_eq!(n("1e3i", false), Err("invalid number".into()));
        assert_eq!(n("1i2", false), Err("invalid number".into()));
        assert_eq!(n("NaN", false), Err("invalid number".into()));
        assert_eq!(n("-", false), Err("invalid number".into()));
        assert_eq!(n(".", false), Err("invalid number".into()));
        assert_eq!(n("1.1.1", false), Err("invalid number".into()));
        assert_eq!(n("1e400", false), Err("invalid float".into()));
        assert_eq!(n("1e", false), Err("invalid float".into()));
    }
}
