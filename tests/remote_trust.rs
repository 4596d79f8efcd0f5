//! Only the app's own copies are believed: what someone who can write to the bucket or the NAS
//! folder can plant (a copy dated 2099, a plain or age-encrypted copy, a zstd bomb, odd names),
//! what overlapping places would do, and what killed runs leave. Each case as an adversary or
//! an accident would make it, with stock tools, against real S3 servers (Garage and moto) and
//! folders.

mod common;

use std::process::{Command, Stdio};

use common::disks::*;
use common::garage::{Bucket, S3};
use common::*;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Total stock of the live database (3 products, 1060 in all in the test app).
fn stock(app: &App) -> i64 {
    rusqlite::Connection::open(app.db_path())
        .unwrap()
        .query_row("SELECT sum(stock) FROM products", [], |r| r.get(0))
        .unwrap()
}

/// A real SQLite backup whose products all have `stock` units: what a planted copy holds.
fn doctored_backup(app: &App, stock: i64) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("planted.sqlite");
    std::fs::copy(app.db_path(), &path).unwrap();
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute("UPDATE products SET stock = ?1", [stock])
        .unwrap();
    drop(c);
    std::fs::read(&path).unwrap()
}

on_each_s3!(a_planted_copy_dated_2099_is_foreign_everywhere);
fn a_planted_copy_dated_2099_is_foreign_everywhere(s3: S3) {
    let bucket = Bucket::of(s3);
    let app = app_on_s3(&bucket, "");
    for _ in 0..5 {
        app.ok(&[]);
    }
    let genuine = app.backups();
    let planted = "database_backup_2099-01-01_000000.sqlite";
    bucket.put(&key(planted), &doctored_backup(&app, 0));

    // Retention counts only the app's own: the 3 newest genuine copies stay, the planted one
    // is neither counted nor deleted.
    let out = app.run(&["--keep", "3"]);
    assert_success(&out);
    let err = stderr(&out);
    assert!(
        err.contains("1 copy(ies) not made by this app are ignored (never counted nor deleted), 1 dated in the future"),
        "{err}"
    );
    let local = app.backups();
    let mut expected: Vec<String> = local.iter().map(|n| key(n)).collect();
    expected.push(key(planted));
    let remote: Vec<String> = bucket.list("").into_iter().map(|(k, _)| k).collect();
    assert_eq!(remote, expected);
    assert!(!local.contains(&genuine[0]));

    // status: the newest is the genuine one; the metrics never say 2099.
    let prom = app.dir().join("db_backup.prom");
    let out = app.run(&["status", "--prometheus", prom.to_str().unwrap()]);
    assert_success(&out);
    assert!(
        stdout(&out).contains("[s3] ok: 3 backups"),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("dated in the future"),
        "{}",
        stderr(&out)
    );
    let metrics = std::fs::read_to_string(&prom).unwrap();
    let s3_stamp: i64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("db_backup_last_success_timestamp_seconds{place=\"s3\"} "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(s3_stamp < 4_000_000_000, "{metrics}");

    // --latest is the newest genuine copy; the listing marks the planted one.
    let newest = local.last().unwrap();
    let verified = app.ok(&["verify", "--disk", "s3", "--latest"]);
    assert!(
        verified.starts_with(&format!("ok: s3:{newest} (")),
        "{verified}"
    );
    let listed = app.ok(&["list", "--disk", "s3"]);
    let line = listed.lines().find(|l| l.starts_with(planted)).unwrap();
    assert!(
        line.contains("FOREIGN: its name is dated in the future"),
        "{listed}"
    );

    // Restoring it is refused, and says how to insist.
    let out = app.run(&["restore", "--disk", "s3", planted, "--yes"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is a foreign copy"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("--trust-foreign"), "{}", stderr(&out));
    assert_eq!(stock(&app), 1060, "the live database changed");
    let out = app.run(&["verify", "--disk", "s3", planted]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));

    // With --trust-foreign it is the user's call, said once more.
    let out = app.run(&[
        "restore",
        "--disk",
        "s3",
        planted,
        "--yes",
        "--trust-foreign",
    ]);
    assert_success(&out);
    assert!(
        stderr(&out).contains("trusted because --trust-foreign"),
        "{}",
        stderr(&out)
    );
    assert_eq!(stock(&app), 0);
}

on_each_s3!(copies_anyone_could_encrypt_to_the_apps_key_are_foreign);
fn copies_anyone_could_encrypt_to_the_apps_key_are_foreign(s3: S3) {
    let bucket = Bucket::of(s3);
    let keys = tempfile::tempdir().unwrap();
    let (identity, public) = keygen(keys.path());
    let app = app_on_s3(
        &bucket,
        &format!(
            "DB_BACKUP_COMPRESS=zstd\nDB_BACKUP_AGE_RECIPIENTS={public}\nDB_BACKUP_AGE_IDENTITY_FILE={}\n",
            identity.display()
        ),
    );
    app.ok(&[]);
    // Planted: zstd + age to the app's public key with the stock tools (as anyone can: age
    // does not say who encrypted), and a plain copy beside it; both dated in the past.
    let plain = doctored_backup(&app, 0);
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("x.sqlite");
    std::fs::write(&src, &plain).unwrap();
    let out = Command::new("sh")
        .arg("-c")
        .arg("zstd -q -c \"$1\" | age -r \"$2\"")
        .args(["sh", src.to_str().unwrap(), &public])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let encrypted = "database_backup_2026-01-02_000000.sqlite.zst.age";
    bucket.put(&key(encrypted), &out.stdout);
    bucket.put(&key("database_backup_2026-01-01_000000.sqlite"), &plain);

    for planted in [encrypted, "database_backup_2026-01-01_000000.sqlite"] {
        let out = app.run(&["restore", "--disk", "s3", planted, "--yes"]);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("is a foreign copy (it carries no db-backup seal)"),
            "{}",
            stderr(&out)
        );
    }
    assert_eq!(stock(&app), 1060);
    // Retention never counts them either: with --keep 1 both stay, the genuine one too.
    app.ok(&["--keep", "1"]);
    assert_eq!(bucket.list("").len(), 3, "{:?}", bucket.list(""));
}

#[test]
fn copies_lacking_the_configured_transforms_or_the_apps_key_are_foreign() {
    let nas = tempfile::tempdir().unwrap();
    let app = app_on_nas(nas.path(), "");
    app.ok(&[]);
    let first = app.backups().pop().unwrap();
    // zstd turned on: the plain copy is no longer what this app would make.
    app.write_env(&format!(
        "DB_CONNECTION=sqlite\nAPP_KEY={APP_KEY}\nDB_BACKUP_DISKS=nas\nNAS_ROOT={}\nDB_BACKUP_COMPRESS=zstd\n",
        nas.path().display()
    ));
    let listed = app.ok(&["list", "--disk", "nas"]);
    assert!(
        listed.contains("FOREIGN: it lacks the transforms configured"),
        "{listed}"
    );
    app.ok(&["--keep", "1"]);
    assert!(
        nas.path().join(&first).exists(),
        "a foreign copy was deleted"
    );

    // A new APP_KEY: the copies sealed with the old one are foreign, until the old key is
    // named in APP_PREVIOUS_KEYS (Laravel 11's key rotation).
    let rotated = "base64:bmV3LWtleS1uZXcta2V5LW5ldy1rZXktbmV3LWtleS0=";
    let env = |extra: &str| {
        format!(
            "DB_CONNECTION=sqlite\nAPP_KEY={rotated}\nDB_BACKUP_DISKS=nas\nNAS_ROOT={}\nDB_BACKUP_COMPRESS=zstd\n{extra}",
            nas.path().display()
        )
    };
    app.write_env(&env(""));
    let listed = app.ok(&["list", "--disk", "nas"]);
    assert!(
        listed.contains("FOREIGN: its seal was not made with this app's APP_KEY"),
        "{listed}"
    );
    let out = app.run(&["verify", "--disk", "nas", "--latest"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    app.write_env(&env(&format!("APP_PREVIOUS_KEYS=base64:b2xk,{APP_KEY}\n")));
    let out = app.ok(&["verify", "--disk", "nas", "--latest"]);
    assert!(out.starts_with("ok: nas:"), "{out}");
    // Without any APP_KEY nothing is copied (nor trusted), in one line.
    app.write_env(&format!(
        "DB_CONNECTION=sqlite\nDB_BACKUP_DISKS=nas\nNAS_ROOT={}\n",
        nas.path().display()
    ));
    let out = app.run(&[]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("APP_KEY is not set"),
        "{}",
        stderr(&out)
    );
}

on_each_s3!(odd_object_names_never_stop_a_copy_or_a_listing);
fn odd_object_names_never_stop_a_copy_or_a_listing(s3: S3) {
    let bucket = Bucket::of(s3);
    let app = app_on_s3(&bucket, "");
    // Names S3 clients take badly: an empty segment, a dot-dot segment, a newline, a tab, and
    // a name that almost is a backup's. Whatever the server accepts is planted.
    let mut planted = 0;
    for raw in [
        "db//x",
        "db/../db/x",
        "db/database_backup_2026-01-01_000000.sqlite%0A",
        "db/a%09b",
        "db/database_backup_2026-01-01_000000.sqlite.bak",
    ] {
        let out = bucket.curl(
            raw,
            &["--path-as-is", "--fail", "-X", "PUT", "--data-binary", "x"],
        );
        planted += out.status.success() as usize;
    }
    assert!(
        planted >= 3,
        "the server took only {planted} of the odd names"
    );
    let out = app.run(&[]);
    assert_success(&out);
    assert!(
        stderr(&out).contains("passed over an object with an odd name"),
        "{}",
        stderr(&out)
    );
    let listed = app.ok(&["list", "--disk", "s3"]);
    assert_eq!(listed.lines().count(), 1, "{listed}");
    app.ok(&["verify", "--disk", "s3", "--latest"]);
}

#[test]
fn a_disk_that_is_or_holds_the_backups_folder_is_refused_and_deletes_nothing() {
    let app = App::sqlite();
    for _ in 0..4 {
        app.ok(&[]);
    }
    let before = app.backups();
    write_filesystems(&app.dir());
    for root in [app.backups_dir(), app.dir().join("storage/app")] {
        app.write_env(&format!(
            "DB_CONNECTION=sqlite\nAPP_KEY={APP_KEY}\nDB_BACKUP_DISKS=nas\nNAS_ROOT={}\n",
            root.display()
        ));
        let out = app.run(&["--keep", "1"]);
        assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("is, holds or lies inside the backups folder"),
            "{}",
            stderr(&out)
        );
        // Local retention ran as asked; the disk did nothing at all.
        let now = app.backups();
        assert_eq!(now.len(), 1);
        assert!(
            !stdout(&out).contains("deleted from disk"),
            "{}",
            stdout(&out)
        );
        let out = app.run(&["list", "--disk", "nas"]);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    }
    assert!(!before.is_empty());
}

#[test]
fn a_zstd_bomb_stops_at_its_bound_and_leaves_nothing() {
    let nas = tempfile::tempdir().unwrap();
    let app = app_on_nas(nas.path(), "");
    app.ok(&[]);
    // 256 MiB of zeros, a few KiB once compressed, planted by someone who can write there.
    let out = Command::new("sh")
        .arg("-c")
        .arg("head -c 268435456 /dev/zero | zstd -q -19 -c")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stdout.len() < 64 << 10, "{}", out.stdout.len());
    let bomb = "database_backup_2026-01-01_000000.sqlite.zst";
    std::fs::write(nas.path().join(bomb), &out.stdout).unwrap();
    let before = app.entries();
    let out = app.run(&["verify", "--disk", "nas", bomb]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("foreign copy"), "{}", stderr(&out));
    let out = app.run(&["verify", "--disk", "nas", bomb, "--trust-foreign"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("decompresses to more than"),
        "{}",
        stderr(&out)
    );
    assert_eq!(app.entries(), before, "the download was left behind");
}

on_each_s3!(what_killed_runs_leave_is_cleaned_up_by_the_next_run);
fn what_killed_runs_leave_is_cleaned_up_by_the_next_run(s3: S3) {
    let bucket = Bucket::of(s3);
    let app = app_on_s3(&bucket, "");
    grow(&app.db_path(), 20);
    app.ok(&[]);
    let name = app.backups().pop().unwrap();
    // A verify killed while it downloads or checks: its private folder stays behind, 0700.
    let mut child = app
        .cmd(&["verify", "--disk", "s3", &name])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    let left = loop {
        let found = app
            .entries()
            .into_iter()
            .find(|e| e.starts_with(".db-backup-fetch-"));
        if let Some(f) = found {
            break f;
        }
        assert!(child.try_wait().unwrap().is_none(), "verify ended first");
        assert!(start.elapsed().as_secs() < 30);
        std::thread::sleep(std::time::Duration::from_millis(2));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(mode(&app.backups_dir().join(&left)) & 0o777, 0o700);
    // An upload a killed run left unfinished, of a backup that will not be copied again.
    let leftover = key("database_backup_2026-01-01_000000.sqlite");
    let out = bucket.curl(&format!("{leftover}?uploads="), &["--fail", "-X", "POST"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(bucket.pending_uploads().len(), 1);

    let out = app.ok(&["--json"]);
    let json: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(json["copies"][0]["aborted_uploads"], 1, "{json}");
    assert!(bucket.pending_uploads().is_empty());
    assert!(
        !app.entries()
            .iter()
            .any(|e| e.starts_with(".db-backup-fetch-")),
        "{:?}",
        app.entries()
    );
}

#[test]
fn an_identity_file_others_can_read_is_warned_about() {
    let nas = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let (identity, public) = keygen(keys.path());
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&identity, std::fs::Permissions::from_mode(0o644)).unwrap();
    let app = app_on_nas(
        nas.path(),
        &format!(
            "DB_BACKUP_AGE_RECIPIENTS={public}\nDB_BACKUP_AGE_IDENTITY_FILE={}\n",
            identity.display()
        ),
    );
    let out = app.run(&[]);
    assert_success(&out);
    assert!(
        stderr(&out).contains(&format!(
            "can be read by other users: run chmod 600 {}",
            identity.display()
        )),
        "{}",
        stderr(&out)
    );
    std::fs::set_permissions(&identity, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = app.run(&["verify", "--disk", "nas", "--latest"]);
    assert_success(&out);
    assert!(!stderr(&out).contains("chmod"), "{}", stderr(&out));
}
