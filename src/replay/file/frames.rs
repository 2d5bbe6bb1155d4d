//! Version 2 of the stream recording file: a header line, then binary
//! frames, each the points of one write (at most [`MAX_FRAME_POINTS`]) of
//! one database and retention policy:
//!
//! ```text
//! frame   = len:u32le crc32(payload):u32le payload
//! payload = flags:u8 dbrp count:u32le point*
//! dbrp    = id:varint [db:str rp:str]                  (the strings when new)
//! point   = series:varint [measurement:str n:varint (key:str value:str)*]
//!           keys:varint [n:varint key:str*]
//!           time:zigzag-varint (from the point before, 0 for a frame's first)
//!           value*  (one per key: a type byte, then f64le | zigzag-varint |
//!                    varint | str; booleans are in the type byte)
//! str     = len:varint utf-8
//! ```
//!
//! Series, key lists and dbrps are numbered in the order they first appear,
//! each defined where its number is first used, so a point costs a few
//! bytes beyond its values and nothing is formatted or parsed as text.
//! Flag bit 0 forgets every number before the frame (the writer starts over
//! so that its tables stay bounded under tag churn).
//!
//! Frames are only ever appended whole, so a file cut short (a crash, `kill
//! -9`) holds its complete frames and then part of one, which the reader
//! ignores. A frame whose checksum does not match is corruption, reported
//! with its byte offset.

use std::sync::Arc;

use pipeline::{DbRp, FieldValue, Fields, Name, Point, Series};

use super::super::recording::RecordingError;

/// The first line of a version 2 recording.
pub const HEADER: &str = "# kapacitord stream recording v2";
/// Points in a frame at most: a reader holds a frame's points at once.
pub const MAX_FRAME_POINTS: usize = 8192;
/// A frame longer than this is corruption, not a write cut short.
pub const MAX_FRAME_BYTES: usize = 256 << 20;
/// Frame flag: forget every series, key list and dbrp numbered before.
pub const RESET: u8 = 1;

pub const FLOAT: u8 = 0;
pub const INTEGER: u8 = 1;
pub const UNSIGNED: u8 = 2;
pub const STRING: u8 = 3;
pub const FALSE: u8 = 4;
pub const TRUE: u8 = 5;

pub fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push(v as u8 | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

pub fn put_str(buf: &mut Vec<u8>, s: &str) {
    put_varint(buf, s.len() as u64);
    buf.extend_from_slice(s.as_bytes());
}

pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

/// What is wrong inside a frame whose checksum matched: only a writer's bug
/// or a forged file gets here.
type Corrupt = &'static str;

/// Reads a frame's payload.
struct Cursor<'b> {
    bytes: &'b [u8],
    pos: usize,
}

impl<'b> Cursor<'b> {
    fn take(&mut self, n: usize) -> Result<&'b [u8], Corrupt> {
        let end = self.pos.checked_add(n).ok_or("length out of range")?;
        let s = self.bytes.get(self.pos..end).ok_or("frame ends early")?;
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, Corrupt> {
        Ok(self.take(1)?[0])
    }

    fn varint(&mut self) -> Result<u64, Corrupt> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err("varint too long")
    }

    fn len(&mut self) -> Result<usize, Corrupt> {
        usize::try_from(self.varint()?).map_err(|_| "length out of range")
    }

    fn str(&mut self) -> Result<&'b str, Corrupt> {
        let n = self.len()?;
        std::str::from_utf8(self.take(n)?).map_err(|_| "a name is not UTF-8")
    }

    fn name(&mut self) -> Result<Name, Corrupt> {
        self.str().map(Name::from)
    }
}

/// Reads a version 2 recording a frame at a time.
pub struct FrameReader<'a> {
    bytes: &'a [u8],
    pos: usize,
    dbrps: Vec<DbRp>,
    series: Vec<Arc<Series>>,
    keys: Vec<Arc<[Name]>>,
    values: Vec<FieldValue>,
    pub(super) truncated: bool,
}

impl<'a> FrameReader<'a> {
    /// `body` starts after the header line.
    pub(super) fn new(bytes: &'a [u8], body: usize) -> Self {
        FrameReader {
            bytes,
            pos: body,
            dbrps: Vec::new(),
            series: Vec::new(),
            keys: Vec::new(),
            values: Vec::new(),
            truncated: false,
        }
    }

    /// Bytes of whole frames read so far.
    pub(super) fn valid_len(&self) -> usize {
        self.pos
    }

    /// Decodes the next frame's points into `out` (cleared first); `None`
    /// at the end, or at a frame cut short.
    pub(super) fn next_chunk(
        &mut self,
        out: &mut Vec<Point>,
    ) -> Result<Option<DbRp>, RecordingError> {
        out.clear();
        loop {
            let rest = &self.bytes[self.pos..];
            if rest.is_empty() {
                return Ok(None);
            }
            let at = self.pos;
            let corrupt = |why: &str| RecordingError {
                line: 0,
                message: format!("byte {at}: {why}: the recording is corrupt"),
            };
            let Some((len, crc)) = rest.get(..8).map(|h| {
                let word = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
                (word(0) as usize, word(4))
            }) else {
                self.truncated = true;
                return Ok(None);
            };
            if len > MAX_FRAME_BYTES {
                return Err(corrupt("a frame's length is out of range"));
            }
            let Some(payload) = rest.get(8..8 + len) else {
                self.truncated = true;
                return Ok(None);
            };
            if crc32fast::hash(payload) != crc {
                return Err(corrupt("a frame's checksum does not match"));
            }
            let dbrp = self
                .decode(payload, out)
                .map_err(|why| corrupt(&format!("{why} in a frame")))?;
            self.pos += 8 + len;
            if !out.is_empty() {
                return Ok(Some(dbrp));
            }
        }
    }

    fn decode(&mut self, payload: &[u8], out: &mut Vec<Point>) -> Result<DbRp, Corrupt> {
        let mut c = Cursor {
            bytes: payload,
            pos: 0,
        };
        if c.u8()? & RESET != 0 {
            self.dbrps.clear();
            self.series.clear();
            self.keys.clear();
        }
        let dbrp = match c.len()? {
            id if id == self.dbrps.len() => {
                let dbrp = DbRp::new(c.str()?, c.str()?);
                self.dbrps.push(dbrp.clone());
                dbrp
            }
            id => self.dbrps.get(id).ok_or("an unknown dbrp")?.clone(),
        };
        let count = u32::from_le_bytes(c.take(4)?.try_into().map_err(|_| "frame ends early")?);
        out.reserve(count as usize);
        let mut time = 0i64;
        for _ in 0..count {
            let series = self.series(&mut c)?;
            let keys = self.key_list(&mut c)?;
            time = time.wrapping_add(unzigzag(c.varint()?));
            self.values.clear();
            for _ in 0..keys.len() {
                let value = match c.u8()? {
                    FLOAT => FieldValue::Float(f64::from_le_bytes(
                        c.take(8)?.try_into().map_err(|_| "frame ends early")?,
                    )),
                    INTEGER => FieldValue::Integer(unzigzag(c.varint()?)),
                    UNSIGNED => FieldValue::Unsigned(c.varint()?),
                    STRING => FieldValue::String(c.name()?),
                    FALSE => FieldValue::Boolean(false),
                    TRUE => FieldValue::Boolean(true),
                    _ => return Err("an unknown value type"),
                };
                self.values.push(value);
            }
            out.push(Point {
                series,
                fields: Fields::new(keys, self.values.drain(..).collect()),
                time,
            });
        }
        if c.pos != payload.len() {
            return Err("bytes after the last point");
        }
        Ok(dbrp)
    }

    fn series(&mut self, c: &mut Cursor<'_>) -> Result<Arc<Series>, Corrupt> {
        let id = c.len()?;
        if let Some(s) = self.series.get(id) {
            return Ok(s.clone());
        }
        if id != self.series.len() {
            return Err("an unknown series");
        }
        let measurement = c.name()?;
        let n = c.len()?;
        let mut tags = Vec::with_capacity(n.min(256));
        for _ in 0..n {
            tags.push((c.name()?, c.name()?));
        }
        let series = Arc::new(Series::new(measurement, tags).map_err(|_| "a bad series")?);
        self.series.push(series.clone());
        Ok(series)
    }

    fn key_list(&mut self, c: &mut Cursor<'_>) -> Result<Arc<[Name]>, Corrupt> {
        let id = c.len()?;
        if let Some(k) = self.keys.get(id) {
            return Ok(k.clone());
        }
        if id != self.keys.len() {
            return Err("an unknown key list");
        }
        let n = c.len()?;
        let mut keys = Vec::with_capacity(n.min(256));
        for _ in 0..n {
            keys.push(c.name()?);
        }
        let keys: Arc<[Name]> = keys.into();
        self.keys.push(keys.clone());
        Ok(keys)
    }
}
