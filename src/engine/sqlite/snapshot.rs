//! One consistent copy of the live database, made inside a single read transaction.

use std::fs::File;
use std::path::Path;
use std::time::Duration;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::Connection;

use super::{classify, dest_error, source_error, system_errno, Source};
use crate::error::{Error, Result};

/// Copies the whole source into `dest` (an empty file) as one snapshot; says how.
///
/// The copy runs inside one read transaction on the source: in rollback-journal mode writers wait
/// (up to their busy timeout) until it ends; in WAL mode they go on and we see none of their
/// commits. Either way the copy is a single committed state and never restarts.
pub fn snapshot(
    live: &Source,
    dest: &File,
    dest_path: &Path,
    busy_timeout: Duration,
) -> Result<&'static str> {
    let secs = busy_timeout.as_secs();
    let (source, src_path) = (&live.conn, live.path.as_path());
    source
        .execute_batch("BEGIN DEFERRED; SELECT count(*) FROM sqlite_schema;")
        .map_err(|e| source_error(src_path, e, secs))?;
    let mode: Result<String> = source
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .map_err(|e| source_error(src_path, e, secs));
    let result = mode.and_then(|mode| {
        if mode.eq_ignore_ascii_case("wal") {
            if has_dbpage(source) {
                copy_wal_snapshot(live, dest, dest_path).map(|()| "file copy + WAL frames")
            } else {
                copy_into(source, src_path, dest_path, secs).map(|()| "backup API")
            }
        } else {
            copy_file(live, dest, dest_path).map(|()| "file copy")
        }
    });
    // Ends the read transaction; nothing was written, so this cannot lose anything.
    let _ = source.execute_batch("COMMIT");
    result
}

/// Outside WAL mode, our shared lock keeps every writer from touching the database file
/// (committing needs an exclusive lock), so the file's bytes are exactly the committed state:
/// copy them in the kernel (copy_file_range), several times faster than page by page.
/// Reads through the descriptor opened with the connection: opening and closing another one
/// here would drop our locks (see `Source`).
fn copy_file(live: &Source, dest: &File, dest_path: &Path) -> Result<()> {
    use std::io::{Seek, SeekFrom};
    let mut src = &live.file;
    src.seek(SeekFrom::Start(0))
        .map_err(Error::io("cannot read", &live.path))?;
    let mut out = dest;
    std::io::copy(&mut src, &mut out).map_err(Error::io("cannot write", dest_path))?;
    Ok(())
}

/// Whether this SQLite build has `sqlite_dbpage` (see .cargo/config.toml).
fn has_dbpage(conn: &Connection) -> bool {
    conn.prepare("SELECT data FROM sqlite_dbpage WHERE pgno = 1")
        .is_ok()
}

/// A WAL-mode snapshot at kernel-copy speed. Inside our read transaction the database file only
/// changes by checkpoints of frames our snapshot already sees, and the -wal file cannot be
/// reset. So: copy the file in the kernel, then overwrite every page that has a frame in the
/// -wal file (plus page 1) with the version our snapshot reads through `sqlite_dbpage`, cut
/// the copy to the snapshot's size and mark it as a rollback-journal database.
fn copy_wal_snapshot(live: &Source, dest: &File, dest_path: &Path) -> Result<()> {
    use std::os::unix::fs::FileExt;
    let (source, src_path) = (&live.conn, live.path.as_path());
    let sql = |e| Error::Sqlite {
        path: src_path.to_path_buf(),
        source: e,
    };
    let page_size: u64 = source
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .map_err(sql)?;
    let page_count: u64 = source
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .map_err(sql)?;
    copy_file(live, dest, dest_path)?;
    let mut wal = std::ffi::OsString::from(src_path.as_os_str());
    wal.push("-wal");
    let mut pages = wal_pages(Path::new(&wal))?;
    pages.insert(1);
    let mut stmt = source
        .prepare("SELECT data FROM sqlite_dbpage WHERE pgno = ?1")
        .map_err(sql)?;
    for pgno in pages.into_iter().filter(|p| (1..=page_count).contains(p)) {
        let data: Vec<u8> = stmt.query_row([pgno], |r| r.get(0)).map_err(sql)?;
        dest.write_all_at(&data, (pgno - 1) * page_size)
            .map_err(Error::io("cannot write", dest_path))?;
    }
    dest.set_len(page_count * page_size)
        .map_err(Error::io("cannot write", dest_path))?;
    // File format bytes 18 and 19: 1 = rollback journal, 2 = WAL (sqlite.org/fileformat2.html).
    dest.write_all_at(&[1, 1], 18)
        .map_err(Error::io("cannot write", dest_path))?;
    Ok(())
}

/// Page numbers of the frames of the -wal file's current generation (those whose salts match
/// its header). A superset of what the snapshot needs is harmless: every page listed is read
/// back through the snapshot. See sqlite.org/fileformat2.html#walformat.
fn wal_pages(wal: &Path) -> Result<std::collections::BTreeSet<u64>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut pages = std::collections::BTreeSet::new();
    let mut f = match File::open(wal) {
        Ok(f) => std::io::BufReader::with_capacity(1 << 16, f),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(pages),
        Err(e) => return Err(Error::io("cannot read", wal)(e)),
    };
    let mut header = [0u8; 32];
    if f.read_exact(&mut header).is_err() {
        return Ok(pages);
    }
    let magic = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    if magic & !1 != 0x377f_0682 {
        return Ok(pages);
    }
    let page_size = u64::from(u32::from_be_bytes([
        header[8], header[9], header[10], header[11],
    ]));
    let salts = &header[16..24];
    let mut frame = [0u8; 24];
    while f.read_exact(&mut frame).is_ok() {
        if &frame[8..16] != salts {
            break;
        }
        pages.insert(u64::from(u32::from_be_bytes([
            frame[0], frame[1], frame[2], frame[3],
        ])));
        if f.seek(SeekFrom::Current(page_size as i64)).is_err() {
            break;
        }
    }
    Ok(pages)
}

fn copy_into(source: &Connection, src_path: &Path, dest: &Path, secs: u64) -> Result<()> {
    let dest_err = |e| dest_error(dest, e);
    let mut out = Connection::open(dest).map_err(dest_err)?;
    // The copy is private until published and we fsync it ourselves: no journal, no syncs.
    out.execute_batch("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;")
        .map_err(dest_err)?;
    let step = Backup::new(source, &mut out).and_then(|backup| backup.step(-1));
    {
        // -1: every page in one step, inside our read transaction.
        match step {
            Ok(StepResult::Done) => {}
            Ok(StepResult::Busy) | Ok(StepResult::Locked) => {
                return Err(Error::DatabaseLocked {
                    path: src_path.to_path_buf(),
                    seconds: secs,
                })
            }
            Ok(_) => {
                return Err(Error::CheckFailed(
                    "SQLite stopped the copy before the last page".into(),
                ))
            }
            Err(e) => return Err(classify(src_path, dest, e, secs, system_errno(&out))),
        }
    }
    // A copy of a WAL database says "WAL" in its header; published files must restore with a
    // plain `cp`, so switch the copy (only the copy) back to a rollback journal.
    let mode: String = out
        .query_row("PRAGMA journal_mode=DELETE", [], |r| r.get(0))
        .map_err(dest_err)?;
    if !mode.eq_ignore_ascii_case("delete") {
        return Err(Error::CheckFailed(format!(
            "copy stayed in journal mode {mode}"
        )));
    }
    out.close().map_err(|(_, e)| dest_err(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Asks another process (the sqlite3 CLI) for the exclusive lock that a checkpoint-and-delete
    /// on close would need; says whether it was refused.
    fn exclusive_lock_refused(db: &Path) -> bool {
        let out = std::process::Command::new("sqlite3")
            .arg(db)
            .arg("PRAGMA locking_mode=EXCLUSIVE; BEGIN EXCLUSIVE; SELECT 'acquired';")
            .output()
            .expect("the sqlite3 CLI is needed (apt-get install sqlite3; scripts/test does)");
        let said = String::from_utf8_lossy(&out.stdout);
        let err = String::from_utf8_lossy(&out.stderr);
        match (out.status.success(), said.contains("acquired")) {
            (true, true) => false,
            (false, false) if err.contains("database is locked") => true,
            _ => panic!("unexpected answer from sqlite3: {said} {err}"),
        }
    }

    #[test]
    fn the_copy_keeps_our_lock() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("live.sqlite");
        let c = Connection::open(&db).unwrap();
        c.execute_batch("PRAGMA journal_mode=WAL; CREATE TABLE t(x); INSERT INTO t VALUES (1);")
            .unwrap();
        drop(c);
        let source = super::super::open_source(&db, Duration::from_secs(1)).unwrap();
        source
            .conn
            .execute_batch("BEGIN DEFERRED; SELECT count(*) FROM sqlite_schema;")
            .unwrap();
        assert!(
            exclusive_lock_refused(&db),
            "the read transaction must hold a shared lock"
        );
        let dest_path = dir.path().join("copy");
        let dest = File::create(&dest_path).unwrap();
        copy_file(&source, &dest, &dest_path).unwrap();
        assert!(
            exclusive_lock_refused(&db),
            "after the copy another process could lock the database exclusively: closing a descriptor dropped our lock"
        );
    }
}
