//! Putting a backup back over the live database with SQLite's backup API.

use std::path::Path;
use std::time::Duration;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use std::sync::atomic::Ordering;

use crate::engine::Meter;
use crate::error::{Error, Result};

/// Copies the backup into the live database with SQLite's backup API: it takes the live file's
/// locks like any writer (readers and writers of the app wait, nobody sees half a restore), and
/// a WAL database stays in WAL mode with a consistent -wal file.
///
/// The pages go over in steps of [`STEP`], `meter` following; the live file stays locked from
/// the first step to the last, so the app never sees part of a restore.
pub fn restore(file: &Path, live: &Path, busy_timeout: Duration, meter: &Meter) -> Result<()> {
    let sql = |e: rusqlite::Error| Error::Sqlite {
        path: live.to_path_buf(),
        source: e,
    };
    let src = Connection::open_with_flags(file, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(sql)?;
    let mut dst =
        Connection::open_with_flags(live, OpenFlags::SQLITE_OPEN_READ_WRITE).map_err(sql)?;
    dst.busy_timeout(busy_timeout).map_err(sql)?;
    let page: u64 = src
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .map_err(sql)?;
    let deadline = std::time::Instant::now() + busy_timeout;
    let backup = Backup::new(&src, &mut dst).map_err(sql)?;
    let mut started = false;
    loop {
        match backup.step(STEP).map_err(sql)? {
            StepResult::Done => return Ok(()),
            StepResult::More => {
                started = true;
                let p = backup.progress();
                meter
                    .total
                    .store(p.pagecount as u64 * page, Ordering::Relaxed);
                meter.set_done((p.pagecount - p.remaining) as u64 * page);
            }
            // Nothing was copied yet: wait for the app's writer to finish, up to the timeout.
            StepResult::Busy | StepResult::Locked
                if !started && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(50));
            }
            StepResult::Busy | StepResult::Locked if !started => {
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

/// Pages per backup step: large enough that the steps cost nothing (64 MiB of 4 KiB pages),
/// small enough for a progress bar to move.
const STEP: std::os::raw::c_int = 16384;
