//! Loading a `.sql` dump into a server with our own code: statement by statement, in constant
//! memory, with no `mysql` client. Used to verify a dump (into a scratch database that is always
//! dropped) and to restore one (into the app's database).

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use mysql::prelude::Queryable;
use mysql::Conn;

use super::guard::{self, catch_interrupts, supervised};
use super::script::Statements;
use super::{connect, explain, Fail, MysqlParams};
use crate::engine::Contents;
use crate::error::{Error, Result};

/// Lock waits while verifying: nothing else uses the scratch database, so only a global lock
/// (FLUSH TABLES WITH READ LOCK of another backup tool) can make a statement wait.
const VERIFY_LOCK_WAIT: Duration = Duration::from_secs(60);

/// Bounds every lock wait of the session: metadata locks (DROP TABLE, LOCK TABLES, any DDL
/// behind another session's open transaction) and InnoDB row locks. Only waiting is bounded,
/// never a statement's own work, so no long INSERT or index build is cut short.
fn bound_lock_waits(conn: &mut Conn, wait: Duration) -> Result<(), Fail> {
    // Both servers take 1 s at least; --busy-timeout is at most a day, under both maxima.
    let s = wait.as_secs().max(1);
    conn.query_drop(format!(
        "SET SESSION lock_wait_timeout = {s}, SESSION innodb_lock_wait_timeout = {s}"
    ))?;
    Ok(())
}

/// A dump that ends mid-statement or lacks the "-- Dump completed" line that both mysqldump and
/// db-backup write last was cut short: refuse it before anything is changed.
pub fn precheck(file: &Path) -> Result<()> {
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
    Ok(())
}

/// Whether a statement would leave the database we load into (`USE other`, `CREATE DATABASE`).
fn switches_database(sql: &[u8]) -> bool {
    let head = String::from_utf8_lossy(&sql[..sql.len().min(64)]).to_ascii_uppercase();
    let words: Vec<&str> = head.split_whitespace().collect();
    matches!(
        words.as_slice(),
        ["USE", ..] | ["CREATE", "DATABASE", ..] | ["CREATE", "SCHEMA", ..]
    )
}

/// Streams every statement of `file` into `conn`; returns how many were run.
fn load(conn: &mut Conn, file: &Path, warn: &mut dyn FnMut(String)) -> Result<u64, Fail> {
    let f = File::open(file)?;
    let mut n = 0;
    let mut statements = Statements::new(BufReader::with_capacity(1 << 20, f));
    while let Some(stmt) = statements.next() {
        if guard::interrupted() {
            return Err(Fail::Interrupted);
        }
        let stmt = stmt?;
        if switches_database(&stmt.sql) {
            warn(format!(
                "line {}: skipped `{}` (the dump loads into the app's database)",
                stmt.line,
                String::from_utf8_lossy(&stmt.sql[..stmt.sql.len().min(60)])
            ));
            continue;
        }
        conn.query_drop(as_query(&stmt.sql))
            .map_err(|e| Fail::at(stmt.line, &stmt.sql, e))?;
        // Dumps switch sql_mode around routines; quoting rules follow the server's, as the
        // mysql client's do.
        statements.set_no_backslash_escapes(conn.no_backslash_escape());
        n += 1;
    }
    if statements.unterminated() {
        return Err(Fail::Io(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the script ends inside a statement: the file is truncated",
        )));
    }
    Ok(n)
}

/// The statement as the `&str` the client library sends. mysqldump and mariadb-dump write BLOBs
/// as raw bytes inside quotes (without --hex-blob), which is not UTF-8: such string literals are
/// rewritten as the equivalent hex literals, which the server stores byte for byte.
fn as_query(sql: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(sql) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => std::borrow::Cow::Owned(hexify_invalid_strings(sql)),
    }
}

fn hexify_invalid_strings(sql: &[u8]) -> String {
    let mut out: Vec<u8> = Vec::with_capacity(sql.len() * 2);
    let mut i = 0;
    while i < sql.len() {
        let c = sql[i];
        match c {
            b'\'' | b'"' => {
                let (bytes, end) = unquote(sql, i);
                if std::str::from_utf8(&bytes).is_ok() {
                    out.extend_from_slice(&sql[i..end]);
                } else if bytes.is_empty() {
                    out.extend_from_slice(b"''");
                } else {
                    out.extend_from_slice(b"0x");
                    for b in bytes {
                        out.extend_from_slice(format!("{b:02X}").as_bytes());
                    }
                }
                i = end;
            }
            b'`' => {
                let end = sql[i + 1..]
                    .iter()
                    .position(|&b| b == b'`')
                    .map_or(sql.len(), |p| i + 2 + p);
                out.extend_from_slice(&sql[i..end]);
                i = end;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    // Anything still invalid sits outside string literals, where the server could not take
    // it either; the lossy form makes the server report a clear syntax error.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// The bytes a quoted literal starting at `start` stands for, and the index just past it.
fn unquote(sql: &[u8], start: usize) -> (Vec<u8>, usize) {
    let q = sql[start];
    let mut bytes = Vec::new();
    let mut i = start + 1;
    while i < sql.len() {
        let c = sql[i];
        if c == b'\\' && i + 1 < sql.len() {
            let n = sql[i + 1];
            match n {
                b'0' => bytes.push(0),
                b'b' => bytes.push(8),
                b'n' => bytes.push(b'\n'),
                b'r' => bytes.push(b'\r'),
                b't' => bytes.push(b'\t'),
                b'Z' => bytes.push(0x1a),
                // \% and \_ keep their backslash (they matter to LIKE).
                b'%' | b'_' => bytes.extend_from_slice(&[b'\\', n]),
                other => bytes.push(other),
            }
            i += 2;
        } else if c == q && sql.get(i + 1) == Some(&q) {
            bytes.push(q);
            i += 2;
        } else if c == q {
            return (bytes, i + 1);
        } else {
            bytes.push(c);
            i += 1;
        }
    }
    (bytes, sql.len())
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
    // Named after the app's database, so an admin can tell whose it is; unique per run.
    let tag: String = params
        .database
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(24)
        .collect();
    let scratch = format!(
        "dbbackup_verify_{tag}_{}_{}",
        std::process::id(),
        chrono::Utc::now().timestamp_millis() % 1_000_000
    );
    let mut conn = connect(params, None).map_err(|f| explain(f, params, file, false))?;
    let fail = |f: Fail| explain(f, params, file, true);
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
    let (path, db) = (file.to_path_buf(), scratch.clone());
    let (conn, result) = supervised(
        conn,
        params,
        move |conn, warn| {
            bound_lock_waits(conn, VERIFY_LOCK_WAIT)?;
            load(conn, &path, warn)?;
            table_counts(conn, &db)
        },
        warn,
    );
    drop_scratch(conn, params, &scratch, warn);
    guard::set_last_words(None);
    let tables = result.map_err(fail)?;
    Ok(Contents {
        check: format!("loaded into a scratch database on {}", params.server()),
        tables,
    })
}

/// Drops the scratch database whatever happened. A load that failed may have left the session
/// inside LOCK TABLES or a transaction, and a lost connection needs a fresh one: release
/// everything first, or the DROP would wait on our own metadata locks.
fn drop_scratch(
    conn: Option<Conn>,
    params: &MysqlParams,
    scratch: &str,
    warn: &mut dyn FnMut(String),
) {
    let drop_sql = format!("DROP DATABASE IF EXISTS {}", super::encode::ident(scratch));
    let first = match conn {
        Some(mut conn) => {
            let _ = conn.query_drop("UNLOCK TABLES");
            let _ = conn.query_drop("ROLLBACK");
            conn.query_drop(&drop_sql).map_err(|e| e.to_string())
        }
        // The load's connection was given up on (the server stopped answering).
        None => Err("the load's connection was given up".to_string()),
    };
    let Err(first) = first else { return };
    let second = connect(params, Some(super::DUMP_READ_TIMEOUT)).and_then(|mut fresh| {
        fresh.query_drop("SET SESSION lock_wait_timeout = 60")?;
        Ok(fresh.query_drop(&drop_sql)?)
    });
    if second.is_err() {
        warn(format!(
            "could not drop the scratch database {scratch} ({first}); drop it by hand"
        ));
    }
}

/// Streams the dump into the app's own database. Lock waits give up after `lock_wait`; the
/// first Ctrl-C cancels the running statement and stops, a second one exits at once.
pub fn restore(
    params: &MysqlParams,
    file: &Path,
    lock_wait: Duration,
    warn: &mut dyn FnMut(String),
) -> Result<Vec<(String, u64)>> {
    catch_interrupts();
    let conn = connect(params, None).map_err(|f| explain(f, params, file, false))?;
    let (path, db): (PathBuf, String) = (file.to_path_buf(), params.database.clone());
    let (_, result) = supervised(
        conn,
        params,
        move |conn, warn| {
            bound_lock_waits(conn, lock_wait)?;
            load(conn, &path, warn)?;
            table_counts(conn, &db)
        },
        warn,
    );
    result
        .map_err(|f| match f {
            Fail::LockWait(line, stmt, None) => Fail::LockWait(line, stmt, Some(lock_wait)),
            f => f,
        })
        .map_err(|f| explain(f, params, file, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_binary_strings_become_hex_and_the_rest_is_untouched() {
        let sql =
            b"INSERT INTO t VALUES (1,'caf\xc3\xa9','\xff\x00\\'\\0x',\"a\"\"b\",`c\xc3\xa9`)";
        let q = as_query(sql);
        assert_eq!(
            q,
            "INSERT INTO t VALUES (1,'caf\u{e9}',0xFF00270078,\"a\"\"b\",`c\u{e9}`)"
        );
        assert_eq!(as_query(b"SELECT 'ok'"), "SELECT 'ok'");
        assert!(matches!(
            as_query(b"SELECT 'ok'"),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn use_and_create_database_are_recognised() {
        assert!(switches_database(b"USE `other`"));
        assert!(switches_database(
            b"CREATE DATABASE /*!32312 IF NOT EXISTS*/ `x`"
        ));
        assert!(!switches_database(b"CREATE TABLE `use` (a int)"));
    }
}
