//! Writes a stream recording file in one go (an import): each call's points
//! become frames in a buffer, which goes to the file when it is large or
//! when flushed.

use std::fs::File;
use std::io::{self, Write as _};
use std::path::Path;

use pipeline::{DbRp, Point};

use super::encoder::FrameEncoder;
use super::frames::MAX_FRAME_POINTS;
use super::{Stats, WriteError};

/// Bytes buffered before they go to the file.
pub const WRITE_BYTES: usize = 1 << 20;

/// Appends points to a new stream recording file.
pub struct StreamWriter {
    file: File,
    /// Whole frames not yet handed to the file.
    buf: Vec<u8>,
    encoder: FrameEncoder,
}

impl StreamWriter {
    /// Creates `path` (which must not exist) with its header; the file may
    /// grow to `max_bytes`.
    pub fn create(path: &Path, max_bytes: u64) -> io::Result<Self> {
        let mut file = File::options().write(true).create_new(true).open(path)?;
        file.write_all(FrameEncoder::header().as_bytes())?;
        Ok(StreamWriter {
            file,
            buf: Vec::with_capacity(WRITE_BYTES + (64 << 10)),
            encoder: FrameEncoder::new(max_bytes),
        })
    }

    pub fn stats(&self) -> Stats {
        self.encoder.stats()
    }

    /// Appends `points` of `dbrp`. At the size limit, writes the points that
    /// fit and fails with [`WriteError::Full`], as every write after does.
    pub fn write(&mut self, dbrp: &DbRp, points: &[Point]) -> Result<(), WriteError> {
        for chunk in points.chunks(MAX_FRAME_POINTS) {
            let encoded = self.encoder.encode(dbrp, chunk, &mut self.buf);
            if self.buf.len() >= WRITE_BYTES {
                self.flush()?;
            }
            encoded.map_err(|full| WriteError::Full { max: full.max })?;
        }
        Ok(())
    }

    /// Hands what is buffered to the OS.
    pub fn flush(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            self.file.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    /// Flushes and syncs the file to disk.
    pub fn finish(mut self) -> io::Result<Stats> {
        self.flush()?;
        self.file.sync_all()?;
        Ok(self.encoder.stats())
    }
}
