//! The recording files under `<data_dir>/recordings/`: what a recording
//! writes and a replay reads.
//!
//! A stream recording (`ID.rec`) is, since version 2 ([`frames`]), a
//! header line and then each write's points as a binary frame with a
//! checksum: a live recording keeps up with ingest because nothing is
//! formatted as text, and a replay decodes it without parsing text. Version
//! 1 ([`text`], line protocol with `# dbrp` comments) is still read. A
//! batch recording (`ID.brec`, [`batch`]) is a batch of Kapacitor's
//! `.brpl` JSON per line.
//!
//! All are only ever appended whole frames or lines at a time, so a file
//! cut short (a crash, `kill -9`) holds a valid prefix: the readers keep
//! what is whole and ignore an unfinished tail.

use std::io;

use pipeline::{Batch, DbRp, Point};

use super::recording::RecordingError;

mod batch;
mod decoder;
mod encoder;
pub mod frames;
pub mod text;
mod writer;

pub use batch::{BATCH_HEADER, BatchReader, BatchWriter, scan_batches};
pub use encoder::{FrameEncoder, Full};
pub use frames::HEADER;
pub use writer::{StreamWriter, WRITE_BYTES};

/// What a recording file holds so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub bytes: u64,
    /// Points of a stream recording, batches of a batch recording.
    pub points: u64,
    pub first: Option<i64>,
    pub last: Option<i64>,
}

impl Stats {
    fn saw(&mut self, time: i64) {
        self.points += 1;
        self.first = Some(self.first.map_or(time, |f| f.min(time)));
        self.last = Some(self.last.map_or(time, |l| l.max(time)));
    }

    fn saw_batch(&mut self, batch: &Batch) {
        for p in &batch.points {
            self.saw(p.time);
        }
        self.points -= batch.points.len() as u64;
        self.points += 1;
    }
}

/// Why a write stopped.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(
        "the recording reached {max} bytes (replay.max_recording_bytes); it keeps the points before"
    )]
    Full { max: u64 },
    #[error("cannot write the recording: {0}")]
    Io(#[from] io::Error),
}

/// Reads a stream recording, of either version, a chunk of points at a
/// time.
pub enum StreamReader<'a> {
    Frames(frames::FrameReader<'a>),
    /// Boxed: the v1 text reader carries a line decoder, and old files are
    /// the rare case.
    Text(Box<text::TextReader<'a>>),
}

impl<'a> StreamReader<'a> {
    /// Checks the header.
    pub fn new(bytes: &'a [u8]) -> Result<Self, RecordingError> {
        let header_end = memchr::memchr(b'\n', bytes).unwrap_or(bytes.len());
        let body = (header_end + 1).min(bytes.len());
        match bytes[..header_end].trim_ascii_end() {
            h if h == frames::HEADER.as_bytes() => {
                Ok(StreamReader::Frames(frames::FrameReader::new(bytes, body)))
            }
            h if h == text::HEADER.as_bytes() => Ok(StreamReader::Text(Box::new(
                text::TextReader::new(bytes, body),
            ))),
            _ => Err(RecordingError {
                line: 1,
                message: format!("not a kapacitord stream recording (expected `{HEADER}`)"),
            }),
        }
    }

    /// Whether the file ended in an unfinished frame or line (a write cut
    /// short), which was ignored. Known once [`StreamReader::next_chunk`]
    /// returned `None`.
    pub fn truncated(&self) -> bool {
        match self {
            StreamReader::Frames(r) => r.truncated(),
            StreamReader::Text(r) => r.truncated,
        }
    }

    /// Bytes read so far: after the last chunk, the length of the valid
    /// prefix.
    pub fn valid_len(&self) -> usize {
        match self {
            StreamReader::Frames(r) => r.valid_len(),
            StreamReader::Text(r) => r.valid_len(),
        }
    }

    /// Decodes the next run of points of one database and retention
    /// policy into `out` (cleared first); `None` at the end.
    pub fn next_chunk(&mut self, out: &mut Vec<Point>) -> Result<Option<DbRp>, RecordingError> {
        match self {
            StreamReader::Frames(r) => r.next_chunk(out),
            StreamReader::Text(r) => r.next_chunk(out),
        }
    }
}

/// Reads a whole stream recording: its points and whether its tail was cut
/// short.
pub fn read_stream(bytes: &[u8]) -> Result<(Vec<(DbRp, Point)>, bool), RecordingError> {
    let mut reader = StreamReader::new(bytes)?;
    let mut all = Vec::new();
    let mut chunk = Vec::new();
    while let Some(dbrp) = reader.next_chunk(&mut chunk)? {
        all.extend(chunk.drain(..).map(|p| (dbrp.clone(), p)));
    }
    Ok((all, reader.truncated()))
}

/// Counts what a stream recording holds, and the length of its valid prefix
/// (for a recording interrupted by a crash).
pub fn scan_stream(bytes: &[u8]) -> Result<(Stats, usize), RecordingError> {
    let mut reader = StreamReader::new(bytes)?;
    let mut stats = Stats::default();
    let mut chunk = Vec::new();
    while reader.next_chunk(&mut chunk)?.is_some() {
        for p in &chunk {
            stats.saw(p.time);
        }
    }
    let len = reader.valid_len();
    stats.bytes = len as u64;
    Ok((stats, len))
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use ingest::lp::{DecodeOptions, Decoder};
    use pipeline::{FieldValue, Fields, Name, Series};

    use super::*;

    fn points(lp: &str) -> Vec<Point> {
        let mut out = Vec::new();
        let mut errors = Vec::new();
        Decoder::new().decode(
            lp.as_bytes(),
            &DecodeOptions {
                accept_unsigned: true,
                ..DecodeOptions::default()
            },
            &mut out,
            &mut errors,
        );
        assert!(errors.is_empty(), "{errors:?}");
        out
    }

    fn write(dir: &Path, max: u64) -> (std::path::PathBuf, Result<(), WriteError>) {
        let path = dir.join("r.rec");
        let _ = std::fs::remove_file(&path);
        let mut w = StreamWriter::create(&path, max).unwrap();
        let a = DbRp::new("telegraf", "autogen");
        let b = DbRp::new("my.db", "rp");
        let r = w
            .write(&a, &points("cpu,host=a v=1 10\ncpu,host=b v=2i 20\n"))
            .and_then(|()| w.write(&b, &points("mem s=\"x \\\"y\\\"\",ok=true,u=7u,n=-3i 30\n")))
            .and_then(|()| w.write(&a, &points("cpu,host=a v=3 40\n")));
        w.finish().unwrap();
        (path, r)
    }

    #[test]
    fn round_trip_keeps_dbrps_values_and_order() {
        let dir = tempfile::tempdir().unwrap();
        let (path, r) = write(dir.path(), u64::MAX);
        r.unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert!(bytes.starts_with(format!("{HEADER}\n").as_bytes()));
        let (read, truncated) = read_stream(&bytes).unwrap();
        assert!(!truncated);
        let lines: Vec<String> = read.iter().map(|(d, p)| format!("{d} {p}")).collect();
        assert_eq!(
            lines,
            [
                "telegraf.autogen cpu,host=a v=1 10",
                "telegraf.autogen cpu,host=b v=2i 20",
                "\"my.db\".rp mem s=\"x \\\"y\\\"\",ok=true,u=7u,n=-3i 30",
                "telegraf.autogen cpu,host=a v=3 40",
            ]
        );
        let (stats, len) = scan_stream(&bytes).unwrap();
        assert_eq!(len, bytes.len());
        assert_eq!(
            (stats.points, stats.first, stats.last, stats.bytes),
            (4, Some(10), Some(40), bytes.len() as u64)
        );
    }

    #[test]
    fn series_and_keys_are_numbered_by_content_whatever_their_arc() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.rec");
        let mut w = StreamWriter::create(&path, u64::MAX).unwrap();
        let series =
            |h: &str| Arc::new(Series::new("cpu".into(), vec![("host".into(), h.into())]).unwrap());
        let keys = |k: &[&str]| -> Arc<[Name]> { k.iter().map(|k| Name::from(*k)).collect() };
        let point = |s: &Arc<Series>, k: &Arc<[Name]>, time: i64| Point {
            series: s.clone(),
            fields: Fields::new(
                k.clone(),
                (0..k.len())
                    .map(|i| FieldValue::Float(i as f64 + 0.5))
                    .collect(),
            ),
            time,
        };
        let (a1, a2, b) = (series("a"), series("a"), series("b"));
        let (k1, k2, k3) = (keys(&["x"]), keys(&["x"]), keys(&["x", "y"]));
        let written = vec![
            point(&a1, &k1, 5),
            point(&a2, &k2, 3),
            point(&a1, &k3, -7),
            point(&b, &k1, i64::MAX),
            point(&a1, &k1, i64::MIN),
        ];
        let dbrp = DbRp::new("d", "r");
        w.write(&dbrp, &written).unwrap();
        w.write(&dbrp, &written[..2]).unwrap();
        let size = w.finish().unwrap().bytes;
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(size, bytes.len() as u64);
        let (read, _) = read_stream(&bytes).unwrap();
        let read: Vec<Point> = read.into_iter().map(|(_, p)| p).collect();
        assert_eq!(read[..5], written[..]);
        assert_eq!(read[5..], written[..2]);
        // One series for a1 and a2: the reader shares it.
        assert!(Arc::ptr_eq(&read[0].series, &read[1].series));
    }

    #[test]
    fn many_series_start_the_numbering_over_and_still_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.rec");
        let mut w = StreamWriter::create(&path, u64::MAX).unwrap();
        let dbrp = DbRp::new("d", "r");
        let mut lp = String::new();
        for i in 0..450_000 {
            lp.push_str(&format!("m,s={i} v={i}i {i}\n"));
        }
        let written = points(&lp);
        w.write(&dbrp, &written).unwrap();
        w.finish().unwrap();
        let (read, _) = read_stream(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(read.len(), written.len());
        assert!(read.iter().map(|(_, p)| p).eq(written.iter()));
    }

    #[test]
    fn a_cut_file_reads_as_its_whole_frames() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = write(dir.path(), u64::MAX);
        let bytes = std::fs::read(&path).unwrap();
        // Every cut reads back as a prefix of the points, never an error.
        let (mut seen, mut whole) = (0, 0);
        for cut in HEADER.len() + 1..bytes.len() {
            let (read, truncated) =
                read_stream(&bytes[..cut]).unwrap_or_else(|e| panic!("cut {cut}: {e}"));
            assert!(read.len() >= seen, "cut {cut}");
            whole += usize::from(!truncated);
            seen = read.len();
        }
        // Only the cuts between frames (one per write) are not cut short.
        assert_eq!(whole, 3);
        let (read, truncated) = read_stream(&bytes[..bytes.len() - 3]).unwrap();
        assert!(truncated);
        assert_eq!(read.len(), 3);
        let (stats, len) = scan_stream(&bytes[..bytes.len() - 3]).unwrap();
        assert_eq!(stats.points, 3);
        assert_eq!(read_stream(&bytes[..len]).unwrap(), (read, false));
    }

    #[test]
    fn the_size_limit_keeps_what_fits() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = write(dir.path(), u64::MAX);
        let whole = std::fs::metadata(&path).unwrap().len();
        let (path, r) = write(dir.path(), whole - 1);
        assert!(matches!(r, Err(WriteError::Full { max }) if max == whole - 1));
        let bytes = std::fs::read(&path).unwrap();
        assert!((bytes.len() as u64) < whole);
        assert_eq!(read_stream(&bytes).unwrap().0.len(), 3);
    }

    #[test]
    fn corruption_is_an_error_that_says_where() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = write(dir.path(), u64::MAX);
        let bytes = std::fs::read(&path).unwrap();
        let mut bad = bytes.clone();
        bad[HEADER.len() + 20] ^= 0x40;
        let err = read_stream(&bad).unwrap_err();
        assert!(
            err.to_string()
                .starts_with(&format!("byte {}: ", HEADER.len() + 1))
                && err.to_string().contains("corrupt"),
            "{err}"
        );
        let err = read_stream(b"cpu v=1 1\n").unwrap_err();
        assert_eq!(err.line, 1);
        assert!(err.message.contains("not a kapacitord stream recording"));
    }

    #[test]
    fn damaged_or_forged_files_are_errors_never_panics() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = write(dir.path(), u64::MAX);
        let bytes = std::fs::read(&path).unwrap();
        for at in HEADER.len() + 1..bytes.len() {
            for bit in [0x01, 0x80] {
                let mut bad = bytes.clone();
                bad[at] ^= bit;
                let _ = read_stream(&bad);
            }
        }
        // Frames whose checksums match but whose payloads are noise: only a
        // writer's bug or a forged file has them.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for n in 0..5_000 {
            let mut file = format!("{HEADER}\n").into_bytes();
            for _ in 0..1 + n % 3 {
                let payload: Vec<u8> = (0..n % 40)
                    .map(|_| {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        // Small values, so ids and lengths often look valid.
                        (state % 7) as u8
                    })
                    .collect();
                file.extend_from_slice(&(payload.len() as u32).to_le_bytes());
                file.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
                file.extend_from_slice(&payload);
            }
            let _ = read_stream(&file);
        }
    }
}
