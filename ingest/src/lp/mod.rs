//! Line-protocol decoding with InfluxDB 1.x rules.
//!
//! [`Decoder::decode`] turns a body of line protocol into [`pipeline::Point`]s
//! plus one [`LineError`] per rejected line, worded as InfluxDB 1.x words it
//! (`unable to parse '<line>': <reason>`). A bad line never costs a good one.
//!
//! The grammar follows the Go 1.x parser as observed on InfluxDB 1.6.7: the
//! same line splitting (newlines inside string fields and after a backslash do
//! not end a line), the same escapes per position (`\\` in a tag stays two
//! backslashes), the same float spellings (`.5`, `5.`, `1.e3`), tags sorted,
//! duplicate tags rejected, the last of duplicate fields kept. Deliberate
//! differences are listed on [`Decoder::decode`].
//!
//! It does not decide what a batch means (partial writes, status codes): the
//! listeners do.

mod cache;
mod scan;

use std::borrow::Cow;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::sync::Arc;

use memchr::memchr;
use pipeline::{FieldValue, Fields, Name, Point, Series, SeriesError};

use cache::{KeyList, NameCache, SeriesCache};

/// Earliest time InfluxDB 1.x stores, in ns since the epoch.
pub const MIN_NANO: i64 = i64::MIN + 2;
/// Latest time InfluxDB 1.x stores, in ns since the epoch.
pub const MAX_NANO: i64 = i64::MAX - 1;
/// Longest series key (measurement and tags as written, and with a field key
/// added) that InfluxDB 1.x accepts.
pub const MAX_KEY_LEN: usize = 65535;
/// How much of a bad line an error repeats: enough to find it, not a copy of
/// a 25 MB line.
pub const MAX_ERROR_TEXT: usize = 1024;

type Reason = Cow<'static, str>;

/// The unit of timestamps in a write (`precision=` on `/write`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Precision {
    #[default]
    Nanosecond,
    Microsecond,
    Millisecond,
    Second,
    Minute,
    Hour,
}

impl Precision {
    /// `""`, `n`, `ns` → ns; `u`, `us`, `µ` → µs; `ms`, `s`, `m`, `h`.
    /// Anything else is None: the caller decides whether that is an error
    /// (InfluxDB ≥1.8) or nanoseconds (1.6).
    pub fn parse(s: &str) -> Option<Precision> {
        Some(match s {
            "" | "n" | "ns" => Precision::Nanosecond,
            "u" | "us" | "µ" => Precision::Microsecond,
            "ms" => Precision::Millisecond,
            "s" => Precision::Second,
            "m" => Precision::Minute,
            "h" => Precision::Hour,
            _ => return None,
        })
    }

    /// Nanoseconds per unit.
    pub fn nanos(self) -> i64 {
        match self {
            Precision::Nanosecond => 1,
            Precision::Microsecond => 1_000,
            Precision::Millisecond => 1_000_000,
            Precision::Second => 1_000_000_000,
            Precision::Minute => 60_000_000_000,
            Precision::Hour => 3_600_000_000_000,
        }
    }

    /// `t` rounded down to a whole unit, as InfluxDB stamps a point that has
    /// no timestamp.
    pub fn truncate(self, t: i64) -> i64 {
        t - t.rem_euclid(self.nanos())
    }
}

/// How to read one body.
#[derive(Clone, Debug)]
pub struct DecodeOptions {
    /// Unit of the timestamps in the body.
    pub precision: Precision,
    /// Time given to points without a timestamp (truncated to `precision`),
    /// in ns since the epoch. InfluxDB reads the clock once per request.
    pub now_ns: i64,
    /// Accept `42u` as an unsigned integer (InfluxDB 2.x style). InfluxDB
    /// 1.x and Kapacitor reject it with `invalid number`.
    pub accept_unsigned: bool,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            precision: Precision::Nanosecond,
            now_ns: 0,
            accept_unsigned: false,
        }
    }
}

/// One line that failed to decode.
#[derive(Clone, Debug, PartialEq)]
pub struct LineError {
    /// 1-based number of the line in the input where the failed line starts.
    pub line: usize,
    /// The line, leading whitespace trimmed, cut to [`MAX_ERROR_TEXT`] bytes,
    /// invalid UTF-8 replaced.
    pub text: String,
    /// Why, in InfluxDB 1.x words (`missing fields`, `invalid number`, …).
    pub reason: String,
}

impl LineError {
    fn new(line: usize, raw: &[u8], reason: Reason) -> Self {
        let mut cut = raw.len().min(MAX_ERROR_TEXT);
        let mut text = String::from_utf8_lossy(&raw[..cut]);
        // Cutting inside a multi-byte character leaves a replacement char at
        // the end; back up to a whole character instead when the line is valid.
        while std::str::from_utf8(&raw[..cut]).is_err_and(|e| e.error_len().is_none()) && cut > 0 {
            cut -= 1;
            text = String::from_utf8_lossy(&raw[..cut]);
        }
        LineError {
            line,
            text: text.into_owned(),
            reason: reason.into_owned(),
        }
    }
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unable to parse '{}': {}", self.text, self.reason)
    }
}

impl std::error::Error for LineError {}

/// Where the line starting at `start` ends: the index of the newline that
/// ends it, or `None` if `input` holds no such newline yet. A newline inside
/// a quoted string or after a backslash does not end a line, so a stream
/// reader that cuts only here never splits a line in two.
pub fn next_line_end(input: &[u8], start: usize) -> Option<usize> {
    if start >= input.len() {
        return None;
    }
    let (end, _) = scan::line_end(input, start);
    (end < input.len()).then_some(end)
}

/// Bounds on what one line or one body may cost; past one a line is a
/// parse error that names the limit. `Default` is the config's defaults,
/// except `max_future_ns`, off: a decoder reading recorded data (replays)
/// must not judge it by today's clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineLimits {
    /// Longest line in bytes (`ingest.max_line_length`).
    pub max_line_length: usize,
    /// Most fields of one point (`ingest.max_fields`).
    pub max_fields: usize,
    /// Most tags of one point (`ingest.max_tags`).
    pub max_tags: usize,
    /// Errors kept per [`Decoder::decode`] call; the rest are only counted
    /// (`ingest.max_parse_errors`).
    pub max_errors: usize,
    /// A point stamped more than this many ns after [`DecodeOptions::now_ns`]
    /// is a parse error (`ingest.max_future`); 0: no limit.
    pub max_future_ns: i64,
}

impl Default for LineLimits {
    fn default() -> Self {
        LineLimits {
            max_line_length: 1_048_576,
            max_fields: 10_000,
            max_tags: 1000,
            max_errors: 100,
            max_future_ns: 0,
        }
    }
}

/// Above this many fields, duplicates are found with a hash map rather
/// than by scanning the keys so far (quadratic on a 50,000-field line).
const LINEAR_DEDUP_FIELDS: usize = 32;

/// A line-protocol decoder with bounded caches of recently seen series and
/// field-key lists, so a steady stream of known series skips tag parsing and
/// most allocation. Keep one per connection or worker thread.
#[derive(Default)]
pub struct Decoder {
    series: SeriesCache,
    names: NameCache,
    /// Field keys of the last point whose series is not cached (one with
    /// backslashes in its key).
    uncached_keys: Option<KeyList>,
    /// Key lists built lately, so series with the same field keys (all 10k
    /// `cpu` series of a fleet) share one list instead of one each.
    recent_keys: Vec<KeyList>,
    // Scratch space reused across lines.
    tags: Vec<[usize; 4]>,
    raw_keys: Vec<(usize, usize)>,
    values: Vec<FieldValue>,
    /// See [`LineLimits`].
    pub limits: LineLimits,
    /// Where a line refused for a limit (and a body with more bad lines
    /// than are kept) is counted; `None`: nowhere.
    pub breaches: Option<Arc<model::LimitBreaches>>,
}

/// How many distinct key lists `recent_keys` holds.
const RECENT_KEY_LISTS: usize = 16;

impl fmt::Debug for Decoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decoder")
            .field("series_cached", &self.series.len())
            .finish()
    }
}

impl Decoder {
    pub fn new() -> Self {
        Decoder::default()
    }

    /// A decoder that counts the lines it refuses for a limit in `breaches`.
    pub fn counting(breaches: Arc<model::LimitBreaches>) -> Self {
        Decoder {
            breaches: Some(breaches),
            ..Decoder::default()
        }
    }

    /// Decodes every line of `input`, pushing good points to `points` and one
    /// [`LineError`] per bad line, up to `limits.max_errors` of them; returns
    /// how many bad lines there were in all. Never panics.
    ///
    /// Differences from InfluxDB 1.6.7, all on inputs it would store oddly:
    /// * a line that is not valid UTF-8 is rejected (`invalid UTF-8`); 1.6
    ///   stored the bytes;
    /// * bytes after a string field's closing quote (`f="a"b`, or CRLF after
    ///   a string) are `invalid field format`; 1.6 folded them into the value;
    /// * a field key that is empty after tabs (`m \t=1`) is `missing field
    ///   key`; 1.6 silently dropped the field;
    /// * tags are sorted by their unescaped keys; 1.6 sorts the escaped bytes,
    ///   which differs only for keys with escapes.
    pub fn decode(
        &mut self,
        input: &[u8],
        opts: &DecodeOptions,
        points: &mut Vec<Point>,
        errors: &mut Vec<LineError>,
    ) -> usize {
        let default_ns = opts.precision.truncate(opts.now_ns);
        let limits = self.limits;
        let mut bad = 0;
        // One check for the whole body; only a body with bad bytes pays for
        // checking line by line.
        let text = std::str::from_utf8(input).ok();
        let mut pos = 0;
        let mut line_no = 1;
        while pos < input.len() {
            let (mut end, inner_newlines) = scan::line_end(input, pos);
            let this_line = line_no;
            line_no += 1;
            if inner_newlines {
                line_no += memchr::memchr_iter(b'\n', &input[pos..end]).count();
                // A line that ran to the end of the body inside a quote keeps
                // its last newline; Go drops it before parsing.
                if end == input.len() && input[end - 1] == b'\n' {
                    end -= 1;
                }
            }
            let start = pos + scan::skip_ws(&input[pos..end], 0);
            pos = end + 1;
            if start >= end || input[start] == b'#' {
                continue;
            }
            let line = if end - start > limits.max_line_length {
                Err(Cow::Owned(format!(
                    "line too long: {} bytes > {} (ingest.max_line_length)",
                    end - start,
                    limits.max_line_length
                )))
            } else {
                Ok(match text {
                    Some(t) => t.get(start..end),
                    None => std::str::from_utf8(&input[start..end]).ok(),
                })
            };
            let result = line.and_then(|line| match line {
                Some(line) => self.decode_line(line, opts, default_ns, points),
                None => Err(Cow::Borrowed("invalid UTF-8")),
            });
            if let Err(reason) = result {
                bad += 1;
                // Only a limit's reason ends citing it: `(ingest.max_tags)`.
                if reason.ends_with(')')
                    && let Some(breaches) = &self.breaches
                {
                    breaches.cited_in(&reason);
                }
                if errors.len() < limits.max_errors {
                    errors.push(LineError::new(this_line, &input[start..end], reason));
                }
            }
        }
        if bad > limits.max_errors
            && let Some(breaches) = &self.breaches
        {
            breaches.breach(model::Limit::IngestMaxParseErrors);
        }
        bad
    }

    /// Decodes one line (leading whitespace already gone) into `points`.
    fn decode_line(
        &mut self,
        line: &str,
        opts: &DecodeOptions,
        default_ns: i64,
        points: &mut Vec<Point>,
    ) -> Result<(), Reason> {
        let b = line.as_bytes();

        // A key with no backslash ends at the first space, so its bytes can be
        // looked up before scanning. A key seen before parses the same way again.
        let plain_key = memchr(b' ', b).filter(|&p| memchr(b'\\', &b[..p]).is_none());
        if let Some((e, key_end)) = plain_key.and_then(|p| self.series.get(&b[..p]).map(|e| (e, p)))
        {
            let hint: &[Name] = match &e.keys {
                Some(k) if k.plain => &k.names,
                _ => &[],
            };
            let (time, same) = scan_rest(
                line,
                key_end,
                hint,
                opts,
                default_ns,
                &mut self.raw_keys,
                &mut self.values,
                self.limits.max_fields,
            )?;
            check_future(time, opts.now_ns, self.limits.max_future_ns)?;
            if let Some(k) = &e.keys
                && (same || (!k.plain && same_keys(&k.names, line, &self.raw_keys)))
            {
                let fields = Fields::new(k.names.clone(), self.values.drain(..).collect());
                points.push(Point {
                    series: e.series.clone(),
                    fields,
                    time,
                });
                return Ok(());
            }
            let series = e.series.clone();
            self.push_with_new_keys(line, key_end, true, series, time, points);
            return Ok(());
        }

        let k = scan::scan_key(b, &mut self.tags)?;
        if self.tags.len() > self.limits.max_tags {
            return Err(format!(
                "too many tags: {} > {} (ingest.max_tags)",
                self.tags.len(),
                self.limits.max_tags
            )
            .into());
        }
        let series = Arc::new(build_series(line, &k, &self.tags, &mut self.names)?);
        let key_end = k.key_end;
        if key_end > MAX_KEY_LEN {
            return Err(format!("max key length exceeded: {key_end} > {MAX_KEY_LEN}").into());
        }
        let cacheable = memchr(b'\\', &b[..key_end]).is_none();
        if cacheable {
            self.series.insert(&b[..key_end], series.clone());
        }
        let last = if cacheable {
            None
        } else {
            self.uncached_keys.clone()
        };
        let (time, _) = scan_rest(
            line,
            key_end,
            &[],
            opts,
            default_ns,
            &mut self.raw_keys,
            &mut self.values,
            self.limits.max_fields,
        )?;
        check_future(time, opts.now_ns, self.limits.max_future_ns)?;
        match last {
            Some(k) if same_keys(&k.names, line, &self.raw_keys) => {
                let fields = Fields::new(k.names, self.values.drain(..).collect());
                points.push(Point {
                    series,
                    fields,
                    time,
                });
            }
            _ => self.push_with_new_keys(line, key_end, cacheable, series, time, points),
        }
        Ok(())
    }

    /// Pushes the point of the line just scanned, with a key list built from
    /// its raw keys, and remembers that list for the series' next point.
    fn push_with_new_keys(
        &mut self,
        line: &str,
        key_end: usize,
        cacheable: bool,
        series: Arc<Series>,
        time: i64,
        points: &mut Vec<Point>,
    ) {
        let (list, repeated) = self.field_keys(line);
        // A list with a repeated key never matches raw keys again.
        if !repeated {
            if cacheable {
                self.series
                    .set_keys(&line.as_bytes()[..key_end], list.clone());
            } else {
                self.uncached_keys = Some(list.clone());
            }
        }
        let fields = Fields::new(list.names, self.values.drain(..).collect());
        points.push(Point {
            series,
            fields,
            time,
        });
    }

    /// Builds the field-key list for the line just scanned, keeping the last
    /// value of a repeated key in the place of its first appearance, and
    /// reusing a recent list with the same names. Returns whether a key
    /// repeated.
    fn field_keys(&mut self, line: &str) -> (KeyList, bool) {
        let mut keys: Vec<Name> = Vec::with_capacity(self.raw_keys.len());
        let mut out: Vec<FieldValue> = Vec::with_capacity(self.raw_keys.len());
        let mut repeated = false;
        let mut index: HashMap<Cow<'_, str>, usize> = HashMap::new();
        let hashed = self.raw_keys.len() > LINEAR_DEDUP_FIELDS;
        for (&(a, e), v) in self.raw_keys.iter().zip(self.values.drain(..)) {
            let name = scan::unescape_name(line.get(a..e).unwrap_or_default());
            let found = if hashed {
                let next = keys.len();
                match index.entry(name.clone()) {
                    Entry::Occupied(o) => Some(*o.get()),
                    Entry::Vacant(v) => {
                        v.insert(next);
                        None
                    }
                }
            } else {
                keys.iter().position(|k| **k == *name)
            };
            match found {
                Some(i) => {
                    out[i] = v;
                    repeated = true;
                }
                None => {
                    keys.push(self.names.get(&name));
                    out.push(v);
                }
            }
        }
        self.values = out;
        if let Some(k) = self.recent_keys.iter().find(|k| *k.names == *keys) {
            return (k.clone(), repeated);
        }
        let plain = keys.iter().all(|k| scan::is_plain(k));
        let list = KeyList {
            names: keys.into(),
            plain,
        };
        if self.recent_keys.len() >= RECENT_KEY_LISTS {
            self.recent_keys.remove(0);
        }
        self.recent_keys.push(list.clone());
        (list, repeated)
    }
}

/// Everything after the series key: fields, the key-length check that needs
/// them, and the timestamp. Returns the time and whether the keys were `hint`.
#[allow(clippy::too_many_arguments)] // scratch buffers borrowed apart from the decoder
fn scan_rest(
    line: &str,
    key_end: usize,
    hint: &[Name],
    opts: &DecodeOptions,
    default_ns: i64,
    raw_keys: &mut Vec<(usize, usize)>,
    values: &mut Vec<FieldValue>,
    max_fields: usize,
) -> Result<(i64, bool), Reason> {
    let (fields_end, same) =
        scan::scan_fields(line, key_end, opts.accept_unsigned, hint, raw_keys, values)?;
    if raw_keys.len() > max_fields {
        return Err(format!(
            "too many fields: {} > {max_fields} (ingest.max_fields)",
            raw_keys.len()
        )
        .into());
    }
    for &(a, e) in raw_keys.iter() {
        let size = key_end + 4 + (e - a);
        if size > MAX_KEY_LEN {
            return Err(format!("max key length exceeded: {size} > {MAX_KEY_LEN}").into());
        }
    }
    let time = scan::scan_time(line.as_bytes(), fields_end, opts.precision, default_ns)?;
    Ok((time, same))
}

/// A point stamped further ahead of `now` than `max_future` (ns; 0: no
/// limit) is an error naming the key: one such point would move every
/// window of its group to its time.
fn check_future(time: i64, now: i64, max_future: i64) -> Result<(), Reason> {
    if max_future > 0 && time.saturating_sub(now) > max_future {
        return Err(format!(
            "timestamp {time} is {} ahead of the clock, more than {} (ingest.max_future)",
            seconds(time.saturating_sub(now)),
            seconds(max_future)
        )
        .into());
    }
    Ok(())
}

/// `90s`-style text for a span of ns, rounded down to whole seconds.
fn seconds(ns: i64) -> String {
    format!("{}s", ns / 1_000_000_000)
}

fn build_series(
    line: &str,
    k: &scan::KeyScan,
    tags: &[[usize; 4]],
    names: &mut NameCache,
) -> Result<Series, Reason> {
    let measurement = names.get(&scan::unescape_name(scan::sub(line, 0, k.meas_end)?));
    let mut list = Vec::with_capacity(tags.len());
    for &[k0, k1, v0, v1] in tags {
        let key = names.get(&scan::unescape_tag(scan::sub(line, k0, k1)?));
        let value = names.get(&scan::unescape_tag(scan::sub(line, v0, v1)?));
        list.push((key, value));
    }
    Series::new(measurement, list).map_err(|e| match e {
        SeriesError::MissingMeasurement => Cow::Borrowed("missing measurement"),
        SeriesError::DuplicateTags => Cow::Borrowed("duplicate tags"),
    })
}

/// Whether a key list matches this line's raw field keys, in order.
fn same_keys(list: &[Name], line: &str, raw: &[(usize, usize)]) -> bool {
    list.len() == raw.len()
        && list.iter().zip(raw).all(|(name, &(a, e))| {
            line.get(a..e)
                .is_some_and(|s| s == &**name || *scan::unescape_name(s) == **name)
        })
}

#[cfg(test)]
mod tests;
