//! Where and how to reach a PostgreSQL database, as Laravel's `pgsql` connection holds it.

use std::fmt;
use std::path::PathBuf;

/// Connection settings, as the app resolved them (`laravel::connection` builds them).
#[derive(Clone, PartialEq, Eq)]
pub struct PgParams {
    /// A host name or address, or a Unix socket's folder when it starts with `/` (as libpq).
    pub host: String,
    pub port: u16,
    pub database: String,
    pub user: String,
    pub password: String,
    /// The schemas the app works in (`search_path`, Laravel 8's `schema`), first one first.
    pub search_path: Vec<String>,
    /// libpq's `sslmode`: disable, allow, prefer (Laravel's default), require, verify-ca,
    /// verify-full.
    pub sslmode: String,
    /// `sslrootcert`, `sslcert`, `sslkey`, resolved against the app folder.
    pub sslrootcert: Option<PathBuf>,
    pub sslcert: Option<PathBuf>,
    pub sslkey: Option<PathBuf>,
}

// Hand-written so a password can never reach a log through `{:?}`.
impl fmt::Debug for PgParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgParams")
            .field("server", &self.server())
            .field("database", &self.database)
            .field("user", &self.user)
            .field("password", &"<hidden>")
            .field("search_path", &self.search_path)
            .field("sslmode", &self.sslmode)
            .finish()
    }
}

impl PgParams {
    /// The server as shown in messages: `host:port` or `unix:/folder/.s.PGSQL.port`.
    pub fn server(&self) -> String {
        if self.is_socket() {
            format!(
                "unix:{}/.s.PGSQL.{}",
                self.host.trim_end_matches('/'),
                self.port
            )
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// libpq (and so PDO) takes a host starting with `/` for a socket folder.
    pub fn is_socket(&self) -> bool {
        self.host.starts_with('/')
    }
}

/// `search_path` as Laravel's PostgresConnector takes it: a list, or a string of names split on
/// commas and spaces, each maybe quoted; `$user` is kept (it names the user's own schema).
pub fn parse_search_path(raw: &str) -> Vec<String> {
    raw.split([',', ' '])
        .map(|s| s.trim().trim_matches(['"', '\'']))
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_path_as_laravel_splits_it() {
        assert_eq!(parse_search_path("public"), ["public"]);
        assert_eq!(
            parse_search_path("\"$user\", app ,'other'"),
            ["$user", "app", "other"]
        );
        assert!(parse_search_path(" ").is_empty());
    }
}
