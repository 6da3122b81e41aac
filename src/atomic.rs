//! Writing files atomically: a temporary file in the same directory, written, flushed to disk
//! (`fsync`), then renamed over the target, and the directory flushed too. A crash, a full
//! disk or a write error at any point leaves the old file (or none) and no temporary file
//! behind, never a partial file.
//!
//! Every file kith writes goes through here: the device key (`write_new`: never replaces an
//! existing key), `export --output` and Markdown export, `backup`, and the recovery files of
//! `kith edit`. Not through here: the vault (redb commits are durable on their own), the
//! daemon's `daemon.lock` (always empty, only its advisory lock matters) and `daemon.sock` (a
//! socket, see `store::notify`), and the scratch buffer `kith edit` hands to `$EDITOR` (in a
//! private temporary directory, deleted afterwards).

use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A file being written; the target is replaced only by [`AtomicFile::commit`]. Dropped
/// without a commit, the temporary file is removed and the target is untouched.
pub struct AtomicFile {
    tmp: tempfile::NamedTempFile,
    path: PathBuf,
}

fn dir_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

impl AtomicFile {
    /// Starts writing `path` (a temporary file next to it, owner-only permissions).
    pub fn create(path: &Path) -> io::Result<AtomicFile> {
        let tmp = tempfile::Builder::new()
            .prefix(".kith-")
            .suffix(".tmp")
            .tempfile_in(dir_of(path))?;
        Ok(AtomicFile {
            tmp,
            path: path.to_path_buf(),
        })
    }

    /// Flushes the data to disk and renames the file over the target, then flushes the
    /// directory so the rename itself survives a crash.
    pub fn commit(self) -> io::Result<()> {
        self.tmp.as_file().sync_all()?;
        self.tmp.persist(&self.path).map_err(|e| e.error)?;
        sync_dir(&self.path);
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tmp.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.tmp.flush()
    }
}

fn sync_dir(path: &Path) {
    if let Ok(d) = std::fs::File::open(dir_of(path)) {
        let _ = d.sync_all();
    }
}

/// Writes `bytes` to `path` atomically, replacing it.
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = AtomicFile::create(path)?;
    f.write_all(bytes)?;
    f.commit()
}

/// Writes `bytes` to `path` atomically, owner-only, and only if `path` does not exist yet
/// (`AlreadyExists` otherwise: a concurrent first run keeps the file that won).
pub fn write_new(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = AtomicFile::create(path)?;
    f.write_all(bytes)?;
    f.tmp.as_file().sync_all()?;
    f.tmp.persist_noclobber(&f.path).map_err(|e| e.error)?;
    sync_dir(path);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_or_not_at_all_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.txt");
        write(&p, b"old").unwrap();
        write(&p, b"new").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"new");
        // Dropped without a commit: the target keeps its content.
        let mut f = AtomicFile::create(&p).unwrap();
        f.write_all(b"half").unwrap();
        drop(f);
        assert_eq!(std::fs::read(&p).unwrap(), b"new");
        assert_eq!(
            write_new(&p, b"x").unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );
        assert_eq!(std::fs::read(&p).unwrap(), b"new");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file left");
    }
}
