//! A real Laravel 8 app (tests/laravel-app on Debian's php-laravel-framework) in a temp folder,
//! migrated, with `php artisan` one call away.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::BIN;

const INSTALL: &str =
    "apt-get install php-cli php-sqlite3 php-mysql php-laravel-framework (scripts/test does it)";

/// Fails the test, with how to fix it, when PHP or Laravel is missing: never a silent skip.
pub fn require_php() {
    let php = Command::new("php").arg("--version").output();
    assert!(
        php.map(|o| o.status.success()).unwrap_or(false),
        "php is not installed: {INSTALL}"
    );
    assert!(
        Path::new("/usr/share/php/Illuminate/autoload.php").is_file(),
        "Laravel (Debian's php-laravel-framework) is not installed: {INSTALL}"
    );
}

/// A migrated copy of tests/laravel-app in `<tmp>/api`.
pub struct LaravelApp {
    pub root: tempfile::TempDir,
}

impl LaravelApp {
    /// A fresh app on SQLite, migrated and seeded; no db:backup command installed yet.
    pub fn sqlite() -> LaravelApp {
        require_php();
        let root = tempfile::tempdir().unwrap();
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/laravel-app");
        let dir = root.path().join("api");
        let cp = Command::new("cp")
            .arg("-r")
            .arg(&src)
            .arg(&dir)
            .status()
            .unwrap();
        assert!(cp.success(), "copy of {}", src.display());
        std::fs::copy(dir.join(".env.example"), dir.join(".env")).unwrap();
        std::fs::write(dir.join("database/database.sqlite"), "").unwrap();
        let app = LaravelApp { root };
        app.artisan_ok(&["migrate", "--seed", "--force"]);
        app
    }

    pub fn dir(&self) -> PathBuf {
        self.root.path().join("api")
    }

    pub fn backups_dir(&self) -> PathBuf {
        self.dir().join("storage/app/backups")
    }

    /// Final-name backups, sorted.
    pub fn backups(&self) -> Vec<String> {
        super::list(&self.backups_dir())
            .into_iter()
            .filter(|n| super::is_backup_name(n))
            .collect()
    }

    /// `php artisan ARGS` in the app, with a clean environment and DB_BACKUP_BINARY set to the
    /// binary under test.
    pub fn artisan_cmd(&self, args: &[&str]) -> Command {
        self.artisan_cmd_with_ini(&[], args)
    }

    /// `artisan_cmd` with PHP ini settings (`php -d KEY=VALUE artisan ARGS`).
    pub fn artisan_cmd_with_ini(&self, ini: &[(&str, &str)], args: &[&str]) -> Command {
        let mut cmd = Command::new("php");
        for (key, value) in ini {
            cmd.arg("-d").arg(format!("{key}={value}"));
        }
        cmd.arg("artisan")
            .args(args)
            .current_dir(self.dir())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("DB_BACKUP_BINARY", BIN);
        cmd
    }

    pub fn artisan(&self, args: &[&str]) -> Output {
        self.artisan_cmd(args).output().expect("run php artisan")
    }

    /// Runs and asserts success; returns stdout.
    pub fn artisan_ok(&self, args: &[&str]) -> String {
        let out = self.artisan(args);
        assert!(
            out.status.success(),
            "php artisan {args:?} failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// `db-backup ARGS --app-dir <app>` run directly (not through Artisan); asserts success.
    pub fn db_backup_ok(&self, args: &[&str]) -> Output {
        let out = Command::new(BIN)
            .args(args)
            .arg("--app-dir")
            .arg(self.dir())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// The bridge as a drop-in, written by `db-backup install-artisan`.
    pub fn install_bridge(&self) {
        self.db_backup_ok(&["install-artisan"]);
    }

    /// What `composer require` with a path repository leaves: the package under vendor/, its PSR-4
    /// prefix in the autoloader, and vendor/composer/installed.json for auto-discovery.
    pub fn install_package(&self) {
        let pkg = self.dir().join("vendor/db-backup/laravel-bridge");
        std::fs::create_dir_all(pkg.parent().unwrap()).unwrap();
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("php-bridge");
        assert!(Command::new("cp")
            .arg("-r")
            .arg(&src)
            .arg(&pkg)
            .status()
            .unwrap()
            .success());
        let manifest: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(pkg.join("composer.json")).unwrap())
                .unwrap();
        // Added to what installed.json already lists (the app's own phpdotenv release).
        let installed_json = self.dir().join("vendor/composer/installed.json");
        let mut installed: serde_json::Value = std::fs::read_to_string(&installed_json)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_else(|| serde_json::json!({ "packages": [] }));
        installed["packages"].as_array_mut().unwrap().push(manifest);
        std::fs::create_dir_all(installed_json.parent().unwrap()).unwrap();
        std::fs::write(&installed_json, installed.to_string()).unwrap();
        let composer = self.dir().join("composer.json");
        let mut c: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&composer).unwrap()).unwrap();
        c["autoload"]["psr-4"]["DbBackup\\Laravel\\"] =
            "vendor/db-backup/laravel-bridge/src/".into();
        std::fs::write(&composer, c.to_string()).unwrap();
        self.artisan_ok(&["package:discover"]);
    }

    /// The command we replace, as the app had it.
    pub fn install_original(&self) {
        std::fs::copy(
            self.dir().join("original/BackupDatabase.php"),
            self.dir().join("app/Console/Commands/BackupDatabase.php"),
        )
        .unwrap();
    }

    /// Rewrites `.env` through a function of its text.
    pub fn edit_env(&self, f: impl FnOnce(String) -> String) {
        let path = self.dir().join(".env");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, f(text)).unwrap();
    }
}

/// Lines of output with every backup timestamp replaced by `<ts>`, for comparing runs.
pub fn normalized_lines(out: &str) -> Vec<String> {
    let re = regex::Regex::new(r"\d{4}-\d{2}-\d{2}_\d{6}").unwrap();
    out.lines()
        .map(|l| re.replace_all(l, "<ts>").into_owned())
        .collect()
}
