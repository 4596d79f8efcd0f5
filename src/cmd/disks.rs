//! Copies on the app's disks, for the subcommands: copying new (and still missing) backups to
//! each disk and pruning it, and fetching a copy back into a private file to verify or restore.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::laravel::Target;
use crate::store::publish;
use crate::store::remote::{self, Copied, Disk, Object};
use crate::store::retention::{self, Policy};
use crate::store::transform::{self, Transforms};

/// What one disk got in a backup run.
#[derive(Debug, Clone, Serialize)]
pub struct DiskRun {
    pub disk: String,
    /// Where the disk is (`s3://bucket/root`, a folder).
    pub location: String,
    /// The copies made, the new backup's first.
    pub copied: Vec<CopyDone>,
    /// Old copies deleted by the disk's retention.
    pub deleted: Vec<String>,
    /// Unfinished uploads of interrupted runs aborted before copying.
    pub aborted_uploads: usize,
    /// Why the disk failed, if it did (one line, never a secret).
    pub error: Option<String>,
}

/// One copy made.
#[derive(Debug, Clone, Serialize)]
pub struct CopyDone {
    pub name: String,
    pub size_bytes: u64,
    /// How it was checked after the upload.
    pub checked: &'static str,
    /// True for an older backup copied because the disk lacked it (catch-up).
    pub catch_up: bool,
    /// How long the copy took (transforms, upload and check).
    pub duration_ms: u128,
}

/// Opens the disk called `name` from the app's `config/filesystems.php`.
pub fn open(target: &Target, name: &str) -> Result<Box<dyn Disk>> {
    remote::open(name, &target.filesystems.disk(name)?)
}

/// The transforms new copies go through: DB_BACKUP_COMPRESS and DB_BACKUP_AGE_*.
fn transforms(target: &Target) -> Result<Transforms> {
    target.settings.transforms()
}

/// Copies `created` (and every local backup the disk lacks and would keep) to each of the
/// app's disks, then applies `policy` there. A disk that fails is reported in its run, never
/// by touching anything local; the other disks still get their copies.
/// With `dry_run`, the disks are only listed: the run says what would be copied and deleted.
pub fn copy_all(target: &Target, created: &Path, policy: &Policy, dry_run: bool) -> Vec<DiskRun> {
    target
        .settings
        .disks()
        .into_iter()
        .map(|name| {
            let mut run = DiskRun {
                disk: name.clone(),
                location: String::new(),
                copied: Vec::new(),
                deleted: Vec::new(),
                aborted_uploads: 0,
                error: None,
            };
            if let Err(e) = copy_one(target, &name, created, policy, dry_run, &mut run) {
                run.error = Some(reason(&e));
            }
            run
        })
        .collect()
}

/// The reason of a disk's failure, without the "disk 'x': " the report adds itself.
pub fn reason(e: &Error) -> String {
    match e.root() {
        Error::Disk { detail, .. } => detail.clone(),
        other => other.to_string(),
    }
}

fn copy_one(
    target: &Target,
    name: &str,
    created: &Path,
    policy: &Policy,
    dry_run: bool,
    run: &mut DiskRun,
) -> Result<()> {
    let disk = open(target, name)?;
    run.location = disk.location();
    let t = transforms(target)?;
    // Listing first also proves the disk answers, within a bounded time, before any upload.
    let mut objects = disk.list()?;
    let new_name = file_name(created);
    let mut local = retention::scan(&target.backups_dir)?;
    if dry_run {
        // Not made yet: it would be.
        local.extend(retention::parse(&new_name));
    }
    // Judge local and remote backups together: a missing backup the disk would delete at once
    // is not worth copying.
    let mut all: Vec<retention::Backup> = objects.iter().map(|o| o.backup.clone()).collect();
    all.extend(local.iter().cloned());
    all.sort_by(|a, b| a.name.cmp(&b.name));
    all.dedup();
    let kept: Vec<String> = retention::judge(&all, policy, Some(&new_name))
        .into_iter()
        .filter(|v| !v.kept_by.is_empty())
        .map(|v| v.backup.name)
        .collect();
    let mut missing: Vec<&retention::Backup> = local
        .iter()
        .filter(|b| kept.contains(&b.name))
        .filter(|b| !objects.iter().any(|o| o.backup.name == b.name))
        .collect();
    // The new backup first, then older ones newest first.
    missing.sort_by(|a, b| {
        (b.name == new_name, b.taken_at, &b.name).cmp(&(a.name == new_name, a.taken_at, &a.name))
    });
    // Parts an interrupted run left on the server (it died before the abort) go first; a
    // key that may not list them (ListMultipartUploads) is no reason to fail the copy.
    let again: Vec<String> = missing
        .iter()
        .map(|b| format!("{}{}", b.name, t.suffix()))
        .collect();
    if dry_run {
        return plan_only(target, &mut objects, &missing, &t, &new_name, policy, run);
    }
    run.aborted_uploads = disk.abort_unfinished(&again).unwrap_or(0);
    for b in missing {
        let started = std::time::Instant::now();
        let copied = copy_file(target, disk.as_ref(), &target.backups_dir.join(&b.name), &t)?;
        let (backup, suffix) = remote::parse(&copied.name).ok_or_else(|| Error::Disk {
            disk: name.into(),
            detail: format!("{} is not a backup name", copied.name),
        })?;
        objects.push(Object {
            name: copied.name.clone(),
            backup,
            suffix,
            size: copied.size,
        });
        run.copied.push(CopyDone {
            catch_up: b.name != new_name,
            name: copied.name,
            size_bytes: copied.size,
            checked: copied.checked,
            duration_ms: started.elapsed().as_millis(),
        });
    }
    // Retention only once every copy succeeded; only exact backup names are candidates.
    for o in remote::doomed(&objects, policy, Some(&new_name)) {
        disk.delete(&o.name).map_err(|e| Error::Disk {
            disk: name.into(),
            detail: format!("cannot delete old copy {}: {}", o.name, reason(&e)),
        })?;
        run.deleted.push(o.name);
    }
    Ok(())
}

/// What a dry run says: the copies that would be made, and the ones retention would delete.
fn plan_only(
    target: &Target,
    objects: &mut Vec<Object>,
    missing: &[&retention::Backup],
    t: &Transforms,
    new_name: &str,
    policy: &Policy,
    run: &mut DiskRun,
) -> Result<()> {
    for b in missing {
        let size = std::fs::metadata(target.backups_dir.join(&b.name)).map_or(0, |m| m.len());
        let name = format!("{}{}", b.name, t.suffix());
        objects.push(Object {
            name: name.clone(),
            backup: (*b).clone(),
            suffix: t.suffix(),
            size,
        });
        run.copied.push(CopyDone {
            catch_up: b.name != new_name,
            name,
            size_bytes: size,
            checked: "",
            duration_ms: 0,
        });
    }
    run.deleted = remote::doomed(objects, policy, Some(new_name))
        .into_iter()
        .map(|o| o.name)
        .collect();
    Ok(())
}

/// Uploads one local backup, through the transforms (into a private temporary file first,
/// streamed) when any is on.
fn copy_file(target: &Target, disk: &dyn Disk, src: &Path, t: &Transforms) -> Result<Copied> {
    let name = format!("{}{}", file_name(src), t.suffix());
    if t.is_none() {
        return disk.put(src, &name);
    }
    let mut staged = publish::staging_file(&target.backups_dir)?;
    transform::encode(src, staged.as_file_mut(), t)?;
    disk.put(staged.path(), &name)
}

/// A copy fetched from a disk into a private folder inside the backups folder, under the
/// backup's own name (its kind is read from it), decrypted and decompressed. Deleted on drop.
pub struct Fetched {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
    /// `disk:name`, as shown to the user.
    pub shown: PathBuf,
}

/// The copy the user named on `disk` (the backup's name, with or without its suffix), or the
/// newest with `latest`.
pub fn find(disk: &dyn Disk, name: Option<&Path>, latest: bool) -> Result<Object> {
    let mut objects = disk.list()?;
    objects.sort_by(|a, b| (b.backup.taken_at, &b.name).cmp(&(a.backup.taken_at, &a.name)));
    let wanted = name.map(|n| n.file_name().unwrap_or(n.as_os_str()).to_string_lossy());
    let found = match (&wanted, latest) {
        (Some(w), _) => objects
            .iter()
            .find(|o| o.name == *w)
            .or_else(|| objects.iter().find(|o| o.backup.name == *w)),
        (None, true) => objects.first(),
        (None, false) => return Err(Error::NoBackupNamed),
    };
    found.cloned().ok_or_else(|| match wanted {
        Some(w) => Error::Disk {
            disk: disk.name().into(),
            detail: format!(
                "no copy named {w} in {} (see `db-backup list --disk {}`)",
                disk.location(),
                disk.name()
            ),
        },
        None => Error::Disk {
            disk: disk.name().into(),
            detail: format!("no backups in {} yet", disk.location()),
        },
    })
}

/// Downloads `object` into a 0600 file in a 0700 folder beside the backups, checked against
/// the disk's checksum, then undoes its transforms.
pub fn fetch(target: &Target, disk: &dyn Disk, object: &Object) -> Result<Fetched> {
    publish::ensure_dir(&target.backups_dir)?;
    let dir = tempfile::Builder::new()
        .prefix(publish::FETCH_PREFIX)
        .tempdir_in(&target.backups_dir)
        .map_err(Error::io("cannot create a folder in", &target.backups_dir))?;
    let path = dir.path().join(&object.backup.name);
    let create = |p: &Path| {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(p)
            .map_err(Error::io("cannot create", p))
    };
    if object.suffix.is_empty() {
        let mut file = create(&path)?;
        disk.get(&object.name, &mut file)?;
    } else {
        let raw = dir.path().join(&object.name);
        let mut file = create(&raw)?;
        disk.get(&object.name, &mut file)?;
        drop(file);
        let mut src = std::fs::File::open(&raw).map_err(Error::io("cannot open", &raw))?;
        let mut dst = create(&path)?;
        // The copy's name says what was done to it, whatever the settings say today.
        let undo = transforms(target)?.for_copy(&object.name)?;
        transform::decode(&mut src, &mut dst, &undo)?;
        let _ = std::fs::remove_file(&raw);
    }
    Ok(Fetched {
        _dir: dir,
        path,
        shown: PathBuf::from(format!("{}:{}", disk.name(), object.name)),
    })
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
