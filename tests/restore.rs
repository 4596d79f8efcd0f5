//! list, verify and restore on SQLite: the manual steps of the backup guide as safe commands.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use rusqlite::Connection;

fn rows(db: &std::path::Path, table: &str) -> Vec<(i64, String, i64)> {
    let c = Connection::open(db).unwrap();
    let mut s = c
        .prepare(&format!("SELECT id, name, stock FROM {table} ORDER BY id"))
        .unwrap();
    s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn latest(app: &App) -> String {
    app.backups().last().unwrap().clone()
}

#[test]
fn list_shows_backups_newest_first() {
    let app = App::sqlite();
    std::fs::create_dir_all(app.backups_dir()).unwrap();
    std::fs::write(
        app.backups_dir()
            .join("database_backup_2020-01-01_000000.sql"),
        "x",
    )
    .unwrap();
    app.ok(&[]);
    let out = app.ok(&["list"]);
    let lines: Vec<_> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].starts_with("database_backup_2") && lines[0].contains("sqlite"),
        "{out}"
    );
    assert!(
        lines[1].starts_with("database_backup_2020-01-01_000000.sql  sql"),
        "{out}"
    );
    let v: serde_json::Value = serde_json::from_str(&app.ok(&["list", "--json"])).unwrap();
    assert_eq!(v[1]["name"], "database_backup_2020-01-01_000000.sql");
    assert_eq!(v[1]["size_bytes"], 1);
}

#[test]
fn verify_latest_counts_every_table_and_fails_on_damage() {
    let app = App::sqlite();
    app.ok(&[]);
    let out = app.ok(&["verify", "--latest"]);
    assert!(
        out.starts_with("ok: storage/app/backups/database_backup_"),
        "{out}"
    );
    assert!(out.contains("  products: 3"), "{out}");
    let v: serde_json::Value =
        serde_json::from_str(&app.ok(&["verify", "--latest", "--json"])).unwrap();
    assert_eq!(v["check"], "integrity_check ok");

    // Damage the backup's pages past the header: verify must fail, exit non-zero, one line.
    grow(&app.db_path(), 2);
    std::thread::sleep(Duration::from_millis(1100));
    app.ok(&[]);
    let copy = app.backups_dir().join(latest(&app));
    let mut bytes = std::fs::read(&copy).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid..mid + 8192].fill(0x55);
    std::fs::write(&copy, bytes).unwrap();
    let out = app.run(&["verify", copy.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not a sound backup"), "{err}");

    let out = app.run(&["verify", "database_backup_1999-01-01_000000.sqlite"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("backup not found"));
}

#[test]
fn verify_a_file_outside_the_folder_says_so() {
    let app = App::sqlite();
    app.ok(&[]);
    let outside = app.root.path().join("copy.sqlite");
    std::fs::copy(app.backups_dir().join(latest(&app)), &outside).unwrap();
    let out = app.run(&["verify", outside.to_str().unwrap()]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("outside the backups folder"));
}

fn round_trip(journal: &str) {
    let app = App::sqlite();
    Connection::open(app.db_path())
        .unwrap()
        .query_row(&format!("PRAGMA journal_mode={journal}"), [], |r| {
            r.get::<_, String>(0)
        })
        .unwrap();
    Connection::open(app.db_path())
        .unwrap()
        .execute_batch("CREATE TABLE journal_log (id INTEGER PRIMARY KEY, at TEXT)")
        .unwrap();
    // Another process of the app keeps writing throughout.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (db, stop) = (app.db_path(), stop.clone());
        std::thread::spawn(move || {
            let c = Connection::open(db).unwrap();
            c.busy_timeout(Duration::from_secs(30)).unwrap();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                c.execute("INSERT INTO journal_log (at) VALUES (datetime('now'))", [])
                    .unwrap();
                n += 1;
                std::thread::sleep(Duration::from_millis(3));
            }
            n
        })
    };
    let before = rows(&app.db_path(), "products");
    app.ok(&[]);
    let backup = latest(&app);
    Connection::open(app.db_path())
        .unwrap()
        .execute_batch(
            "PRAGMA busy_timeout=30000; UPDATE products SET stock = 0; DELETE FROM products WHERE id = 3;
             INSERT INTO products (name, stock) VALUES ('added after the backup', 1);",
        )
        .unwrap();
    let changed = rows(&app.db_path(), "products");
    assert_ne!(changed, before);

    let out = app.ok(&["restore", &backup, "--yes"]);
    assert!(
        out.contains("safety backup of the previous data: storage/app/backups/database_backup_"),
        "{out}"
    );
    assert!(
        out.contains(&format!("restored storage/app/backups/{backup}")),
        "{out}"
    );
    stop.store(true, Ordering::Relaxed);
    assert!(writer.join().unwrap() > 0);

    assert_eq!(
        rows(&app.db_path(), "products"),
        before,
        "restored to the backed-up state"
    );
    assert_eq!(quick_check(&app.db_path()), "ok");
    let mode: String = Connection::open(app.db_path())
        .unwrap()
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, journal, "journal mode of the live database kept");
    // The safety backup holds the state just before the restore: the restore can be undone.
    let safety = latest(&app);
    assert_ne!(safety, backup);
    assert_eq!(rows(&app.backups_dir().join(&safety), "products"), changed);
}

#[test]
fn restore_round_trip_in_rollback_journal_mode_while_the_app_writes() {
    round_trip("delete");
}

#[test]
fn restore_round_trip_in_wal_mode_while_the_app_writes() {
    round_trip("wal");
}

#[test]
fn restore_needs_confirmation_without_a_terminal() {
    let app = App::sqlite();
    app.ok(&[]);
    let backup = latest(&app);
    let out = app
        .cmd(&["restore", &backup])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--yes"));
    assert_eq!(
        app.backups(),
        vec![backup],
        "no safety backup, nothing changed"
    );
}

#[test]
fn a_corrupt_backup_is_refused_before_the_live_database_is_touched() {
    let app = App::sqlite();
    grow(&app.db_path(), 2);
    app.ok(&[]);
    let backup = latest(&app);
    let path = app.backups_dir().join(&backup);
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid..mid + 8192].fill(0x55);
    std::fs::write(&path, bytes).unwrap();
    let live_before = std::fs::read(app.db_path()).unwrap();
    let out = app.run(&["restore", &backup, "--yes"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a sound backup"));
    assert_eq!(std::fs::read(app.db_path()).unwrap(), live_before);
    assert_eq!(app.backups(), vec![backup]);
}

#[test]
fn restore_refuses_the_other_drivers_backup_and_unknown_files() {
    let app = App::sqlite();
    std::fs::create_dir_all(app.backups_dir()).unwrap();
    std::fs::write(
        app.backups_dir()
            .join("database_backup_2020-01-01_000000.sql"),
        "SELECT 1;",
    )
    .unwrap();
    let out = app.run(&["restore", "database_backup_2020-01-01_000000.sql", "--yes"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("refusing to restore across drivers"));
    let out = app.run(&["restore", "nope.sqlite", "--yes"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("backup not found"));
}

/// A huge --busy-timeout is a usage error (exit 2, one line), never a panic in the middle of
/// a restore.
#[test]
fn restore_busy_timeout_is_bounded_like_backup() {
    let app = App::sqlite();
    app.ok(&[]);
    let backup = latest(&app);
    for big in ["3000000", "18446744073709551615"] {
        let out = app.run(&["restore", &backup, "--yes", "--busy-timeout", big]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(!err.contains("panicked"), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("--busy-timeout"), "{err}");
    }
    assert_eq!(app.backups(), vec![backup], "nothing was done");
}

/// `db-backup list | head -1`: the reader goes away after one line; the rest of the output is
/// dropped quietly, exit 0, no panic text. Enough backups that the listing outgrows the pipe's
/// buffer, so the writer is still writing when the reader closes.
#[test]
fn list_into_a_reader_that_closes_early_ends_quietly() {
    use std::io::BufRead;
    let app = App::sqlite();
    std::fs::create_dir_all(app.backups_dir()).unwrap();
    let start = chrono::NaiveDate::from_ymd_opt(2020, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    for i in 0..3000 {
        let at = start + chrono::Duration::hours(i);
        let name = format!("database_backup_{}.sqlite", at.format("%Y-%m-%d_%H%M%S"));
        std::fs::write(app.backups_dir().join(name), "").unwrap();
    }
    let mut child = app
        .cmd(&["list"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("database_backup_2020-05-"), "{first}");
    // The reader is dropped here: the pipe is closed with most of the listing unread.
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(err, "", "nothing on stderr");
    assert_eq!(out.status.code(), Some(0));
}

/// A restore holds the backups folder's lock from its safety backup to the end: a backup
/// started meanwhile (cron) exits 75 at once and deletes nothing — not the backup being
/// restored, not the safety backup. The restore is kept waiting by a writer of the app holding
/// the live database's write lock (WAL mode, so the safety backup can still read it).
#[test]
fn a_backup_during_a_restore_exits_75_and_deletes_nothing() {
    let app = App::sqlite();
    let db = app.db_path();
    Connection::open(&db)
        .unwrap()
        .query_row("PRAGMA journal_mode=wal", [], |r| r.get::<_, String>(0))
        .unwrap();
    app.ok(&[]);
    let backup = latest(&app);
    let writer = Connection::open(&db).unwrap();
    writer
        .execute_batch("BEGIN IMMEDIATE; UPDATE products SET stock = stock + 1;")
        .unwrap();
    let restore = app
        .cmd(&["restore", &backup, "--yes", "--busy-timeout", "120"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The safety backup is published; the restore now waits for our writer.
    let started = std::time::Instant::now();
    while app.backups().len() < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no safety backup appeared"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let during = app.backups();
    let cron = app.run(&["--keep=1"]);
    let err = String::from_utf8_lossy(&cron.stderr);
    assert_eq!(cron.status.code(), Some(75), "{err}");
    assert!(
        err.contains("another db-backup run is in progress"),
        "{err}"
    );
    assert_eq!(app.backups(), during, "nothing deleted, nothing added");

    writer.execute_batch("ROLLBACK").unwrap();
    let out = restore.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(app.backups(), during);
    assert_eq!(
        rows(&db, "products"),
        rows(&app.backups_dir().join(&backup), "products")
    );
}
