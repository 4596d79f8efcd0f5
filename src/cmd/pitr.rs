//! Point in time, from continuous backup: `restore --at`, `restore --at --to`, `verify --at`
//! and `list --points`. The newest backup at or before the time that a chain holds (found by
//! its state checksum) is copied into a private folder, the chain's transactions after it are
//! applied up to the time, and the result must match the state checksum recorded there and
//! pass `integrity_check` before anything else happens.

use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};

use crate::engine::sqlite::replicate::pitr::{self, Chain, Point};
use crate::engine::sqlite::replicate::state;
use crate::engine::{sqlite, Connection};
use crate::error::{Error, Result};
use crate::laravel::Target;
use crate::store::{changes, publish, retention};

/// A point built from a backup and a chain, in a private folder (deleted on drop).
pub struct Built {
    pub path: PathBuf,
    _dir: tempfile::TempDir,
    /// When the last transaction applied was seen (or the backup's point).
    pub point_ms: i64,
    pub base: String,
    pub applied: u64,
    pub chain: String,
    /// The chain's newest point, for a TIME past it.
    pub chain_end_ms: i64,
    pub warnings: Vec<String>,
    pub check: Check,
}

/// Where a built point's `integrity_check` runs. Its state checksum is always checked first:
/// it proves the file is, page for page, the app's database at that point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Before anything else (`verify --at`, `restore --at --to`).
    Here,
    /// Beside the safety backup, in place of the `quick_check` a plain restore runs there
    /// (`restore --at` over the live database): it read the whole file on its own before,
    /// the largest part of what `--at` adds to a plain restore. It fails the restore the same
    /// way, before the live database is touched.
    BesideSafetyBackup,
}

/// TIME as the user gave it: RFC 3339, or a wall-clock time in the app's time zone
/// (`YYYY-MM-DD HH:MM[:SS]`, `T` allowed; `HH:MM[:SS]` for today). A wall-clock time covers its
/// whole second (or minute, without seconds): the last millisecond of it is returned.
pub fn parse_time(raw: &str, tz: chrono_tz::Tz) -> Result<i64> {
    let bad = || Error::NoPoint {
        at: raw.to_string(),
        why: "not a time: give `2026-12-06 10:32:05`, `10:32` (today) or RFC 3339".into(),
    };
    let raw_t = raw.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(raw_t) {
        return Ok(t.timestamp_millis());
    }
    let today = Utc::now().with_timezone(&tz).date_naive();
    let (naive, span): (NaiveDateTime, i64) = if let Some((d, t)) = raw_t.split_once([' ', 'T']) {
        let date = NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").map_err(|_| bad())?;
        let (time, span) = clock(t.trim()).ok_or_else(bad)?;
        (date.and_time(time), span)
    } else {
        let (time, span) = clock(raw_t).ok_or_else(bad)?;
        (today.and_time(time), span)
    };
    let local = tz
        .from_local_datetime(&naive)
        .latest()
        .ok_or_else(|| Error::NoPoint {
            at: raw.to_string(),
            why: "that wall-clock time does not exist in the app's time zone (a DST gap)".into(),
        })?;
    Ok(local.timestamp_millis() + span - 1)
}

/// `HH:MM:SS` (a second long) or `HH:MM` (a minute long).
fn clock(t: &str) -> Option<(NaiveTime, i64)> {
    if let Ok(time) = NaiveTime::parse_from_str(t, "%H:%M:%S") {
        return Some((time, 1000));
    }
    NaiveTime::parse_from_str(t, "%H:%M")
        .ok()
        .map(|time| (time, 60_000))
}

/// A time for people, in the app's time zone, to the millisecond.
pub fn show(ms: i64, tz: chrono_tz::Tz) -> String {
    match Utc.timestamp_millis_opt(ms).single() {
        Some(t) => t
            .with_timezone(&tz)
            .format("%Y-%m-%d %H:%M:%S%.3f")
            .to_string(),
        None => ms.to_string(),
    }
}

/// The chains in the app's changes folder.
pub fn local_chains(target: &Target, warnings: &mut Vec<String>) -> Result<Vec<Chain>> {
    let dir = changes::dir(&target.backups_dir);
    let files = changes::scan(&dir).map_err(Error::io("cannot list", &dir))?;
    pitr::chains(&files, &target.keys, warnings)
}

/// A backup a point may start from: where it is, and how to get it as a local file.
struct Candidate {
    name: String,
    taken_at: NaiveDateTime,
    /// On a disk: the object to fetch (None: a file in the backups folder).
    object: Option<crate::store::remote::Object>,
}

/// Builds the database as it was at `at_ms` from the backups folder and its changes, or from
/// those on `disk`.
pub fn build(
    target: &Target,
    raw: &str,
    at_ms: i64,
    disk: Option<&str>,
    check: Check,
) -> Result<Built> {
    if !matches!(target.connection, Connection::Sqlite { .. }) {
        return Err(Error::Unsupported(
            "--at needs continuous backup, which covers SQLite databases (MySQL's binary log comes later)".into(),
        ));
    }
    let mut warnings = Vec::new();
    let opened = match disk {
        Some(name) => Some(super::disks::open(target, name)?),
        None => None,
    };
    // Segments fetched from a disk live in this private folder until the point is built.
    let fetched_dir = match &opened {
        Some(_) => {
            publish::ensure_dir(&target.backups_dir)?;
            Some(publish::fetch_dir(&target.backups_dir)?)
        }
        None => None,
    };
    let (chains, candidates, place) = match (&opened, &fetched_dir) {
        (Some(d), Some(into)) => {
            let files = fetch_segments(target, d.as_ref(), into.path())?;
            let chains = pitr::chains(&files, &target.keys, &mut warnings)?;
            let judge = super::disks::judge(target)?;
            let candidates: Vec<Candidate> = d
                .list()?
                .objects
                .into_iter()
                .filter(|o| judge.trust(o) == crate::store::remote::Trust::Ours)
                .filter(|o| o.backup.name.ends_with(".sqlite"))
                .map(|o| Candidate {
                    name: o.backup.name.clone(),
                    taken_at: o.backup.taken_at,
                    object: Some(o),
                })
                .collect();
            (chains, candidates, format!("disk '{}'", d.name()))
        }
        _ => {
            let chains = local_chains(target, &mut warnings)?;
            let candidates: Vec<Candidate> = retention::scan(&target.backups_dir)?
                .into_iter()
                .filter(|b| b.name.ends_with(".sqlite"))
                .map(|b| Candidate {
                    name: b.name,
                    taken_at: b.taken_at,
                    object: None,
                })
                .collect();
            (
                chains,
                candidates,
                target.display_path(&changes::dir(&target.backups_dir)),
            )
        }
    };
    let no_point = |why: String| Error::NoPoint {
        at: raw.to_string(),
        why,
    };
    if chains.is_empty() {
        return Err(no_point(format!(
            "{place} holds no continuous backup: run `db-backup replicate` (see the README's \"Continuous backup\")"
        )));
    }
    let mut candidates: Vec<Candidate> = candidates
        .into_iter()
        .filter(|c| wall_ms(target, c.taken_at).is_some_and(|t| t <= at_ms))
        .collect();
    candidates.sort_by(|a, b| (b.taken_at, &b.name).cmp(&(a.taken_at, &a.name)));
    for c in &candidates {
        let fetched = match (&c.object, &opened) {
            (Some(o), Some(d)) => Some(super::disks::fetch(target, d.as_ref(), o)?),
            _ => None,
        };
        let path = match &fetched {
            Some(f) => f.path.clone(),
            None => target.backups_dir.join(&c.name),
        };
        let Ok((st, page_size, _)) = state::of_path(&path) else {
            warnings.push(format!(
                "passed over {}: not a readable SQLite file",
                c.name
            ));
            continue;
        };
        // The latest point with the backup's state: a database put back to an earlier state
        // (a restore, a copy) starts a chain whose backup has the state of a point of an older
        // chain too, and from that older point the replay would stop at the break between them.
        // Same state, same pages: any such point is a sound start.
        let found = chains
            .iter()
            .filter(|ch| ch.page_size == page_size)
            .filter_map(|ch| ch.find(st, at_ms).map(|p| (ch, p)))
            .max_by_key(|(_, p)| (p.time_ms, p.seq));
        let Some((chain, from)) = found else { continue };
        // A later chain means this one broke off after its last change: what the app did
        // between that and the later chain's start (a VACUUM, changes while no replicate ran)
        // is not known — unless the run that saw the break says until when it watched this
        // chain — and before the time asked no backup of the later chain comes.
        let watched = |next: &Chain| {
            next.follows
                .as_ref()
                .is_some_and(|f| f.chain == chain.id && at_ms <= f.until_ms)
        };
        if let Some(next) = chains
            .iter()
            .filter(|ch| ch.start_ms() > chain.end_ms())
            .min_by_key(|ch| ch.start_ms())
            .filter(|next| at_ms > chain.end_ms() && !watched(next))
        {
            return Err(no_point(format!(
                "it falls in a break of continuous backup: chain {} ends with a change seen at {} and chain {} starts at {}, from a backup made after the time asked; what the app did in between is known only as of {}",
                chain.id,
                show(chain.end_ms(), target.tz),
                next.id,
                show(next.start_ms(), target.tz),
                show(next.start_ms(), target.tz)
            )));
        }
        if let Some((since, seen)) = chain.unknown(at_ms) {
            return Err(no_point(format!(
                "it falls in a break of continuous backup: replicate was not running for a while between {} and {}, and what the app committed then is known only as of {}; ask for a time outside it",
                show(since, target.tz),
                show(seen, target.tz),
                show(seen, target.tz)
            )));
        }
        let to = chain.at(at_ms).unwrap_or(from);
        return make(target, chain, (&path, &c.name), (from, to), warnings, check);
    }
    let oldest = chains.iter().map(|c| c.start_ms()).min().unwrap_or(0);
    Err(no_point(if at_ms < oldest {
        format!("continuous backup starts at {}", show(oldest, target.tz))
    } else {
        "no backup at or before it is part of a chain of continuous backup (made with --exclude-data, or before replicate ran)".into()
    }))
}

/// How much a segment fetched from a disk may decompress to, per byte stored: pages compress
/// well, a bomb stops there (its seal, checked next, would refuse it anyway).
const SEGMENT_EXPANSION: u64 = 4096;

/// Downloads every segment on `disk` into `into` (0700), undoing the copies' transforms.
fn fetch_segments(
    target: &Target,
    disk: &dyn crate::store::remote::Disk,
    into: &Path,
) -> Result<Vec<PathBuf>> {
    use std::os::unix::fs::OpenOptionsExt;
    let create = |p: &Path| {
        std::fs::OpenOptions::new()
            .write(true)
            .read(true)
            .create_new(true)
            .mode(0o600)
            .open(p)
            .map_err(Error::io("cannot create", p))
    };
    let t = target.settings.transforms()?;
    let mut out = Vec::new();
    for (name, size) in disk.list_changes()? {
        let Some((chain, first, last, _)) = crate::store::remote::parse_segment(&name) else {
            continue;
        };
        let base = changes::name(&chain, first, last);
        let raw = into.join(format!("{base}.raw"));
        let mut file = create(&raw)?;
        disk.get(&name, &mut file, size)?;
        drop(file);
        let path = into.join(&base);
        let undo = t.for_copy(&name)?;
        let mut src = std::fs::File::open(&raw).map_err(Error::io("cannot open", &raw))?;
        let mut dst = create(&path)?;
        let mut bounded = crate::store::remote::HashingWriter::new(
            &mut dst,
            size.saturating_mul(SEGMENT_EXPANSION).max(1 << 20),
        );
        crate::store::transform::decode(&mut src, &mut bounded, &undo)?;
        let _ = std::fs::remove_file(&raw);
        out.push(path);
    }
    Ok(out)
}

fn wall_ms(target: &Target, at: NaiveDateTime) -> Option<i64> {
    target
        .tz
        .from_local_datetime(&at)
        .earliest()
        .map(|t| t.timestamp_millis())
}

fn make(
    target: &Target,
    chain: &Chain,
    (base, base_name): (&Path, &str),
    (from, to): (Point, Point),
    warnings: Vec<String>,
    check: Check,
) -> Result<Built> {
    publish::ensure_dir(&target.backups_dir)?;
    let dir = publish::fetch_dir(&target.backups_dir)?;
    let stamp = Utc
        .timestamp_millis_opt(to.time_ms)
        .single()
        .map(|t| t.with_timezone(&target.tz).naive_local())
        .unwrap_or_default();
    let path = dir
        .path()
        .join(retention::file_name(stamp, crate::store::Kind::Sqlite));
    std::fs::copy(base, &path).map_err(Error::io("cannot write", &path))?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .map_err(Error::io("cannot open", &path))?;
    let applied = chain.apply(from, to, &file, &path)?;
    // A self-contained rollback-journal file, as every backup is. Not fsynced: it is a
    // private scratch file, copied to where it goes (`--to`, or over the live database) by
    // code that makes that copy durable; flushing it too wrote the whole database once more.
    use std::os::unix::fs::FileExt;
    file.write_all_at(&[1, 1], 18)
        .map_err(Error::io("cannot write", &path))?;
    drop(file);
    // The state checksum and integrity_check both read the whole file: side by side.
    let reading = path.clone();
    let summing = std::thread::spawn(move || state::of_path(&reading));
    let checked = match check {
        Check::Here => sqlite::check::integrity_private(&path).map(drop),
        Check::BesideSafetyBackup => Ok(()),
    };
    let (st, _, _) = summing
        .join()
        .unwrap_or_else(|_| Err(Error::CheckFailed("the checksum thread panicked".into())))?;
    if st != to.state {
        return Err(Error::CheckFailed(format!(
            "the database rebuilt for {} does not match the state checksum recorded there ({st:016x}, expected {:016x}): nothing was restored",
            show(to.time_ms, target.tz),
            to.state
        )));
    }
    checked?;
    Ok(Built {
        path,
        _dir: dir,
        point_ms: to.time_ms,
        base: base_name.to_string(),
        applied,
        chain: chain.id.clone(),
        chain_end_ms: chain.end_ms(),
        warnings,
        check,
    })
}

/// `restore --at TIME --to PATH`: the built point published under PATH (never overwriting).
pub fn write_to(built: Built, to: &Path) -> Result<PathBuf> {
    let dir = to
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = to
        .file_name()
        .ok_or_else(|| Error::Unsupported(format!("--to {}: not a file name", to.display())))?
        .to_owned();
    if to.exists() {
        return Err(Error::Unsupported(format!(
            "--to {}: the file exists; db-backup never overwrites it (pick a new name)",
            to.display()
        )));
    }
    let staged = publish::staging_file(dir)?;
    std::fs::copy(&built.path, staged.path()).map_err(Error::io("cannot write", staged.path()))?;
    let name = name.to_string_lossy().to_string();
    publish::publish(staged, dir, || name.clone())
}

/// One chain as `list --points` shows it.
#[derive(Debug, serde::Serialize)]
pub struct Window {
    pub chain: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub transactions: u64,
    pub segments: usize,
    pub bytes: u64,
    /// The oldest backup made while the chain ran: restores can start from its time. Judged by
    /// the backup's name; `verify --at` proves a point.
    pub restorable_from: Option<(i64, String)>,
}

/// The restorable windows of the app's backups folder.
pub fn windows(target: &Target, warnings: &mut Vec<String>) -> Result<Vec<Window>> {
    let chains = local_chains(target, warnings)?;
    let backups = retention::scan(&target.backups_dir)?;
    let mut out: Vec<Window> = chains
        .iter()
        .map(|c| {
            let from = backups
                .iter()
                .filter(|b| b.name.ends_with(".sqlite"))
                .filter_map(|b| Some((wall_ms(target, b.taken_at)?, b.name.clone())))
                .filter(|(t, _)| *t >= c.start_ms() - 1000 && *t <= c.end_ms())
                .min();
            Window {
                chain: c.id.clone(),
                start_ms: c.start_ms(),
                end_ms: c.end_ms(),
                transactions: c.points.len() as u64 - 1,
                segments: c.segments.len(),
                bytes: c
                    .segments
                    .iter()
                    .map(|(p, _)| std::fs::metadata(p).map_or(0, |m| m.len()))
                    .sum(),
                restorable_from: from,
            }
        })
        .collect();
    out.sort_by_key(|w| w.start_ms);
    Ok(out)
}
