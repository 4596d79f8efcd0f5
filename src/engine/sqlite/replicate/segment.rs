//! A segment: the transactions continuous backup saw over one sync interval (or, compacted,
//! over several), each with the time it was seen, the pages it wrote and the state checksum of
//! the database after it. One file, written privately and published whole:
//!
//! ```text
//! "DBBCHG04", preamble length:u32, preamble (JSON: chain, first, page size, base state…)
//! records, compressed: one or more zstd frames, which decompress to, per transaction:
//!   'C' (or 'R') time_ms:i64 db_pages:u32 count:u32 mark (salts[8] seq:u32 offset:u64
//!   chain:u32×2), count × (pgno:u32 size:u32 bytes), state:u64, XXH3 of the record:u64
//! footer (JSON), footer length:u32
//! SHA-256 of all the above (32 bytes), then its seal: 64 hex digits of HMAC-SHA256
//! ```
//!
//! 'R' marks what a run found at its start, committed while no replicate ran: its time is when
//! it was found, and it may have been committed any time after the transaction before it.
//! Each record carries where the -wal reader stood after it and its own hash, so that a segment
//! being written when replicate was killed (the spool) can be taken up to its last whole record
//! by the next run: nothing seen is lost to a kill -9.
//! A page's bytes are the page whole when `size` is the page size, else the runs that change
//! its previous version into it (see `delta`): most transactions change a few rows of a page.
//! The records are compressed as they are written, flushed at each transaction's end (so the
//! spool holds every whole record): about 2.7 times fewer bytes on the bench's writer, on the
//! disk beside the app's commits, in each merge and up to the disks. A merge copies the frames
//! of the segments it merges as they are: a segment may hold several frames, read as one
//! stream.
//! Files of version 3 ("DBBCHG03") hold the same records uncompressed; files of version 2
//! ("DBBCHG02", before deltas) hold `pgno page` entries, whole pages only. Both are still
//! read, and compaction rewrites their records as version 4.
//! Integers are little-endian. The seal is made with the key derived from APP_KEY, as copies'
//! seals are: a segment someone else planted or changed is refused before a page is applied.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use std::hash::Hasher;

use serde::{Deserialize, Serialize};
use tempfile::NamedTempFile;
use twox_hash::XxHash3_64;

use crate::error::{Error, Result};
use crate::store::publish;
use crate::store::remote::seal::Keys;

const MAGIC: &[u8; 8] = b"DBBCHG04";
/// Segments written before their records were compressed: read, never written.
const MAGIC_V3: &[u8; 8] = b"DBBCHG03";
/// Segments written before page deltas: read, never written.
const MAGIC_V2: &[u8; 8] = b"DBBCHG02";
/// zstd's level for the records: a fast one, which already takes a second's records at the
/// bench's 500 tx/s from 630 to about 230 KB (21.9 → 8.1 MB of segments in 35 s, by hand).
const LEVEL: i32 = 1;

/// A segment file's format, from its magic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    V2,
    V3,
    V4,
}

impl Version {
    fn of(magic: &[u8]) -> Option<Version> {
        match magic.get(..8)? {
            m if m == MAGIC => Some(Version::V4),
            m if m == MAGIC_V3 => Some(Version::V3),
            m if m == MAGIC_V2 => Some(Version::V2),
            _ => None,
        }
    }

    /// Page entries say their size (page deltas): version 3 on.
    fn sized(self) -> bool {
        self != Version::V2
    }
}
/// 'C', time, db_pages, count, then the mark.
const HEAD: usize = 17 + MARK;
/// salts, seq, offset, chain.
const MARK: usize = 8 + 4 + 8 + 8;
/// state and the record's hash.
const TAIL: usize = 16;
/// The name of the segment being written by replicate: taken up by the next run if killed.
pub const SPOOL: &str = ".replicate-spool";
/// What the seal of a segment is made over, besides its length and digest.
const SEAL_NAME: &str = "db-backup changes v1";
/// A page's entry head: pgno, then the size of what follows.
const ENTRY: usize = 8;
/// SHA-256 and the hex seal after the footer length.
const TRAILER: u64 = 32 + 64;
/// A footer is small; anything larger is not ours.
const MAX_FOOTER: u32 = 64 << 10;

/// Where the WAL follower stood after a segment's last transaction: lets a restarted replicate
/// go on from there without reading the whole database, when the WAL still holds it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Mark {
    pub salts: String,
    pub seq: u32,
    pub offset: u64,
    pub chain: (u32, u32),
    /// The database file's inode: a file put in its place starts a new chain.
    pub inode: u64,
}

/// What a segment holds, read without its pages.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Footer {
    /// The chain it belongs to: 16 hex digits, new at each break.
    pub chain: String,
    /// Sequence numbers of its first and last transaction in the chain (a chain's opening
    /// segment holds none: `last == first - 1`).
    pub first: u64,
    pub last: u64,
    pub page_size: u32,
    /// State checksum before the first transaction, and after the last.
    pub base_state: u64,
    pub end_state: u64,
    /// When the segment was opened: its base state was the database's then (Unix ms).
    pub opened_ms: i64,
    /// When the first and last transaction were seen (Unix milliseconds); an empty segment's
    /// both are its opening.
    pub start_ms: i64,
    pub end_ms: i64,
    /// Database size in pages after the last transaction.
    pub db_pages: u32,
    /// Page images held (whole or as changes).
    pub pages: u64,
    /// Bytes of its records (version 3; a version 2 file's follow from its counts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records: Option<u64>,
    pub mark: Option<Mark>,
    /// On a chain's opening segment, begun by the run that saw the chain before it break: that
    /// one, and until when it was watched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follows: Option<Follows>,
}

/// The chain a new one follows, watched until `until_ms` (Unix ms): up to then, that chain's
/// last state was the database's.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Follows {
    pub chain: String,
    pub until_ms: i64,
}

impl Footer {
    /// The file name this segment is published under.
    pub fn name(&self) -> String {
        crate::store::changes::name(&self.chain, self.first, self.last)
    }

    /// How many transactions it holds.
    pub fn commits(&self) -> u64 {
        (self.last + 1).saturating_sub(self.first)
    }
}

/// What a segment starts with: enough to take up a spool left by a killed run.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Preamble {
    pub chain: String,
    pub first: u64,
    pub page_size: u32,
    pub base_state: u64,
    pub db_pages: u32,
    pub opened_ms: i64,
}

impl Mark {
    fn to_bytes(&self) -> [u8; MARK] {
        let mut b = [0u8; MARK];
        let salts = unhex8(&self.salts);
        b[..8].copy_from_slice(&salts);
        b[8..12].copy_from_slice(&self.seq.to_le_bytes());
        b[12..20].copy_from_slice(&self.offset.to_le_bytes());
        b[20..24].copy_from_slice(&self.chain.0.to_le_bytes());
        b[24..28].copy_from_slice(&self.chain.1.to_le_bytes());
        b
    }

    fn from_bytes(b: &[u8], inode: u64) -> Mark {
        let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap());
        Mark {
            salts: crate::store::remote::seal::hex(&b[..8]),
            seq: u32_at(8),
            offset: u64::from_le_bytes(b[12..20].try_into().unwrap()),
            chain: (u32_at(20), u32_at(24)),
            inode,
        }
    }
}

fn unhex8(text: &str) -> [u8; 8] {
    let mut out = [0u8; 8];
    for (i, o) in out.iter_mut().enumerate() {
        *o = text
            .get(2 * i..2 * i + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .unwrap_or(0);
    }
    out
}

/// A segment being written: into a private temporary file, or into the spool.
pub struct Writer {
    /// Written through the file itself: NamedTempFile's own writes wrap errors with the path
    /// and lose the OS code that tells a full disk. Its pages go to the disk at the fsync that
    /// publishes it, once a sync: sent on their way at every look (20 a second, to spread that
    /// fsync), they met more of the app's own fsyncs (by hand, 9 alternating rounds of 30 s at
    /// 500 tx/s, pooled: the app's p99 was 1.21x what it is without replicate, 1.13x since).
    out: BufWriter<File>,
    staged: NamedTempFile,
    footer: Footer,
    /// Pages still expected in the transaction being written.
    open: u32,
    record: XxHash3_64,
    /// The database file's inode, for the marks read back.
    inode: u64,
    /// SHA-256 of every byte written, for the seal: hashed as it goes rather than read back
    /// (a compaction would otherwise read its whole output once more).
    digest: ring::digest::Context,
    written: u64,
    /// Where the records start (after the magic and the preamble).
    records_from: u64,
    /// A page's changes, before they are written.
    delta: Vec<u8>,
    /// The records' compressor; `framing` while a frame is open (records written since the
    /// last frame's end), `squeezed` its output before it is written.
    zstd: zstd::stream::raw::Encoder<'static>,
    framing: bool,
    squeezed: Vec<u8>,
}

impl Writer {
    /// A segment of chain `chain` whose first transaction will be number `first`, over a
    /// database whose state is `base_state` and size `db_pages`. With `spool`, it is written
    /// under that fixed name (see [`SPOOL`]), else under a temporary one.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        dir: &Path,
        spool: Option<&str>,
        chain: &str,
        first: u64,
        page_size: u32,
        base_state: u64,
        db_pages: u32,
        now_ms: i64,
    ) -> Result<Writer> {
        let staged = match spool {
            None => publish::staging_file(dir)?,
            Some(name) => {
                use std::os::unix::fs::OpenOptionsExt;
                let path = dir.join(name);
                let file = std::fs::OpenOptions::new()
                    .write(true)
                    .read(true)
                    .create_new(true)
                    .mode(0o600)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&path)
                    .map_err(Error::io("cannot create", &path))?;
                NamedTempFile::from_parts(
                    file,
                    tempfile::TempPath::try_from_path(path)
                        .map_err(Error::io("cannot create", dir))?,
                )
            }
        };
        let file = staged
            .as_file()
            .try_clone()
            .map_err(Error::io("cannot write", staged.path()))?;
        let zstd = zstd::stream::raw::Encoder::new(LEVEL)
            .map_err(Error::io("cannot compress into", staged.path()))?;
        let mut w = Writer {
            out: BufWriter::with_capacity(1 << 20, file),
            staged,
            footer: Footer {
                chain: chain.to_string(),
                first,
                last: first - 1,
                page_size,
                base_state,
                end_state: base_state,
                opened_ms: now_ms,
                start_ms: now_ms,
                end_ms: now_ms,
                db_pages,
                pages: 0,
                records: None,
                mark: None,
                follows: None,
            },
            open: 0,
            record: XxHash3_64::with_seed(0),
            inode: 0,
            digest: ring::digest::Context::new(&ring::digest::SHA256),
            written: 0,
            records_from: 0,
            delta: Vec::new(),
            zstd,
            framing: false,
            squeezed: vec![0; 128 << 10],
        };
        let preamble = serde_json::to_vec(&Preamble {
            chain: chain.to_string(),
            first,
            page_size,
            base_state,
            db_pages,
            opened_ms: now_ms,
        })
        .expect("a preamble always serializes");
        w.put(MAGIC)?;
        w.put(&(preamble.len() as u32).to_le_bytes())?;
        w.put(&preamble)?;
        w.records_from = w.written;
        Ok(w)
    }

    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        let path = self.staged.path();
        self.out
            .write_all(bytes)
            .map_err(Error::io("cannot write", path))?;
        self.digest.update(bytes);
        self.written += bytes.len() as u64;
        Ok(())
    }

    fn put_record(&mut self, bytes: &[u8]) -> Result<()> {
        self.record.write(bytes);
        self.compress(bytes)
    }

    /// Record bytes, through the compressor.
    fn compress(&mut self, mut bytes: &[u8]) -> Result<()> {
        use zstd::stream::raw::{InBuffer, Operation, OutBuffer};
        self.framing = true;
        while !bytes.is_empty() {
            let mut out = std::mem::take(&mut self.squeezed);
            let mut input = InBuffer::around(bytes);
            let mut output = OutBuffer::around(&mut out[..]);
            let ran = self.zstd.run(&mut input, &mut output);
            let (read, wrote) = (input.pos(), output.pos());
            let put = ran
                .map_err(Error::io("cannot compress into", self.staged.path()))
                .and_then(|_| self.put(&out[..wrote]));
            self.squeezed = out;
            put?;
            bytes = &bytes[read..];
        }
        Ok(())
    }

    /// Writes out what the compressor holds: every record given it so far can then be read
    /// back from the file. `end_frame` also ends the frame (the next record starts another).
    fn drain(&mut self, end_frame: bool) -> Result<()> {
        use zstd::stream::raw::{Operation, OutBuffer};
        if !self.framing {
            return Ok(());
        }
        loop {
            let mut out = std::mem::take(&mut self.squeezed);
            let mut output = OutBuffer::around(&mut out[..]);
            let left = if end_frame {
                self.zstd.finish(&mut output, true)
            } else {
                self.zstd.flush(&mut output)
            };
            let wrote = output.pos();
            let put = left
                .map_err(Error::io("cannot compress into", self.staged.path()))
                .and_then(|left| self.put(&out[..wrote]).map(|_| left));
            self.squeezed = out;
            if put? == 0 {
                break;
            }
        }
        if end_frame {
            self.zstd
                .reinit()
                .map_err(Error::io("cannot compress into", self.staged.path()))?;
            self.framing = false;
        }
        Ok(())
    }

    /// Starts a transaction of `count` pages, seen at `time_ms`, leaving `db_pages` pages,
    /// after which the -wal reader stands at `mark`; `resumed`: found at a run's start, made
    /// while no replicate ran (record 'R').
    pub fn begin(
        &mut self,
        time_ms: i64,
        db_pages: u32,
        count: u32,
        mark: &Mark,
        resumed: bool,
    ) -> Result<()> {
        assert_eq!(self.open, 0, "a transaction is still open");
        if self.footer.commits() == 0 {
            self.footer.start_ms = time_ms;
        }
        self.footer.last += 1;
        self.footer.end_ms = time_ms;
        self.footer.db_pages = db_pages;
        self.footer.mark = Some(mark.clone());
        self.inode = mark.inode;
        self.open = count;
        self.record = XxHash3_64::with_seed(0);
        let mut head = Vec::with_capacity(HEAD);
        head.push(if resumed { b'R' } else { b'C' });
        head.extend_from_slice(&time_ms.to_le_bytes());
        head.extend_from_slice(&db_pages.to_le_bytes());
        head.extend_from_slice(&count.to_le_bytes());
        head.extend_from_slice(&mark.to_bytes());
        self.put_record(&head)
    }

    /// One page of the open transaction, whole.
    #[cfg(test)]
    pub fn page(&mut self, pgno: u32, page: &[u8]) -> Result<()> {
        self.changed_page(pgno, page, None)
    }

    /// One page of the open transaction, written as its changes from `previous` (its version
    /// before this transaction, which the replay will find in the database it rebuilds) when
    /// that is much smaller, else whole.
    pub fn changed_page(&mut self, pgno: u32, page: &[u8], previous: Option<&[u8]>) -> Result<()> {
        assert!(self.open > 0, "more pages than announced");
        assert_eq!(page.len(), self.footer.page_size as usize);
        self.open -= 1;
        self.footer.pages += 1;
        let mut delta = std::mem::take(&mut self.delta);
        delta.clear();
        let body = match previous {
            Some(old) if old.len() == page.len() && super::delta::encode(old, page, &mut delta) => {
                &delta[..]
            }
            _ => page,
        };
        let mut entry = [0u8; ENTRY];
        entry[..4].copy_from_slice(&pgno.to_le_bytes());
        entry[4..].copy_from_slice(&(body.len() as u32).to_le_bytes());
        let written = self.put_record(&entry).and_then(|_| self.put_record(body));
        self.delta = delta;
        written
    }

    /// Ends the open transaction with the state checksum after it.
    pub fn end(&mut self, state: u64) -> Result<()> {
        assert_eq!(self.open, 0, "fewer pages than announced");
        self.footer.end_state = state;
        self.put_record(&state.to_le_bytes())?;
        let hash = self.record.finish();
        self.compress(&hash.to_le_bytes())?;
        // Whole records reach the file as they end: a killed run's spool holds them.
        self.drain(false)?;
        let path = self.staged.path();
        self.out.flush().map_err(Error::io("cannot write", path))
    }

    pub fn footer(&self) -> &Footer {
        &self.footer
    }

    /// Where the -wal reader stands before the first transaction (kept by an empty segment).
    pub fn with_mark(mut self, mark: Option<Mark>) -> Writer {
        self.footer.mark = mark;
        self
    }

    /// Says, on a chain's opening segment, which chain it follows (see [`Follows`]).
    pub fn follows(&mut self, follows: Option<Follows>) {
        self.footer.follows = follows;
    }

    /// Appends the records `[from, from + len)` of the segment (or spool) at `path`, which hold
    /// `summary`'s transactions and must follow on from the ones written so far (compaction,
    /// and a spool taken up).
    fn append_records(&mut self, path: &Path, span: Span, summary: &Footer) -> Result<()> {
        assert_eq!(self.open, 0, "a transaction is still open");
        if summary.first != self.footer.last + 1 || summary.base_state != self.footer.end_state {
            return Err(Error::CheckFailed(format!(
                "{} does not follow on from transaction {}",
                path.display(),
                self.footer.last
            )));
        }
        let mut file = File::open(path).map_err(Error::io("cannot open", path))?;
        file.seek(SeekFrom::Start(span.from))
            .map_err(Error::io("cannot read", path))?;
        match (span.version, span.decoded) {
            // Frames as they are: a segment may hold several, read as one stream.
            (Version::V4, false) => {
                self.drain(true)?;
                let mut reader = BufReader::with_capacity(1 << 20, file.take(span.len));
                each_chunk(&mut reader, path, |chunk| self.put(chunk))?;
            }
            (Version::V4, true) => {
                let reader = BufReader::with_capacity(1 << 20, file);
                let mut reader = zstd::stream::read::Decoder::with_buffer(reader)
                    .map_err(Error::io("cannot read", path))?
                    .take(span.len);
                each_chunk(&mut reader, path, |chunk| self.compress(chunk))?;
            }
            (Version::V3, _) => {
                let mut reader = BufReader::with_capacity(1 << 20, file.take(span.len));
                each_chunk(&mut reader, path, |chunk| self.compress(chunk))?;
            }
            (Version::V2, _) => {
                // Version 2 records are rewritten (their pages whole, now with their size).
                let mut reader = BufReader::with_capacity(1 << 20, file.take(span.len));
                let mut buf = Vec::new();
                for _ in 0..summary.commits() {
                    let page_size = self.footer.page_size as usize;
                    if walk_record(&mut reader, false, page_size, &mut buf, Some(self))?.is_none() {
                        return Err(Error::CheckFailed(format!(
                            "{}: a transaction record is damaged",
                            path.display()
                        )));
                    }
                }
            }
        }
        if summary.commits() > 0 {
            if self.footer.commits() == 0 {
                self.footer.start_ms = summary.start_ms;
            }
            self.footer.end_ms = summary.end_ms;
            self.footer.mark = summary.mark.clone();
        }
        self.footer.last = summary.last;
        self.footer.end_state = summary.end_state;
        self.footer.db_pages = summary.db_pages;
        self.footer.pages += summary.pages;
        Ok(())
    }

    /// Appends the transactions of a segment [`verify`] passed (compaction).
    pub fn append(&mut self, path: &Path, footer: &Footer) -> Result<()> {
        let span = records_span(path, footer)?;
        self.append_records(path, span, footer)
    }

    /// Writes the footer and the sealed trailer; the file is then ready to publish under
    /// `footer().name()`.
    pub fn finish(mut self, keys: &Keys) -> Result<(NamedTempFile, Footer)> {
        self.drain(true)?;
        self.footer.records = Some(self.written - self.records_from);
        let json = serde_json::to_vec(&self.footer).expect("a footer always serializes");
        self.put(&json)?;
        self.put(&(json.len() as u32).to_le_bytes())?;
        let path = self.staged.path().to_path_buf();
        let mut file = self
            .out
            .into_inner()
            .map_err(|e| Error::io("cannot write", &path)(e.into_error()))?;
        let mut sha = [0u8; 32];
        sha.copy_from_slice(self.digest.finish().as_ref());
        let len = self.written;
        let seal = keys.seal(SEAL_NAME, len, sha, len)?;
        let mut trailer = sha.to_vec();
        trailer.extend_from_slice(seal.mac.as_bytes());
        file.seek(SeekFrom::End(0))
            .and_then(|_| file.write_all(&trailer))
            .map_err(Error::io("cannot write", &path))?;
        Ok((self.staged, self.footer))
    }
}

/// One segment holding the transactions of `parts` (consecutive segments of one chain, each
/// [`verify`]-ed), every transaction kept: compaction, and what waited for a disk.
pub fn merge(dir: &Path, parts: &[Footer], keys: &Keys) -> Result<(NamedTempFile, Footer)> {
    let first = parts.first().expect("something to merge");
    let mut w = Writer::new(
        dir,
        None,
        &first.chain,
        first.first,
        first.page_size,
        first.base_state,
        first.db_pages,
        first.opened_ms,
    )?;
    for f in parts {
        w.append(&dir.join(f.name()), f)?;
    }
    w.finish(keys)
}

/// Where a segment's records lie (after the magic and the preamble, before the footer), and
/// the version they are of.
#[derive(Debug, Clone, Copy)]
struct Span {
    from: u64,
    /// Bytes in the file; with `decoded` (a version 4 spool taken up, whose whole records are
    /// known only once decompressed), bytes of records once decompressed.
    len: u64,
    version: Version,
    decoded: bool,
}

fn records_span(path: &Path, footer: &Footer) -> Result<Span> {
    let mut file = File::open(path).map_err(Error::io("cannot open", path))?;
    let mut head = [0u8; 12];
    file.read_exact(&mut head)
        .map_err(Error::io("cannot read", path))?;
    let pre = u64::from(u32::from_le_bytes(head[8..12].try_into().unwrap()));
    let version = Version::of(&head)
        .ok_or_else(|| Error::CheckFailed(format!("{}: not a segment", path.display())))?;
    let len = records_len(footer, version).ok_or_else(|| {
        Error::CheckFailed(format!(
            "{}: its footer does not say its size",
            path.display()
        ))
    })?;
    Ok(Span {
        from: 12 + pre,
        len,
        version,
        decoded: false,
    })
}

/// The bytes of a segment's records in its file: said by the footer from version 3 on,
/// counted for version 2.
fn records_len(f: &Footer, version: Version) -> Option<u64> {
    match (version, f.records) {
        (Version::V3 | Version::V4, records) => records,
        (Version::V2, None) => {
            Some(f.commits() * (HEAD + TAIL) as u64 + f.pages * (4 + u64::from(f.page_size)))
        }
        (Version::V2, Some(_)) => None,
    }
}

/// A reader of a segment's records as they were written (decompressed from version 4):
/// `file` stands at their start, and holds `len` bytes of them.
fn records_reader(file: File, len: u64, version: Version) -> std::io::Result<Box<dyn Read>> {
    let stored = BufReader::with_capacity(1 << 20, file.take(len));
    Ok(match version {
        Version::V4 => Box::new(zstd::stream::read::Decoder::with_buffer(stored)?),
        Version::V2 | Version::V3 => Box::new(stored),
    })
}

/// A page entry's number and the size of its bytes, from its head: `pgno size` (version 3) or
/// `pgno` alone (version 2, whole pages); None for a size larger than a page.
fn entry_head(entry: &[u8], page_size: usize) -> Option<(u32, usize)> {
    let pgno = u32::from_le_bytes(entry[..4].try_into().unwrap());
    let size = match entry.get(4..8) {
        Some(size) => u32::from_le_bytes(size.try_into().unwrap()) as usize,
        None => page_size,
    };
    (size <= page_size).then_some((pgno, size))
}

/// Reads `reader` to its end, handing `each` what it reads 1 MiB at most at a time.
fn each_chunk(
    reader: &mut impl Read,
    path: &Path,
    mut each: impl FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader
            .read(&mut buf)
            .map_err(Error::io("cannot read", path))?;
        if n == 0 {
            return Ok(());
        }
        each(&buf[..n])?;
    }
}

/// What [`walk_record`] read of a whole record.
struct Walked {
    head: [u8; HEAD],
    count: u32,
    state: u64,
    /// Its bytes in the file it was read from.
    len: u64,
}

/// Reads one record from `r` (records as written: decompressed), whose entries say their size
/// (`sized`: version 3 on) or not (version 2), checking its hash; None when there is no
/// whole, sound record there (the end, a cut, a wrong tag, an entry larger than a page, a hash
/// that does not match). With `out`, writes it into `out` as it goes (version 2 entries become
/// whole-page entries with their size, under a new hash); `buf` is scratch space.
fn walk_record(
    r: &mut impl Read,
    sized: bool,
    page_size: usize,
    buf: &mut Vec<u8>,
    mut out: Option<&mut Writer>,
) -> Result<Option<Walked>> {
    let mut head = [0u8; HEAD];
    if r.read_exact(&mut head).is_err() || !matches!(head[0], b'C' | b'R') {
        return Ok(None);
    }
    let mut h = XxHash3_64::with_seed(0);
    h.write(&head);
    if let Some(w) = out.as_deref_mut() {
        w.record = XxHash3_64::with_seed(0);
        w.put_record(&head)?;
    }
    let count = u32::from_le_bytes(head[13..17].try_into().unwrap());
    let mut len = (HEAD + TAIL) as u64;
    for _ in 0..count {
        let mut entry = [0u8; ENTRY];
        let entry = if sized {
            &mut entry[..]
        } else {
            &mut entry[..4]
        };
        if r.read_exact(entry).is_err() {
            return Ok(None);
        }
        h.write(entry);
        let Some((_, size)) = entry_head(entry, page_size) else {
            return Ok(None);
        };
        buf.resize(size, 0);
        if r.read_exact(buf).is_err() {
            return Ok(None);
        }
        h.write(buf);
        len += (entry.len() + size) as u64;
        if let Some(w) = out.as_deref_mut() {
            w.put_record(&entry[..4])?;
            w.put_record(&(size as u32).to_le_bytes())?;
            w.put_record(buf)?;
        }
    }
    let mut tail = [0u8; TAIL];
    if r.read_exact(&mut tail).is_err() {
        return Ok(None);
    }
    h.write(&tail[..8]);
    if h.finish() != u64::from_le_bytes(tail[8..].try_into().unwrap()) {
        return Ok(None);
    }
    if let Some(w) = out {
        w.put_record(&tail[..8])?;
        let hash = w.record.finish();
        w.compress(&hash.to_le_bytes())?;
    }
    Ok(Some(Walked {
        head,
        count,
        state: u64::from_le_bytes(tail[..8].try_into().unwrap()),
        len,
    }))
}

/// Takes up the spool a killed run left: its whole records, checked one by one by their hash,
/// become a segment ready to publish (None when it holds no whole record). The spool is left
/// for the caller to delete.
pub fn recover(path: &Path, keys: &Keys, inode: u64) -> Result<Option<(NamedTempFile, Footer)>> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut file = match File::open(path) {
        Ok(f) => BufReader::with_capacity(1 << 20, f),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("cannot open", path)(e)),
    };
    let mut head = [0u8; 12];
    if file.read_exact(&mut head).is_err() {
        return Ok(None);
    }
    let Some(version) = Version::of(&head) else {
        return Ok(None);
    };
    let pre_len = u32::from_le_bytes(head[8..12].try_into().unwrap());
    if pre_len > MAX_FOOTER {
        return Ok(None);
    }
    let mut pre = vec![0u8; pre_len as usize];
    if file.read_exact(&mut pre).is_err() {
        return Ok(None);
    }
    let Ok(p) = serde_json::from_slice::<Preamble>(&pre) else {
        return Ok(None);
    };
    if !p.page_size.is_power_of_two() || !(512..=65536).contains(&p.page_size) || p.first == 0 {
        return Ok(None);
    }
    let mut summary = Footer {
        chain: p.chain.clone(),
        first: p.first,
        last: p.first - 1,
        page_size: p.page_size,
        base_state: p.base_state,
        end_state: p.base_state,
        opened_ms: p.opened_ms,
        start_ms: p.opened_ms,
        end_ms: p.opened_ms,
        db_pages: p.db_pages,
        pages: 0,
        records: None,
        mark: None,
        follows: None,
    };
    let mut buf = Vec::new();
    let mut walked = 0;
    // A cut in the compressed stream (a kill -9 while writing) ends it as a cut record does.
    let mut records: Box<dyn Read> = match version {
        Version::V4 => Box::new(
            zstd::stream::read::Decoder::with_buffer(file)
                .map_err(Error::io("cannot read", path))?,
        ),
        Version::V2 | Version::V3 => Box::new(file),
    };
    let page_size = p.page_size as usize;
    while let Some(rec) = walk_record(&mut records, version.sized(), page_size, &mut buf, None)? {
        let time = i64::from_le_bytes(rec.head[1..9].try_into().unwrap());
        if summary.commits() == 0 {
            summary.start_ms = time;
        }
        summary.last += 1;
        summary.end_ms = time;
        summary.db_pages = u32::from_le_bytes(rec.head[9..13].try_into().unwrap());
        summary.pages += u64::from(rec.count);
        summary.end_state = rec.state;
        summary.mark = Some(Mark::from_bytes(&rec.head[17..], inode));
        walked += rec.len;
    }
    if summary.commits() == 0 {
        return Ok(None);
    }
    let mut w = Writer::new(
        dir,
        None,
        &p.chain,
        p.first,
        p.page_size,
        p.base_state,
        p.db_pages,
        p.opened_ms,
    )?;
    let span = Span {
        from: 12 + u64::from(pre_len),
        len: walked,
        version,
        decoded: version == Version::V4,
    };
    w.append_records(path, span, &summary)?;
    w.finish(keys).map(Some)
}

/// Checks a segment whole (its SHA-256, then its seal under the app's keys) and returns its
/// footer. Nothing of a segment is used before this passes.
pub fn verify(path: &Path, keys: &Keys) -> Result<Footer> {
    let bad =
        |why: &str| Error::CheckFailed(format!("{} is not a sound segment: {why}", path.display()));
    let mut file = File::open(path).map_err(Error::io("cannot open", path))?;
    let len = file
        .metadata()
        .map_err(Error::io("cannot read", path))?
        .len();
    if len < MAGIC.len() as u64 + 8 + TRAILER {
        return Err(bad("too short"));
    }
    let body = len - TRAILER;
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    let mut reader = BufReader::with_capacity(1 << 20, (&mut file).take(body));
    let mut first = true;
    let mut version = Version::V4;
    each_chunk(&mut reader, path, |chunk| {
        if first {
            version = Version::of(chunk).ok_or_else(|| bad("it does not start as one"))?;
        }
        first = false;
        digest.update(chunk);
        Ok(())
    })?;
    let mut trailer = [0u8; TRAILER as usize];
    file.seek(SeekFrom::Start(body))
        .and_then(|_| file.read_exact(&mut trailer))
        .map_err(Error::io("cannot read", path))?;
    if digest.finish().as_ref() != &trailer[..32] {
        return Err(bad("its SHA-256 does not match (damaged or cut short)"));
    }
    let mut sha = [0u8; 32];
    sha.copy_from_slice(&trailer[..32]);
    let seal = crate::store::remote::seal::Seal {
        size: body,
        sha256: sha,
        plain_size: body,
        mac: String::from_utf8_lossy(&trailer[32..]).to_ascii_lowercase(),
    };
    if !keys.verifies(SEAL_NAME, &seal) {
        return Err(bad(
            "its seal does not verify under this app's APP_KEY (or APP_PREVIOUS_KEYS): not made by this app",
        ));
    }
    let mut word = [0u8; 4];
    let mut read_at = |at: u64, out: &mut [u8]| {
        file.seek(SeekFrom::Start(at))
            .and_then(|_| file.read_exact(out))
            .map_err(Error::io("cannot read", path))
    };
    read_at(body - 4, &mut word)?;
    let footer_len = u32::from_le_bytes(word);
    read_at(8, &mut word)?;
    let pre_len = u32::from_le_bytes(word);
    if footer_len > MAX_FOOTER
        || pre_len > MAX_FOOTER
        || u64::from(footer_len) + u64::from(pre_len) + 16 > body
    {
        return Err(bad("its footer is out of bounds"));
    }
    let mut json = vec![0u8; footer_len as usize];
    read_at(body - 4 - u64::from(footer_len), &mut json)?;
    let footer: Footer = serde_json::from_slice(&json)
        .map_err(|e| bad(&format!("its footer does not read: {e}")))?;
    let records = body - 4 - u64::from(footer_len) - 12 - u64::from(pre_len);
    if !footer.page_size.is_power_of_two()
        || !(512..=65536).contains(&footer.page_size)
        || footer.first == 0
        || footer.last + 1 < footer.first
        || Some(records) != records_len(&footer, version)
    {
        return Err(bad("its footer does not describe its contents"));
    }
    Ok(footer)
}

/// One transaction's head, as read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Commit {
    pub time_ms: i64,
    pub db_pages: u32,
    pub count: u32,
    /// Found at a run's start: committed at some time after the transaction before it.
    pub resumed: bool,
}

/// Reads the transactions of a segment [`verify`] passed, in order.
pub struct Records {
    reader: Box<dyn Read>,
    page_size: usize,
    sized: bool,
    left: u64,
    path: std::path::PathBuf,
}

impl Records {
    pub fn open(path: &Path, footer: &Footer) -> Result<Records> {
        let span = records_span(path, footer)?;
        let mut file = File::open(path).map_err(Error::io("cannot open", path))?;
        file.seek(SeekFrom::Start(span.from))
            .map_err(Error::io("cannot read", path))?;
        Ok(Records {
            reader: records_reader(file, span.len, span.version)
                .map_err(Error::io("cannot read", path))?,
            page_size: footer.page_size as usize,
            sized: span.version.sized(),
            left: footer.commits(),
            path: path.to_path_buf(),
        })
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<()> {
        self.reader
            .read_exact(buf)
            .map_err(Error::io("cannot read", &self.path))
    }

    /// The next transaction's head; then read its `count` pages with [`Records::page`] (or
    /// pass them with [`Records::skip_pages`]) and its state with [`Records::state`].
    pub fn next_commit(&mut self) -> Result<Option<Commit>> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        let mut head = [0u8; HEAD];
        self.read(&mut head)?;
        if !matches!(head[0], b'C' | b'R') {
            return Err(Error::CheckFailed(format!(
                "{}: a transaction record is damaged",
                self.path.display()
            )));
        }
        Ok(Some(Commit {
            time_ms: i64::from_le_bytes(head[1..9].try_into().unwrap()),
            db_pages: u32::from_le_bytes(head[9..13].try_into().unwrap()),
            count: u32::from_le_bytes(head[13..17].try_into().unwrap()),
            resumed: head[0] == b'R',
        }))
    }

    /// The next page of the transaction: its number, and whether `bytes` holds it whole (else
    /// the changes from its previous version, for `delta::apply`).
    pub fn page(&mut self, bytes: &mut Vec<u8>) -> Result<(u32, bool)> {
        let (pgno, size) = self.entry()?;
        bytes.resize(size, 0);
        self.read(bytes)?;
        Ok((pgno, size == self.page_size))
    }

    /// A page entry's head: its number and the size of its bytes.
    fn entry(&mut self) -> Result<(u32, usize)> {
        let mut entry = [0u8; ENTRY];
        let entry = if self.sized {
            &mut entry[..]
        } else {
            &mut entry[..4]
        };
        self.read(entry)?;
        entry_head(entry, self.page_size).ok_or_else(|| {
            Error::CheckFailed(format!("{}: a page record is damaged", self.path.display()))
        })
    }

    /// Passes over the `count` pages of the transaction.
    pub fn skip_pages(&mut self, count: u32) -> Result<()> {
        for _ in 0..count {
            let (_, size) = self.entry()?;
            let size = size as u64;
            let passed = std::io::copy(&mut (&mut self.reader).take(size), &mut std::io::sink())
                .map_err(Error::io("cannot read", &self.path))?;
            if passed != size {
                return Err(Error::CheckFailed(format!(
                    "{}: a page record is cut short",
                    self.path.display()
                )));
            }
        }
        Ok(())
    }

    /// The state checksum after the transaction whose pages were just read.
    pub fn state(&mut self) -> Result<u64> {
        let mut tail = [0u8; TAIL];
        self.read(&mut tail)?;
        Ok(u64::from_le_bytes(tail[..8].try_into().unwrap()))
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Keys from a fixed APP_KEY (pitr.rs's tests use them too).
    pub(in crate::engine::sqlite::replicate) fn keys() -> Keys {
        Keys::new(
            Some("base64:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
            &[],
        )
    }

    pub(in crate::engine::sqlite::replicate) fn mark() -> Mark {
        Mark {
            salts: "0102030405060708".into(),
            seq: 3,
            offset: 4096,
            chain: (1, 2),
            inode: 0,
        }
    }

    fn written(dir: &Path) -> (std::path::PathBuf, Footer) {
        let mut w = Writer::new(dir, None, "00112233aabbccdd", 5, 512, 7, 3, 1000).unwrap();
        w.begin(1001, 3, 2, &mark(), false).unwrap();
        w.page(1, &[1u8; 512]).unwrap();
        w.page(3, &[3u8; 512]).unwrap();
        w.end(42).unwrap();
        w.begin(1002, 2, 0, &mark(), true).unwrap();
        w.end(43).unwrap();
        let (file, footer) = w.finish(&keys()).unwrap();
        let path = dir.join(footer.name());
        file.persist(&path).unwrap();
        (path, footer)
    }

    #[test]
    fn a_segment_reads_back_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let (path, footer) = written(dir.path());
        assert_eq!(
            crate::store::changes::parse_name(&footer.name()),
            Some(("00112233aabbccdd".into(), 5, 6))
        );
        assert_eq!(verify(&path, &keys()).unwrap(), footer);
        assert_eq!(
            (footer.start_ms, footer.end_ms, footer.end_state),
            (1001, 1002, 43)
        );
        let mut r = Records::open(&path, &footer).unwrap();
        let c = r.next_commit().unwrap().unwrap();
        assert_eq!(
            (c.time_ms, c.db_pages, c.count, c.resumed),
            (1001, 3, 2, false)
        );
        let mut page = Vec::new();
        assert_eq!(r.page(&mut page).unwrap(), (1, true));
        assert_eq!(r.page(&mut page).unwrap(), (3, true));
        assert_eq!(page, vec![3u8; 512]);
        assert_eq!(r.state().unwrap(), 42);
        let c = r.next_commit().unwrap().unwrap();
        assert_eq!((c.count, c.resumed, r.state().unwrap()), (0, true, 43));
        assert_eq!(r.next_commit().unwrap(), None);
    }

    /// A segment as version 2 wrote it (whole pages, no `records` in the footer), or version 3
    /// (uncompressed records, entries with their size), sealed.
    fn written_old(
        dir: &Path,
        first: u64,
        pages: &[(u32, u8)],
        version: Version,
    ) -> (std::path::PathBuf, Footer) {
        let pre = serde_json::to_vec(&Preamble {
            chain: "00112233aabbccdd".into(),
            first,
            page_size: 512,
            base_state: 7,
            db_pages: 3,
            opened_ms: 1000,
        })
        .unwrap();
        let magic = if version == Version::V2 {
            MAGIC_V2
        } else {
            MAGIC_V3
        };
        let mut body = [&magic[..], &(pre.len() as u32).to_le_bytes(), &pre].concat();
        let mut head = vec![b'C'];
        head.extend_from_slice(&1001i64.to_le_bytes());
        head.extend_from_slice(&3u32.to_le_bytes());
        head.extend_from_slice(&(pages.len() as u32).to_le_bytes());
        head.extend_from_slice(&mark().to_bytes());
        let mut record = head;
        for &(pgno, b) in pages {
            record.extend_from_slice(&pgno.to_le_bytes());
            if version.sized() {
                record.extend_from_slice(&512u32.to_le_bytes());
            }
            record.extend_from_slice(&[b; 512]);
        }
        record.extend_from_slice(&42u64.to_le_bytes());
        let hash = twox_hash::XxHash3_64::oneshot(&record);
        let records = (record.len() + 8) as u64;
        body.extend_from_slice(&record);
        body.extend_from_slice(&hash.to_le_bytes());
        let footer = Footer {
            chain: "00112233aabbccdd".into(),
            first,
            last: first,
            page_size: 512,
            base_state: 7,
            end_state: 42,
            opened_ms: 1000,
            start_ms: 1001,
            end_ms: 1001,
            db_pages: 3,
            pages: pages.len() as u64,
            records: version.sized().then_some(records),
            mark: Some(mark()),
            follows: None,
        };
        let json = serde_json::to_vec(&footer).unwrap();
        body.extend_from_slice(&json);
        body.extend_from_slice(&(json.len() as u32).to_le_bytes());
        let sha = ring::digest::digest(&ring::digest::SHA256, &body);
        let mut digest = [0u8; 32];
        digest.copy_from_slice(sha.as_ref());
        let len = body.len() as u64;
        let seal = keys().seal(SEAL_NAME, len, digest, len).unwrap();
        body.extend_from_slice(&digest);
        body.extend_from_slice(seal.mac.as_bytes());
        let path = dir.join(footer.name());
        std::fs::write(&path, body).unwrap();
        (path, footer)
    }

    /// Segments written before page deltas (version 2) or before compression (version 3)
    /// still verify and read, and compaction merges them with newer ones into one version 4
    /// segment holding the same pages.
    #[test]
    fn segments_of_versions_2_and_3_still_read_and_merge() {
        for version in [Version::V2, Version::V3] {
            an_old_segment_reads_and_merges(version);
        }
    }

    fn an_old_segment_reads_and_merges(version: Version) {
        let dir = tempfile::tempdir().unwrap();
        let (old, old_footer) = written_old(dir.path(), 4, &[(1, 9), (3, 8)], version);
        assert_eq!(verify(&old, &keys()).unwrap(), old_footer);
        let mut r = Records::open(&old, &old_footer).unwrap();
        r.next_commit().unwrap().unwrap();
        let mut page = Vec::new();
        assert_eq!(r.page(&mut page).unwrap(), (1, true));
        r.skip_pages(1).unwrap();
        assert_eq!((r.state().unwrap(), &page[..]), (42, &[9u8; 512][..]));
        // The newer one follows on (base state 7 there stands for 42 here: rewritten).
        let (new, mut new_footer) = written(dir.path());
        new_footer.base_state = 42;
        let mut w = Writer::new(dir.path(), None, "00112233aabbccdd", 4, 512, 7, 3, 1000).unwrap();
        w.append(&old, &old_footer).unwrap();
        w.append(&new, &new_footer).unwrap();
        let (file, merged) = w.finish(&keys()).unwrap();
        let path = dir.path().join(merged.name());
        file.persist(&path).unwrap();
        assert_eq!(verify(&path, &keys()).unwrap(), merged);
        assert_eq!((merged.first, merged.last, merged.pages), (4, 6, 4));
        let mut r = Records::open(&path, &merged).unwrap();
        let mut got = Vec::new();
        while let Some(c) = r.next_commit().unwrap() {
            for _ in 0..c.count {
                let (pgno, whole) = r.page(&mut page).unwrap();
                got.push((pgno, whole, page[0]));
            }
            r.state().unwrap();
        }
        assert_eq!(
            got,
            [(1, true, 9), (3, true, 8), (1, true, 1), (3, true, 3)]
        );
        // Its spool, left by a killed run of the version that wrote it, is taken up.
        let span = records_span(&old, &old_footer).unwrap();
        let spool = dir.path().join(SPOOL);
        std::fs::write(
            &spool,
            &std::fs::read(&old).unwrap()[..(span.from + span.len) as usize],
        )
        .unwrap();
        let (file, taken) = recover(&spool, &keys(), 9).unwrap().unwrap();
        assert_eq!((taken.first, taken.last, taken.end_state), (4, 4, 42));
        let path = dir.path().join("taken-up");
        file.persist(&path).unwrap();
        let mut r = Records::open(&path, &verify(&path, &keys()).unwrap()).unwrap();
        assert_eq!(r.next_commit().unwrap().unwrap().count, 2);
        assert_eq!(r.page(&mut page).unwrap(), (1, true));
        assert_eq!(page, [9u8; 512]);
        // A version 2 footer claiming a version 3 size is refused.
        let mut lying = old_footer.clone();
        lying.records = Some(1);
        assert!(records_len(&lying, Version::V2).is_none());
    }

    #[test]
    fn a_changed_cut_or_foreign_segment_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = written(dir.path());
        let good = std::fs::read(&path).unwrap();
        // One bit anywhere.
        for at in [0, 9, 30, good.len() - 120, good.len() - 1] {
            let mut bad = good.clone();
            bad[at] ^= 1;
            std::fs::write(&path, &bad).unwrap();
            assert!(verify(&path, &keys()).is_err(), "a flip at {at} passed");
        }
        std::fs::write(&path, &good[..good.len() - 1]).unwrap();
        assert!(verify(&path, &keys()).is_err());
        // Sound, but sealed by another app.
        std::fs::write(&path, &good).unwrap();
        let other = Keys::new(Some("another key"), &[]);
        let e = verify(&path, &other).unwrap_err().to_string();
        assert!(e.contains("not made by this app"), "{e}");
        // A previous key still verifies.
        let rotated = Keys::new(
            Some("another key"),
            &["base64:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into()],
        );
        assert!(verify(&path, &rotated).is_ok());
    }

    /// A spool of chain 00112233aabbccdd from transaction 5, 512-byte pages.
    fn spool_writer(dir: &Path) -> Writer {
        Writer::new(dir, Some(SPOOL), "00112233aabbccdd", 5, 512, 7, 3, 1000).unwrap()
    }

    #[test]
    fn a_spool_cut_anywhere_gives_back_its_whole_records() {
        let dir = tempfile::tempdir().unwrap();
        let spool = dir.path().join(SPOOL);
        let mut w = spool_writer(dir.path());
        let size = |w: &Writer| w.written as usize;
        // Where each record ends in the file: it is flushed there, compressed, as it ends.
        let mut ends = vec![size(&w)];
        for i in 0..4u8 {
            w.begin(1001 + i64::from(i), 3, 2, &mark(), false).unwrap();
            w.page(1, &[i; 512]).unwrap();
            w.page(3, &[i + 100; 512]).unwrap();
            w.end(42 + u64::from(i)).unwrap();
            ends.push(size(&w));
        }
        let full = std::fs::read(&spool).unwrap();
        assert_eq!(
            full.len(),
            ends[4],
            "every record is in the file as it ends"
        );
        assert!(
            ends[4] - ends[0] < 2 * 512,
            "the records are compressed: {ends:?}"
        );
        std::mem::forget(w); // as a kill -9 would leave it
        let cuts = [
            (ends[0], 0),
            (ends[0] + 1, 0),
            (ends[1] - 1, 0),
            (ends[1], 1),
            (ends[1] + 2, 1),
            (ends[3] + 1, 3),
            (ends[4] - 1, 3),
            (full.len(), 4),
        ];
        for (cut, whole) in cuts {
            std::fs::write(&spool, &full[..cut]).unwrap();
            let got = recover(&spool, &keys(), 9).unwrap();
            match got {
                None => assert_eq!(whole, 0, "cut at {cut}"),
                Some((file, footer)) => {
                    assert_eq!((footer.first, footer.commits()), (5, whole), "cut at {cut}");
                    assert_eq!(footer.end_state, 41 + whole);
                    assert_eq!(footer.mark.as_ref().unwrap().inode, 9);
                    let path = dir.path().join(footer.name());
                    file.persist(&path).unwrap();
                    assert_eq!(verify(&path, &keys()).unwrap(), footer);
                    std::fs::remove_file(&path).unwrap();
                }
            }
        }
        // A flipped byte inside the third record: the first two are taken, no more.
        let mut bad = full.clone();
        bad[(ends[2] + ends[3]) / 2] ^= 1;
        std::fs::write(&spool, &bad).unwrap();
        let (_, footer) = recover(&spool, &keys(), 9).unwrap().unwrap();
        assert_eq!(footer.commits(), 2);
        // Pages written as changes are taken up as written.
        std::fs::remove_file(&spool).unwrap();
        let mut w = spool_writer(dir.path());
        let mut old = vec![0u8; 512];
        for i in 0..3u8 {
            let mut new = old.clone();
            new[i as usize * 10] = i + 1;
            w.begin(1001, 3, 1, &mark(), false).unwrap();
            w.changed_page(2, &new, Some(&old)).unwrap();
            w.end(50 + u64::from(i)).unwrap();
            old = new;
        }
        std::mem::forget(w);
        let (file, footer) = recover(&spool, &keys(), 9).unwrap().unwrap();
        assert_eq!((footer.commits(), footer.end_state), (3, 52));
        assert!(footer.records.unwrap() < 512, "{footer:?}");
        let path = dir.path().join(footer.name());
        file.persist(&path).unwrap();
        let mut r = Records::open(&path, &verify(&path, &keys()).unwrap()).unwrap();
        r.next_commit().unwrap().unwrap();
        let mut bytes = Vec::new();
        assert_eq!(r.page(&mut bytes).unwrap(), (2, false));
        let mut page = vec![0u8; 512];
        crate::engine::sqlite::replicate::delta::apply(&bytes, &mut page).unwrap();
        assert_eq!((page[0], page[1]), (1, 0));
    }
}
