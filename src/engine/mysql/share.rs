//! One table's rows over two connections. The server runs each connection's statements on one
//! core: parsing the values, checking and inserting the rows. A second connection, the helper,
//! runs some of a table's INSERTs while the load's own connection runs the others, so a
//! restore uses two cores of the server, as myloader's threads do.
//!
//! Only what cannot tell the difference is shared:
//! - files db-backup wrote (their first line says so): each table's INSERTs stand between its
//!   LOCK TABLES and UNLOCK TABLES, with autocommit on, and nothing between them reads what an
//!   earlier INSERT wrote;
//! - tables with a primary key: the rows end up in its order, whichever connection sent them
//!   (without one, InnoDB keeps them in arrival order, which two connections would mix);
//! - INSERTs only, each checked first by the load's checker like every other statement.
//!
//! The helper starts each table in the load's session state (database, sql_mode, character
//! set, time zone, checks), and every other statement waits until the helper has run what it
//! was given and said how it went: a failure of its statement is reported at its line, as the
//! load's own would be. `LOCK TABLES … WRITE` of a shared table is not run (the helper could
//! not write under the load's lock); the table is new and its rows are the dump's either way.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use mysql::prelude::Queryable;
use mysql::Conn;

use super::guard;
use super::{connect, Fail, MysqlParams};

/// What a file db-backup wrote starts with (dump.rs writes it).
const OURS: &[u8] = b"-- db-backup ";

/// What the helper is given, in order.
enum Job {
    /// Statements that put the helper in the load's session state.
    Enter(Vec<String>),
    /// An INSERT and its line.
    Run(usize, Vec<u8>),
    /// Say how everything before went.
    Report,
}

/// The helper's thread and how to talk to it.
struct Helper {
    jobs: SyncSender<Job>,
    reports: Receiver<Result<(), Fail>>,
    /// Set by the helper when a statement failed: the load asks for the report at once.
    failed: Arc<AtomicBool>,
    /// Jobs given since the last report.
    pending: bool,
    thread: Option<JoinHandle<()>>,
}

/// Who runs a statement.
pub enum Turn {
    /// The helper took it.
    Helper,
    /// An INSERT of the shared table the load's connection runs (the helper is busy).
    Shared(Vec<u8>),
    /// Not shared: the load runs it, after [`Sharing::settle`] and [`Sharing::running`].
    Alone(Vec<u8>),
}

/// The sharing of one load.
pub struct Sharing {
    params: MysqlParams,
    lock_wait: Duration,
    helper: Option<Helper>,
    /// The helper could not be opened: the load goes on alone.
    alone: bool,
    /// The table being loaded (quoted, as its CREATE names it) when its rows may be shared.
    table: Option<Vec<u8>>,
    /// Whether the helper is in the load's session state for this table.
    entered: bool,
}

impl Sharing {
    /// Sharing for a load of `head` (the file's first bytes), or None when the file is not
    /// one db-backup wrote.
    pub fn new(params: &MysqlParams, lock_wait: Duration, head: &[u8]) -> Option<Sharing> {
        head.starts_with(OURS).then(|| Sharing {
            params: params.clone(),
            lock_wait,
            helper: None,
            alone: false,
            table: None,
            entered: false,
        })
    }

    /// Notes a statement the load runs alone (after [`Sharing::settle`]): a
    /// CREATE TABLE with a primary key starts a table whose rows may be shared; anything else
    /// may change the session, which the helper takes again before its next INSERT.
    pub fn running(&mut self, sql: &[u8]) {
        self.entered = false;
        if let Some(name) = created(sql) {
            self.table = has_primary_key(sql).then(|| name.to_vec());
        }
    }

    /// Whether `sql` is the shared table's LOCK TABLES, which is not run.
    pub fn skips(&self, sql: &[u8]) -> bool {
        self.table.as_ref().is_some_and(|t| {
            sql.strip_prefix(b"LOCK TABLES ")
                .and_then(|r| r.strip_prefix(&t[..]))
                .is_some_and(|r| r == b" WRITE")
        })
    }

    /// Whether `sql` is an INSERT into the shared table.
    fn shares(&self, sql: &[u8]) -> bool {
        self.table.as_ref().is_some_and(|t| {
            sql.strip_prefix(b"INSERT INTO ")
                .and_then(|r| r.strip_prefix(&t[..]))
                .is_some_and(|r| r.starts_with(b" "))
        })
    }

    /// Gives `sql` to the helper when it is an INSERT of the shared table and the helper is
    /// free.
    pub fn offer(&mut self, conn: &mut Conn, line: usize, sql: Vec<u8>) -> Result<Turn, Fail> {
        if self.alone || !self.shares(&sql) {
            return Ok(Turn::Alone(sql));
        }
        if self.helper.is_none() {
            match self.open() {
                Some(h) => self.helper = Some(h),
                None => {
                    self.alone = true;
                    return Ok(Turn::Alone(sql));
                }
            }
        }
        if !self.entered {
            let Some(state) = session(conn)? else {
                // Autocommit off: the rows would be in two transactions.
                self.table = None;
                return Ok(Turn::Alone(sql));
            };
            self.send(Job::Enter(state))?;
            self.entered = true;
            // The helper is free at a table's start: its first INSERT is the helper's.
            self.send(Job::Run(line, sql))?;
            return Ok(Turn::Helper);
        }
        if self
            .helper
            .as_ref()
            .is_some_and(|h| h.failed.load(Ordering::Acquire))
        {
            self.settle()?;
        }
        let h = self.helper.as_mut().expect("the helper is open");
        match h.jobs.try_send(Job::Run(line, sql)) {
            Ok(()) => {
                h.pending = true;
                Ok(Turn::Helper)
            }
            Err(TrySendError::Full(Job::Run(_, sql))) => Ok(Turn::Shared(sql)),
            Err(_) => Err(gone()),
        }
    }

    /// Waits until the helper has run what it was given; its failure is the load's.
    pub fn settle(&mut self) -> Result<(), Fail> {
        let Some(h) = self.helper.as_mut().filter(|h| h.pending) else {
            return Ok(());
        };
        h.jobs.send(Job::Report).map_err(|_| gone())?;
        h.pending = false;
        h.reports.recv().map_err(|_| gone())?
    }

    fn send(&mut self, job: Job) -> Result<(), Fail> {
        let h = self.helper.as_mut().expect("the helper is open");
        h.jobs.send(job).map_err(|_| gone())?;
        h.pending = true;
        Ok(())
    }

    /// Opens the helper's connection and thread; None when the server gives no second
    /// connection (the load then runs alone, as before).
    fn open(&self) -> Option<Helper> {
        let mut conn = connect(&self.params, None).ok()?;
        guard::bound_lock_waits(&mut conn, self.lock_wait).ok()?;
        guard::cancel_also(conn.connection_id());
        // One INSERT waiting while the helper runs another: memory stays two statements.
        let (jobs, rx) = mpsc::sync_channel(1);
        let (tx, reports) = mpsc::channel();
        let failed = Arc::new(AtomicBool::new(false));
        let flag = failed.clone();
        let thread = std::thread::spawn(move || help(conn, rx, tx, flag));
        Some(Helper {
            jobs,
            reports,
            failed,
            pending: false,
            thread: Some(thread),
        })
    }
}

impl Drop for Sharing {
    fn drop(&mut self) {
        if let Some(mut h) = self.helper.take() {
            drop(h.jobs);
            if let Some(t) = h.thread.take() {
                let _ = t.join();
            }
        }
        guard::cancel_also(0);
    }
}

fn gone() -> Fail {
    Fail::Io(std::io::Error::other(
        "the second loading connection stopped",
    ))
}

/// The helper: runs INSERTs in order; after a failure (or Ctrl-C) it runs nothing more and
/// reports the first failure.
fn help(
    mut conn: Conn,
    jobs: Receiver<Job>,
    reports: mpsc::Sender<Result<(), Fail>>,
    failed: Arc<AtomicBool>,
) {
    let mut first: Option<Fail> = None;
    for job in jobs {
        match job {
            Job::Report => {
                let _ = reports.send(first.take().map_or(Ok(()), Err));
                failed.store(false, Ordering::Release);
            }
            _ if first.is_some() => {}
            _ if guard::interrupted() => first = Some(Fail::Interrupted),
            Job::Enter(state) => {
                for sql in state {
                    if let Err(e) = conn.query_drop(&sql) {
                        first = Some(e.into());
                        break;
                    }
                }
            }
            Job::Run(line, sql) => {
                if let Err(e) = conn.query_bytes_drop(&sql) {
                    first = Some(Fail::at(line, &sql, e));
                }
            }
        }
        if first.is_some() {
            failed.store(true, Ordering::Release);
        }
    }
}

/// The load's session state, as statements for the helper; None with autocommit off.
fn session(conn: &mut Conn) -> Result<Option<Vec<String>>, Fail> {
    type Row = (
        Option<String>,
        String,
        String,
        String,
        String,
        String,
        u8,
        u8,
        u8,
    );
    let row: Option<Row> = conn.query_first(
        "SELECT DATABASE(), @@SESSION.sql_mode, @@SESSION.character_set_client,
                @@SESSION.character_set_connection, @@SESSION.collation_connection,
                @@SESSION.time_zone, @@SESSION.unique_checks, @@SESSION.foreign_key_checks,
                @@SESSION.autocommit",
    )?;
    let Some((db, mode, client, connection, collation, zone, unique, foreign, auto)) = row else {
        return Ok(None);
    };
    if auto != 1 {
        return Ok(None);
    }
    let mut out = Vec::new();
    if let Some(db) = db {
        out.push(format!("USE {}", super::encode::ident(&db)));
    }
    // sql_mode last: the values before it are read under the helper's own (default) mode.
    out.push(format!(
        "SET SESSION character_set_client = {}, SESSION character_set_connection = {}, \
         SESSION collation_connection = {}, SESSION time_zone = {}, \
         SESSION unique_checks = {unique}, SESSION foreign_key_checks = {foreign}, \
         SESSION sql_mode = {}",
        quoted(&client),
        quoted(&connection),
        quoted(&collation),
        quoted(&zone),
        quoted(&mode),
    ));
    Ok(Some(out))
}

/// A server-given value as a string literal that reads the same whether backslashes escape or
/// not: one holding a quote or a backslash is written as hex.
fn quoted(v: &str) -> String {
    if v.contains('\\') || v.contains('\'') {
        let hex: String = v.bytes().map(|b| format!("{b:02x}")).collect();
        return format!("CONVERT(X'{hex}' USING utf8mb4)");
    }
    format!("'{v}'")
}

/// The quoted name a `CREATE TABLE` statement creates, as dump tools write it.
fn created(sql: &[u8]) -> Option<&[u8]> {
    let rest = sql.strip_prefix(b"CREATE TABLE `")?;
    let mut i = 0;
    while i < rest.len() {
        if rest[i] == b'`' {
            if rest.get(i + 1) == Some(&b'`') {
                i += 2;
                continue;
            }
            return Some(&sql[13..13 + i + 2]);
        }
        i += 1;
    }
    None
}

/// Whether a CREATE TABLE laid out as `SHOW CREATE TABLE` writes it has a primary key.
fn has_primary_key(sql: &[u8]) -> bool {
    sql.windows(16).any(|w| w == b"\n  PRIMARY KEY (")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> MysqlParams {
        MysqlParams {
            host: "127.0.0.1".into(),
            port: 1,
            socket: None,
            database: "d".into(),
            user: "u".into(),
            password: String::new(),
            ssl_ca: None,
        }
    }

    #[test]
    fn the_created_table_is_named_with_its_quotes() {
        assert_eq!(
            created(b"CREATE TABLE `a``b` (\n  `id` int\n)"),
            Some(&b"`a``b`"[..])
        );
        assert_eq!(created(b"CREATE TABLE IF NOT EXISTS `t` (x int)"), None);
        assert_eq!(created(b"CREATE TABLE `t"), None);
    }

    #[test]
    fn only_the_shared_tables_inserts_and_lock_are_recognised() {
        let mut s = Sharing::new(
            &params(),
            Duration::from_secs(1),
            b"-- db-backup 1.0 dump\n",
        )
        .expect("our file");
        s.running(b"CREATE TABLE `t` (\n  `id` int NOT NULL,\n  PRIMARY KEY (`id`)\n)");
        assert!(s.shares(b"INSERT INTO `t` (`id`) VALUES (1)"));
        assert!(!s.shares(b"INSERT INTO `t2` (`id`) VALUES (1)"));
        assert!(!s.shares(b"INSERT INTO `t`(`id`) VALUES (1)"));
        assert!(s.skips(b"LOCK TABLES `t` WRITE"));
        assert!(!s.skips(b"LOCK TABLES `t` WRITE, `u` WRITE"));
        // No primary key: the rows' order would be the arrival order.
        s.running(b"CREATE TABLE `h` (\n  `id` int NOT NULL\n)");
        assert!(!s.shares(b"INSERT INTO `h` (`id`) VALUES (1)"));
        assert!(!s.skips(b"LOCK TABLES `h` WRITE"));
        assert!(!s.shares(b"INSERT INTO `t` (`id`) VALUES (1)"));
    }

    #[test]
    fn a_file_someone_else_wrote_is_not_shared() {
        let p = params();
        assert!(Sharing::new(&p, Duration::from_secs(1), b"-- MySQL dump 10.13\n").is_none());
        assert!(Sharing::new(&p, Duration::from_secs(1), b"").is_none());
    }

    #[test]
    fn session_values_read_the_same_under_any_mode() {
        assert_eq!(quoted("NO_AUTO_VALUE_ON_ZERO"), "'NO_AUTO_VALUE_ON_ZERO'");
        assert_eq!(quoted("a'b"), "CONVERT(X'612762' USING utf8mb4)");
    }
}
