//! Reading a file the user points at without trusting what it is: a
//! regular file only (not a FIFO, a device or a directory, also through a
//! symlink), at most a given size, never waiting for a writer.

use std::io::{self, Read};
use std::path::Path;

/// Why a file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("not found")]
    NotFound,
    #[error("{0}, not a regular file; refusing to read it")]
    NotRegular(&'static str),
    #[error("{size} bytes, more than the {max} allowed")]
    TooLarge { size: u64, max: u64 },
    #[error("not UTF-8 text: {0}")]
    NotUtf8(std::string::FromUtf8Error),
    #[error("cannot read: {0}")]
    Io(io::Error),
}

/// The text of `path`, a regular file of at most `max` bytes. A FIFO is
/// opened without waiting for a writer and refused, as is anything else
/// that is not a regular file; a file that grows past `max` while it is
/// read is refused rather than read to its end.
pub fn read_text(path: &Path, max: u64) -> Result<String, FileError> {
    let file = open_nonblocking(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => FileError::NotFound,
        _ => FileError::Io(e),
    })?;
    // The file opened, not the name: it cannot be swapped in between.
    let meta = file.metadata().map_err(FileError::Io)?;
    if !meta.is_file() {
        return Err(FileError::NotRegular(describe(&meta.file_type())));
    }
    if meta.len() > max {
        return Err(FileError::TooLarge {
            size: meta.len(),
            max,
        });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(FileError::Io)?;
    if bytes.len() as u64 > max {
        return Err(FileError::TooLarge {
            size: bytes.len() as u64,
            max,
        });
    }
    String::from_utf8(bytes).map_err(FileError::NotUtf8)
}

#[cfg(unix)]
fn open_nonblocking(path: &Path) -> io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    // Opening a FIFO for reading would wait for a writer; with O_NONBLOCK
    // it opens at once, and is then refused as not a regular file.
    let nonblock = rustix::fs::OFlags::NONBLOCK.bits();
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(i32::try_from(nonblock).unwrap_or(0))
        .open(path)
}

#[cfg(not(unix))]
fn open_nonblocking(path: &Path) -> io::Result<std::fs::File> {
    std::fs::File::open(path)
}

/// What a file that is not a regular file is, in words.
pub(crate) fn describe(kind: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a FIFO";
        }
        if kind.is_char_device() || kind.is_block_device() {
            return "a device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    if kind.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_files_within_the_limit_only() {
        let dir = tempfile::tempdir().unwrap();
        let ok = dir.path().join("ok.tick");
        std::fs::write(&ok, "stream|log()").unwrap();
        assert_eq!(read_text(&ok, 100).unwrap(), "stream|log()");
        assert!(matches!(
            read_text(&ok, 5),
            Err(FileError::TooLarge { size: 12, max: 5 })
        ));
        assert!(matches!(
            read_text(&dir.path().join("nope"), 5),
            Err(FileError::NotFound)
        ));
        let e = read_text(dir.path(), 5).unwrap_err();
        assert_eq!(
            e.to_string(),
            "a directory, not a regular file; refusing to read it"
        );
        #[cfg(unix)]
        {
            let zero = dir.path().join("zero.tick");
            std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
            let e = read_text(&zero, 5).unwrap_err();
            assert!(matches!(e, FileError::NotRegular("a device")), "{e}");
        }
        #[cfg(unix)]
        {
            let fifo = dir.path().join("fifo.tick");
            let made = std::process::Command::new("mkfifo").arg(&fifo).status();
            if made.is_ok_and(|s| s.success()) {
                // No writer: a plain open would wait forever.
                let e = read_text(&fifo, 5).unwrap_err();
                assert!(matches!(e, FileError::NotRegular("a FIFO")), "{e}");
            }
        }
        std::fs::write(&ok, [0xff, 0xfe]).unwrap();
        assert!(matches!(read_text(&ok, 5), Err(FileError::NotUtf8(_))));
    }
}
