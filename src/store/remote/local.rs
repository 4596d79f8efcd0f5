//! The `local` driver: another mounted folder (a NAS, a second disk), written exactly as the
//! backups folder is: a private temporary file, fsync, a rename that never overwrites, and a
//! synced folder, under the folder's own lock.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{parse, Copied, Disk, Object};
use crate::error::{Error, Result};
use crate::store::publish;

/// A folder disk.
#[derive(Debug)]
pub struct LocalDisk {
    name: String,
    root: PathBuf,
}

impl LocalDisk {
    pub fn open(name: &str, root: &Path) -> LocalDisk {
        LocalDisk {
            name: name.to_string(),
            root: root.to_path_buf(),
        }
    }

    fn path(&self, name: &str) -> Result<PathBuf> {
        match parse(name) {
            Some(_) => Ok(self.root.join(name)),
            None => Err(self.error(format!("'{name}' is not a backup name"))),
        }
    }

    fn error(&self, detail: String) -> Error {
        Error::Disk {
            disk: self.name.clone(),
            detail,
        }
    }
}

impl Disk for LocalDisk {
    fn name(&self) -> &str {
        &self.name
    }

    fn location(&self) -> String {
        self.root.display().to_string()
    }

    fn list(&self) -> Result<Vec<Object>> {
        let entries = match std::fs::read_dir(&self.root) {
            Ok(e) => e,
            // Not created yet: the first copy makes it.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("cannot list", &self.root)(e)),
        };
        let mut found = Vec::new();
        for entry in entries {
            let entry = entry.map_err(Error::io("cannot list", &self.root))?;
            // Regular files only: a symlink named like a backup is never ours to delete.
            let is_file = entry.file_type().map(|t| t.is_file()).unwrap_or(false);
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if let (true, Some((backup, suffix))) = (is_file, parse(&name)) {
                let size = entry
                    .metadata()
                    .map_err(Error::io("cannot read", entry.path()))?
                    .len();
                found.push(Object {
                    name,
                    backup,
                    suffix,
                    size,
                });
            }
        }
        Ok(found)
    }

    fn put(&self, src: &Path, name: &str) -> Result<Copied> {
        self.path(name)?;
        publish::ensure_dir(&self.root)?;
        let _lock = publish::Lock::acquire(&self.root)?;
        publish::remove_stale(&self.root)?;
        let mut staged = publish::staging_file(&self.root)?;
        let mut from = std::fs::File::open(src).map_err(Error::io("cannot open", src))?;
        let size = std::io::copy(&mut from, staged.as_file_mut())
            .map_err(Error::io("cannot write", staged.path()))?;
        let published = publish::publish(staged, &self.root, || name.to_string())?;
        let on_disk = std::fs::metadata(&published)
            .map_err(Error::io("cannot read", &published))?
            .len();
        let expected = std::fs::metadata(src)
            .map_err(Error::io("cannot read", src))?
            .len();
        if on_disk != expected || size != expected {
            return Err(self.error(format!(
                "{} holds {on_disk} bytes after the copy, {} has {expected}",
                published.display(),
                src.display()
            )));
        }
        Ok(Copied {
            name: name.to_string(),
            size: on_disk,
            checked: "size checked",
        })
    }

    fn get(&self, name: &str, dst: &mut dyn Write) -> Result<u64> {
        let path = self.path(name)?;
        let mut file = std::fs::File::open(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => self.error(format!("no copy named {name}")),
            _ => Error::io("cannot open", &path)(e),
        })?;
        let expected = file
            .metadata()
            .map_err(Error::io("cannot read", &path))?
            .len();
        let got = std::io::copy(&mut file, dst).map_err(Error::io("cannot read", &path))?;
        if got != expected {
            return Err(self.error(format!(
                "{name} changed while it was read ({got} of {expected} bytes)"
            )));
        }
        Ok(got)
    }

    fn delete(&self, name: &str) -> Result<()> {
        let path = self.path(name)?;
        std::fs::remove_file(&path).map_err(Error::io("cannot delete", &path))?;
        publish::sync_dir(&self.root)
    }
}
