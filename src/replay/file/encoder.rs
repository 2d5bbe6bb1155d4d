//! Encodes points as version 2 frames ([`super::frames`]), numbering series
//! and key lists as it meets them. Used by [`super::StreamWriter`] and by a
//! live recording, which encodes each write on the thread that decoded it,
//! while its points are still in the cache.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::Arc;

use foldhash::fast::RandomState;
use pipeline::{DbRp, FieldValue, Name, Point, Series, Table};

use super::Stats;
use super::frames::{
    FALSE, FLOAT, HEADER, INTEGER, MAX_FRAME_POINTS, RESET, STRING, TRUE, UNSIGNED, put_str,
    put_varint, zigzag,
};

/// Series numbered before the numbering starts over, so that a long
/// recording under tag churn keeps bounded memory.
const MAX_SERIES: usize = 200_000;
/// Key lists likewise.
const MAX_KEY_LISTS: usize = 20_000;
/// Points ahead whose numbers' slot is fetched into the cache.
const PREFETCH_AHEAD: usize = 8;

/// The numbers of a series and of its last point's key list, which the
/// next point of the series nearly always shares (the list is kept, so its
/// address stays its own).
struct Numbered {
    series: u32,
    keys: u32,
    key_list: Arc<[Name]>,
}

/// The numbering of series, key lists and dbrps so far.
#[derive(Default)]
struct Numbers {
    /// By address: the decoder shares one `Arc` among a series' points, so
    /// most points are numbered by one lookup of a word, in a table small
    /// enough to stay near the core, its slot fetched a few points ahead.
    by_address: Table<NonZeroUsize, Numbered>,
    /// Keeps the addresses in `by_address` their own.
    held: Vec<Arc<Series>>,
    /// By content: the same series or key list met through another `Arc`
    /// (another connection's decoder) keeps its number.
    series: HashMap<Arc<Series>, u32, RandomState>,
    key_lists: HashMap<Arc<[Name]>, u32, RandomState>,
    dbrps: Vec<DbRp>,
}

fn address<T: ?Sized>(arc: &Arc<T>) -> NonZeroUsize {
    NonZeroUsize::new(Arc::as_ptr(arc).cast::<u8>() as usize).expect("an Arc is never null")
}

impl Numbers {
    fn too_many(&self) -> bool {
        self.series.len() > MAX_SERIES
            || self.held.len() > 2 * MAX_SERIES
            || self.key_lists.len() > MAX_KEY_LISTS
    }

    fn dbrp(&mut self, buf: &mut Vec<u8>, dbrp: &DbRp) {
        match self.dbrps.iter().position(|d| d == dbrp) {
            Some(id) => put_varint(buf, id as u64),
            None => {
                put_varint(buf, self.dbrps.len() as u64);
                put_str(buf, &dbrp.db);
                put_str(buf, &dbrp.rp);
                self.dbrps.push(dbrp.clone());
            }
        }
    }

    /// Brings `point`'s slot and values into the cache: by the time the
    /// encoder gets to it, the points of a large write decoded before it
    /// have left the core's caches.
    fn prefetch(&self, point: &Point) {
        self.by_address.prefetch(&address(&point.series));
        pipeline::prefetch(point.fields.values().as_ptr());
    }

    /// Writes the numbers of `point`'s series and key list, each followed
    /// by its definition when new.
    fn series_and_keys(&mut self, buf: &mut Vec<u8>, point: &Point) {
        let keys = point.fields.keys();
        let at = address(&point.series);
        if let Some(n) = self.by_address.get_mut(&at) {
            put_varint(buf, u64::from(n.series));
            if !Arc::ptr_eq(&n.key_list, keys) {
                n.keys = Self::key_list(&mut self.key_lists, buf, keys);
                n.key_list = keys.clone();
            } else {
                put_varint(buf, u64::from(n.keys));
            }
            return;
        }
        let next = self.series.len() as u32;
        let id = *self.series.entry(point.series.clone()).or_insert(next);
        put_varint(buf, u64::from(id));
        if id == next {
            let s = &point.series;
            put_str(buf, s.measurement());
            put_varint(buf, s.tags().len() as u64);
            for (k, v) in s.tags().iter() {
                put_str(buf, k);
                put_str(buf, v);
            }
        }
        let keys_id = Self::key_list(&mut self.key_lists, buf, keys);
        self.by_address.insert(
            at,
            Numbered {
                series: id,
                keys: keys_id,
                key_list: keys.clone(),
            },
        );
        self.held.push(point.series.clone());
    }

    fn key_list(
        lists: &mut HashMap<Arc<[Name]>, u32, RandomState>,
        buf: &mut Vec<u8>,
        keys: &Arc<[Name]>,
    ) -> u32 {
        let next = lists.len() as u32;
        let id = *lists.entry(keys.clone()).or_insert(next);
        put_varint(buf, u64::from(id));
        if id == next {
            put_varint(buf, keys.len() as u64);
            for k in keys.iter() {
                put_str(buf, k);
            }
        }
        id
    }
}

fn put_values(buf: &mut Vec<u8>, values: &[FieldValue]) {
    for v in values {
        match v {
            FieldValue::Float(f) => {
                buf.push(FLOAT);
                buf.extend_from_slice(&f.to_le_bytes());
            }
            FieldValue::Integer(i) => {
                buf.push(INTEGER);
                put_varint(buf, zigzag(*i));
            }
            FieldValue::Unsigned(u) => {
                buf.push(UNSIGNED);
                put_varint(buf, *u);
            }
            FieldValue::String(s) => {
                buf.push(STRING);
                put_str(buf, s);
            }
            FieldValue::Boolean(b) => buf.push(if *b { TRUE } else { FALSE }),
        }
    }
}

/// The recording reached its size limit: what fit was encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full {
    pub max: u64,
}

/// Encodes a recording's frames, in the order they go into its file.
pub struct FrameEncoder {
    numbers: Numbers,
    stats: Stats,
    max_bytes: u64,
    full: bool,
}

impl FrameEncoder {
    /// An encoder for a file of at most `max_bytes`, header included.
    pub fn new(max_bytes: u64) -> Self {
        FrameEncoder {
            numbers: Numbers::default(),
            stats: Stats {
                bytes: HEADER.len() as u64 + 1,
                ..Stats::default()
            },
            max_bytes,
            full: false,
        }
    }

    /// The header line, which the file starts with.
    pub fn header() -> String {
        format!("{HEADER}\n")
    }

    /// What the file holds once everything encoded so far is written.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Appends `points` of `dbrp` to `out` as frames. At the size limit,
    /// encodes the points that fit and fails, as every call after does.
    pub fn encode(&mut self, dbrp: &DbRp, points: &[Point], out: &mut Vec<u8>) -> Result<(), Full> {
        for chunk in points.chunks(MAX_FRAME_POINTS) {
            if self.full {
                break;
            }
            self.frame(dbrp, chunk, out);
        }
        if self.full {
            return Err(Full {
                max: self.max_bytes,
            });
        }
        Ok(())
    }

    /// Encodes one frame: as many of `points` as fit under the size limit
    /// (all but at the limit).
    fn frame(&mut self, dbrp: &DbRp, points: &[Point], buf: &mut Vec<u8>) {
        let start = buf.len();
        let mut flags = 0;
        if self.numbers.too_many() {
            self.numbers = Numbers::default();
            flags |= RESET;
        }
        buf.reserve(64 + points.len() * 48);
        buf.extend_from_slice(&[0; 8]);
        buf.push(flags);
        let count_at = buf.len();
        buf.extend_from_slice(&[0; 4]);
        self.numbers.dbrp(buf, dbrp);
        let (mut count, mut time) = (0u32, 0i64);
        let room = self.max_bytes.saturating_sub(self.stats.bytes);
        for (i, point) in points.iter().enumerate() {
            if let Some(ahead) = points.get(i + PREFETCH_AHEAD) {
                self.numbers.prefetch(ahead);
            }
            let before = buf.len();
            self.numbers.series_and_keys(buf, point);
            put_varint(buf, zigzag(point.time.wrapping_sub(time)));
            put_values(buf, point.fields.values());
            if (buf.len() - start) as u64 > room {
                // The numbers it defined are not in the file, but nothing
                // more is encoded after this.
                buf.truncate(before);
                self.full = true;
                break;
            }
            time = point.time;
            count += 1;
            self.stats.saw(point.time);
        }
        if count == 0 {
            buf.truncate(start);
            return;
        }
        buf[count_at..count_at + 4].copy_from_slice(&count.to_le_bytes());
        let len = buf.len() - start - 8;
        let crc = crc32fast::hash(&buf[start + 8..]);
        buf[start..start + 4].copy_from_slice(&(len as u32).to_le_bytes());
        buf[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
        self.stats.bytes += (len + 8) as u64;
    }
}
