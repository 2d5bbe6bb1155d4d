//! Version 1 of the stream recording file, which recordings made before
//! version 2 still are: line protocol with nanosecond timestamps, a header
//! comment, then a `# dbrp DB.RP` comment before the points of each
//! database and retention policy, appended a whole line at a time. Read
//! only: new recordings are written in version 2 ([`super::frames`]).

use ingest::lp::{DecodeOptions, Decoder, Precision, next_line_end};
use pipeline::{DbRp, Point};

use super::super::recording::RecordingError;

/// The first line of a version 1 recording.
pub const HEADER: &str = "# kapacitord stream recording v1";
/// Starts the line naming the database and retention policy of the points
/// after it.
const DBRP_LINE: &str = "# dbrp ";
/// Bytes of lines decoded at a time.
const CHUNK_BYTES: usize = 256 << 10;

/// Reads a version 1 recording a chunk of points at a time. A file that
/// ends in an unterminated line (a write cut short) reads as the lines
/// before it.
pub struct TextReader<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// 1-based number of the line at `pos`.
    line_no: usize,
    dbrp: Option<DbRp>,
    decoder: Decoder,
    pub(super) truncated: bool,
}

impl<'a> TextReader<'a> {
    /// `body` starts after the header line.
    pub(super) fn new(bytes: &'a [u8], body: usize) -> Self {
        TextReader {
            bytes,
            pos: body,
            line_no: 2,
            dbrp: None,
            decoder: Decoder::new(),
            truncated: false,
        }
    }

    /// Bytes of whole lines read so far.
    pub(super) fn valid_len(&self) -> usize {
        self.pos
    }

    /// Decodes the next run of points of one database and retention
    /// policy into `out` (cleared first); `None` at the end.
    pub(super) fn next_chunk(
        &mut self,
        out: &mut Vec<Point>,
    ) -> Result<Option<DbRp>, RecordingError> {
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

#[cfg(test)]
mod tests {
    use super::super::read_stream;
    use super::*;

    #[test]
    fn version_1_files_still_read() {
        let text = format!(
            "{HEADER}\n# dbrp telegraf.autogen\ncpu,host=a v=1 10\n# dbrp \"my.db\".rp\nmem s=\"x\" 30\ncpu v=2"
        );
        let (read, truncated) = read_stream(text.as_bytes()).unwrap();
        assert!(truncated);
        let lines: Vec<String> = read.iter().map(|(d, p)| format!("{d} {p}")).collect();
        assert_eq!(
            lines,
            [
                "telegraf.autogen cpu,host=a v=1 10",
                "\"my.db\".rp mem s=\"x\" 30"
            ]
        );
    }

    #[test]
    fn errors_name_the_line() {
        let text = format!("{HEADER}\n# dbrp a.b\ncpu v=1 1\ncpu v= 2\n");
        let err = read_stream(text.as_bytes()).unwrap_err();
        assert_eq!(err.line, 4, "{err}");
        let err = read_stream(format!("{HEADER}\ncpu v=1 1\n").as_bytes()).unwrap_err();
        assert_eq!(err.line, 2, "{err}");
    }
}
