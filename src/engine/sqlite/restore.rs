//! Putting a backup back over the live database with SQLite's backup API.

use std::path::Path;
use std::time::Duration;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use crate::error::{Error, Result};

/// Copies the backup into the live database with SQLite's backup API: it takes the live file's
/// locks like any writer (readers and writers of the app wait, nobody sees half a restore), and
/// a WAL database stays in WAL mode with a consistent -wal file.
pub fn restore(file: &Path, live: &Path, busy_timeout: Duration) -> Result<()> {
    let sql = |e: rusqlite::Error| Error::Sqlite {
        path: live.to_path_buf(),
        source: e,
    };
    let src = Connection::open_with_flags(file, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(sql)?;
    let mut dst =
        Connection::open_with_flags(live, OpenFlags::SQLITE_OPEN_READ_WRITE).map_err(sql)?;
    dst.busy_timeout(busy_timeout).map_err(sql)?;
    let deadline = std::time::Instant::now() + busy_timeout;
    loop {
        let backup = Backup::new(&src, &mut dst).map_err(sql)?;
        match backup.step(-1).map_err(sql)? {
            StepResult::Done => return Ok(()),
            // Nothing was copied yet: wait for the app's writer to finish, up to the timeout.
            StepResult::Busy | StepResult::Locked if std::time::Instant::now() < deadline => {
                drop(backup);
                std::thread::sleep(Duration::from_millis(50));
            }
            StepResult::Busy | StepResult::Locked => {
                return Err(Error::DatabaseLocked {
                    path: live.to_path_buf(),
                    seconds: busy_timeout.as_secs(),
                })
            }
            _ => {
                return Err(Error::CheckFailed(
                    "SQLite stopped the restore before the last page".into(),
                ))
            }
        }
    }
}
