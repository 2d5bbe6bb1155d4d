//! The stream recording file, `<data_dir>/recordings/ID.rec`: what a live
//! recording or an import writes, and what a replay reads.
//!
//! It is line protocol with nanosecond timestamps, so a user can read it
//! (and write it to InfluxDB, which skips the comments): a header comment,
//! then a `# dbrp DB.RP` comment before the points of each database and
//! retention policy. Points are only ever appended, one whole line each, so
//! a file cut short (a crash, `kill -9`) holds a valid prefix: the reader
//! keeps every line that ends in a newline and ignores an unterminated
//! tail.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufWriter, Write as _};
use std::path::Path;

use ingest::lp::{DecodeOptions, Decoder, Precision, next_line_end};
use pipeline::{DbRp, Point};

use super::recording::RecordingError;

/// The first line of every stream recording.
pub const HEADER: &str = "# kapacitord stream recording v1";
/// Starts the line naming the database and retention policy of the points
/// after it.
const DBRP_LINE: &str = "# dbrp ";
/// Bytes of lines decoded at a time when reading.
const CHUNK_BYTES: usize = 256 << 10;

/// What a recording file holds so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub bytes: u64,
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

/// Appends points to a new stream recording file.
pub struct StreamWriter {
    out: BufWriter<File>,
    dbrp: Option<DbRp>,
    line: String,
    stats: Stats,
    max_bytes: u64,
}

impl StreamWriter {
    /// Creates `path` (which must not exist) with its header; the file may
    /// grow to `max_bytes`.
    pub fn create(path: &Path, max_bytes: u64) -> io::Result<Self> {
        let file = File::options().write(true).create_new(true).open(path)?;
        let mut out = BufWriter::with_capacity(64 << 10, file);
        out.write_all(HEADER.as_bytes())?;
        out.write_all(b"\n")?;
        Ok(StreamWriter {
            out,
            dbrp: None,
            line: String::new(),
            stats: Stats {
                bytes: HEADER.len() as u64 + 1,
                ..Stats::default()
            },
            max_bytes,
        })
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Appends `points` of `dbrp`. At the size limit, writes the points that
    /// fit and fails with [`WriteError::Full`].
    pub fn write(&mut self, dbrp: &DbRp, points: &[Point]) -> Result<(), WriteError> {
        for point in points {
            self.line.clear();
            if self.dbrp.as_ref() != Some(dbrp) {
                let _ = writeln!(self.line, "{DBRP_LINE}{dbrp}");
            }
            let _ = writeln!(self.line, "{point}");
            let len = self.line.len() as u64;
            if self.stats.bytes + len > self.max_bytes {
                return Err(WriteError::Full {
                    max: self.max_bytes,
                });
            }
            self.out.write_all(self.line.as_bytes())?;
            if self.dbrp.as_ref() != Some(dbrp) {
                self.dbrp = Some(dbrp.clone());
            }
            self.stats.bytes += len;
            self.stats.saw(point.time);
        }
        Ok(())
    }

    /// Hands what is buffered to the OS, so a crash of the daemon loses none
    /// of it.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Flushes and syncs the file to disk.
    pub fn finish(mut self) -> io::Result<Stats> {
        self.out.flush()?;
        self.out.get_ref().sync_all()?;
        Ok(self.stats)
    }
}

/// Reads a stream recording a chunk of points at a time.
pub struct StreamReader<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// 1-based number of the line at `pos`.
    line_no: usize,
    dbrp: Option<DbRp>,
    decoder: Decoder,
    truncated: bool,
}

impl<'a> StreamReader<'a> {
    /// Checks the header.
    pub fn new(bytes: &'a [u8]) -> Result<Self, RecordingError> {
        let header_end = memchr::memchr(b'\n', bytes).unwrap_or(bytes.len());
        if bytes[..header_end].trim_ascii_end() != HEADER.as_bytes() {
            return Err(RecordingError {
                line: 1,
                message: format!("not a kapacitord stream recording (expected `{HEADER}`)"),
            });
        }
        Ok(StreamReader {
            bytes,
            pos: (header_end + 1).min(bytes.len()),
            line_no: 2,
            dbrp: None,
            decoder: Decoder::new(),
            truncated: false,
        })
    }

    /// Whether the file ended in an unterminated line (a write cut short),
    /// which was ignored. Known once [`StreamReader::next_chunk`] returned
    /// `None`.
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// Bytes of whole lines read so far: after the last chunk, the length of
    /// the valid prefix.
    pub fn valid_len(&self) -> usize {
        self.pos
    }

    /// Decodes the next run of points of one database and retention
    /// policy into `out` (cleared first); `None` at the end.
    pub fn next_chunk(&mut self, out: &mut Vec<Point>) -> Result<Option<DbRp>, RecordingError> {
        out.clear();
        loop {
            if self.pos >= self.bytes.len() {
                return Ok(None);
            }
            let start = self.pos;
            let first_line = self.line_no;
            let mut end = start;
            let mut next_dbrp = None;
            while end < self.bytes.len() && end - start < CHUNK_BYTES {
                let Some(line_end) = next_line_end(self.bytes, end) else {
                    // No newline ends it: the tail of a write cut short.
                    self.truncated = true;
                    self.bytes = &self.bytes[..end];
                    break;
                };
                let line = &self.bytes[end..line_end];
                if let Some(rest) = line.strip_prefix(DBRP_LINE.as_bytes()) {
                    next_dbrp = Some((rest, line_end));
                    break;
                }
                end = line_end + 1;
            }
            // Every line taken ends in a newline: one count for them all.
            self.line_no += memchr::memchr_iter(b'\n', &self.bytes[start..end]).count();
            self.pos = end;
            let chunk_dbrp = self.dbrp.clone();
            if end > start {
                let Some(dbrp) = &chunk_dbrp else {
                    return Err(RecordingError {
                        line: first_line,
                        message: "points before the first `# dbrp` line".into(),
                    });
                };
                let mut errors = Vec::new();
                self.decoder.decode(
                    &self.bytes[start..end],
                    &DecodeOptions {
                        precision: Precision::Nanosecond,
                        now_ns: 0,
                        accept_unsigned: true,
                    },
                    out,
                    &mut errors,
                );
                if let Some(e) = errors.first() {
                    return Err(RecordingError {
                        line: first_line + e.line - 1,
                        message: format!("{e} (in {dbrp})"),
                    });
                }
            }
            if let Some((rest, line_end)) = next_dbrp {
                let text = String::from_utf8_lossy(rest);
                let dbrp = text.trim().parse::<DbRp>().map_err(|e| RecordingError {
                    line: self.line_no,
                    message: e.to_string(),
                })?;
                self.dbrp = Some(dbrp);
                self.pos = line_end + 1;
                self.line_no += 1;
            }
            if !out.is_empty() {
                return Ok(chunk_dbrp);
            }
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
    use super::*;

    fn points(lp: &str) -> Vec<Point> {
        let mut out = Vec::new();
        let mut errors = Vec::new();
        Decoder::new().decode(
            lp.as_bytes(),
            &DecodeOptions::default(),
            &mut out,
            &mut errors,
        );
        assert!(errors.is_empty(), "{errors:?}");
        out
    }

    fn write(dir: &Path, max: u64) -> (std::path::PathBuf, Result<(), WriteError>) {
        let path = dir.join("r.rec");
        let mut w = StreamWriter::create(&path, max).unwrap();
        let a = DbRp::new("telegraf", "autogen");
        let b = DbRp::new("my.db", "rp");
        let r = w
            .write(&a, &points("cpu,host=a v=1 10\ncpu,host=b v=2i 20\n"))
            .and_then(|()| w.write(&b, &points("mem s=\"x \\\"y\\\"\",ok=true 30\n")))
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
        let (read, truncated) = read_stream(&bytes).unwrap();
        assert!(!truncated);
        let lines: Vec<String> = read.iter().map(|(d, p)| format!("{d} {p}")).collect();
        assert_eq!(
            lines,
            [
                "telegraf.autogen cpu,host=a v=1 10",
                "telegraf.autogen cpu,host=b v=2i 20",
                "\"my.db\".rp mem s=\"x \\\"y\\\"\",ok=true 30",
                "telegraf.autogen cpu,host=a v=3 40",
            ]
        );
        let (stats, len) = scan_stream(&bytes).unwrap();
        assert_eq!(len, bytes.len());
        assert_eq!(
            (stats.points, stats.first, stats.last),
            (4, Some(10), Some(40))
        );
    }

    #[test]
    fn a_cut_file_reads_as_its_whole_lines() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = write(dir.path(), u64::MAX);
        let bytes = std::fs::read(&path).unwrap();
        // Every cut reads back as a prefix of the points, never an error.
        let mut seen = 0;
        for cut in HEADER.len() + 1..bytes.len() {
            let (read, _) = read_stream(&bytes[..cut]).unwrap_or_else(|e| panic!("cut {cut}: {e}"));
            assert!(read.len() >= seen, "cut {cut}");
            seen = read.len();
        }
        let (read, truncated) = read_stream(&bytes[..bytes.len() - 3]).unwrap();
        assert!(truncated);
        assert_eq!(read.len(), 3);
        let (stats, len) = scan_stream(&bytes[..bytes.len() - 3]).unwrap();
        assert_eq!(stats.points, 3);
        assert_eq!(bytes[len - 1], b'\n');
    }

    #[test]
    fn the_size_limit_keeps_what_fits() {
        let dir = tempfile::tempdir().unwrap();
        let (path, r) = write(dir.path(), 100);
        assert!(matches!(r, Err(WriteError::Full { max: 100 })));
        let bytes = std::fs::read(&path).unwrap();
        assert!(bytes.len() <= 100);
        assert_eq!(read_stream(&bytes).unwrap().0.len(), 2);
    }

    #[test]
    fn errors_name_the_line() {
        let text = format!("{HEADER}\n# dbrp a.b\ncpu v=1 1\ncpu v= 2\n");
        let err = read_stream(text.as_bytes()).unwrap_err();
        assert_eq!(err.line, 4, "{err}");
        let err = read_stream(b"cpu v=1 1\n").unwrap_err();
        assert_eq!(err.line, 1);
        assert!(err.message.contains("not a kapacitord stream recording"));
        let err = read_stream(format!("{HEADER}\ncpu v=1 1\n").as_bytes()).unwrap_err();
        assert_eq!(err.line, 2, "{err}");
    }
}
