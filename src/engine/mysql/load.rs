//! Loading a `.sql` dump into a server with our own code: statement by statement, in constant
//! memory, with no `mysql` client. Used to verify a dump (into a scratch database that is always
//! dropped) and to restore one (into the app's database).

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use mysql::prelude::Queryable;
use mysql::Conn;

use super::defer::{self, Deferred};
use super::foreign::{Checker, Scope, Server, Verdict};
use super::guard::{self, bound_lock_waits, catch_interrupts, supervised};
use super::inventory::Inventory;
use super::script::Statements;
use super::share::{Sharing, Turn};
use super::{connect, explain, max_packet, Fail, MysqlParams};
use crate::engine::{Contents, Meter};
use crate::error::{Error, Result};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Lock waits while verifying: nothing else uses the scratch database, so only a global lock
/// (FLUSH TABLES WITH READ LOCK of another backup tool) can make a statement wait.
const VERIFY_LOCK_WAIT: Duration = Duration::from_secs(60);

/// What the checker needs to read a file as the server will: its version, its other
/// databases, the session's sql_mode at the start of a load.
#[derive(Debug, Clone)]
pub struct Facts {
    server: Server,
    databases: Vec<String>,
    sql_mode: String,
}

fn facts(conn: &mut Conn) -> Result<Facts, Fail> {
    let (version, sql_mode): (String, String) = conn
        .query_first("SELECT VERSION(), @@SESSION.sql_mode")?
        .unwrap_or_default();
    let databases: Vec<String> = conn.query("SHOW DATABASES")?;
    Ok(Facts {
        server: Server::from_version(&version),
        databases,
        sql_mode,
    })
}

/// A warning when the app's user holds privileges on the whole server (`ON *.*` beyond
/// USAGE): a file it loads runs with those rights, so the checker is all that stands between a
/// planted dump and the other databases.
fn global_privileges(conn: &mut Conn, params: &MysqlParams) -> Option<String> {
    let grants: Vec<String> = conn.query("SHOW GRANTS").ok()?;
    let global = grants.iter().find(|g| {
        let g = g.to_ascii_uppercase();
        g.starts_with("GRANT ") && g.contains(" ON *.* ") && !g.starts_with("GRANT USAGE ON")
    })?;
    let what: String = global
        .split(" ON ")
        .next()
        .unwrap_or_default()
        .trim_start_matches("GRANT ")
        .chars()
        .take(80)
        .collect();
    Some(format!(
        "the app's MySQL user '{}' holds privileges on the whole server ({what}): a dump it loads runs with them; give it rights on the app's database only (GRANT ALL ON `{}`.* TO …, plus `dbbackup\\_verify\\_%`.* for verify)",
        params.user, params.database
    ))
}

fn warn_global(conn: &mut Conn, params: &MysqlParams, warn: &mut dyn FnMut(String)) {
    if let Some(w) = global_privileges(conn, params) {
        warn(w);
    }
}

fn checker<'a>(scope: Scope<'a>, facts: &Facts) -> Result<Checker<'a>, Fail> {
    Checker::new(
        scope,
        facts.server,
        facts.databases.clone(),
        &facts.sql_mode,
    )
    .map_err(|why| Fail::Refused(0, why))
}

/// A dump that ends mid-statement or lacks the "-- Dump completed" line that both mysqldump and
/// db-backup write last was cut short, and one holding a statement the load would refuse cannot
/// be loaded: refuse it before anything is changed. This reads the whole file once, through the
/// very splitter and checker the load uses, with the state the server gives the load.
pub fn precheck(params: &MysqlParams, file: &Path, warn: &mut dyn FnMut(String)) -> Result<()> {
    let bad = |detail: &str| Error::BadBackup {
        file: file.to_path_buf(),
        detail: detail.to_string(),
    };
    let mut f = File::open(file).map_err(Error::io("cannot read", file))?;
    let len = f.metadata().map_err(Error::io("cannot read", file))?.len();
    let tail_len = len.min(4096);
    f.seek(SeekFrom::Start(len - tail_len))
        .map_err(Error::io("cannot read", file))?;
    let mut tail = Vec::new();
    f.read_to_end(&mut tail)
        .map_err(Error::io("cannot read", file))?;
    let text = String::from_utf8_lossy(&tail);
    if !text
        .lines()
        .rev()
        .take(5)
        .any(|l| l.starts_with("-- Dump completed"))
    {
        return Err(bad(
            "it does not end with the \"-- Dump completed\" line: the file is truncated",
        ));
    }
    let explained = |f: Fail| explain(f, params, file, false);
    let mut conn = connect(params, None).map_err(explained)?;
    let facts = facts(&mut conn).map_err(explained)?;
    warn_global(&mut conn, params, warn);
    let scope = Scope {
        app: &params.database,
        target: &params.database,
    };
    check_all(file, scope, &facts).map_err(explained)
}

/// Runs the whole file through the splitter and checker as the load will, running nothing:
/// the first statement the load would refuse, with its line.
fn check_all(file: &Path, scope: Scope, facts: &Facts) -> Result<(), Fail> {
    let f = File::open(file).map_err(Fail::Script)?;
    let mut statements = Statements::new(BufReader::with_capacity(1 << 20, f));
    let mut checker = checker(scope, facts)?;
    while let Some(stmt) = statements.next() {
        let stmt = stmt.map_err(Fail::Script)?;
        if let Verdict::Refuse(detail) = checker.judge(&stmt.sql) {
            return Err(Fail::Refused(stmt.line, detail));
        }
        follow(&mut statements, &checker);
    }
    Ok(())
}

/// The splitter reads the next statement as the server will, under the sql_mode set so far.
fn follow<R: std::io::BufRead>(statements: &mut Statements<R>, checker: &Checker) {
    let mode = checker.mode();
    statements.set_no_backslash_escapes(mode.no_backslash_escapes);
    statements.set_ansi_quotes(mode.ansi_quotes);
}

/// Streams every statement of `file` into `conn`; returns how many were run. Each statement is
/// judged whole first (foreign.rs): server-wide ones dump tools write are skipped (one warning
/// per kind), anything else that is not what dump tools write stops the load.
fn load(
    conn: &mut Conn,
    (params, lock_wait): (&MysqlParams, Duration),
    file: &Path,
    scope: Scope,
    facts: &Facts,
    meter: &Meter,
    warn: &mut dyn FnMut(String),
) -> Result<u64, Fail> {
    let f = File::open(file).map_err(Fail::Script)?;
    if let Ok(m) = f.metadata() {
        meter.total.store(m.len(), Ordering::Relaxed);
    }
    // The command byte goes in the same packet as the statement.
    let longest = max_packet(conn)?.saturating_sub(1);
    let mut n = 0;
    let mut statements = Statements::new(BufReader::with_capacity(1 << 20, f));
    let mut checker = checker(scope, facts)?;
    let mut warned = BTreeSet::new();
    // Keys of the table being loaded, added once its rows are in (defer.rs), and the line of
    // its CREATE.
    let mut waiting: Option<(usize, Deferred)> = None;
    let mut sharing = Sharing::new(params, lock_wait, &head(file)?);
    while let Some(stmt) = statements.next() {
        if guard::interrupted() {
            return Err(Fail::Interrupted);
        }
        let stmt = stmt.map_err(Fail::Script)?;
        let line = stmt.line;
        let sql = match checker.judge(&stmt.sql) {
            Verdict::Run => stmt.sql,
            Verdict::RunAs(sql) => sql,
            Verdict::Skip { kind, why } => {
                if warned.insert(kind.clone()) {
                    warn(format!(
                        "skipped `{kind}` at line {line} of {}, and any later one: {why}",
                        file.display()
                    ));
                }
                continue;
            }
            Verdict::Refuse(detail) => return Err(Fail::Refused(line, detail)),
        };
        if sql.len() > longest {
            return Err(Fail::StatementTooLarge {
                line,
                bytes: sql.len(),
                limit: longest + 1,
            });
        }
        let sql = match &mut sharing {
            None => sql,
            Some(s) => match s.offer(conn, line, sql)? {
                Turn::Helper => {
                    meter.set_done(statements.position());
                    n += 1;
                    continue;
                }
                Turn::Shared(sql) => sql,
                Turn::Alone(sql) => {
                    s.settle()?;
                    s.running(&sql);
                    if s.skips(&sql) {
                        n += 1;
                        continue;
                    }
                    sql
                }
            },
        };
        if let Some((_, d)) = &waiting {
            if !d.covers(&sql) {
                add_keys(conn, waiting.take())?;
            }
        }
        match deferrable(conn, &sql)? {
            Some((create, keys)) => {
                send(conn, &create).map_err(|e| Fail::at(line, &create, e))?;
                waiting = Some((line, keys));
            }
            None => send(conn, &sql).map_err(|e| Fail::at(line, &sql, e))?,
        }
        meter.set_done(statements.position());
        if sql.len() > 12 && sql[..12].eq_ignore_ascii_case(b"CREATE TABLE") {
            meter.tables.fetch_add(1, Ordering::Relaxed);
        }
        // The server says whether backslashes escape; the checker must have followed it.
        if conn.no_backslash_escape() != checker.mode().no_backslash_escapes {
            return Err(Fail::Refused(
                line,
                "after it, the server's sql_mode is not what the file set; how the rest reads cannot be known".into(),
            ));
        }
        follow(&mut statements, &checker);
        n += 1;
    }
    if let Some(s) = &mut sharing {
        s.settle()?;
    }
    add_keys(conn, waiting.take())?;
    if statements.unterminated() {
        return Err(Fail::Script(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the script ends inside a statement: the file is truncated",
        )));
    }
    Ok(n)
}

/// The first bytes of `file`: whether db-backup wrote it.
fn head(file: &Path) -> Result<Vec<u8>, Fail> {
    let mut head = Vec::with_capacity(64);
    File::open(file)
        .and_then(|f| f.take(64).read_to_end(&mut head))
        .map_err(Fail::Script)?;
    Ok(head)
}

/// A CREATE TABLE whose keys can wait for its rows: only while foreign_key_checks is off,
/// as dumps load (a foreign key to a table not created yet is then allowed either way).
fn deferrable(conn: &mut Conn, sql: &[u8]) -> Result<Option<(Vec<u8>, Deferred)>, Fail> {
    if !sql.starts_with(b"CREATE TABLE `") {
        return Ok(None);
    }
    let Some(split) = defer::split(sql) else {
        return Ok(None);
    };
    let checks: Option<i64> = conn.query_first("SELECT @@foreign_key_checks")?;
    Ok((checks == Some(0)).then_some(split))
}

/// Adds a loaded table's keys back (foreign ones unchecked, as they were created); a failure
/// is its CREATE's.
fn add_keys(conn: &mut Conn, waiting: Option<(usize, Deferred)>) -> Result<(), Fail> {
    let Some((line, keys)) = waiting else {
        return Ok(());
    };
    conn.query_drop("SET @db_backup_fk = @@foreign_key_checks, foreign_key_checks = 0")?;
    for sql in keys.statements() {
        send(conn, &sql).map_err(|e| Fail::at(line, &sql, e))?;
    }
    conn.query_drop("SET foreign_key_checks = @db_backup_fk")?;
    Ok(())
}

/// Sends a statement as the bytes it is, as the stock client does. Its strings need not be
/// UTF-8: binary values are raw bytes inside quotes, in mysqldump's and mariadb-dump's files
/// (without --hex-blob) as in ours (`_binary'…'`), and the server stores them byte for byte.
/// Rewriting them (as hex, say) would make statements longer than the server's
/// `max_allowed_packet` out of ones that fit.
fn send(conn: &mut Conn, sql: &[u8]) -> mysql::Result<()> {
    conn.query_bytes_drop(sql)
}

/// Every base table of `db` with its row count.
fn table_counts(conn: &mut Conn, db: &str) -> Result<Vec<(String, u64)>, Fail> {
    let names: Vec<String> = conn.exec(
        "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? \
         AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
        (db,),
    )?;
    let mut out = Vec::new();
    for t in names {
        let q = format!(
            "SELECT COUNT(*) FROM {}.{}",
            super::encode::ident(db),
            super::encode::ident(&t)
        );
        let n: Option<u64> = conn.query_first(q)?;
        out.push((t, n.unwrap_or(0)));
    }
    Ok(out)
}

/// Loads the dump into a scratch database on the app's server (a unique name, dropped
/// afterwards even on failure or Ctrl-C) and reports its tables.
pub fn verify(params: &MysqlParams, file: &Path, warn: &mut dyn FnMut(String)) -> Result<Contents> {
    catch_interrupts();
    let scratch = crate::engine::scratch_name(&params.database);
    let mut conn = connect(params, None).map_err(|f| explain(f, params, file, false))?;
    let fail = |f: Fail| explain(f, params, file, true);
    // The whole file is judged before the scratch database exists: a refused file changes
    // nothing at all, and the load below judges it again the same way.
    let facts = facts(&mut conn).map_err(|f| explain(f, params, file, false))?;
    warn_global(&mut conn, params, warn);
    check_all(
        file,
        Scope {
            app: &params.database,
            target: &scratch,
        },
        &facts,
    )
    .map_err(|f| explain(f, params, file, false))?;
    let scratch_hint = |e: mysql::Error| {
        match &e {
        mysql::Error::MySqlError(m) if matches!(m.code, 1044 | 1142) => Error::MysqlPrivilege {
            user: params.user.clone(),
            db: scratch.clone(),
            detail: format!(
                "verifying a .sql dump loads it into a scratch database; allow it with GRANT ALL ON `dbbackup\\_verify\\_%`.* TO '{}' ({})",
                params.user, m.message
            ),
        },
        _ => fail(e.into()),
    }
    };
    conn.query_drop(format!(
        "CREATE DATABASE {}",
        super::encode::ident(&scratch)
    ))
    .map_err(scratch_hint)?;
    if let Err(e) = conn.query_drop(format!("USE {}", super::encode::ident(&scratch))) {
        let _ = conn.query_drop(format!(
            "DROP DATABASE IF EXISTS {}",
            super::encode::ident(&scratch)
        ));
        return Err(scratch_hint(e));
    }
    guard::set_last_words(Some(&Error::VerifyStopped {
        scratch: scratch.clone(),
    }));
    let (path, db, app) = (file.to_path_buf(), scratch.clone(), params.database.clone());
    let owned = params.clone();
    let (conn, result) = supervised(
        conn,
        params,
        move |conn, warn| {
            bound_lock_waits(conn, VERIFY_LOCK_WAIT)?;
            let scope = Scope {
                app: &app,
                target: &db,
            };
            let how = (&owned, VERIFY_LOCK_WAIT);
            load(conn, how, &path, scope, &facts, &Meter::default(), warn)?;
            table_counts(conn, &db)
        },
        warn,
    );
    let dropped = drop_scratch(conn, params, &scratch);
    guard::set_last_words(None);
    let tables = match (result.map_err(fail), dropped) {
        (Ok(tables), Ok(())) => tables,
        (Ok(_), Err(why)) => {
            return Err(Error::ScratchLeft {
                scratch,
                detail: why,
            })
        }
        (Err(e), Ok(())) => return Err(e),
        // The load's own failure first; the database left behind is said too.
        (Err(e), Err(why)) => {
            warn(format!(
                "could not drop the scratch database {scratch} ({why}); drop it by hand: DROP DATABASE `{scratch}`"
            ));
            return Err(e);
        }
    };
    Ok(Contents {
        check: format!("loaded into a scratch database on {}", params.server()),
        tables,
    })
}

/// Drops the scratch database whatever happened, and makes sure it is gone. A load that
/// failed may have left the session inside LOCK TABLES or a transaction, and a lost connection
/// needs a fresh one: release everything first, or the DROP would wait on our own locks.
fn drop_scratch(conn: Option<Conn>, params: &MysqlParams, scratch: &str) -> Result<(), String> {
    let drop_sql = format!("DROP DATABASE IF EXISTS {}", super::encode::ident(scratch));
    let first = match conn {
        Some(mut conn) => {
            let _ = conn.query_drop("UNLOCK TABLES");
            let _ = conn.query_drop("ROLLBACK");
            conn.query_drop(&drop_sql)
                .map_err(|e| e.to_string())
                .and_then(|_| gone(&mut conn, scratch))
        }
        // The load's connection was given up on (the server stopped answering).
        None => Err("the load's connection was given up".to_string()),
    };
    let Err(first) = first else { return Ok(()) };
    let second = connect(params, Some(super::DUMP_READ_TIMEOUT))
        .map_err(|_| first.clone())
        .and_then(|mut fresh| {
            fresh
                .query_drop("SET SESSION lock_wait_timeout = 60")
                .and_then(|_| fresh.query_drop(&drop_sql))
                .map_err(|e| e.to_string())?;
            gone(&mut fresh, scratch)
        });
    second.map_err(|second| format!("{first}; then {second}"))
}

/// The database is really gone (a DROP can leave it when files it does not know are in its
/// folder).
fn gone(conn: &mut Conn, db: &str) -> Result<(), String> {
    let left: Option<String> = conn
        .exec_first(
            "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
            (db,),
        )
        .map_err(|e| e.to_string())?;
    match left {
        None => Ok(()),
        Some(_) => Err("it is still there after DROP DATABASE".into()),
    }
}

/// What a restore did.
#[derive(Debug, Clone)]
pub struct Restored {
    /// Every table with its row count, after the load.
    pub tables: Vec<(String, u64)>,
    /// With `clean`: the objects dropped because the dump does not create them.
    pub dropped: Option<String>,
}

/// Streams the dump into the app's own database. Objects the dump does not create are dropped
/// first with `clean`, else left with a warning. Lock waits give up after `lock_wait`; the
/// first Ctrl-C cancels the running statement and stops, a second one exits at once.
pub fn restore(
    params: &MysqlParams,
    file: &Path,
    dump: Inventory,
    clean: bool,
    lock_wait: Duration,
    meter: Arc<Meter>,
    warn: &mut dyn FnMut(String),
) -> Result<Restored> {
    catch_interrupts();
    let mut conn = connect(params, None).map_err(|f| explain(f, params, file, false))?;
    // The pre-check warned about a broad user already.
    let facts = facts(&mut conn).map_err(|f| explain(f, params, file, false))?;
    let (path, db): (PathBuf, String) = (file.to_path_buf(), params.database.clone());
    let owned = params.clone();
    let job = move |conn: &mut Conn, warn: &mut dyn FnMut(String)| {
        bound_lock_waits(conn, lock_wait)?;
        let dropped = super::clean::prepare(conn, &db, &dump, clean, warn)?;
        let scope = Scope {
            app: &db,
            target: &db,
        };
        load(
            conn,
            (&owned, lock_wait),
            &path,
            scope,
            &facts,
            &meter,
            warn,
        )?;
        let tables = table_counts(conn, &db)?;
        Ok(Restored { tables, dropped })
    };
    let (_, result) = supervised(conn, params, job, warn);
    result
        .map_err(|f| match f {
            Fail::LockWait(line, stmt, None) => Fail::LockWait(line, stmt, Some(lock_wait)),
            f => f,
        })
        .map_err(|f| explain(f, params, file, true))
}
