//! The Laravel app as Laravel itself sees it: where it is, its settings, its time zone.

pub mod config;
pub mod connection;
pub mod disks;
pub mod dotenv;
pub mod handover;
pub mod settings;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// What to back up and where: everything a backup needs from the app, however it was found.
#[derive(Debug)]
pub struct Target {
    /// The app's base folder; paths are shown relative to it.
    pub app_dir: PathBuf,
    pub connection: crate::engine::Connection,
    /// `storage_path('app/backups')`.
    pub backups_dir: PathBuf,
    /// The app's time zone, in which backup names are stamped.
    pub tz: chrono_tz::Tz,
    /// db-backup's own settings (retention rules, health limits, disks).
    pub settings: settings::Settings,
    /// The app's Laravel disks, for copies (`DB_BACKUP_DISKS`, `--disk`).
    pub filesystems: disks::Filesystems,
    /// The keys copies on those disks are sealed with (from `APP_KEY`, `APP_PREVIOUS_KEYS`).
    pub keys: crate::store::remote::Keys,
}

impl Target {
    /// A path as shown to the user: relative to the app when inside it.
    pub fn display_path(&self, path: &Path) -> String {
        path.strip_prefix(&self.app_dir)
            .unwrap_or(path)
            .display()
            .to_string()
    }
}

/// Finds what to back up: the bridge's handover when Artisan started us, else the app's own
/// files read as Laravel reads them.
pub fn target(
    app_dir: Option<&Path>,
    env_file: Option<&Path>,
    cwd: &Path,
    real: HashMap<String, String>,
) -> Result<Target> {
    if let Some(t) = handover::from_env(&real)? {
        return Ok(t);
    }
    let app = App::load(app_dir, env_file, cwd, real)?;
    Ok(Target {
        connection: connection::resolve(&app)?,
        backups_dir: app.backups_dir(),
        tz: app.time_zone()?,
        settings: settings::Settings::from_app(&app.dir, &app.env),
        keys: app.keys(),
        filesystems: disks::Filesystems::from_app(&app.dir, app.env),
        app_dir: app.dir,
    })
}

/// A located Laravel app and the settings it runs with.
#[derive(Debug)]
pub struct App {
    /// The app's base folder (where `artisan` lives).
    pub dir: PathBuf,
    /// The settings: real environment first, then the `.env` file.
    pub env: Env,
}

/// Settings lookup with Laravel's precedence: the real environment wins over the file.
#[derive(Default)]
pub struct Env {
    file: HashMap<String, Option<String>>,
    real: HashMap<String, String>,
}

/// Keys only: the values hold passwords (DB_PASSWORD, DB_URL, APP_KEY, …), and a `{:?}` ends
/// up in logs and panic messages.
impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Env")
            .field("file_keys", &sorted_keys(self.file.keys()))
            .field("real_keys", &sorted_keys(self.real.keys()))
            .finish()
    }
}

fn sorted_keys<'a>(keys: impl Iterator<Item = &'a String>) -> Vec<&'a str> {
    let mut keys: Vec<&str> = keys.map(String::as_str).collect();
    keys.sort_unstable();
    keys
}

impl Env {
    /// Builds a lookup from parsed file entries and a snapshot of the real environment.
    pub fn new(file: Vec<(String, Option<String>)>, real: HashMap<String, String>) -> Env {
        Env {
            file: file.into_iter().collect(),
            real,
        }
    }

    /// The raw string value, as `getenv()` would see it after Laravel loaded `.env`.
    pub fn raw(&self, key: &str) -> Option<&str> {
        if let Some(v) = self.real.get(key) {
            return Some(v);
        }
        self.file.get(key).and_then(|v| v.as_deref())
    }

    /// The value as Laravel's `env()` returns it: `null`/`(null)` become absent and
    /// `empty`/`(empty)` become "", so `env('X', 'default')` semantics carry over.
    pub fn get(&self, key: &str) -> Option<String> {
        match dotenv::env_literal(self.raw(key)?) {
            dotenv::EnvValue::Null => None,
            dotenv::EnvValue::Bool(b) => Some(if b { "1" } else { "" }.to_string()),
            dotenv::EnvValue::Str(s) => Some(s),
        }
    }
}

/// Finds the app folder: `--app-dir`, else the current folder, `./api`, then the nearest parent
/// holding `artisan` or `.env`.
pub fn find_app_dir(app_dir: Option<&Path>, cwd: &Path) -> Result<PathBuf> {
    if let Some(dir) = app_dir {
        let dir = if dir.is_absolute() {
            dir.to_path_buf()
        } else {
            cwd.join(dir)
        };
        if !dir.is_dir() {
            return Err(Error::AppDirMissing(dir));
        }
        return Ok(dir);
    }
    let mut tried = Vec::new();
    let mut candidates = vec![cwd.to_path_buf(), cwd.join("api")];
    candidates.extend(cwd.ancestors().skip(1).map(Path::to_path_buf));
    for dir in candidates {
        if is_app_dir(&dir) {
            return Ok(dir);
        }
        tried.push(dir.display().to_string());
    }
    Err(Error::AppNotFound {
        tried: tried.join(", "),
    })
}

fn is_app_dir(dir: &Path) -> bool {
    dir.join("artisan").is_file() || dir.join(".env").is_file()
}

impl App {
    /// Locates the app and loads its settings the way Laravel boots them.
    pub fn load(
        app_dir: Option<&Path>,
        env_file: Option<&Path>,
        cwd: &Path,
        real: HashMap<String, String>,
    ) -> Result<App> {
        let dir = find_app_dir(app_dir, cwd)?;
        let cached = dir.join("bootstrap/cache/config.php");
        // A cached config means Laravel never reads .env: reading it ourselves could back up a
        // different database than the one the app uses, so refuse rather than guess.
        if cached.is_file() {
            return Err(Error::ConfigCached(cached));
        }
        let path = match env_file {
            Some(f) if f.is_absolute() => f.to_path_buf(),
            Some(f) => cwd.join(f),
            None => default_env_file(&dir, &real),
        };
        let file = match std::fs::read(&path) {
            Ok(bytes) => {
                let text = dotenv::decode(&bytes);
                let release = dotenv::Release::of_app(&dir);
                let lookup = |k: &str| real.get(k).cloned();
                dotenv::parse(&text, &release, &lookup).map_err(|source| Error::EnvSyntax {
                    path: path.clone(),
                    source,
                })?
            }
            // Laravel boots without a .env when the environment carries the settings
            // (containers, CI); without either we would be guessing which database to copy.
            Err(e)
                if e.kind() == std::io::ErrorKind::NotFound
                    && env_file.is_none()
                    && real.contains_key("DB_CONNECTION") =>
            {
                Vec::new()
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::EnvMissing(path))
            }
            Err(source) => return Err(Error::EnvUnreadable { path, source }),
        };
        Ok(App {
            dir,
            env: Env::new(file, real),
        })
    }

    /// The app's time zone as `config('app.timezone')` would give it: what `config/app.php`
    /// says (a hard-coded zone, or `env('APP_TIMEZONE', default)`); without that file (Laravel
    /// 11+), the framework's own `env('APP_TIMEZONE', 'UTC')`.
    pub fn time_zone(&self) -> Result<chrono_tz::Tz> {
        let php = self.dir.join("config/app.php");
        let setting = config::app_timezone(&php).unwrap_or(config::Setting::Env {
            key: "APP_TIMEZONE".into(),
            default: Some("UTC".into()),
        });
        let origin = match &setting {
            config::Setting::Literal(_) => "config/app.php".to_string(),
            config::Setting::Env { key, .. } => format!("{key} or config/app.php"),
        };
        let zone = setting
            .resolve(|k| self.env.get(k).filter(|v| !v.is_empty()))
            .unwrap_or_else(|| "UTC".into());
        zone.parse()
            .map_err(|_| Error::BadTimeZone { zone, origin })
    }

    /// The sealing keys: `'key'` of `config/app.php` (as `env('APP_KEY')` or hard-coded) and
    /// `APP_PREVIOUS_KEYS` (comma-separated, as Laravel 11's `config/app.php` reads it).
    pub fn keys(&self) -> crate::store::remote::Keys {
        let text = config::read(&self.dir.join("config/app.php")).unwrap_or_default();
        let setting = config::setting(&text, "key").unwrap_or(config::Setting::Env {
            key: "APP_KEY".into(),
            default: None,
        });
        let current = setting.resolve(|k| self.env.get(k).filter(|v| !v.is_empty()));
        crate::store::remote::Keys::new(
            current.as_deref(),
            &split_keys(self.env.get("APP_PREVIOUS_KEYS")),
        )
    }

    /// `storage_path('app/backups')`.
    pub fn backups_dir(&self) -> PathBuf {
        self.dir.join("storage/app/backups")
    }
}

/// A comma-separated list of keys, empty entries left out.
pub fn split_keys(list: Option<String>) -> Vec<String> {
    list.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_string)
        .collect()
}

/// `.env`, or `.env.{APP_ENV}` when the real environment names an environment whose file exists
/// (Laravel loads that one instead, not merged).
fn default_env_file(dir: &Path, real: &HashMap<String, String>) -> PathBuf {
    if let Some(app_env) = real.get("APP_ENV").filter(|e| !e.is_empty()) {
        let specific = dir.join(format!(".env.{app_env}"));
        if specific.is_file() {
            return specific;
        }
    }
    dir.join(".env")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(p: &Path) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, "").unwrap();
    }

    #[test]
    fn finds_current_then_api_then_parent() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        touch(&root.join("api/artisan"));
        assert_eq!(find_app_dir(None, root).unwrap(), root.join("api"));
        let deep = root.join("api/app/Console");
        std::fs::create_dir_all(&deep).unwrap();
        assert_eq!(find_app_dir(None, &deep).unwrap(), root.join("api"));
        touch(&root.join(".env"));
        assert_eq!(find_app_dir(None, root).unwrap(), root.to_path_buf());
    }

    #[test]
    fn not_found_names_the_folders_tried() {
        let t = tempfile::tempdir().unwrap();
        let err = find_app_dir(None, t.path()).unwrap_err().to_string();
        assert!(
            err.contains(&t.path().join("api").display().to_string()),
            "{err}"
        );
    }

    #[test]
    fn debug_shows_keys_never_values() {
        let file = vec![
            ("DB_PASSWORD".to_string(), Some("file-s3cret".to_string())),
            (
                "DB_URL".to_string(),
                Some("mysql://u:url-s3cret@h/d".to_string()),
            ),
        ];
        let real = HashMap::from([("APP_KEY".to_string(), "real-s3cret".to_string())]);
        let app = App {
            dir: PathBuf::from("/srv/api"),
            env: Env::new(file, real),
        };
        let shown = format!("{app:?} {app:#?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        for key in ["DB_PASSWORD", "DB_URL", "APP_KEY", "/srv/api"] {
            assert!(shown.contains(key), "{key} missing from {shown}");
        }
    }

    #[test]
    fn real_environment_wins_and_literals_convert() {
        let file = vec![
            ("A".to_string(), Some("file".to_string())),
            ("N".to_string(), Some("null".to_string())),
            ("E".to_string(), Some("(empty)".to_string())),
        ];
        let real = HashMap::from([("A".to_string(), "real".to_string())]);
        let env = Env::new(file, real);
        assert_eq!(env.get("A").as_deref(), Some("real"));
        assert_eq!(env.get("N"), None);
        assert_eq!(env.get("E").as_deref(), Some(""));
        assert_eq!(env.get("MISSING"), None);
    }
}
