//! kill -9 at random moments: a final name always holds a complete, verified backup, and the
//! next run sweeps away what the killed ones left.

mod common;

use std::time::{Duration, Instant};

use common::*;
use rand::Rng;
use rusqlite::Connection;

#[test]
fn kill_9_never_leaves_a_partial_file_under_a_final_name() {
    let app = App::sqlite();
    grow(&app.db_path(), 150);
    let rows: i64 = Connection::open(app.db_path())
        .unwrap()
        .query_row("SELECT count(*) FROM filler", [], |r| r.get(0))
        .unwrap();

    // One timed run tells how wide the window for a kill is.
    let t = Instant::now();
    app.ok(&["--keep=100", "--quiet"]);
    let full = t.elapsed();

    let mut rng = rand::rng();
    let mut killed_mid_run = 0;
    for _ in 0..15 {
        let mut child = app.cmd(&["--keep=100", "--quiet"]).spawn().unwrap();
        let wait = rng.random_range(0..=full.as_millis() as u64 + 20);
        std::thread::sleep(Duration::from_millis(wait));
        if child.try_wait().unwrap().is_none() {
            killed_mid_run += 1;
        }
        let _ = child.kill(); // SIGKILL
        child.wait().unwrap();
        for name in app.backups() {
            let copy = app.backups_dir().join(&name);
            assert_eq!(quick_check(&copy), "ok", "{name} is damaged");
            let n: i64 = Connection::open(&copy)
                .unwrap()
                .query_row("SELECT count(*) FROM filler", [], |r| r.get(0))
                .unwrap();
            assert_eq!(n, rows, "{name} is incomplete");
            for side in ["-wal", "-shm", "-journal"] {
                assert!(!app.backups_dir().join(format!("{name}{side}")).exists());
            }
        }
    }
    assert!(
        killed_mid_run >= 5,
        "only {killed_mid_run} kills landed mid-run; the test proves little"
    );

    app.ok(&["--keep=100", "--quiet"]);
    let leftovers: Vec<_> = app
        .entries()
        .into_iter()
        .filter(|n| n != ".db-backup.lock" && !is_backup_name(n))
        .collect();
    assert!(
        leftovers.is_empty(),
        "stale files survived the next run: {leftovers:?}"
    );
}
