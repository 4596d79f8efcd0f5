//! The second S3 implementation of the remote-disk suite: moto's server, an AWS emulator written
//! in Python (nothing shared with Garage), from PyPI.
//!
//! **Which binary.** `DB_BACKUP_TEST_MOTO=/path/to/moto_server`, else
//! `$DB_BACKUP_TOOLS/moto/bin/moto_server` (default `~/.cache/db-backup/tools`), which
//! `scripts/test` installs once into a virtualenv there. A missing one fails the test with how
//! to get it.
//!
//! **The shared server.** As Garage's: the first test starts it in `<target>/test-moto/shared/`
//! on a free loopback port (a file lock makes the test processes start it once), and it keeps
//! running for the others; `scripts/test` stops it at the end. It keeps everything in memory.
//! Every test makes its own bucket. moto accepts any key, so tests of refused credentials run
//! on Garage only.
#![allow(dead_code)]

use std::fs::{self, File};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::garage::{free_port, Bucket, Server, S3};

pub const MISSING: &str = "moto_server not found: run scripts/test (it installs it once with \
     `python3 -m venv ~/.cache/db-backup/tools/moto && ~/.cache/db-backup/tools/moto/bin/pip \
     install 'moto[server]==5.2.1'`), or set DB_BACKUP_TEST_MOTO=/path/to/moto_server";
const REGION: &str = "us-east-1";
const READY_MARK: &str = "moto-1";

/// The shared server's endpoint and folder.
fn server() -> &'static Server {
    static S: OnceLock<Server> = OnceLock::new();
    S.get_or_init(shared)
}

/// A fresh bucket on the shared moto server, with a key of its own (moto checks none).
pub fn bucket() -> Bucket {
    bucket_named(&format!("t-{:012x}", rand::random::<u64>() >> 16))
}

/// The bucket `name` on the shared moto server, made unless it exists.
pub fn bucket_named(name: &str) -> Bucket {
    let server = server().clone();
    let id = format!("{:012x}", rand::random::<u64>() >> 16);
    let bucket = Bucket {
        server,
        name: name.to_string(),
        key_id: format!("AKIA{}", id.to_uppercase()),
        secret: format!("moto-secret-{id}"),
    };
    // 200, or 409 BucketAlreadyOwnedByYou for a bucket an earlier test made.
    let out = bucket.curl("", &["-X", "PUT", "-o", "/dev/null", "-w", "%{http_code}"]);
    let code = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        code == "200" || code == "409",
        "create bucket {} on moto: {code} {}",
        bucket.name,
        String::from_utf8_lossy(&out.stderr)
    );
    bucket
}

/// The moto_server program (see the module comment).
pub fn bin() -> PathBuf {
    let path = match std::env::var_os("DB_BACKUP_TEST_MOTO") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => super::garage::tools_dir().join("moto/bin/moto_server"),
    };
    let ok = path
        .metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false);
    assert!(ok, "{MISSING} ({} is missing)", path.display());
    path
}

fn dir() -> PathBuf {
    super::garage::harness_dir()
        .parent()
        .unwrap()
        .join("test-moto/shared")
}

// The server outlives this test process on purpose: it is never waited for here.
#[allow(clippy::zombie_processes)]
fn shared() -> Server {
    let bin = bin();
    let dir = dir();
    fs::create_dir_all(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
    let lock = File::create(dir.join("lock")).unwrap();
    lock.lock().expect("lock the moto server's folder");
    if let Some(s) = running(&dir) {
        return s;
    }
    let _ = fs::remove_file(dir.join("ready"));
    for attempt in 0..4 {
        let port = free_port();
        let log = File::create(dir.join("moto.log")).unwrap();
        let mut cmd = Command::new(&bin);
        cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        // Its own session: it outlives this test process, for the others.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("start moto_server: {e}"));
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(60) {
            if answers(port) {
                fs::write(dir.join("pid"), format!("{}\n", child.id())).unwrap();
                fs::write(dir.join("port"), format!("{port}\n")).unwrap();
                fs::write(dir.join("ready"), READY_MARK).unwrap();
                return server_at(&dir, port);
            }
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
        let log = fs::read_to_string(dir.join("moto.log")).unwrap_or_default();
        assert!(
            attempt < 3 && log.contains("in use"),
            "moto_server did not start; log:\n{log}"
        );
    }
    unreachable!()
}

fn server_at(dir: &Path, port: u16) -> Server {
    Server {
        kind: S3::Moto,
        endpoint: format!("http://127.0.0.1:{port}"),
        dir: dir.to_path_buf(),
        region: REGION,
    }
}

fn running(dir: &Path) -> Option<Server> {
    if fs::read_to_string(dir.join("ready")).ok()?.trim() != READY_MARK {
        return None;
    }
    let pid: u32 = fs::read_to_string(dir.join("pid"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let port: u16 = fs::read_to_string(dir.join("port"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let ours = String::from_utf8_lossy(&cmdline).contains("moto_server");
    (ours && answers(port)).then(|| server_at(dir, port))
}

fn answers(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok()
}
