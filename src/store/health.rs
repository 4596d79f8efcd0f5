//! Whether a place's backups are healthy: a pure function of (backups, now, thresholds), so the
//! checks `db-backup status` runs are table-tested and never touch the disk.

use chrono::{DateTime, Utc};

use crate::units::{size as bytes, span as secs};
use serde::Serialize;

/// The limits a healthy set of backups stays within.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// The newest backup must be younger than this (default 26 h: one daily run may be late).
    pub max_age: chrono::Duration,
    /// The newest backup must be at least this share of the one before (default 0.5): an empty
    /// or truncated dump shows up as a sudden drop.
    pub min_ratio: f64,
    /// All backups together must stay under this many bytes, when set.
    pub max_total: Option<u64>,
}

impl Default for Thresholds {
    fn default() -> Thresholds {
        Thresholds {
            max_age: chrono::Duration::hours(26),
            min_ratio: 0.5,
            max_total: None,
        }
    }
}

/// One backup as the checks see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    pub name: String,
    /// When it was taken (the name's wall-clock time, in the app's time zone, as an instant).
    pub taken_at: DateTime<Utc>,
    pub size: u64,
}

/// Which check a line is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    Exists,
    Fresh,
    Size,
    Total,
    Verified,
    /// A disk could be listed at all.
    Reachable,
    /// Continuous backup runs, and its lag is under DB_BACKUP_MAX_LAG.
    Replication,
}

/// One check's result: one line for the user.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    pub check: CheckKind,
    pub ok: bool,
    /// What was found; when not ok, also what to do.
    pub message: String,
}

impl Check {
    fn new(check: CheckKind, ok: bool, message: String) -> Check {
        Check { check, ok, message }
    }
}

/// Runs the checks on `backups` (any order) of the place called `place` (a folder or a disk).
pub fn check(place: &str, backups: &[Sample], now: DateTime<Utc>, t: &Thresholds) -> Vec<Check> {
    let mut sorted: Vec<&Sample> = backups.iter().collect();
    sorted.sort_by(|a, b| (b.taken_at, &b.name).cmp(&(a.taken_at, &a.name)));
    let Some(newest) = sorted.first() else {
        return vec![Check::new(
            CheckKind::Exists,
            false,
            format!("no backups in {place}: run `db-backup` there, and check that cron or the Laravel scheduler runs it"),
        )];
    };
    let mut checks = vec![Check::new(
        CheckKind::Exists,
        true,
        match sorted.len() {
            1 => format!("1 backup in {place}"),
            n => format!("{n} backups in {place}"),
        },
    )];
    let age = now - newest.taken_at;
    checks.push(if age <= t.max_age {
        Check::new(
            CheckKind::Fresh,
            true,
            format!(
                "newest backup {} is {} old (limit {})",
                newest.name,
                secs(age.num_seconds()),
                secs(t.max_age.num_seconds())
            ),
        )
    } else {
        Check::new(
            CheckKind::Fresh,
            false,
            format!(
                "newest backup {} is {} old (limit {}): backups have stopped; check the cron line or `php artisan schedule:run`, and their log",
                newest.name,
                secs(age.num_seconds()),
                secs(t.max_age.num_seconds())
            ),
        )
    });
    if let Some(previous) = sorted.get(1) {
        let ratio = if previous.size == 0 {
            1.0
        } else {
            newest.size as f64 / previous.size as f64
        };
        let pct = (ratio * 100.0).round();
        checks.push(if ratio >= t.min_ratio {
            Check::new(
                CheckKind::Size,
                true,
                format!(
                    "newest backup is {} ({pct}% of the one before)",
                    bytes(newest.size)
                ),
            )
        } else {
            Check::new(
                CheckKind::Size,
                false,
                format!(
                    "newest backup {} is {}, {pct}% of the one before ({}; minimum {}%): check that the database was not emptied or truncated, and run `db-backup verify --latest`",
                    newest.name,
                    bytes(newest.size),
                    bytes(previous.size),
                    (t.min_ratio * 100.0).round()
                ),
            )
        });
    }
    if let Some(cap) = t.max_total {
        let total: u64 = sorted.iter().map(|s| s.size).sum();
        checks.push(if total <= cap {
            Check::new(
                CheckKind::Total,
                true,
                format!("backups take {} (cap {})", bytes(total), bytes(cap)),
            )
        } else {
            Check::new(
                CheckKind::Total,
                false,
                format!(
                    "backups take {} (cap {}): keep fewer (--keep or the --keep-daily/weekly/monthly/yearly rules) or raise DB_BACKUP_MAX_TOTAL",
                    bytes(total),
                    bytes(cap)
                ),
            )
        });
    }
    checks
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 29, 0, 0, 0).unwrap() + chrono::Duration::hours(h)
    }

    fn s(name: &str, hours: i64, size: u64) -> Sample {
        Sample {
            name: name.into(),
            taken_at: at(hours),
            size,
        }
    }

    fn verdicts(backups: &[Sample], now_h: i64, t: Thresholds) -> Vec<(CheckKind, bool)> {
        check("storage/app/backups", backups, at(now_h), &t)
            .into_iter()
            .map(|c| (c.check, c.ok))
            .collect()
    }

    #[test]
    fn table() {
        use CheckKind::*;
        let d = Thresholds::default();
        let capped = Thresholds {
            max_total: Some(1000),
            ..d
        };
        type Case = (
            &'static str,
            Vec<Sample>,
            i64,
            Thresholds,
            Vec<(CheckKind, bool)>,
        );
        let cases: Vec<Case> = vec![
            ("none", vec![], 0, d, vec![(Exists, false)]),
            (
                "one fresh",
                vec![s("a", 0, 10)],
                1,
                d,
                vec![(Exists, true), (Fresh, true)],
            ),
            (
                "exactly 26 h",
                vec![s("a", 0, 10)],
                26,
                d,
                vec![(Exists, true), (Fresh, true)],
            ),
            (
                "27 h",
                vec![s("a", 0, 10)],
                27,
                d,
                vec![(Exists, true), (Fresh, false)],
            ),
            (
                "half is enough",
                vec![s("old", 0, 100), s("new", 24, 50)],
                25,
                d,
                vec![(Exists, true), (Fresh, true), (Size, true)],
            ),
            (
                "shrunk to a third",
                vec![s("new", 24, 33), s("old", 0, 100)],
                25,
                d,
                vec![(Exists, true), (Fresh, true), (Size, false)],
            ),
            (
                "previous empty",
                vec![s("old", 0, 0), s("new", 24, 0)],
                25,
                d,
                vec![(Exists, true), (Fresh, true), (Size, true)],
            ),
            (
                "over the cap",
                vec![s("old", 0, 600), s("new", 24, 600)],
                25,
                capped,
                vec![(Exists, true), (Fresh, true), (Size, true), (Total, false)],
            ),
            (
                "under the cap",
                vec![s("old", 0, 400), s("new", 24, 600)],
                25,
                capped,
                vec![(Exists, true), (Fresh, true), (Size, true), (Total, true)],
            ),
        ];
        for (what, backups, now, t, want) in cases {
            assert_eq!(verdicts(&backups, now, t), want, "{what}");
        }
    }

    #[test]
    fn unhealthy_lines_say_what_to_do() {
        let t = Thresholds::default();
        let c = check("disk s3", &[], at(0), &t);
        assert!(c[0].message.contains("disk s3") && c[0].message.contains("cron"));
        let c = check("x", &[s("database_backup_a", 0, 1)], at(50), &t);
        assert_eq!(
            c[1].message,
            "newest backup database_backup_a is 2 d 2 h old (limit 26 h): backups have stopped; check the cron line or `php artisan schedule:run`, and their log"
        );
        let c = check("x", &[s("b", 1, 10), s("a", 0, 1000)], at(2), &t);
        assert!(
            c[2].message.contains("1% of the one before"),
            "{}",
            c[2].message
        );
        assert!(c[2].message.contains("verify --latest"));
    }
}
