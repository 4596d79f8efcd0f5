//! Off-machine copies: the app's Laravel disks (`config/filesystems.php`) as places a finished
//! backup is copied to, listed from, fetched back from and pruned on. One driver per file
//! (`s3`, `local`), behind the one [`Disk`] trait, so `sftp` can follow as one more file.

pub mod local;
pub mod s3;
pub mod seal;

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::NaiveDateTime;

use super::retention::{self, Backup};
use crate::error::Result;
pub use seal::{Keys, Seal};

/// The suffixes a copy's name may carry after the backup's own name, one per transform.
pub const SUFFIXES: [&str; 4] = ["", ".zst", ".age", ".zst.age"];

/// A secret (an S3 secret key): never shown, not even by `{:?}`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, for the one place that signs requests with it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// An S3-compatible disk as `config/filesystems.php` describes it (driver `s3`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Spec {
    pub key: String,
    pub secret: Secret,
    pub region: String,
    pub bucket: String,
    /// Empty for AWS itself; else the endpoint URL (Garage, MinIO, R2, B2…).
    pub endpoint: String,
    pub path_style: bool,
    /// The key prefix backups go under, without leading or trailing `/` (may be empty).
    pub root: String,
    /// `AWS_CA_BUNDLE` from the environment: extra trusted CAs for an https endpoint.
    pub ca_bundle: Option<PathBuf>,
}

/// What a disk is, by driver; built by `laravel::disks` from the app's config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spec {
    S3(S3Spec),
    /// Another mounted folder (a NAS): `'root' => '/mnt/nas/backups'`.
    Local {
        root: PathBuf,
    },
}

/// One copy on a disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    /// The object's name under the disk's root, e.g. `database_backup_…sqlite.zst`.
    pub name: String,
    /// The backup it is a copy of (name without the transform suffix, and its time).
    pub backup: Backup,
    /// `""`, `.zst`, `.age` or `.zst.age`.
    pub suffix: &'static str,
    pub size: u64,
    /// What the copy carries to say it is ours (None: nothing, or nothing well formed).
    pub seal: Option<Seal>,
}

/// What a listing found: the copies, and warnings about names it passed over.
#[derive(Debug, Default)]
pub struct Listing {
    pub objects: Vec<Object>,
    /// One line per odd object under the root (a name no S3 client takes well, a link…).
    pub warnings: Vec<String>,
}

/// What a finished copy is: its name, size, and how it was checked after the upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    pub name: String,
    pub size: u64,
    /// What was read back: "size, SHA-256 and seal read back", …
    pub checked: &'static str,
    /// What the server's own checksum said: "sha256 agrees", "none kept by the server"…
    pub server_checksum: String,
    /// A server checksum that disagrees while our own facts agree: a warning, not a failure.
    pub warnings: Vec<String>,
}

/// What a download gave: its length and SHA-256, and a server checksum that disagreed.
#[derive(Debug, Clone)]
pub struct Got {
    pub size: u64,
    pub sha256: [u8; 32],
    pub warnings: Vec<String>,
}

/// A place copies of backups are kept in. Every method is blocking; drivers that talk to a
/// server run their own small runtime inside.
pub trait Disk {
    /// The disk's name in `config/filesystems.php`.
    fn name(&self) -> &str;

    /// Where it is, as shown to the user (`s3://bucket/root`, a folder): never a secret.
    fn location(&self) -> String;

    /// The copies directly under the root, with their seals: only exact backup names with a
    /// transform suffix; anything else is passed over, never an error.
    fn list(&self) -> Result<Listing>;

    /// Copies the file `src` to `name` under the root, carrying `seal`. The copy appears under
    /// that name only once complete; its size and seal are read back after.
    fn put(&self, src: &Path, name: &str, seal: &Seal) -> Result<Copied>;

    /// Streams the copy called `name` into `dst`, hashing it; fails past `max` bytes.
    fn get(&self, name: &str, dst: &mut dyn Write, max: u64) -> Result<Got>;

    /// Deletes the copy called `name` (an exact backup name only: see [`parse`]), and its seal.
    fn delete(&self, name: &str) -> Result<()>;

    /// The segments of continuous backup under `changes/` (names as [`parse_segment`] takes
    /// them, sizes), without their seals: one listing, no request per object.
    fn list_changes(&self) -> Result<Vec<(String, u64)>> {
        Ok(Vec::new())
    }

    /// Cleans up after interrupted runs (call it under the backups folder's lock only): uploads
    /// left unfinished under the root, and temporary files. Returns how many. A disk without
    /// such leftovers does nothing.
    fn abort_unfinished(&self) -> Result<usize> {
        Ok(0)
    }
}

/// Whether a copy is the app's own: only those are counted, pruned, restored by default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    Ours,
    /// Why not, in a few words.
    Foreign(String),
}

/// How far in the future a name may be dated (clocks drift a little) before it is ignored.
pub const FUTURE_SLACK: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

/// What decides trust: the app's keys, the transforms new copies get, and the time now (in
/// the app's time zone, as names are).
pub struct Judge<'a> {
    pub keys: &'a Keys,
    pub zstd: bool,
    pub age: bool,
    pub now: NaiveDateTime,
}

impl Judge<'_> {
    /// Ours only when sealed by this app's key, carrying the transforms configured, and not
    /// dated in the future.
    pub fn trust(&self, o: &Object) -> Trust {
        let foreign = |why: &str| Trust::Foreign(why.to_string());
        if o.backup.taken_at > self.now + FUTURE_SLACK {
            return foreign("its name is dated in the future");
        }
        let Some(seal) = &o.seal else {
            return foreign("it carries no db-backup seal");
        };
        if !self.keys.verifies(&o.name, seal) {
            return foreign("its seal was not made with this app's APP_KEY");
        }
        if seal.size != o.size {
            return foreign("its size is not the sealed size");
        }
        if (self.zstd && !o.suffix.contains(".zst")) || (self.age && !o.suffix.contains(".age")) {
            return foreign(
                "it lacks the transforms configured (DB_BACKUP_COMPRESS, DB_BACKUP_AGE_*)",
            );
        }
        Trust::Ours
    }
}

/// A writer that hashes what passes through it and refuses anything past `max` bytes: a copy
/// (or what it decompresses to) is never allowed to grow beyond what it was sealed as.
pub struct HashingWriter<'a> {
    inner: &'a mut dyn Write,
    ctx: ring::digest::Context,
    left: u64,
    /// Set when a write went past the bound.
    pub over: bool,
}

impl<'a> HashingWriter<'a> {
    pub fn new(inner: &'a mut dyn Write, max: u64) -> HashingWriter<'a> {
        HashingWriter {
            inner,
            ctx: ring::digest::Context::new(&ring::digest::SHA256),
            left: max,
            over: false,
        }
    }

    pub fn finish(self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(self.ctx.finish().as_ref());
        out
    }
}

impl Write for HashingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if buf.len() as u64 > self.left {
            self.over = true;
            return Err(std::io::Error::other("more bytes than expected"));
        }
        let n = self.inner.write(buf)?;
        self.ctx.update(&buf[..n]);
        self.left -= n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Opens the disk called `name`.
pub fn open(name: &str, spec: &Spec) -> Result<Box<dyn Disk>> {
    Ok(match spec {
        Spec::S3(s) => Box::new(s3::S3Disk::open(name, s)?),
        Spec::Local { root } => Box::new(local::LocalDisk::open(name, root)),
    })
}

/// A copy's name split into the backup it holds and its transform suffix; `None` for anything
/// else, which is never listed, fetched as a backup or deleted.
pub fn parse(name: &str) -> Option<(Backup, &'static str)> {
    // Longest suffix first: `.zst.age` before `.age`.
    let mut by_length = SUFFIXES;
    by_length.sort_by_key(|s| std::cmp::Reverse(s.len()));
    by_length.iter().find_map(|suffix| {
        let base = name.strip_suffix(suffix)?;
        retention::parse(base).map(|b| (b, *suffix))
    })
}

/// A segment of continuous backup on a disk, `changes/<segment name><suffix>`, split into its
/// chain, first and last transaction and transform suffix; `None` for anything else.
pub fn parse_segment(name: &str) -> Option<(String, u64, u64, &'static str)> {
    let rest = name.strip_prefix(super::changes::DIR)?.strip_prefix('/')?;
    let mut by_length = SUFFIXES;
    by_length.sort_by_key(|s| std::cmp::Reverse(s.len()));
    by_length.iter().find_map(|suffix| {
        let base = rest.strip_suffix(suffix)?;
        let (chain, first, last) = super::changes::parse_name(base)?;
        Some((chain, first, last, *suffix))
    })
}

/// A name db-backup may write, read or delete on a disk: a backup's copy or a segment.
pub fn is_ours(name: &str) -> bool {
    parse(name).is_some() || parse_segment(name).is_some()
}

/// The copies of `backups` among `objects` that a keep-policy does not keep: judged by the
/// backup's name, every transform of a doomed backup goes with it.
pub fn doomed(
    objects: &[Object],
    policy: &retention::Policy,
    protect: Option<&str>,
) -> Vec<Object> {
    let mut backups: Vec<Backup> = objects.iter().map(|o| o.backup.clone()).collect();
    backups.sort_by(|a, b| a.name.cmp(&b.name));
    backups.dedup();
    let gone: Vec<String> = retention::deleted(&backups, policy, protect)
        .into_iter()
        .map(|b| b.name)
        .collect();
    objects
        .iter()
        .filter(|o| gone.contains(&o.backup.name))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_backup_names_with_known_suffixes_are_copies() {
        let (b, s) = parse("database_backup_2026-11-24_032344.sqlite.zst.age").unwrap();
        assert_eq!(
            (b.name.as_str(), s),
            ("database_backup_2026-11-24_032344.sqlite", ".zst.age")
        );
        assert_eq!(
            parse("database_backup_2026-11-24_032344.sql").unwrap().1,
            ""
        );
        assert_eq!(
            parse("database_backup_2026-11-24_032344.sql.age")
                .unwrap()
                .1,
            ".age"
        );
        for other in [
            "database_backup_2026-11-24_032344.sqlite.gz",
            "database_backup_2026-11-24_032344.sqlite.age.zst",
            "x/database_backup_2026-11-24_032344.sqlite",
            "notes.txt",
            "database_backup_2026-11-24_032344.sqlite.zst.age.part",
        ] {
            assert!(parse(other).is_none(), "{other}");
        }
    }

    #[test]
    fn retention_judges_backups_not_objects() {
        let obj = |n: &str| {
            let (backup, suffix) = parse(n).unwrap();
            Object {
                name: n.into(),
                backup,
                suffix,
                size: 1,
                seal: None,
            }
        };
        let all = vec![
            obj("database_backup_2026-01-01_000000.sqlite"),
            obj("database_backup_2026-01-01_000000.sqlite.zst"),
            obj("database_backup_2026-01-02_000000.sqlite.zst"),
            obj("database_backup_2026-01-03_000000.sqlite"),
        ];
        let names: Vec<String> = doomed(&all, &retention::Policy::last(2), None)
            .into_iter()
            .map(|o| o.name)
            .collect();
        assert_eq!(
            names,
            [
                "database_backup_2026-01-01_000000.sqlite",
                "database_backup_2026-01-01_000000.sqlite.zst"
            ]
        );
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "Secret(…)");
    }
}
