//! `db-backup install-artisan`: puts the Artisan bridge where the old command lived, as
//! `app/Console/Commands/BackupDatabase.php` (class `BackupDatabase`), which Laravel 11/12's
//! command scan and the Laravel 8–10 console kernel both load.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The package's commands, the single source of the bridge's code: (source, class in the
/// package, class in the drop-in). Laravel loads one class per file from app/Console/Commands.
const COMMANDS: [(&str, &str, &str); 4] = [
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
];

/// Where the drop-in goes inside an app: the old command's file.
pub const DROP_IN: &str = "app/Console/Commands/BackupDatabase.php";

/// One drop-in file's text: the package's command, renamed into the app's namespace.
fn renamed(source: &str, class: &str, new_class: &str) -> String {
    source
        .replacen(
            "namespace DbBackup\\Laravel;",
            "namespace App\\Console\\Commands;\n\n// Installed by `db-backup install-artisan` (from php-bridge/src/).",
            1,
        )
        .replacen(&format!("class {class} extends"), &format!("class {new_class} extends"), 1)
        .replacen("extends BackupCommand", "extends BackupDatabase", 1)
}

/// The drop-in files: (path inside the app, text).
pub fn drop_in_files() -> Vec<(String, String)> {
    COMMANDS
        .iter()
        .map(|(src, class, new_class)| {
            (
                format!("app/Console/Commands/{new_class}.php"),
                renamed(src, class, new_class),
            )
        })
        .collect()
}

/// The main drop-in file's text (`php artisan db:backup`).
pub fn drop_in_source() -> String {
    let (src, class, new_class) = COMMANDS[0];
    renamed(src, class, new_class)
}

/// What an install did.
#[derive(Debug)]
pub struct Installed {
    pub path: PathBuf,
    /// Where the replaced command was kept, if there was one with other content.
    pub saved: Option<PathBuf>,
}

/// Writes the drop-in files into the app, keeping any different previous `BackupDatabase.php`
/// under `storage/app/db-backup/` (outside the folders Laravel scans for commands).
pub fn install(app_dir: &Path) -> Result<Installed> {
    let path = app_dir.join(DROP_IN);
    let mut saved = None;
    if let Ok(old) = std::fs::read_to_string(&path) {
        if old != drop_in_source() {
            let keep_dir = app_dir.join("storage/app/db-backup");
            std::fs::create_dir_all(&keep_dir).map_err(Error::io("cannot create", &keep_dir))?;
            let keep = keep_dir.join("BackupDatabase.php.orig");
            std::fs::write(&keep, old).map_err(Error::io("cannot write", &keep))?;
            saved = Some(keep);
        }
    }
    for (rel, text) in drop_in_files() {
        write_atomically(&app_dir.join(rel), &text)?;
    }
    Ok(Installed { path, saved })
}

/// A temp file beside, then a rename: PHP never loads half a class.
fn write_atomically(path: &Path, text: &str) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(Error::io("cannot create", dir))?;
    let mut tmp =
        tempfile::NamedTempFile::new_in(dir).map_err(Error::io("cannot write in", dir))?;
    tmp.write_all(text.as_bytes())
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(Error::io("cannot write", tmp.path()))?;
    let tmp_path = tmp.path().to_path_buf();
    std::fs::set_permissions(
        &tmp_path,
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .map_err(Error::io("cannot set permissions on", &tmp_path))?;
    tmp.persist(path)
        .map_err(|e| Error::io("cannot write", path)(e.error))?;
    Ok(())
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
            "protected $signature = 'db:backup {--keep=7 : Number of backups to keep}';"
        ));
        assert!(!s.contains("DbBackup\\Laravel;"));
        let files = drop_in_files();
        assert_eq!(files.len(), 4);
        let restore = &files[3];
        assert_eq!(restore.0, "app/Console/Commands/RestoreDatabase.php");
        assert!(restore
            .1
            .contains("class RestoreDatabase extends BackupDatabase"));
    }

    #[test]
    fn install_keeps_the_old_command() {
        let t = tempfile::tempdir().unwrap();
        let old = t.path().join(DROP_IN);
        std::fs::create_dir_all(old.parent().unwrap()).unwrap();
        std::fs::write(&old, "<?php // the original").unwrap();
        let done = install(t.path()).unwrap();
        assert_eq!(
            std::fs::read_to_string(&done.path).unwrap(),
            drop_in_source()
        );
        let saved = done.saved.unwrap();
        assert_eq!(
            std::fs::read_to_string(saved).unwrap(),
            "<?php // the original"
        );
        assert!(
            install(t.path()).unwrap().saved.is_none(),
            "reinstall keeps nothing new"
        );
    }
}
