//! MySQL/MariaDB in our own code: connecting, dumping one consistent snapshot into a file the
//! stock `mysql` and `mariadb` clients load, and loading such files back.

pub mod check;
mod clean;
mod defer;
pub mod dump;
mod encode;
mod foreign;
pub mod guard;
pub mod inventory;
pub mod load;
mod params;
pub mod schema;
mod script;
mod share;

use std::time::Duration;

use mysql::{Conn, OptsBuilder, SslOpts};

use crate::error::Error;
pub use dump::{dump, Progress};
pub use params::MysqlParams;

/// A server that has not completed the connection and login in this time is reported
/// unreachable (a port that accepts TCP but never speaks must not hang a cron job).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// While dumping, the server streams rows continuously: silence this long means it is gone.
pub const DUMP_READ_TIMEOUT: Duration = Duration::from_secs(120);

/// What went wrong inside the dump, before it is put in the user's terms.
#[derive(Debug)]
pub enum Fail {
    Db(mysql::Error),
    /// Writing the dump failed.
    Io(std::io::Error),
    /// Reading the script to load failed, or it is not a script the client would run whole.
    Script(std::io::Error),
    /// The server hid something a privilege would show.
    Hidden(String),
    /// `--exclude-data` names a table the database does not have.
    Excluded(String),
    /// The columns to write for a table are not exactly its non-generated columns.
    Columns {
        table: String,
        detail: String,
    },
    /// A statement of a script failed (1-based line where it starts).
    AtLine(usize, mysql::Error),
    /// A statement of a script may not be loaded (line, why): it names another database.
    Refused(usize, String),
    /// Ctrl-C or SIGTERM during a load.
    Interrupted,
    /// No complete answer from the server within this time.
    Timeout(Duration),
    /// A row of this table needs a statement longer than the server takes (`max_allowed_packet`):
    /// a file holding it could not be loaded back.
    RowTooLarge {
        table: String,
        bytes: usize,
        limit: usize,
    },
    /// The statement at this line of a script is longer than the server takes.
    StatementTooLarge {
        line: usize,
        bytes: usize,
        limit: usize,
    },
    /// A statement of a script gave up waiting for a lock (line, the statement's start, how
    /// long it waited when known).
    LockWait(usize, String, Option<Duration>),
    /// The server stopped answering pings for this long while a statement ran.
    Unresponsive(Duration),
}

impl Fail {
    /// A failed statement of a script, starting at `line`.
    pub(crate) fn at(line: usize, sql: &[u8], e: mysql::Error) -> Fail {
        match &e {
            // ER_LOCK_WAIT_TIMEOUT: metadata locks (lock_wait_timeout) and InnoDB row locks.
            mysql::Error::MySqlError(m) if m.code == 1205 => {
                Fail::LockWait(line, statement_head(sql), None)
            }
            _ => Fail::AtLine(line, e),
        }
    }
}

/// The start of a statement, on one line, to name it in a message.
fn statement_head(sql: &[u8]) -> String {
    let text = String::from_utf8_lossy(&sql[..sql.len().min(80)]);
    let mut head = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if sql.len() > 80 {
        head.push('…');
    }
    head
}

/// The largest packet the client may send or read: the protocol's own limit. The limit that
/// matters is the server's `max_allowed_packet`, which the dump and the load check themselves
/// (see [`max_packet`]) so that a failure names the table or the line; the crate's own check,
/// set from the server's value by default, would stop a dump on reading a row larger than
/// that with a bare "Packet too large".
const CLIENT_MAX_PACKET: usize = 1 << 30;

/// The server's `max_allowed_packet`: the longest statement it accepts, plus one byte.
pub fn max_packet(conn: &mut Conn) -> Result<usize, Fail> {
    use mysql::prelude::Queryable;
    let v: Option<u64> = conn.query_first("SELECT @@max_allowed_packet")?;
    Ok(v.map_or(CLIENT_MAX_PACKET, |v| v as usize))
}

impl From<mysql::Error> for Fail {
    fn from(e: mysql::Error) -> Fail {
        Fail::Db(e)
    }
}

impl From<std::io::Error> for Fail {
    fn from(e: std::io::Error) -> Fail {
        Fail::Io(e)
    }
}

/// Proves the settings reach the database (for `--dry-run`).
pub fn probe(params: &MysqlParams) -> Result<(), Error> {
    connect(params, Some(DUMP_READ_TIMEOUT))
        .map(drop)
        .map_err(|f| explain(f, params, std::path::Path::new("-"), false))
}

/// Connects with the app's settings; TLS when the app configures a CA.
pub fn connect(params: &MysqlParams, read_timeout: Option<Duration>) -> Result<Conn, Fail> {
    let mut opts = OptsBuilder::new()
        .user(Some(&params.user))
        .pass(Some(&params.password))
        .db_name(Some(&params.database))
        // Respect the host/socket the app uses; never switch transports behind its back.
        .prefer_socket(false)
        .tcp_connect_timeout(Some(CONNECT_TIMEOUT))
        .read_timeout(read_timeout)
        .write_timeout(read_timeout)
        .max_allowed_packet(Some(CLIENT_MAX_PACKET))
        // One statement per request, on every connection: a load runs exactly the statement
        // its checker read, never what a server might find after a `;` inside it.
        .multi_statements(false);
    opts = match &params.socket {
        Some(s) => opts.socket(Some(s.to_string_lossy())),
        None => opts
            .ip_or_hostname(Some(&params.host))
            .tcp_port(params.port),
    };
    if let Some(ca) = &params.ssl_ca {
        opts = opts.ssl_opts(SslOpts::default().with_root_cert_path(Some(ca.clone())));
    }
    // The crate's timeouts cover the TCP connect and each read, but the session's read timeout
    // must stay long (or off, for restores); so the whole handshake gets its own deadline here.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(Conn::new(opts));
    });
    match rx.recv_timeout(CONNECT_TIMEOUT) {
        Ok(conn) => Ok(conn?),
        Err(_) => Err(Fail::Timeout(CONNECT_TIMEOUT)),
    }
}

/// Server error codes that mean the session is gone: killed, shut down or interrupted.
fn is_lost(code: u16) -> bool {
    matches!(code, 1053 | 1317 | 1927 | 2006 | 2013)
}

/// Puts a failure in the user's terms: which server, which user, what to check.
pub(crate) fn explain(f: Fail, p: &MysqlParams, dest: &std::path::Path, connected: bool) -> Error {
    let server = p.server();
    let detail = |e: &dyn std::fmt::Display| e.to_string().replace('\n', " ");
    match f {
        Fail::Io(e) => Error::io("cannot write", dest)(e),
        Fail::Interrupted => Error::Interrupted,
        Fail::Timeout(t) => Error::MysqlUnreachable {
            server,
            detail: format!("no answer within {} s (timed out)", t.as_secs()),
        },
        Fail::Unresponsive(t) => Error::MysqlUnresponsive {
            server,
            seconds: t.as_secs(),
        },
        Fail::LockWait(line, statement, waited) => Error::MysqlLockWait {
            server,
            at: format!("{} line {line}", dest.display()),
            statement,
            waited: waited.map_or("the server's lock wait timeout".into(), |w| {
                format!("{} s", w.as_secs())
            }),
        },
        Fail::Script(e) => Error::io("cannot load", dest)(e),
        // Only loads fail at a line: their errors name the file and the line, not a backup.
        Fail::AtLine(line, mysql::Error::MySqlError(e)) if !is_lost(e.code) => Error::LoadRefused {
            server,
            file: dest.to_path_buf(),
            line,
            detail: detail(&e),
        },
        Fail::AtLine(line, e) => match explain(Fail::Db(e), p, dest, connected) {
            Error::MysqlLost { server, detail } => Error::MysqlLost {
                server,
                detail: format!("loading {} line {line}: {detail}", dest.display()),
            },
            other => other,
        },
        Fail::StatementTooLarge { line, bytes, limit } => Error::StatementTooLarge {
            server,
            file: dest.to_path_buf(),
            line,
            bytes,
            limit,
        },
        Fail::RowTooLarge {
            table,
            bytes,
            limit,
        } => Error::RowTooLarge {
            server,
            table,
            bytes,
            limit,
        },
        Fail::Columns { table, detail } => Error::MysqlColumns { table, detail },
        Fail::Refused(line, detail) => Error::Refused {
            file: dest.to_path_buf(),
            line,
            detail,
        },
        Fail::Excluded(name) => Error::ExcludedUnknown(name),
        Fail::Hidden(what) => Error::MysqlPrivilege {
            user: p.user.clone(),
            db: p.database.clone(),
            detail: format!("the server hides {what}"),
        },
        Fail::Db(mysql::Error::MySqlError(e)) => match e.code {
            1045 | 1698 => Error::MysqlAccess {
                server,
                user: p.user.clone(),
            },
            1049 => Error::MysqlUnknownDb {
                server,
                db: p.database.clone(),
                user: p.user.clone(),
            },
            1044 | 1142 | 1143 | 1227 | 1370 => Error::MysqlPrivilege {
                user: p.user.clone(),
                db: p.database.clone(),
                detail: e.message.replace('\n', " "),
            },
            code if is_lost(code) => Error::MysqlLost {
                server,
                detail: detail(&e),
            },
            _ => Error::Mysql {
                server,
                detail: detail(&e),
            },
        },
        Fail::Db(e) if !connected => Error::MysqlUnreachable {
            server,
            detail: detail(&e),
        },
        Fail::Db(e) => Error::MysqlLost {
            server,
            detail: detail(&e),
        },
    }
}
