//! Everything the user sees: result lines, JSON for CI, the original command's French lines,
//! warnings, notes, the confirmation question and the progress bar. Nothing else prints.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::cmd::backup::{Outcome, Progress};
use crate::cmd::disks::DiskRun;
use crate::cmd::restore::Restored;
use crate::cmd::status::Status;
use crate::cmd::verify::Verified;
use crate::error::{Error, Result};
use crate::laravel::Target;
use crate::store::catalog::Entry;
use crate::store::retention::Rule;
use crate::store::Kind;
use crate::units::size;

/// How to print a run's results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Text,
    Quiet,
    Json,
    /// The original Artisan command's French lines.
    Artisan,
}

/// One line on stdout. A reader that went away (`db-backup list | head`) ends the output
/// quietly: the work is done, and a panic on a closed pipe would only add noise.
fn out(line: &str) {
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = writeln!(stdout, "{line}").and_then(|()| stdout.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
    }
}

/// One line on stderr; a closed stderr is nothing we can report on.
fn err(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// Warnings go to stderr in every style (cron mail and Artisan's output show them); `--json`
/// carries them too.
pub fn warnings(list: &[String]) {
    for w in list {
        err(&format!("db-backup: warning: {w}"));
    }
}

/// One line of a long-running replicate's log, on stdout (systemd and Supervisor stamp it).
pub fn event(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "db-backup: replicate: {text}");
}

/// A note about what is about to happen, on stderr.
pub fn note(text: &str) {
    err(&format!("db-backup: note: {text}"));
}

/// A failure, as one line: the original command's French line under `--artisan`.
pub fn error(e: &Error, artisan: bool) {
    if artisan {
        artisan_error(e);
    } else {
        err(&format!("db-backup: error: {e}"));
    }
}

/// Help and version as clap prints them (exit 0); a usage error as one line on stderr, so
/// scripts and logs see a single, clear reason, and exit 2.
pub fn usage(e: &clap::Error) -> std::process::ExitCode {
    if !e.use_stderr() {
        // A closed stdout (`db-backup --help | true`) is nothing to report.
        let _ = e.print();
        return std::process::ExitCode::SUCCESS;
    }
    let rendered = e.render().to_string();
    let mut lines = rendered.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("invalid usage");
    let first = first.strip_prefix("error: ").unwrap_or(first);
    // "the following required arguments were not provided:" names them on the next line.
    let more = match lines.next() {
        Some(next) if first.ends_with(':') => format!(" {next}"),
        _ => String::new(),
    };
    err(&format!(
        "db-backup: error: {first}{more} (see db-backup --help)"
    ));
    std::process::ExitCode::from(crate::error::EXIT_USAGE)
}

/// Asks a yes/no question on the terminal; refuses when there is no terminal to ask on.
pub fn confirm(question: &str) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        return Err(Error::NeedsConfirmation);
    }
    let mut stderr = std::io::stderr().lock();
    let _ = write!(stderr, "{question} [y/N] ").and_then(|()| stderr.flush());
    drop(stderr);
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(Error::io("cannot read the answer from", "stdin"))?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "oui" | "o"))
}

#[derive(Serialize)]
struct JsonOutcome<'a> {
    created: String,
    path: &'a Path,
    size_bytes: u64,
    duration_ms: u128,
    deleted: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retention_failed: Option<&'a str>,
    dry_run: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    kept: Vec<JsonVerdict>,
    warnings: &'a [String],
    /// Tables whose rows were left out (`--exclude-data`), structure kept.
    excluded_data: &'a [String],
    phases_ms: PhasesMs,
    method: &'a str,
    check: &'a str,
    /// One entry per disk of DB_BACKUP_DISKS: copies made, old copies deleted, or the error.
    copies: &'a [DiskRun],
}

#[derive(Serialize)]
struct JsonVerdict {
    name: String,
    kept_by: Vec<Rule>,
}

#[derive(Serialize)]
struct PhasesMs {
    snapshot: u128,
    flush: u128,
    check: u128,
    publish: u128,
}

/// A backup's outcome (with its copies to the disks) as the JSON object `--json` prints.
pub fn backup_json(app: &Target, outcome: &Outcome, copies: &[DiskRun]) -> serde_json::Value {
    let rel = |p: &Path| app.display_path(p);
    let json = JsonOutcome {
        created: rel(&outcome.created),
        path: &outcome.created,
        size_bytes: outcome.size,
        duration_ms: outcome.duration.as_millis(),
        deleted: outcome.deleted.iter().map(|p| rel(p)).collect(),
        retention_failed: outcome.retention_failed.as_deref(),
        dry_run: outcome.dry_run,
        kept: outcome
            .verdicts
            .iter()
            .filter(|v| !v.kept_by.is_empty())
            .map(|v| JsonVerdict {
                name: v.backup.name.clone(),
                kept_by: v.kept_by.clone(),
            })
            .collect(),
        warnings: &outcome.warnings,
        excluded_data: &outcome.excluded_data,
        method: outcome.method,
        check: outcome.check,
        copies,
        phases_ms: PhasesMs {
            snapshot: outcome.phases.snapshot.as_millis(),
            flush: outcome.phases.flush.as_millis(),
            check: outcome.phases.check.as_millis(),
            publish: outcome.phases.publish.as_millis(),
        },
    };
    // Serializing plain strings and numbers cannot fail.
    serde_json::to_value(&json).unwrap_or_default()
}

/// A failed run as a JSON object, for the bridge's events and `--on-failure`: the message
/// (which never holds a password) and the exit code.
pub fn failure_json(event: &str, e: &Error) -> serde_json::Value {
    serde_json::json!({
        "event": event,
        "ok": false,
        "error": e.to_string(),
        "exit_code": e.exit_code(),
    })
}

/// Prints a backup's local outcome on stdout (warnings on stderr), before any copy starts;
/// `copies` follows with the disks (and the JSON object, which holds both).
pub fn backup(app: &Target, outcome: &Outcome, style: Style) {
    let rel = |p: &Path| app.display_path(p);
    warnings(&outcome.warnings);
    match style {
        Style::Quiet | Style::Json => {}
        Style::Artisan => artisan(outcome),
        Style::Text if outcome.dry_run => {
            out(&format!(
                "would create {} (about {})",
                rel(&outcome.created),
                size(outcome.size)
            ));
            if !outcome.excluded_data.is_empty() {
                out(&format!(
                    "would leave out the rows of {} (their structure is kept)",
                    outcome.excluded_data.join(", ")
                ));
            }
            // Every backup with the rule that keeps it, or its deletion.
            for v in &outcome.verdicts {
                let path = app.backups_dir.join(&v.backup.name);
                if v.kept_by.is_empty() {
                    out(&format!("would delete {}", rel(&path)));
                } else {
                    let rules: Vec<&str> = v.kept_by.iter().map(|r| r.label()).collect();
                    out(&format!("would keep {} ({})", rel(&path), rules.join(", ")));
                }
            }
        }
        Style::Text => {
            out(&format!(
                "created {} ({}, {})",
                rel(&outcome.created),
                size(outcome.size),
                seconds(outcome.duration)
            ));
            if !outcome.excluded_data.is_empty() {
                out(&format!(
                    "left out the rows of {} (their structure is kept)",
                    outcome.excluded_data.join(", ")
                ));
            }
            for p in &outcome.deleted {
                out(&format!("deleted {}", rel(p)));
            }
        }
    }
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The lines `php artisan db:backup` printed (see shared/reference/original-command.md).
fn artisan(outcome: &Outcome) {
    let kind = match outcome.kind {
        Kind::MysqlDump => "MySQL",
        Kind::PgDump => "PostgreSQL",
        Kind::Sqlite => "SQLite",
    };
    let dry = if outcome.dry_run { "[dry-run] " } else { "" };
    out(&format!(
        "{dry}Backup {kind} créé: {}",
        file_name(&outcome.created)
    ));
    for p in &outcome.deleted {
        out(&format!("Ancien backup supprimé: {}", file_name(p)));
    }
}

/// Prints what each disk got: copies and pruned copies (a disk's failure is the error line
/// that follows); then, for Artisan, the final success line, and for `--json` the one object.
pub fn copies(app: &Target, outcome: &Outcome, runs: &[DiskRun], style: Style) {
    for run in runs {
        warnings(&run.warnings);
    }
    match style {
        Style::Quiet => {}
        Style::Json => out(&backup_json(app, outcome, runs).to_string()),
        Style::Text if outcome.dry_run => {
            for run in runs {
                for c in &run.copied {
                    out(&format!(
                        "would copy {} to disk '{}' ({}){}",
                        c.name,
                        run.disk,
                        run.location,
                        if c.catch_up { ", missing there" } else { "" }
                    ));
                }
                for d in &run.deleted {
                    out(&format!("would delete {d} from disk '{}'", run.disk));
                }
            }
        }
        Style::Text => {
            for run in runs {
                if run.aborted_uploads > 0 {
                    out(&format!(
                        "aborted {} unfinished upload(s) an interrupted run left on disk '{}'",
                        run.aborted_uploads, run.disk
                    ));
                }
                for c in &run.copied {
                    out(&format!(
                        "copied {} to disk '{}' ({}, {}, {}{})",
                        c.name,
                        run.disk,
                        run.location,
                        size(c.size_bytes),
                        c.checked,
                        if c.catch_up {
                            "; it was missing there"
                        } else {
                            ""
                        }
                    ));
                }
                for d in &run.deleted {
                    out(&format!("deleted {d} from disk '{}'", run.disk));
                }
            }
        }
        Style::Artisan => {
            let dry = if outcome.dry_run { "[dry-run] " } else { "" };
            for run in runs {
                for c in &run.copied {
                    out(&format!(
                        "{dry}Backup copié sur le disque {}: {}",
                        run.disk, c.name
                    ));
                }
                for d in &run.deleted {
                    out(&format!(
                        "{dry}Ancienne copie supprimée du disque {}: {d}",
                        run.disk
                    ));
                }
            }
            // A retention or copy failure is reported as the error line that follows, not as
            // a success.
            if outcome.retention_failed.is_none() && runs.iter().all(|r| r.error.is_none()) {
                out("Backup créé avec succès !");
            }
        }
    }
}

/// A failure as the original command reported it: one French line on stdout, in the form it
/// used for that kind of failure. Where that form had no room for the reason, the reason goes
/// to stderr so it is not lost.
fn artisan_error(e: &Error) {
    match e.root() {
        Error::DatabaseMissing(p) => out(&format!(
            "Le fichier de base de données n'existe pas: {}",
            p.display()
        )),
        Error::UnsupportedDriver(d) | Error::UnknownConnection(d) => out(&format!(
            "Le driver de base de données '{d}' n'est pas supporté pour le backup."
        )),
        Error::MysqlAccess { .. }
        | Error::MysqlUnknownDb { .. }
        | Error::MysqlUnreachable { .. }
        | Error::MysqlPrivilege { .. }
        | Error::MysqlLost { .. }
        | Error::Mysql { .. } => out(&format!("Erreur lors de la création du dump MySQL: {e}")),
        Error::NotADatabase(_)
        | Error::DatabaseEmpty(_)
        | Error::DatabaseLocked { .. }
        | Error::Sqlite { .. } => {
            out("Impossible de copier le fichier de base de données");
            err(&format!("db-backup: error: {e}"));
        }
        // The backup itself was made: one line per disk that did not get its copy.
        Error::CopyFailed { failures, .. } => {
            for (disk, why) in failures {
                out(&format!(
                    "Erreur lors de la copie du backup sur le disque {disk}: {why}"
                ));
            }
        }
        _ => out(&format!("Erreur lors de la création du backup: {e}")),
    }
}

/// A progress bar for a dump: tables, rows, bytes. Drawn on stderr only when it is a terminal
/// (indicatif hides itself otherwise), so cron mails and CI logs stay clean.
pub struct DumpProgress {
    bar: Option<indicatif::ProgressBar>,
}

impl DumpProgress {
    /// A bar, or nothing when `enabled` is false.
    pub fn new(enabled: bool) -> DumpProgress {
        let bar = enabled.then(|| {
            let bar = indicatif::ProgressBar::with_draw_target(
                None,
                indicatif::ProgressDrawTarget::stderr(),
            );
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} table {pos}/{len} {wide_msg} {elapsed}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            bar
        });
        DumpProgress { bar }
    }

    /// Takes one progress event from the dump.
    pub fn update(&mut self, p: Progress) {
        let Some(bar) = &self.bar else { return };
        match p {
            Progress::Table { name, index, total } => {
                bar.set_length(total as u64);
                bar.set_position(index as u64 + 1);
                bar.set_message(name.to_string());
            }
            Progress::Written { rows, bytes } => {
                bar.set_message(format!("{rows} rows, {}", size(bytes)));
            }
        }
    }

    /// Removes the bar before the result line is printed.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// A restore's progress bar on a terminal (nothing elsewhere): bytes of the backup loaded or
/// copied, tables so far, and an ETA, read from the job's [`Meter`] a few times a second.
pub struct LoadBar {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LoadBar {
    pub fn new(meter: std::sync::Arc<crate::engine::Meter>) -> LoadBar {
        use std::io::IsTerminal;
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        if !std::io::stderr().is_terminal() {
            return LoadBar { stop, thread: None };
        }
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let bar = indicatif::ProgressBar::with_draw_target(
                Some(0),
                indicatif::ProgressDrawTarget::stderr(),
            );
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "restoring {bar:30} {bytes}/{total_bytes} {msg} ETA {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            while !flag.load(Ordering::Relaxed) {
                let total = meter.total.load(Ordering::Relaxed);
                if total > 0 {
                    bar.set_length(total);
                    bar.set_position(meter.done.load(Ordering::Relaxed).min(total));
                    let tables = meter.tables.load(Ordering::Relaxed);
                    if tables > 0 {
                        bar.set_message(format!("{tables} tables"));
                    }
                }
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
            bar.finish_and_clear();
        });
        LoadBar {
            stop,
            thread: Some(thread),
        }
    }

    /// Removes the bar before the result line is printed.
    pub fn finish(mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `db-backup list`.
pub fn list(target: &Target, entries: &[Entry], json: bool) {
    if json {
        out(&serde_json::to_string(entries).unwrap_or_default());
        return;
    }
    if entries.is_empty() {
        out(&format!(
            "no backups in {}",
            target.display_path(&target.backups_dir)
        ));
    }
    entry_lines(entries);
}

/// One line per backup: name, kind, size, age.
fn entry_lines(entries: &[Entry]) {
    for e in entries {
        out(&format!(
            "{}  {:<6}  {:>10}  {}{}",
            e.name,
            e.kind.extension(),
            size(e.size_bytes),
            crate::units::age(e.age_seconds),
            match &e.foreign {
                Some(why) => format!("  FOREIGN: {why}"),
                None => String::new(),
            }
        ));
    }
}

/// `db-backup list --disk NAME`.
pub fn list_disk(disk: &dyn crate::store::remote::Disk, entries: &[Entry], json: bool) {
    if json {
        out(&serde_json::to_string(entries).unwrap_or_default());
        return;
    }
    if entries.is_empty() {
        out(&format!(
            "no backups on disk '{}' ({})",
            disk.name(),
            disk.location()
        ));
    }
    entry_lines(entries);
}

/// `db-backup verify`.
pub fn verified(target: &Target, v: &Verified, json: bool) {
    warnings(&v.warnings);
    if json {
        out(&serde_json::to_string(v).unwrap_or_default());
        return;
    }
    let rows: u64 = v.tables.iter().map(|(_, n)| n).sum();
    out(&format!(
        "ok: {} ({}, {} tables, {rows} rows)",
        target.display_path(&v.file),
        v.check,
        v.tables.len()
    ));
    for (t, n) in &v.tables {
        out(&format!("  {t}: {n}"));
    }
}

/// `db-backup restore`.
pub fn restored(target: &Target, r: &Restored) {
    warnings(&r.warnings);
    if let Some(dropped) = &r.dropped {
        out(&format!(
            "dropped first, not in the backup (--clean): {dropped}"
        ));
    }
    out(&format!(
        "safety backup of the previous data: {}",
        target.display_path(&r.safety)
    ));
    let rows: u64 = r.tables.iter().map(|(_, n)| n).sum();
    out(&format!(
        "restored {} ({} tables, {rows} rows)",
        target.display_path(&r.file),
        r.tables.len()
    ));
}

/// `db-backup status`: one line per check, `[place] ok: …` or `[place] UNHEALTHY: …`; with
/// `quiet`, the failing ones only.
pub fn status(st: &Status, json: bool, quiet: bool) {
    for place in &st.places {
        warnings(&place.warnings);
    }
    if json {
        out(&status_json(st).to_string());
        return;
    }
    for place in &st.places {
        for c in place.checks.iter().filter(|c| !(quiet && c.ok)) {
            let verdict = if c.ok { "ok" } else { "UNHEALTHY" };
            out(&format!("[{}] {verdict}: {}", place.name, c.message));
        }
    }
}

/// The status as the JSON object `status --json` prints.
pub fn status_json(st: &Status) -> serde_json::Value {
    serde_json::to_value(st).unwrap_or_default()
}

/// The metrics when `status` itself failed (a bad setting, an unreadable app): unhealthy.
pub fn prometheus_failed() -> String {
    "# HELP db_backup_healthy 1 when every check of db-backup status passes, else 0.\n# TYPE db_backup_healthy gauge\ndb_backup_healthy{place=\"local\"} 0\n".to_string()
}

/// The metrics of node_exporter's textfile collector (Prometheus text format), one series per
/// place.
pub fn prometheus(st: &Status) -> String {
    let mut text = String::new();
    let metric = |text: &mut String,
                  name: &str,
                  help: &str,
                  value: &dyn Fn(&crate::cmd::status::Place) -> Option<String>| {
        text.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n"));
        for p in &st.places {
            if let Some(v) = value(p) {
                text.push_str(&format!(
                    "{name}{{place=\"{}\"}} {v}\n",
                    p.name.replace(['\\', '"', '\n'], "_")
                ));
            }
        }
    };
    metric(
        &mut text,
        "db_backup_last_success_timestamp_seconds",
        "Unix time of the newest backup (the time in its name).",
        &|p| p.newest.as_ref().map(|n| n.taken_at_unix.to_string()),
    );
    metric(
        &mut text,
        "db_backup_last_size_bytes",
        "Size of the newest backup in bytes.",
        &|p| p.newest.as_ref().map(|n| n.size_bytes.to_string()),
    );
    metric(
        &mut text,
        "db_backup_count",
        "Number of backups kept.",
        &|p| Some(p.count.to_string()),
    );
    metric(
        &mut text,
        "db_backup_healthy",
        "1 when every check of db-backup status passes, else 0.",
        &|p| Some(u8::from(p.healthy).to_string()),
    );
    if st
        .places
        .iter()
        .any(|p| p.replication_lag_seconds.is_some())
    {
        metric(
            &mut text,
            "db_backup_replication_lag_seconds",
            "Seconds the oldest transaction not yet shipped here has waited (continuous backup).",
            &|p| p.replication_lag_seconds.map(|l| format!("{l:.3}")),
        );
    }
    text
}

/// `db-backup install-artisan --print`.
pub fn install_files(files: &[(String, String)]) {
    for (path, text) in files {
        out(&format!("// ==> {path} <=="));
        out(text.trim_end_matches('\n'));
    }
}

/// `db-backup install-artisan`.
pub fn installed(done: &crate::cmd::install::Installed) {
    out(&format!("installed {}", done.path.display()));
    for saved in &done.saved {
        out(&format!(
            "your previous file was kept as {}",
            saved.display()
        ));
    }
    match (&done.own_config, &done.binary) {
        (Some(own), _) => out(&format!(
            "{} is your own and was left as it is (its 'binary' names the binary php artisan db:backup runs)",
            own.display()
        )),
        (None, Some(binary)) => out(&format!(
            "php artisan db:backup runs {binary} (the default in config/db-backup.php); set DB_BACKUP_BINARY in .env to run another"
        )),
        (None, None) => out(
            "php artisan db:backup runs db-backup from the PATH, or the file named by DB_BACKUP_BINARY in .env (config/db-backup.php)",
        ),
    }
    if let Some(cache) = &done.config_cache {
        out(&format!(
            "the app's config is cached ({}): run `php artisan config:cache` again so that it sees config/db-backup.php",
            cache.display()
        ));
    }
    out("on servers without Rust, `php artisan db-backup:install` downloads the prebuilt db-backup, checked against its signed SHA256SUMS");
}

fn seconds(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// Which point `--at` found, on stderr before anything is restored or written.
pub fn point(target: &Target, built: &crate::cmd::pitr::Built, at_ms: i64) {
    use crate::cmd::pitr::show;
    let checked = match built.check {
        crate::cmd::pitr::Check::Here => "checked (state checksum, integrity_check)",
        crate::cmd::pitr::Check::BesideSafetyBackup => {
            "state checksum checked (integrity_check runs beside the safety backup)"
        }
    };
    note(&format!(
        "the database as at {} (asked: {}): {} plus {} transaction(s) of chain {}, {checked}",
        show(built.point_ms, target.tz),
        show(at_ms, target.tz),
        built.base,
        built.applied,
        built.chain
    ));
    if at_ms > built.chain_end_ms + 5_000 {
        warnings(&[format!(
            "continuous backup holds nothing after {}: was replicate running at the time asked?",
            show(built.chain_end_ms, target.tz)
        )]);
    }
}

/// `list --points`: each chain's window, and the backups a restore can start from in it.
pub fn points(target: &Target, chains: &[crate::cmd::pitr::Window], json: bool) {
    use crate::cmd::pitr::show;
    if json {
        out(&serde_json::to_string(chains).unwrap_or_default());
        return;
    }
    if chains.is_empty() {
        out("no continuous backup: run `db-backup replicate` (see the README's \"Continuous backup\")");
        return;
    }
    for c in chains {
        let from = match &c.restorable_from {
            Some((ms, name)) => format!("restorable from {} ({name})", show(*ms, target.tz)),
            None => "no backup in it yet: not restorable until the next backup".to_string(),
        };
        out(&format!(
            "chain {}: {} → {}, {} transaction(s) in {} segment(s), {}; {from}",
            c.chain,
            show(c.start_ms, target.tz),
            show(c.end_ms, target.tz),
            c.transactions,
            c.segments,
            size(c.bytes),
        ));
    }
}

/// `verify --at`: the point that was built and checked.
pub fn point_verified(target: &Target, built: &crate::cmd::pitr::Built, json: bool) {
    use crate::cmd::pitr::show;
    if json {
        let v = serde_json::json!({
            "ok": true,
            "point": show(built.point_ms, target.tz),
            "backup": built.base,
            "transactions": built.applied,
            "chain": built.chain,
            "checks": ["state checksum", "integrity_check"],
        });
        out(&v.to_string());
    } else {
        out(&format!(
            "restorable: the database as at {} ({} plus {} transaction(s)): state checksum and integrity_check pass",
            show(built.point_ms, target.tz),
            built.base,
            built.applied
        ));
    }
}
