//! Proving a backup restores: integrity and contents, without touching the live database.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};
use serde::Serialize;

use crate::error::{Error, Result};

/// What a verified backup holds.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub file: PathBuf,
    pub kind: &'static str,
    /// What proved it sound, e.g. "integrity_check ok".
    pub check: String,
    /// Every table with its row count.
    pub tables: Vec<(String, u64)>,
}

/// Verifies a backup of either kind.
/// A `.sql` dump is loaded into a scratch database on the app's server, which must therefore
/// be a MySQL/MariaDB app.
pub fn sqlite_or_sql(target: &crate::laravel::Target, path: &Path) -> Result<Report> {
    match (crate::catalog::kind_of(path), &target.connection) {
        ("sqlite", _) => sqlite(path),
        (_, crate::connection::Connection::Mysql(params)) => {
            crate::mysql::load::verify(params, path, &mut |w| eprintln!("db-backup: warning: {w}"))
        }
        (_, _) => Err(Error::WrongKind {
            file: path.to_path_buf(),
            file_kind: "MySQL (.sql)",
            driver: "SQLite, so there is no server to load it into",
        }),
    }
}

/// A SQLite backup: opened read-only, `PRAGMA integrity_check`, then every table counted.
pub fn sqlite(path: &Path) -> Result<Report> {
    let bad = |detail: String| Error::BadBackup {
        file: path.to_path_buf(),
        detail,
    };
    let len = std::fs::metadata(path)
        .map_err(Error::io("cannot read", path))?
        .len();
    if len == 0 {
        return Err(bad("the file is empty".into()));
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| bad(e.to_string()))?;
    let problems: Vec<String> = conn
        .prepare("PRAGMA integrity_check")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .map_err(|e| bad(e.to_string()))?;
    if problems != ["ok"] {
        return Err(bad(format!("integrity_check: {}", problems.join("; "))));
    }
    let names: Vec<String> = conn
        .prepare(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .map_err(|e| bad(e.to_string()))?;
    let mut tables = Vec::new();
    for name in names {
        let q = format!("SELECT count(*) FROM \"{}\"", name.replace('"', "\"\""));
        let n: i64 = conn
            .query_row(&q, [], |r| r.get(0))
            .map_err(|e| bad(format!("table {name}: {e}")))?;
        tables.push((name, n as u64));
    }
    Ok(Report {
        file: path.to_path_buf(),
        kind: "sqlite",
        check: "integrity_check ok".into(),
        tables,
    })
}
