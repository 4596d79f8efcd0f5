//! Getting a finished backup onto disk safely: one run at a time, a private temporary file,
//! fsync, a rename that never overwrites, and a synced folder.

use std::fs::{DirBuilder, File, OpenOptions, Permissions};
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use crate::error::{Error, Result};

/// Temporary files start with this; nothing else in the folder does, so stale ones can be found.
const TEMP_PREFIX: &str = ".db-backup-";
const TEMP_SUFFIX: &str = ".partial";
const LOCK_NAME: &str = ".db-backup.lock";

/// Creates the backups folder (0700) when missing.
pub fn ensure_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(Error::io("cannot create backups folder", dir))
}

/// An exclusive hold on a backups folder; released when dropped or when the process dies.
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

impl Lock {
    /// Takes the folder's lock without waiting: a second run (a cron overlap) fails at once.
    pub fn acquire(dir: &Path) -> Result<Lock> {
        let path = dir.join(LOCK_NAME);
        // The lock file is never deleted: unlinking a lock file lets two runs lock two inodes.
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(Error::io("cannot open lock file", &path))?;
        match file.try_lock() {
            Ok(()) => Ok(Lock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(Error::AlreadyRunning(dir.to_path_buf())),
            Err(std::fs::TryLockError::Error(e)) => Err(Error::io("cannot lock", path)(e)),
        }
    }
}

/// Removes temporary files left by runs that were killed. Only call while holding the [`Lock`].
pub fn remove_stale(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(Error::io("cannot list", dir))? {
        let entry = entry.map_err(Error::io("cannot list", dir))?;
        let name = entry.file_name();
        let is_file = entry.file_type().map(|t| t.is_file()).unwrap_or(false);
        // Includes SQLite's own side files of a temp database (`….partial-journal`, `-wal`).
        if is_file && name.to_string_lossy().starts_with(TEMP_PREFIX) {
            let path = entry.path();
            std::fs::remove_file(&path).map_err(Error::io("cannot remove stale file", &path))?;
            removed.push(path);
        }
    }
    Ok(removed)
}

/// A private (0600) temporary file in the backups folder, deleted unless published.
pub fn staging_file(dir: &Path) -> Result<NamedTempFile> {
    tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .suffix(TEMP_SUFFIX)
        .permissions(Permissions::from_mode(0o600))
        .tempfile_in(dir)
        .map_err(Error::io("cannot create a file in", dir))
}

/// Makes a finished temporary file durable and gives it its final name, never replacing an
/// existing file. `name_for` is asked for a name again when the first one is taken (two runs in
/// the same second): it must return a later one.
pub fn publish(
    staged: NamedTempFile,
    dir: &Path,
    mut name_for: impl FnMut() -> String,
) -> Result<PathBuf> {
    staged
        .as_file()
        .sync_all()
        .map_err(Error::io("cannot flush", staged.path()))?;
    let mut staged = staged;
    let mut attempts = 0;
    loop {
        let target = dir.join(name_for());
        match staged.persist_noclobber(&target) {
            Ok(_) => {
                sync_dir(dir)?;
                return Ok(target);
            }
            Err(e) if e.error.kind() == ErrorKind::AlreadyExists && attempts < 3 => {
                attempts += 1;
                staged = e.file;
            }
            Err(e) => return Err(Error::io("cannot publish backup as", target)(e.error)),
        }
    }
}

/// Persists the folder entry itself (the rename or the deletions) across a power cut.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(Error::io("cannot sync folder", dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn publish_never_overwrites_and_asks_for_a_new_name() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        std::fs::write(d.join("a"), "old").unwrap();
        let mut f = staging_file(d).unwrap();
        f.write_all(b"new").unwrap();
        let mut names = vec!["b".to_string(), "a".to_string()];
        let path = publish(f, d, || names.pop().unwrap()).unwrap();
        assert_eq!(path, d.join("b"));
        assert_eq!(std::fs::read_to_string(d.join("a")).unwrap(), "old");
        assert_eq!(std::fs::read_to_string(d.join("b")).unwrap(), "new");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn second_lock_is_refused_and_stale_files_go() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        let _held = Lock::acquire(d).unwrap();
        assert!(matches!(Lock::acquire(d), Err(Error::AlreadyRunning(_))));
        let stale = staging_file(d).unwrap().into_temp_path().keep().unwrap();
        std::fs::write(d.join("keep.txt"), "").unwrap();
        assert_eq!(remove_stale(d).unwrap(), vec![stale]);
        assert!(d.join("keep.txt").exists());
    }
}
