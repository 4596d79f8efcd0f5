//! Showing results: one human line per file, or one JSON object for CI.

use std::time::Duration;

use serde::Serialize;

use crate::backup::Outcome;
use crate::error::Error;
use crate::laravel::Target;

/// How to print a run's results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Text,
    Quiet,
    Json,
    /// The original Artisan command's French lines.
    Artisan,
}

#[derive(Serialize)]
struct JsonOutcome<'a> {
    created: String,
    path: &'a std::path::Path,
    size_bytes: u64,
    duration_ms: u128,
    deleted: Vec<String>,
    dry_run: bool,
    warnings: &'a [String],
    phases_ms: PhasesMs,
    method: &'a str,
}

#[derive(Serialize)]
struct PhasesMs {
    snapshot: u128,
    flush: u128,
    check: u128,
    publish: u128,
}

/// Prints a backup's outcome on stdout.
pub fn backup(app: &Target, outcome: &Outcome, style: Style) {
    let rel = |p: &std::path::Path| app.display_path(p);
    if style == Style::Text {
        for w in &outcome.warnings {
            eprintln!("db-backup: warning: {w}");
        }
    }
    match style {
        Style::Quiet => {}
        Style::Json => {
            let json = JsonOutcome {
                created: rel(&outcome.created),
                path: &outcome.created,
                size_bytes: outcome.size,
                duration_ms: outcome.duration.as_millis(),
                deleted: outcome.deleted.iter().map(|p| rel(p)).collect(),
                dry_run: outcome.dry_run,
                warnings: &outcome.warnings,
                method: outcome.method,
                phases_ms: PhasesMs {
                    snapshot: outcome.phases.snapshot.as_millis(),
                    flush: outcome.phases.flush.as_millis(),
                    check: outcome.phases.check.as_millis(),
                    publish: outcome.phases.publish.as_millis(),
                },
            };
            // Serializing plain strings and numbers cannot fail.
            println!("{}", serde_json::to_string(&json).unwrap_or_default());
        }
        Style::Artisan => artisan(outcome),
        Style::Text if outcome.dry_run => {
            println!(
                "would create {} (about {})",
                rel(&outcome.created),
                size(outcome.size)
            );
            for p in &outcome.deleted {
                println!("would delete {}", rel(p));
            }
        }
        Style::Text => {
            println!(
                "created {} ({}, {})",
                rel(&outcome.created),
                size(outcome.size),
                seconds(outcome.duration)
            );
            for p in &outcome.deleted {
                println!("deleted {}", rel(p));
            }
        }
    }
}

fn file_name(p: &std::path::Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The lines `php artisan db:backup` printed (see shared/reference/original-command.md).
fn artisan(outcome: &Outcome) {
    let kind = if outcome.created.extension().is_some_and(|e| e == "sql") {
        "MySQL"
    } else {
        "SQLite"
    };
    if outcome.dry_run {
        println!(
            "[dry-run] Backup {kind} créé: {}",
            file_name(&outcome.created)
        );
    } else {
        println!("Backup {kind} créé: {}", file_name(&outcome.created));
    }
    for p in &outcome.deleted {
        println!("Ancien backup supprimé: {}", file_name(p));
    }
    println!("Backup créé avec succès !");
}

/// A failure as the original command reported it: one French line on stdout, in the form it
/// used for that kind of failure. Where that form had no room for the reason, the reason goes
/// to stderr so it is not lost.
pub fn artisan_error(e: &Error) {
    match e {
        Error::DatabaseMissing(p) => {
            println!(
                "Le fichier de base de données n'existe pas: {}",
                p.display()
            )
        }
        Error::UnsupportedDriver(d) | Error::UnknownConnection(d) => {
            println!("Le driver de base de données '{d}' n'est pas supporté pour le backup.")
        }
        Error::MysqlAccess { .. }
        | Error::MysqlUnknownDb { .. }
        | Error::MysqlUnreachable { .. }
        | Error::MysqlPrivilege { .. }
        | Error::MysqlLost { .. }
        | Error::Mysql { .. } => println!("Erreur lors de la création du dump MySQL: {e}"),
        Error::NotADatabase(_)
        | Error::DatabaseEmpty(_)
        | Error::DatabaseLocked { .. }
        | Error::Sqlite { .. } => {
            println!("Impossible de copier le fichier de base de données");
            eprintln!("db-backup: error: {e}");
        }
        _ => println!("Erreur lors de la création du backup: {e}"),
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
    pub fn update(&mut self, p: crate::mysql::Progress) {
        let Some(bar) = &self.bar else { return };
        match p {
            crate::mysql::Progress::Table { name, index, total } => {
                bar.set_length(total as u64);
                bar.set_position(index as u64 + 1);
                bar.set_message(name.to_string());
            }
            crate::mysql::Progress::Written { rows, bytes } => {
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

/// `db-backup list`.
pub fn list(target: &Target, entries: &[crate::catalog::Entry], json: bool) {
    if json {
        println!("{}", serde_json::to_string(entries).unwrap_or_default());
        return;
    }
    if entries.is_empty() {
        println!("no backups in {}", target.display_path(&target.backups_dir));
    }
    for e in entries {
        println!(
            "{}  {:<6}  {:>10}  {}",
            e.name,
            e.kind,
            size(e.size_bytes),
            crate::catalog::age(e.age_seconds)
        );
    }
}

/// `db-backup verify`.
pub fn verified(target: &Target, r: &crate::verify::Report, json: bool) {
    if json {
        println!("{}", serde_json::to_string(r).unwrap_or_default());
        return;
    }
    let rows: u64 = r.tables.iter().map(|(_, n)| n).sum();
    println!(
        "ok: {} ({}, {} tables, {rows} rows)",
        target.display_path(&r.file),
        r.check,
        r.tables.len()
    );
    for (t, n) in &r.tables {
        println!("  {t}: {n}");
    }
}

/// `db-backup restore`.
pub fn restored(target: &Target, r: &crate::restore::Restored) {
    println!(
        "safety backup of the previous data: {}",
        target.display_path(&r.safety)
    );
    let rows: u64 = r.tables.iter().map(|(_, n)| n).sum();
    println!(
        "restored {} ({} tables, {rows} rows)",
        target.display_path(&r.file),
        r.tables.len()
    );
}

/// A byte count the way people read them: 1.5 MiB.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn seconds(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_read_naturally() {
        assert_eq!(super::size(512), "512 B");
        assert_eq!(super::size(1536), "1.5 KiB");
        assert_eq!(super::size(3 * 1024 * 1024 * 1024), "3.0 GiB");
    }
}
