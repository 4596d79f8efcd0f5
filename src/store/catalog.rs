//! The backups in a folder: listing them, and finding the one a user names.

use std::path::{Path, PathBuf};

use chrono::Utc;
use chrono_tz::Tz;
use serde::Serialize;

use super::{retention, Kind};
use crate::error::{Error, Result};

/// One backup file as `list` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub name: String,
    /// `sqlite` or `sql` in JSON.
    pub kind: Kind,
    pub size_bytes: u64,
    /// The time in the name, app time zone.
    pub taken_at: String,
    pub age_seconds: i64,
    /// On a disk: why a copy is not the app's own (never counted, deleted or restored).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub foreign: Option<String>,
}

/// The backups in `dir`, newest first.
pub fn list(dir: &Path, tz: Tz) -> Result<Vec<Entry>> {
    let mut backups = retention::scan(dir)?;
    backups.sort_by(|a, b| (b.taken_at, &b.name).cmp(&(a.taken_at, &a.name)));
    let now = Utc::now().with_timezone(&tz).naive_local();
    backups
        .into_iter()
        .map(|b| {
            let path = dir.join(&b.name);
            let size_bytes = std::fs::metadata(&path)
                .map_err(Error::io("cannot read", &path))?
                .len();
            Ok(Entry {
                kind: Kind::of_path(&path),
                size_bytes,
                taken_at: b.taken_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                age_seconds: (now - b.taken_at).num_seconds(),
                name: b.name,
                foreign: None,
            })
        })
        .collect()
}

/// A backup the user named: a path, or a bare name inside the backups folder; `latest` picks
/// the newest. The flag says whether the file lies outside the backups folder.
pub fn locate(
    dir: &Path,
    file: Option<&Path>,
    latest: bool,
    cwd: &Path,
) -> Result<(PathBuf, bool)> {
    let path = match (file, latest) {
        (Some(f), _) => {
            let given = if f.is_absolute() {
                f.to_path_buf()
            } else {
                cwd.join(f)
            };
            if given.is_file() {
                given
            } else if dir.join(f).is_file() {
                dir.join(f)
            } else {
                return Err(Error::BackupMissing(f.to_path_buf()));
            }
        }
        (None, true) => {
            let newest = retention::scan(dir)?
                .into_iter()
                .max_by(|a, b| (a.taken_at, &a.name).cmp(&(b.taken_at, &b.name)))
                .ok_or_else(|| Error::NoBackups(dir.to_path_buf()))?;
            dir.join(newest.name)
        }
        (None, false) => return Err(Error::NoBackupNamed),
    };
    let outside = !same_dir(path.parent(), dir);
    Ok((path, outside))
}

fn same_dir(a: Option<&Path>, b: &Path) -> bool {
    match (a.and_then(|a| a.canonicalize().ok()), b.canonicalize().ok()) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_newest_first_and_locates_latest() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        for n in [
            "database_backup_2026-01-02_000000.sql",
            "database_backup_2026-01-03_000000.sqlite",
            "database_backup_2026-01-01_000000.sqlite",
            "notes.txt",
        ] {
            std::fs::write(d.join(n), "xx").unwrap();
        }
        let l = list(d, chrono_tz::UTC).unwrap();
        let names: Vec<_> = l.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names[0], "database_backup_2026-01-03_000000.sqlite");
        assert_eq!(l.len(), 3);
        assert_eq!(l[1].kind, Kind::MysqlDump);
        assert_eq!(l[0].taken_at, "2026-01-03 00:00:00");
        let (p, outside) = locate(d, None, true, d).unwrap();
        assert_eq!(p, d.join("database_backup_2026-01-03_000000.sqlite"));
        assert!(!outside);
        let (p, _) = locate(
            d,
            Some(Path::new("database_backup_2026-01-02_000000.sql")),
            false,
            Path::new("/"),
        )
        .unwrap();
        assert_eq!(p, d.join("database_backup_2026-01-02_000000.sql"));
        assert!(matches!(
            locate(d, Some(Path::new("nope.sql")), false, d),
            Err(Error::BackupMissing(_))
        ));
        let other = tempfile::tempdir().unwrap();
        let f = other.path().join("x.sqlite");
        std::fs::write(&f, "x").unwrap();
        assert!(
            locate(d, Some(&f), false, d).unwrap().1,
            "outside the folder is flagged"
        );
    }
}
