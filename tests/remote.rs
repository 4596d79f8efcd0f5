//! Off-machine copies with real parts: every backup also lands on the app's disks — a real
//! Garage S3 server and a second folder — checked with stock clients (rclone, curl, openssl),
//! listed, verified and restored from there by the real binary.

mod common;

use common::disks::*;
use common::garage::{sha256_base64, sha256_hex, Bucket, S3, VHOST_DOMAIN};
use common::*;

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

on_each_s3!(a_backup_is_copied_to_s3_byte_for_byte_with_a_checksum_the_server_checked);
fn a_backup_is_copied_to_s3_byte_for_byte_with_a_checksum_the_server_checked(s3: S3) {
    let bucket = Bucket::of(s3);
    let app = app_on_s3(&bucket, "");
    let out = app.ok(&["--json"]);
    let name = app.backups().pop().unwrap();
    let json: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let copy = &json["copies"][0]["copied"][0];
    assert_eq!(copy["name"], name.as_str(), "{json}");
    assert_eq!(
        copy["checked"], "size, SHA-256 and seal read back",
        "{json}"
    );
    let local = std::fs::read(app.backups_dir().join(&name)).unwrap();
    assert_eq!(bucket.list(""), [(key(&name), local.len() as u64)]);
    assert!(bucket.get(&key(&name)) == local, "bytes differ");
    // Garage keeps the SHA-256 it checked; moto keeps none for a single PUT: the copy is
    // trusted on its own metadata either way, and the JSON says what the server had.
    let head = bucket.head_checksums(&key(&name));
    match s3 {
        S3::Garage => {
            assert!(
                head.contains(&("x-amz-checksum-sha256".into(), sha256_base64(&local))),
                "{head:?}"
            );
            assert_eq!(
                copy["server_checksum"], "sha256 of the whole object agrees",
                "{json}"
            );
        }
        S3::Moto => {
            assert_eq!(head, [("content-length".into(), local.len().to_string())]);
            assert_eq!(copy["server_checksum"], "none kept by the server", "{json}");
        }
    }
    // Our own SHA-256 and seal ride in the object's metadata, read with a stock client.
    let meta = bucket.head_meta(&key(&name));
    assert!(
        meta.contains(&("x-amz-meta-db-backup-sha256".into(), sha256_hex(&local))),
        "{meta:?}"
    );
    assert!(
        meta.iter()
            .any(|(k, v)| k == "x-amz-meta-db-backup-seal" && v.len() == 64),
        "{meta:?}"
    );
    // Listed, and verified from the disk.
    let listed = app.ok(&["list", "--disk", "s3"]);
    assert!(listed.starts_with(&name), "{listed}");
    assert!(!listed.contains("FOREIGN"), "{listed}");
    let verified = app.ok(&["verify", "--disk", "s3", "--latest"]);
    assert!(
        verified.starts_with(&format!("ok: s3:{name} (")),
        "{verified}"
    );
    assert!(verified.contains("products: 3"), "{verified}");
    // The temporary download is gone.
    assert_eq!(app.entries().len(), 2, "{:?}", app.entries());
}

on_each_s3!(a_large_backup_goes_up_in_checked_parts_and_comes_back_whole);
fn a_large_backup_goes_up_in_checked_parts_and_comes_back_whole(s3: S3) {
    let bucket = Bucket::of(s3);
    let app = app_on_s3(&bucket, "");
    grow(&app.db_path(), 20);
    let out = app.ok(&["--json"]);
    let json: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let name = app.backups().pop().unwrap();
    let local = std::fs::read(app.backups_dir().join(&name)).unwrap();
    assert!(local.len() > 16 << 20, "{}", local.len());
    let head = bucket.head_checksums(&key(&name));
    let sum = head
        .iter()
        .find(|(k, _)| k == "x-amz-checksum-sha256")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    // The composite form differs between services: Garage (as AWS) appends the part count,
    // moto does not. Both are accepted, and said so.
    match s3 {
        S3::Garage => assert!(
            sum.ends_with("-3"),
            "three parts of 8 MiB expected: {head:?}"
        ),
        S3::Moto => assert!(!sum.is_empty() && !sum.contains('-'), "{head:?}"),
    }
    assert_eq!(
        json["copies"][0]["copied"][0]["server_checksum"], "composite sha256 agrees",
        "{json}"
    );
    assert!(bucket.pending_uploads().is_empty());
    assert!(bucket.get(&key(&name)) == local, "bytes differ");
    let verified = app.ok(&["verify", "--disk", "s3", &name]);
    assert!(verified.contains("filler: "), "{verified}");
}

on_each_s3!(each_disk_keeps_its_own_count_and_never_deletes_foreign_objects);
fn each_disk_keeps_its_own_count_and_never_deletes_foreign_objects(s3: S3) {
    let bucket = Bucket::of(s3);
    let app = app_on_s3(&bucket, "");
    bucket.put("db/notes.txt", b"mine");
    bucket.put("db/database_backup_2020-01-01_000000.sqlite.bak", b"mine");
    bucket.put(
        "elsewhere/database_backup_2020-01-01_000000.sqlite",
        b"mine",
    );
    for _ in 0..3 {
        app.ok(&["--keep", "5", "--keep-remote", "2"]);
    }
    let local = app.backups();
    assert_eq!(local.len(), 3);
    let remote: Vec<String> = bucket
        .list("db/database_backup_")
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        remote,
        [
            "db/database_backup_2020-01-01_000000.sqlite.bak".into(),
            key(&local[1]),
            key(&local[2])
        ]
    );
    assert_eq!(bucket.list("").len(), 5, "foreign objects stay");
    // Without --keep-remote, the disk follows the local rule.
    let out = app.ok(&["--keep", "1"]);
    assert_eq!(app.backups().len(), 1);
    assert!(out.contains("deleted database_backup_"), "{out}");
    assert_eq!(
        bucket.list("db/database_backup_").len(),
        2,
        "{:?}",
        bucket.list("")
    );
}

on_each_s3!(a_run_first_copies_local_backups_the_disk_lacks);
fn a_run_first_copies_local_backups_the_disk_lacks(s3: S3) {
    let bucket = Bucket::of(s3);
    let app = App::sqlite();
    app.ok(&[]);
    app.ok(&[]);
    let before = app.backups();
    // Now the disk is configured: the next run copies the two older backups too.
    write_filesystems(&app.dir());
    app.write_env(&format!(
        "DB_CONNECTION=sqlite\nAPP_KEY={APP_KEY}\nDB_BACKUP_DISKS=s3\n{}",
        bucket.env_text()
    ));
    let out = app.ok(&[]);
    assert_eq!(out.matches("it was missing there").count(), 2, "{out}");
    let all = app.backups();
    let remote: Vec<String> = bucket.list("").into_iter().map(|(k, _)| k).collect();
    assert_eq!(remote, all.iter().map(|n| key(n)).collect::<Vec<_>>());
    assert!(all.starts_with(&before));
}

on_each_s3!(json_and_artisan_lines_tell_the_copies);
fn json_and_artisan_lines_tell_the_copies(s3: S3) {
    let bucket = Bucket::of(s3);
    let app = app_on_s3(&bucket, "");
    let out = app.ok(&["--json"]);
    let json: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let copy = &json["copies"][0];
    assert_eq!(copy["disk"], "s3");
    assert_eq!(
        copy["copied"][0]["name"],
        json["created"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
    );
    assert!(copy["error"].is_null());
    let out = app.ok(&["--artisan"]);
    let lines = laravel::normalized_lines(&out);
    assert_eq!(
        lines,
        [
            "Backup SQLite créé: database_backup_<ts>.sqlite",
            "Backup copié sur le disque s3: database_backup_<ts>.sqlite",
            "Backup créé avec succès !"
        ]
    );
}

on_each_s3!(restore_from_s3_downloads_verifies_then_restores_with_a_safety_backup);
fn restore_from_s3_downloads_verifies_then_restores_with_a_safety_backup(s3: S3) {
    let bucket = Bucket::of(s3);
    let app = app_on_s3(&bucket, "");
    app.ok(&[]);
    let name = app.backups().pop().unwrap();
    let c = rusqlite::Connection::open(app.db_path()).unwrap();
    c.execute("UPDATE products SET stock = 0", []).unwrap();
    drop(c);
    // The local file is gone too: the copy is all that is left.
    std::fs::remove_file(app.backups_dir().join(&name)).unwrap();
    let out = app.ok(&["restore", "--disk", "s3", &name, "--yes"]);
    assert!(out.contains(&format!("restored s3:{name}")), "{out}");
    let c = rusqlite::Connection::open(app.db_path()).unwrap();
    let n: i64 = c
        .query_row("SELECT sum(stock) FROM products", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1060);
    assert_eq!(app.backups().len(), 1, "the safety backup");
}

#[test]
fn a_nas_folder_gets_the_same_atomic_private_copies() {
    let nas = tempfile::tempdir().unwrap();
    let root = nas.path().join("backups");
    let app = app_on_nas(&root, "");
    let out = app.ok(&[]);
    let name = app.backups().pop().unwrap();
    assert!(
        out.contains(&format!("copied {name} to disk 'nas' ({}", root.display())),
        "{out}"
    );
    let copy = root.join(&name);
    assert_eq!(
        std::fs::read(&copy).unwrap(),
        std::fs::read(app.backups_dir().join(&name)).unwrap()
    );
    assert_eq!(mode(&copy), 0o600);
    assert_eq!(mode(&root), 0o700);
    assert_eq!(
        list(&root),
        [
            ".db-backup.lock".to_string(),
            name.clone(),
            format!("{name}.seal")
        ],
        "no temporary file left"
    );
    assert_eq!(mode(&root.join(format!("{name}.seal"))), 0o600);
    let verified = app.ok(&["verify", "--disk", "nas", &name]);
    assert!(
        verified.starts_with(&format!("ok: nas:{name}")),
        "{verified}"
    );
    // status checks the disk too.
    let status = app.ok(&["status"]);
    assert!(
        status.contains(&format!("[nas] ok: 1 backup in {}", root.display())),
        "{status}"
    );
}

on_each_s3!(status_reports_each_disk);
fn status_reports_each_disk(s3: S3) {
    let bucket = Bucket::of(s3);
    let app = app_on_s3(&bucket, "");
    app.ok(&[]);
    let status = app.ok(&["status"]);
    assert!(
        status.contains(&format!("[s3] ok: 1 backup in s3://{}/db", bucket.name)),
        "{status}"
    );
    let json: serde_json::Value = serde_json::from_str(&app.ok(&["status", "--json"])).unwrap();
    assert_eq!(json["places"][1]["name"], "s3");
    assert_eq!(json["places"][1]["count"], 1);
}

/// This machine sets AWS_CA_BUNDLE; it must not get in the way of a plain-http endpoint, and
/// for https a bundle that cannot be read is one clear line.
#[test]
fn aws_ca_bundle_is_harmless_for_http() {
    let bucket = Bucket::new();
    let app = app_on_s3(&bucket, "");
    let out = app
        .cmd(&[])
        .env("AWS_CA_BUNDLE", "/nonexistent/ca.pem")
        .output()
        .unwrap();
    assert_success(&out);
    assert_eq!(bucket.list("").len(), 1);
    let out = app
        .cmd(&["list", "--disk", "s3"])
        .env("AWS_CA_BUNDLE", "/nonexistent/ca.pem")
        .env("AWS_ENDPOINT", "https://127.0.0.1:1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("AWS_CA_BUNDLE=/nonexistent/ca.pem cannot be read"),
        "{err}"
    );
    let _ = stdout(&out);
}

on_each_s3!(a_dry_run_says_what_each_disk_would_get_and_changes_nothing);
fn a_dry_run_says_what_each_disk_would_get_and_changes_nothing(s3: S3) {
    let bucket = Bucket::of(s3);
    let app = app_on_s3(&bucket, "");
    app.ok(&[]);
    app.ok(&[]);
    let before = bucket.list("");
    let oldest = app.backups()[0].clone();
    // A new second: the dry run's name is not the last backup's.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let out = app.ok(&["--dry-run", "--keep", "2"]);
    assert!(out.contains("would copy database_backup_"), "{out}");
    assert!(
        out.contains(&format!("would delete {oldest} from disk 's3'")),
        "{out}"
    );
    assert_eq!(bucket.list(""), before, "a dry run changed the disk");
    assert_eq!(app.backups().len(), 2);
}

/// The bucket the addressing test uses on each server: its host name must resolve.
const VHOST_BUCKET: &str = "dbb-vhost";

on_each_s3!(virtual_hosted_addressing_copies_lists_and_verifies);
fn virtual_hosted_addressing_copies_lists_and_verifies(s3: S3) {
    let host = format!("{VHOST_BUCKET}.{VHOST_DOMAIN}");
    let resolved = std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), 80))
        .map(|mut a| a.any(|a| a.ip().is_loopback()))
        .unwrap_or(false);
    assert!(
        resolved,
        "{host} does not resolve to loopback: scripts/test adds `127.0.0.1 {host}` to /etc/hosts; add it by hand to run this test alone"
    );
    let bucket = Bucket::named(s3, VHOST_BUCKET);
    let root = format!("run-{:08x}", rand::random::<u32>());
    // Laravel's stock block with use_path_style_endpoint false: the bucket in the host name.
    let endpoint = bucket.endpoint().replace("127.0.0.1", VHOST_DOMAIN);
    let app = app_on_s3(
        &bucket,
        &format!("AWS_ENDPOINT={endpoint}\nAWS_USE_PATH_STYLE_ENDPOINT=false\nAWS_ROOT={root}\n"),
    );
    let out = app.ok(&[]);
    let name = app.backups().pop().unwrap();
    assert!(
        out.contains(&format!(
            "copied {name} to disk 's3' (s3://{VHOST_BUCKET}/{root}"
        )),
        "{out}"
    );
    // Seen path-style by a stock client: the same object.
    let local = std::fs::read(app.backups_dir().join(&name)).unwrap();
    assert_eq!(
        bucket.list(&format!("{root}/")),
        [(format!("{root}/{name}"), local.len() as u64)]
    );
    let listed = app.ok(&["list", "--disk", "s3"]);
    assert!(listed.starts_with(&name), "{listed}");
    let verified = app.ok(&["verify", "--disk", "s3", "--latest"]);
    assert!(verified.contains("products: 3"), "{verified}");
}
