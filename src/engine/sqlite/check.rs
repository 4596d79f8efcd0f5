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

/// A SQLite file whose header says it is whole: the magic string, a valid page size, and a page
/// count (valid for this file's last write) that fills exactly its length. Reads 100 bytes.
pub fn whole(path: &Path) -> Result<()> {
    use std::io::Read;
    let bad = |detail: &str| Error::BadBackup {
        file: path.to_path_buf(),
        detail: detail.to_string(),
    };
    let mut f = std::fs::File::open(path).map_err(Error::io("cannot read", path))?;
    let len = f.metadata().map_err(Error::io("cannot read", path))?.len();
    let mut h = [0u8; 100];
    f.read_exact(&mut h)
        .map_err(|_| bad("it is shorter than a SQLite header"))?;
    if &h[..16] != b"SQLite format 3\0" {
        return Err(bad("it is not a SQLite database"));
    }
    let page = match u16::from_be_bytes([h[16], h[17]]) {
        1 => 65536,
        p => u64::from(p),
    };
    let count = u64::from(u32::from_be_bytes([h[28], h[29], h[30], h[31]]));
    let valid = h[24..28] == h[92..96];
    if !page.is_power_of_two() || !(512..=65536).contains(&page) {
        return Err(bad("its header's page size is impossible"));
    }
    if valid && count * page != len {
        return Err(bad(&format!(
            "its header says {count} pages of {page} bytes, but it holds {len} bytes: it is truncated or was extended"
        )));
    }
    if len % page != 0 {
        return Err(bad(
            "its length is not a whole number of pages: it is truncated",
        ));
    }
    Ok(())
}

/// What a restore re-checks of a backup that was quick-checked when it was made: `PRAGMA
/// quick_check` (every page read, every record's format and order; not the index-to-table
/// cross-check of integrity_check), then every table counted.
pub fn quick_contents(path: &Path) -> Result<Contents> {
    contents(path, "quick_check", false)
}

/// A SQLite backup: opened read-only, `PRAGMA integrity_check`, then every table counted.
pub fn integrity(path: &Path) -> Result<Contents> {
    contents(path, "integrity_check", false)
}

/// [`integrity`] of a file in a private folder of ours (a point in time being built), read
/// through a memory map: measured 0.73 → 0.32 s on 256 MiB, the page copies and re-reads of
/// SQLite's small cache gone. Only for such files: one that someone truncated under the map
/// would kill the process (SIGBUS) instead of failing the check.
pub fn integrity_private(path: &Path) -> Result<Contents> {
    contents(path, "integrity_check", true)
}

fn contents(path: &Path, pragma: &str, mapped: bool) -> Result<Contents> {
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
    if mapped {
        conn.pragma_update(None, "mmap_size", len as i64)
            .map_err(|e| bad(e.to_string()))?;
    }
    let problems: Vec<String> = conn
        .prepare(&format!("PRAGMA {pragma}"))
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .map_err(|e| bad(e.to_string()))?;
    if problems != ["ok"] {
        return Err(bad(format!("{pragma}: {}", problems.join("; "))));
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
        check: format!("{pragma} ok"),
        tables,
    })
}
