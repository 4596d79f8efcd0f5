//! `db-backup` / `db-backup backup`: lock, snapshot, check, publish, then apply retention.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{NaiveDateTime, Utc};
use chrono_tz::Tz;

use crate::engine::{mysql, postgres, sqlite, Connection};
use crate::error::{Error, Result};
use crate::laravel::Target;
use crate::store::publish::{self, Lock, Writeback};
use crate::store::retention::{self, Policy, Verdict};
use crate::store::Kind;

/// Where a dump is, for a progress display.
pub type Progress<'a> = mysql::Progress<'a>;

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Which backups to keep afterwards.
    pub policy: Policy,
    pub dry_run: bool,
    pub busy_timeout: Duration,
    /// Tables whose rows are left out, structure kept (`--exclude-data`).
    pub exclude_data: Vec<String>,
}

/// What a run did (or, with `--dry-run`, would do).
#[derive(Debug, Clone)]
pub struct Outcome {
    pub created: PathBuf,
    pub size: u64,
    pub duration: Duration,
    pub deleted: Vec<PathBuf>,
    /// With `--dry-run`: every backup, the new one included, and the rules that keep it.
    pub verdicts: Vec<Verdict>,
    /// Retention failed after the backup was published: what could not be deleted, and why.
    pub retention_failed: Option<String>,
    pub dry_run: bool,
    /// Things the user should know about a backup that still succeeded.
    pub warnings: Vec<String>,
    pub phases: Phases,
    /// How the copy was made ("file copy", "file copy + WAL frames", "dump").
    pub method: &'static str,
    /// What checked it before it was published ("quick_check", "read back").
    pub check: &'static str,
    pub kind: Kind,
    /// Tables whose rows were (or, with `--dry-run`, would be) left out.
    pub excluded_data: Vec<String>,
}

/// Where the time went, for `--json` and the benchmarks. `check` runs alongside `flush`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Phases {
    /// Reading the source into the temporary file.
    pub snapshot: Duration,
    /// fsync of the temporary file.
    pub flush: Duration,
    /// The gate before publishing (SQLite's quick_check, a dump's read-back).
    pub check: Duration,
    /// Rename without overwrite and folder fsync.
    pub publish: Duration,
}

/// Runs one backup of the target's database into its backups folder, under the folder's lock,
/// which is handed back still held (none for a dry run): the copies to the disks run under it.
pub fn run(
    target: &Target,
    plan: &Plan,
    progress: &mut dyn FnMut(Progress),
) -> Result<(Outcome, Option<Lock>)> {
    if plan.dry_run {
        return Ok((dry_run(target, plan)?, None));
    }
    publish::ensure_dir(&target.backups_dir)?;
    let lock = Lock::acquire(&target.backups_dir)?;
    let outcome = run_locked(target, plan, &lock, progress)?;
    Ok((outcome, Some(lock)))
}

/// A backup for a caller that already holds the folder's lock (restore's safety backup).
pub fn run_locked(
    target: &Target,
    plan: &Plan,
    _lock: &Lock,
    progress: &mut dyn FnMut(Progress),
) -> Result<Outcome> {
    let started = Instant::now();
    let (conn, dir, tz) = (&target.connection, target.backups_dir.as_path(), target.tz);
    publish::remove_stale(dir)?;

    let staged = publish::staging_file(dir)?;
    let mut warnings = exposure_warnings(target);
    let mut phases = Phases::default();
    let (method, check) = stage(conn, &staged, plan, &mut phases, &mut warnings, progress)
        .map_err(Error::unpublished)?;
    let size = staged
        .as_file()
        .metadata()
        .map_err(Error::io("cannot read", staged.path()))?
        .len();
    let mut last = None;
    let t = Instant::now();
    let kind = conn.kind();
    let created = publish::publish(staged, dir, || name_after(tz, kind, &mut last))?;
    phases.publish = t.elapsed();
    let (deleted, retention_failed) = apply_retention(dir, &plan.policy, &created);
    Ok(Outcome {
        created,
        size,
        duration: started.elapsed(),
        deleted,
        verdicts: Vec::new(),
        retention_failed,
        dry_run: false,
        warnings,
        phases,
        method,
        check,
        kind,
        excluded_data: plan.exclude_data.clone(),
    })
}

/// Warnings for a backups folder other users can reach. Not fixed here: we did not create
/// such a folder 0700 (the old command made it 0755), and it may be shared on purpose.
fn exposure_warnings(target: &Target) -> Vec<String> {
    let dir = &target.backups_dir;
    let shown = target.display_path(dir);
    let found = publish::exposure(dir);
    let mut warnings = Vec::new();
    if let Some(mode) = found.folder_mode {
        warnings.push(format!(
            "the backups folder {shown} is open to other users (mode {mode:04o}): they can list the backups; `chmod 700 {shown}` unless another account must read it"
        ));
    }
    if let Some(first) = found.readable.first() {
        warnings.push(format!(
            "{} backup(s) in {shown} can be read by any user of this machine ({first}{}): `chmod 600` them",
            found.readable.len(),
            if found.readable.len() > 1 { ", …" } else { "" }
        ));
    }
    warnings
}

/// Copies the database into the staged file and makes it durable and checked; says how it was
/// copied and how it was checked.
fn stage(
    conn: &Connection,
    staged: &tempfile::NamedTempFile,
    plan: &Plan,
    phases: &mut Phases,
    warnings: &mut Vec<String>,
    progress: &mut dyn FnMut(Progress),
) -> Result<(&'static str, &'static str)> {
    let copy_started = Instant::now();
    match conn {
        Connection::Sqlite { path } => {
            let source = sqlite::open_source(path, plan.busy_timeout)?;
            let method =
                sqlite::snapshot(&source, staged.as_file(), staged.path(), plan.busy_timeout)?;
            drop(source);
            if !plan.exclude_data.is_empty() {
                sqlite::exclude_data(staged.path(), &plan.exclude_data)?;
            }
            phases.snapshot = copy_started.elapsed();
            flush_and_check(staged, phases, || sqlite::quick_check(staged.path()))?;
            Ok((method, CHECK_SQLITE))
        }
        Connection::Mysql(params) => {
            let mut out = BufWriter::with_capacity(1 << 20, Writeback::new(staged.as_file()));
            let stats = mysql::dump(
                params,
                &mut out,
                staged.path(),
                &plan.exclude_data,
                &mut |w| warnings.push(w),
                progress,
            )?;
            out.flush()
                .map_err(Error::io("cannot write", staged.path()))?;
            drop(out);
            phases.snapshot = copy_started.elapsed();
            flush_and_check(staged, phases, || {
                mysql::check::dump_file(staged.path(), &stats.streamed)
            })?;
            Ok(("dump", CHECK_MYSQL))
        }
        Connection::Postgres(params) => {
            // The read-back follows the file as it is written: one pass.
            let done = Arc::new(AtomicBool::new(false));
            let (schemas, learnt) = std::sync::mpsc::channel();
            let check = postgres::check::follow(staged.path(), learnt, done.clone());
            let mut out = BufWriter::with_capacity(1 << 20, Writeback::new(staged.as_file()));
            let dumped = postgres::dump(
                params,
                &mut out,
                staged.path(),
                &plan.exclude_data,
                progress,
                schemas,
            );
            let flushed = out.flush();
            drop(out);
            // Also on failure: the reader must reach its end and stop.
            done.store(true, Ordering::Release);
            let read_back = check
                .join()
                .unwrap_or_else(|_| Err(Error::CheckFailed("the read-back panicked".into())));
            let stats = dumped?;
            flushed.map_err(Error::io("cannot write", staged.path()))?;
            phases.snapshot = copy_started.elapsed();
            flush_and_check(staged, phases, || {
                postgres::check::compare(&read_back?, &stats.streamed)
            })?;
            Ok(("dump", CHECK_MYSQL))
        }
    }
}

/// The checks a backup passes before it is published, as `--json` names them.
const CHECK_SQLITE: &str = "quick_check";
/// The dump read back with our own splitter: parses to the end, ends with "-- Dump completed",
/// one CREATE per table with as many rows as were streamed, every view, routine, trigger and
/// event (see engine/mysql/check.rs).
const CHECK_MYSQL: &str = "read back";

/// Flushes the staged file to disk while `check` reads it: each takes about as long as the
/// copy, so they run side by side. Publishing still waits for both.
fn flush_and_check<T>(
    staged: &tempfile::NamedTempFile,
    phases: &mut Phases,
    check: impl FnOnce() -> Result<T>,
) -> Result<T> {
    let file = staged
        .as_file()
        .try_clone()
        .map_err(Error::io("cannot reopen", staged.path()))?;
    let flush = std::thread::spawn(move || {
        let t = Instant::now();
        file.sync_all().map(|()| t.elapsed())
    });
    let t = Instant::now();
    let checked = check();
    phases.check = t.elapsed();
    let flushed = flush
        .join()
        .unwrap_or_else(|_| Err(std::io::Error::other("flush thread panicked")));
    let checked = checked?;
    phases.flush = flushed.map_err(Error::io("cannot flush", staged.path()))?;
    Ok(checked)
}

/// Deletes the backups the policy does not keep, never the one just made. A failure here comes
/// after a good backup was published, so it is reported as such rather than failing the run.
fn apply_retention(dir: &Path, policy: &Policy, created: &Path) -> (Vec<PathBuf>, Option<String>) {
    let protect = created.file_name().and_then(|n| n.to_str());
    let mut deleted = Vec::new();
    let doomed = match retention::scan(dir) {
        Ok(all) => retention::deleted(&all, policy, protect),
        Err(e) => return (deleted, Some(e.to_string())),
    };
    for b in doomed {
        let path = dir.join(&b.name);
        match std::fs::remove_file(&path) {
            Ok(()) => deleted.push(path),
            Err(e) => {
                return (
                    deleted,
                    Some(format!("cannot delete old backup {}: {e}", path.display())),
                )
            }
        }
    }
    if !deleted.is_empty() {
        if let Err(e) = publish::sync_dir(dir) {
            return (deleted, Some(e.to_string()));
        }
    }
    (deleted, None)
}

fn dry_run(target: &Target, plan: &Plan) -> Result<Outcome> {
    let started = Instant::now();
    let (conn, dir) = (&target.connection, target.backups_dir.as_path());
    let size = match conn {
        Connection::Sqlite { path } => {
            // Opening proves the source is there and is a database, as a real run would.
            sqlite::open_source(path, plan.busy_timeout)?;
            std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
        }
        Connection::Mysql(params) => {
            // Connecting proves the settings work; the dump's size is unknown until written.
            mysql::probe(params)?;
            0
        }
        Connection::Postgres(params) => {
            postgres::probe(params)?;
            0
        }
    };
    let kind = conn.kind();
    let name = retention::file_name(now_in(target.tz), kind);
    let mut existing = retention::scan(dir)?;
    existing.extend(retention::parse(&name));
    let verdicts = retention::judge(&existing, &plan.policy, Some(&name));
    let deleted = verdicts
        .iter()
        .filter(|v| v.kept_by.is_empty())
        .map(|v| dir.join(&v.backup.name))
        .collect();
    Ok(Outcome {
        created: dir.join(name),
        size,
        duration: started.elapsed(),
        deleted,
        verdicts,
        retention_failed: None,
        dry_run: true,
        warnings: Vec::new(),
        phases: Phases::default(),
        method: "",
        check: "",
        kind,
        excluded_data: plan.exclude_data.clone(),
    })
}

fn now_in(tz: Tz) -> NaiveDateTime {
    Utc::now().with_timezone(&tz).naive_local()
}

/// The name for "now". After a same-second collision it is called again, so it first waits for
/// the clock to pass the second it last used: a backup's name is always a time it really ran.
fn name_after(tz: Tz, kind: Kind, last: &mut Option<i64>) -> String {
    let mut now = Utc::now();
    while last.is_some_and(|l| now.timestamp() <= l) {
        std::thread::sleep(Duration::from_millis(20));
        now = Utc::now();
    }
    *last = Some(now.timestamp());
    retention::file_name(now.with_timezone(&tz).naive_local(), kind)
}
