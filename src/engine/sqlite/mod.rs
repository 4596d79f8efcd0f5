//! SQLite: consistent snapshots of the live file, checks of a copy, and restores through SQLite's
//! own locking.

pub mod check;
pub mod exclude;
pub mod replicate;
pub mod restore;
pub mod snapshot;
mod wal;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags};

use crate::error::{Error, Result};
pub use check::{integrity, quick_check};
pub use exclude::exclude_data;
pub use restore::restore;
pub use snapshot::snapshot;

/// The live database, open for a snapshot: SQLite's connection and our own descriptor of the
/// same file, for the kernel copy.
///
/// POSIX advisory locks belong to the process and the file, so closing ANY descriptor of the
/// database drops every lock our connection holds on it (sqlite.org/howtocorrupt.html §2.2):
/// another process could then take the exclusive lock, checkpoint past our read mark and delete
/// the -wal while we copy. So the one descriptor we read through lives exactly as long as the
/// connection and is closed after it (fields drop in declaration order).
pub struct Source {
    conn: Connection,
    file: File,
    path: PathBuf,
}

/// Opens the live database read-only, refusing what is not a usable SQLite file.
pub fn open_source(path: &Path, busy_timeout: Duration) -> Result<Source> {
    let file = File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::DatabaseMissing(path.to_path_buf()),
        _ => Error::io("cannot read", path)(e),
    })?;
    let meta = file.metadata().map_err(Error::io("cannot read", path))?;
    if !meta.is_file() {
        return Err(Error::NotADatabase(path.to_path_buf()));
    }
    if meta.len() == 0 {
        return Err(Error::DatabaseEmpty(path.to_path_buf()));
    }
    // Read-only: we never write to, checkpoint, or change the journal mode of the app's file.
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| source_error(path, e, 0))?;
    conn.busy_timeout(busy_timeout)
        .map_err(|e| source_error(path, e, 0))?;
    Ok(Source {
        conn,
        file,
        path: path.to_path_buf(),
    })
}

fn code(e: &rusqlite::Error) -> Option<ErrorCode> {
    e.sqlite_error_code()
}

pub(crate) fn source_error(path: &Path, e: rusqlite::Error, secs: u64) -> Error {
    match code(&e) {
        Some(ErrorCode::NotADatabase) => Error::NotADatabase(path.to_path_buf()),
        Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => Error::DatabaseLocked {
            path: path.to_path_buf(),
            seconds: secs,
        },
        Some(ErrorCode::CannotOpen) if !path.exists() => Error::DatabaseMissing(path.to_path_buf()),
        _ => Error::Sqlite {
            path: path.to_path_buf(),
            source: e,
        },
    }
}

pub(crate) fn dest_error(path: &Path, e: rusqlite::Error) -> Error {
    match code(&e) {
        Some(ErrorCode::DiskFull) => Error::DiskFull(path.to_path_buf()),
        _ => Error::Sqlite {
            path: path.to_path_buf(),
            source: e,
        },
    }
}
