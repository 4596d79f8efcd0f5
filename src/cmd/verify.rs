//! `db-backup verify`: proving a backup restores, without touching the live database.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::engine::{mysql, postgres, sqlite, Connection};
use crate::error::{Error, Result};
use crate::laravel::Target;
use crate::store::Kind;

/// What a verified backup holds.
#[derive(Debug, Clone, Serialize)]
pub struct Verified {
    pub file: PathBuf,
    pub kind: Kind,
    /// What proved it sound, e.g. "integrity_check ok".
    pub check: String,
    /// Every table with its row count.
    pub tables: Vec<(String, u64)>,
    /// Things the user should know about a check that still passed.
    pub warnings: Vec<String>,
}

/// Verifies a backup of either kind. A `.sql` dump is loaded into a scratch database on the
/// app's server, which must therefore be a MySQL/MariaDB app.
///
/// What the user must hear even when it fails (a scratch database left behind) is left in
/// `failed_warnings` when it returns an error.
pub fn run(target: &Target, path: &Path, failed_warnings: &mut Vec<String>) -> Result<Verified> {
    let kind = Kind::of_path(path);
    // A `.sql` file is a dump of the app's own driver.
    let kind = if kind.same_extension(target.connection.kind()) {
        target.connection.kind()
    } else {
        kind
    };
    let mut warnings = Vec::new();
    let contents = match (kind, &target.connection) {
        (Kind::Sqlite, _) => sqlite::integrity(path)?,
        (Kind::MysqlDump | Kind::PgDump, Connection::Mysql(params)) => {
            match mysql::load::verify(params, path, &mut |w| warnings.push(w)) {
                Ok(contents) => contents,
                Err(e) => {
                    *failed_warnings = warnings;
                    return Err(e);
                }
            }
        }
        (Kind::MysqlDump | Kind::PgDump, Connection::Postgres(params)) => {
            match postgres::load::verify(params, path, &mut |w| warnings.push(w)) {
                Ok(contents) => contents,
                Err(e) => {
                    *failed_warnings = warnings;
                    return Err(e);
                }
            }
        }
        (Kind::MysqlDump | Kind::PgDump, Connection::Sqlite { .. }) => {
            return Err(Error::WrongKind {
                file: path.to_path_buf(),
                file_kind: kind.label(),
                driver: "SQLite, so there is no server to load it into",
            })
        }
    };
    Ok(Verified {
        file: path.to_path_buf(),
        kind,
        check: contents.check,
        tables: contents.tables,
        warnings,
    })
}
