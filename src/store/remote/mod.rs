//! Off-machine copies: the app's Laravel disks (`config/filesystems.php`) as places a finished
//! backup is copied to, listed from, fetched back from and pruned on. One driver per file
//! (`s3`, `local`), behind the one [`Disk`] trait, so `sftp` can follow as one more file.

pub mod local;
pub mod s3;

use std::io::Write;
use std::path::{Path, PathBuf};

use super::retention::{self, Backup};
use crate::error::Result;

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
}

/// What a finished copy is: its name, size, and how it was checked after the upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    pub name: String,
    pub size: u64,
    /// "size and SHA-256 checked by the server", "size checked"…
    pub checked: &'static str,
}

/// A place copies of backups are kept in. Every method is blocking; drivers that talk to a
/// server run their own small runtime inside.
pub trait Disk {
    /// The disk's name in `config/filesystems.php`.
    fn name(&self) -> &str;

    /// Where it is, as shown to the user (`s3://bucket/root`, a folder): never a secret.
    fn location(&self) -> String;

    /// The copies under the root: only exact backup names with a transform suffix.
    fn list(&self) -> Result<Vec<Object>>;

    /// Copies the file `src` to `name` under the root. The copy appears under that name only
    /// once complete, and its size (and checksum where the disk keeps one) is checked after.
    fn put(&self, src: &Path, name: &str) -> Result<Copied>;

    /// Streams the copy called `name` into `dst`, checking it against what the disk stored
    /// (size; checksum where kept). Returns the bytes written.
    fn get(&self, name: &str, dst: &mut dyn Write) -> Result<u64>;

    /// Deletes the copy called `name` (an exact backup name only: see [`parse`]).
    fn delete(&self, name: &str) -> Result<()>;

    /// Cleans up after interrupted runs: uploads left unfinished (a server that died before
    /// it could be told to abort) of the copies called `names` (about to be made again), or
    /// older than an hour. Returns how many. A disk without such leftovers does nothing.
    fn abort_unfinished(&self, _names: &[String]) -> Result<usize> {
        Ok(0)
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
