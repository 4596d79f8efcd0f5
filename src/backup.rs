//! The backup job: resolve, lock, snapshot, check, publish, then apply retention.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{NaiveDateTime, Utc};
use chrono_tz::Tz;

use crate::connection::Connection;
use crate::error::{Error, Result};
use crate::laravel::Target;
use crate::{mysql, publish, report, retention, sqlite};
use std::io::{BufWriter, Write};

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct Plan {
    pub keep: u32,
    pub dry_run: bool,
    pub busy_timeout: Duration,
}

/// What a run did (or, with `--dry-run`, would do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub created: PathBuf,
    pub size: u64,
    pub duration: Duration,
    pub deleted: Vec<PathBuf>,
    pub dry_run: bool,
    /// Things the user should know about a backup that still succeeded.
    pub warnings: Vec<String>,
    pub phases: Phases,
    /// How the copy was made ("file copy", "file copy + WAL frames", "backup API", "dump").
    pub method: &'static str,
}

/// Where the time went, for `--json` and the benchmarks. `check` runs alongside `flush`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Phases {
    /// Reading the source into the temporary file.
    pub snapshot: Duration,
    /// fsync of the temporary file.
    pub flush: Duration,
    /// The integrity gate (SQLite's quick_check).
    pub check: Duration,
    /// Rename without overwrite and folder fsync.
    pub publish: Duration,
}

/// Runs one backup of the target's database into its backups folder.
/// `progress`: whether to draw a progress bar (on a terminal, not quiet or JSON).
pub fn run(target: &Target, plan: &Plan, progress: bool) -> Result<Outcome> {
    let started = Instant::now();
    let (conn, dir, tz) = (&target.connection, target.backups_dir.as_path(), target.tz);
    if plan.dry_run {
        return dry_run(conn, dir, plan, tz, started);
    }
    publish::ensure_dir(dir)?;
    let _lock = publish::Lock::acquire(dir)?;
    publish::remove_stale(dir)?;

    let staged = publish::staging_file(dir)?;
    let mut warnings = Vec::new();
    let mut phases = Phases::default();
    let mut method = "dump";
    let copy_started = Instant::now();
    match conn {
        Connection::Sqlite { path } => {
            let source = sqlite::open_source(path, plan.busy_timeout)?;
            method = sqlite::snapshot(
                &source,
                path,
                staged.as_file(),
                staged.path(),
                plan.busy_timeout,
            )?;
            drop(source);
            phases.snapshot = copy_started.elapsed();
            // The flush to disk and the integrity check each take about as long as the copy;
            // run them side by side. Publishing still waits for both.
            let file = staged
                .as_file()
                .try_clone()
                .map_err(Error::io("cannot reopen", staged.path()))?;
            let flush = std::thread::spawn(move || {
                let t = Instant::now();
                file.sync_all().map(|()| t.elapsed())
            });
            let t = Instant::now();
            let checked = sqlite::quick_check(staged.path());
            phases.check = t.elapsed();
            let flushed = flush
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("flush thread panicked")));
            checked?;
            phases.flush = flushed.map_err(Error::io("cannot flush", staged.path()))?;
        }
        Connection::Mysql(params) => {
            let mut out = BufWriter::with_capacity(1 << 20, staged.as_file());
            let mut bar = report::DumpProgress::new(progress);
            mysql::dump(
                params,
                &mut out,
                staged.path(),
                &mut |w| warnings.push(w),
                &mut |p| bar.update(p),
            )?;
            bar.finish();
            out.flush()
                .map_err(Error::io("cannot write", staged.path()))?;
            phases.snapshot = copy_started.elapsed();
            let t = Instant::now();
            staged
                .as_file()
                .sync_all()
                .map_err(Error::io("cannot flush", staged.path()))?;
            phases.flush = t.elapsed();
        }
    }
    let size = staged
        .as_file()
        .metadata()
        .map_err(Error::io("cannot read", staged.path()))?
        .len();
    let mut last = None;
    let t = Instant::now();
    let created = publish::publish(staged, dir, || name_after(tz, conn.extension(), &mut last))?;
    phases.publish = t.elapsed();

    let protect = created.file_name().and_then(|n| n.to_str());
    let doomed = retention::to_delete(&retention::scan(dir)?, plan.keep, protect);
    let mut deleted = Vec::new();
    for b in doomed {
        let path = dir.join(&b.name);
        std::fs::remove_file(&path).map_err(Error::io("cannot delete old backup", &path))?;
        deleted.push(path);
    }
    if !deleted.is_empty() {
        publish::sync_dir(dir)?;
    }
    Ok(Outcome {
        created,
        size,
        duration: started.elapsed(),
        deleted,
        dry_run: false,
        warnings,
        phases,
        method,
    })
}

fn dry_run(
    conn: &Connection,
    dir: &Path,
    plan: &Plan,
    tz: Tz,
    started: Instant,
) -> Result<Outcome> {
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
    };
    let name = retention::file_name(now_in(tz), conn.extension());
    let mut existing = retention::scan(dir)?;
    existing.extend(retention::parse(&name));
    let deleted = retention::to_delete(&existing, plan.keep, Some(&name))
        .into_iter()
        .map(|b| dir.join(b.name))
        .collect();
    Ok(Outcome {
        created: dir.join(name),
        size,
        duration: started.elapsed(),
        deleted,
        dry_run: true,
        warnings: Vec::new(),
        phases: Phases::default(),
        method: "",
    })
}

fn now_in(tz: Tz) -> NaiveDateTime {
    Utc::now().with_timezone(&tz).naive_local()
}

/// The name for "now". After a same-second collision it is called again, so it first waits for
/// the clock to pass the second it last used: a backup's name is always a time it really ran.
fn name_after(tz: Tz, extension: &str, last: &mut Option<i64>) -> String {
    let mut now = Utc::now();
    while last.is_some_and(|l| now.timestamp() <= l) {
        std::thread::sleep(Duration::from_millis(20));
        now = Utc::now();
    }
    *last = Some(now.timestamp());
    retention::file_name(now.with_timezone(&tz).naive_local(), extension)
}
