//! Which backups to keep: the names the old command wrote, and a pure keep-N policy over them.

use std::path::Path;
use std::sync::LazyLock;

use chrono::NaiveDateTime;
use regex::Regex;

use super::Kind;
use crate::error::{Error, Result};

/// Exactly the names `php artisan db:backup` wrote; nothing else is ever a deletion candidate.
static NAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^database_backup_(\d{4}-\d{2}-\d{2}_\d{6})\.(sqlite|sql)$").expect("valid regex")
});

const STAMP: &str = "%Y-%m-%d_%H%M%S";

/// A backup file, known by its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backup {
    /// The file name, e.g. `database_backup_2026-11-24_032344.sqlite`.
    pub name: String,
    /// The wall-clock time in the name (app time zone).
    pub taken_at: NaiveDateTime,
}

/// The file name for a backup of this kind taken at `at` (app time zone).
pub fn file_name(at: NaiveDateTime, kind: Kind) -> String {
    format!("database_backup_{}.{}", at.format(STAMP), kind.extension())
}

/// Parses a backup file name; `None` for anything that is not exactly one (or not a real date).
pub fn parse(name: &str) -> Option<Backup> {
    let caps = NAME.captures(name)?;
    let taken_at = NaiveDateTime::parse_from_str(&caps[1], STAMP).ok()?;
    Some(Backup {
        name: name.to_string(),
        taken_at,
    })
}

/// The backups to delete so that `keep` remain: all but the `keep` newest by the time in their
/// names (ties broken by name, so the result never depends on directory order). `protect`, the
/// backup just made, is never deleted even if a clock skew put newer-looking names beside it.
pub fn to_delete(backups: &[Backup], keep: u32, protect: Option<&str>) -> Vec<Backup> {
    let mut sorted: Vec<&Backup> = backups.iter().collect();
    sorted.sort_by(|a, b| (b.taken_at, &b.name).cmp(&(a.taken_at, &a.name)));
    sorted
        .into_iter()
        .skip(keep as usize)
        .filter(|b| Some(b.name.as_str()) != protect)
        .cloned()
        .collect()
}

/// The backups in a folder: regular files (never symlinks) with an exact backup name.
pub fn scan(dir: &Path) -> Result<Vec<Backup>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("cannot list", dir)(e)),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(Error::io("cannot list", dir))?;
        // file_type() does not follow symlinks: a link named like a backup is left alone.
        let is_file = entry.file_type().map(|t| t.is_file()).unwrap_or(false);
        if let (true, Some(name)) = (is_file, entry.file_name().to_str()) {
            found.extend(parse(name));
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(name: &str) -> Backup {
        parse(name).unwrap_or_else(|| panic!("{name} should parse"))
    }

    fn names(v: Vec<Backup>) -> Vec<String> {
        v.into_iter().map(|b| b.name).collect()
    }

    #[test]
    fn names_round_trip() {
        let at = NaiveDateTime::parse_from_str("2026-11-24_032344", STAMP).unwrap();
        assert_eq!(
            file_name(at, Kind::Sqlite),
            "database_backup_2026-11-24_032344.sqlite"
        );
        assert_eq!(parse(&file_name(at, Kind::MysqlDump)).unwrap().taken_at, at);
    }

    #[test]
    fn only_exact_names_are_backups() {
        for foreign in [
            "database_backup_2026-11-24_032344.sqlite.bak",
            "xdatabase_backup_2026-11-24_032344.sqlite",
            "database_backup_2026-11-24_03234.sqlite",
            "database_backup_2026-11-24_032344.sqlite-wal",
            "database_backup_2026-11-24_032344.SQLITE",
            "database_backup_2026-13-24_032344.sqlite",
            "database_backup_2026-02-30_032344.sqlite",
            "database_backup_2026-11-24_246000.sqlite",
            "database_backup_2026-11-24_032344.sql.gz",
            ".db-backup-abc.partial",
            "notes.txt",
        ] {
            assert!(parse(foreign).is_none(), "{foreign} taken for a backup");
        }
        assert!(parse("database_backup_2024-02-29_000000.sql").is_some());
    }

    #[test]
    fn keeps_newest_by_name_across_day_month_year() {
        let all = vec![
            b("database_backup_2025-12-31_235959.sqlite"),
            b("database_backup_2026-01-01_000000.sqlite"),
            b("database_backup_2026-01-31_235959.sql"),
            b("database_backup_2026-02-01_000000.sqlite"),
            b("database_backup_2026-02-01_000001.sqlite"),
        ];
        assert_eq!(
            names(to_delete(&all, 2, None)),
            [
                "database_backup_2026-01-31_235959.sql",
                "database_backup_2026-01-01_000000.sqlite",
                "database_backup_2025-12-31_235959.sqlite"
            ]
        );
        assert_eq!(
            names(to_delete(&all, 4, None)),
            ["database_backup_2025-12-31_235959.sqlite"]
        );
    }

    #[test]
    fn keep_boundaries() {
        let all = vec![
            b("database_backup_2026-01-01_000000.sqlite"),
            b("database_backup_2026-01-02_000000.sqlite"),
        ];
        assert!(to_delete(&all, 2, None).is_empty());
        assert!(to_delete(&all, 3, None).is_empty());
        assert_eq!(
            names(to_delete(&all, 1, None)),
            ["database_backup_2026-01-01_000000.sqlite"]
        );
        assert!(to_delete(&[], 1, None).is_empty());
    }

    #[test]
    fn order_of_input_does_not_matter_and_ties_are_stable() {
        let mut all = vec![
            b("database_backup_2026-01-01_000000.sql"),
            b("database_backup_2026-01-01_000000.sqlite"),
            b("database_backup_2025-06-01_120000.sqlite"),
        ];
        let first = names(to_delete(&all, 1, None));
        all.reverse();
        assert_eq!(names(to_delete(&all, 1, None)), first);
        assert_eq!(
            first,
            [
                "database_backup_2026-01-01_000000.sql",
                "database_backup_2025-06-01_120000.sqlite"
            ]
        );
    }

    #[test]
    fn the_new_backup_is_never_deleted_even_behind_future_names() {
        let all = vec![
            b("database_backup_2099-01-01_000000.sqlite"),
            b("database_backup_2026-11-25_101010.sqlite"),
        ];
        let new = "database_backup_2026-11-25_101010.sqlite";
        assert!(to_delete(&all, 1, Some(new)).is_empty());
    }

    #[test]
    fn scan_ignores_foreign_files_folders_and_symlinks() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        std::fs::write(d.join("database_backup_2026-01-01_000000.sqlite"), "x").unwrap();
        std::fs::write(d.join("notes.txt"), "x").unwrap();
        std::fs::create_dir(d.join("database_backup_2026-01-02_000000.sqlite")).unwrap();
        let outside = tempfile::tempdir().unwrap();
        let target = outside.path().join("precious.sqlite");
        std::fs::write(&target, "x").unwrap();
        std::os::unix::fs::symlink(&target, d.join("database_backup_2026-01-03_000000.sqlite"))
            .unwrap();
        assert_eq!(
            names(scan(d).unwrap()),
            ["database_backup_2026-01-01_000000.sqlite"]
        );
        assert!(scan(&d.join("missing")).unwrap().is_empty());
    }
}
