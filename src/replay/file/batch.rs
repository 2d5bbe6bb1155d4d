//! The batch recording file, `<data_dir>/recordings/ID.brec`: a header
//! comment, then one batch per line in Kapacitor's `.brpl` JSON, with a
//! `# query N` comment before the batches that feed the task's N-th query
//! node (0 when there is none). Appended one whole line at a time, so a
//! file cut short (a crash, `kill -9`) holds a valid prefix: the reader
//! keeps every line that ends in a newline and ignores an unterminated
//! tail.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufWriter, Write as _};
use std::path::Path;

use pipeline::Batch;

use super::super::recording::RecordingError;
use super::{Stats, WriteError};

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
        super::super::recording::write_brpl_line(batch, &mut self.line);
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
                let batch = super::super::recording::read_brpl_line(line, line_no)?;
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
