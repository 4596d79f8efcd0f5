//! Keeping a load under control while a statement runs: Ctrl-C and SIGTERM, a second connection
//! that cancels the running statement, and pings that bound how long we wait for a silent server.
//!
//! A socket read timeout cannot tell a dead server from a statement that legitimately runs for
//! a long time (an index build, a huge INSERT, a trigger doing real work): the server sends
//! nothing until the statement ends. So the load has no read timeout; instead it runs on a
//! worker thread while this thread asks the server, over a second connection, whether it is
//! still there. A server that answers is working on our statement and we keep waiting; one that
//! has not answered for [`PING_TIMEOUT`] is given up on. Lock waits are bounded by the server
//! itself (`lock_wait_timeout`, `innodb_lock_wait_timeout`, set by the caller).

use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use mysql::prelude::Queryable;
use mysql::Conn;

use super::{connect, Fail, MysqlParams};
use crate::error::Error;

/// How often the second connection pings the server while the load runs.
const PING_EVERY: Duration = Duration::from_secs(10);
/// A server that has not answered a ping in this time (or a fresh connection after it) is
/// gone or hung; no legitimate work delays a ping that long.
pub const PING_TIMEOUT: Duration = Duration::from_secs(30);
/// How often we look at the worker and the interrupt flag.
const TICK: Duration = Duration::from_millis(50);
/// After a Ctrl-C, the running statement is cancelled again at this pace until the load stops
/// (a KILL QUERY that lands between two statements cancels nothing).
const KILL_AGAIN: Duration = Duration::from_secs(1);

/// Signals received while a load runs (SIGINT, SIGTERM).
static SIGNALS: AtomicUsize = AtomicUsize::new(0);
/// A second loading connection (share.rs) whose statement is cancelled with the load's; 0:
/// none.
static ALSO: AtomicU32 = AtomicU32::new(0);

/// Cancels connection `id`'s statement too after Ctrl-C (0: no more).
pub fn cancel_also(id: u32) {
    ALSO.store(id, Ordering::SeqCst);
}

/// What the second signal writes to stderr before leaving: bytes made in advance, since a
/// signal handler may not allocate or format. Null: nothing.
static LAST_WORDS: AtomicPtr<Vec<u8>> = AtomicPtr::new(std::ptr::null_mut());

extern "C" fn on_signal(sig: libc::c_int) {
    if SIGNALS.fetch_add(1, Ordering::SeqCst) == 0 {
        // The first one: the load stops at the next statement and cancels the running one.
        return;
    }
    // The second one: leave now. Only async-signal-safe calls: write(2) of bytes prepared
    // earlier (never freed while the process runs), then _exit.
    let words = LAST_WORDS.load(Ordering::SeqCst);
    // SAFETY: a non-null pointer comes from Box::into_raw in set_last_words and is never freed.
    unsafe {
        if let Some(words) = words.as_ref() {
            libc::write(2, words.as_ptr().cast(), words.len());
        }
        libc::_exit(128 + sig);
    }
}

/// Routes Ctrl-C and SIGTERM to the flag for the rest of the process: the first one stops the
/// load cleanly, the second one exits at once.
pub fn catch_interrupts() {
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: installing a handler that only touches atomics, write(2) and _exit.
    unsafe {
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
}

/// Whether Ctrl-C or SIGTERM came.
pub fn interrupted() -> bool {
    SIGNALS.load(Ordering::SeqCst) > 0
}

/// The line a second signal prints before exiting (`None`: nothing). It is the one print
/// outside `report`: a signal handler can only write bytes made in advance, so the line is
/// worded here as `report::error` words any error.
pub fn set_last_words(e: Option<&Error>) {
    let words = e.map(|e| format!("db-backup: error: {e}\n").into_bytes());
    let new = words.map_or(std::ptr::null_mut(), |w| Box::into_raw(Box::new(w)));
    // The old words are leaked on purpose: the handler may be reading them right now.
    LAST_WORDS.swap(new, Ordering::SeqCst);
}

/// Bounds every lock wait of the session: metadata locks (DROP TABLE, LOCK TABLES, any DDL
/// behind another session's open transaction) and InnoDB row locks. Only waiting is bounded,
/// never a statement's own work, so no long INSERT or index build is cut short.
pub(super) fn bound_lock_waits(conn: &mut Conn, wait: Duration) -> Result<(), Fail> {
    // Both servers take 1 s at least; --busy-timeout is at most a day, under both maxima.
    let s = wait.as_secs().max(1);
    conn.query_drop(format!(
        "SET SESSION lock_wait_timeout = {s}, SESSION innodb_lock_wait_timeout = {s}"
    ))?;
    Ok(())
}

/// The second connection: cancels the running statement after Ctrl-C, and proves the server is
/// still there while a statement runs.
struct Watch<'p> {
    params: &'p MysqlParams,
    conn: Option<Conn>,
    /// The load's connection id, for KILL QUERY.
    target: u32,
}

impl Watch<'_> {
    /// Whether the server answers: a ping on our connection, else on a fresh one.
    fn alive(&mut self) -> bool {
        if let Some(c) = &mut self.conn {
            if c.ping().is_ok() {
                return true;
            }
        }
        self.conn = connect(self.params, Some(PING_TIMEOUT)).ok();
        self.conn.as_mut().is_some_and(|c| c.ping().is_ok())
    }

    /// Cancels the statement the load runs, if any; best effort (the load also stops before its
    /// next statement).
    fn cancel(&mut self) {
        if let Some(c) = &mut self.conn {
            let _ = c.query_drop(format!("KILL QUERY {}", self.target));
            let also = ALSO.load(Ordering::SeqCst);
            if also != 0 {
                let _ = c.query_drop(format!("KILL QUERY {also}"));
            }
        }
    }
}

enum Msg<T> {
    Warn(String),
    Done(Conn, Result<T, Fail>),
}

/// Runs `job` on `conn` in a worker thread, under watch: Ctrl-C cancels the running statement
/// and makes the job fail with [`Fail::Interrupted`]; a server that stops answering pings makes
/// it fail with [`Fail::Unresponsive`] (the worker is then left blocked, and the connection is
/// not given back). Warnings reach `warn` on this thread.
pub(super) fn supervised<T, J>(
    conn: Conn,
    params: &MysqlParams,
    job: J,
    warn: &mut dyn FnMut(String),
) -> (Option<Conn>, Result<T, Fail>)
where
    T: Send + 'static,
    J: FnOnce(&mut Conn, &mut dyn FnMut(String)) -> Result<T, Fail> + Send + 'static,
{
    let mut watch = Watch {
        params,
        target: conn.connection_id(),
        conn: None,
    };
    // Without a second connection neither Ctrl-C nor a silent server could be handled: refuse
    // before anything is loaded.
    match connect(params, Some(PING_TIMEOUT)) {
        Ok(c) => watch.conn = Some(c),
        Err(f) => return (Some(conn), Err(f)),
    }
    let (tx, rx) = mpsc::channel();
    let worker = std::thread::spawn(move || {
        let mut conn = conn;
        let warnings = tx.clone();
        let result = job(&mut conn, &mut |w| {
            let _ = warnings.send(Msg::Warn(w));
        });
        let _ = tx.send(Msg::Done(conn, result));
    });
    let mut pinged = Instant::now();
    let mut cancelled: Option<Instant> = None;
    loop {
        match rx.recv_timeout(TICK) {
            Ok(Msg::Warn(w)) => warn(w),
            Ok(Msg::Done(conn, result)) => {
                let _ = worker.join();
                // A statement cancelled by our KILL QUERY fails with "interrupted": say why.
                let result = result.map_err(|f| if interrupted() { Fail::Interrupted } else { f });
                return (Some(conn), result);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                return (
                    None,
                    Err(Fail::Io(std::io::Error::other(
                        "the load stopped unexpectedly",
                    ))),
                )
            }
        }
        if interrupted() && cancelled.is_none_or(|t| t.elapsed() >= KILL_AGAIN) {
            watch.cancel();
            cancelled = Some(Instant::now());
        }
        if pinged.elapsed() >= PING_EVERY {
            if !watch.alive() {
                return (None, Err(Fail::Unresponsive(PING_TIMEOUT)));
            }
            pinged = Instant::now();
        }
    }
}
