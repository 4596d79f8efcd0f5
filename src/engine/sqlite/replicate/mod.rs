//! Continuous backup of a SQLite database in WAL mode: every committed transaction is read from
//! the -wal file as it appears and written into segments (see `segment`), each with the time it
//! was seen and the state checksum after it (see `state`).
//!
//! Why no transaction is ever missed (sqlite.org/wal.html and wal.c): the only way frames leave
//! the -wal is a restart, when a writer starts again at its beginning. A writer restarts only
//! when every frame is checkpointed AND no reader holds a read mark other than 0; a checkpoint
//! copies frames only up to the lowest read mark, and none at all while a reader holds mark 0.
//! We always hold a read transaction (two connections take turns: the next one begins before
//! the other ends, and the -wal is read in between), so:
//! - holding a mark other than 0, no restart can happen: every frame stays to be read;
//! - holding mark 0 (the -wal was wholly checkpointed when we began, and read by us up to its
//!   end before the previous turn ended), no frame can be checkpointed; a restart can only come
//!   before any new frame, and loses nothing we have not read.
//!
//! So a new generation of the -wal whose salt-1 is one more than the last one's (SQLite adds one
//! at each restart; the header's checkpoint number is each connection's own count) is the
//! continuation; anything else (two restarts, another file put in place of
//! the database) is a break, and the caller starts a new chain from a new snapshot.
//!
//! Holding a read mark keeps the app's checkpoints from restarting the -wal, which would grow
//! without bound under a steady writer. Past a size bound we open a short window ourselves: a
//! PASSIVE checkpoint first (no lock: it copies what we have read; if the app's own checkpoint
//! is running, we wait for it, holding nothing), then we take the write lock (waiting at most
//! 100 ms, else we try again later), read what is left, checkpoint the rest, begin a read at
//! mark 0 and let go. The app's next commit restarts the -wal, as it does after its own
//! checkpoints without us. We never run a RESTART or TRUNCATE checkpoint, which would
//! wait for the app's readers while blocking its writers, and never commit anything.
//!
//! Past SQLite's autocheckpoint (1000 frames by default) each commit of the app runs a
//! checkpoint, which copies up to our read mark and no further: the default bound is 4000
//! frames (see [`DEFAULT_LIMIT_FRAMES`]).
//!
//! Between windows the app's own autocheckpoint copies frames up to our read mark, inside its
//! own commits, as it does without us; a checkpoint of ours then would write the database file
//! and fsync it while the app commits, and its commits would wait behind that disk work.

mod delta;
pub mod pitr;
pub mod segment;
pub mod state;

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::source_error;
use super::wal::{self, Position};
use crate::error::{Error, Result};
use segment::{Mark, Writer};
use state::State;

/// The restart bound when none is set, in frames: four times SQLite's own autocheckpoint.
/// Each window costs the app a slow commit or two (its commit that meets our hold of the
/// write lock sleeps in SQLite's busy handler; those during our checkpoint's fsync wait for
/// the disk). At 750 frames (under the autocheckpoint) a 500 tx/s writer met 1.7 windows a
/// second and its p99 went from 0.37 to 0.58–0.91 ms; past 1000 frames each of its commits
/// runs a checkpoint up to our read mark, which costs it little (median +0.06–0.09 ms) and copies
/// at each sync what the window would have. 4000 frames: a window every 2.4 s at that rate.
const DEFAULT_LIMIT_FRAMES: u64 = 4000;

/// The default restart bound in bytes of -wal for a page size: the header and 4000 frames.
fn default_wal_limit(page_size: u32) -> u64 {
    32 + DEFAULT_LIMIT_FRAMES * (u64::from(page_size) + 24)
}

/// Now, in Unix milliseconds rounded up: what is seen is dated at or after the moment it was
/// seen, never before. Rounded down, a transaction committed and read within the same
/// millisecond as a time asked, but after it, was given to `--at` that time (a test caught it).
pub fn seen_ms() -> i64 {
    let us = chrono::Utc::now().timestamp_micros();
    us.div_euclid(1000) + i64::from(us.rem_euclid(1000) != 0)
}

/// How a restart window went.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Window {
    /// The app's next commit restarts the -wal.
    Armed,
    /// The app kept checkpointing: nothing was held, try again shortly.
    Busy,
    /// The app's writers or readers kept it from arming (they were held, or could not be):
    /// try again in a while.
    Missed,
}

/// What a look at the -wal found.
#[derive(Debug, PartialEq, Eq)]
pub enum Seen {
    /// This many transactions were written into the segment.
    Commits(u64),
    /// The chain cannot go on from here: why.
    Broken(String),
}

/// The live database, followed.
pub struct Follower {
    /// Two connections taking turns at holding a read transaction; they never write (a
    /// restart window takes the write lock, and commits nothing).
    conns: [Connection; 2],
    held: usize,
    /// Our descriptor of the database file, closed after the connections (see `Source`).
    file: File,
    db: PathBuf,
    wal_path: PathBuf,
    inode: u64,
    /// The -wal in use past which a restart window is opened, in bytes.
    wal_limit: u64,
    /// Where we had read to when the last restart window armed a restart.
    armed: Option<([u8; 8], u64)>,
    /// A restart of the -wal was seen and not yet reported.
    restarted: bool,
    pos: Option<Position>,
    state: State,
    busy: Duration,
    frame: Vec<u8>,
    /// Transactions committed while replicate was away, shipped as one at the first look.
    catch_up: Option<wal::Txn>,
    /// The pages written lately, as written: their next versions go as changes.
    versions: delta::Versions,
}

impl Follower {
    /// Opens the live database, checks it is in WAL mode, begins holding a read mark, and reads
    /// the whole database once for its state checksum.
    /// With `resume` (the last segment published), goes on from where it left the -wal when
    /// that is still there (the same generation) and the database at that point has the state
    /// it recorded; the bool says whether it did. Transactions committed meanwhile are then read
    /// at the first look.
    pub fn open(
        db: &Path,
        busy: Duration,
        wal_limit: Option<u64>,
        resume: Option<&segment::Footer>,
    ) -> Result<(Follower, bool)> {
        let file = File::open(db).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::DatabaseMissing(db.to_path_buf()),
            _ => Error::io("cannot read", db)(e),
        })?;
        let inode = file.metadata().map_err(Error::io("cannot read", db))?.ino();
        let open = || -> Result<Connection> {
            let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            let c = Connection::open_with_flags(db, flags).map_err(|e| source_error(db, e, 0))?;
            c.busy_timeout(busy).map_err(|e| source_error(db, e, 0))?;
            // Checkpoints are ours to choose, never SQLite's on our connections.
            c.execute_batch("PRAGMA wal_autocheckpoint=0")
                .map_err(|e| source_error(db, e, 0))?;
            Ok(c)
        };
        let conns = [open()?, open()?];
        let page_size: u32 = conns[0]
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .map_err(|e| source_error(db, e, busy.as_secs()))?;
        let wal_limit = wal_limit.unwrap_or_else(|| default_wal_limit(page_size));
        let mode: String = conns[0]
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .map_err(|e| source_error(db, e, busy.as_secs()))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::NotWalMode(db.to_path_buf()));
        }
        let mut wal_path = db.as_os_str().to_owned();
        wal_path.push("-wal");
        let mut f = Follower {
            conns,
            held: 0,
            file,
            db: db.to_path_buf(),
            wal_path: PathBuf::from(wal_path),
            inode,
            wal_limit,
            armed: None,
            restarted: false,
            pos: None,
            state: State::empty(512),
            busy,
            frame: Vec::new(),
            catch_up: None,
            versions: delta::Versions::default(),
        };
        f.begin(0)?;
        if let Some(last) = resume {
            if f.resume_at(last)? {
                return Ok((f, true));
            }
        }
        f.read_whole()?;
        Ok((f, false))
    }

    /// Goes on from `last`'s mark when the -wal is still the generation it was read in: the
    /// frames after the mark are then intact (no restart since), and the transactions they hold
    /// (committed while replicate was away) become one catch-up transaction, seen now. The
    /// database file may hold some of them already (a checkpoint meanwhile): its state after
    /// them is read whole, as at any start.
    fn resume_at(&mut self, last: &segment::Footer) -> Result<bool> {
        let Some(mark) = &last.mark else {
            return Ok(false);
        };
        if mark.inode != self.inode {
            return Ok(false);
        }
        let Some((wal, header)) = self.open_wal()? else {
            return Ok(false);
        };
        let salts = crate::store::remote::seal::hex(&header.salts());
        if salts != mark.salts || header.seq() != mark.seq || header.page_size() != last.page_size {
            return Ok(false);
        }
        let start = Position::start(header.clone());
        let mut pos = start.clone();
        let txns = wal::follow(&wal, &mut pos).map_err(Error::io("cannot read", &self.wal_path))?;
        let (before, after): (Vec<&wal::Txn>, Vec<&wal::Txn>) =
            txns.iter().partition(|t| t.end <= mark.offset);
        let at_mark = match before.last() {
            Some(t) => t.end == mark.offset && t.chain == mark.chain,
            None => mark.offset == start.offset && mark.chain == start.chain(),
        };
        if !at_mark {
            return Ok(false);
        }
        let Some(state) = self.state_with(&wal, &header, &txns, last.page_size)? else {
            return Ok(false);
        };
        if after.is_empty() && state.value() != last.end_state {
            return Ok(false);
        }
        if let Some(final_size) = after.last().map(|t| t.db_pages) {
            let mut latest = std::collections::HashMap::new();
            for t in &after {
                latest.extend(t.frames.iter().copied());
            }
            let mut frames: Vec<(u32, u64)> = latest
                .into_iter()
                .filter(|&(p, _)| p <= final_size)
                .collect();
            frames.sort_unstable_by_key(|&(_, o)| o);
            self.catch_up = Some(wal::Txn {
                db_pages: final_size,
                frames,
                end: pos.offset,
                chain: pos.chain(),
            });
        }
        self.state = state;
        self.pos = Some(pos);
        Ok(true)
    }

    /// The database file with the -wal's transactions `txns` over it; None if a frame was
    /// overwritten meanwhile.
    fn state_with(
        &mut self,
        wal: &File,
        header: &wal::Header,
        txns: &[wal::Txn],
        page_size: u32,
    ) -> Result<Option<State>> {
        let file_pages = match txns.first() {
            None => self.conns[self.held]
                .query_row("PRAGMA page_count", [], |r| r.get(0))
                .map_err(|e| self.sqlite(e))?,
            Some(_) => {
                let len = self
                    .file
                    .metadata()
                    .map_err(Error::io("cannot read", &self.db))?
                    .len();
                (len / u64::from(page_size)) as u32
            }
        };
        let mut state = State::of_file(&self.file, page_size, file_pages)
            .map_err(Error::io("cannot read", &self.db))?;
        for txn in txns {
            for &(pgno, offset) in &txn.frames {
                if !wal::read_page(wal, header, pgno, offset, &mut self.frame)
                    .map_err(Error::io("cannot read", &self.wal_path))?
                {
                    return Ok(None);
                }
                state.set(pgno, wal::frame_page(&self.frame));
            }
            state.resize(txn.db_pages);
        }
        Ok(Some(state))
    }

    fn sqlite(&self, e: rusqlite::Error) -> Error {
        source_error(&self.db, e, self.busy.as_secs())
    }

    fn begin(&self, i: usize) -> Result<()> {
        self.conns[i]
            .execute_batch("BEGIN DEFERRED; SELECT count(*) FROM sqlite_schema;")
            .map_err(|e| self.sqlite(e))
    }

    fn end(&self, i: usize) {
        // Nothing was written: ending a read cannot lose anything.
        let _ = self.conns[i].execute_batch("COMMIT");
    }

    fn open_wal(&self) -> Result<Option<(File, wal::Header)>> {
        let file = match File::open(&self.wal_path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("cannot read", &self.wal_path)(e)),
        };
        let header = wal::header(&file).map_err(Error::io("cannot read", &self.wal_path))?;
        Ok(header.map(|h| (file, h)))
    }

    /// The state of the database at the end of the -wal: the database file, then every
    /// committed transaction of the -wal over it. Read again if the -wal was restarted
    /// meanwhile (we then hold mark 0 and the file no longer changes).
    fn read_whole(&mut self) -> Result<()> {
        let page_size: u32 = self.conns[self.held]
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .map_err(|e| self.sqlite(e))?;
        let page_count: u32 = self.conns[self.held]
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .map_err(|e| self.sqlite(e))?;
        for _ in 0..10 {
            let opened = self.open_wal()?;
            let Some((wal, header)) = opened else {
                self.state = State::of_file(&self.file, page_size, page_count)
                    .map_err(Error::io("cannot read", &self.db))?;
                self.pos = None;
                return Ok(());
            };
            if header.page_size() != page_size {
                return Err(Error::CheckFailed(format!(
                    "{} holds {}-byte pages but the database has {page_size}-byte pages",
                    self.wal_path.display(),
                    header.page_size()
                )));
            }
            let mut pos = Position::start(header.clone());
            let txns =
                wal::follow(&wal, &mut pos).map_err(Error::io("cannot read", &self.wal_path))?;
            let state = self.state_with(&wal, &header, &txns, page_size)?;
            let now = wal::header(&wal).map_err(Error::io("cannot read", &self.wal_path))?;
            if let (true, Some(state)) = (now.as_ref() == Some(&header), state) {
                self.state = state;
                self.pos = Some(pos);
                return Ok(());
            }
        }
        Err(Error::CheckFailed(format!(
            "{} kept being restarted while it was read; try again",
            self.wal_path.display()
        )))
    }

    /// The state checksum after the last transaction read.
    pub fn state(&self) -> u64 {
        self.state.value()
    }

    pub fn page_size(&self) -> u32 {
        self.state.page_size()
    }

    pub fn db_pages(&self) -> u32 {
        self.state.pages()
    }

    /// Where we stand in the -wal, to write down with a segment.
    pub fn mark(&self) -> Option<Mark> {
        self.pos
            .as_ref()
            .map(|p| self.mark_at(&p.header, p.offset, p.chain()))
    }

    fn mark_at(&self, header: &wal::Header, offset: u64, chain: (u32, u32)) -> Mark {
        Mark {
            salts: crate::store::remote::seal::hex(&header.salts()),
            seq: header.seq(),
            offset,
            chain,
            inode: self.inode,
        }
    }

    /// Bytes of the -wal in use: up to the end of the last frame read. Not the file's size,
    /// which a restart keeps (module comment).
    fn wal_len(&self) -> u64 {
        self.pos.as_ref().map_or(0, |p| p.offset)
    }

    /// Whether a restart window is due: the -wal in use has passed the bound, and no window
    /// armed a restart that is still to come (nothing was committed since it).
    pub fn restart_due(&self) -> bool {
        self.wal_len() > self.wal_limit && !(self.armed.is_some() && self.armed == self.at())
    }

    /// Reads what was committed since the last look into `out`. Each transaction is stamped
    /// with the time after it was found in the -wal: never before it was committed.
    pub fn poll(&mut self, out: &mut Writer) -> Result<Seen> {
        match std::fs::metadata(&self.db) {
            Ok(m) if m.ino() == self.inode => {}
            Ok(_) => {
                return Ok(Seen::Broken(format!(
                    "{} was replaced by another file",
                    self.db.display()
                )))
            }
            Err(_) => return Ok(Seen::Broken(format!("{} was removed", self.db.display()))),
        }
        let Some((wal, header)) = self.open_wal()? else {
            return Ok(Seen::Commits(0));
        };
        let pos = match self.pos.take() {
            None => Position::start(header.clone()),
            Some(p) if p.header.salts() == header.salts() => p,
            Some(p) if header.salt1() == p.header.salt1().wrapping_add(1) => {
                self.restarted = true;
                Position::start(header.clone())
            }
            Some(p) => {
                return Ok(Seen::Broken(format!(
                    "the -wal was restarted more than once between two looks (salt-1 went from {} to {})",
                    p.header.salt1(),
                    header.salt1()
                )))
            }
        };
        let mut pos = pos;
        let mut txns =
            wal::follow(&wal, &mut pos).map_err(Error::io("cannot read", &self.wal_path))?;
        let now_ms = seen_ms();
        self.pos = Some(pos);
        // What was committed while no replicate ran comes first, marked as such: when it was
        // committed is unknown.
        let resumed = self.catch_up.is_some();
        if let Some(caught) = self.catch_up.take() {
            txns.insert(0, caught);
        }
        let mut n = 0;
        for (i, txn) in txns.into_iter().enumerate() {
            let mark = self.mark_at(&header, txn.end, txn.chain);
            let count = txn.frames.len() as u32;
            out.begin(now_ms, txn.db_pages, count, &mark, resumed && i == 0)?;
            for (pgno, offset) in txn.frames {
                if !wal::read_page(&wal, &header, pgno, offset, &mut self.frame)
                    .map_err(Error::io("cannot read", &self.wal_path))?
                {
                    return Ok(Seen::Broken(
                        "a frame of the -wal was overwritten before it was read".into(),
                    ));
                }
                let page = wal::frame_page(&self.frame);
                self.state.set(pgno, page);
                out.changed_page(pgno, page, self.versions.get(pgno))?;
                self.versions.set(pgno, page);
            }
            self.state.resize(txn.db_pages);
            self.versions.truncate(txn.db_pages);
            out.end(self.state.value())?;
            n += 1;
        }
        Ok(Seen::Commits(n))
    }

    /// Hands the read mark over to the other connection (reading the -wal in between, into
    /// `out`): the app's checkpoints may then copy what we have read.
    pub fn rotate(&mut self, out: &mut Writer) -> Result<Seen> {
        let next = 1 - self.held;
        self.begin(next)?;
        let seen = self.poll(out);
        self.end(self.held);
        self.held = next;
        seen
    }

    /// A PASSIVE checkpoint on connection `i`: None when another connection was checkpointing
    /// (SQLite then says `busy` and copies nothing; a PASSIVE checkpoint never waits for it),
    /// else (frames in the -wal, frames checkpointed).
    fn checkpoint(&self, i: usize) -> Result<Option<(i64, i64)>> {
        self.conns[i]
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                let busy = r.get::<_, i64>(0)? != 0;
                let (log, copied) = (r.get::<_, i64>(1)?, r.get::<_, i64>(2)?);
                Ok((!busy && log >= 0).then_some((log, copied)))
            })
            .map_err(|e| self.sqlite(e))
    }

    /// The restart window (see the module's comment): whether it armed a restart, that is left
    /// the -wal wholly in the database file and our read at mark 0, so that the app's next
    /// commit restarts it.
    ///
    /// 0. A PASSIVE checkpoint of what we have read, holding no lock. If the app's own
    ///    checkpoint is running, it copies the same frames: we wait for it (a few ms), or try
    ///    again shortly, without taking the lock.
    /// 1. Take the write lock: nothing more can be committed; read what is left.
    /// 2. End our read and checkpoint everything: the -wal is then wholly in the database file.
    /// 3. Hold a read at mark 0 (nothing can be checkpointed past what we read), let go of the
    ///    write lock. The app's next writer reads at mark 0 too, and SQLite restarts the -wal
    ///    for a writer reading at mark 0, before its first frame.
    ///
    /// The write lock is held once, for the tail and one fsync of the database file: an app
    /// commit that meets it sleeps in SQLite's busy handler (1 ms, then 2, then 5…), so each
    /// hold is a slow commit of the app. A commit of our own to restart at once would be a
    /// second hold, with an fsync of the -wal in it.
    pub fn restart_wal(&mut self, out: &mut Writer) -> Result<(Seen, Window)> {
        let free = 1 - self.held;
        let held = self.held;
        // What we have read is copied without holding the app's writers: under the lock
        // there is then only what came since. Our turn to the other connection just before
        // the window let the app's next commit checkpoint up to our new mark, so the app's own
        // checkpoint is often running now (a PASSIVE one does not wait for it). It copies for
        // a few milliseconds at most: we wait for it, up to 20 ms, rather than take the lock
        // and meet it there (a missed window, and the -wal grows meanwhile). An error is left
        // to the checkpoint under the lock to meet again, and to count as a missed window.
        if let Ok(None) = self.checkpoint_retrying(free, 20, Duration::from_millis(1)) {
            return Ok((Seen::Commits(0), Window::Busy));
        }
        if !self.try_write_lock(free)? {
            return Ok((Seen::Commits(0), Window::Missed));
        }
        let seen = match self.poll(out) {
            Ok(s @ Seen::Commits(_)) => s,
            other => {
                let _ = self.conns[free].execute_batch("ROLLBACK");
                return other.map(|s| (s, Window::Missed));
            }
        };
        self.end(held);
        // The app's own checkpoint, run after its commit just before our lock, may still be
        // running: it has little to copy (step 0 copied it), so a few tries 200 µs apart; a
        // window that gives up costs another hold of the app's writers later.
        let done = self.checkpoint_retrying(held, 4, Duration::from_micros(200));
        let began = self.begin(held);
        let _ = self.conns[free].execute_batch("ROLLBACK");
        began?;
        let whole = matches!(done, Ok(Some((log, copied))) if log == copied && log > 0);
        self.armed = whole.then(|| self.at()).flatten();
        Ok((seen, if whole { Window::Armed } else { Window::Missed }))
    }

    /// A PASSIVE checkpoint on connection `i`, tried again `tries` times `gap` apart while
    /// another connection is checkpointing (the app's own, in a restart window).
    fn checkpoint_retrying(
        &self,
        i: usize,
        tries: u32,
        gap: Duration,
    ) -> Result<Option<(i64, i64)>> {
        for _ in 0..tries {
            if let Some(done) = self.checkpoint(i)? {
                return Ok(Some(done));
            }
            std::thread::sleep(gap);
        }
        self.checkpoint(i)
    }

    /// Where we have read to: the -wal's generation and the offset in it.
    fn at(&self) -> Option<([u8; 8], u64)> {
        self.pos.as_ref().map(|p| (p.header.salts(), p.offset))
    }

    /// Whether the -wal was seen restarted since the last call.
    pub fn take_restarted(&mut self) -> bool {
        std::mem::take(&mut self.restarted)
    }

    /// BEGIN IMMEDIATE on connection `i`, waiting 100 ms at most for the app's writer.
    fn try_write_lock(&self, i: usize) -> Result<bool> {
        let c = &self.conns[i];
        c.busy_timeout(Duration::from_millis(100))
            .map_err(|e| self.sqlite(e))?;
        let locked = c.execute_batch("BEGIN IMMEDIATE").is_ok();
        c.busy_timeout(self.busy).map_err(|e| self.sqlite(e))?;
        Ok(locked)
    }
}

#[cfg(test)]
mod tests {
    /// A transaction read at a time is never dated before it: rounded up, not down.
    #[test]
    fn what_is_seen_is_dated_at_or_after_the_moment_it_was_seen() {
        for _ in 0..1000 {
            let before = chrono::Utc::now().timestamp_micros();
            let seen = super::seen_ms();
            assert!(seen * 1000 >= before, "{seen} ms is before {before} µs");
        }
    }
}
