//! Copies on the app's disks, for the subcommands: copying new (and still missing) backups to
//! each disk and pruning it, and fetching a copy back into a private file to verify or restore.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::laravel::Target;
use crate::store::publish;
use crate::store::remote::{self, seal, Copied, Disk, HashingWriter, Judge, Object, Spec, Trust};
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
    /// Unfinished uploads (and temporary files) of interrupted runs cleaned up before copying.
    pub aborted_uploads: usize,
    /// Copies on the disk that are not this app's own: never counted, never deleted.
    pub foreign: Vec<ForeignCopy>,
    /// Passed-over names, server checksums that disagree, foreign copies in the way.
    pub warnings: Vec<String>,
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
    /// What the server's own checksum said ("none kept by the server" where it keeps none).
    pub server_checksum: String,
    /// True for an older backup copied because the disk lacked it (catch-up).
    pub catch_up: bool,
    /// How long the copy took (transforms, upload and check).
    pub duration_ms: u128,
}

/// A copy on a disk that is not the app's own, and why.
#[derive(Debug, Clone, Serialize)]
pub struct ForeignCopy {
    pub name: String,
    pub why: String,
}

/// Opens the disk called `name` from the app's `config/filesystems.php`, once it is known not
/// to overlap the backups folder or another disk.
pub fn open(target: &Target, name: &str) -> Result<Box<dyn Disk>> {
    check_places(target, name)?;
    remote::open(name, &target.filesystems.disk(name)?)
}

/// Refuses a disk whose place overlaps the backups folder or another disk of the app: each
/// place's retention would delete the other's files as its own.
fn check_places(target: &Target, name: &str) -> Result<()> {
    let spec = target.filesystems.disk(name)?;
    let bad = |detail: String| Error::BadDisk {
        name: name.to_string(),
        detail,
    };
    if let Spec::Local { root } = &spec {
        if overlap(&resolved(root), &resolved(&target.backups_dir)) {
            return Err(bad(format!(
                "its root {} is, holds or lies inside the backups folder {}: each would prune the other's files; give the disk a folder of its own",
                root.display(),
                target.backups_dir.display()
            )));
        }
    }
    for other in target.settings.disks().into_iter().filter(|o| o != name) {
        let Ok(theirs) = target.filesystems.disk(&other) else {
            continue;
        };
        let clash = match (&spec, &theirs) {
            (Spec::Local { root: a }, Spec::Local { root: b }) => {
                overlap(&resolved(a), &resolved(b))
            }
            (Spec::S3(a), Spec::S3(b)) => {
                a.endpoint == b.endpoint
                    && a.bucket == b.bucket
                    && overlap(
                        Path::new(&format!("/{}", a.root)),
                        Path::new(&format!("/{}", b.root)),
                    )
            }
            _ => false,
        };
        if clash {
            return Err(bad(format!(
                "it is, holds or lies inside the place of disk '{other}': each would prune the other's copies; give each disk a root of its own"
            )));
        }
    }
    Ok(())
}

/// One path is the other or lies inside it.
fn overlap(a: &Path, b: &Path) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// The path with links resolved as far as it exists (a disk's folder may not exist yet).
fn resolved(path: &Path) -> PathBuf {
    let mut existing = path.to_path_buf();
    let mut rest = Vec::new();
    while !existing.exists() {
        match (
            existing.file_name().map(|n| n.to_os_string()),
            existing.parent(),
        ) {
            (Some(n), Some(p)) => {
                rest.push(n);
                existing = p.to_path_buf();
            }
            _ => return path.to_path_buf(),
        }
    }
    let mut out = existing.canonicalize().unwrap_or(existing);
    for n in rest.into_iter().rev() {
        out.push(n);
    }
    out
}

/// Who judges the copies of this app: its keys, the transforms it configures, now.
pub fn judge(target: &Target) -> Result<Judge<'_>> {
    let t = transforms(target)?;
    Ok(Judge {
        keys: &target.keys,
        zstd: t.zstd,
        age: t.encrypts(),
        now: chrono::Utc::now().with_timezone(&target.tz).naive_local(),
    })
}

/// The copies of a listing split into the app's own and the others (with why).
pub fn split(judge: &Judge, objects: Vec<Object>) -> (Vec<Object>, Vec<ForeignCopy>) {
    let mut ours = Vec::new();
    let mut foreign = Vec::new();
    for o in objects {
        match judge.trust(&o) {
            Trust::Ours => ours.push(o),
            Trust::Foreign(why) => foreign.push(ForeignCopy { name: o.name, why }),
        }
    }
    (ours, foreign)
}

/// Settings that work but expose the copies: a plain-http endpoint beyond this machine (keys
/// are signed, but the bytes travel in clear), an age identity file others can read.
pub fn exposure_warnings(target: &Target, disk: &str) -> Vec<String> {
    let mut warnings = Vec::new();
    if let Ok(Spec::S3(s)) = target.filesystems.disk(disk) {
        if plain_http_beyond_loopback(&s.endpoint) {
            warnings.push(format!(
                "disk '{disk}': the endpoint {} is plain http to another machine: the copies cross the network unencrypted (use https, or DB_BACKUP_AGE_RECIPIENTS)",
                s.endpoint
            ));
        }
    }
    if let Some(file) = target.settings.get("age_identity_file") {
        use std::os::unix::fs::PermissionsExt;
        let path = target.app_dir.join(file);
        if let Ok(meta) = std::fs::metadata(&path) {
            if meta.permissions().mode() & 0o077 != 0 {
                warnings.push(format!(
                    "the age identity file {} can be read by other users: run chmod 600 {}",
                    path.display(),
                    path.display()
                ));
            }
        }
    }
    warnings
}

/// `http://` to a host that is not this machine's loopback (by name `localhost`, or an
/// address; any other name may resolve anywhere).
fn plain_http_beyond_loopback(endpoint: &str) -> bool {
    let Some(rest) = endpoint.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => authority,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    !(host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()))
}

/// One warning line about the foreign copies of a disk (none when there are none).
pub fn foreign_warning(disk: &str, foreign: &[ForeignCopy]) -> Option<String> {
    let first = foreign.first()?;
    let future = foreign.iter().filter(|f| f.why.contains("future")).count();
    Some(format!(
        "disk '{disk}': {} copy(ies) not made by this app are ignored (never counted nor deleted){}: {} ({}){}",
        foreign.len(),
        if future > 0 {
            format!(", {future} dated in the future")
        } else {
            String::new()
        },
        first.name,
        first.why,
        if foreign.len() > 1 { ", …" } else { "" }
    ))
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
                foreign: Vec::new(),
                warnings: Vec::new(),
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
    if !target.keys.can_seal() {
        return Err(Error::NoAppKey);
    }
    let judge = judge(target)?;
    run.warnings.extend(exposure_warnings(target, name));
    // Listing first also proves the disk answers, within a bounded time, before any upload.
    let listing = disk.list()?;
    run.warnings.extend(listing.warnings);
    let all_names: Vec<String> = listing.objects.iter().map(|o| o.name.clone()).collect();
    let (mut objects, foreign) = split(&judge, listing.objects);
    run.warnings.extend(foreign_warning(name, &foreign));
    run.foreign = foreign;
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
    // A foreign object under the very name a copy would take is never overwritten: an older
    // backup is then left out (with a warning), the new one fails loudly.
    missing.retain(|b| {
        let copy = format!("{}{}", b.name, t.suffix());
        let taken = all_names.contains(&copy);
        if taken && b.name != new_name {
            run.warnings.push(format!(
                "disk '{name}': {copy} is not copied again: a foreign object holds that name"
            ));
        }
        !taken || b.name == new_name
    });
    // The new backup first, then older ones newest first.
    missing.sort_by(|a, b| {
        (b.name == new_name, b.taken_at, &b.name).cmp(&(a.name == new_name, a.taken_at, &a.name))
    });
    if dry_run {
        return plan_only(target, &mut objects, &missing, &t, &new_name, policy, run);
    }
    // Under the lock no other run of ours is uploading: whatever is unfinished is a leftover
    // of a killed run. A key that may not list uploads is no reason to fail the copy.
    run.aborted_uploads = disk.abort_unfinished().unwrap_or(0);
    for b in missing {
        let copy = format!("{}{}", b.name, t.suffix());
        if all_names.contains(&copy) {
            return Err(Error::Disk {
                disk: name.into(),
                detail: format!(
                    "a foreign object already holds the name {copy}; it is not overwritten: look at it, and remove it if it is not yours"
                ),
            });
        }
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
            seal: None,
        });
        run.warnings.extend(copied.warnings);
        run.copied.push(CopyDone {
            catch_up: b.name != new_name,
            name: copied.name,
            size_bytes: copied.size,
            checked: copied.checked,
            server_checksum: copied.server_checksum,
            duration_ms: started.elapsed().as_millis(),
        });
    }
    // Retention only once every copy succeeded; only the app's own copies are candidates.
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
            seal: None,
        });
        run.copied.push(CopyDone {
            catch_up: b.name != new_name,
            name,
            size_bytes: size,
            checked: "",
            server_checksum: String::new(),
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
/// streamed) when any is on, sealed with the app's key over what is uploaded.
fn copy_file(target: &Target, disk: &dyn Disk, src: &Path, t: &Transforms) -> Result<Copied> {
    let name = format!("{}{}", file_name(src), t.suffix());
    let (sha256, plain_size) = seal::hash_file(src)?;
    if t.is_none() {
        let seal = target.keys.seal(&name, plain_size, sha256, plain_size)?;
        return disk.put(src, &name, &seal);
    }
    let mut staged = publish::staging_file(&target.backups_dir)?;
    transform::encode(src, staged.as_file_mut(), t)?;
    let (sha256, size) = seal::hash_file(staged.path())?;
    let seal = target.keys.seal(&name, size, sha256, plain_size)?;
    disk.put(staged.path(), &name, &seal)
}

/// A copy fetched from a disk into a private folder inside the backups folder, under the
/// backup's own name (its kind is read from it), decrypted and decompressed. Deleted on drop.
pub struct Fetched {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
    /// `disk:name`, as shown to the user.
    pub shown: PathBuf,
    /// The server's checksum disagreeing, a foreign copy trusted on request.
    pub warnings: Vec<String>,
}

/// The copy the user named on `disk` (the backup's name, with or without its suffix), or the
/// app's newest own copy with `latest`. A foreign copy only with `trust_foreign`.
pub fn find(
    target: &Target,
    disk: &dyn Disk,
    name: Option<&Path>,
    latest: bool,
    trust_foreign: bool,
) -> Result<Object> {
    let judge = judge(target)?;
    let mut objects = disk.list()?.objects;
    objects.sort_by(|a, b| (b.backup.taken_at, &b.name).cmp(&(a.backup.taken_at, &a.name)));
    let wanted = name.map(|n| n.file_name().unwrap_or(n.as_os_str()).to_string_lossy());
    let found = match (&wanted, latest) {
        (Some(w), _) => objects
            .iter()
            .find(|o| o.name == *w)
            .or_else(|| objects.iter().find(|o| o.backup.name == *w)),
        // The newest of the app's own: a planted copy dated 2099 is never "the latest".
        (None, true) => objects.iter().find(|o| judge.trust(o) == Trust::Ours),
        (None, false) => return Err(Error::NoBackupNamed),
    };
    let found = found.cloned().ok_or_else(|| match wanted {
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
            detail: format!("no backups of this app in {} yet", disk.location()),
        },
    })?;
    match judge.trust(&found) {
        Trust::Foreign(why) if !trust_foreign => Err(Error::ForeignCopy {
            disk: disk.name().into(),
            name: found.name,
            why,
        }),
        _ => Ok(found),
    }
}

/// How much a foreign copy (trusted on request, so with no seal to bound it) may decompress
/// to, per byte of the copy: a zstd bomb stops there.
const FOREIGN_EXPANSION: u64 = 1000;

/// Downloads `object` into a 0600 file in a 0700 folder beside the backups, checked against
/// its seal (the app's own) or only bounded (a foreign copy trusted on request), then undoes
/// its transforms, never writing past the size it was sealed with.
pub fn fetch(target: &Target, disk: &dyn Disk, object: &Object) -> Result<Fetched> {
    publish::ensure_dir(&target.backups_dir)?;
    let dir = publish::fetch_dir(&target.backups_dir)?;
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
    let judge = judge(target)?;
    let ours = judge.trust(object) == Trust::Ours;
    let mut warnings = exposure_warnings(target, disk.name());
    let seal = object.seal.as_ref().filter(|_| ours);
    if let Trust::Foreign(why) = judge.trust(object) {
        warnings.push(format!(
            "{} on disk '{}' is a foreign copy ({why}): trusted because --trust-foreign was given",
            object.name,
            disk.name()
        ));
    }
    let (max, plain_max) = match seal {
        Some(s) => (s.size, s.plain_size),
        None => (
            object.size,
            object.size.saturating_mul(FOREIGN_EXPANSION).max(1 << 20),
        ),
    };
    let raw = match object.suffix.is_empty() {
        true => path.clone(),
        false => dir.path().join(&object.name),
    };
    let mut file = create(&raw)?;
    let got = disk.get(&object.name, &mut file, max)?;
    drop(file);
    warnings.extend(got.warnings);
    if let Some(s) = seal {
        if got.size != s.size || got.sha256 != s.sha256 {
            return Err(Error::Disk {
                disk: disk.name().into(),
                detail: format!(
                    "{} does not match its seal ({} bytes read, {} sealed; SHA-256 {}): it was altered or truncated; do not trust this copy",
                    object.name,
                    got.size,
                    s.size,
                    if got.sha256 == s.sha256 { "equal" } else { "differs" }
                ),
            });
        }
    }
    if !object.suffix.is_empty() {
        let mut src = std::fs::File::open(&raw).map_err(Error::io("cannot open", &raw))?;
        let mut dst = create(&path)?;
        // The copy's name says what was done to it, whatever the settings say today.
        let undo = transforms(target)?.for_copy(&object.name)?;
        let mut bounded = HashingWriter::new(&mut dst, plain_max);
        let decoded = transform::decode(&mut src, &mut bounded, &undo);
        let over = bounded.over;
        drop(src);
        let _ = std::fs::remove_file(&raw);
        let written = match decoded {
            Err(_) if over => {
                return Err(Error::Disk {
                    disk: disk.name().into(),
                    detail: format!(
                        "{} decompresses to more than {plain_max} bytes{}: stopped there, and nothing was kept",
                        object.name,
                        if seal.is_some() { ", its sealed size" } else { " (a foreign copy may expand at most 1000 times)" }
                    ),
                })
            }
            other => other?,
        };
        if seal.is_some_and(|s| s.plain_size != written) {
            return Err(Error::Disk {
                disk: disk.name().into(),
                detail: format!(
                    "{} decompresses to {written} bytes, not the {plain_max} it was sealed with",
                    object.name
                ),
            });
        }
    }
    Ok(Fetched {
        _dir: dir,
        path,
        shown: PathBuf::from(format!("{}:{}", disk.name(), object.name)),
        warnings,
    })
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_warned_about_unless_it_stays_on_this_machine() {
        for quiet in [
            "https://s3.amazonaws.com",
            "http://127.0.0.1:3900",
            "http://127.8.0.1",
            "http://localhost:9000/",
            "http://[::1]:9000",
        ] {
            assert!(!plain_http_beyond_loopback(quiet), "{quiet}");
        }
        for loud in [
            "http://garage.lan:3900",
            "http://10.0.0.5:9000",
            "http://[2001:db8::1]:9000",
            "http://localhost.example.org",
        ] {
            assert!(plain_http_beyond_loopback(loud), "{loud}");
        }
    }

    #[test]
    fn places_overlap_when_one_holds_the_other() {
        assert!(overlap(Path::new("/a/b"), Path::new("/a")));
        assert!(overlap(Path::new("/a"), Path::new("/a")));
        assert!(!overlap(Path::new("/a/bc"), Path::new("/a/b")));
        let t = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(t.path(), t.path().join("link")).unwrap();
        assert_eq!(
            resolved(&t.path().join("link/not/yet")),
            t.path().canonicalize().unwrap().join("not/yet")
        );
    }
}
