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
/// Private folders a copy fetched from a disk is verified or restored in.
pub const FETCH_PREFIX: &str = ".db-backup-fetch-";

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

/// What other users of the machine can reach in a backups folder.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Exposure {
    /// The folder's mode, when other users may list or enter it.
    pub folder_mode: Option<u32>,
    /// Backups that other users may read (made by the old command, 0644 under the usual umask).
    pub readable: Vec<String>,
}

/// What of the backups folder is open to other users ("others" in the mode bits; a group is
/// often given access on purpose, e.g. a backup group). Only reported, never changed: a folder
/// we did not create may be shared deliberately, and chmod-ing it could break that.
pub fn exposure(dir: &Path) -> Exposure {
    use std::os::unix::fs::MetadataExt;
    let folder_mode = std::fs::metadata(dir)
        .map(|m| m.mode() & 0o7777)
        .ok()
        .filter(|mode| mode & 0o007 != 0);
    let mut readable: Vec<String> = super::retention::scan(dir)
        .unwrap_or_default()
        .into_iter()
        .filter(|b| {
            std::fs::symlink_metadata(dir.join(&b.name)).is_ok_and(|m| m.mode() & 0o004 != 0)
        })
        .map(|b| b.name)
        .collect();
    readable.sort();
    Exposure {
        folder_mode,
        readable,
    }
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
        // O_NOFOLLOW: a symlink planted under its name must not make us create or lock (and
        // chmod 0600) a file elsewhere with our rights.
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .map_err(|e| match e.raw_os_error() {
                Some(libc::ELOOP) => Error::LockIsSymlink(path.clone()),
                _ => Error::io("cannot open lock file", &path)(e),
            })?;
        match file.try_lock() {
            Ok(()) => Ok(Lock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(Error::AlreadyRunning(dir.to_path_buf())),
            Err(std::fs::TryLockError::Error(e)) => Err(Error::io("cannot lock", path)(e)),
        }
    }
}

/// A private (0700) folder for a copy fetched from a disk, named after this process so that
/// the next run can tell a live one from a killed run's.
pub fn fetch_dir(dir: &Path) -> Result<tempfile::TempDir> {
    // Made 0700 by mkdir itself: a chmod after it leaves a moment where the folder is open.
    tempfile::Builder::new()
        .prefix(&format!("{FETCH_PREFIX}{}-", std::process::id()))
        .permissions(Permissions::from_mode(0o700))
        .tempdir_in(dir)
        .map_err(Error::io("cannot create a folder in", dir))
}

/// True while the db-backup process a fetch folder is named after still runs.
fn fetch_owner_alive(folder: &str) -> bool {
    let pid = folder
        .strip_prefix(FETCH_PREFIX)
        .and_then(|rest| rest.split('-').next())
        .and_then(|p| p.parse::<u32>().ok());
    let Some(pid) = pid else { return false };
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .is_ok_and(|comm| comm.trim_end() == "db-backup")
}

/// Removes temporary files left by runs that were killed. Only call while holding the [`Lock`].
pub fn remove_stale(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(Error::io("cannot list", dir))? {
        let entry = entry.map_err(Error::io("cannot list", dir))?;
        let name = entry.file_name();
        let is_file = entry.file_type().map(|t| t.is_file()).unwrap_or(false);
        // A fetch folder is named after the process using it (a verify --disk runs without
        // the lock): swept as soon as that process is gone.
        let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
        if is_dir && name.to_string_lossy().starts_with(FETCH_PREFIX) {
            if !fetch_owner_alive(&name.to_string_lossy()) {
                let path = entry.path();
                std::fs::remove_dir_all(&path)
                    .map_err(Error::io("cannot remove stale folder", &path))?;
                removed.push(path);
            }
            continue;
        }
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

/// Pages of a file being written are sent to the disk every this many bytes.
const WRITEBACK_STEP: u64 = 8 << 20;

/// A file written front to back whose pages start on their way to the disk as it grows, so
/// that the fsync before publishing finds little left to write (PostgreSQL's `*_flush_after`
/// settings do the same). It only starts the writes: durability is still the fsync's.
pub struct Writeback<'a> {
    file: &'a File,
    written: u64,
    sent: u64,
}

impl<'a> Writeback<'a> {
    pub fn new(file: &'a File) -> Self {
        Writeback {
            file,
            written: 0,
            sent: 0,
        }
    }
}

impl std::io::Write for Writeback<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = (&mut &*self.file).write(buf)?;
        self.written += n as u64;
        if self.written - self.sent >= WRITEBACK_STEP {
            start_writeback(self.file, self.sent, self.written - self.sent);
            self.sent = self.written;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        (&mut &*self.file).flush()
    }
}

/// Starts sending the dirty pages of `len` bytes of `file` from `from` (0: to its end) to the
/// disk, without waiting for them.
fn start_writeback(file: &File, from: u64, len: u64) {
    use std::os::fd::AsRawFd;
    // SAFETY: a plain system call on a descriptor we hold. Its failure (a filesystem without
    // it) costs only the head start, so it is ignored.
    unsafe {
        libc::sync_file_range(
            file.as_raw_fd(),
            from as libc::off64_t,
            len as libc::off64_t,
            libc::SYNC_FILE_RANGE_WRITE,
        );
    }
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

/// Writes a small file whole or not at all (a temporary file beside it, fsync, rename), so a
/// reader (PHP loading a class, node_exporter reading metrics) never sees half of it.
pub fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(Error::io("cannot create", dir))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .permissions(Permissions::from_mode(mode))
        .tempfile_in(dir)
        .map_err(Error::io("cannot write in", dir))?;
    tmp.write_all(bytes)
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(Error::io("cannot write", tmp.path()))?;
    tmp.persist(path)
        .map_err(|e| Error::io("cannot write", path)(e.error))?;
    Ok(())
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
    fn a_symlink_named_like_the_lock_is_not_followed() {
        let t = tempfile::tempdir().unwrap();
        let elsewhere = t.path().join("elsewhere");
        std::os::unix::fs::symlink(&elsewhere, t.path().join(LOCK_NAME)).unwrap();
        assert!(matches!(
            Lock::acquire(t.path()),
            Err(Error::LockIsSymlink(p)) if p == t.path().join(LOCK_NAME)
        ));
        assert!(!elsewhere.exists(), "created through the symlink");
    }

    #[test]
    fn exposure_reports_what_others_can_reach_and_changes_nothing() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        let set = |p: &Path, mode| std::fs::set_permissions(p, Permissions::from_mode(mode));
        set(d, 0o750).unwrap();
        assert_eq!(exposure(d), Exposure::default());
        let old = d.join("database_backup_2020-01-01_000000.sqlite");
        std::fs::write(&old, "x").unwrap();
        set(&old, 0o644).unwrap();
        std::fs::write(d.join("notes.txt"), "x").unwrap();
        set(&d.join("notes.txt"), 0o644).unwrap();
        set(d, 0o755).unwrap();
        assert_eq!(
            exposure(d),
            Exposure {
                folder_mode: Some(0o755),
                readable: vec!["database_backup_2020-01-01_000000.sqlite".into()],
            }
        );
        assert_eq!(
            std::fs::metadata(d).unwrap().permissions().mode() & 0o777,
            0o755
        );
    }

    #[test]
    fn fetch_folders_of_gone_processes_are_swept() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        // Ours (this test process is not called db-backup, so a folder of a live db-backup
        // is made by hand from a pid that is surely not one: pid 1).
        let mine = fetch_dir(d).unwrap();
        let mode = std::fs::metadata(mine.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        let old_style = d.join(format!("{FETCH_PREFIX}abcdef"));
        std::fs::create_dir(&old_style).unwrap();
        let mut removed = remove_stale(d).unwrap();
        removed.sort();
        let mut expected = vec![mine.path().to_path_buf(), old_style];
        expected.sort();
        assert_eq!(removed, expected);
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
