//! Point in time: chains read back from their segments, the point a backup holds found by its
//! state checksum, and the transactions after it applied to a copy of it.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::segment::{self, Footer, Records};
use crate::error::{Error, Result};
use crate::store::remote::seal::Keys;

/// One restorable point of a chain: the database after transaction `seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Point {
    pub seq: u64,
    /// When the transaction was seen (Unix milliseconds).
    pub time_ms: i64,
    /// For what a run found at its start, committed while no replicate ran: the time of the
    /// point before, after which it was committed, when exactly is not known.
    pub since_ms: Option<i64>,
    pub state: u64,
}

/// A run of segments without a gap, and every point they hold (the first one is the state
/// before the first transaction).
#[derive(Debug)]
pub struct Chain {
    pub id: String,
    pub page_size: u32,
    pub segments: Vec<(PathBuf, Footer)>,
    pub points: Vec<Point>,
    /// The chain this one follows, as its opening segment says.
    pub follows: Option<segment::Follows>,
}

/// The chains the segment files `files` make up. Each file is checked whole (SHA-256 and its
/// seal) first; one that fails, or a gap, ends its chain there, with a warning.
pub fn chains(files: &[PathBuf], keys: &Keys, warnings: &mut Vec<String>) -> Result<Vec<Chain>> {
    let mut by_chain: BTreeMap<String, Vec<(PathBuf, Footer)>> = BTreeMap::new();
    for (path, verified) in files.iter().zip(verify_all(files, keys)) {
        match verified {
            Ok(f) => by_chain
                .entry(f.chain.clone())
                .or_default()
                .push((path.clone(), f)),
            Err(e) => warnings.push(format!("passed over {}: {e}", path.display())),
        }
    }
    let mut out = Vec::new();
    for (id, mut segs) in by_chain {
        // Widest first at each start, then drop what a wider one already holds (a compaction
        // whose small segments were not deleted yet).
        // An empty opening segment first: it dates the chain's start.
        let key = |f: &Footer| (f.first, f.commits() > 0, std::cmp::Reverse(f.last));
        segs.sort_by_key(|s| key(&s.1));
        let mut kept: Vec<(PathBuf, Footer)> = Vec::new();
        for s in segs {
            if let Some(prev) = kept.last() {
                if s.1.last <= prev.1.last {
                    continue;
                }
                if s.1.first != prev.1.last + 1
                    || s.1.base_state != prev.1.end_state
                    || s.1.page_size != prev.1.page_size
                {
                    warnings.push(format!(
                        "chain {id} has a gap after transaction {} (next segment: {}): points after it are not restorable",
                        prev.1.last,
                        s.0.display()
                    ));
                    break;
                }
            }
            kept.push(s);
        }
        let first = &kept[0].1;
        let mut points = vec![Point {
            seq: first.first - 1,
            time_ms: first.opened_ms,
            since_ms: None,
            state: first.base_state,
        }];
        for (path, footer) in &kept {
            let mut r = Records::open(path, footer)?;
            let mut seq = footer.first;
            while let Some(c) = r.next_commit()? {
                r.skip_pages(c.count)?;
                let before = points.last().map_or(c.time_ms, |p: &Point| p.time_ms);
                points.push(Point {
                    seq,
                    time_ms: c.time_ms,
                    since_ms: c.resumed.then_some(before),
                    state: r.state()?,
                });
                seq += 1;
            }
        }
        out.push(Chain {
            id,
            page_size: first.page_size,
            follows: first.follows.clone(),
            points,
            segments: kept,
        });
    }
    Ok(out)
}

/// [`segment::verify`] of each file, in order, on every core (each takes the next file:
/// a compacted segment can be a thousand times the size of a live one). Reading and hashing a
/// day of segments is most of what `--at` adds before the changes are applied, and what
/// replicate does first when it starts.
pub fn verify_all(files: &[PathBuf], keys: &Keys) -> Vec<Result<Footer>> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let next = AtomicUsize::new(0);
    let out: Mutex<Vec<Option<Result<Footer>>>> = Mutex::new(files.iter().map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..workers.min(files.len()) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(path) = files.get(i) else { break };
                let verified = segment::verify(path, keys);
                out.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(verified);
            });
        }
    });
    out.into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(Error::CheckFailed("not verified".into()))))
        .collect()
}

impl Chain {
    /// The newest point at or before `at_ms`.
    pub fn at(&self, at_ms: i64) -> Option<Point> {
        self.points
            .iter()
            .rev()
            .find(|p| p.time_ms <= at_ms)
            .copied()
    }

    /// The stretch `(since, seen)` around `at_ms` in which changes were committed while no
    /// replicate ran: which of them came before `at_ms` is not known, so no point there is
    /// exact.
    pub fn unknown(&self, at_ms: i64) -> Option<(i64, i64)> {
        self.points
            .iter()
            .filter_map(|p| p.since_ms.map(|s| (s, p.time_ms)))
            .find(|&(since, seen)| since < at_ms && at_ms < seen)
    }

    /// The newest point at or before `at_ms` whose state is `state`.
    pub fn find(&self, state: u64, at_ms: i64) -> Option<Point> {
        self.points
            .iter()
            .rev()
            .find(|p| p.state == state && p.time_ms <= at_ms)
            .copied()
    }

    pub fn start_ms(&self) -> i64 {
        self.points[0].time_ms
    }

    pub fn end_ms(&self) -> i64 {
        self.points.last().map_or(0, |p| p.time_ms)
    }

    /// Applies transactions `from.seq + 1 ..= to.seq` to `dest`, a copy of the database at
    /// `from`; returns how many. The state checksum of the result is the caller's to check.
    pub fn apply(&self, from: Point, to: Point, dest: &File, dest_path: &Path) -> Result<u64> {
        let ps = u64::from(self.page_size);
        let (mut page, mut bytes) = (Vec::new(), Vec::new());
        let mut applied = 0;
        // Resized only when a transaction changes the page count: a truncate to the same size
        // is still a metadata change for the filesystem, tens of thousands of them in a day.
        let mut len = dest
            .metadata()
            .map_err(|e| Error::io("cannot read", dest_path)(e))?
            .len();
        for (path, footer) in &self.segments {
            if footer.last <= from.seq || footer.first > to.seq {
                continue;
            }
            let mut r = Records::open(path, footer)?;
            let mut seq = footer.first;
            while let Some(c) = r.next_commit()? {
                if seq > to.seq {
                    break;
                }
                if seq <= from.seq {
                    r.skip_pages(c.count)?;
                    r.state()?;
                    seq += 1;
                    continue;
                }
                for _ in 0..c.count {
                    let (pgno, whole) = r.page(&mut bytes)?;
                    if pgno == 0 || pgno > c.db_pages {
                        return Err(Error::CheckFailed(format!(
                            "{}: page {pgno} lies outside the database",
                            path.display()
                        )));
                    }
                    let at = u64::from(pgno - 1) * ps;
                    let page = if whole {
                        &bytes
                    } else {
                        // Changes to the page as the transactions before this one left it.
                        if at + ps > len {
                            return Err(Error::CheckFailed(format!(
                                "{}: page {pgno} is changed before it exists",
                                path.display()
                            )));
                        }
                        page.resize(ps as usize, 0);
                        dest.read_exact_at(&mut page, at)
                            .map_err(|e| Error::io("cannot read", dest_path)(e))?;
                        super::delta::apply(&bytes, &mut page).map_err(|why| {
                            Error::CheckFailed(format!("{}: page {pgno}: {why}", path.display()))
                        })?;
                        &page
                    };
                    dest.write_all_at(page, at)
                        .map_err(|e| Error::io("cannot write", dest_path)(e))?;
                }
                r.state()?;
                let size = u64::from(c.db_pages) * ps;
                if size != len {
                    dest.set_len(size)
                        .map_err(|e| Error::io("cannot write", dest_path)(e))?;
                    len = size;
                }
                seq += 1;
                applied += 1;
            }
        }
        Ok(applied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::sqlite::replicate::segment::tests::{keys, mark};
    use crate::engine::sqlite::replicate::segment::Writer;

    /// A chain of three transactions seen at 2000 and 3000 (live) and 9000 (found by a run's
    /// start, committed while no replicate ran).
    fn resumed_chain(dir: &Path) -> Chain {
        let mark = mark();
        let mut w = Writer::new(dir, None, "00112233aabbccdd", 1, 512, 7, 1, 1000).unwrap();
        for (i, (time, resumed)) in [(2000, false), (3000, false), (9000, true)]
            .into_iter()
            .enumerate()
        {
            w.begin(time, 1, 1, &mark, resumed).unwrap();
            w.page(1, &[i as u8; 512]).unwrap();
            w.end(100 + i as u64).unwrap();
        }
        let (file, footer) = w.finish(&keys()).unwrap();
        let path = dir.join(footer.name());
        file.persist(&path).unwrap();
        let mut warnings = Vec::new();
        let mut all = chains(&[path], &keys(), &mut warnings).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        all.remove(0)
    }

    /// Replaying gives each page its last version, shrinks included: a page past a size the
    /// database shrank to is zero unless written after.
    #[test]
    fn replaying_gives_each_page_its_last_version_and_zero_past_a_shrink() {
        let dir = tempfile::tempdir().unwrap();
        let mark = mark();
        let mut w = Writer::new(dir.path(), None, "00112233aabbccdd", 1, 512, 7, 2, 1000).unwrap();
        // (pages after it, pages written): grow to 3, rewrite 2, shrink to 1, grow to 3
        // writing page 2 only.
        let txns: [(u32, &[(u32, u8)]); 4] = [
            (3, &[(2, 0xa), (3, 0xb)]),
            (3, &[(2, 0xc)]),
            (1, &[(1, 0xd)]),
            (3, &[(2, 0xe)]),
        ];
        for (k, (db, pages)) in txns.iter().enumerate() {
            w.begin(2000 + k as i64, *db, pages.len() as u32, &mark, false)
                .unwrap();
            for (p, b) in pages.iter() {
                w.page(*p, &[*b; 512]).unwrap();
            }
            w.end(100 + k as u64).unwrap();
        }
        let (file, footer) = w.finish(&keys()).unwrap();
        let path = dir.path().join(footer.name());
        file.persist(&path).unwrap();
        let mut warnings = Vec::new();
        let chain = chains(&[path], &keys(), &mut warnings).unwrap().remove(0);
        let page = |b: u8| vec![b; 512];
        for (to, expected) in [
            (2, [page(1), page(0xc), page(0xb)].concat()),
            (3, page(0xd)),
            (4, [page(0xd), page(0xe), page(0)].concat()),
        ] {
            let base = dir.path().join(format!("base-{to}"));
            std::fs::write(&base, [page(1), page(1)].concat()).unwrap();
            let dest = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&base)
                .unwrap();
            let n = chain
                .apply(chain.points[0], chain.points[to], &dest, &base)
                .unwrap();
            assert_eq!(n, to as u64);
            assert_eq!(std::fs::read(&base).unwrap(), expected, "up to {to}");
        }
    }

    /// Pages written as changes replay onto the version the transactions before left; a change
    /// to a page the database no longer holds (a damaged or foreign segment) fails the replay.
    #[test]
    fn changed_pages_replay_onto_their_previous_versions() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = Writer::new(dir.path(), None, "00112233aabbccdd", 1, 512, 7, 2, 1000).unwrap();
        let (v0, mut v1, mut v2) = (vec![1u8; 512], vec![1u8; 512], vec![1u8; 512]);
        v1[10..20].fill(7);
        v2[10..20].fill(7);
        v2[500] = 9;
        // (pages after, page 2 as it was, page 2 now): two changes, a shrink, then a change to
        // page 2 that no longer exists.
        for (k, (db, old, new)) in [(2, &v0, &v1), (2, &v1, &v2), (1, &v2, &v2), (2, &v2, &v1)]
            .into_iter()
            .enumerate()
        {
            let count = u32::from(k != 2);
            w.begin(2000 + k as i64, db, count, &mark(), false).unwrap();
            if count == 1 {
                w.changed_page(2, new, Some(old)).unwrap();
            }
            w.end(100 + k as u64).unwrap();
        }
        let (file, footer) = w.finish(&keys()).unwrap();
        assert!(footer.records.unwrap() < 3 * 512, "the changes went whole");
        let path = dir.path().join(footer.name());
        file.persist(&path).unwrap();
        let chain = chains(&[path], &keys(), &mut Vec::new()).unwrap().remove(0);
        let base = dir.path().join("base");
        let open = || {
            std::fs::write(&base, [&v0[..], &v0[..]].concat()).unwrap();
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&base)
                .unwrap()
        };
        for (to, page2) in [(1, &v1), (2, &v2)] {
            let dest = open();
            chain
                .apply(chain.points[0], chain.points[to], &dest, &base)
                .unwrap();
            assert_eq!(
                std::fs::read(&base).unwrap(),
                [&v0[..], &page2[..]].concat()
            );
        }
        let dest = open();
        let e = chain
            .apply(chain.points[0], chain.points[4], &dest, &base)
            .unwrap_err()
            .to_string();
        assert!(e.contains("page 2 is changed before it exists"), "{e}");
    }

    /// What a run found at its start is dated when it was found, and no point is given between
    /// the transaction before it and then: which of it came before such a time is not known.
    #[test]
    fn a_catch_up_transaction_leaves_no_point_before_it_was_seen() {
        let dir = tempfile::tempdir().unwrap();
        let chain = resumed_chain(dir.path());
        let since: Vec<Option<i64>> = chain.points.iter().map(|p| p.since_ms).collect();
        assert_eq!(since, [None, None, None, Some(3000)]);
        for at in [3001, 5000, 8999] {
            assert_eq!(chain.unknown(at), Some((3000, 9000)), "{at}");
        }
        for at in [1500, 2500, 3000, 9000, 9500] {
            assert_eq!(chain.unknown(at), None, "{at}");
        }
        assert_eq!(chain.at(2500).map(|p| p.seq), Some(1));
        assert_eq!(chain.at(9000).map(|p| p.seq), Some(3));
    }
}
