//! Putting a backup back: check it, take a safety backup, then restore through SQLite's own
//! locking (or, for MySQL, by streaming the statements into the server).

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use crate::backup::{self, Plan};
use crate::connection::Connection as Db;
use crate::error::{Error, Result};
use crate::laravel::Target;
use crate::{catalog, mysql, verify};

/// What a restore did.
#[derive(Debug)]
pub struct Restored {
    pub file: PathBuf,
    /// The backup of the live database taken just before, to undo the restore.
    pub safety: PathBuf,
    pub tables: Vec<(String, u64)>,
}

/// Restores `file` over the app's live database. `confirm` asks the user (None: not a terminal).
pub fn run(target: &Target, file: &Path, yes: bool, busy_timeout: Duration) -> Result<Restored> {
    let kind = catalog::kind_of(file);
    let driver = match &target.connection {
        Db::Sqlite { .. } => "sqlite",
        Db::Mysql(_) => "sql",
    };
    if kind != driver {
        return Err(Error::WrongKind {
            file: file.to_path_buf(),
            file_kind: if kind == "sql" {
                "MySQL (.sql)"
            } else {
                "SQLite"
            },
            driver: if driver == "sql" {
                "MySQL/MariaDB"
            } else {
                "SQLite"
            },
        });
    }
    // Refuse a bad backup before the live database is touched.
    let tables = match &target.connection {
        Db::Sqlite { .. } => verify::sqlite(file)?.tables,
        Db::Mysql(_) => {
            mysql::load::precheck(file)?;
            Vec::new()
        }
    };
    if !yes {
        confirm(target, file)?;
    }
    let plan = Plan {
        keep: u32::MAX,
        dry_run: false,
        busy_timeout,
    };
    // Never deletes anything: keep is unbounded for the safety copy.
    let safety = backup::run(target, &plan, false)?.created;
    let restored = match &target.connection {
        Db::Sqlite { path } => sqlite_into(file, path, busy_timeout).map(|()| tables),
        Db::Mysql(params) => {
            mysql::load::restore(params, file, &mut |w| eprintln!("db-backup: warning: {w}"))
        }
    };
    match restored {
        Ok(tables) => Ok(Restored {
            file: file.to_path_buf(),
            safety,
            tables,
        }),
        Err(e) => Err(Error::RestoreFailed {
            source: Box::new(e),
            safety,
        }),
    }
}

fn confirm(target: &Target, file: &Path) -> Result<()> {
    if !std::io::stdin().is_terminal() {
        return Err(Error::NeedsConfirmation);
    }
    let what = match &target.connection {
        Db::Sqlite { path } => path.display().to_string(),
        Db::Mysql(p) => format!("database '{}' on {}", p.database, p.server()),
    };
    eprint!(
        "Restore {} over {what}? A safety backup of the current data is taken first. [y/N] ",
        file.display()
    );
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(Error::io("cannot read the answer from", "stdin"))?;
    if matches!(answer.trim(), "y" | "Y" | "yes" | "oui" | "o") {
        Ok(())
    } else {
        Err(Error::Cancelled)
    }
}

/// Copies the backup into the live database with SQLite's backup API: it takes the live file's
/// locks like any writer (readers and writers of the app wait, nobody sees half a restore), and
/// a WAL database stays in WAL mode with a consistent -wal file.
fn sqlite_into(file: &Path, live: &Path, busy_timeout: Duration) -> Result<()> {
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
