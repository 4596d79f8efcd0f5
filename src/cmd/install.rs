//! `db-backup install-artisan`: puts the Artisan bridge where the old command lived, as
//! `app/Console/Commands/BackupDatabase.php` (class `BackupDatabase`), which Laravel 11/12's
//! command scan and the Laravel 8–10 console kernel both load; and `config/db-backup.php`, so
//! that the binary's path is a config value that `php artisan config:cache` keeps.

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::store::publish;

/// The package's commands, the single source of the bridge's code: (source, class in the
/// package, class in the drop-in). Laravel loads one class per file from app/Console/Commands.
const COMMANDS: [(&str, &str, &str); 8] = [
    (
        include_str!("../../php-bridge/src/BackupCommand.php"),
        "BackupCommand",
        "BackupDatabase",
    ),
    (
        include_str!("../../php-bridge/src/ListCommand.php"),
        "ListCommand",
        "BackupList",
    ),
    (
        include_str!("../../php-bridge/src/VerifyCommand.php"),
        "VerifyCommand",
        "BackupVerify",
    ),
    (
        include_str!("../../php-bridge/src/RestoreCommand.php"),
        "RestoreCommand",
        "RestoreDatabase",
    ),
    (
        include_str!("../../php-bridge/src/StatusCommand.php"),
        "StatusCommand",
        "BackupStatus",
    ),
    (
        include_str!("../../php-bridge/src/ReplicateCommand.php"),
        "ReplicateCommand",
        "DbReplicate",
    ),
    (
        include_str!("../../php-bridge/src/InstallCommand.php"),
        "InstallCommand",
        "DbBackupInstall",
    ),
    // Not a command (Laravel's scan registers commands only): InstallCommand's checker.
    (
        include_str!("../../php-bridge/src/Minisign.php"),
        "Minisign",
        "Minisign",
    ),
];

/// The package's events, installed as `App\Events\DbBackup\…` (app/Events/DbBackup/).
const EVENTS: [(&str, &str); 3] = [
    (
        include_str!("../../php-bridge/src/Events/BackupSucceeded.php"),
        "BackupSucceeded",
    ),
    (
        include_str!("../../php-bridge/src/Events/BackupFailed.php"),
        "BackupFailed",
    ),
    (
        include_str!("../../php-bridge/src/Events/UnhealthyBackupFound.php"),
        "UnhealthyBackupFound",
    ),
];

/// The events' namespace in the package, and in an app with the drop-in.
const EVENTS_NS: (&str, &str) = ("DbBackup\\Laravel\\Events", "App\\Events\\DbBackup");

/// The package's config file, the single source of the drop-in's.
const CONFIG: &str = include_str!("../../php-bridge/config/db-backup.php");

/// Where the drop-in's config goes: Laravel loads every `config/*.php`, cached or not.
pub const CONFIG_FILE: &str = "config/db-backup.php";

/// Where cron and the scheduler look for programs (Debian's cron PATH).
const CRON_PATH: [&str; 2] = ["/usr/bin", "/bin"];

/// Where the drop-in goes inside an app: the old command's file.
pub const DROP_IN: &str = "app/Console/Commands/BackupDatabase.php";

/// Where replaced files are kept, outside the folders Laravel scans for commands.
const KEEP_DIR: &str = "storage/app/db-backup";

/// How many different replaced copies of one file are kept before install gives up.
const MAX_KEPT: u32 = 100;

/// The line that marks a drop-in file as ours, written by every version of `install-artisan`.
const MARKER: &str = "// Installed by `db-backup install-artisan`";

/// True when a file was written by some version of `install-artisan`, not by the user.
fn is_ours(text: &str) -> bool {
    text.lines().any(|l| l.trim_start().starts_with(MARKER))
}

/// One drop-in file's text: the package's command, renamed into the app's namespace.
fn renamed(source: &str, class: &str, new_class: &str) -> String {
    source
        .replace(EVENTS_NS.0, EVENTS_NS.1)
        .replacen(
            "namespace DbBackup\\Laravel;",
            &format!("namespace App\\Console\\Commands;\n\n{MARKER} (from php-bridge/src/)."),
            1,
        )
        .replacen(
            &format!("class {class} extends"),
            &format!("class {new_class} extends"),
            1,
        )
        .replacen("extends BackupCommand", "extends BackupDatabase", 1)
        .replace("InstallCommand::", "DbBackupInstall::")
}

/// The drop-in's `config/db-backup.php`: the package's, with `binary` defaulting to `binary`.
fn config_source(binary: Option<&str>) -> String {
    let mut text = CONFIG.replacen(
        "<?php\n",
        &format!("<?php\n\n{MARKER} (from php-bridge/config/).\n"),
        1,
    );
    if let Some(b) = binary {
        text = text.replacen(
            "env('DB_BACKUP_BINARY')",
            &format!("env('DB_BACKUP_BINARY', {})", php_string(b)),
            1,
        );
    }
    text
}

/// A PHP single-quoted string literal.
fn php_string(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// The binary `php artisan db:backup` runs when DB_BACKUP_BINARY is not set: this one, by its
/// absolute path — unless cron's PATH finds it as `db-backup`, in which case the PATH is left
/// to find it (and whatever replaces it there). Cron and the scheduler rarely see
/// `~/.cargo/bin`, and a cached config hides `.env`, so without this the command is not found.
pub fn default_binary() -> Option<String> {
    let exe = std::env::current_exe().ok()?;
    let exe_id = std::fs::metadata(&exe).ok().map(|m| (m.dev(), m.ino()))?;
    let on_cron_path = CRON_PATH.iter().any(|dir| {
        std::fs::metadata(Path::new(dir).join("db-backup"))
            .is_ok_and(|m| (m.dev(), m.ino()) == exe_id)
    });
    if on_cron_path {
        return None;
    }
    // A path PHP cannot be given as text is left to DB_BACKUP_BINARY.
    exe.into_os_string().into_string().ok()
}

/// One event's text, in the app's namespace.
fn event_source(source: &str) -> String {
    source.replacen(
        &format!("namespace {};", EVENTS_NS.0),
        &format!(
            "namespace {};\n\n{MARKER} (from php-bridge/src/Events/).",
            EVENTS_NS.1
        ),
        1,
    )
}

/// The drop-in files: (path inside the app, text); events first (the commands use them), the
/// config file last.
pub fn drop_in_files(binary: Option<&str>) -> Vec<(String, String)> {
    let events = EVENTS.iter().map(|(src, class)| {
        (
            format!("app/Events/DbBackup/{class}.php"),
            event_source(src),
        )
    });
    let commands = COMMANDS.iter().map(|(src, class, new_class)| {
        (
            format!("app/Console/Commands/{new_class}.php"),
            renamed(src, class, new_class),
        )
    });
    events
        .chain(commands)
        .chain([(CONFIG_FILE.to_string(), config_source(binary))])
        .collect()
}

/// The main drop-in file's text (`php artisan db:backup`).
#[cfg(test)]
pub fn drop_in_source() -> String {
    let (src, class, new_class) = COMMANDS[0];
    renamed(src, class, new_class)
}

/// What an install did.
#[derive(Debug)]
pub struct Installed {
    pub path: PathBuf,
    /// Where the user's own files that the drop-in replaced were kept.
    pub saved: Vec<PathBuf>,
    /// The binary written as the default in `config/db-backup.php` (None: the PATH's).
    pub binary: Option<String>,
    /// The user's own `config/db-backup.php`, left as it was.
    pub own_config: Option<PathBuf>,
    /// Laravel's config cache, which must be rebuilt to see the new config file.
    pub config_cache: Option<PathBuf>,
}

/// Writes the drop-in files into the app. A command file there that is not ours (the user's
/// original command, or their own `RestoreDatabase.php`) is kept under `storage/app/db-backup/`
/// first; one of ours, from any version, is simply replaced, so an upgrade never buries the
/// original. A `config/db-backup.php` of the user's own is left alone.
pub fn install(app_dir: &Path, binary: Option<&str>) -> Result<Installed> {
    let mut saved = Vec::new();
    let mut own_config = None;
    for (rel, text) in drop_in_files(binary) {
        let path = app_dir.join(&rel);
        match std::fs::read(&path) {
            Ok(old) if !is_ours(&String::from_utf8_lossy(&old)) => {
                if rel == CONFIG_FILE {
                    own_config = Some(path);
                    continue;
                }
                saved.extend(keep_original(app_dir, &path, &old)?);
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("cannot read", &path)(e)),
        }
        publish::write_atomically(&path, text.as_bytes(), 0o644)?;
    }
    let cache = app_dir.join("bootstrap/cache/config.php");
    Ok(Installed {
        path: app_dir.join(DROP_IN),
        saved,
        binary: binary.map(str::to_string),
        own_config,
        config_cache: cache.is_file().then_some(cache),
    })
}

/// Keeps a user's file as `storage/app/db-backup/<name>.orig`, never overwriting an earlier
/// one: a later, different file goes to `.orig.2`, `.orig.3`, …; the same content again is
/// already kept. Returns where it went, if it was not kept already.
fn keep_original(app_dir: &Path, path: &Path, old: &[u8]) -> Result<Option<PathBuf>> {
    let keep_dir = app_dir.join(KEEP_DIR);
    std::fs::create_dir_all(&keep_dir).map_err(Error::io("cannot create", &keep_dir))?;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    for n in 1..=MAX_KEPT {
        let keep = match n {
            1 => keep_dir.join(format!("{name}.orig")),
            n => keep_dir.join(format!("{name}.orig.{n}")),
        };
        let mut file = match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&keep)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                if std::fs::read(&keep).ok().as_deref() == Some(old) {
                    return Ok(None);
                }
                continue;
            }
            Err(e) => return Err(Error::io("cannot write", &keep)(e)),
        };
        file.write_all(old)
            .and_then(|()| file.sync_all())
            .map_err(Error::io("cannot write", &keep))?;
        return Ok(Some(keep));
    }
    Err(Error::io("cannot keep the replaced file in", keep_dir)(
        std::io::Error::other(format!("{MAX_KEPT} kept copies already; clear some")),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_in_is_the_package_command_renamed() {
        let s = drop_in_source();
        assert!(s.contains("namespace App\\Console\\Commands;"));
        assert!(s.contains("class BackupDatabase extends Command"));
        assert!(s.contains(
            "protected $signature = 'db:backup {--keep=7 : Number of backups to keep}\n"
        ));
        assert!(!s.contains("DbBackup\\Laravel"));
        assert!(s.contains("use App\\Events\\DbBackup\\BackupSucceeded;"));
        let files = drop_in_files(None);
        assert_eq!(files.len(), 12);
        let event = &files[0];
        assert_eq!(event.0, "app/Events/DbBackup/BackupSucceeded.php");
        assert!(event.1.contains("namespace App\\Events\\DbBackup;"));
        assert!(is_ours(&event.1));
        let restore = &files[6];
        assert_eq!(restore.0, "app/Console/Commands/RestoreDatabase.php");
        assert!(restore
            .1
            .contains("class RestoreDatabase extends BackupDatabase"));
        let status = &files[7];
        assert_eq!(status.0, "app/Console/Commands/BackupStatus.php");
        assert!(status
            .1
            .contains("class BackupStatus extends BackupDatabase"));
        let replicate = &files[8];
        assert_eq!(replicate.0, "app/Console/Commands/DbReplicate.php");
        assert!(replicate
            .1
            .contains("class DbReplicate extends BackupDatabase"));
        let install = &files[9];
        assert_eq!(install.0, "app/Console/Commands/DbBackupInstall.php");
        assert!(install.1.contains("class DbBackupInstall extends Command"));
        // The drop-in's BackupDatabase names the install command by its drop-in class.
        let backup = &files[3];
        assert!(
            backup.1.contains("DbBackupInstall::VERSION"),
            "{}",
            backup.0
        );
        assert!(!backup.1.contains("InstallCommand::"));
    }

    #[test]
    fn install_keeps_the_old_command() {
        let t = tempfile::tempdir().unwrap();
        let old = t.path().join(DROP_IN);
        std::fs::create_dir_all(old.parent().unwrap()).unwrap();
        std::fs::write(&old, "<?php // the original").unwrap();
        let done = install(t.path(), None).unwrap();
        assert_eq!(
            std::fs::read_to_string(&done.path).unwrap(),
            drop_in_source()
        );
        assert_eq!(done.saved.len(), 1);
        assert_eq!(
            std::fs::read_to_string(&done.saved[0]).unwrap(),
            "<?php // the original"
        );
        assert!(
            install(t.path(), None).unwrap().saved.is_empty(),
            "reinstall keeps nothing new"
        );
    }

    /// An upgrade finds an older drop-in (another text, the same marker): it is replaced, and
    /// the user's original stays in `.orig`.
    #[test]
    fn an_upgrade_keeps_the_users_original() {
        let t = tempfile::tempdir().unwrap();
        let cmd = t.path().join(DROP_IN);
        std::fs::create_dir_all(cmd.parent().unwrap()).unwrap();
        std::fs::write(&cmd, "<?php // the original").unwrap();
        install(t.path(), None).unwrap();
        let older = drop_in_source().replace("is_executable", "is_executable_v0");
        std::fs::write(&cmd, &older).unwrap();
        let again = install(t.path(), None).unwrap();
        assert!(again.saved.is_empty(), "{:?}", again.saved);
        let orig = t.path().join(KEEP_DIR).join("BackupDatabase.php.orig");
        assert_eq!(
            std::fs::read_to_string(&orig).unwrap(),
            "<?php // the original"
        );
        // The first drop-in's marker, as written by the earliest version.
        std::fs::write(
            &cmd,
            "<?php\nnamespace App\\Console\\Commands;\n\n// Installed by `db-backup install-artisan` (from php-bridge/src/BackupCommand.php).\n",
        )
        .unwrap();
        assert!(install(t.path(), None).unwrap().saved.is_empty());
        assert_eq!(
            std::fs::read_dir(t.path().join(KEEP_DIR)).unwrap().count(),
            1
        );
    }

    /// A second, different file of the user's never overwrites the first one kept.
    #[test]
    fn an_existing_orig_is_never_overwritten() {
        let t = tempfile::tempdir().unwrap();
        let cmd = t.path().join(DROP_IN);
        std::fs::create_dir_all(cmd.parent().unwrap()).unwrap();
        std::fs::write(&cmd, "<?php // first").unwrap();
        install(t.path(), None).unwrap();
        std::fs::write(&cmd, "<?php // edited by hand later").unwrap();
        let done = install(t.path(), None).unwrap();
        let keep = t.path().join(KEEP_DIR);
        assert_eq!(done.saved, [keep.join("BackupDatabase.php.orig.2")]);
        assert_eq!(
            std::fs::read_to_string(keep.join("BackupDatabase.php.orig")).unwrap(),
            "<?php // first"
        );
        assert_eq!(
            std::fs::read_to_string(keep.join("BackupDatabase.php.orig.2")).unwrap(),
            "<?php // edited by hand later"
        );
    }

    #[test]
    fn a_users_own_file_under_another_drop_in_name_is_kept() {
        let t = tempfile::tempdir().unwrap();
        let mine = t.path().join("app/Console/Commands/RestoreDatabase.php");
        std::fs::create_dir_all(mine.parent().unwrap()).unwrap();
        std::fs::write(&mine, "<?php // the user's own restore").unwrap();
        let done = install(t.path(), None).unwrap();
        assert_eq!(
            done.saved,
            [t.path().join(KEEP_DIR).join("RestoreDatabase.php.orig")]
        );
    }

    #[test]
    fn config_defaults_to_the_given_binary_as_a_php_string() {
        let plain = config_source(None);
        assert!(
            plain.contains("'binary' => env('DB_BACKUP_BINARY'),"),
            "{plain}"
        );
        assert!(is_ours(&plain));
        let odd = config_source(Some("/opt/it's\\db-backup"));
        assert!(
            odd.contains(r"'binary' => env('DB_BACKUP_BINARY', '/opt/it\'s\\db-backup'),"),
            "{odd}"
        );
    }

    #[test]
    fn a_users_own_config_file_is_left_alone() {
        let t = tempfile::tempdir().unwrap();
        let config = t.path().join(CONFIG_FILE);
        std::fs::create_dir_all(config.parent().unwrap()).unwrap();
        std::fs::write(&config, "<?php return ['binary' => '/srv/db-backup'];").unwrap();
        let done = install(t.path(), Some("/x/db-backup")).unwrap();
        assert_eq!(done.own_config, Some(config.clone()));
        assert_eq!(
            std::fs::read_to_string(&config).unwrap(),
            "<?php return ['binary' => '/srv/db-backup'];"
        );
        std::fs::remove_file(&config).unwrap();
        install(t.path(), Some("/x/db-backup")).unwrap();
        let ours = std::fs::read_to_string(&config).unwrap();
        assert!(ours.contains("'/x/db-backup'"), "{ours}");
        // Ours is rewritten by the next install (an upgrade, another binary).
        install(t.path(), None).unwrap();
        assert!(!std::fs::read_to_string(&config)
            .unwrap()
            .contains("/x/db-backup"));
    }
}
