//! The recording files under `<data_dir>/recordings/`: what a recording
//! writes and a replay reads.
//!
//! A stream recording (`ID.rec`) is line protocol with nanosecond
//! timestamps, so a user can read it (and write it to InfluxDB, which skips
//! the comments): a header comment, then a `# dbrp DB.RP` comment before
//! the points of each database and retention policy.
//!
//! A batch recording (`ID.brec`) is a header comment, then one batch per
//! line in Kapacitor's `.brpl` JSON, with a `# query N` comment before the
//! batches that feed the task's N-th query node (0 when there is none).
//!
//! Both are only ever appended, one whole line at a time, so a file cut
//! short (a crash, `kill -9`) holds a valid prefix: the readers keep every
//! line that ends in a newline and ignore an unterminated tail.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufWriter, Write as _};
use std::path::Path;

use ingest::lp::{DecodeOptions, Decoder, Precision, next_line_end};
use pipeline::{Batch, DbRp, Point};

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

/// A recording file being appended to, whole lines at a time, up to a
/// size: what both writers share.
struct Appender {
    out: BufWriter<File>,
    stats: Stats,
    max_bytes: u64,
}

impl Appender {
    /// Creates `path` (which must not exist) with its `header` line, handed
    /// to the OS at once: a file cut before its first flush still reads as
    /// a recording.
    fn create(path: &Path, header: &str, max_bytes: u64) -> io::Result<Self> {
        let file = File::options().write(true).create_new(true).open(path)?;
        let mut out = BufWriter::with_capacity(64 << 10, file);
        writeln!(out, "{header}")?;
        out.flush()?;
        Ok(Appender {
            out,
            stats: Stats {
                bytes: header.len() as u64 + 1,
                ..Stats::default()
            },
            max_bytes,
        })
    }

    /// Appends `text` (whole lines), or fails with [`WriteError::Full`]
    /// when the file would grow past its size.
    fn append(&mut self, text: &str) -> Result<(), WriteError> {
        let len = text.len() as u64;
        if self.stats.bytes + len > self.max_bytes {
            return Err(WriteError::Full {
                max: self.max_bytes,
            });
        }
        self.out.write_all(text.as_bytes())?;
        self.stats.bytes += len;
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn finish(mut self) -> io::Result<Stats> {
        self.out.flush()?;
        self.out.get_ref().sync_all()?;
        Ok(self.stats)
    }
}

/// Appends points to a new stream recording file.
pub struct StreamWriter {
    file: Appender,
    dbrp: Option<DbRp>,
    line: String,
}

impl StreamWriter {
    /// Creates `path` (which must not exist) with its header; the file may
    /// grow to `max_bytes`.
    pub fn create(path: &Path, max_bytes: u64) -> io::Result<Self> {
        Ok(StreamWriter {
            file: Appender::create(path, HEADER, max_bytes)?,
            dbrp: None,
            line: String::new(),
        })
    }

    pub fn stats(&self) -> Stats {
        self.file.stats
    }

    /// Appends `points` of `dbrp`. At the size limit, writes the points that
    /// fit and fails with [`WriteError::Full`].
    pub fn write(&mut self, dbrp: &DbRp, points: &[Point]) -> Result<(), WriteError> {
        for point in points {
            self.line.clear();
            let new_dbrp = self.dbrp.as_ref() != Some(dbrp);
            if new_dbrp {
                let _ = writeln!(self.line, "{DBRP_LINE}{dbrp}");
            }
            let _ = writeln!(self.line, "{point}");
            self.file.append(&self.line)?;
            if new_dbrp {
                self.dbrp = Some(dbrp.clone());
            }
            self.file.stats.saw(point.time);
        }
        Ok(())
    }

    /// Hands what is buffered to the OS, so a crash of the daemon loses none
    /// of it.
    pub fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }

    /// Flushes and syncs the file to disk.
    pub fn finish(self) -> io::Result<Stats> {
        self.file.finish()
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

/// The first line of every batch recording.
pub const BATCH_HEADER: &str = "# kapacitord batch recording v1";
/// Starts the line naming the query node the batches after it feed.
const QUERY_LINE: &str = "# query ";

/// Appends batches to a new batch recording file.
pub struct BatchWriter {
    file: Appender,
    query: usize,
    line: String,
}

impl BatchWriter {
    /// Creates `path` (which must not exist) with its header; the file may
    /// grow to `max_bytes`.
    pub fn create(path: &Path, max_bytes: u64) -> io::Result<Self> {
        Ok(BatchWriter {
            file: Appender::create(path, BATCH_HEADER, max_bytes)?,
            query: 0,
            line: String::new(),
        })
    }

    pub fn stats(&self) -> Stats {
        self.file.stats
    }

    /// Appends `batch`, which feeds the task's `query`-th query node. A
    /// batch with no points is not written (a replay would skip it).
    pub fn write(&mut self, query: usize, batch: &Batch) -> Result<(), WriteError> {
        if batch.points.is_empty() {
            return Ok(());
        }
        self.line.clear();
        if query != self.query {
            let _ = writeln!(self.line, "{QUERY_LINE}{query}");
        }
        super::recording::write_brpl_line(batch, &mut self.line);
        self.line.push('\n');
        self.file.append(&self.line)?;
        self.query = query;
        self.file.stats.saw_batch(batch);
        Ok(())
    }

    /// Hands what is buffered to the OS.
    pub fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }

    /// Flushes and syncs the file to disk.
    pub fn finish(self) -> io::Result<Stats> {
        self.file.finish()
    }
}

/// Reads a batch recording one batch at a time.
pub struct BatchReader<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// 1-based number of the line at `pos`.
    line_no: usize,
    query: usize,
    truncated: bool,
}

impl<'a> BatchReader<'a> {
    /// Checks the header.
    pub fn new(bytes: &'a [u8]) -> Result<Self, RecordingError> {
        let header_end = memchr::memchr(b'\n', bytes).unwrap_or(bytes.len());
        if bytes[..header_end].trim_ascii_end() != BATCH_HEADER.as_bytes() {
            return Err(RecordingError {
                line: 1,
                message: format!("not a kapacitord batch recording (expected `{BATCH_HEADER}`)"),
            });
        }
        Ok(BatchReader {
            bytes,
            pos: (header_end + 1).min(bytes.len()),
            line_no: 2,
            query: 0,
            truncated: false,
        })
    }

    /// Whether the file ended in an unterminated line, which was ignored.
    /// Known once [`BatchReader::next_batch`] returned `None`.
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// Bytes of whole lines read so far.
    pub fn valid_len(&self) -> usize {
        self.pos
    }

    /// The next batch and the index of the query node it feeds; `None` at
    /// the end.
    pub fn next_batch(&mut self) -> Result<Option<(usize, Batch)>, RecordingError> {
        while self.pos < self.bytes.len() {
            let Some(end) = memchr::memchr(b'\n', &self.bytes[self.pos..]).map(|n| self.pos + n)
            else {
                // No newline ends it: the tail of a write cut short.
                self.truncated = true;
                self.bytes = &self.bytes[..self.pos];
                break;
            };
            let line_no = self.line_no;
            let bad = |message: String| RecordingError {
                line: line_no,
                message,
            };
            let line = std::str::from_utf8(&self.bytes[self.pos..end])
                .map_err(|e| bad(format!("not UTF-8: {e}")))?
                .trim();
            self.pos = end + 1;
            self.line_no += 1;
            if let Some(n) = line.strip_prefix(QUERY_LINE) {
                self.query = n
                    .trim()
                    .parse()
                    .map_err(|_| bad(format!("`{line}`: expected a query number")))?;
            } else if !line.is_empty() && !line.starts_with('#') {
                let batch = super::recording::read_brpl_line(line, line_no)?;
                if let Some(batch) = batch {
                    return Ok(Some((self.query, batch)));
                }
            }
        }
        Ok(None)
    }
}

/// Counts what a batch recording holds (batches, and the times of their
/// points), and the length of its valid prefix.
pub fn scan_batches(bytes: &[u8]) -> Result<(Stats, usize), RecordingError> {
    let mut reader = BatchReader::new(bytes)?;
    let mut stats = Stats::default();
    while let Some((_, batch)) = reader.next_batch()? {
        stats.saw_batch(&batch);
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

    fn batches(text: &str) -> Vec<Batch> {
        crate::replay::recording::read_brpl(text).unwrap()
    }

    fn write_batches(dir: &Path) -> std::path::PathBuf {
        let path = dir.join("r.brec");
        let mut w = BatchWriter::create(&path, u64::MAX).unwrap();
        let two = batches(concat!(
            r#"{"name":"cpu","tags":{"host":"a"},"points":[{"fields":{"mean":1.5},"time":"2015-10-30T17:14:12Z"},{"fields":{"mean":2},"tags":{"host":"a","cpu":"c0"},"time":"2015-10-30T17:14:14.5Z"}]}"#,
            "\n",
            r#"{"name":"mem","tmax":"2015-10-30T17:14:20Z","byname":true,"points":[{"fields":{"s":"x \"y\"","ok":true},"time":"2015-10-30T17:14:13Z"}]}"#,
        ));
        w.write(0, &two[0]).unwrap();
        w.write(1, &two[1]).unwrap();
        w.write(0, &two[0]).unwrap();
        w.finish().unwrap();
        path
    }

    fn read_all(bytes: &[u8]) -> Result<(Vec<(usize, Batch)>, bool), RecordingError> {
        let mut reader = BatchReader::new(bytes)?;
        let mut all = Vec::new();
        while let Some(b) = reader.next_batch()? {
            all.push(b);
        }
        Ok((all, reader.truncated()))
    }

    #[test]
    fn batches_round_trip_with_their_query_node() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = std::fs::read(write_batches(dir.path())).unwrap();
        let (read, truncated) = read_all(&bytes).unwrap();
        assert!(!truncated);
        let queries: Vec<usize> = read.iter().map(|(q, _)| *q).collect();
        assert_eq!(queries, [0, 1, 0]);
        let (_, cpu) = &read[0];
        assert_eq!(cpu.group.id(), "host=a");
        assert_eq!(cpu.points[1].time, 1_446_225_254_500_000_000);
        assert_eq!(cpu.points[1].tags.len(), 2);
        assert_eq!(cpu.points[0].tags.len(), 1);
        assert_eq!(cpu.tmax, cpu.points[1].time);
        let (_, mem) = &read[1];
        assert_eq!(mem.group.measurement().map(|m| m.as_ref()), Some("mem"));
        assert_eq!(mem.tmax, 1_446_225_260_000_000_000);
        assert_eq!(
            mem.points[0].fields.get("s"),
            Some(&pipeline::FieldValue::String("x \"y\"".into()))
        );
        let (stats, len) = scan_batches(&bytes).unwrap();
        assert_eq!(len, bytes.len());
        assert_eq!(stats.points, 3);
        assert_eq!(stats.first, Some(1_446_225_252_000_000_000));
    }

    #[test]
    fn a_cut_batch_file_reads_as_its_whole_lines() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = std::fs::read(write_batches(dir.path())).unwrap();
        let mut seen = 0;
        for cut in BATCH_HEADER.len() + 1..bytes.len() {
            let (read, _) = read_all(&bytes[..cut]).unwrap_or_else(|e| panic!("cut {cut}: {e}"));
            assert!(read.len() >= seen, "cut {cut}");
            seen = read.len();
        }
        let (read, truncated) = read_all(&bytes[..bytes.len() - 3]).unwrap();
        assert!(truncated);
        assert_eq!(read.len(), 2);
        let (stats, len) = scan_batches(&bytes[..bytes.len() - 3]).unwrap();
        assert_eq!(stats.points, 2);
        assert_eq!(bytes[len - 1], b'\n');
    }

    #[test]
    fn batch_file_errors_name_the_line() {
        let err = read_all(b"{}\n").unwrap_err();
        assert_eq!(err.line, 1);
        assert!(
            err.message.contains("not a kapacitord batch recording"),
            "{err}"
        );
        let text = format!(
            "{BATCH_HEADER}\n# query 0\n{{\"name\":\"m\",\"points\":[{{\"time\":\"nope\"}}]}}\n"
        );
        assert_eq!(read_all(text.as_bytes()).unwrap_err().line, 3);
        let text = format!("{BATCH_HEADER}\n# query x\n");
        assert_eq!(read_all(text.as_bytes()).unwrap_err().line, 2);
        let text = format!("{BATCH_HEADER}\n{{\"name\": oops}}\n");
        let err = read_all(text.as_bytes()).unwrap_err();
        assert_eq!(err.line, 2, "{err}");
    }

    #[test]
    fn the_batch_size_limit_keeps_what_fits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.brec");
        let mut w = BatchWriter::create(&path, 200).unwrap();
        let b = batches(
            r#"{"name":"cpu","points":[{"fields":{"v":1},"time":"2015-10-30T17:14:12Z"}]}"#,
        );
        let mut written = 0;
        while w.write(0, &b[0]).is_ok() {
            written += 1;
        }
        assert!(matches!(
            w.write(0, &b[0]),
            Err(WriteError::Full { max: 200 })
        ));
        w.finish().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert!(bytes.len() <= 200);
        assert_eq!(read_all(&bytes).unwrap().0.len(), written);
    }
}
