//! The `local` driver: another mounted folder (a NAS, a second disk), written exactly as the
//! backups folder is: a private temporary file, fsync, a rename that never overwrites, and a
//! synced folder, under the folder's own lock.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::HashingWriter;
use super::{parse, Copied, Disk, Got, Listing, Object, Seal};
use crate::error::{Error, Result};
use crate::store::publish;

/// What a copy's seal file is called after the copy's name.
pub const SEAL_SUFFIX: &str = ".seal";

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
        match super::is_ours(name) {
            true => Ok(self.root.join(name)),
            false => Err(self.error(format!("'{name}' is not a backup name"))),
        }
    }

    /// The file copied in under `name`: a private temporary file, fsync, a rename.
    fn copy_in(&self, src: &Path, name: &str) -> Result<PathBuf> {
        let target = self.root.join(name);
        let dir = target.parent().unwrap_or(&self.root).to_path_buf();
        let mut staged = publish::staging_file(&dir)?;
        let mut from = std::fs::File::open(src).map_err(Error::io("cannot open", src))?;
        std::io::copy(&mut from, staged.as_file_mut())
            .map_err(Error::io("cannot write", staged.path()))?;
        let base = target
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        publish::publish(staged, &dir, || base.clone())
    }

    /// `<copy>.seal` beside the copy.
    fn seal_path(&self, name: &str) -> PathBuf {
        self.root.join(format!("{name}{SEAL_SUFFIX}"))
    }

    /// The copy's seal, if a regular, small, well-formed `.seal` file is beside it.
    fn read_seal(&self, name: &str) -> Option<Seal> {
        let path = self.seal_path(name);
        let meta = std::fs::symlink_metadata(&path).ok()?;
        if !meta.is_file() || meta.len() > 4096 {
            return None;
        }
        Seal::from_text(&std::fs::read_to_string(path).ok()?)
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

    fn list(&self) -> Result<Listing> {
        let entries = match std::fs::read_dir(&self.root) {
            Ok(e) => e,
            // Not created yet: the first copy makes it.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Listing::default()),
            Err(e) => return Err(Error::io("cannot list", &self.root)(e)),
        };
        let mut found = Listing::default();
        for entry in entries {
            let entry = entry.map_err(Error::io("cannot list", &self.root))?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            let Some((backup, suffix)) = parse(&name) else {
                continue;
            };
            // Regular files only: a symlink named like a backup is never ours to read or delete.
            if !entry.file_type().map(|t| t.is_file()).unwrap_or(false) {
                found.warnings.push(format!(
                    "disk '{}': passed over {name}, which is not a regular file",
                    self.name
                ));
                continue;
            }
            let size = entry
                .metadata()
                .map_err(Error::io("cannot read", entry.path()))?
                .len();
            found.objects.push(Object {
                seal: self.read_seal(&name),
                name,
                backup,
                suffix,
                size,
            });
        }
        Ok(found)
    }

    fn put(&self, src: &Path, name: &str, seal: &Seal) -> Result<Copied> {
        let path = self.path(name)?;
        publish::ensure_dir(&self.root)?;
        if let Some(dir) = path.parent() {
            publish::ensure_dir(dir)?;
        }
        let _lock = publish::Lock::acquire(&self.root)?;
        publish::remove_stale(&self.root)?;
        // The seal first: a seal without its copy is harmless (nothing lists it), a copy
        // without its seal would be foreign.
        let seal_path = self.seal_path(name);
        publish::write_atomically(&seal_path, seal.to_text().as_bytes(), 0o600)?;
        let published = self.copy_in(src, name).inspect_err(|_| {
            // A failed copy leaves nothing behind, its seal included.
            let _ = std::fs::remove_file(&seal_path);
        })?;
        let on_disk = std::fs::metadata(&published)
            .map_err(Error::io("cannot read", &published))?
            .len();
        if on_disk != seal.size {
            return Err(self.error(format!(
                "{} holds {on_disk} bytes after the copy, {} has {}",
                published.display(),
                src.display(),
                seal.size
            )));
        }
        if self.read_seal(name).as_ref() != Some(seal) {
            return Err(self.error(format!("the seal of {name} does not read back")));
        }
        Ok(Copied {
            name: name.to_string(),
            size: on_disk,
            checked: "size and seal read back",
            server_checksum: "none (a folder)".into(),
            warnings: Vec::new(),
        })
    }

    fn get(&self, name: &str, dst: &mut dyn Write, max: u64) -> Result<Got> {
        let path = self.path(name)?;
        let file = std::fs::File::open(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => self.error(format!("no copy named {name}")),
            _ => Error::io("cannot open", &path)(e),
        })?;
        let mut hashing = HashingWriter::new(dst, max);
        // One byte past the bound is enough to know it is too long.
        let got =
            std::io::copy(&mut file.take(max.saturating_add(1)), &mut hashing).map_err(|e| {
                match hashing.over {
                    true => self.error(format!("{name} is larger than the {max} bytes expected")),
                    false => Error::io("cannot read", &path)(e),
                }
            })?;
        Ok(Got {
            size: got,
            sha256: hashing.finish(),
            warnings: Vec::new(),
        })
    }

    fn delete(&self, name: &str) -> Result<()> {
        let path = self.path(name)?;
        std::fs::remove_file(&path).map_err(Error::io("cannot delete", &path))?;
        let seal = self.seal_path(name);
        match std::fs::remove_file(&seal) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(Error::io("cannot delete", &seal)(e))
            }
            _ => {}
        }
        publish::sync_dir(&self.root)
    }

    fn list_changes(&self) -> Result<Vec<(String, u64)>> {
        let dir = crate::store::changes::dir(&self.root);
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("cannot list", &dir)(e)),
        };
        let mut found = Vec::new();
        for entry in entries {
            let entry = entry.map_err(Error::io("cannot list", &dir))?;
            let Some(base) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            let name = format!("{}/{base}", crate::store::changes::DIR);
            if super::parse_segment(&name).is_some() && entry.file_type().is_ok_and(|t| t.is_file())
            {
                let size = entry
                    .metadata()
                    .map_err(Error::io("cannot read", entry.path()))?
                    .len();
                found.push((name, size));
            }
        }
        Ok(found)
    }

    fn abort_unfinished(&self) -> Result<usize> {
        match std::fs::metadata(&self.root) {
            Ok(_) => {
                let _lock = publish::Lock::acquire(&self.root)?;
                Ok(publish::remove_stale(&self.root)?.len())
            }
            Err(_) => Ok(0),
        }
    }
}
