//! Copies that fail: each is one line naming the disk and the reason, exit code 4, the local
//! backup made and intact, and no partial object on the disk — against a real Garage (a shared
//! one, or one of the test's own that it kills), closed and silent ports, and a real full disk.

mod common;

use std::time::{Duration, Instant};

use common::disks::*;
use common::garage::{free_port, Bucket, OwnGarage, S3};
use common::*;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The shape of every failed copy: exit 4, one error line naming the disk and `needle`, the
/// new local backup published and sound.
fn assert_copy_failed(app: &App, out: &std::process::Output, disk: &str, needle: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(4), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected: {err}");
    assert!(
        lines[0].starts_with("db-backup: error: the backup ")
            && lines[0].contains(&format!("copying it to disk '{disk}' failed: ")),
        "{err}"
    );
    assert!(err.contains(needle), "{err:?} should mention {needle:?}");
    let backups = app.backups();
    assert_eq!(backups.len(), 1, "the local backup is kept");
    assert_eq!(quick_check(&app.backups_dir().join(&backups[0])), "ok");
}

#[test]
fn a_wrong_secret_is_one_line_and_never_shown() {
    let bucket = Bucket::new();
    let wrong = format!("{}x", &bucket.secret[1..]);
    let bad = Bucket {
        secret: wrong.clone(),
        ..bucket.clone()
    };
    let app = app_on_s3(&bad, "");
    let out = app.run(&[]);
    assert_copy_failed(&app, &out, "s3", "check the disk's key and secret");
    let all = format!("{}{}", stderr(&out), String::from_utf8_lossy(&out.stdout));
    assert!(
        !all.contains(&wrong) && !all.contains(&bucket.secret),
        "{all}"
    );
    assert!(bucket.list("").is_empty());
}

on_each_s3!(a_missing_bucket_is_named);
fn a_missing_bucket_is_named(s3: S3) {
    let bucket = Bucket::of(s3);
    let missing = Bucket {
        name: format!("{}-missing", bucket.name),
        ..bucket.clone()
    };
    let app = app_on_s3(&missing, "");
    let event = app.root.path().join("event.json");
    let hook = format!("cat > {}", event.display());
    let out = app.run(&["--on-failure", &hook]);
    assert_copy_failed(
        &app,
        &out,
        "s3",
        &format!("bucket '{}' does not exist", missing.name),
    );
    // The hook (and the bridge's BackupFailed event) hear of it, with the whole outcome.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&event).unwrap()).unwrap();
    assert_eq!(json["event"], "backup_failed");
    assert_eq!(json["exit_code"], 4);
    assert!(json["copies"][0]["error"]
        .as_str()
        .unwrap()
        .contains("does not exist"));
    assert_eq!(
        json["created"]
            .as_str()
            .map(|c| c.contains("database_backup_")),
        Some(true)
    );
}

#[test]
fn a_closed_port_fails_fast() {
    let bucket = Bucket::new();
    let app = app_on_s3(&bucket, "");
    let endpoint = format!("http://127.0.0.1:{}", free_port());
    copy_fails_within(
        &app,
        &endpoint,
        "connection refused",
        Duration::from_secs(30),
    );
}

#[test]
fn a_listener_that_never_answers_fails_in_bounded_time() {
    let bucket = Bucket::new();
    let app = app_on_s3(&bucket, "");
    // Connections are accepted by the kernel (backlog) and never answered.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", silent.local_addr().unwrap());
    copy_fails_within(&app, &endpoint, "did not answer", Duration::from_secs(60));
    drop(silent);
}

#[test]
fn a_disk_not_in_filesystems_php_is_one_line_after_the_local_backup() {
    let bucket = Bucket::new();
    let app = app_on_s3(&bucket, "");
    let out = app.cmd(&[]).env("DB_BACKUP_DISKS", "s4").output().unwrap();
    assert_copy_failed(
        &app,
        &out,
        "s4",
        "disk 's4' (DB_BACKUP_DISKS or --disk) is not in config/filesystems.php",
    );
    let out = app.cmd(&[]).env("DB_BACKUP_DISKS", "ftp").output().unwrap();
    assert!(
        stderr(&out).contains("uses the driver 'ftp'"),
        "{}",
        stderr(&out)
    );
    let out = app.run(&["list", "--disk", "s4"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out).trim(),
        "db-backup: error: disk 's4' (DB_BACKUP_DISKS or --disk) is not in config/filesystems.php: add it under 'disks' there, or fix the name"
    );
}

on_each_s3!(a_tampered_or_truncated_copy_fails_verify);
fn a_tampered_or_truncated_copy_fails_verify(s3: S3) {
    let bucket = Bucket::of(s3);
    let app = app_on_s3(&bucket, "");
    app.ok(&[]);
    let name = app.backups().pop().unwrap();
    let meta = bucket.head_meta(&key(&name));
    let mut bytes = bucket.get(&key(&name));
    // Altered, its genuine seal copied along: the bytes no longer match it.
    bytes[5000] ^= 0xff;
    bucket.put_with_meta(&key(&name), &bytes, &meta);
    let out = app.run(&["verify", "--disk", "s3", &name]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("does not match its seal"), "{err}");
    assert!(err.contains("do not trust"), "{err}");
    // Truncated, seal copied along: refused before a byte is trusted.
    bytes.truncate(bytes.len() / 2);
    bucket.put_with_meta(&key(&name), &bytes, &meta);
    let out = app.run(&["verify", "--disk", "s3", "--latest"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    // Replaced without its metadata (rclone uploads none): no longer the app's own.
    bytes.truncate(bytes.len() / 2);
    bucket.put(&key(&name), &bytes);
    let out = app.run(&["verify", "--disk", "s3", &name]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("is a foreign copy (it carries no db-backup seal)"),
        "{err}"
    );
    // The local backup was never involved, and no download is left behind.
    assert_success(&app.run(&["verify", "--latest"]));
    assert_eq!(app.entries().len(), 2, "{:?}", app.entries());
}

#[test]
fn garage_killed_mid_upload_leaves_no_object_and_the_next_run_catches_up() {
    let mut own = OwnGarage::start();
    let bucket = own.bucket();
    let app = app_on_s3(&bucket, "");
    grow(&app.db_path(), 120);
    let child = app
        .cmd(&[])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while bucket.pending_uploads().is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no upload started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    own.kill();
    let out = child.wait_with_output().unwrap();
    assert_copy_failed(&app, &out, "s3", "could not be aborted either");
    own.restart();
    assert!(bucket.list("").is_empty(), "a partial object is visible");
    let first = app.backups().pop().unwrap();
    let leftovers = bucket.pending_uploads();
    let text = app.ok(&[]);
    assert!(
        text.contains(&format!("copied {first} to disk 's3'")),
        "{text}"
    );
    // The dead server could not be told to abort: the next run aborts what it left.
    assert_eq!(leftovers.len(), 1, "{leftovers:?}");
    assert!(
        text.contains("aborted 1 unfinished upload(s) an interrupted run left on disk 's3'"),
        "{text}"
    );
    assert!(
        bucket.pending_uploads().is_empty(),
        "{:?}",
        bucket.pending_uploads()
    );
    let remote: Vec<String> = bucket.list("").into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        remote,
        app.backups().iter().map(|n| key(n)).collect::<Vec<_>>()
    );
    assert_success(&app.run(&["verify", "--disk", "s3", &first]));
}

#[test]
fn a_full_nas_disk_fails_the_copy_and_leaves_nothing_there() {
    let nas = tempfile::tempdir().unwrap();
    let root = nas.path().join("full");
    std::fs::create_dir(&root).unwrap();
    let app = app_on_nas(&root, "");
    grow(&app.db_path(), 3);
    // Inside the namespace: the run, then what the full disk holds (on stdout).
    let mut run = app.cmd(&[]);
    run.env("NAS_ROOT", &root);
    let mut sh = std::process::Command::new("sh");
    sh.args([
        "-c",
        r#""$0"; code=$?; ls -A "$NAS_ROOT" | sed 's/^/NAS: /'; exit $code"#,
        BIN,
    ]);
    for (k, v) in run.get_envs() {
        if let Some(v) = v {
            sh.env(k, v);
        }
    }
    sh.current_dir(app.dir());
    let out = with_small_tmpfs(&sh, &root, "1m").output().unwrap();
    assert_copy_failed(&app, &out, "nas", "disk full while writing");
    let held: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("NAS: ").map(str::to_string))
        .collect();
    assert_eq!(
        held,
        [".db-backup.lock"],
        "nothing but the lock on the full disk"
    );
    assert!(
        list(&root).is_empty(),
        "the tmpfs was private: {:?}",
        list(&root)
    );
}

/// A backup run with the s3 disk pointed at `endpoint` makes the local backup, then fails the
/// copy with `needle` in its line, within `bound`.
fn copy_fails_within(app: &App, endpoint: &str, needle: &str, bound: Duration) {
    let start = Instant::now();
    let out = app.cmd(&[]).env("AWS_ENDPOINT", endpoint).output().unwrap();
    assert_copy_failed(app, &out, "s3", needle);
    assert!(start.elapsed() < bound, "{:?}", start.elapsed());
}
