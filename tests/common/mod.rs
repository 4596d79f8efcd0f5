//! Test harness: a throwaway Laravel-shaped app and the real `db-backup` binary, in one line each.
#![allow(dead_code)]

pub mod laravel;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rusqlite::Connection;

pub mod disks;
pub mod garage;
pub mod moto;
pub mod mysql;
pub mod postgres;

/// Makes each `fn name(s3: S3)` two tests, `name::garage` and `name::moto`: the same
/// assertions on two independent S3 implementations (tests/common/garage.rs, moto.rs).
/// Written just above the function: `on_each_s3!(name);`.
#[macro_export]
macro_rules! on_each_s3 {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[test]
            fn garage() {
                super::$name($crate::common::garage::S3::Garage)
            }

            #[test]
            fn moto() {
                super::$name($crate::common::garage::S3::Moto)
            }
        }
    )+};
}

/// Makes each `fn name(server: &'static Server)` (tests/common/mysql/) two tests,
/// `name::mariadb` and `name::mysql`: the same assertions on MariaDB 10.11 and on MySQL 9.7.
/// Written just above the function: `test_on_both!(name);`.
#[macro_export]
macro_rules! test_on_both {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[test]
            fn mariadb() {
                super::$name($crate::common::mysql::mariadb())
            }

            #[test]
            fn mysql() {
                super::$name($crate::common::mysql::mysql())
            }
        }
    )+};
}

/// The Debian sid chroot the newest servers run in (MySQL 9.7, the newest PostgreSQL), made by
/// scripts/sid-chroot if it is missing (once per process; the script locks, so concurrent test
/// processes wait for one build). `missing` says how to get it when it cannot be made.
pub fn sid_root(missing: &str) -> PathBuf {
    static ROOT: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    let made = ROOT.get_or_init(|| {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .parent()
            .expect("CARGO_TARGET_TMPDIR has a parent (the target dir)")
            .join("test-sid/root");
        setup_script("scripts/sid-chroot", &root).map(|()| root)
    });
    match made {
        Ok(root) => root.clone(),
        Err(e) => panic!("{e}; {missing}"),
    }
}

/// Runs one of the repository's set-up scripts (they lock and make their result once) on
/// `target`; its error output when it fails.
pub fn setup_script(script: &str, target: &Path) -> Result<(), String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(script);
    let out = Command::new(&script)
        .arg(target)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("{}: {e}", script.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} failed ({}): {}",
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

/// A host file as a stock client in a chroot sees it: inside the chroot, a copy in its /tmp,
/// removed when this is dropped; outside, the file itself.
pub struct ClientFile {
    /// The path to give the stock client.
    pub path: PathBuf,
    copy: Option<PathBuf>,
}

impl ClientFile {
    pub fn new(root: Option<&Path>, file: &Path) -> ClientFile {
        let Some(root) = root else {
            return ClientFile {
                path: file.to_path_buf(),
                copy: None,
            };
        };
        let name = format!("db-backup-test-{:016x}.sql", rand::random::<u64>());
        let copy = root.join("tmp").join(&name);
        std::fs::copy(file, &copy).unwrap();
        ClientFile {
            path: Path::new("/tmp").join(name),
            copy: Some(copy),
        }
    }
}

impl Drop for ClientFile {
    fn drop(&mut self) {
        if let Some(copy) = &self.copy {
            let _ = std::fs::remove_file(copy);
        }
    }
}

pub const BIN: &str = env!("CARGO_BIN_EXE_db-backup");

/// A temp folder holding a Laravel app in `api/` (artisan, .env, config/, database/).
pub struct App {
    pub root: tempfile::TempDir,
}

impl App {
    /// An app on SQLite with a small stock database (products, receptions, sorties, inventaires).
    pub fn sqlite() -> App {
        let app = App::bare("DB_CONNECTION=sqlite\n");
        stock_schema(&app.db_path());
        app
    }

    /// An app with this `.env` and no database yet.
    pub fn bare(env: &str) -> App {
        let root = tempfile::tempdir().expect("temp dir");
        let app = App { root };
        let dir = app.dir();
        for sub in ["config", "database", "storage/app", "bootstrap/cache"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        std::fs::write(dir.join("artisan"), "#!/usr/bin/env php\n<?php\n").unwrap();
        std::fs::write(
            dir.join("config/app.php"),
            "<?php\nreturn [\n    'timezone' => 'UTC',\n];\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("config/database.php"),
            "<?php\nreturn [\n    'default' => env('DB_CONNECTION', 'mysql'),\n];\n",
        )
        .unwrap();
        app.write_env(env);
        app
    }

    /// The app folder (`<root>/api`).
    pub fn dir(&self) -> PathBuf {
        self.root.path().join("api")
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir().join("database/database.sqlite")
    }

    pub fn backups_dir(&self) -> PathBuf {
        self.dir().join("storage/app/backups")
    }

    pub fn write_env(&self, env: &str) {
        std::fs::write(self.dir().join(".env"), env).unwrap();
    }

    /// `db-backup ARGS` run from the app folder, with a clean environment.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args).current_dir(self.dir()).env_clear();
        cmd.env("PATH", std::env::var_os("PATH").unwrap_or_default());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run db-backup")
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "db-backup {args:?} failed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Final-name backups in the backups folder, sorted.
    pub fn backups(&self) -> Vec<String> {
        list(&self.backups_dir())
            .into_iter()
            .filter(|n| is_backup_name(n))
            .collect()
    }

    /// Every entry in the backups folder, sorted.
    pub fn entries(&self) -> Vec<String> {
        list(&self.backups_dir())
    }

    /// Plants an older backup with known content, to prove a failing run leaves it alone.
    pub fn plant_old_backup(&self) -> (PathBuf, Vec<u8>) {
        std::fs::create_dir_all(self.backups_dir()).unwrap();
        let path = self
            .backups_dir()
            .join("database_backup_2020-01-01_000000.sqlite");
        let content = b"an older backup that must survive".to_vec();
        std::fs::write(&path, &content).unwrap();
        (path, content)
    }
}

/// Asserts a run succeeded, showing its stderr when it did not.
pub fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Asserts the shape every failure must have: non-zero exit, one line on stderr naming `needle`,
/// no new file under a final name, and the planted older backup untouched.
pub fn assert_clean_failure(
    app: &App,
    out: &Output,
    code: i32,
    needle: &str,
    old: &(PathBuf, Vec<u8>),
) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "exit code; stderr: {stderr}");
    assert_eq!(
        stderr.lines().count(),
        1,
        "one error line expected, got: {stderr}"
    );
    assert!(stderr.starts_with("db-backup: error: "), "{stderr}");
    assert!(
        stderr.contains(needle),
        "{stderr:?} should mention {needle:?}"
    );
    assert_eq!(
        app.backups(),
        vec![old.0.file_name().unwrap().to_str().unwrap().to_string()],
        "no new backup may appear, the old one must stay"
    );
    assert_eq!(
        std::fs::read(&old.0).unwrap(),
        old.1,
        "older backup changed"
    );
}

pub fn list(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

pub fn is_backup_name(name: &str) -> bool {
    regex::Regex::new(r"^database_backup_\d{4}-\d{2}-\d{2}_\d{6}\.(sqlite|sql)$")
        .unwrap()
        .is_match(name)
}

/// The stock tables of the health-centre app, with a few rows.
pub fn stock_schema(db: &Path) {
    let c = Connection::open(db).unwrap();
    c.execute_batch(
        "CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT NOT NULL, unit TEXT, stock INTEGER NOT NULL DEFAULT 0);
         CREATE TABLE receptions (id INTEGER PRIMARY KEY, product_id INTEGER NOT NULL REFERENCES products(id), quantity INTEGER NOT NULL, received_at TEXT);
         CREATE TABLE sorties (id INTEGER PRIMARY KEY, product_id INTEGER NOT NULL REFERENCES products(id), quantity INTEGER NOT NULL, left_at TEXT);
         CREATE TABLE inventaires (id INTEGER PRIMARY KEY, product_id INTEGER NOT NULL REFERENCES products(id), counted INTEGER NOT NULL, counted_at TEXT);
         INSERT INTO products (name, unit, stock) VALUES ('Paracétamol 500mg', 'boîte', 120), ('Amoxicilline', 'flacon', 40), ('Gants nitrile', 'paire', 900);
         INSERT INTO receptions (product_id, quantity, received_at) VALUES (1, 100, '2026-11-01'), (2, 50, '2026-11-02');
         INSERT INTO sorties (product_id, quantity, left_at) VALUES (1, 10, '2026-11-03');",
    )
    .unwrap();
}

/// Adds about `mb` MiB of filler rows, so a copy takes long enough to be interrupted.
pub fn grow(db: &Path, mb: usize) {
    let c = Connection::open(db).unwrap();
    c.execute_batch("CREATE TABLE IF NOT EXISTS filler (id INTEGER PRIMARY KEY, notes BLOB)")
        .unwrap();
    let tx = c.unchecked_transaction().unwrap();
    tx.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
         INSERT INTO filler (notes) SELECT randomblob(1000) FROM n",
        [mb * 1024],
    )
    .unwrap();
    tx.commit().unwrap();
}

pub fn quick_check(db: &Path) -> String {
    let c = Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    c.query_row("PRAGMA quick_check", [], |r| r.get(0)).unwrap()
}

pub fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Makes every write of `cmd` past `bytes` fail with EFBIG (RLIMIT_FSIZE), as a full disk would.
pub fn limit_file_size(cmd: &mut Command, bytes: u64) {
    use std::os::unix::process::CommandExt;
    // SAFETY: setrlimit is async-signal-safe, as pre_exec requires.
    unsafe {
        cmd.pre_exec(move || {
            let lim = libc::rlimit {
                rlim_cur: bytes,
                rlim_max: bytes,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// `cmd`, run in a private mount namespace (`unshare --mount --map-root-user`) where `file` is
/// a mount point (bound onto itself): unlinking it fails with EBUSY, as for a file a container
/// runtime or an admin has bind-mounted. A real, undeletable file, for root and non-root alike.
pub fn with_undeletable(cmd: &Command, file: &Path) -> Command {
    in_mount_namespace(cmd, r#"mount --bind "$1" "$1""#, &[file])
}

/// `cmd`, run in a private mount namespace where `/run/mysqld/mysqld.sock` (the first socket
/// `DB_HOST=localhost` means) is `socket`, on a fresh tmpfs over `/run`: the machine's own
/// server, if it has one there, is out of sight.
pub fn with_default_mysql_socket(cmd: &Command, socket: &Path) -> Command {
    in_mount_namespace(
        cmd,
        r#"mount -t tmpfs tmpfs /run && mkdir /run/mysqld && ln -s "$1" /run/mysqld/mysqld.sock"#,
        &[socket],
    )
}

/// `cmd`, run in a private mount namespace where the folder `dir` is a fresh tmpfs of `size`
/// (`1m`, `512k`): a real disk that fills up, for root and non-root alike.
pub fn with_small_tmpfs(cmd: &Command, dir: &Path, size: &str) -> Command {
    in_mount_namespace(
        cmd,
        &format!(r#"mount -t tmpfs -o size={size},mode=0700 tmpfs "$1""#),
        &[dir],
    )
}

/// `cmd` run after `setup` (a shell line given `args` as $1…) in a private mount namespace.
fn in_mount_namespace(cmd: &Command, setup: &str, args: &[&Path]) -> Command {
    let mut wrapped = Command::new("unshare");
    wrapped
        .args(["--mount", "--map-root-user", "sh", "-c"])
        .arg(format!("{setup} && shift {} && exec \"$@\"", args.len()))
        .arg("sh")
        .args(args)
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .env_clear();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            wrapped.env(k, v);
        }
    }
    if let Some(dir) = cmd.get_current_dir() {
        wrapped.current_dir(dir);
    }
    wrapped
}
