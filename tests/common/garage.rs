//! S3 side of the harness: a real Garage server, one fresh bucket (and access key) per test, and
//! exact checks made with stock clients — `rclone`, and `curl --aws-sigv4` for what rclone cannot
//! ask (server-side checksums) — never with the code under test.
//!
//! **Which binary.** `DB_BACKUP_TEST_GARAGE=/path/to/garage`, else `$DB_BACKUP_TOOLS/bin/garage`
//! (default `~/.cache/db-backup/tools`), which `scripts/test` builds once (`cargo install garage
//! --version 2.5.0 --locked --root ~/.cache/db-backup/tools`) and keeps outside the checkout, so
//! fresh clones on the same machine reuse it. A missing binary fails the test with those
//! instructions.
//!
//! **The shared server.** The first test that calls `server()` starts a single-node Garage in
//! `<target>/test-garage/shared/` (`garage.toml`, metadata and data folders, `garage.log`),
//! listening on free 127.0.0.1 ports. nextest runs every test in its own process, so a file lock
//! (`shared/lock`) makes the processes start it once; the next ones find it through its
//! `pid`/`ports`/`ready` files and a TCP probe, and it keeps running for later tests and later
//! runs. `scripts/test` stops it at the end; by hand: `kill $(cat target/test-garage/shared/pid)`.
//!
//! **Isolation.** `Bucket::new()` makes a bucket and a key allowed on that bucket only, so a test
//! cannot see (or break) another test's objects.
//!
//! **A server a test may kill.** `OwnGarage::start()` runs a separate Garage for one test (its own
//! folder and ports); `kill()` sends it SIGKILL mid-work and `restart()` brings it back on the
//! same data and ports, keys and buckets intact. It dies with the test.
#![allow(dead_code)]

use std::fs::{self, File};
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The version `scripts/test` installs; its config keys are the ones written below.
pub const GARAGE_VERSION: &str = "2.5.0";
pub const MISSING_BINARY: &str = "Garage binary not found: run scripts/test (it builds it once \
     with `cargo install garage --version 2.5.0 --locked --root ~/.cache/db-backup/tools`, ~10 \
     min), or set DB_BACKUP_TEST_GARAGE=/path/to/garage";
pub const MISSING_RCLONE: &str = "rclone not found: apt-get install rclone";
pub const MISSING_CURL: &str = "curl not found: apt-get install curl";
/// Region name our servers answer to (a client signing for another region is refused).
pub const REGION: &str = "garage";
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// What "ready" says for a server this harness can reuse.
/// Bumped whenever the config below changes, so that a shared server of an older config is
/// replaced rather than reused.
const READY_MARK: &str = "garage-2";
/// The host names virtual-hosted requests use: `BUCKET.localhost` (`scripts/test` maps the
/// bucket of the addressing test to 127.0.0.1 in /etc/hosts).
pub const VHOST_DOMAIN: &str = "localhost";

/// A running Garage: where its files are and which ports it listens on.
#[derive(Clone, Debug)]
pub struct Garage {
    pub dir: PathBuf,
    pub s3_port: u16,
    pub rpc_port: u16,
}

/// The server the tests share (see the module comment).
pub fn server() -> &'static Garage {
    static S: OnceLock<Garage> = OnceLock::new();
    S.get_or_init(shared)
}

impl Garage {
    /// `http://127.0.0.1:PORT`, the S3 endpoint.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.s3_port)
    }

    pub fn config(&self) -> PathBuf {
        self.dir.join("garage.toml")
    }

    /// The `garage` command-line tool, talking to this server over RPC (the RPC secret stays in
    /// the 0600 config file).
    pub fn cli(&self) -> Command {
        let mut c = Command::new(bin());
        c.arg("-c").arg(self.config());
        c.env_remove("GARAGE_RPC_SECRET").env("RUST_LOG", "warn");
        c
    }

    /// Runs `garage ARGS` and returns its stdout; panics with its stderr on failure.
    pub fn cli_ok(&self, args: &[&str]) -> String {
        let out = self.cli().args(args).output().expect("run garage");
        assert!(
            out.status.success(),
            "garage {args:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// A fresh access key: (key id, secret).
    pub fn new_key(&self, name: &str) -> (String, String) {
        let out = self.cli_ok(&["key", "create", name]);
        let field = |label: &str| {
            out.lines()
                .find_map(|l| l.strip_prefix(label))
                .map(|v| v.trim().to_string())
                .unwrap_or_else(|| panic!("no {label:?} in `garage key create` output"))
        };
        (field("Key ID:"), field("Secret key:"))
    }

    /// Creates `name` and gives `key_id` read, write and owner rights on it, and nothing else.
    pub fn new_bucket(&self, name: &str, key_id: &str) {
        self.cli_ok(&["bucket", "create", name]);
        self.cli_ok(&[
            "bucket", "allow", "--read", "--write", "--owner", name, "--key", key_id,
        ]);
    }

    /// True when the S3 port accepts connections.
    pub fn answers(&self) -> bool {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.s3_port));
        TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok()
    }
}

/// The S3 implementations the remote-disk suite runs on, with the same assertions: Garage,
/// and moto's server (an AWS emulator from PyPI, `tests/common/moto.rs`). They differ where S3
/// services differ: checksums (moto answers a multipart object's composite SHA-256 without
/// `-N`), error codes, authentication (moto accepts any key).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum S3 {
    Garage,
    Moto,
}

/// The S3 server a bucket lives on: how to reach it.
#[derive(Clone, Debug)]
pub struct Server {
    pub kind: S3,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// Its folder (configs, logs).
    pub dir: PathBuf,
    /// The region it answers to.
    pub region: &'static str,
}

/// One bucket and one key allowed on it only, on the shared server (or on an `OwnGarage`).
#[derive(Clone, Debug)]
pub struct Bucket {
    pub server: Server,
    pub name: String,
    pub key_id: String,
    pub secret: String,
}

fn fresh_id() -> String {
    format!("{:012x}", rand::random::<u64>() >> 16)
}

impl Bucket {
    /// A fresh bucket on the shared Garage.
    pub fn new() -> Bucket {
        Bucket::on(server())
    }

    /// A fresh bucket on the shared server of that implementation.
    pub fn of(kind: S3) -> Bucket {
        match kind {
            S3::Garage => Bucket::new(),
            S3::Moto => super::moto::bucket(),
        }
    }

    pub fn on(garage: &Garage) -> Bucket {
        Bucket::named_on(garage, &format!("t-{}", fresh_id()))
    }

    /// The bucket `name` (made unless it exists: a fixed name outlives the test), with a key
    /// of this test's own allowed on it.
    pub fn named(kind: S3, name: &str) -> Bucket {
        match kind {
            S3::Garage => Bucket::named_on(server(), name),
            S3::Moto => super::moto::bucket_named(name),
        }
    }

    fn named_on(garage: &Garage, name: &str) -> Bucket {
        let id = fresh_id();
        let (key_id, secret) = garage.new_key(&format!("k-{id}"));
        let exists = garage
            .cli()
            .args(["bucket", "info", name])
            .stdin(Stdio::null())
            .output()
            .is_ok_and(|o| o.status.success());
        if exists {
            garage.cli_ok(&[
                "bucket", "allow", "--read", "--write", "--owner", name, "--key", &key_id,
            ]);
        } else {
            garage.new_bucket(name, &key_id);
        }
        let name = name.to_string();
        Bucket {
            server: Server {
                kind: S3::Garage,
                endpoint: garage.endpoint(),
                dir: garage.dir.clone(),
                region: REGION,
            },
            name,
            key_id,
            secret,
        }
    }

    pub fn endpoint(&self) -> String {
        self.server.endpoint.clone()
    }

    /// The `.env` lines of Laravel's stock `s3` disk for this bucket.
    pub fn env_text(&self) -> String {
        format!(
            "AWS_ACCESS_KEY_ID={}\nAWS_SECRET_ACCESS_KEY={}\nAWS_DEFAULT_REGION={}\n\
             AWS_BUCKET={}\nAWS_ENDPOINT={}\nAWS_USE_PATH_STYLE_ENDPOINT=true\n",
            self.key_id,
            self.secret,
            self.server.region,
            self.name,
            self.endpoint()
        )
    }

    /// `rclone ARGS` with a remote `s3:` configured for this bucket's key through
    /// `RCLONE_CONFIG_S3_*` variables (no secret on the command line, no config file read).
    pub fn rclone(&self, args: &[&str]) -> Command {
        self.rclone_as(&self.key_id, &self.secret, args)
    }

    /// The same with another key (e.g. a wrong secret).
    pub fn rclone_as(&self, key_id: &str, secret: &str, args: &[&str]) -> Command {
        rclone_bin();
        let mut c = Command::new("rclone");
        c.args(args).arg("--low-level-retries=1").arg("--retries=1");
        // rclone 1.60 refuses to start when AWS_CA_BUNDLE is set and the endpoint is plain http.
        for var in ["AWS_CA_BUNDLE", "RCLONE_CONFIG", "AWS_PROFILE"] {
            c.env_remove(var);
        }
        c.env("RCLONE_CONFIG", self.server.dir.join("rclone-none.conf"))
            .env("RCLONE_CONFIG_S3_TYPE", "s3")
            .env("RCLONE_CONFIG_S3_PROVIDER", "Other")
            .env("RCLONE_CONFIG_S3_ENV_AUTH", "false")
            .env("RCLONE_CONFIG_S3_ACCESS_KEY_ID", key_id)
            .env("RCLONE_CONFIG_S3_SECRET_ACCESS_KEY", secret)
            .env("RCLONE_CONFIG_S3_ENDPOINT", self.endpoint())
            .env("RCLONE_CONFIG_S3_REGION", self.server.region)
            .env("RCLONE_CONFIG_S3_FORCE_PATH_STYLE", "true")
            // Never create buckets on the way: a missing bucket must be an error.
            .env("RCLONE_CONFIG_S3_NO_CHECK_BUCKET", "true");
        c
    }

    /// `s3:BUCKET/KEY`, the rclone name of an object.
    pub fn remote(&self, key: &str) -> String {
        format!("s3:{}/{}", self.name, key)
    }

    /// Runs rclone and returns its stdout; panics with its stderr on failure.
    pub fn rclone_ok(&self, args: &[&str]) -> Vec<u8> {
        let out = self.rclone(args).output().expect("run rclone");
        assert!(
            out.status.success(),
            "rclone {args:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// Uploads `bytes` as `key` (through a temp file: `rclone copyto`).
    pub fn put(&self, key: &str, bytes: &[u8]) {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        fs::write(tmp.path(), bytes).unwrap();
        self.rclone_ok(&["copyto", tmp.path().to_str().unwrap(), &self.remote(key)]);
    }

    /// The object's bytes.
    pub fn get(&self, key: &str) -> Vec<u8> {
        self.rclone_ok(&["cat", &self.remote(key)])
    }

    /// Objects under `prefix` (`""` for all): (key, size), sorted by key.
    pub fn list(&self, prefix: &str) -> Vec<(String, u64)> {
        let out = self.rclone_ok(&["lsjson", "--recursive", "--files-only", &self.remote("")]);
        let items: Vec<serde_json::Value> = serde_json::from_slice(&out).unwrap();
        let mut v: Vec<(String, u64)> = items
            .iter()
            .map(|i| {
                (
                    i["Path"].as_str().unwrap().to_string(),
                    i["Size"].as_u64().unwrap(),
                )
            })
            .filter(|(k, _)| k.starts_with(prefix))
            .collect();
        v.sort();
        v
    }

    /// A raw S3 request on `key` with `curl --aws-sigv4` (for what rclone cannot ask), plus
    /// `args`; returns curl's output. The key pair goes through curl's stdin config, never its
    /// command line.
    pub fn curl(&self, key: &str, args: &[&str]) -> Output {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "-K", "-", "--aws-sigv4"])
            .arg(format!("aws:amz:{}:s3", self.server.region))
            // Garage wants this header on every request; curl 7.88 does not always send it.
            .args(["-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD"])
            .args(args)
            .arg(format!("{}/{}/{}", self.endpoint(), self.name, key));
        let config = format!("user = \"{}:{}\"\n", self.key_id, self.secret);
        super::mysql::pipe(cmd, config.as_bytes()).expect(MISSING_CURL)
    }

    /// The object's size and server-side checksums as a HEAD with `x-amz-checksum-mode: ENABLED`
    /// reports them: [("content-length", "…"), ("x-amz-checksum-sha256", "…-3"), …].
    pub fn head_checksums(&self, key: &str) -> Vec<(String, String)> {
        self.head_headers(key, &["x-amz-checksum-mode: ENABLED"], |k| {
            k == "content-length" || k.starts_with("x-amz-checksum")
        })
    }

    /// The headers of a HEAD of `key` (with `extra` request headers) that `keep` keeps,
    /// lower-cased names, sorted.
    fn head_headers(
        &self,
        key: &str,
        extra: &[&str],
        keep: impl Fn(&str) -> bool,
    ) -> Vec<(String, String)> {
        let mut args = vec!["-I", "--fail"];
        for h in extra {
            args.extend(["-H", h]);
        }
        let out = self.curl(key, &args);
        assert!(
            out.status.success(),
            "HEAD {key}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut v: Vec<(String, String)> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .filter(|(k, _)| keep(k))
            .collect();
        v.sort();
        v
    }

    /// Uploads `bytes` as `key` with a raw PUT carrying `meta` as `x-amz-meta-*` headers (as
    /// someone who can write to the bucket and copies a genuine object's metadata would).
    pub fn put_with_meta(&self, key: &str, bytes: &[u8], meta: &[(String, String)]) {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        fs::write(tmp.path(), bytes).unwrap();
        // A form content type (curl's default) makes moto read the body as a form.
        let mut args: Vec<String> = vec!["--fail".into(), "-X".into(), "PUT".into()];
        args.push("-H".into());
        args.push("content-type: application/octet-stream".into());
        args.push("--data-binary".into());
        args.push(format!("@{}", tmp.path().display()));
        for (k, v) in meta {
            args.push("-H".into());
            args.push(format!("{k}: {v}"));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = self.curl(key, &args);
        assert!(
            out.status.success(),
            "PUT {key}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The object's user metadata as a HEAD reports it: [("x-amz-meta-…", "…")], sorted.
    pub fn head_meta(&self, key: &str) -> Vec<(String, String)> {
        self.head_headers(key, &[], |k| k.starts_with("x-amz-meta-"))
    }

    /// Multipart uploads started and neither completed nor aborted: (key, upload id).
    pub fn pending_uploads(&self) -> Vec<(String, String)> {
        let out = self.rclone_ok(&["backend", "list-multipart-uploads", &self.remote("")]);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let mut found = Vec::new();
        for uploads in v.as_object().into_iter().flat_map(|m| m.values()) {
            for u in uploads.as_array().into_iter().flatten() {
                found.push((
                    u["Key"].as_str().unwrap_or_default().to_string(),
                    u["UploadId"].as_str().unwrap_or_default().to_string(),
                ));
            }
        }
        found.sort();
        found
    }
}

/// A Garage of one test's own, which the test may kill and restart (see the module comment).
pub struct OwnGarage {
    pub garage: Garage,
    child: Option<Child>,
    _dir: tempfile::TempDir,
}

impl OwnGarage {
    /// Starts a fresh single-node Garage in a temp folder under `<target>/test-garage/own/`.
    pub fn start() -> OwnGarage {
        let parent = harness_dir().join("own");
        fs::create_dir_all(&parent).unwrap();
        let dir = tempfile::Builder::new()
            .prefix("g-")
            .tempdir_in(&parent)
            .unwrap();
        let (garage, child) = set_up(dir.path(), false);
        OwnGarage {
            garage,
            child: Some(child),
            _dir: dir,
        }
    }

    /// SIGKILL, as a crash or a power cut of the server would; waits until it is gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same data and ports (after `kill`); waits until it serves.
    pub fn restart(&mut self) {
        self.kill();
        let child = launch(&self.garage, false);
        self.child = Some(child);
        wait_ready(&self.garage, self.child.as_mut().unwrap())
            .unwrap_or_else(|log| panic!("garage did not restart:\n{log}"));
    }

    /// A fresh bucket and key on this server.
    pub fn bucket(&self) -> Bucket {
        Bucket::on(&self.garage)
    }
}

impl Drop for OwnGarage {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Base64 of the SHA-256 of `bytes`, the form of `x-amz-checksum-sha256`, computed by the
/// `openssl` command (a reference, not our code).
pub fn sha256_base64(bytes: &[u8]) -> String {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "openssl dgst -sha256 -binary | openssl base64 -A"]);
    let out = super::mysql::pipe(cmd, bytes).expect("run openssl");
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Lowercase hex SHA-256 of `bytes`, by the `openssl` command.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "openssl dgst -sha256 -r"]);
    let out = super::mysql::pipe(cmd, bytes).expect("run openssl");
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// Where `scripts/test` installs tools built from crates.io: `$DB_BACKUP_TOOLS`, else
/// `~/.cache/db-backup/tools`.
pub fn tools_dir() -> PathBuf {
    match std::env::var_os("DB_BACKUP_TOOLS") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()))
            .join(".cache/db-backup/tools"),
    }
}

/// The Garage binary (see the module comment).
pub fn bin() -> PathBuf {
    let path = match std::env::var_os("DB_BACKUP_TEST_GARAGE") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => tools_dir().join("bin/garage"),
    };
    let ok = path
        .metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false);
    assert!(ok, "{MISSING_BINARY} ({} is missing)", path.display());
    path
}

fn rclone_bin() {
    let found = Command::new("rclone")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(found, "{MISSING_RCLONE}");
}

fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR has a parent (the target dir)")
        .to_path_buf()
}

/// Where our servers live: `<target>/test-garage/`.
pub fn harness_dir() -> PathBuf {
    target_dir().join("test-garage")
}

/// Finds the shared server, or starts it; the file lock serialises the test processes, so only
/// the first one starts it.
fn shared() -> Garage {
    bin();
    let dir = harness_dir().join("shared");
    fs::create_dir_all(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
    let lock = File::create(dir.join("lock")).unwrap();
    lock.lock().expect("lock the test server's folder");
    if let Some(garage) = running(&dir) {
        return garage;
    }
    stop_stale(&dir);
    let (garage, child) = set_up(&dir, true);
    fs::write(dir.join("pid"), format!("{}\n", child.id())).unwrap();
    fs::write(
        dir.join("ports"),
        format!("{} {}\n", garage.s3_port, garage.rpc_port),
    )
    .unwrap();
    fs::write(dir.join("ready"), READY_MARK).unwrap();
    // The server outlives this test process on purpose (its own session, stdio not ours).
    drop(child);
    drop(lock);
    garage
}

/// Writes a config in `dir` (wiping older data), starts Garage and gives it a one-node layout.
fn set_up(dir: &Path, detach: bool) -> (Garage, Child) {
    let mut tries = 0;
    loop {
        tries += 1;
        for sub in ["meta", "data"] {
            let _ = fs::remove_dir_all(dir.join(sub));
        }
        let garage = Garage {
            dir: dir.to_path_buf(),
            s3_port: free_port(),
            rpc_port: free_port(),
        };
        write_config(&garage);
        let mut child = launch(&garage, detach);
        match wait_ready(&garage, &mut child) {
            Ok(()) => {
                assign_layout(&garage);
                return (garage, child);
            }
            // Another process may have taken a port between our probe and Garage's bind.
            Err(log) if tries < 4 && log.contains("in use") => continue,
            Err(log) => panic!("garage did not start; log:\n{log}"),
        }
    }
}

/// Single node, one replica, no compression (the tests' CPU is scarce), loopback only.
fn write_config(g: &Garage) {
    let secret: String = (0..32)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect();
    let text = format!(
        r#"metadata_dir = "{dir}/meta"
data_dir = "{dir}/data"
db_engine = "lmdb"
replication_factor = 1
compression_level = "none"
rpc_bind_addr = "127.0.0.1:{rpc}"
rpc_public_addr = "127.0.0.1:{rpc}"
rpc_secret = "{secret}"

[s3_api]
s3_region = "{REGION}"
api_bind_addr = "127.0.0.1:{s3}"
root_domain = ".{VHOST_DOMAIN}"
"#,
        dir = g.dir.display(),
        rpc = g.rpc_port,
        s3 = g.s3_port,
    );
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(g.config())
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

fn launch(g: &Garage, detach: bool) -> Child {
    let log = File::create(g.dir.join("garage.log")).unwrap();
    let mut cmd = g.cli();
    cmd.arg("server")
        .env("RUST_LOG", "garage=info")
        .current_dir(&g.dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    if detach {
        // Its own session: nextest's process-group handling of this test must not reach it.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        }
    }
    cmd.spawn().unwrap_or_else(|e| panic!("start garage: {e}"))
}

/// Waits until the S3 port accepts connections and the node answers `garage status`;
/// Err(log) if it exits or takes too long.
fn wait_ready(g: &Garage, child: &mut Child) -> Result<(), String> {
    let start = Instant::now();
    let log = || fs::read_to_string(g.dir.join("garage.log")).unwrap_or_default();
    loop {
        if g.answers() && quiet(g.cli().arg("status")).status.success() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("garage exited ({status})\n{}", log()));
        }
        if start.elapsed() > READY_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("not ready after {READY_TIMEOUT:?}\n{}", log()));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `garage layout assign` + `apply`: until then a node stores nothing.
fn assign_layout(g: &Garage) {
    let id = g.cli_ok(&["node", "id", "-q"]);
    let id = id.trim().split('@').next().unwrap().to_string();
    g.cli_ok(&["layout", "assign", "-z", "dc1", "-c", "1G", &id]);
    g.cli_ok(&["layout", "apply", "--version", "1"]);
}

fn quiet(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().expect("run garage")
}

/// Our shared server of this folder, if it is up and set up.
fn running(dir: &Path) -> Option<Garage> {
    if fs::read_to_string(dir.join("ready")).ok()?.trim() != READY_MARK {
        return None;
    }
    let pid = fs::read_to_string(dir.join("pid"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let ports = fs::read_to_string(dir.join("ports")).ok()?;
    let mut ports = ports.split_whitespace().map(|p| p.parse().ok());
    let garage = Garage {
        dir: dir.to_path_buf(),
        s3_port: ports.next()??,
        rpc_port: ports.next()??,
    };
    (is_our_garage(pid, dir) && garage.answers()).then_some(garage)
}

/// Kills what is left of a previous server of this folder (crashed set-up, stale files).
fn stop_stale(dir: &Path) {
    let _ = fs::remove_file(dir.join("ready"));
    let pid = fs::read_to_string(dir.join("pid"))
        .ok()
        .and_then(|p| p.trim().parse::<u32>().ok());
    if let Some(pid) = pid.filter(|&p| is_our_garage(p, dir)) {
        unsafe {
            libc::kill(pid as i32, libc::SIGKILL);
        }
        let start = Instant::now();
        while is_our_garage(pid, dir) && start.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let _ = fs::remove_file(dir.join("pid"));
    let _ = fs::remove_file(dir.join("ports"));
}

fn is_our_garage(pid: u32, dir: &Path) -> bool {
    let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let cmdline = String::from_utf8_lossy(&cmdline);
    cmdline.contains("garage") && cmdline.contains(&dir.join("garage.toml").display().to_string())
}

/// A 127.0.0.1 port nothing listens on (bound then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
