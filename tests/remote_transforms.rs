//! Copies compressed with zstd and encrypted with age, end to end: made by the real binary on
//! a real Garage bucket and a NAS folder, opened by the stock `age` and `zstd` tools (Debian's
//! packages) to prove they are standard files, then verified and restored from the disk. The
//! local backup stays a plain file.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::disks::*;
use common::garage::{Bucket, S3};
use common::*;

/// `age -d -i KEY | zstd -d` on `bytes`: what anyone with the key gets back, without us.
fn stock_decode(bytes: &[u8], identity: &Path) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let enc = dir.path().join("copy.zst.age");
    std::fs::write(&enc, bytes).unwrap();
    let out = Command::new("sh")
        .arg("-c")
        .arg("age -d -i \"$1\" \"$2\" | zstd -d -q -c")
        .args(["sh", identity.to_str().unwrap(), enc.to_str().unwrap()])
        .stdin(Stdio::null())
        .output()
        .expect("age and zstd (Debian packages; scripts/test installs them)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

on_each_s3!(zstd_and_age_copies_open_with_the_stock_tools_and_verify_from_s3);
fn zstd_and_age_copies_open_with_the_stock_tools_and_verify_from_s3(s3: S3) {
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
    grow(&app.db_path(), 12);
    let out = app.ok(&[]);
    let name = app.backups().pop().unwrap();
    let copy = format!("{name}.zst.age");
    assert!(
        out.contains(&format!("copied {copy} to disk 's3'")),
        "{out}"
    );

    // The local backup is a plain SQLite file; the object (12 MiB of random filler, so several
    // parts) is an age file.
    let local = std::fs::read(app.backups_dir().join(&name)).unwrap();
    assert!(local.starts_with(b"SQLite format 3\0"));
    let object = bucket.get(&key(&copy));
    assert!(object.starts_with(b"age-encryption.org/v1\n"));
    assert!(bucket.pending_uploads().is_empty());
    assert!(
        stock_decode(&object, &identity) == local,
        "stock age|zstd gives other bytes"
    );

    let listed = app.ok(&["list", "--disk", "s3"]);
    assert!(listed.contains(&copy), "{listed}");
    let verified = app.ok(&["verify", "--disk", "s3", "--latest"]);
    assert!(
        verified.starts_with(&format!("ok: s3:{copy} (")),
        "{verified}"
    );
    assert!(verified.contains("products: 3"), "{verified}");
    // The decrypted download is gone again.
    assert_eq!(app.entries().len(), 2, "{:?}", app.entries());
}

on_each_s3!(a_wrong_or_missing_age_key_at_verify_fails_in_one_line);
fn a_wrong_or_missing_age_key_at_verify_fails_in_one_line(s3: S3) {
    let bucket = Bucket::of(s3);
    let keys = tempfile::tempdir().unwrap();
    let (_, public) = keygen(keys.path());
    let app = app_on_s3(&bucket, &format!("DB_BACKUP_AGE_RECIPIENTS={public}\n"));
    app.ok(&[]);

    // No identity file: told what to set.
    let out = app.run(&["verify", "--disk", "s3", "--latest"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("DB_BACKUP_AGE_IDENTITY_FILE"), "{err}");

    // Somebody else's key: cannot decrypt, nothing left behind.
    let other = tempfile::tempdir().unwrap();
    let (wrong, _) = keygen(other.path());
    let env = std::fs::read_to_string(app.dir().join(".env")).unwrap();
    app.write_env(&format!(
        "{env}DB_BACKUP_AGE_IDENTITY_FILE={}\n",
        wrong.display()
    ));
    let out = app.run(&["verify", "--disk", "s3", "--latest"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("cannot decrypt the copy"), "{err}");
    let secret = std::fs::read_to_string(&wrong).unwrap();
    let secret = secret
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .unwrap();
    assert!(
        !err.contains(&secret[16..]),
        "a secret key reached the terminal: {err}"
    );
    assert_eq!(app.entries().len(), 2, "{:?}", app.entries());
}

#[test]
fn a_passphrase_copy_on_a_nas_folder_restores_and_the_passphrase_never_shows() {
    let nas = tempfile::tempdir().unwrap();
    let passphrase = "correct-horse-battery-staple-42";
    let app = app_on_nas(
        nas.path(),
        &format!("DB_BACKUP_COMPRESS=zstd\nDB_BACKUP_AGE_PASSPHRASE={passphrase}\n"),
    );
    let out = app.run(&["--json"]);
    assert_success(&out);
    let name = app.backups().pop().unwrap();
    let copy = format!("{name}.zst.age");
    let copies: Vec<String> = list(nas.path())
        .into_iter()
        .filter(|n| n.starts_with("database_backup_"))
        .collect();
    assert_eq!(copies, [copy.clone(), format!("{copy}.seal")]);
    assert_eq!(mode(&nas.path().join(&copy)) & 0o777, 0o600);
    let original = std::fs::read(app.backups_dir().join(&name)).unwrap();

    // The stock age reads it with the passphrase (it asks on a terminal only, so feed it the
    // scrypt identity the same way our test of the binary would be checked: through verify).
    let verified = app.ok(&["verify", "--disk", "nas", &name]);
    assert!(verified.contains("products: 3"), "{verified}");

    // Change the live database, then restore from the disk: back to the backup's content.
    let conn = rusqlite::Connection::open(app.db_path()).unwrap();
    conn.execute_batch("PRAGMA foreign_keys = OFF; DELETE FROM products;")
        .unwrap();
    drop(conn);
    let restored = app.run(&["restore", "--disk", "nas", &name, "--yes"]);
    assert_success(&restored);
    let conn = rusqlite::Connection::open(app.db_path()).unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM products", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 3);
    assert_eq!(
        std::fs::read(app.backups_dir().join(&name)).unwrap(),
        original
    );

    for o in [&out, &restored] {
        let all = format!("{}{}", String::from_utf8_lossy(&o.stdout), stderr(o));
        assert!(
            !all.contains(passphrase),
            "the passphrase reached the output: {all}"
        );
    }
}

#[test]
fn bad_transform_settings_are_one_line_before_any_copy() {
    let bucket = Bucket::new();
    let app = app_on_s3(&bucket, "DB_BACKUP_COMPRESS=gzip9\n");
    let out = app.run(&[]);
    let err = stderr(&out);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("DB_BACKUP_COMPRESS"), "{err}");
    assert!(bucket.list("").is_empty(), "no copy with unknown settings");

    let app = app_on_s3(&bucket, "DB_BACKUP_AGE_RECIPIENTS=AGE-SECRET-KEY-1QQQQ\n");
    let out = app.run(&[]);
    let err = stderr(&out);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("DB_BACKUP_AGE_RECIPIENTS") && !err.contains("QQQQ"),
        "{err}"
    );
    assert!(bucket.list("").is_empty());
}
