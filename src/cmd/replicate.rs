//! `db-backup replicate`: continuous backup of a SQLite database. Runs in the foreground (for
//! systemd, Supervisor, containers) until SIGTERM or Ctrl-C, then ships what is left and exits 0.
//!
//! Each look at the -wal (every 50 ms) writes what was committed since into the open segment,
//! stamped with the time it was seen; each sync interval (1 s) the segment is published in the
//! `changes` folder beside the backups (fsync, rename), then copied to the app's disks. A new
//! chain starts from a backup of its own (an ordinary `database_backup_*.sqlite`) only when the
//! chain cannot go on: the first run, a break, or a database that changed while we were away.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::cli::AppArgs;
use crate::engine::sqlite::replicate::pitr;
use crate::engine::sqlite::replicate::segment::{self, Follows, Footer, Writer};
use crate::engine::sqlite::replicate::{Follower, Seen, Window};
use crate::engine::Connection;
use crate::error::{Error, Result};
use crate::laravel::Target;
use crate::report;
use crate::store::{changes, publish, retention};

/// How often the -wal is looked at: a transaction's time is when it was seen, this late at most.
pub const LOOK: Duration = Duration::from_millis(50);
/// The status file is rewritten at each sync, and at least this often (`status` calls a file
/// older than 30 s stale).
const STATUS_EVERY: Duration = Duration::from_secs(5);
/// replicate's CPU priority (nice): the app's requests come first; shipping needs a few
/// percent of a core, which it still gets.
const NICE: libc::c_int = 10;
/// Segments are merged into one per window of each of these lengths, once it is over.
pub(super) const LEVELS: [i64; 3] = [30_000, 300_000, 3_600_000];

/// How replicate runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// How often what was seen is published (and copied to the disks).
    pub sync: Duration,
    /// -wal in use (bytes) past which we restart it ourselves; None: 4000 frames of the
    /// database's page size (`default_wal_limit`).
    pub wal_limit: Option<u64>,
    pub busy_timeout: Duration,
    /// Stop after this long (tests and benchmarks); None: until a signal.
    pub stop_after: Option<Duration>,
}

/// What replicate keeps of the segments it published: enough to compact and delete them.
#[derive(Default)]
struct Published {
    /// name → footer, of this chain and older ones.
    segments: BTreeMap<String, Footer>,
}

/// The chain being written.
struct Chain {
    id: String,
    next: u64,
}

pub fn run(target: &Target, app: &AppArgs, opts: &Options) -> Result<()> {
    let Connection::Sqlite { path: db } = &target.connection else {
        return Err(Error::Unsupported(
            "continuous backup covers SQLite databases; for MySQL/MariaDB, run db-backup from cron"
                .into(),
        ));
    };
    if !target.keys.can_seal() {
        return Err(Error::NoAppKey);
    }
    publish::ensure_dir(&target.backups_dir)?;
    let dir = changes::dir(&target.backups_dir);
    publish::ensure_dir(&dir)?;
    // One replicate per database, as one backup at a time: a second one exits at once (75).
    let _lock = publish::Lock::acquire(&dir)?;
    yield_to_the_app();
    publish::remove_stale(&dir)?;
    crate::engine::mysql::guard::catch_interrupts();
    let mut published = Published::default();
    let mut warnings = Vec::new();
    let files = changes::scan(&dir).map_err(Error::io("cannot list", &dir))?;
    for (path, verified) in files.iter().zip(pitr::verify_all(&files, &target.keys)) {
        match verified {
            Ok(f) => {
                published.segments.insert(f.name(), f);
            }
            Err(e) => warnings.push(format!("passed over {}: {e}", path.display())),
        }
    }
    report::warnings(&warnings);
    take_up_spool(target, &dir, db, &mut published)?;
    let stop = std::sync::atomic::AtomicBool::new(false);
    let disks = std::sync::Mutex::new(BTreeMap::new());
    /// Tells the shipper to end however the local loop ends (an error, or a panic: the scope
    /// would otherwise wait for the shipper for ever, and the process hang instead of dying).
    struct Stop<'a>(&'a std::sync::atomic::AtomicBool);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }
    std::thread::scope(|scope| {
        let shipper = scope.spawn(|| super::ship::run(target, &dir, opts.sync, &stop, &disks));
        let ran = {
            let _stop = Stop(&stop);
            follow(target, app, db, &dir, opts, &mut published, &disks)
        };
        // The disks get what the last look shipped locally, then the shipper ends.
        let _ = shipper.join();
        ran
    })
}

/// The local loop: look, publish, compact, forget, until a signal.
fn follow(
    target: &Target,
    app: &AppArgs,
    db: &Path,
    dir: &Path,
    opts: &Options,
    published: &mut Published,
    disks: &std::sync::Mutex<BTreeMap<String, super::ship::DiskState>>,
) -> Result<()> {
    let dir = dir.to_path_buf();
    let started = Instant::now();
    let mut session = Session::start(target, db, &dir, opts, published, None)?;
    // The last look that found the chain whole: what a break follows on from.
    let mut watched_ms = now_ms();
    let mut last_sync = Instant::now();
    let mut last_tidy = Instant::now();
    let mut restart_after = Instant::now();
    let mut last_status = Instant::now();
    loop {
        let stopping = crate::engine::mysql::guard::interrupted()
            || opts.stop_after.is_some_and(|d| started.elapsed() >= d);
        // Whatever was committed before this look, the look reads.
        let look_ms = now_ms();
        let sync = stopping || last_sync.elapsed() >= opts.sync;
        if sync {
            last_sync = Instant::now();
        }
        // Checked at every look, not every sync: the window opens once the bound is passed, not
        // up to a second of a busy app's commits later.
        let restart = session.follower.restart_due() && Instant::now() >= restart_after;
        // Turning to the other connection moves our read mark to the end: the window's first
        // checkpoint, with no lock, then copies all but what comes meanwhile.
        let seen = if sync || restart {
            session.follower.rotate(&mut session.writer)?
        } else {
            session.follower.poll(&mut session.writer)?
        };
        let seen = if restart && matches!(seen, Seen::Commits(_)) {
            let (more, window) = session.follower.restart_wal(&mut session.writer)?;
            restart_after = Instant::now()
                + match window {
                    Window::Armed => Duration::ZERO,
                    // The app kept checkpointing: soon, but not at every look (each try turns
                    // our read mark, which gives the app's next commit a checkpoint to run).
                    Window::Busy => Duration::from_millis(200),
                    // The app was writing, or its readers held the -wal: again in a moment
                    // (each try that takes the lock may cost the app a slow commit).
                    Window::Missed => Duration::from_secs(1),
                };
            more
        } else {
            seen
        };
        if session.follower.take_restarted() {
            report::event("the -wal was restarted");
        }
        if sync {
            session.ship(&dir, &target.keys, published)?;
        }
        if let Seen::Broken(why) = seen {
            report::event(&format!(
                "the chain broke ({why}): starting a new one from a new backup"
            ));
            session.ship(&dir, &target.keys, published)?;
            let follows = Follows {
                chain: session.chain.id.clone(),
                until_ms: watched_ms,
            };
            drop(session);
            session = Session::start(target, db, &dir, opts, published, Some(follows))?;
            watched_ms = now_ms();
            continue;
        }
        watched_ms = look_ms;
        if session.needs_snapshot {
            session.snapshot(target, app);
        }
        if last_tidy.elapsed() >= Duration::from_secs(10) || stopping {
            last_tidy = Instant::now();
            compact(&dir, &target.keys, published, now_ms(), &session.chain.id)?;
            forget(target, &dir, published)?;
        }
        // At each sync, not each look: a file made and renamed 20 times a second is 20
        // metadata changes the app's next fsync may have to commit with its own.
        if sync || last_status.elapsed() >= STATUS_EVERY {
            last_status = Instant::now();
            write_status(&dir, &session, now_ms(), disks);
        }
        if stopping {
            report::event("stopped: everything seen was shipped");
            return Ok(());
        }
        std::thread::sleep(LOOK);
    }
}

/// One chain being followed.
struct Session {
    follower: Follower,
    writer: Writer,
    chain: Chain,
    needs_snapshot: bool,
    snapshot_tried: Option<Instant>,
    /// The time of the last transaction published locally, and of the last seen.
    shipped_ms: i64,
}

impl Session {
    /// Opens the database and goes on with the newest chain when the database is still where
    /// it left it (same state checksum), else starts a new chain.
    fn start(
        target: &Target,
        db: &Path,
        dir: &Path,
        opts: &Options,
        published: &mut Published,
        follows: Option<Follows>,
    ) -> Result<Session> {
        let newest = published
            .segments
            .values()
            .max_by_key(|f| (f.end_ms, f.last));
        let (follower, resumed) = Follower::open(db, opts.busy_timeout, opts.wal_limit, newest)?;
        // A resumed chain's next segment starts where the last one ended (the catch-up
        // transaction, if any, is its first).
        let (mut base_state, mut base_pages) = (follower.state(), follower.db_pages());
        let (chain, needs_snapshot) = match newest {
            Some(f)
                if resumed
                    || f.end_state == follower.state() && f.page_size == follower.page_size() =>
            {
                report::event(&format!(
                    "going on with chain {} after transaction {}",
                    f.chain, f.last
                ));
                (base_state, base_pages) = (f.end_state, f.db_pages);
                (
                    Chain {
                        id: f.chain.clone(),
                        next: f.last + 1,
                    },
                    false,
                )
            }
            _ => {
                let id = new_chain_id();
                report::event(&format!("starting chain {id}"));
                (Chain { id, next: 1 }, true)
            }
        };
        let writer = Writer::new(
            dir,
            Some(segment::SPOOL),
            &chain.id,
            chain.next,
            follower.page_size(),
            base_state,
            base_pages,
            now_ms(),
        )?
        .with_mark(follower.mark());
        let mut s = Session {
            follower,
            writer,
            chain,
            needs_snapshot,
            snapshot_tried: None,
            shipped_ms: now_ms(),
        };
        if s.needs_snapshot {
            // The chain's opening segment: its first state, published before anything else.
            s.writer.follows(follows);
            s.ship_even_empty(dir, &target.keys, published)?;
        }
        Ok(s)
    }

    /// Publishes the open segment when it holds anything, and opens the next one.
    fn ship(
        &mut self,
        dir: &Path,
        keys: &crate::store::remote::Keys,
        published: &mut Published,
    ) -> Result<()> {
        if self.writer.footer().commits() == 0 {
            self.shipped_ms = now_ms();
            return Ok(());
        }
        self.ship_even_empty(dir, keys, published)
    }

    fn ship_even_empty(
        &mut self,
        dir: &Path,
        keys: &crate::store::remote::Keys,
        published: &mut Published,
    ) -> Result<()> {
        let (last, mark) = (self.writer.footer().last, self.follower.mark());
        let (staged, footer) = self.writer_take(dir)?.finish(keys)?;
        let name = footer.name();
        publish::publish(staged, dir, || name.clone())?;
        // The spool's name is free again: the next segment is written there.
        self.writer = Writer::new(
            dir,
            Some(segment::SPOOL),
            &self.chain.id,
            last + 1,
            self.follower.page_size(),
            self.follower.state(),
            self.follower.db_pages(),
            now_ms(),
        )?
        .with_mark(mark);
        self.chain.next = footer.last + 1;
        self.shipped_ms = now_ms();
        published.segments.insert(name, footer);
        Ok(())
    }

    /// The open segment, handed over to be finished (a placeholder takes its place until the
    /// next one is opened under the spool's name).
    fn writer_take(&mut self, dir: &Path) -> Result<Writer> {
        let placeholder = Writer::new(
            dir,
            None,
            &self.chain.id,
            1,
            self.follower.page_size(),
            0,
            0,
            0,
        )?;
        Ok(std::mem::replace(&mut self.writer, placeholder))
    }

    /// The chain's own backup: an ordinary full backup (every row: `--exclude-data=`), copied
    /// to the disks as any. It runs as a child process: a backup in this process would open
    /// and close descriptors of the database file, and closing any descriptor drops every
    /// POSIX lock the process holds on it, our connections' included (then the app's last
    /// connection to close may checkpoint and delete the -wal under us). A backup already
    /// running (cron, exit 75) is waited for: we try again in a moment.
    fn snapshot(&mut self, target: &Target, app: &AppArgs) {
        if self
            .snapshot_tried
            .is_some_and(|t| t.elapsed() < Duration::from_secs(5))
        {
            return;
        }
        self.snapshot_tried = Some(Instant::now());
        let mut cmd = match std::env::current_exe() {
            Ok(exe) => std::process::Command::new(exe),
            Err(e) => {
                report::warnings(&[format!(
                    "cannot find our own program to take the chain's backup: {e}"
                )]);
                return;
            }
        };
        cmd.arg("backup").arg("--exclude-data=");
        cmd.arg("--app-dir")
            .arg(app.app_dir.as_deref().unwrap_or(&target.app_dir));
        if let Some(env) = &app.env_file {
            cmd.arg("--env-file").arg(env);
        }
        cmd.stdin(std::process::Stdio::null());
        match cmd.status() {
            Ok(s) if s.success() => {
                self.needs_snapshot = false;
                report::event(&format!("chain {} has its backup", self.chain.id));
            }
            Ok(s) if s.code() == Some(i32::from(crate::error::EXIT_LOCKED)) => {}
            Ok(s) => report::warnings(&[format!(
                "the chain's backup failed ({s}); tried again in a moment"
            )]),
            Err(e) => report::warnings(&[format!("cannot run the chain's backup: {e}")]),
        }
    }
}

/// A run killed while writing a segment left its spool: its whole records are published as a
/// segment when they follow on from the newest one, so that nothing seen is lost.
fn take_up_spool(target: &Target, dir: &Path, db: &Path, published: &mut Published) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let spool = dir.join(segment::SPOOL);
    let inode = std::fs::metadata(db).map_or(0, |m| m.ino());
    if let Some((staged, footer)) = segment::recover(&spool, &target.keys, inode)? {
        let newest = published
            .segments
            .values()
            .max_by_key(|f| (f.end_ms, f.last));
        let follows = newest.is_some_and(|n| {
            n.chain == footer.chain
                && n.last + 1 == footer.first
                && n.end_state == footer.base_state
        });
        if follows {
            let name = footer.name();
            publish::publish(staged, dir, || name.clone())?;
            report::event(&format!(
                "took up {} transaction(s) a stopped run had seen but not shipped",
                footer.commits()
            ));
            published.segments.insert(name, footer);
        }
    }
    match std::fs::remove_file(&spool) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(Error::io("cannot delete", &spool)(e))
        }
        _ => Ok(()),
    }
}

/// Merges, in each finished window of 30 s, 5 min and 1 h, the segments of the current chain
/// into one (their transactions all kept: every point stays restorable), then deletes them.
fn compact(
    dir: &Path,
    keys: &crate::store::remote::Keys,
    published: &mut Published,
    now: i64,
    chain: &str,
) -> Result<()> {
    for window in LEVELS {
        let mine: Vec<Footer> = published
            .segments
            .values()
            // An empty segment (a chain's opening) stays as it is: merged with the next one
            // it would give that one's very name.
            .filter(|f| f.chain == chain && f.end_ms < now - window / 10 && f.commits() > 0)
            .cloned()
            .collect();
        let mut runs: Vec<Vec<Footer>> = Vec::new();
        for f in mine {
            let slot = f.start_ms.div_euclid(window);
            let closed = (slot + 1) * window <= now;
            let fits = f.end_ms.div_euclid(window) == slot;
            match runs.last_mut() {
                Some(run)
                    if closed
                        && fits
                        && run
                            .first()
                            .is_some_and(|r| r.start_ms.div_euclid(window) == slot)
                        && run.last().is_some_and(|p| p.last + 1 == f.first) =>
                {
                    run.push(f)
                }
                _ if closed && fits => runs.push(vec![f]),
                _ => runs.push(Vec::new()),
            }
        }
        for run in runs.into_iter().filter(|r| r.len() > 1) {
            let (staged, footer) = segment::merge(dir, &run, keys)?;
            let name = footer.name();
            publish::publish(staged, dir, || name.clone())?;
            published.segments.insert(name, footer);
            for f in &run {
                let path = dir.join(f.name());
                std::fs::remove_file(&path).map_err(Error::io("cannot delete", &path))?;
                published.segments.remove(&f.name());
            }
            publish::sync_dir(dir)?;
        }
    }
    Ok(())
}

/// Deletes the segments that hold only changes older than the oldest backup kept: no backup
/// they could be applied to is left (retention decides what stays restorable).
fn forget(target: &Target, dir: &Path, published: &mut Published) -> Result<()> {
    let backups = retention::scan(&target.backups_dir)?;
    let Some(oldest) = backups.iter().map(|b| b.taken_at).min() else {
        return Ok(());
    };
    let oldest_ms = match oldest.and_local_timezone(target.tz).earliest() {
        Some(t) => t.timestamp_millis(),
        None => return Ok(()),
    };
    // The newest segment stays whatever its age: a restarted replicate goes on from it.
    let newest = published
        .segments
        .values()
        .max_by_key(|f| (f.end_ms, f.last))
        .map(|f| f.name());
    let doomed: Vec<String> = published
        .segments
        .values()
        .filter(|f| f.end_ms < oldest_ms && Some(f.name()) != newest)
        .map(|f| f.name())
        .collect();
    for name in doomed {
        let path = dir.join(&name);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("cannot delete", &path)(e)),
        }
        published.segments.remove(&name);
    }
    Ok(())
}

/// What `status` reads: who runs, and how far shipping is.
fn write_status(
    dir: &Path,
    s: &Session,
    now: i64,
    disks: &std::sync::Mutex<BTreeMap<String, super::ship::DiskState>>,
) {
    let disks = disks.lock().map(|d| d.clone()).unwrap_or_default();
    let json = serde_json::json!({
        "disks": disks,
        "pid": std::process::id(),
        "updated_ms": now,
        "chain": s.chain.id,
        "shipped_ms": s.shipped_ms,
        "unshipped_since_ms": (s.writer.footer().commits() > 0).then_some(s.writer.footer().start_ms),
    });
    // Not fsynced on purpose: it is rewritten every look, and a stale one after a power cut
    // only makes status report what it last knew.
    let path = dir.join(changes::STATUS);
    let tmp = dir.join(format!(".{}.tmp", changes::STATUS));
    if std::fs::write(&tmp, json.to_string()).is_ok() {
        let _ = std::fs::rename(&tmp, &path);
    }
}

/// Lowers this thread's CPU priority to [`NICE`] (never raises it: a unit's higher Nice=
/// stays), before any thread or child is made: they inherit it. On a small server the app's
/// commits otherwise wait for a core while replicate reads and ships (measured, 2 cores:
/// p99 0.93 → 0.73 ms with the rest unchanged).
fn yield_to_the_app() {
    // SAFETY: plain system calls about this thread. Failing leaves the priority as it was.
    unsafe {
        if libc::getpriority(libc::PRIO_PROCESS, 0) < NICE {
            libc::setpriority(libc::PRIO_PROCESS, 0, NICE);
        }
    }
    yield_as_a_session();
}

/// With the kernel's autogroups (on by default), each session shares the CPU equally with the
/// others, and a nice value only orders the tasks of one session. systemd starts replicate as a
/// session of its own: there its nice would not yield to the app at all. So when replicate
/// leads its session, the session's own nice is lowered too (never raised). Started from a
/// shell, Artisan or Supervisor, it shares their session (Supervisor's holds its other
/// programs, the queue workers), and touches nothing of it.
fn yield_as_a_session() {
    // SAFETY: plain system calls about this process.
    if unsafe { libc::getsid(0) != libc::getpid() } {
        return;
    }
    let path = Path::new("/proc/self/autogroup");
    // "/autogroup-85 nice 0"; missing without autogroups, and empty where the kernel keeps the
    // session in no autogroup of its own (seen on a CI machine). Then there is nothing to do.
    let nice = std::fs::read_to_string(path)
        .ok()
        .and_then(|now| now.split_whitespace().last()?.parse::<i32>().ok());
    if nice.is_some_and(|n| n < NICE) {
        let _ = std::fs::write(path, NICE.to_string());
    }
}

fn now_ms() -> i64 {
    crate::engine::sqlite::replicate::seen_ms()
}

/// 16 hex digits, new for each chain: the time and the process make it unique on a machine.
fn new_chain_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_i64(now_ms());
    h.write_u32(std::process::id());
    format!("{:016x}", h.finish())
}
