//! Which database to back up, resolved from the app's settings as Laravel would.

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::laravel::{config, App};

/// The database the app uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    /// A SQLite database file (absolute path).
    Sqlite { path: PathBuf },
}

impl Connection {
    /// The file extension of this kind of backup, as the old command named them.
    pub fn extension(&self) -> &'static str {
        match self {
            Connection::Sqlite { .. } => "sqlite",
        }
    }
}

/// Resolves the default connection: `DB_CONNECTION`, else the default in `config/database.php`.
pub fn resolve(app: &App) -> Result<Connection> {
    let name = match app.env.get("DB_CONNECTION").filter(|n| !n.is_empty()) {
        Some(n) => n,
        None => {
            let php = app.dir.join("config/database.php");
            config::default_connection(&php).ok_or(Error::NoConnection(php))?
        }
    };
    match name.as_str() {
        "sqlite" => sqlite(app),
        "mysql" | "mariadb" => Err(Error::MysqlNotYet(name)),
        "pgsql" | "sqlsrv" => Err(Error::UnsupportedDriver(name)),
        _ => Err(Error::UnknownConnection(name)),
    }
}

/// `DB_DATABASE`: absolute, or relative to the app folder, or absent → `database/database.sqlite`.
fn sqlite(app: &App) -> Result<Connection> {
    let path = match app.env.get("DB_DATABASE").filter(|d| !d.is_empty()) {
        None => app.dir.join("database/database.sqlite"),
        Some(d) if d == ":memory:" || d.starts_with("file::memory:") => {
            return Err(Error::InMemoryDatabase)
        }
        Some(d) => {
            // Laravel ≥ 11.42 falls back to the base path for relative names; earlier versions
            // use the working directory, which for artisan and the scheduler is the base path.
            let p = PathBuf::from(d);
            if p.is_absolute() {
                p
            } else {
                app.dir.join(p)
            }
        }
    };
    Ok(Connection::Sqlite { path })
}
