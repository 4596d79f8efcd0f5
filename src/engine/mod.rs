//! The database engines: how each kind of database is copied, checked and put back. Engines know
//! nothing of the terminal or of Laravel; warnings and progress leave them through callbacks.

pub mod mysql;
pub mod postgres;
pub mod sqlite;

use std::path::PathBuf;

pub use mysql::MysqlParams;
pub use postgres::PgParams;

use crate::store::Kind;

/// The database the app uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    /// A SQLite database file (absolute path).
    Sqlite { path: PathBuf },
    /// A MySQL or MariaDB database.
    Mysql(MysqlParams),
    /// A PostgreSQL database (the app's schemas in it).
    Postgres(PgParams),
}

impl Connection {
    /// The kind of backup this database gives.
    pub fn kind(&self) -> Kind {
        match self {
            Connection::Sqlite { .. } => Kind::Sqlite,
            Connection::Mysql(_) => Kind::MysqlDump,
            Connection::Postgres(_) => Kind::PgDump,
        }
    }

    /// The database as named in a question to the user: its file, or `database 'x' on host:port`.
    pub fn describe(&self) -> String {
        match self {
            Connection::Sqlite { path } => path.display().to_string(),
            Connection::Mysql(p) => format!("database '{}' on {}", p.database, p.server()),
            Connection::Postgres(p) => format!("database '{}' on {}", p.database, p.server()),
        }
    }
}

/// The name of verify's scratch database: after the app's database, so an admin can tell whose
/// it is, and unique per run.
pub fn scratch_name(database: &str) -> String {
    let tag: String = database
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(24)
        .collect();
    format!(
        "dbbackup_verify_{tag}_{}_{}",
        std::process::id(),
        chrono::Utc::now().timestamp_millis() % 1_000_000
    )
}

/// What a checked backup holds.
#[derive(Debug, Clone)]
pub struct Contents {
    /// What proved it sound, e.g. "integrity_check ok".
    pub check: String,
    /// Every table with its row count.
    pub tables: Vec<(String, u64)>,
}

/// How far a long job (a restore's load or copy) has got, shared with whoever shows it: bytes
/// done of a total, and the tables seen so far. Updated by the job, read by a progress bar.
#[derive(Debug, Default)]
pub struct Meter {
    pub done: std::sync::atomic::AtomicU64,
    pub total: std::sync::atomic::AtomicU64,
    pub tables: std::sync::atomic::AtomicU64,
}

impl Meter {
    pub fn set_done(&self, bytes: u64) {
        self.done.store(bytes, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Where a dump is, for a progress display.
#[derive(Debug, Clone, Copy)]
pub enum Progress<'a> {
    /// Starting table `index` (0-based) of `total`.
    Table {
        name: &'a str,
        index: usize,
        total: usize,
    },
    /// Rows and bytes written so far in the whole dump.
    Written { rows: u64, bytes: u64 },
}
