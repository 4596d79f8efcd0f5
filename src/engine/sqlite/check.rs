//! Proving a SQLite copy sound: the quick check before publishing, the full check on `verify`.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::dest_error;
use crate::engine::Contents;
use crate::error::{Error, Result};

/// `PRAGMA quick_check` on a finished copy: the gate before anything is published.
pub fn quick_check(path: &Path) -> Result<()> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| dest_error(path, e))?;
    let mut stmt = conn
        .prepare("PRAGMA quick_check")
        .map_err(|e| Error::CheckFailed(e.to_string()))?;
    let problems: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .and_then(|rows| rows.collect())
        .map_err(|e| Error::CheckFailed(e.to_string()))?;
    if problems.len() == 1 && problems[0] == "ok" {
        Ok(())
    } else {
        Err(Error::CheckFailed(problems.join("; ")))
    }
}

/// A SQLite backup: opened read-only, `PRAGMA integrity_check`, then every table counted.
pub fn integrity(path: &Path) -> Result<Contents> {
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
    Ok(Contents {
        check: "integrity_check ok".into(),
        tables,
    })
}
