//! Version 2 of the stream recording file: a header line, then binary
//! frames, each the points of one write (at most [`MAX_FRAME_POINTS`]) of
//! one database and retention policy:
//!
//! ```text
//! frame   = len:u32le crc32(payload):u32le payload
//! payload = flags:u8 count:u32le dbrp point*
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

use std::ops::Range;

use pipeline::{DbRp, Name, Point};

use super::super::recording::RecordingError;
pub use super::decoder::FrameDecoder;

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

pub fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

/// What is wrong inside a frame whose checksum matched: only a writer's bug
/// or a forged file gets here.
pub type Corrupt = &'static str;

/// Reads a frame's payload.
pub(super) struct Cursor<'b> {
    pub bytes: &'b [u8],
    pub pos: usize,
}

impl<'b> Cursor<'b> {
    pub fn take(&mut self, n: usize) -> Result<&'b [u8], Corrupt> {
        let end = self.pos.checked_add(n).ok_or("length out of range")?;
        let s = self.bytes.get(self.pos..end).ok_or("frame ends early")?;
        self.pos = end;
        Ok(s)
    }

    pub fn u8(&mut self) -> Result<u8, Corrupt> {
        Ok(self.take(1)?[0])
    }

    pub fn u32(&mut self) -> Result<u32, Corrupt> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn f64(&mut self) -> Result<f64, Corrupt> {
        let b = self.take(8)?;
        Ok(f64::from_le_bytes([
            b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
        ]))
    }

    pub fn varint(&mut self) -> Result<u64, Corrupt> {
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

    pub fn len(&mut self) -> Result<usize, Corrupt> {
        usize::try_from(self.varint()?).map_err(|_| "length out of range")
    }

    pub fn str(&mut self) -> Result<&'b str, Corrupt> {
        let n = self.len()?;
        std::str::from_utf8(self.take(n)?).map_err(|_| "a name is not UTF-8")
    }

    pub fn name(&mut self) -> Result<Name, Corrupt> {
        self.str().map(Name::from)
    }
}

/// A whole frame whose checksum matched.
#[derive(Clone, Debug)]
pub struct Frame {
    /// Where it starts in the file.
    pub at: usize,
    /// Its payload's place in the file.
    pub payload: Range<usize>,
    /// Its points.
    pub points: u32,
}

/// The error for corruption found at byte `at`.
pub fn corrupt(at: usize, why: &str) -> RecordingError {
    RecordingError {
        line: 0,
        message: format!("byte {at}: {why}: the recording is corrupt"),
    }
}

/// Reads a version 2 recording a frame at a time.
pub struct FrameReader<'a> {
    bytes: &'a [u8],
    pos: usize,
    decoder: FrameDecoder,
    truncated: bool,
}

impl<'a> FrameReader<'a> {
    /// `body` starts after the header line.
    pub(super) fn new(bytes: &'a [u8], body: usize) -> Self {
        FrameReader {
            bytes,
            pos: body,
            decoder: FrameDecoder::default(),
            truncated: false,
        }
    }

    /// Bytes of whole frames read so far.
    pub fn valid_len(&self) -> usize {
        self.pos
    }

    /// Whether the file ended in part of a frame (a write cut short),
    /// which was ignored. Known once [`FrameReader::next_frame`] returned
    /// `None`.
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// The next whole frame, its checksum checked; `None` at the end, or at
    /// a frame cut short. Its points are for a [`FrameDecoder`] that saw
    /// every frame before it.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, RecordingError> {
        let at = self.pos;
        let rest = &self.bytes[at..];
        if rest.is_empty() {
            return Ok(None);
        }
        let Some((len, crc)) = rest.get(..8).map(|h| {
            let word = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
            (word(0) as usize, word(4))
        }) else {
            self.truncated = true;
            return Ok(None);
        };
        if len > MAX_FRAME_BYTES {
            return Err(corrupt(at, "a frame's length is out of range"));
        }
        let Some(payload) = rest.get(8..8 + len) else {
            self.truncated = true;
            return Ok(None);
        };
        if crc32fast::hash(payload) != crc {
            return Err(corrupt(at, "a frame's checksum does not match"));
        }
        let points = payload
            .get(1..5)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or_else(|| corrupt(at, "a frame ends early"))?;
        self.pos += 8 + len;
        Ok(Some(Frame {
            at,
            payload: at + 8..at + 8 + len,
            points,
        }))
    }

    /// Decodes the next frame's points into `out` (cleared first); `None`
    /// at the end, or at a frame cut short.
    pub(super) fn next_chunk(
        &mut self,
        out: &mut Vec<Point>,
    ) -> Result<Option<DbRp>, RecordingError> {
        out.clear();
        while let Some(frame) = self.next_frame()? {
            let dbrp = self
                .decoder
                .decode(&self.bytes[frame.payload.clone()], out)
                .map_err(|why| corrupt(frame.at, &format!("{why} in a frame")))?;
            if !out.is_empty() {
                return Ok(Some(dbrp));
            }
        }
        Ok(None)
    }
}
