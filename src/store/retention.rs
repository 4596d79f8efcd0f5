//! Which backups to keep: the names the old command wrote, and a pure keep-policy over them —
//! `--keep=N` (the newest N) plus restic-style daily/weekly/monthly/yearly rules.

use std::path::Path;
use std::sync::LazyLock;

use chrono::{Datelike, NaiveDateTime};
use regex::Regex;
use serde::Serialize;

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

/// How many backups to keep, rule by rule, with the semantics of restic's `forget`: `last`
/// keeps the newest N; `daily` keeps the newest backup of each of the last N days that have a
/// backup, and so on for ISO weeks, months and years. The rules add up: a backup is kept when
/// any rule keeps it. Periods are read from the timestamp in the name (the app's time zone).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Policy {
    pub last: u32,
    pub daily: u32,
    pub weekly: u32,
    pub monthly: u32,
    pub yearly: u32,
}

impl Policy {
    /// Only `--keep=N`: the newest N.
    pub fn last(n: u32) -> Policy {
        Policy {
            last: n,
            ..Policy::default()
        }
    }
}

/// Why a backup is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Rule {
    /// The backup this run made: never deleted, whatever the names beside it say.
    New,
    Last,
    Daily,
    Weekly,
    Monthly,
    Yearly,
}

impl Rule {
    /// The rule as the user names it.
    pub fn label(self) -> &'static str {
        match self {
            Rule::New => "new",
            Rule::Last => "last",
            Rule::Daily => "daily",
            Rule::Weekly => "weekly",
            Rule::Monthly => "monthly",
            Rule::Yearly => "yearly",
        }
    }

    const PERIODS: [Rule; 5] = [
        Rule::Last,
        Rule::Daily,
        Rule::Weekly,
        Rule::Monthly,
        Rule::Yearly,
    ];

    fn budget(self, p: &Policy) -> u32 {
        match self {
            Rule::New => 0,
            Rule::Last => p.last,
            Rule::Daily => p.daily,
            Rule::Weekly => p.weekly,
            Rule::Monthly => p.monthly,
            Rule::Yearly => p.yearly,
        }
    }

    /// The period a backup falls in for this rule; `Last` makes every backup its own period.
    fn period(self, b: &Backup, index: usize) -> (i32, u32, u32) {
        let d = b.taken_at.date();
        match self {
            Rule::New | Rule::Last => (i32::MIN, index as u32, 0),
            Rule::Daily => (d.year(), d.ordinal(), 0),
            Rule::Weekly => (d.iso_week().year(), d.iso_week().week(), 0),
            Rule::Monthly => (d.year(), d.month(), 0),
            Rule::Yearly => (d.year(), 0, 0),
        }
    }
}

/// One backup and the rules that keep it; none means it is deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub backup: Backup,
    pub kept_by: Vec<Rule>,
}

/// Judges every backup under `policy`, newest first (ties broken by name, so the result never
/// depends on directory order). `protect`, the backup just made, is always kept.
pub fn judge(backups: &[Backup], policy: &Policy, protect: Option<&str>) -> Vec<Verdict> {
    let mut sorted: Vec<&Backup> = backups.iter().collect();
    sorted.sort_by(|a, b| (b.taken_at, &b.name).cmp(&(a.taken_at, &a.name)));
    let mut verdicts: Vec<Verdict> = sorted
        .iter()
        .map(|b| Verdict {
            backup: (*b).clone(),
            kept_by: if Some(b.name.as_str()) == protect {
                vec![Rule::New]
            } else {
                Vec::new()
            },
        })
        .collect();
    for rule in Rule::PERIODS {
        let mut left = rule.budget(policy);
        let mut last_period = None;
        for (i, v) in verdicts.iter_mut().enumerate() {
            if left == 0 {
                break;
            }
            let period = rule.period(&v.backup, i);
            if last_period != Some(period) {
                last_period = Some(period);
                left -= 1;
                v.kept_by.push(rule);
            }
        }
    }
    verdicts
}

/// The backups `policy` does not keep, newest first.
pub fn deleted(backups: &[Backup], policy: &Policy, protect: Option<&str>) -> Vec<Backup> {
    judge(backups, policy, protect)
        .into_iter()
        .filter(|v| v.kept_by.is_empty())
        .map(|v| v.backup)
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

    /// The backups to delete so that `keep` remain: all but the `keep` newest by the time in their
    /// names. `protect`, the backup just made, is never deleted even if a clock skew put
    /// newer-looking names beside it.
    fn to_delete(backups: &[Backup], keep: u32, protect: Option<&str>) -> Vec<Backup> {
        deleted(backups, &Policy::last(keep), protect)
    }

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

    fn gfs(daily: u32, weekly: u32, monthly: u32, yearly: u32) -> Policy {
        Policy {
            last: 0,
            daily,
            weekly,
            monthly,
            yearly,
        }
    }

    /// Kept names with their rules, newest first, as `stamp rule+rule`.
    fn kept(all: &[&str], policy: Policy) -> Vec<String> {
        let backups: Vec<Backup> = all
            .iter()
            .map(|s| b(&format!("database_backup_{s}.sqlite")))
            .collect();
        judge(&backups, &policy, None)
            .into_iter()
            .filter(|v| !v.kept_by.is_empty())
            .map(|v| {
                let stamp = &v.backup.name["database_backup_".len()..][..17];
                let rules: Vec<String> = v
                    .kept_by
                    .iter()
                    .map(|r| format!("{r:?}").to_lowercase())
                    .collect();
                format!("{stamp} {}", rules.join("+"))
            })
            .collect()
    }

    #[test]
    fn daily_keeps_the_newest_of_each_day_that_has_backups() {
        let all = [
            "2026-03-01_230000",
            "2026-03-01_080000",
            "2026-03-02_000000",
            "2026-03-02_235959",
            // A gap: no backup on the 3rd and 4th; days are counted among those with backups.
            "2026-03-05_120000",
        ];
        assert_eq!(
            kept(&all, gfs(3, 0, 0, 0)),
            [
                "2026-03-05_120000 daily",
                "2026-03-02_235959 daily",
                "2026-03-01_230000 daily"
            ]
        );
        assert_eq!(kept(&all, gfs(1, 0, 0, 0)), ["2026-03-05_120000 daily"]);
    }

    #[test]
    fn weeks_are_iso_weeks_across_the_year_boundary() {
        // 2026 has 53 ISO weeks: Monday 2026-12-28 to Sunday 2027-01-03 is 2026-W53, and
        // Monday 2027-01-04 starts 2027-W01.
        let all = [
            "2026-12-27_230000",
            "2026-12-28_000000",
            "2026-12-31_010000",
            "2027-01-03_235959",
            "2027-01-04_000000",
            "2027-01-10_235959",
        ];
        assert_eq!(
            kept(&all, gfs(0, 5, 0, 0)),
            [
                "2027-01-10_235959 weekly",
                "2027-01-03_235959 weekly",
                "2026-12-27_230000 weekly"
            ]
        );
    }

    #[test]
    fn months_and_years_and_rules_add_up() {
        let all = [
            "2024-12-31_235959",
            "2025-01-01_000000",
            "2025-01-31_120000",
            "2025-02-01_000000",
            "2025-02-28_235959",
            "2026-02-27_100000",
            "2026-02-28_100000",
        ];
        assert_eq!(
            kept(&all, gfs(0, 0, 3, 0)),
            [
                "2026-02-28_100000 monthly",
                "2025-02-28_235959 monthly",
                "2025-01-31_120000 monthly"
            ]
        );
        assert_eq!(
            kept(&all, gfs(0, 0, 0, 3)),
            [
                "2026-02-28_100000 yearly",
                "2025-02-28_235959 yearly",
                "2024-12-31_235959 yearly"
            ]
        );
        let both = Policy {
            last: 2,
            daily: 1,
            weekly: 0,
            monthly: 2,
            yearly: 3,
        };
        assert_eq!(
            kept(&all, both),
            [
                "2026-02-28_100000 last+daily+monthly+yearly",
                "2026-02-27_100000 last",
                "2025-02-28_235959 monthly+yearly",
                "2024-12-31_235959 yearly"
            ]
        );
    }

    #[test]
    fn periods_follow_the_wall_clock_of_the_name_across_dst_changes() {
        // Europe/Paris, 2026-10-25: 02:00–03:00 happens twice. Both 02:30 backups (a second
        // apart in their names) belong to the same day; the hour that does not exist on
        // 2026-03-29 (02:00–03:00) cannot appear in a name, and the day boundary stays at 00:00.
        let all = [
            "2026-03-28_235959",
            "2026-03-29_013000",
            "2026-03-29_033000",
            "2026-10-25_023000",
            "2026-10-25_023001",
            "2026-10-26_000000",
        ];
        assert_eq!(
            kept(&all, gfs(3, 0, 0, 0)),
            [
                "2026-10-26_000000 daily",
                "2026-10-25_023001 daily",
                "2026-03-29_033000 daily"
            ]
        );
    }

    #[test]
    fn ties_in_a_period_keep_the_newest_name_and_the_new_backup_stays() {
        let backups = vec![
            b("database_backup_2026-05-01_120000.sql"),
            b("database_backup_2026-05-01_120000.sqlite"),
            b("database_backup_2099-01-01_000000.sqlite"),
        ];
        let verdicts = judge(
            &backups,
            &gfs(1, 0, 0, 0),
            Some("database_backup_2026-05-01_120000.sql"),
        );
        let names: Vec<(&str, &[Rule])> = verdicts
            .iter()
            .map(|v| (v.backup.name.as_str(), v.kept_by.as_slice()))
            .collect();
        assert_eq!(
            names,
            [
                (
                    "database_backup_2099-01-01_000000.sqlite",
                    &[Rule::Daily][..]
                ),
                ("database_backup_2026-05-01_120000.sqlite", &[][..]),
                ("database_backup_2026-05-01_120000.sql", &[Rule::New][..]),
            ]
        );
        // An empty policy keeps only the new backup.
        assert_eq!(
            deleted(
                &backups,
                &Policy::default(),
                Some("database_backup_2026-05-01_120000.sql")
            )
            .len(),
            2
        );
    }
}
