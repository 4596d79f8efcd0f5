//! `db-backup restore`: check the backup, take a safety backup, then put the backup back over
//! the live database — all under the backups folder's lock, so no cron backup runs meanwhile.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::backup::{self, Plan, Progress};
use crate::engine::{mysql, postgres, sqlite, Connection, Meter};
use crate::error::{Error, Result};
use crate::laravel::Target;
use crate::store::retention::Policy;
use crate::store::{publish, Kind};

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct Request {
    pub file: PathBuf,
    /// Skip the confirmation question.
    pub yes: bool,
    /// MySQL: drop the tables, views, routines, triggers and events the backup does not hold
    /// before loading it (else they are left in place, as with mysqldump, and named).
    pub clean: bool,
    /// How long other sessions may hold what the restore needs before we give up: SQLite's
    /// writers, MySQL's table and row locks.
    pub busy_timeout: Duration,
    /// SQLite: `integrity_check` rather than `quick_check` beside the safety backup, for a
    /// point in time rebuilt from a chain in a private folder (see `pitr::Check`).
    pub thorough: bool,
}

/// What a restore did.
#[derive(Debug)]
pub struct Restored {
    pub file: PathBuf,
    /// The backup of the live database taken just before, to undo the restore.
    pub safety: PathBuf,
    pub tables: Vec<(String, u64)>,
    /// With `--clean`: what was dropped because the backup does not hold it.
    pub dropped: Option<String>,
    /// Things the user should know about a restore that still succeeded.
    pub warnings: Vec<String>,
}

/// Restores `req.file` over the app's live database. Unless `req.yes`, `confirm` is asked with
/// the question to put to the user and must return true to go on.
pub fn run(
    target: &Target,
    req: &Request,
    confirm: &mut dyn FnMut(&str) -> Result<bool>,
    progress: &mut dyn FnMut(Progress),
    meter: Arc<Meter>,
    failed_warnings: &mut Vec<String>,
) -> Result<Restored> {
    let file = req.file.as_path();
    let kind = Kind::of_path(file);
    let expected = target.connection.kind();
    if !kind.same_extension(expected) {
        return Err(Error::WrongKind {
            file: file.to_path_buf(),
            file_kind: kind.label(),
            driver: match expected {
                Kind::Sqlite => "SQLite",
                Kind::MysqlDump => "MySQL/MariaDB",
                Kind::PgDump => "PostgreSQL",
            },
        });
    }
    // Refuse a bad backup before the live database is touched.
    let mut dump = None;
    let mut pg_dump = None;
    let mut early = Vec::new();
    let tables = match &target.connection {
        // The file must be whole (its header's page count fills it) before anything happens;
        // the full read of every page runs beside the safety backup, below.
        Connection::Sqlite { .. } => {
            sqlite::check::whole(file)?;
            Vec::new()
        }
        Connection::Mysql(params) => {
            if let Err(e) = mysql::load::precheck(params, file, &mut |w| early.push(w)) {
                *failed_warnings = early;
                return Err(e);
            }
            dump = Some(mysql::inventory::read_backup(file)?);
            Vec::new()
        }
        Connection::Postgres(params) => {
            // The whole file under the whitelist, before the live database is touched.
            pg_dump = Some(postgres::check::scan(
                file,
                &postgres::load::app_schemas(params),
            )?);
            Vec::new()
        }
    };
    if !req.yes {
        let question = format!(
            "Restore {} over {}? A safety backup of the current data is taken first.",
            file.display(),
            target.connection.describe()
        );
        if !confirm(&question)? {
            return Err(Error::Cancelled);
        }
    }
    // The lock is held from the safety backup to the end: a backup taken meanwhile would copy a
    // half-restored database, and its retention could rotate good backups out.
    publish::ensure_dir(&target.backups_dir)?;
    let lock = publish::Lock::acquire(&target.backups_dir)?;
    let plan = Plan {
        // Never deletes anything: the safety copy is kept whatever --keep says.
        policy: Policy::last(u32::MAX),
        dry_run: false,
        busy_timeout: req.busy_timeout,
        // A safety backup holds everything.
        exclude_data: Vec::new(),
    };
    // SQLite: `quick_check` of the backup (it was quick-checked when made; this proves it has
    // not been damaged since) and its table counts, on another core while the safety backup
    // is taken. A backup that fails it is restored over nothing: the safety backup is removed.
    let checking = match &target.connection {
        Connection::Sqlite { .. } => {
            let path = file.to_path_buf();
            let thorough = req.thorough;
            Some(std::thread::spawn(move || {
                if thorough {
                    sqlite::check::integrity_private(&path)
                } else {
                    sqlite::check::quick_contents(&path)
                }
            }))
        }
        Connection::Mysql(_) | Connection::Postgres(_) => None,
    };
    let safety = backup::run_locked(target, &plan, &lock, progress);
    let checked = checking.map(|t| {
        t.join()
            .unwrap_or_else(|_| Err(Error::CheckFailed("the check thread panicked".into())))
    });
    let safety = safety?;
    let tables = match checked {
        Some(Ok(contents)) => contents.tables,
        Some(Err(e)) => {
            let _ = std::fs::remove_file(&safety.created);
            return Err(e);
        }
        None => tables,
    };
    let mut warnings = early;
    warnings.extend(safety.warnings);
    let mut dropped = None;
    let restored = match &target.connection {
        Connection::Sqlite { path } => {
            sqlite::restore(file, path, req.busy_timeout, &meter).map(|()| tables)
        }
        Connection::Mysql(params) => {
            // A second Ctrl-C exits at once, from the signal handler: its line is made now.
            mysql::guard::set_last_words(Some(&Error::RestoreFailed {
                source: Box::new(Error::StoppedAtOnce),
                safety: safety.created.clone(),
            }));
            let loaded = mysql::load::restore(
                params,
                file,
                dump.take().unwrap_or_default(),
                req.clean,
                req.busy_timeout,
                meter.clone(),
                &mut |w| warnings.push(w),
            );
            mysql::guard::set_last_words(None);
            loaded.map(|r| {
                dropped = r.dropped;
                r.tables
            })
        }
        Connection::Postgres(params) => postgres::load::restore(
            params,
            file,
            &pg_dump.take().unwrap_or_default(),
            req.clean,
            req.busy_timeout,
            meter.clone(),
        )
        .map(|r| {
            dropped = r.dropped;
            r.tables
        }),
    };
    drop(lock);
    match restored {
        Ok(tables) => Ok(Restored {
            file: file.to_path_buf(),
            safety: safety.created,
            tables,
            dropped,
            warnings,
        }),
        Err(e) => Err(Error::RestoreFailed {
            source: Box::new(e),
            safety: safety.created,
        }),
    }
}
