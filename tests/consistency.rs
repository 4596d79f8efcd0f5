//! Backups taken while another process commits: each copy is one committed state.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::*;
use rusqlite::Connection;

/// How a test writer uses its connections.
#[derive(Clone, Copy)]
enum Writer {
    /// One connection for the whole run; SQLite's auto-checkpoint every so many pages (0: its
    /// default).
    Kept { checkpoint_every: u32 },
    /// A fresh connection per transaction, closed after it, as PHP opens one per request.
    /// Closing the last connection checkpoints and deletes the -wal unless another process
    /// holds a lock on the database; a second such writer also runs
    /// `PRAGMA wal_checkpoint(TRUNCATE)` every `truncate_every` requests (0: never), which
    /// restarts the -wal whenever no reader holds a read mark in it.
    PerRequest { truncate_every: u32 },
}

/// One transfer: moves stock between two tables in one transaction. A copy that mixes two
/// states breaks `sum(out) == sum(in)` or the row counts.
fn transfer(c: &Connection, q: i64) {
    let tx = c.unchecked_transaction().unwrap();
    tx.execute(
        "INSERT INTO sorties (product_id, quantity, left_at) VALUES (3, ?1, 'transfer')",
        [q],
    )
    .unwrap();
    tx.execute(
        "INSERT INTO receptions (product_id, quantity, received_at) VALUES (2, ?1, 'transfer')",
        [q],
    )
    .unwrap();
    churn(&tx);
    tx.commit().unwrap();
}

/// Rewrites pages all over the file, so WAL frames and checkpoints touch pages the copy is
/// reading at that moment.
fn churn(c: &Connection) {
    c.execute(
        "UPDATE filler SET notes = randomblob(1000) WHERE id = 1 + abs(random()) % (SELECT max(id) FROM filler)",
        [],
    )
    .unwrap();
}

fn open(db: &Path) -> Connection {
    let c = Connection::open(db).unwrap();
    c.busy_timeout(Duration::from_secs(60)).unwrap();
    // No fsync per commit: on a busy machine the writer would otherwise queue behind the
    // backup's own fsync and commit nothing while it runs. Durability is not under test.
    c.execute_batch("PRAGMA synchronous=OFF").unwrap();
    c
}

/// Runs transfers every couple of milliseconds until `stop`, counting commits.
fn start_writer(
    db: &Path,
    stop: Arc<AtomicBool>,
    commits: Arc<AtomicU64>,
    writer: Writer,
) -> Vec<thread::JoinHandle<()>> {
    let db = db.to_path_buf();
    let mut threads = Vec::new();
    if let Writer::PerRequest { truncate_every } = writer {
        let (db, stop) = (db.clone(), stop.clone());
        // Pages only: the transfers' totals stay with the one writer below.
        threads.push(thread::spawn(move || {
            let mut n = 0u32;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let c = open(&db);
                churn(&c);
                if truncate_every > 0 && n.is_multiple_of(truncate_every) {
                    // A short wait: a reader's read mark makes it give up (busy), as PHP's
                    // maintenance jobs would.
                    c.busy_timeout(Duration::from_millis(20)).unwrap();
                    let _: (i64, i64, i64) = c
                        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                        })
                        .unwrap();
                }
                drop(c);
                thread::sleep(Duration::from_millis(1));
            }
        }));
    }
    threads.push(thread::spawn(move || {
        let kept = match writer {
            Writer::Kept { checkpoint_every } => {
                let c = open(&db);
                if checkpoint_every > 0 {
                    c.execute_batch(&format!("PRAGMA wal_autocheckpoint={checkpoint_every}"))
                        .unwrap();
                }
                Some(c)
            }
            Writer::PerRequest { .. } => None,
        };
        let mut q = 0i64;
        while !stop.load(Ordering::Relaxed) {
            q += 1;
            match &kept {
                Some(c) => transfer(c, q),
                None => transfer(&open(&db), q),
            }
            commits.fetch_add(1, Ordering::Relaxed);
            thread::sleep(Duration::from_millis(2));
        }
    }));
    threads
}

fn pairs(db: &Path) -> (i64, i64, i64, i64) {
    let c = Connection::open(db).unwrap();
    let side = |t: &str| -> (i64, i64) {
        c.query_row(
            &format!(
                "SELECT count(*), coalesce(sum(quantity), 0) FROM {t} WHERE {} = 'transfer'",
                if t == "sorties" {
                    "left_at"
                } else {
                    "received_at"
                }
            ),
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
    };
    let (n_out, s_out) = side("sorties");
    let (n_in, s_in) = side("receptions");
    (n_out, s_out, n_in, s_in)
}

fn backups_under_writes(journal: &str, writer: Writer) {
    let app = App::sqlite();
    grow(&app.db_path(), 60);
    {
        let c = Connection::open(app.db_path()).unwrap();
        let m: String = c
            .query_row(&format!("PRAGMA journal_mode={journal}"), [], |r| r.get(0))
            .unwrap();
        assert_eq!(m, journal);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let commits = Arc::new(AtomicU64::new(0));
    let writers = start_writer(&app.db_path(), stop.clone(), commits.clone(), writer);
    thread::sleep(Duration::from_millis(50));

    let mut during = Vec::new();
    for _ in 0..3 {
        let before = commits.load(Ordering::Relaxed);
        let out = app.cmd(&["--keep=10", "--quiet"]).output().unwrap();
        common::assert_success(&out);
        during.push(commits.load(Ordering::Relaxed) - before);
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }

    let total = commits.load(Ordering::Relaxed) as i64;
    assert!(
        during.iter().all(|&n| n > 0),
        "the writer must commit while each backup runs: {during:?}"
    );
    let names = app.backups();
    assert_eq!(names.len(), 3, "{names:?}");
    let mut seen = Vec::new();
    for n in &names {
        let copy = app.backups_dir().join(n);
        assert_eq!(quick_check(&copy), "ok", "{n}");
        let (n_out, s_out, n_in, s_in) = pairs(&copy);
        assert_eq!((n_out, s_out), (n_in, s_in), "{n} holds half a transfer");
        assert_eq!(
            s_out,
            n_out * (n_out + 1) / 2,
            "{n} lost a committed transfer"
        );
        assert!(n_out <= total);
        seen.push(n_out);
    }
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "each backup later than the last: {seen:?}"
    );
    let c = Connection::open(app.db_path()).unwrap();
    let m: String = c
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(m, journal, "the source's journal mode must never change");
}

#[test]
fn consistent_under_writes_in_rollback_journal_mode() {
    backups_under_writes(
        "delete",
        Writer::Kept {
            checkpoint_every: 0,
        },
    );
}

#[test]
fn consistent_under_writes_in_wal_mode() {
    backups_under_writes(
        "wal",
        Writer::Kept {
            checkpoint_every: 0,
        },
    );
}

#[test]
fn consistent_under_writes_in_wal_mode_with_constant_checkpoints() {
    // Checkpoints every few commits copy WAL frames into the database file while the backup
    // reads that file: the snapshot must still be one committed state.
    backups_under_writes(
        "wal",
        Writer::Kept {
            checkpoint_every: 4,
        },
    );
}

#[test]
fn consistent_under_writes_with_a_connection_per_request() {
    // PHP's pattern: each request opens, commits and closes; the last one to close checkpoints
    // and deletes the -wal if it can lock the database exclusively, which our read
    // transaction's shared lock must prevent until the copy is complete.
    backups_under_writes("wal", Writer::PerRequest { truncate_every: 0 });
}

#[test]
fn consistent_under_writes_with_truncating_checkpoints() {
    // wal_checkpoint(TRUNCATE) empties and restarts the -wal whenever no reader has a read
    // mark in it: a backup that started on an empty -wal sees it restarted under it.
    backups_under_writes("wal", Writer::PerRequest { truncate_every: 5 });
}

#[test]
fn wal_sources_use_the_fast_snapshot() {
    // The kernel copy plus our reading of the -wal works with any SQLite build; say so in
    // --json, and prove the commit that only lives in the -wal is in the copy.
    let app = App::sqlite();
    let c = Connection::open(app.db_path()).unwrap();
    c.execute_batch("PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0; INSERT INTO products (name, stock) VALUES ('in the wal', 7);")
        .unwrap();
    let out = app.ok(&["--json"]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["method"], "file copy + WAL frames", "{v}");
    let copy = app.backups_dir().join(app.backups().last().unwrap());
    assert_eq!(quick_check(&copy), "ok");
    let n: i64 = Connection::open(&copy)
        .unwrap()
        .query_row(
            "SELECT stock FROM products WHERE name = 'in the wal'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 7);
}

/// A digest of every row of `filler`, which a stale or torn page would change.
fn filler_digest(db: &Path) -> (i64, u64) {
    use std::hash::{Hash, Hasher};
    let c = Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut s = c
        .prepare("SELECT id, notes FROM filler ORDER BY id")
        .unwrap();
    let mut rows = s.query([]).unwrap();
    let (mut n, mut h) = (0, std::collections::hash_map::DefaultHasher::new());
    while let Some(r) = rows.next().unwrap() {
        (r.get::<_, i64>(0).unwrap(), r.get::<_, Vec<u8>>(1).unwrap()).hash(&mut h);
        n += 1;
    }
    (n, h.finish())
}

/// Runs the command to its end; its output and its peak resident memory in KiB.
// The child is reaped by wait4, which also reports its own peak memory; clippy cannot see that.
#[allow(clippy::zombie_processes)]
fn run_measured(mut cmd: std::process::Command) -> (std::process::ExitStatus, String, i64) {
    use std::io::Read;
    use std::os::unix::process::ExitStatusExt;
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (mut status, mut usage) = (0, unsafe { std::mem::zeroed::<libc::rusage>() });
    // SAFETY: waits for our own child, whose pid we hold; `usage` is a valid rusage.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32);
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = std::process::ExitStatus::from_raw(status);
    assert!(status.success(), "{status}: {err}");
    (status, out, usage.ru_maxrss)
}

#[test]
fn a_big_wal_is_applied_without_holding_it_in_memory() {
    // ~60 MB of committed frames (every filler page rewritten), far more than any buffer: the
    // copy holds them all, and the run's memory stays flat.
    let app = App::sqlite();
    grow(&app.db_path(), 60);
    let w = Connection::open(app.db_path()).unwrap();
    w.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0;
         UPDATE filler SET notes = randomblob(1000);
         UPDATE filler SET notes = randomblob(1000) WHERE id % 3 = 0;",
    )
    .unwrap();
    let mut wal = app.db_path().into_os_string();
    wal.push("-wal");
    let wal_len = std::fs::metadata(&wal).unwrap().len();
    assert!(wal_len > 60 << 20, "the -wal holds {wal_len} bytes");
    let expected = filler_digest(&app.db_path());

    let (_, out, peak_kib) = run_measured(app.cmd(&["--json"]));
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["method"], "file copy + WAL frames", "{v}");
    let copy = app.backups_dir().join(app.backups().last().unwrap());
    assert_eq!(quick_check(&copy), "ok");
    assert_eq!(
        filler_digest(&copy),
        expected,
        "the copy misses frames of the -wal"
    );
    assert!(
        peak_kib < 40 << 10,
        "peak memory {peak_kib} KiB for a {wal_len}-byte -wal"
    );
    drop(w);
}
