//! Where and how to reach a MySQL/MariaDB database.

use std::fmt;
use std::path::PathBuf;

/// Connection settings, as the app resolved them (`laravel::connection` builds them).
#[derive(Clone, PartialEq, Eq)]
pub struct MysqlParams {
    pub host: String,
    pub port: u16,
    /// A Unix socket, which Laravel prefers over host and port when `DB_SOCKET` is set.
    pub socket: Option<PathBuf>,
    pub database: String,
    pub user: String,
    pub password: String,
    /// A CA file (`MYSQL_ATTR_SSL_CA`): connect with TLS and verify the server against it.
    pub ssl_ca: Option<PathBuf>,
}

// Hand-written so a password can never reach a log through `{:?}`.
impl fmt::Debug for MysqlParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MysqlParams")
            .field("server", &self.server())
            .field("database", &self.database)
            .field("user", &self.user)
            .field("password", &"<hidden>")
            .field("ssl_ca", &self.ssl_ca)
            .finish()
    }
}

impl MysqlParams {
    /// The server as shown in messages: `host:port` or `unix:/path`.
    pub fn server(&self) -> String {
        match &self.socket {
            Some(s) => format!("unix:{}", s.display()),
            None => format!("{}:{}", self.host, self.port),
        }
    }
}
