//! One consistent copy of the live database, made inside a single read transaction.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::wal::{self, Committed};
use super::{source_error, Source};
use crate::error::{Error, Result};

/// Copies the whole source into `dest` (an empty file) as one snapshot; says how.
///
/// The copy runs inside one read transaction on the source. In rollback-journal mode writers
/// wait (up to their busy timeout) until it ends and the copy is the state we read. In WAL mode
/// they go on, and the copy is the state of the last transaction committed in the -wal file
/// when we read it: the one our transaction sees or a later one. Either way the copy is a
/// single committed state and never restarts.
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
        copy_file(live, dest, dest_path)?;
        if mode.eq_ignore_ascii_case("wal") {
            let read = read_wal(live)?;
            apply_wal(live, &read, dest, dest_path).map(|()| "file copy + WAL frames")
        } else {
            Ok("file copy")
        }
    });
    // Ends the read transaction; nothing was written, so this cannot lose anything.
    let _ = source.execute_batch("COMMIT");
    result
}

/// Copies the database file in the kernel (copy_file_range), several times faster than page by
/// page. Outside WAL mode our shared lock keeps every writer from touching the file (committing
/// needs an exclusive lock), so its bytes are exactly the committed state; in WAL mode see
/// `read_wal`. Reads through the descriptor opened with the connection: opening and closing
/// another one here would drop our locks (see `Source`).
fn copy_file(live: &Source, dest: &File, dest_path: &Path) -> Result<()> {
    use std::io::{Seek, SeekFrom};
    let mut src = &live.file;
    src.seek(SeekFrom::Start(0))
        .map_err(Error::io("cannot read", &live.path))?;
    let mut out = dest;
    std::io::copy(&mut src, &mut out).map_err(Error::io("cannot write", dest_path))?;
    Ok(())
}

/// What was read of the -wal file after the database file was copied.
struct WalRead {
    path: PathBuf,
    file: Option<File>,
    header: Option<wal::Header>,
    committed: Committed,
}

/// Reads the -wal file as SQLite's recovery would: its committed frames, in a WAL-mode source.
///
/// Why the copy plus these frames is one committed state (see sqlite.org/wal.html and wal.c):
/// our read transaction holds a read mark in the -shm. A checkpoint only copies into the
/// database file frames up to every reader's mark, so every page it may have been writing while
/// we copied has a frame up to our mark; those frames stay in the -wal, because restarting the
/// -wal needs every read mark but mark 0 free. Applying the latest frame of each page up to the
/// last valid commit (at or after our mark) therefore overwrites every torn page and yields that
/// commit's state. Holding mark 0 (the -wal was fully checkpointed or empty when we began) no
/// checkpoint can write the database file at all, which is then exactly our snapshot, but the
/// -wal may be restarted under us: `apply_wal` detects that and keeps the file alone.
fn read_wal(live: &Source) -> Result<WalRead> {
    let mut path = live.path.clone().into_os_string();
    path.push("-wal");
    let path = PathBuf::from(path);
    let file = open_wal(&path)?;
    let header = match &file {
        Some(f) => wal::header(f).map_err(Error::io("cannot read", &path))?,
        None => None,
    };
    let committed = match (&file, &header) {
        (Some(f), Some(h)) => wal::committed(f, h).map_err(Error::io("cannot read", &path))?,
        _ => Committed::default(),
    };
    Ok(WalRead {
        path,
        file,
        header,
        committed,
    })
}

/// SQLite never locks the -wal (its WAL locks live in the -shm, which we never open), so this
/// descriptor may come and go freely.
fn open_wal(path: &Path) -> Result<Option<File>> {
    match File::open(path) {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("cannot read", path)(e)),
    }
}

/// Writes the committed frames over the copy, cuts it to the last commit's size and marks it as
/// a rollback-journal database. If the -wal was restarted meanwhile (its header changed, or a
/// frame no longer carries its salts), we held read mark 0 and the database file was frozen and
/// is our snapshot: the pages just written are put back from it instead.
fn apply_wal(live: &Source, read: &WalRead, dest: &File, dest_path: &Path) -> Result<()> {
    let write_err = Error::io("cannot write", dest_path);
    let copied = dest
        .metadata()
        .map_err(Error::io("cannot read", dest_path))?
        .len();
    let page_size = page_size(live, read)?;
    let intact = match (&read.file, &read.header) {
        (Some(f), Some(h)) => write_frames(f, h, &read.committed, dest, dest_path, &read.path)?,
        _ => true,
    };
    let now = match open_wal(&read.path)? {
        Some(f) => wal::header(&f).map_err(Error::io("cannot read", &read.path))?,
        None => None,
    };
    if intact && now == read.header {
        if read.committed.db_pages > 0 {
            dest.set_len(u64::from(read.committed.db_pages) * page_size)
                .map_err(Error::io("cannot write", dest_path))?;
        }
    } else {
        restore_pages(live, &read.committed, page_size, copied, dest, dest_path)?;
        dest.set_len(copied)
            .map_err(Error::io("cannot write", dest_path))?;
    }
    // File format bytes 18 and 19: 1 = rollback journal, 2 = WAL (sqlite.org/fileformat2.html).
    dest.write_all_at(&[1, 1], 18).map_err(write_err)
}

/// The page size of the database, which its -wal must share.
fn page_size(live: &Source, read: &WalRead) -> Result<u64> {
    let db: u64 = live
        .conn
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .map_err(|e| Error::Sqlite {
            path: live.path.clone(),
            source: e,
        })?;
    match &read.header {
        Some(h) if u64::from(h.page_size()) != db => Err(Error::CheckFailed(format!(
            "{} holds {}-byte pages but the database has {db}-byte pages",
            read.path.display(),
            h.page_size()
        ))),
        _ => Ok(db),
    }
}

/// Copies each committed frame's page into the copy; false as soon as a frame no longer holds
/// what the scan saw (the -wal was restarted, or emptied by a TRUNCATE checkpoint, since).
fn write_frames(
    wal: &File,
    header: &wal::Header,
    committed: &Committed,
    dest: &File,
    dest_path: &Path,
    wal_path: &Path,
) -> Result<bool> {
    let page_size = header.page_size() as usize;
    let mut frame = vec![0u8; 24 + page_size];
    for &(pgno, offset) in &committed.frames {
        match wal.read_exact_at(&mut frame, offset) {
            Ok(()) if header.owns(&frame, pgno) => {}
            Ok(()) => return Ok(false),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(false),
            Err(e) => return Err(Error::io("cannot read", wal_path)(e)),
        }
        dest.write_all_at(&frame[24..], u64::from(pgno - 1) * page_size as u64)
            .map_err(Error::io("cannot write", dest_path))?;
    }
    Ok(true)
}

/// Puts back, from the (frozen) database file, the pages `write_frames` overwrote.
fn restore_pages(
    live: &Source,
    committed: &Committed,
    page_size: u64,
    copied: u64,
    dest: &File,
    dest_path: &Path,
) -> Result<()> {
    let mut page = vec![0u8; page_size as usize];
    for &(pgno, _) in &committed.frames {
        let at = u64::from(pgno - 1) * page_size;
        if at + page_size > copied {
            continue; // beyond the copied file: cut off by the caller
        }
        live.file
            .read_exact_at(&mut page, at)
            .map_err(Error::io("cannot read", &live.path))?;
        dest.write_all_at(&page, at)
            .map_err(Error::io("cannot write", dest_path))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::config::DbConfig;
    use rusqlite::Connection;

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
        let read = read_wal(&source).unwrap();
        apply_wal(&source, &read, &dest, &dest_path).unwrap();
        assert!(
            exclusive_lock_refused(&db),
            "reading the -wal dropped our lock"
        );
    }

    use super::super::wal::tests::rows;

    /// The app's side of a restart test: a WAL database whose -wal holds transactions that are
    /// all checkpointed already (a reader starting now takes read mark 0), and the writer's
    /// connection, kept open so that nothing deletes the -wal.
    fn checkpointed_wal(db: &Path) -> Connection {
        let w = Connection::open(db).unwrap();
        w.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0;
             CREATE TABLE t(x INTEGER PRIMARY KEY, pad BLOB);",
        )
        .unwrap();
        for i in 1..=20 {
            w.execute("INSERT INTO t VALUES (?1, randomblob(3000))", [i])
                .unwrap();
        }
        let (busy, log, done): (i64, i64, i64) = w
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .unwrap();
        assert_eq!((busy, log), (0, done), "everything checkpointed");
        w
    }

    /// A transaction that rewrites other pages than the -wal's first frames held: after a
    /// restart, its frames overwrite them.
    fn rewrite(w: &Connection) {
        w.execute_batch(
            "BEGIN; UPDATE t SET pad = randomblob(3000) WHERE x > 10;
             INSERT INTO t VALUES (21, randomblob(3000)); COMMIT;",
        )
        .unwrap();
    }

    fn salts(db: &Path) -> Vec<u8> {
        let mut wal = db.as_os_str().to_owned();
        wal.push("-wal");
        let bytes = std::fs::read(wal).unwrap();
        bytes.get(16..24).map(<[u8]>::to_vec).unwrap_or_default()
    }

    /// Opens our side and begins the read transaction, as `snapshot` does.
    fn begin(db: &Path, dir: &Path) -> (Source, File, PathBuf) {
        let source = super::super::open_source(db, Duration::from_secs(1)).unwrap();
        source
            .conn
            .execute_batch("BEGIN DEFERRED; SELECT count(*) FROM sqlite_schema;")
            .unwrap();
        let dest_path = dir.join("copy");
        let dest = File::create(&dest_path).unwrap();
        copy_file(&source, &dest, &dest_path).unwrap();
        (source, dest, dest_path)
    }

    #[test]
    fn a_wal_restarted_before_the_scan_gives_the_newer_commit() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("live.sqlite");
        let w = checkpointed_wal(&db);
        let (source, dest, dest_path) = begin(&db, dir.path());
        let old = salts(&db);
        rewrite(&w);
        assert_ne!(salts(&db), old, "the writer restarted the -wal");
        let read = read_wal(&source).unwrap();
        apply_wal(&source, &read, &dest, &dest_path).unwrap();
        source.conn.execute_batch("COMMIT").unwrap();
        assert_eq!(
            rows(&dest_path),
            rows(&db),
            "the state after the new commit"
        );
    }

    #[test]
    fn a_wal_restarted_after_the_scan_leaves_our_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("live.sqlite");
        let w = checkpointed_wal(&db);
        let before = rows(&db);
        let (source, dest, dest_path) = begin(&db, dir.path());
        let read = read_wal(&source).unwrap();
        assert!(!read.committed.frames.is_empty());
        let old = salts(&db);
        rewrite(&w);
        assert_ne!(salts(&db), old, "the writer restarted the -wal");
        apply_wal(&source, &read, &dest, &dest_path).unwrap();
        source.conn.execute_batch("COMMIT").unwrap();
        assert_eq!(rows(&dest_path), before);
    }

    #[test]
    fn a_frame_torn_by_a_restart_is_put_back() {
        // A restart can overwrite a frame between our reading its header and its page: the
        // header still names our page and salts, the page is another one. Reproduced by hand:
        // the -wal header changes (new salts) and the first frame's page is replaced.
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("live.sqlite");
        let w = checkpointed_wal(&db);
        w.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
            .unwrap();
        let before = rows(&db);
        let (source, dest, dest_path) = begin(&db, dir.path());
        let read = read_wal(&source).unwrap();
        let page = 24 + read.header.as_ref().unwrap().page_size() as usize;
        let (first, other) = (read.committed.frames[0], read.committed.frames[1]);
        let mut wal = std::fs::read(&read.path).unwrap();
        let (at, from) = (first.1 as usize + 24, other.1 as usize + 24);
        let stranger = wal[from..from + page - 24].to_vec();
        wal[at..at + page - 24].copy_from_slice(&stranger);
        wal[19] ^= 1;
        std::fs::write(&read.path, wal).unwrap();
        apply_wal(&source, &read, &dest, &dest_path).unwrap();
        source.conn.execute_batch("COMMIT").unwrap();
        assert_eq!(rows(&dest_path), before);
    }

    #[test]
    fn a_wal_emptied_after_the_scan_leaves_our_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("live.sqlite");
        let w = checkpointed_wal(&db);
        let before = rows(&db);
        let (source, dest, dest_path) = begin(&db, dir.path());
        let read = read_wal(&source).unwrap();
        assert!(!read.committed.frames.is_empty());
        // Our read mark 0 does not stop it: only marks 1 and up do.
        w.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)").unwrap();
        assert_eq!(salts(&db), b"", "the -wal was emptied");
        apply_wal(&source, &read, &dest, &dest_path).unwrap();
        source.conn.execute_batch("COMMIT").unwrap();
        assert_eq!(rows(&dest_path), before);
    }
}
