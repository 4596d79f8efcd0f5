//! PostgreSQL in our own code: connecting (TLS as libpq's `sslmode` says), dumping one
//! consistent snapshot into a plain SQL file that the stock `psql` loads, and loading such
//! files (ours, and plain `pg_dump` ones under a whitelist) back.

mod allow;
pub mod catalog;
pub mod check;
pub mod dump;
pub mod load;
mod params;
mod rows;
pub mod script;
mod tls;

use std::time::Duration;

use postgres::error::SqlState;
use postgres::{Client, Config, NoTls};

use crate::error::Error;
pub use dump::dump;
pub use params::{parse_search_path, PgParams};

/// A server that has not completed the connection and login in this time is reported
/// unreachable (a port that accepts TCP but never speaks must not hang a cron job).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What went wrong, before it is put in the user's terms.
#[derive(Debug)]
pub enum Fail {
    Db(postgres::Error),
    /// Writing the dump failed.
    Io(std::io::Error),
    /// Reading a script to load failed.
    Script(std::io::Error),
    /// The database holds something the dump cannot reproduce exactly (named).
    Unsupported(String),
    /// The server's version, older than the catalog reader needs.
    OldServer(String),
    /// `--exclude-data` names a table the database does not have.
    Excluded(String),
    /// A statement of a script failed (1-based line where it starts).
    AtLine(usize, postgres::Error),
    /// A statement of a script may not be loaded (line, why).
    Refused(usize, String),
    /// Ctrl-C or SIGTERM during a load.
    Interrupted,
    /// The TLS settings cannot be used (which, why).
    Tls(String),
    /// Reading rows from the server failed (the connection, mostly).
    Read(std::io::Error),
    /// A restore without `--clean` would drop these tables.
    CleanNeeded(String),
}

impl From<postgres::Error> for Fail {
    fn from(e: postgres::Error) -> Fail {
        Fail::Db(e)
    }
}

impl From<std::io::Error> for Fail {
    fn from(e: std::io::Error) -> Fail {
        Fail::Io(e)
    }
}

/// Proves the settings reach the database (for `--dry-run`).
pub fn probe(params: &PgParams) -> Result<(), Error> {
    connect(params, &params.database)
        .map(drop)
        .map_err(|f| explain(f, params, std::path::Path::new("-"), false))
}

/// Connects to `database` on the app's server with the app's settings.
pub fn connect(params: &PgParams, database: &str) -> Result<Client, Fail> {
    let config = Config::from(settings(params, database));
    match tls::connector(params)? {
        None => Ok(config.connect(NoTls)?),
        Some((mode, tls)) => {
            let mut config = config;
            config.ssl_mode(mode);
            Ok(config.connect(tls)?)
        }
    }
}

/// The same connection, on the async client inside a runtime of its own (see [`Stream`]).
/// `name` is its application_name: which of a dump's connections a DBA sees.
pub fn connect_stream(params: &PgParams, database: &str, name: &str) -> Result<Stream, Fail> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut config = settings(params, database);
    config.application_name(name);
    // The connection's task runs whenever the runtime does (inside each block_on); its
    // errors reach the client's calls.
    let client = runtime.block_on(async {
        Ok::<_, Fail>(match tls::connector(params)? {
            None => {
                let (c, conn) = config.connect(tokio_postgres::NoTls).await?;
                tokio::spawn(conn);
                c
            }
            Some((mode, tls)) => {
                config.ssl_mode(mode);
                let (c, conn) = config.connect(tls).await?;
                tokio::spawn(conn);
                c
            }
        })
    })?;
    Ok(Stream { runtime, client })
}

/// An async connection with its runtime: work runs inside one `block_on`, so a COPY of a
/// million rows enters the runtime once, not once per row.
pub struct Stream {
    pub runtime: tokio::runtime::Runtime,
    pub client: tokio_postgres::Client,
}

fn settings(params: &PgParams, database: &str) -> tokio_postgres::Config {
    let mut config = tokio_postgres::Config::new();
    config
        .user(&params.user)
        .password(params.password.as_bytes())
        .dbname(database)
        .port(params.port)
        .application_name("db-backup")
        .connect_timeout(CONNECT_TIMEOUT)
        // A dump reads for minutes: a dead peer must still be noticed.
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(30));
    if params.is_socket() {
        config.host_path(&params.host);
    } else {
        config.host(&params.host);
    }
    config
}

/// Quotes an identifier as PostgreSQL's `quote_ident` would always (double quotes, doubled).
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `schema.name`, both quoted.
pub fn qualified(schema: &str, name: &str) -> String {
    format!("{}.{}", ident(schema), ident(name))
}

/// A string literal: standard-conforming (backslashes are plain), quotes doubled.
pub fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn state(e: &postgres::Error) -> Option<&SqlState> {
    e.code()
}

/// Whether the session is gone: killed, shut down, or the socket closed.
fn is_lost(e: &postgres::Error) -> bool {
    e.is_closed()
        || matches!(
            state(e),
            Some(s) if *s == SqlState::ADMIN_SHUTDOWN
                || *s == SqlState::CRASH_SHUTDOWN
                || *s == SqlState::CANNOT_CONNECT_NOW
                || *s == SqlState::CONNECTION_FAILURE
        )
}

/// The server's own message, on one line, without the crate's "db error: " prefix.
fn message(e: &postgres::Error) -> String {
    let text = match e.as_db_error() {
        Some(db) => db.message().to_string(),
        None => {
            let mut s = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(inner) = source {
                s = format!("{s}: {inner}");
                source = inner.source();
            }
            s
        }
    };
    text.replace('\n', " ")
}

/// Puts a failure in the user's terms: which server, which user, what to check.
pub(crate) fn explain(f: Fail, p: &PgParams, file: &std::path::Path, connected: bool) -> Error {
    let server = p.server();
    match f {
        Fail::Io(e) => Error::io("cannot write", file)(e),
        Fail::Script(e) => Error::io("cannot load", file)(e),
        Fail::Interrupted => Error::Interrupted,
        Fail::Unsupported(what) => Error::PgUnsupported(what),
        Fail::OldServer(version) => Error::PgOldServer { server, version },
        Fail::Excluded(name) => Error::ExcludedUnknown(name),
        Fail::Tls(detail) => Error::PgTls { detail },
        Fail::Read(e) => Error::PgLost {
            server,
            detail: format!("while reading rows: {}", e.to_string().replace('\n', " ")),
        },
        Fail::CleanNeeded(tables) => Error::PgCleanNeeded(tables),
        Fail::Refused(line, detail) => Error::Refused {
            file: file.to_path_buf(),
            line,
            detail,
        },
        Fail::AtLine(line, e) if !is_lost(&e) && e.as_db_error().is_some() => {
            Error::PgLoadRefused {
                server,
                file: file.to_path_buf(),
                line,
                detail: message(&e),
            }
        }
        Fail::AtLine(line, e) => match explain(Fail::Db(e), p, file, connected) {
            Error::PgLost { server, detail } => Error::PgLost {
                server,
                detail: format!("loading {} line {line}: {detail}", file.display()),
            },
            other => other,
        },
        Fail::Db(e) => {
            let detail = message(&e);
            match state(&e) {
                Some(s)
                    if *s == SqlState::INVALID_PASSWORD
                        || *s == SqlState::INVALID_AUTHORIZATION_SPECIFICATION =>
                {
                    Error::PgAccess {
                        server,
                        user: p.user.clone(),
                        detail,
                    }
                }
                Some(s) if *s == SqlState::INVALID_CATALOG_NAME => Error::PgUnknownDb {
                    server,
                    db: p.database.clone(),
                },
                Some(s) if *s == SqlState::INSUFFICIENT_PRIVILEGE => Error::PgPrivilege {
                    user: p.user.clone(),
                    db: p.database.clone(),
                    detail,
                },
                _ if is_lost(&e) && connected => Error::PgLost { server, detail },
                // Reached, but its certificate was not what sslmode/sslrootcert accept.
                _ if !connected && detail.contains("TLS handshake") => Error::PgTls {
                    detail: format!("the TLS handshake with {server} failed: {detail}"),
                },
                _ if !connected => Error::PgUnreachable { server, detail },
                _ => Error::Pg { server, detail },
            }
        }
    }
}
