//! Where backups live: the two kinds of backup file, publishing into the backups folder (lock,
//! temp file, fsync, rename), retention by name, the catalog of what is there, and the remote
//! disks copies go to.

pub mod catalog;
pub mod changes;
pub mod health;
pub mod publish;
pub mod remote;
pub mod retention;
pub mod transform;

use std::path::Path;

use serde::Serialize;

/// The two kinds of backup file, told apart by the extension the old command gave them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Kind {
    /// A copy of a SQLite database file (`.sqlite`).
    #[serde(rename = "sqlite")]
    Sqlite,
    /// A MySQL/MariaDB SQL dump (`.sql`).
    #[serde(rename = "sql")]
    MysqlDump,
    /// A PostgreSQL SQL dump (`.sql`, too: which one a `.sql` file is depends on the app's
    /// driver; [`Kind::of_path`] says MysqlDump and [`Kind::same_extension`] compares).
    #[serde(rename = "sql")]
    PgDump,
}

impl Kind {
    /// The file extension, as the old command named its backups.
    pub fn extension(self) -> &'static str {
        match self {
            Kind::Sqlite => "sqlite",
            Kind::MysqlDump | Kind::PgDump => "sql",
        }
    }

    /// The kind of a backup file by its extension: `.sql` is a dump, anything else a SQLite copy.
    pub fn of_path(path: &Path) -> Kind {
        if path.extension().is_some_and(|e| e == "sql") {
            Kind::MysqlDump
        } else {
            Kind::Sqlite
        }
    }

    /// The kind of the name as shown in messages.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Sqlite => "SQLite",
            Kind::MysqlDump => "MySQL (.sql)",
            Kind::PgDump => "PostgreSQL (.sql)",
        }
    }

    /// Whether files of the two kinds are named alike (a `.sql` dump is either driver's).
    pub fn same_extension(self, other: Kind) -> bool {
        self.extension() == other.extension()
    }
}
