//! One snapshot: a backup taken while another client moves stock between two InnoDB tables in
//! transactions holds whole transfers only, and every transfer committed before it began.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::mysql::*;

/// A long-lived stock client (`mariadb` or `mysql`) fed through a pipe: transfer number q puts
/// q units out of product 3 (a `sorties` row) and into product 2 (a `receptions` row) in one
/// transaction, every couple of milliseconds. The client echoes q after each COMMIT, so
/// `commits` counts what the server really committed.
struct Writer {
    stop: Arc<AtomicBool>,
    commits: Arc<AtomicU64>,
    feeder: thread::JoinHandle<()>,
    reader: thread::JoinHandle<()>,
    child: std::process::Child,
}

impl Writer {
    fn start(db: &TestDb) -> Writer {
        let mut child = db
            .server
            .client(&db.user, &db.password)
            // --unbuffered: each echo is flushed at once, not when the pipe buffer fills.
            .args(["--batch", "--skip-column-names", "--unbuffered", &db.name])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let commits = Arc::new(AtomicU64::new(0));
        let feeder = {
            let stop = stop.clone();
            let commits = commits.clone();
            thread::spawn(move || {
                let mut q = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    q += 1;
                    writeln!(
                        stdin,
                        "START TRANSACTION;
                         INSERT INTO sorties (product_id, quantity, left_at, note) VALUES (3, {q}, CURDATE(), 'transfer');
                         INSERT INTO receptions (product_id, quantity, received_at, note) VALUES (2, {q}, CURDATE(), 'transfer');
                         COMMIT;
                         SELECT {q};"
                    )
                    .unwrap();
                    stdin.flush().unwrap();
                    // Keep at most a few transfers in flight, one every ~2 ms.
                    while q > commits.load(Ordering::Relaxed) + 3 && !stop.load(Ordering::Relaxed) {
                        thread::sleep(Duration::from_millis(1));
                    }
                    thread::sleep(Duration::from_millis(2));
                }
                // Dropping stdin ends the client.
            })
        };
        let reader = {
            let commits = commits.clone();
            thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let q: u64 = line.unwrap().trim().parse().unwrap();
                    commits.store(q, Ordering::Relaxed);
                }
            })
        };
        Writer {
            stop,
            commits,
            feeder,
            reader,
            child,
        }
    }

    fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.feeder.join().unwrap();
        let status = self.child.wait().unwrap();
        self.reader.join().unwrap();
        assert!(status.success(), "the writer's client failed: {status}");
        self.commits.load(Ordering::Relaxed)
    }
}

/// (count, sum) of the transfers seen from each side.
fn transfers(db: &TestDb) -> ((u64, u64), (u64, u64)) {
    let out = db.admin_sql(
        "SELECT COUNT(*), COALESCE(SUM(quantity), 0) FROM sorties WHERE note = 'transfer';
         SELECT COUNT(*), COALESCE(SUM(quantity), 0) FROM receptions WHERE note = 'transfer';",
    );
    let v: Vec<u64> = out.split_whitespace().map(|n| n.parse().unwrap()).collect();
    ((v[0], v[1]), (v[2], v[3]))
}

test_on_both!(consistent_snapshot_under_concurrent_transfers);
fn consistent_snapshot_under_concurrent_transfers(server: &'static Server) {
    let db = TestDb::on(server);
    stock_objects(&db);
    // ~200k rows in the two tables the writer touches, so that each takes a while to dump and
    // a dump that reads them at different moments sees different states.
    db.sql(&format!(
        "INSERT INTO receptions (product_id, quantity, received_at, note)
           SELECT 1 + seq % 3, 1 + seq % 97, '2026-01-01', REPEAT('r', 40) FROM {n};
         INSERT INTO sorties (product_id, quantity, left_at, note)
           SELECT 1 + seq % 3, 1 + seq % 89, '2026-01-02', REPEAT('s', 40) FROM {n};",
        n = numbers(100_000)
    ));
    let writer = Writer::start(&db);
    let start = std::time::Instant::now();
    while writer.commits() < 20 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the writer does not commit"
        );
        thread::sleep(Duration::from_millis(5));
    }
    let app = db.app(Via::Tcp);
    let mut runs = Vec::new();
    for _ in 0..2 {
        let before = writer.commits();
        app.ok(&["--keep=10", "--quiet"]);
        runs.push((before, writer.commits()));
    }
    let total = writer.finish();

    assert!(
        runs.iter().all(|(b, a)| a > b),
        "the writer must commit while each backup runs: {runs:?}"
    );
    let names = app.backups();
    assert_eq!(names.len(), 2, "{names:?}");
    let mut seen = Vec::new();
    for (n, (before, after)) in names.iter().zip(&runs) {
        let copy = TestDb::on(server);
        copy.load(&app.backups_dir().join(n));
        let ((n_out, s_out), (n_in, s_in)) = transfers(&copy);
        assert_eq!((n_out, s_out), (n_in, s_in), "{n} holds half a transfer");
        assert_eq!(
            s_out,
            n_out * (n_out + 1) / 2,
            "{n} lost a committed transfer"
        );
        assert!(
            *before <= n_out && n_out <= *after,
            "{n} holds {n_out} transfers, but {before} were committed before it began and {after} when it ended"
        );
        assert!(n_out <= total);
        seen.push(n_out);
    }
    assert!(
        seen[0] < seen[1],
        "each backup later than the last: {seen:?}"
    );
}

test_on_both!(myisam_table_gives_a_warning_and_still_succeeds);
fn myisam_table_gives_a_warning_and_still_succeeds(server: &'static Server) {
    let db = TestDb::on(server);
    stock_objects(&db);
    db.sql(
        "CREATE TABLE legacy_logs (id INT PRIMARY KEY, line VARCHAR(100)) ENGINE=MyISAM;
         INSERT INTO legacy_logs VALUES (1, 'old'), (2, 'logs');",
    );
    let app = db.app(Via::Tcp);
    let out = app.run(&[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let warning = err
        .lines()
        .find(|l| l.contains("legacy_logs"))
        .unwrap_or_else(|| panic!("no warning naming legacy_logs: {err:?}"));
    assert!(
        warning.to_lowercase().contains("warning") && warning.contains("MyISAM"),
        "{warning}"
    );
    assert!(
        !err.lines().any(|l| l.contains("products")),
        "only the MyISAM table is named: {err}"
    );
    let copy = TestDb::on(server);
    copy.load(&only_backup(&app));
    db.assert_same_as(&copy);
}

test_on_both!(warnings_reach_stderr_in_quiet_and_json_styles);
/// `--quiet` (the README's cron line) and `--json` print a warning too: on stderr, where cron
/// mails and CI logs show it, and `--json` also carries it in its `warnings` array.
fn warnings_reach_stderr_in_quiet_and_json_styles(server: &'static Server) {
    let db = TestDb::on(server);
    db.sql(
        "CREATE TABLE legacy_logs (id INT PRIMARY KEY, line VARCHAR(100)) ENGINE=MyISAM;
         INSERT INTO legacy_logs VALUES (1, 'old');",
    );
    let app = db.app(Via::Tcp);
    let warned = |err: &str| {
        err.lines().any(|l| {
            l.starts_with("db-backup: warning: ")
                && l.contains("legacy_logs")
                && l.contains("MyISAM")
        })
    };
    let out = app.run(&["--quiet"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "",
        "--quiet prints no result"
    );
    assert!(warned(&err), "--quiet dropped the warning: {err:?}");

    let out = app.run(&["--json", "--keep=10"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(warned(&err), "--json: no warning on stderr: {err:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let list = v["warnings"].as_array().unwrap();
    assert!(
        list.iter()
            .any(|w| w.as_str().unwrap().contains("legacy_logs")),
        "{v}"
    );
}
