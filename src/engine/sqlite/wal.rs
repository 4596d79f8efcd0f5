//! Reading a `-wal` file the way SQLite's own recovery does (sqlite.org/fileformat2.html#walformat):
//! a 32-byte header, then frames of a 24-byte header and one page, valid while their salts match
//! the header's and their cumulative checksum holds; a transaction counts once its commit frame
//! (nonzero "database size after commit") is valid.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, ErrorKind, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;

/// Size of the WAL header.
const HEADER: u64 = 32;
/// Size of a frame's header, before its page.
const FRAME_HEADER: usize = 24;
/// The only WAL format version there is (3.7.0); SQLite refuses any other.
const VERSION: u32 = 3_007_000;

/// A valid WAL header: what its frames are checked against.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Header {
    /// Checksums read the content as big-endian words (magic 0x377f0683) or little-endian.
    big_endian: bool,
    page_size: u32,
    /// Salt-1 and salt-2, as stored: a frame belongs to this WAL only if it repeats them.
    salts: [u8; 8],
    /// The header's checksum, which seeds the first frame's.
    checksum: (u32, u32),
    /// The checkpoint sequence number: one more each time the WAL is restarted.
    seq: u32,
}

impl Header {
    /// The database page size the frames carry.
    pub fn page_size(&self) -> u32 {
        self.page_size
    }

    /// The checkpoint sequence number: each restart of the WAL adds one.
    pub fn seq(&self) -> u32 {
        self.seq
    }

    /// Salt-1: SQLite adds one to it at each restart of the WAL (the checkpoint sequence number
    /// is each connection's own count, so it does not tell restarts apart across processes).
    pub fn salt1(&self) -> u32 {
        be32(&self.salts[0..4])
    }

    /// Salt-1 and salt-2, which name this generation of the WAL.
    pub fn salts(&self) -> [u8; 8] {
        self.salts
    }

    /// Whether a frame header (read again later) still belongs to this WAL and holds `pgno`.
    pub fn owns(&self, frame_header: &[u8], pgno: u32) -> bool {
        be32(&frame_header[0..4]) == pgno && frame_header[8..16] == self.salts
    }
}

/// The WAL header at the start of `wal`, or `None` when SQLite would find no WAL content there
/// either (file too short, wrong magic, impossible page size, bad checksum).
pub fn header(wal: &File) -> std::io::Result<Option<Header>> {
    let mut raw = [0u8; HEADER as usize];
    match wal.read_exact_at(&mut raw, 0) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    Ok(parse_header(&raw))
}

fn parse_header(raw: &[u8; HEADER as usize]) -> Option<Header> {
    let magic = be32(&raw[0..4]);
    let page_size = be32(&raw[8..12]);
    if magic & !1 != 0x377f_0682
        || be32(&raw[4..8]) != VERSION
        || !page_size.is_power_of_two()
        || !(512..=65536).contains(&page_size)
    {
        return None;
    }
    let big_endian = magic & 1 == 1;
    let checksum = checksum(big_endian, &raw[..24], (0, 0));
    if checksum != (be32(&raw[24..28]), be32(&raw[28..32])) {
        return None;
    }
    let mut salts = [0u8; 8];
    salts.copy_from_slice(&raw[16..24]);
    Some(Header {
        big_endian,
        page_size,
        salts,
        checksum,
        seq: be32(&raw[12..16]),
    })
}

/// The committed content of a WAL: where the latest version of each page lives, up to the last
/// valid commit frame, and the database size that commit left.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Committed {
    /// Database size in pages after the last commit (0: no committed frame).
    pub db_pages: u32,
    /// (page number, file offset of its latest frame), in file order, pages beyond `db_pages`
    /// left out. Offsets rather than page images: a big WAL is never held in memory.
    pub frames: Vec<(u32, u64)>,
}

/// Reads the frames of `wal` in order while they are valid and notes the committed ones. Stops
/// at the first frame that is torn, from an older WAL generation (other salts), or not part of
/// an unbroken checksum chain; frames after the last commit frame are an unfinished (or rolled
/// back) transaction and are ignored.
pub fn committed(wal: &File, header: &Header) -> std::io::Result<Committed> {
    let mut pos = Position::start(header.clone());
    let txns = follow(wal, &mut pos)?;
    let db_pages = txns.last().map_or(0, |t| t.db_pages);
    let mut latest: HashMap<u32, u64> = HashMap::new();
    for t in &txns {
        latest.extend(t.frames.iter().copied());
    }
    let mut frames: Vec<(u32, u64)> = latest.into_iter().filter(|&(p, _)| p <= db_pages).collect();
    frames.sort_unstable_by_key(|&(_, offset)| offset);
    Ok(Committed { db_pages, frames })
}

/// Where a follower of the WAL stands: just after the last commit frame it took, with the
/// running checksum the next frame must continue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Position {
    pub header: Header,
    /// File offset of the next frame.
    pub offset: u64,
    chain: (u32, u32),
}

impl Position {
    /// Before the first frame of the WAL that `header` starts.
    pub fn start(header: Header) -> Position {
        let chain = header.checksum;
        Position {
            header,
            offset: HEADER,
            chain,
        }
    }

    /// The running checksum, for a position written down and read back.
    pub fn chain(&self) -> (u32, u32) {
        self.chain
    }
}

/// One committed transaction: the database size it left and where the latest version of each
/// page it wrote lies in the WAL (pages past that size left out), in file order.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Txn {
    pub db_pages: u32,
    pub frames: Vec<(u32, u64)>,
    /// Where the next frame starts, and the running checksum there.
    pub end: u64,
    pub chain: (u32, u32),
}

/// The transactions committed after `pos`, in order; `pos` moves past the last whole one. Stops
/// as SQLite's recovery does (a torn frame, other salts, a broken checksum chain); frames of a
/// transaction not yet committed are left for the next call.
pub fn follow(wal: &File, pos: &mut Position) -> std::io::Result<Vec<Txn>> {
    let page_size = pos.header.page_size as usize;
    let mut reader = BufReader::with_capacity(1 << 18, wal);
    reader.seek(SeekFrom::Start(pos.offset))?;
    let mut frame = vec![0u8; FRAME_HEADER + page_size];
    let mut chain = pos.chain;
    let mut offset = pos.offset;
    let mut pending: Vec<(u32, u64)> = Vec::new();
    let mut txns = Vec::new();
    loop {
        match reader.read_exact(&mut frame) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e),
        }
        let pgno = be32(&frame[0..4]);
        if pgno == 0 || frame[8..16] != pos.header.salts {
            break;
        }
        let sum = checksum(pos.header.big_endian, &frame[..8], chain);
        let sum = checksum(pos.header.big_endian, &frame[FRAME_HEADER..], sum);
        if sum != (be32(&frame[16..20]), be32(&frame[20..24])) {
            break;
        }
        chain = sum;
        pending.push((pgno, offset));
        offset += frame.len() as u64;
        let commit = be32(&frame[4..8]);
        if commit != 0 {
            let mut latest: HashMap<u32, u64> = HashMap::new();
            latest.extend(pending.drain(..).filter(|&(p, _)| p <= commit));
            let mut frames: Vec<(u32, u64)> = latest.into_iter().collect();
            frames.sort_unstable_by_key(|&(_, o)| o);
            txns.push(Txn {
                db_pages: commit,
                frames,
                end: offset,
                chain,
            });
            pos.offset = offset;
            pos.chain = chain;
        }
    }
    Ok(txns)
}

/// Reads the page of the frame at `offset` into `page`; false when the frame no longer holds
/// page `pgno` of this WAL (it was restarted and overwritten since).
pub fn read_page(
    wal: &File,
    header: &Header,
    pgno: u32,
    offset: u64,
    frame: &mut Vec<u8>,
) -> std::io::Result<bool> {
    frame.resize(FRAME_HEADER + header.page_size as usize, 0);
    wal.read_exact_at(frame, offset)?;
    Ok(header.owns(&frame[..FRAME_HEADER], pgno))
}

/// The page of a frame read by [`read_page`].
pub fn frame_page(frame: &[u8]) -> &[u8] {
    &frame[FRAME_HEADER..]
}

/// SQLite's WAL checksum (walChecksumBytes): two running sums over pairs of 32-bit words.
fn checksum(big_endian: bool, data: &[u8], (mut s1, mut s2): (u32, u32)) -> (u32, u32) {
    let word = |b: &[u8]| {
        let b = [b[0], b[1], b[2], b[3]];
        if big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    };
    for pair in data.chunks_exact(8) {
        s1 = s1.wrapping_add(word(&pair[..4])).wrapping_add(s2);
        s2 = s2.wrapping_add(word(&pair[4..])).wrapping_add(s1);
    }
    (s1, s2)
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

#[cfg(test)]
pub(super) mod tests {
    //! Real -wal files written by SQLite, some then damaged; the oracle is SQLite's own recovery
    //! reading the same pair of files.

    use super::*;
    use rusqlite::config::DbConfig;
    use rusqlite::Connection;
    use std::path::{Path, PathBuf};

    /// Rows of `t` in a database, with `PRAGMA quick_check` required to pass.
    pub(in crate::engine::sqlite) type Rows = Vec<(i64, Vec<u8>)>;

    pub(in crate::engine::sqlite) fn rows(db: &Path) -> Rows {
        let c = Connection::open(db).unwrap();
        let check: String = c.query_row("PRAGMA quick_check", [], |r| r.get(0)).unwrap();
        assert_eq!(check, "ok", "{}", db.display());
        let mut s = c.prepare("SELECT x, pad FROM t ORDER BY x").unwrap();
        let rows = s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)));
        rows.unwrap().map(|r| r.unwrap()).collect()
    }

    fn xs(rows: &Rows) -> Vec<i64> {
        rows.iter().map(|r| r.0).collect()
    }

    /// A WAL database whose table `t` is in the database file; then `commits` transactions in
    /// the -wal, transaction `i` inserting row `i` and rewriting row `i - 1`, so that pages have
    /// several versions. The -wal is left in place (no checkpoint on close).
    fn wal_pair(dir: &Path, commits: i64) -> (PathBuf, PathBuf) {
        let db = dir.join("live.db");
        let c = Connection::open(&db).unwrap();
        c.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
            .unwrap();
        c.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0;
             CREATE TABLE t(x INTEGER PRIMARY KEY, pad BLOB);
             PRAGMA wal_checkpoint(TRUNCATE);",
        )
        .unwrap();
        for i in 1..=commits {
            commit_row(&c, i);
        }
        (db.clone(), wal_of(&db))
    }

    fn commit_row(c: &Connection, i: i64) {
        c.execute_batch(&format!(
            "BEGIN; INSERT INTO t VALUES ({i}, randomblob(3000));
             UPDATE t SET pad = randomblob(3000) WHERE x = {i} - 1; COMMIT;"
        ))
        .unwrap();
    }

    fn wal_of(db: &Path) -> PathBuf {
        let mut p = db.as_os_str().to_owned();
        p.push("-wal");
        PathBuf::from(p)
    }

    /// What SQLite makes of this database file and -wal: it recovers the -wal into a fresh
    /// -shm, as after a crash.
    fn sqlite_reads(db: &Path, wal: &Path) -> Rows {
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join("oracle.db");
        std::fs::copy(db, &copy).unwrap();
        std::fs::copy(wal, wal_of(&copy)).unwrap();
        rows(&copy)
    }

    /// What our reading makes of them: the committed frames written over the database file, cut
    /// to the commit's size, switched to rollback-journal mode.
    fn we_read(db: &Path, wal: &Path) -> (Option<Header>, Committed, Rows) {
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join("ours.db");
        std::fs::copy(db, &copy).unwrap();
        let out = File::options().write(true).open(&copy).unwrap();
        let wal = File::open(wal).unwrap();
        let header = header(&wal).unwrap();
        let mut found = Committed::default();
        if let Some(h) = &header {
            found = committed(&wal, h).unwrap();
            let size = u64::from(h.page_size);
            let mut frame = vec![0u8; FRAME_HEADER + size as usize];
            for &(pgno, offset) in &found.frames {
                wal.read_exact_at(&mut frame, offset).unwrap();
                assert!(h.owns(&frame, pgno));
                out.write_all_at(&frame[FRAME_HEADER..], u64::from(pgno - 1) * size)
                    .unwrap();
            }
            if found.db_pages > 0 {
                out.set_len(u64::from(found.db_pages) * size).unwrap();
            }
        }
        out.write_all_at(&[1, 1], 18).unwrap();
        drop(out);
        (header, found, rows(&copy))
    }

    /// Reads, changes and writes back part of a file.
    fn edit(path: &Path, f: impl FnOnce(&mut Vec<u8>)) {
        let mut bytes = std::fs::read(path).unwrap();
        f(&mut bytes);
        std::fs::write(path, bytes).unwrap();
    }

    fn frame_size(wal: &Path) -> usize {
        let bytes = std::fs::read(wal).unwrap();
        FRAME_HEADER + be32(&bytes[8..12]) as usize
    }

    /// Offsets of the frames of the -wal, and whether each is a commit frame.
    fn frames(wal: &Path) -> Vec<(usize, bool)> {
        let bytes = std::fs::read(wal).unwrap();
        let size = frame_size(wal);
        (HEADER as usize..bytes.len() - size + 1)
            .step_by(size)
            .map(|at| (at, be32(&bytes[at + 4..at + 8]) != 0))
            .collect()
    }

    /// Offset of the first frame of the `n`th transaction (1-based) in the -wal.
    fn first_frame_of(wal: &Path, n: usize) -> usize {
        let mut commits = 0;
        let mut start = HEADER as usize;
        for (at, commit) in frames(wal) {
            if commits == n - 1 {
                return start.min(at);
            }
            if commit {
                commits += 1;
                start = at + frame_size(wal);
            }
        }
        panic!("no transaction {n}")
    }

    #[test]
    fn reads_the_committed_frames_as_sqlite_does() {
        let dir = tempfile::tempdir().unwrap();
        let (db, wal) = wal_pair(dir.path(), 6);
        let expected = sqlite_reads(&db, &wal);
        assert_eq!(xs(&expected), [1, 2, 3, 4, 5, 6]);
        let (header, found, ours) = we_read(&db, &wal);
        // SQLite writes the checksums in the machine's byte order.
        assert_eq!(header.unwrap().big_endian, cfg!(target_endian = "big"));
        assert_eq!(ours, expected);
        assert!(
            found.frames.len() < frames(&wal).len(),
            "older page versions are skipped"
        );
    }

    /// Rewrites a -wal with its checksums in the other byte order, as a machine of the other
    /// endianness would have written it.
    fn swap_byte_order(wal: &Path) {
        edit(wal, |b| {
            let big = be32(&b[0..4]) & 1 == 0;
            b[0..4].copy_from_slice(&(0x377f_0682 | u32::from(big)).to_be_bytes());
            let mut sum = checksum(big, &b[..24], (0, 0));
            b[24..28].copy_from_slice(&sum.0.to_be_bytes());
            b[28..32].copy_from_slice(&sum.1.to_be_bytes());
            let size = FRAME_HEADER + be32(&b[8..12]) as usize;
            let mut at = HEADER as usize;
            while at + size <= b.len() {
                sum = checksum(big, &b[at..at + 8], sum);
                sum = checksum(big, &b[at + FRAME_HEADER..at + size], sum);
                b[at + 16..at + 20].copy_from_slice(&sum.0.to_be_bytes());
                b[at + 20..at + 24].copy_from_slice(&sum.1.to_be_bytes());
                at += size;
            }
        });
    }

    #[test]
    fn checksums_in_either_byte_order() {
        let dir = tempfile::tempdir().unwrap();
        let (db, wal) = wal_pair(dir.path(), 4);
        let native = sqlite_reads(&db, &wal);
        swap_byte_order(&wal);
        // SQLite's recovery accepts every frame of the rewritten file: the rewrite is right.
        assert_eq!(sqlite_reads(&db, &wal), native);
        let (header, _, ours) = we_read(&db, &wal);
        assert_eq!(header.unwrap().big_endian, cfg!(target_endian = "little"));
        assert_eq!(ours, native);
        // The same checksums read in the wrong order: the header itself is refused.
        edit(&wal, |b| b[3] ^= 1);
        assert_eq!(sqlite_reads(&db, &wal), []);
        let (header, found, ours) = we_read(&db, &wal);
        assert_eq!((header, found, ours), (None, Committed::default(), vec![]));
    }

    #[test]
    fn a_frame_with_other_salts_ends_the_wal() {
        // What a restarted -wal looks like past its new frames: an older generation.
        let dir = tempfile::tempdir().unwrap();
        let (db, wal) = wal_pair(dir.path(), 6);
        let at = first_frame_of(&wal, 4);
        edit(&wal, |b| b[at + 8] ^= 0x40);
        let expected = sqlite_reads(&db, &wal);
        assert_eq!(xs(&expected), [1, 2, 3]);
        assert_eq!(we_read(&db, &wal).2, expected);
    }

    #[test]
    fn a_broken_checksum_chain_ends_the_wal() {
        let dir = tempfile::tempdir().unwrap();
        let (db, wal) = wal_pair(dir.path(), 6);
        let at = first_frame_of(&wal, 5);
        edit(&wal, |b| b[at + FRAME_HEADER + 100] ^= 1);
        let expected = sqlite_reads(&db, &wal);
        assert_eq!(xs(&expected), [1, 2, 3, 4]);
        assert_eq!(we_read(&db, &wal).2, expected);
    }

    #[test]
    fn a_torn_last_frame_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let (db, wal) = wal_pair(dir.path(), 5);
        let len = std::fs::metadata(&wal).unwrap().len();
        File::options()
            .write(true)
            .open(&wal)
            .unwrap()
            .set_len(len - 100)
            .unwrap();
        let expected = sqlite_reads(&db, &wal);
        assert_eq!(xs(&expected), [1, 2, 3, 4]);
        assert_eq!(we_read(&db, &wal).2, expected);
    }

    #[test]
    fn frames_after_the_last_commit_are_ignored() {
        // A transaction bigger than the page cache spills pages into the -wal before its
        // commit: they are valid frames without a commit frame after them.
        let dir = tempfile::tempdir().unwrap();
        let (db, wal) = wal_pair(dir.path(), 3);
        let committed_frames = frames(&wal).len();
        let c = Connection::open(&db).unwrap();
        c.execute_batch(
            "PRAGMA cache_size=5; BEGIN;
             UPDATE t SET pad = randomblob(3000);
             WITH RECURSIVE n(i) AS (SELECT 100 UNION ALL SELECT i + 1 FROM n WHERE i < 300)
             INSERT INTO t SELECT i, randomblob(3000) FROM n;",
        )
        .unwrap();
        let spilled = frames(&wal);
        assert!(
            spilled.len() > committed_frames + 50,
            "the transaction spilled"
        );
        assert!(!spilled.last().unwrap().1, "no commit frame yet");
        let (snap_db, snap_wal) = (dir.path().join("snap.db"), dir.path().join("snap.db-wal"));
        std::fs::copy(&db, &snap_db).unwrap();
        std::fs::copy(&wal, &snap_wal).unwrap();
        drop(c);
        let expected = sqlite_reads(&snap_db, &snap_wal);
        assert_eq!(xs(&expected), [1, 2, 3]);
        let (_, found, ours) = we_read(&snap_db, &snap_wal);
        assert_eq!(ours, expected);
        let last = found.frames.iter().map(|f| f.1).max().unwrap() as usize;
        assert!(last < spilled[committed_frames].0, "{found:?}");
    }
}
