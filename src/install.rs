//! `db-backup install-artisan`: puts the Artisan bridge where the old command lived, as
//! `app/Console/Commands/BackupDatabase.php` (class `BackupDatabase`), which Laravel 11/12's
//! command scan and the Laravel 8–10 console kernel both load.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The package's command, the single source of the bridge's code.
const PACKAGE_COMMAND: &str = include_str!("../php-bridge/src/BackupCommand.php");

/// Where the drop-in goes inside an app.
pub const DROP_IN: &str = "app/Console/Commands/BackupDatabase.php";

/// The drop-in file's text: the package's command, renamed into the app's namespace.
pub fn drop_in_source() -> String {
    PACKAGE_COMMAND
        .replacen(
            "namespace DbBackup\\Laravel;",
            "namespace App\\Console\\Commands;\n\n// Installed by `db-backup install-artisan` (from php-bridge/src/BackupCommand.php).",
            1,
        )
        .replacen(
            "class BackupCommand extends Command",
            "class BackupDatabase extends Command",
            1,
        )
}

/// What an install did.
#[derive(Debug)]
pub struct Installed {
    pub path: PathBuf,
    /// Where the replaced command was kept, if there was one with other content.
    pub saved: Option<PathBuf>,
}

/// Writes the drop-in into the app, keeping any different previous command under
/// `storage/app/db-backup/` (outside the folders Laravel scans for commands).
pub fn install(app_dir: &Path) -> Result<Installed> {
    let path = app_dir.join(DROP_IN);
    let source = drop_in_source();
    let dir = path.parent().unwrap_or(app_dir);
    std::fs::create_dir_all(dir).map_err(Error::io("cannot create", dir))?;
    let mut saved = None;
    if let Ok(old) = std::fs::read_to_string(&path) {
        if old != source {
            let keep_dir = app_dir.join("storage/app/db-backup");
            std::fs::create_dir_all(&keep_dir).map_err(Error::io("cannot create", &keep_dir))?;
            let keep = keep_dir.join("BackupDatabase.php.orig");
            std::fs::write(&keep, old).map_err(Error::io("cannot write", &keep))?;
            saved = Some(keep);
        }
    }
    let mut tmp =
        tempfile::NamedTempFile::new_in(dir).map_err(Error::io("cannot write in", dir))?;
    tmp.write_all(source.as_bytes())
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(Error::io("cannot write", tmp.path()))?;
    let tmp_path = tmp.path().to_path_buf();
    std::fs::set_permissions(
        &tmp_path,
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .map_err(Error::io("cannot set permissions on", &tmp_path))?;
    tmp.persist(&path)
        .map_err(|e| Error::io("cannot write", &path)(e.error))?;
    Ok(Installed { path, saved })
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
