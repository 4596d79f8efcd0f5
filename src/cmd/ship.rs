//! Continuous backup's copies: the segments published in the changes folder, shipped to each
//! disk of DB_BACKUP_DISKS by a thread of their own, so that a slow or absent disk never holds
//! up the local chain. One listing per disk when it starts (and after a failure), then none:
//! what was uploaded is remembered. Everything waiting for a disk goes up as one object per
//! 30 s compaction window (one PUT per sync at most while it keeps up), through the copies'
//! transforms (zstd, age) and sealed as copies are.
//! Where local compaction merged segments a disk holds in pieces, the merged one goes up and
//! the pieces are deleted.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::engine::sqlite::replicate::segment::{self, Footer};
use crate::error::{Error, Result};
use crate::laravel::Target;
use crate::report;
use crate::store::remote::{self, seal, Disk};
use crate::store::{changes, publish, transform};

/// How far one disk is.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct DiskState {
    /// When the oldest transaction not yet on the disk was seen (None: nothing waits).
    pub waiting_since_ms: Option<i64>,
    pub last_upload_ms: Option<i64>,
    pub error: Option<String>,
    pub puts: u64,
    pub lists: u64,
}

/// A segment on a disk: chain, first, last, the object's name.
type Held = (String, u64, u64, String);

struct Place {
    name: String,
    disk: Option<Box<dyn Disk>>,
    held: Option<Vec<Held>>,
    /// After a failure, the next try waits a little (a disk that is down is not hammered).
    retry_at: Option<Instant>,
}

/// Ships until `stop`, then one last round. `status` is what `replicate.json` reports.
pub fn run(
    target: &Target,
    dir: &Path,
    every: Duration,
    stop: &AtomicBool,
    status: &Mutex<BTreeMap<String, DiskState>>,
) {
    only_when_idle();
    let mut places: Vec<Place> = target
        .settings
        .disks()
        .into_iter()
        .map(|name| Place {
            name,
            disk: None,
            held: None,
            retry_at: None,
        })
        .collect();
    loop {
        let last = stop.load(Ordering::SeqCst);
        for p in &mut places {
            if !last && p.retry_at.is_some_and(|t| Instant::now() < t) {
                continue;
            }
            let outcome = round(target, dir, p, status);
            let mut st = status.lock().unwrap_or_else(|e| e.into_inner());
            let entry = st.entry(p.name.clone()).or_default();
            match outcome {
                Ok(()) => {
                    if entry.error.take().is_some() {
                        report::event(&format!("disk '{}' is reachable again", p.name));
                    }
                    entry.waiting_since_ms = None;
                    p.retry_at = None;
                }
                Err(e) => {
                    let why = super::disks::reason(&e);
                    if entry.error.as_deref() != Some(why.as_str()) {
                        report::warnings(&[format!(
                            "disk '{}': changes not shipped, tried again in 10 s: {why}",
                            p.name
                        )]);
                    }
                    entry.error = Some(why);
                    // Listed again once it answers: what it holds may have changed.
                    p.held = None;
                    p.retry_at = Some(Instant::now() + Duration::from_secs(10));
                }
            }
        }
        if last {
            return;
        }
        let until = Instant::now() + every;
        while Instant::now() < until && !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Runs this thread (and the threads it makes) only on a core nothing else wants
/// (`SCHED_IDLE`): compressing, sealing and uploading can wait a few milliseconds, the app's
/// commits beside it cannot. The local chain, which the RPO rests on, keeps the follower's
/// priority. Failing (a kernel without it) leaves the priority as it was.
fn only_when_idle() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: a plain system call about this thread (0), with a valid parameter.
    unsafe {
        libc::sched_setscheduler(0, libc::SCHED_IDLE, &param);
    }
}

/// One round for one disk: everything published locally goes up.
fn round(
    target: &Target,
    dir: &Path,
    p: &mut Place,
    status: &Mutex<BTreeMap<String, DiskState>>,
) -> Result<()> {
    let count = |f: &dyn Fn(&mut DiskState)| {
        let mut st = status.lock().unwrap_or_else(|e| e.into_inner());
        f(st.entry(p.name.clone()).or_default());
    };
    if p.disk.is_none() {
        p.disk = Some(super::disks::open(target, &p.name)?);
    }
    let disk = p.disk.as_deref().expect("opened above");
    if p.held.is_none() {
        let listed = disk.list_changes()?;
        count(&|s| s.lists += 1);
        p.held = Some(
            listed
                .into_iter()
                .filter_map(|(name, _)| {
                    let (chain, first, last, _) = remote::parse_segment(&name)?;
                    Some((chain, first, last, name))
                })
                .collect(),
        );
    }
    let held = p.held.as_mut().expect("listed above");
    let local: Vec<(String, u64, u64)> = changes::scan(dir)
        .map_err(Error::io("cannot list", dir))?
        .iter()
        .filter_map(|path| changes::parse_name(path.file_name()?.to_str()?))
        .collect();
    let covered = |held: &[Held], chain: &str, first: u64, last: u64| {
        held.iter()
            .any(|(c, f, l, _)| c == chain && *f <= first && last <= *l)
    };
    // What the disk lacks, as runs of consecutive segments of a chain.
    let mut runs: Vec<Vec<(String, u64, u64)>> = Vec::new();
    for s in local.iter().filter(|(c, f, l)| !covered(held, c, *f, *l)) {
        match runs.last_mut() {
            Some(run) if run.last().is_some_and(|r| r.0 == s.0 && r.2 + 1 == s.1) => {
                run.push(s.clone())
            }
            _ => runs.push(vec![s.clone()]),
        }
    }
    for run in runs {
        let footers: Vec<Footer> = match run
            .iter()
            .map(|(c, f, l)| segment::verify(&dir.join(changes::name(c, *f, *l)), &target.keys))
            .collect::<Result<Vec<_>>>()
        {
            Ok(f) => f,
            // Merged or forgotten locally meanwhile: the next round sees the new names.
            Err(_) => continue,
        };
        // Waiting since its first transaction was seen, until it is up (status's lag).
        if let Some(oldest) = footers.iter().map(|f| f.start_ms).min() {
            count(&|s| {
                s.waiting_since_ms = Some(s.waiting_since_ms.map_or(oldest, |w| w.min(oldest)))
            });
        }
        for part in by_window(footers) {
            let name = upload(target, dir, disk, &part)?;
            count(&|s| {
                s.puts += 1;
                s.last_upload_ms = Some(chrono::Utc::now().timestamp_millis());
            });
            let first = &part[0];
            let last = part.last().expect("a part is never empty");
            held.push((first.chain.clone(), first.first, last.last, name));
        }
    }
    // Pieces a merged local segment replaces: the merged one goes up (above, as what the disk
    // lacks, or here), then the pieces go.
    for (c, f, l) in &local {
        let pieces: Vec<Held> = held
            .iter()
            .filter(|(hc, hf, hl, _)| hc == c && f <= hf && hl <= l && (hf, hl) != (f, l))
            .cloned()
            .collect();
        let partial = held
            .iter()
            .any(|(hc, hf, hl, _)| hc == c && hf <= l && hl >= f && (hf < f || hl > l));
        let whole = held
            .iter()
            .any(|(hc, hf, hl, _)| hc == c && (hf, hl) == (f, l));
        if pieces.is_empty() || partial {
            continue;
        }
        if !whole {
            let Ok(footer) = segment::verify(&dir.join(changes::name(c, *f, *l)), &target.keys)
            else {
                continue;
            };
            let name = upload(target, dir, disk, &[footer])?;
            count(&|s| s.puts += 1);
            held.push((c.clone(), *f, *l, name));
        }
        for (_, _, _, piece) in pieces {
            disk.delete(&piece)?;
            held.retain(|h| h.3 != piece);
        }
    }
    Ok(())
}

/// `run` (consecutive segments) cut where local compaction's shortest window ends: an object
/// that spanned two windows would lie across both merged segments that later replace its
/// pieces, and those pieces could not be deleted from the disk until the next level's merge
/// (up to 5 minutes of stale objects; a test caught it on a loaded machine). A segment that
/// itself spans two windows goes alone, as compaction leaves it alone.
fn by_window(run: Vec<Footer>) -> Vec<Vec<Footer>> {
    let window = super::replicate::LEVELS[0];
    let slot = |f: &Footer| {
        let slot = f.start_ms.div_euclid(window);
        (slot == f.end_ms.div_euclid(window)).then_some(slot)
    };
    let mut parts: Vec<Vec<Footer>> = Vec::new();
    for f in run {
        match parts.last_mut() {
            Some(part) if slot(&f).is_some() && slot(&part[0]) == slot(&f) => part.push(f),
            _ => parts.push(vec![f]),
        }
    }
    parts
}

/// Uploads the segments `footers` (consecutive, of one chain) as one object, through the
/// copies' transforms, sealed; returns its name on the disk.
fn upload(target: &Target, dir: &Path, disk: &dyn Disk, footers: &[Footer]) -> Result<String> {
    let t = target.settings.transforms()?;
    if !target.keys.can_seal() {
        return Err(Error::NoAppKey);
    }
    let merged;
    let src = if footers.len() == 1 {
        dir.join(footers[0].name())
    } else {
        merged = segment::merge(dir, footers, &target.keys)?.0;
        merged.path().to_path_buf()
    };
    let base = match footers {
        [one] => one.name(),
        [first, .., last] => changes::name(&first.chain, first.first, last.last),
        [] => unreachable!("a run is never empty"),
    };
    let name = format!("{}/{base}{}", changes::DIR, t.suffix());
    let (sha256, plain_size) = seal::hash_file(&src)?;
    let copied = if t.is_none() {
        let s = target.keys.seal(&name, plain_size, sha256, plain_size)?;
        disk.put(&src, &name, &s)?
    } else {
        let mut staged = Staged::new(dir, plain_size)?;
        transform::encode(&src, staged.file_mut(), &t)?;
        let (sha256, size) = seal::hash_file(staged.path())?;
        let s = target.keys.seal(&name, size, sha256, plain_size)?;
        disk.put(staged.path(), &name, &s)?
    };
    Ok(copied.name)
}

/// Segments this small (most: a second's changes) are compressed and sealed in memory.
const IN_MEMORY: u64 = 32 << 20;

/// Where a segment's copy is made before it goes up. A file created and deleted in the
/// changes folder each second is filesystem journal work beside the app's fsyncs; in memory
/// (a memfd, read back through /proc/self/fd) it is none. Larger ones, and systems without
/// memfd or /proc, use a private file in the folder as before.
enum Staged {
    Memory(File, PathBuf),
    Disk(tempfile::NamedTempFile),
}

impl Staged {
    fn new(dir: &Path, plain_size: u64) -> Result<Staged> {
        if plain_size <= IN_MEMORY {
            if let Some((file, path)) = memory_file() {
                return Ok(Staged::Memory(file, path));
            }
        }
        Ok(Staged::Disk(publish::staging_file(dir)?))
    }

    fn file_mut(&mut self) -> &mut File {
        match self {
            Staged::Memory(file, _) => file,
            Staged::Disk(t) => t.as_file_mut(),
        }
    }

    fn path(&self) -> &Path {
        match self {
            Staged::Memory(_, path) => path,
            Staged::Disk(t) => t.path(),
        }
    }
}

/// An anonymous file in memory, and a path that opens it again (for the hash and the upload,
/// which read paths). Freed when the file is dropped.
fn memory_file() -> Option<(File, PathBuf)> {
    use std::os::fd::{AsRawFd, FromRawFd};
    // Through syscall(), not glibc's memfd_create: the release binaries link against glibc
    // 2.17, which predates that wrapper. A kernel without it (before 3.17) says ENOSYS.
    // SAFETY: a plain system call with a NUL-terminated name; the fd it returns is owned below.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_memfd_create,
            c"db-backup-segment".as_ptr(),
            libc::MFD_CLOEXEC,
        )
    };
    let fd = i32::try_from(fd).ok().filter(|fd| *fd >= 0)?;
    // SAFETY: fd is a new descriptor that nothing else owns.
    let file = unsafe { File::from_raw_fd(fd) };
    let path = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
    path.exists().then_some((file, path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek, Write};

    #[test]
    fn a_segment_staged_in_memory_reads_back_through_its_path_and_is_not_in_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let mut staged = Staged::new(dir.path(), 1000).unwrap();
        assert!(
            matches!(staged, Staged::Memory(..)),
            "memfd and /proc are there"
        );
        staged.file_mut().write_all(b"segment bytes").unwrap();
        let mut back = String::new();
        File::open(staged.path())
            .unwrap()
            .read_to_string(&mut back)
            .unwrap();
        assert_eq!(back, "segment bytes");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        // Past the bound, a private file in the folder, as before.
        let mut big = Staged::new(dir.path(), IN_MEMORY + 1).unwrap();
        assert!(matches!(big, Staged::Disk(..)));
        big.file_mut().write_all(b"x").unwrap();
        big.file_mut().rewind().unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_run_waiting_for_a_disk_goes_up_in_pieces_that_never_cross_a_compaction_window() {
        let seg = |first: u64, start_ms: i64, end_ms: i64| Footer {
            chain: "c".into(),
            first,
            last: first,
            page_size: 4096,
            base_state: 0,
            end_state: 0,
            opened_ms: start_ms,
            start_ms,
            end_ms,
            db_pages: 1,
            pages: 1,
            records: None,
            mark: None,
            follows: None,
        };
        let w = super::super::replicate::LEVELS[0];
        let run = vec![
            seg(1, 1000, 2000),
            seg(2, 2000, 3000),
            // Across the window's end: alone, as compaction leaves it.
            seg(3, w - 500, w + 500),
            seg(4, w + 500, w + 1500),
            seg(5, w + 1500, w + 2500),
            seg(6, 2 * w, 2 * w + 10),
        ];
        let firsts: Vec<Vec<u64>> = by_window(run)
            .iter()
            .map(|p| p.iter().map(|f| f.first).collect())
            .collect();
        assert_eq!(firsts, [vec![1, 2], vec![3], vec![4, 5], vec![6]]);
    }
}
