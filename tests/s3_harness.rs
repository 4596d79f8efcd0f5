//! The Garage harness itself, with the reference client `rclone` and nothing of ours: the server
//! starts (or is reused), an object goes in and comes back byte for byte, and the server refuses
//! what it must refuse. If these fail, the S3 failures elsewhere are the harness's.

mod common;

use common::garage::*;

/// Bytes that a lost, added or reordered byte would change (not all one value).
fn sample(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

#[test]
fn harness_round_trips_an_object() {
    let bucket = Bucket::new();
    let data = sample(300_000);
    bucket.put("backups/a.sqlite", &data);
    bucket.put("other/b.sql", b"select 1;\n");
    assert_eq!(
        bucket.list("backups/"),
        [("backups/a.sqlite".into(), 300_000)]
    );
    assert_eq!(bucket.list("").len(), 2);
    assert!(bucket.get("backups/a.sqlite") == data, "bytes differ");
}

#[test]
fn harness_buckets_are_private_to_their_test() {
    let mine = Bucket::new();
    let other = Bucket::new();
    other.put("secret.sql", b"theirs");
    // My key cannot read another test's bucket.
    let out = mine
        .rclone(&["cat", &other.remote("secret.sql")])
        .output()
        .unwrap();
    assert!(!out.status.success(), "read another bucket: {out:?}");
    assert!(mine.list("").is_empty());
}

#[test]
fn harness_refuses_a_wrong_secret() {
    let bucket = Bucket::new();
    bucket.put("a.sql", b"x");
    let wrong = format!("{}x", &bucket.secret[1..]);
    let out = bucket
        .rclone_as(&bucket.key_id, &wrong, &["lsjson", &bucket.remote("")])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "listed with a wrong secret: {stderr}"
    );
    assert!(stderr.contains("403"), "{stderr}");
    assert!(
        !stderr.contains(&wrong) && !stderr.contains(&bucket.secret),
        "secret in output: {stderr}"
    );
}

#[test]
fn harness_refuses_a_missing_bucket() {
    let bucket = Bucket::new();
    let missing = Bucket {
        name: format!("{}-missing", bucket.name),
        ..bucket.clone()
    };
    let tmp = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tmp.path(), b"x").unwrap();
    let out = missing
        .rclone(&[
            "copyto",
            tmp.path().to_str().unwrap(),
            &missing.remote("a.sql"),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "wrote to a missing bucket: {stderr}");
    assert!(stderr.contains("NoSuchBucket"), "{stderr}");
}

#[test]
fn harness_sees_pending_multipart_uploads() {
    let bucket = Bucket::new();
    assert!(bucket.pending_uploads().is_empty());
    // A multipart upload that rclone starts and we never finish: rclone streams stdin in
    // 5 MiB chunks, and a killed rclone leaves the upload pending on the server.
    let mut child = bucket
        .rclone(&[
            "rcat",
            "--s3-chunk-size=5M",
            "--streaming-upload-cutoff=1k",
            &bucket.remote("big.sql"),
        ])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    use std::io::Write;
    stdin.write_all(&sample(11 << 20)).unwrap();
    let start = std::time::Instant::now();
    while bucket.pending_uploads().is_empty() {
        assert!(start.elapsed().as_secs() < 30, "no upload ever started");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    drop(stdin);
    let pending = bucket.pending_uploads();
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(pending[0].0, "big.sql");
    assert!(
        bucket.list("").is_empty(),
        "an unfinished upload shows as an object"
    );
}

#[test]
fn harness_own_server_survives_kill_and_restart() {
    let mut own = OwnGarage::start();
    let bucket = own.bucket();
    bucket.put("before.sql", b"kept");
    own.kill();
    let out = bucket
        .rclone(&["lsjson", &bucket.remote("")])
        .output()
        .unwrap();
    assert!(!out.status.success(), "a killed server answered");
    own.restart();
    assert_eq!(bucket.get("before.sql"), b"kept");
    bucket.put("after.sql", b"new");
    assert_eq!(bucket.list("").len(), 2);
}

/// What the remote-disk feature relies on: Garage checks `x-amz-checksum-sha256` against the
/// bytes it receives, and reports the stored checksum back on HEAD.
#[test]
fn harness_server_checks_sha256_checksums() {
    let bucket = Bucket::new();
    let data = sample(70_000);
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &data).unwrap();
    let good = sha256_base64(&data);
    let bad = sha256_base64(b"other bytes");
    let put = |sum: &str| {
        let header = format!("x-amz-checksum-sha256: {sum}");
        let path = file.path().to_str().unwrap();
        bucket.curl("c.sql", &["-H", &header, "-T", path, "-w", "%{http_code}"])
    };
    let refused = put(&bad);
    let body = String::from_utf8_lossy(&refused.stdout);
    assert!(
        body.ends_with("400") && body.contains("InvalidDigest"),
        "{body}"
    );
    assert!(
        bucket.list("").is_empty(),
        "a refused upload left an object"
    );
    let stored = put(&good);
    assert_eq!(String::from_utf8_lossy(&stored.stdout), "200");
    assert_eq!(
        bucket.head_checksums("c.sql"),
        [
            ("content-length".to_string(), "70000".to_string()),
            ("x-amz-checksum-sha256".into(), good),
            ("x-amz-checksum-type".into(), "FULL_OBJECT".into()),
        ]
    );
    assert!(bucket.get("c.sql") == data, "bytes differ");
}
