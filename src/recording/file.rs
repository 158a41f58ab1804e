//! Reading a recording's file, once where it can be read only once.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::{CsvOptions, Recording};
use crate::error::{Error, Result};

impl Recording {
    /// Reads `path` with `opts`.
    pub fn read(path: &Path, opts: &CsvOptions) -> Result<Self> {
        Self::from_bytes(&bytes_of(path)?, path, opts)
    }

    /// [`Recording::read`] from bytes in memory; `path` names them in errors.
    /// With a stream column: the first stream by name (or `only_stream`).
    pub fn from_bytes(bytes: &[u8], path: &Path, opts: &CsvOptions) -> Result<Self> {
        let mut all = Self::from_bytes_all(bytes, path, opts)?;
        // Never empty: a file without rows is refused.
        Ok(all.swap_remove(0))
    }
}

/// A recording's bytes. A file that is not there (or not ours to read) is
/// a recording the command cannot use (exit status 78, as a missing model
/// file); any other read error is I/O (1: a retry may succeed).
pub(super) fn bytes_of(path: &Path) -> Result<Arc<[u8]>> {
    file_bytes(path).map_err(|e| {
        let why = format!("cannot open {}: {e}", path.display());
        match e.kind() {
            std::io::ErrorKind::NotFound
            | std::io::ErrorKind::PermissionDenied
            | std::io::ErrorKind::IsADirectory => Error::Data(why),
            kind => Error::Io(std::io::Error::new(kind, why)),
        }
    })
}

/// A file's bytes. A pipe or a device (`--data /dev/stdin`, a shell's
/// `<(…)`) can be read once only, and a run reads a recording more than
/// once (its content id, then its rows): what one held is kept for the rest
/// of the run (before, the second read blocked on a named pipe, or found no
/// rows in `/dev/stdin`). A regular file is read each time.
pub fn file_bytes(path: &Path) -> std::io::Result<Arc<[u8]>> {
    type Kept = Mutex<Vec<(PathBuf, Arc<[u8]>)>>;
    static STREAMS: Kept = Mutex::new(Vec::new());
    if std::fs::metadata(path)?.is_file() {
        return std::fs::read(path).map(Into::into);
    }
    let mut kept = STREAMS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, bytes)) = kept.iter().find(|(p, _)| p == path) {
        return Ok(bytes.clone());
    }
    let bytes: Arc<[u8]> = std::fs::read(path)?.into();
    kept.push((path.to_path_buf(), bytes.clone()));
    Ok(bytes)
}

#[cfg(all(test, unix))]
mod tests {
    /// A named pipe's rows are there on the second read too (the run's
    /// content id, then its rows), and a regular file is read afresh.
    #[test]
    fn a_pipe_is_read_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("rows");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.unwrap().success());
        let writer = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::write(fifo, "x,y\n1,2\n").unwrap())
        };
        let first = super::file_bytes(&fifo).unwrap();
        writer.join().unwrap();
        // No writer now: a second open of the pipe would block.
        assert_eq!(&*super::file_bytes(&fifo).unwrap(), &*first);
        assert_eq!(&*first, b"x,y\n1,2\n");
        let file = dir.path().join("f.csv");
        std::fs::write(&file, "a").unwrap();
        assert_eq!(&*super::file_bytes(&file).unwrap(), b"a");
        std::fs::write(&file, "b").unwrap();
        assert_eq!(&*super::file_bytes(&file).unwrap(), b"b");
    }
}
