//! Continuous backup (`db-backup replicate`, `restore --at`, `verify --at`, `list --points`),
//! with a real writer process (tests/replicate/writer.py, Python's sqlite3) beside replicate.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use rusqlite::Connection;

const APP_KEY: &str = "base64:c2VjcmV0LWtleS1mb3ItdGVzdHMtb25seS0zMmJ5dGVz";

/// An app on a WAL database holding `t(x, v, pad)`, with `page_size`.
fn wal_app(page_size: u32, extra_env: &str) -> App {
    let app = App::bare(&format!(
        "DB_CONNECTION=sqlite\nAPP_KEY={APP_KEY}\n{extra_env}"
    ));
    let c = Connection::open(app.db_path()).unwrap();
    c.execute_batch(&format!(
        "PRAGMA page_size={page_size}; PRAGMA journal_mode=WAL;
         CREATE TABLE t(x INTEGER PRIMARY KEY, v INTEGER NOT NULL, pad BLOB);"
    ))
    .unwrap();
    app
}

/// replicate running in the background, its output going to a file.
struct Replicate {
    child: Child,
    log: PathBuf,
}

impl Replicate {
    fn start(app: &App) -> Replicate {
        Replicate::start_with(app, &[])
    }

    fn start_with(app: &App, extra: &[&str]) -> Replicate {
        let log = app
            .root
            .path()
            .join(format!("replicate-{}.log", rand_suffix()));
        let out = std::fs::File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        let mut args = vec!["replicate"];
        args.extend_from_slice(extra);
        let child = app.cmd(&args).stdout(out).stderr(err).spawn().unwrap();
        let r = Replicate { child, log };
        r.wait_for("going on with chain|chain [0-9a-f]+ has its backup");
        r
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_for(&self, pattern: &str) {
        let re = regex::Regex::new(pattern).unwrap();
        let start = Instant::now();
        while !re.is_match(&self.log()) {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "replicate never said /{pattern}/: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM: ships what is left and exits 0.
    fn stop(mut self) -> String {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let status = self.child.wait().unwrap();
        let log = self.log();
        assert!(status.success(), "replicate after SIGTERM: {status}\n{log}");
        log
    }

    fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

/// A test that fails never leaves replicate running.
impl Drop for Replicate {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos());
    h.finish()
}

/// One commit of the writer: j, and when it began and finished (Unix seconds).
#[derive(Debug, Clone, Copy)]
struct Commit {
    j: i64,
    began: f64,
    done: f64,
}

/// Runs the writer process to the end: `count` transactions at `rate` per second.
fn write(db: &Path, count: u32, rate: u32, truncate_every: u32, start: i64) -> Vec<Commit> {
    write_with(db, count, rate, truncate_every, start, None)
}

/// [`write`], the writer's connection with `wal_autocheckpoint` set to `autocheckpoint`.
fn write_with(
    db: &Path,
    count: u32,
    rate: u32,
    truncate_every: u32,
    start: i64,
    autocheckpoint: Option<u32>,
) -> Vec<Commit> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/replicate/writer.py");
    let mut cmd = Command::new("python3");
    if let Some(n) = autocheckpoint {
        cmd.env("WRITER_AUTOCHECKPOINT", n.to_string());
    }
    let mut child = cmd
        .arg(script)
        .arg(db)
        .args([
            count.to_string(),
            rate.to_string(),
            truncate_every.to_string(),
            start.to_string(),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs the writer (scripts/test installs it)");
    let mut commits = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        let f: Vec<&str> = line.split(' ').collect();
        commits.push(Commit {
            j: f[0].parse().unwrap(),
            began: f[1].parse().unwrap(),
            done: f[2].parse().unwrap(),
        });
    }
    assert!(child.wait().unwrap().success(), "the writer failed");
    commits
}

/// The rows of `t` in a database: (x, v, length of pad).
fn rows(db: &Path) -> Vec<(i64, i64, i64)> {
    let c = Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let ok: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok", "{}", db.display());
    let mut s = c
        .prepare("SELECT x, v, length(pad) FROM t ORDER BY x")
        .unwrap();
    s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

/// What `t` holds after the writer's transactions `first..=k` (rows before `first` as given).
fn expected(k: i64) -> Vec<(i64, i64, i64)> {
    (1..=k)
        .map(|x| (x, if x < k { x + 1 } else { 0 }, 300 + x % 700))
        .collect()
}

fn rfc3339(secs: f64) -> String {
    let t = chrono::DateTime::from_timestamp_millis((secs * 1000.0).round() as i64).unwrap();
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// `restore --at T --to FILE`: the rows it gives.
fn rows_at(app: &App, at: &str) -> Vec<(i64, i64, i64)> {
    let out = app.root.path().join(format!("at-{}.sqlite", rand_suffix()));
    let o = app.run(&["restore", "--at", at, "--to", out.to_str().unwrap()]);
    assert_success(&o);
    assert_eq!(mode(&out), 0o600);
    let r = rows(&out);
    std::fs::remove_file(&out).unwrap();
    r
}

/// Every transaction finished by `at` is in, none begun after it: the rows are exactly the
/// writer's prefix 1..k for a k between those two bounds.
fn assert_exact(app: &App, commits: &[Commit], at: f64) {
    // The time asked is to the millisecond.
    let at = (at * 1000.0).round() / 1000.0;
    let got = rows_at(app, &rfc3339(at));
    let k = got.last().map_or(0, |r| r.0);
    // Seen within a look (50 ms) of being committed; a little slack for a busy machine.
    let must = commits
        .iter()
        .filter(|c| c.done <= at - 0.25)
        .map(|c| c.j)
        .max()
        .unwrap_or(0);
    let may = commits
        .iter()
        .filter(|c| c.began <= at)
        .map(|c| c.j)
        .max()
        .unwrap_or(0);
    assert!(
        must <= k && k <= may,
        "at {}: restored up to {k}, expected between {must} and {may}",
        rfc3339(at)
    );
    assert_eq!(got, expected(k), "at {}: not the exact prefix", rfc3339(at));
}

#[test]
fn restore_at_gives_exactly_what_was_committed_by_then() {
    for page_size in [4096, 512, 65536] {
        let app = wal_app(page_size, "");
        let rep = Replicate::start(&app);
        let commits = write(&app.db_path(), 300, 150, 0, 1);
        std::thread::sleep(Duration::from_millis(300));
        let log = rep.stop();
        assert!(
            log.contains("stopped: everything seen was shipped"),
            "{log}"
        );
        assert!(!log.contains("broke"), "{log}");
        let (t0, t1) = (commits[0].began, commits.last().unwrap().done);
        for i in 0..=6 {
            assert_exact(&app, &commits, t0 + (t1 - t0) * f64::from(i) / 6.0);
        }
        // After the last commit: the live database exactly.
        assert_eq!(rows_at(&app, &rfc3339(t1 + 1.0)), rows(&app.db_path()));
        // verify --at proves a point without touching anything.
        let before = app.entries();
        let out = app.ok(&["verify", "--at", &rfc3339((t0 + t1) / 2.0)]);
        assert!(
            out.contains("state checksum and integrity_check pass"),
            "{out}"
        );
        assert_eq!(app.entries(), before);
    }
}

/// A database put back as it once was (a copy of it put in its place) starts a new chain, whose
/// backup has the state of the older chain's first point too: `restore --at` after it goes on
/// from the newer chain, not from the older one (which would stop at the break between them).
/// Put back three times: which chain has a given state first depends on their random ids,
/// so an old chain is taken over the newest one, if that can happen, in all but 1 run in 24.
#[test]
fn a_database_put_back_as_it_was_restores_from_its_new_chain() {
    let app = wal_app(4096, "");
    let db = app.db_path();
    let start = app.root.path().join("start.sqlite");
    let c = Connection::open(&db).unwrap();
    c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)").unwrap();
    drop(c);
    std::fs::copy(&db, &start).unwrap();
    for round in 0..4 {
        if round > 0 {
            // Put back: the copy renamed over the database, its -wal and -shm gone.
            for suffix in ["-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
            }
            let staged = app.root.path().join("staged.sqlite");
            std::fs::copy(&start, &staged).unwrap();
            std::fs::rename(&staged, &db).unwrap();
            // Backups are named to the second.
            std::thread::sleep(Duration::from_millis(1100));
        }
        let rep = Replicate::start(&app);
        let commits = write(&db, 40, 40, 0, 1);
        std::thread::sleep(Duration::from_millis(300));
        rep.stop();
        let end = commits.last().unwrap().done;
        assert_eq!(rows(&db), expected(40));
        assert_eq!(
            rows_at(&app, &rfc3339(end + 1.0)),
            expected(40),
            "round {round}"
        );
        std::thread::sleep(Duration::from_millis(1100));
    }
}

/// What the app committed while replicate was stopped is found by the next run (which goes on
/// with the chain, or starts a new one if the -wal was restarted meanwhile): when each of those
/// transactions was committed is not known, so a time between the last transaction seen before
/// the stop and the restart is refused as a break, never answered with the state from before
/// them; times before and after stay exact. Once after SIGTERM, once after kill -9. (Here the
/// app's next commit restarts the -wal, so a new chain starts; the catch-up transaction of a
/// run that goes on with the chain is dated the same way: pitr.rs's unit tests.)
#[test]
fn what_was_committed_while_replicate_was_stopped_is_never_dated_before_it_was_seen() {
    for killed in [false, true] {
        stopped_then_started_again(killed);
    }
}

fn stopped_then_started_again(killed: bool) {
    let app = wal_app(4096, "");
    let db = app.db_path();
    let rep = Replicate::start(&app);
    let mut commits = write(&db, 20, 20, 0, 1);
    std::thread::sleep(Duration::from_millis(300));
    if killed {
        rep.kill9();
    } else {
        rep.stop();
    }
    let down = write(&db, 30, 30, 0, 21);
    let inside = down[15].done;
    commits.extend(down);
    std::thread::sleep(Duration::from_millis(300));
    let rep = Replicate::start(&app);
    std::thread::sleep(Duration::from_millis(300));
    rep.stop();
    let after = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert_exact(&app, &commits, commits[5].done + 0.3);
    let o = app.run(&["verify", "--at", &rfc3339(inside)]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("falls in a break") && err.contains("known only as of"),
        "{err}"
    );
    assert_exact(&app, &commits, after);
    assert_eq!(rows_at(&app, &rfc3339(after)), rows(&db));
}

#[test]
fn restore_at_over_the_live_database_takes_a_safety_backup_first() {
    let app = wal_app(4096, "");
    let rep = Replicate::start(&app);
    let commits = write(&app.db_path(), 200, 200, 0, 1);
    std::thread::sleep(Duration::from_millis(300));
    rep.stop();
    let mid = commits[99].done + 0.001;
    let want = rows_at(&app, &rfc3339(mid));
    let before = app.backups().len();
    let out = app.run(&["restore", "--at", &rfc3339(mid), "--yes"]);
    assert_success(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("plus"), "{err}");
    assert_eq!(rows(&app.db_path()), want);
    assert_eq!(app.backups().len(), before + 1, "the safety backup");
}

#[test]
fn a_rollback_journal_database_is_refused_and_left_as_it_is() {
    let app = App::bare(&format!("DB_CONNECTION=sqlite\nAPP_KEY={APP_KEY}\n"));
    stock_schema(&app.db_path());
    let out = app.run(&["replicate"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not in WAL mode") && err.contains("journal_mode"),
        "{err}"
    );
    let c = Connection::open(app.db_path()).unwrap();
    let mode: String = c
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "delete");
    assert!(app.backups().is_empty());
}

#[test]
fn a_second_replicate_exits_at_once() {
    let app = wal_app(4096, "");
    let rep = Replicate::start(&app);
    let start = Instant::now();
    let out = app.run(&["replicate"]);
    assert_eq!(
        out.status.code(),
        Some(75),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(start.elapsed() < Duration::from_secs(5));
    rep.stop();
}

/// The nice value in /proc/PID/autogroup ("/autogroup-85 nice 0"), or None where the process
/// has no autogroup: the file is missing on a kernel without them, and empty where the kernel
/// keeps the session in none of its own (a CI machine did). Its own nice rules then.
fn autogroup_nice(pid: u32) -> Option<i32> {
    let path = format!("/proc/{pid}/autogroup");
    let text = std::fs::read_to_string(&path).ok()?;
    let nice = text.split_whitespace().last()?;
    Some(
        nice.parse()
            .unwrap_or_else(|e| panic!("{path}: {text:?}: {e}")),
    )
}

#[test]
fn replicate_yields_the_cpu_as_a_session_of_its_own_and_leaves_a_shared_one_alone() {
    use std::os::unix::process::CommandExt;
    let app = wal_app(4096, "");
    // As systemd starts it: a session of its own, whose nice it lowers.
    let log = app.root.path().join("replicate-own-session.log");
    let out = std::fs::File::create(&log).unwrap();
    let mut cmd = app.cmd(&["replicate"]);
    cmd.stdout(out.try_clone().unwrap()).stderr(out);
    // SAFETY: setsid is async-signal-safe, as pre_exec requires.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let r = Replicate {
        child: cmd.spawn().unwrap(),
        log,
    };
    r.wait_for("going on with chain|chain [0-9a-f]+ has its backup");
    let pid = r.child.id();
    // Its own nice rules everywhere; its session's only where the kernel groups by session.
    let nice = unsafe { libc::getpriority(libc::PRIO_PROCESS, pid) };
    assert_eq!(nice, 10);
    let grouped = autogroup_nice(pid);
    if grouped.is_none() {
        eprintln!(
            "note: this machine gives replicate's session no autogroup: only replicate's own \
             nice was checked"
        );
    }
    assert!(
        matches!(grouped, None | Some(10)),
        "{grouped:?}: {}",
        r.log()
    );
    r.stop();
    // Started from a shell (here: the test's own session), the session is left as it was.
    let mine = autogroup_nice(std::process::id());
    let rep = Replicate::start(&app);
    assert_eq!(autogroup_nice(rep.child.id()), mine);
    assert_eq!(autogroup_nice(std::process::id()), mine);
    rep.stop();
}

#[test]
fn the_apps_own_truncate_checkpoints_leave_no_gap() {
    let app = wal_app(4096, "");
    let rep = Replicate::start(&app);
    let commits = write(&app.db_path(), 300, 150, 25, 1);
    std::thread::sleep(Duration::from_millis(300));
    rep.stop();
    let (t0, t1) = (commits[0].began, commits.last().unwrap().done);
    for i in 0..=5 {
        assert_exact(&app, &commits, t0 + (t1 - t0) * f64::from(i) / 5.0);
    }
    assert_eq!(rows_at(&app, &rfc3339(t1 + 1.0)), rows(&app.db_path()));
}

#[test]
fn the_wal_stays_bounded_under_a_steady_writer() {
    wal_stays_bounded(None);
}

/// Between restarts replicate leaves checkpoints to the app's autocheckpoint: an app that
/// turned it off must still see its -wal bounded.
#[test]
fn the_wal_stays_bounded_when_the_app_never_checkpoints() {
    wal_stays_bounded(Some(0));
}

fn wal_stays_bounded(autocheckpoint: Option<u32>) {
    let app = wal_app(4096, "DB_BACKUP_WAL_LIMIT=256K\n");
    let rep = Replicate::start(&app);
    let db = app.db_path();
    let wal = PathBuf::from(format!("{}-wal", db.display()));
    let watcher = std::thread::spawn(move || {
        let mut max = 0;
        for _ in 0..200 {
            max = max.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
            std::thread::sleep(Duration::from_millis(25));
        }
        max
    });
    let commits = write_with(&db, 1000, 250, 0, 1, autocheckpoint);
    let max = watcher.join().unwrap();
    // Once the app is idle nothing more is published: a restart window is opened for what
    // the app wrote, never for the -wal file's size (which a restart keeps).
    std::thread::sleep(Duration::from_millis(1500));
    let segments = || {
        common::list(&app.backups_dir().join("changes"))
            .into_iter()
            .filter(|n| n.ends_with(".dbchanges"))
            .collect::<Vec<_>>()
    };
    let idle = segments();
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(
        segments(),
        idle,
        "segments were published while the app was idle"
    );
    let log = rep.stop();
    eprintln!("the -wal file reached {max} bytes");
    assert!(log.contains("the -wal was restarted"), "{log}");
    // The limit is checked at every look (here 420 KB were seen): the limit, plus a second of
    // this writer should a window miss (the app holding its lock 100 ms).
    assert!(max < 2 << 20, "the -wal reached {max} bytes");
    let t1 = commits.last().unwrap().done;
    assert_exact(&app, &commits, (commits[0].began + t1) / 2.0);
    assert_eq!(rows_at(&app, &rfc3339(t1 + 1.0)), rows(&app.db_path()));
}

#[test]
fn kill_9_at_random_moments_leaves_no_gap_and_nothing_corrupt() {
    let app = wal_app(4096, "");
    let db = app.db_path();
    let writer = {
        let db = db.clone();
        std::thread::spawn(move || write(&db, 3000, 150, 0, 1))
    };
    let mut pause = rand_suffix();
    for _ in 0..50 {
        let rep = Replicate::start(&app);
        pause = pause
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        std::thread::sleep(Duration::from_millis(50 + (pause >> 33) % 400));
        rep.kill9();
    }
    let commits = writer.join().unwrap();
    let rep = Replicate::start(&app);
    std::thread::sleep(Duration::from_millis(300));
    rep.stop();
    let out = app.run(&["list", "--points"]);
    assert_success(&out);
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let t1 = commits.last().unwrap().done;
    assert_eq!(rows_at(&app, &rfc3339(t1 + 1.0)), rows(&db));
    // Points inside the run, wherever the chain could go on through the kills.
    let t0 = commits[0].began;
    for i in 1..10 {
        let at = t0 + (t1 - t0) * f64::from(i) / 10.0;
        let at = (at * 1000.0).round() / 1000.0;
        let o = app.run(&["verify", "--at", &rfc3339(at)]);
        if o.status.success() {
            assert_exact(&app, &commits, at);
        } else {
            // Only a point before every backup of the chains may be missing, never a broken one.
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(err.contains("falls in a break"), "{err}");
        }
    }
}

/// `restore --at T --disk s3 --to FILE` with nothing local: the rows it gives.
fn rows_at_disk(app: &App, at: &str, disk: &str) -> Vec<(i64, i64, i64)> {
    let out = app.root.path().join(format!("at-{}.sqlite", rand_suffix()));
    let o = app.run(&[
        "restore",
        "--at",
        at,
        "--disk",
        disk,
        "--to",
        out.to_str().unwrap(),
    ]);
    assert_success(&o);
    let r = rows(&out);
    std::fs::remove_file(&out).unwrap();
    r
}

fn s3_app(bucket: &common::garage::Bucket) -> App {
    let app = wal_app(
        4096,
        &format!(
            "DB_BACKUP_DISKS=s3\nDB_BACKUP_COMPRESS=zstd\n{}",
            bucket.env_text()
        ),
    );
    common::disks::write_filesystems(&app.dir());
    app
}

/// Waits until replicate's status says the disk holds everything.
fn wait_shipped(app: &App, disk: &str, within: Duration) {
    let status = app.backups_dir().join("changes/replicate.json");
    let start = Instant::now();
    loop {
        let text = std::fs::read_to_string(&status).unwrap_or_default();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let d = &json["disks"][disk];
        if d.is_object()
            && d["error"].is_null()
            && d["waiting_since_ms"].is_null()
            && json["unshipped_since_ms"].is_null()
        {
            return;
        }
        assert!(start.elapsed() < within, "{disk} never caught up: {text}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

on_each_s3!(changes_reach_the_disk_and_a_point_restores_from_it_alone);
fn changes_reach_the_disk_and_a_point_restores_from_it_alone(s3: common::garage::S3) {
    let bucket = common::garage::Bucket::of(s3);
    let app = s3_app(&bucket);
    let rep = Replicate::start(&app);
    let commits = write(&app.db_path(), 200, 100, 0, 1);
    wait_shipped(&app, "s3", Duration::from_secs(20));
    rep.stop();
    let objects = bucket.list("db/changes/");
    assert!(!objects.is_empty());
    assert!(
        objects.iter().all(|(k, _)| k.ends_with(".dbchanges.zst")),
        "{objects:?}"
    );
    // Nothing local any more: the disk alone gives the points back.
    let live = rows(&app.db_path());
    std::fs::remove_dir_all(app.backups_dir()).unwrap();
    let t1 = commits.last().unwrap().done;
    assert_eq!(rows_at_disk(&app, &rfc3339(t1 + 1.0), "s3"), live);
    let mid = ((commits[0].began + t1) / 2.0 * 1000.0).round() / 1000.0;
    let got = rows_at_disk(&app, &rfc3339(mid), "s3");
    let k = got.last().map_or(0, |r| r.0);
    assert_eq!(got, expected(k));
    assert!(commits
        .iter()
        .filter(|c| c.done <= mid - 0.25)
        .all(|c| c.j <= k));
    assert!(commits.iter().filter(|c| c.began > mid).all(|c| c.j > k));
}

#[test]
fn an_s3_disk_down_for_a_while_is_caught_up() {
    let mut own = common::garage::OwnGarage::start();
    let bucket = own.bucket();
    let app = s3_app(&bucket);
    let rep = Replicate::start(&app);
    let mut commits = write(&app.db_path(), 100, 100, 0, 1);
    wait_shipped(&app, "s3", Duration::from_secs(20));
    own.kill();
    // Writes go on while the disk is down; the local chain does not wait for it.
    commits.extend(write(&app.db_path(), 1500, 100, 0, 101));
    let local = app.root.path().join("local-now.sqlite");
    let t = commits.last().unwrap().done + 2.0;
    std::thread::sleep(Duration::from_millis(2500));
    assert_success(&app.run(&[
        "restore",
        "--at",
        &rfc3339(t),
        "--to",
        local.to_str().unwrap(),
    ]));
    assert_eq!(rows(&local), rows(&app.db_path()));
    let status = std::fs::read_to_string(app.backups_dir().join("changes/replicate.json")).unwrap();
    assert!(status.contains("\"error\":\""), "{status}");
    own.restart();
    wait_shipped(&app, "s3", Duration::from_secs(40));
    let log = rep.stop();
    assert!(log.contains("reachable again"), "{log}");
    let live = rows(&app.db_path());
    std::fs::remove_dir_all(app.backups_dir()).unwrap();
    assert_eq!(rows_at_disk(&app, &rfc3339(t), "s3"), live);
}

#[test]
fn status_reports_the_lag_and_a_stopped_replicate() {
    let app = wal_app(4096, "");
    let rep = Replicate::start(&app);
    write(&app.db_path(), 50, 100, 0, 1);
    std::thread::sleep(Duration::from_millis(1500));
    let prom = app.root.path().join("db_backup.prom");
    let out = app.run(&["status", "--prometheus", prom.to_str().unwrap()]);
    assert_success(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("continuous backup is"), "{text}");
    let metrics = std::fs::read_to_string(&prom).unwrap();
    let lag: f64 = metrics
        .lines()
        .find(|l| l.starts_with("db_backup_replication_lag_seconds{place=\"local\"}"))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("{metrics}"));
    assert!(lag < 2.0, "{metrics}");
    rep.stop();
    let out = app.run(&["status"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("continuous backup is not running"), "{text}");
}

#[test]
fn a_full_local_destination_stops_replicate_loudly_and_the_next_run_takes_up_what_was_seen() {
    let app = wal_app(4096, "");
    // First a run that ships normally.
    let rep = Replicate::start(&app);
    let mut commits = write(&app.db_path(), 100, 100, 0, 1);
    std::thread::sleep(Duration::from_millis(1200));
    rep.stop();
    let before: Vec<(String, Vec<u8>)> = common::list(&app.backups_dir().join("changes"))
        .into_iter()
        .filter(|n| n.ends_with(".dbchanges"))
        .map(|n| {
            let bytes = std::fs::read(app.backups_dir().join("changes").join(&n)).unwrap();
            (n, bytes)
        })
        .collect();
    // Then one whose files may not grow past 200 KiB (EFBIG, as a full disk): its segment
    // cannot be written.
    let mut cmd = app.cmd(&["replicate"]);
    limit_file_size(&mut cmd, 200 << 10);
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    commits.extend(write(&app.db_path(), 300, 150, 0, 101));
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("db-backup: error: ") && last.contains("full"),
        "{err}"
    );
    // What was shipped before is untouched.
    for (n, bytes) in &before {
        assert_eq!(
            &std::fs::read(app.backups_dir().join("changes").join(n)).unwrap(),
            bytes,
            "{n}"
        );
    }
    // A run with room again takes up what the stopped one had seen, and goes on.
    let rep = Replicate::start(&app);
    std::thread::sleep(Duration::from_millis(1200));
    rep.stop();
    let t1 = commits.last().unwrap().done;
    assert_eq!(rows_at(&app, &rfc3339(t1 + 1.0)), rows(&app.db_path()));
    assert_exact(&app, &commits, commits[50].done + 0.3);
}

#[test]
fn vacuum_and_a_database_file_put_in_place_keep_every_point() {
    let app = wal_app(4096, "");
    let db = app.db_path();
    let rep = Replicate::start(&app);
    let mut commits = write(&db, 150, 150, 0, 1);
    // VACUUM rewrites every page in one transaction: the chain goes on through it.
    Connection::open(&db)
        .unwrap()
        .execute_batch("DELETE FROM t WHERE x % 2 = 1 AND x < 0; VACUUM;")
        .unwrap();
    commits.extend(write(&db, 150, 150, 0, 151));
    std::thread::sleep(Duration::from_millis(1200));
    let t_before = commits.last().unwrap().done + 0.5;
    let old_rows = rows(&db);
    // Another file put in place (a rename, as deploy tools do): a new chain from a new backup.
    let fresh = app.root.path().join("fresh.sqlite");
    {
        let c = Connection::open(&fresh).unwrap();
        c.execute_batch(
            "PRAGMA journal_mode=WAL; CREATE TABLE t(x INTEGER PRIMARY KEY, v INTEGER NOT NULL, pad BLOB);
             INSERT INTO t VALUES (1, 2, randomblob(301)), (2, 0, randomblob(302));",
        )
        .unwrap();
    }
    std::fs::rename(&fresh, &db).unwrap();
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    rep.wait_for("chain broke");
    rep.wait_for("(?s)chain broke.*has its backup");
    std::thread::sleep(Duration::from_millis(300));
    let more = write(&db, 100, 150, 0, 3);
    std::thread::sleep(Duration::from_millis(1200));
    let log = rep.stop();
    assert!(log.contains("was replaced by another file"), "{log}");
    let (t0, t1) = (commits[0].began, commits.last().unwrap().done);
    for i in 0..=4 {
        assert_exact(&app, &commits, t0 + (t1 - t0) * f64::from(i) / 4.0);
    }
    assert_eq!(rows_at(&app, &rfc3339(t_before)), old_rows);
    let end = more.last().unwrap().done + 1.0;
    assert_eq!(rows_at(&app, &rfc3339(end)), rows(&db));
}

#[test]
fn a_database_past_the_lock_byte_page_round_trips() {
    // 64 KiB pages: the page holding the lock bytes at 1 GiB is page 16385.
    let app = wal_app(65536, "");
    let db = app.db_path();
    {
        let c = Connection::open(&db).unwrap();
        // Written once, without a journal (set-up only), then back to WAL.
        c.execute_batch(
            "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 17000)
             INSERT INTO t(x, v, pad) SELECT i, 0, zeroblob(65000) FROM n;
             PRAGMA journal_mode=WAL;",
        )
        .unwrap();
    }
    assert!(std::fs::metadata(&db).unwrap().len() > 1 << 30);
    let rep = Replicate::start(&app);
    // Rows on both sides of the lock-byte page change.
    let c = Connection::open(&db).unwrap();
    let started = chrono::Utc::now();
    for x in [10, 16300, 16400, 16990] {
        c.execute(
            "UPDATE t SET v = ?1, pad = randomblob(65000) WHERE x = ?1",
            [x],
        )
        .unwrap();
    }
    std::thread::sleep(Duration::from_millis(1300));
    rep.stop();
    let at = (started + chrono::Duration::seconds(5)).to_rfc3339();
    let out = app.root.path().join("big.sqlite");
    assert_success(&app.run(&["restore", "--at", &at, "--to", out.to_str().unwrap()]));
    let sums = |p: &Path| -> Vec<(i64, i64, Vec<u8>)> {
        let c = Connection::open(p).unwrap();
        let mut s = c
            .prepare("SELECT x, v, substr(pad, 1, 64) FROM t WHERE v > 0 ORDER BY x")
            .unwrap();
        s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
    };
    assert_eq!(sums(&out).len(), 4);
    assert_eq!(sums(&out), sums(&db));
}

#[test]
fn segments_are_merged_by_window_and_every_point_stays_restorable() {
    let nas = tempfile::tempdir().unwrap();
    let app = wal_app(
        4096,
        &format!("DB_BACKUP_DISKS=nas\nNAS_ROOT={}\n", nas.path().display()),
    );
    common::disks::write_filesystems(&app.dir());
    let rep = Replicate::start(&app);
    // Past one 30-second window, plus the 10 s replicate waits before tidying.
    let commits = write(&app.db_path(), 800, 20, 0, 1);
    std::thread::sleep(Duration::from_secs(12));
    wait_shipped(&app, "nas", Duration::from_secs(20));
    rep.stop();
    let local: Vec<String> = common::list(&app.backups_dir().join("changes"))
        .into_iter()
        .filter(|n| n.ends_with(".dbchanges"))
        .collect();
    // About 40 one-second segments without merging; a closed 30 s window is one.
    assert!(local.len() < 30, "{local:?}");
    let merged = local.iter().any(|n| {
        let (f, l) = (&n[34..46], &n[47..59]);
        l.parse::<u64>()
            .unwrap()
            .saturating_sub(f.parse::<u64>().unwrap())
            > 300
    });
    assert!(merged, "{local:?}");
    let remote: Vec<String> = common::list(&nas.path().join("changes"))
        .into_iter()
        .filter(|n| n.ends_with(".dbchanges"))
        .collect();
    assert!(remote.len() <= local.len() + 2, "{remote:?} vs {local:?}");
    let (t0, t1) = (commits[0].began, commits.last().unwrap().done);
    for i in 0..=8 {
        assert_exact(&app, &commits, t0 + (t1 - t0) * f64::from(i) / 8.0);
    }
    let live = rows(&app.db_path());
    std::fs::remove_dir_all(app.backups_dir()).unwrap();
    assert_eq!(rows_at_disk(&app, &rfc3339(t1 + 1.0), "nas"), live);
}
