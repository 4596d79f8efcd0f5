//! Which database to back up, resolved from the app's settings as Laravel would; the one place
//! that builds a connection, whether from `.env` or from the Artisan bridge's handover.

use std::path::{Path, PathBuf};

use super::{config, App};
use crate::engine::{Connection, MysqlParams, PgParams};
use crate::error::{Error, Result};

/// A MySQL connection's settings as Laravel's config holds them, before PDO's rules apply.
#[derive(Default)]
pub struct MysqlSettings {
    pub host: String,
    pub port: String,
    pub socket: String,
    pub database: String,
    pub username: String,
    pub password: String,
    /// `MYSQL_ATTR_SSL_CA`, already resolved against the app folder.
    pub ssl_ca: Option<PathBuf>,
}

/// The one place connection parameters are built, for `.env` and Artisan handovers alike.
pub fn mysql_params(s: MysqlSettings) -> MysqlParams {
    let host = if s.host.is_empty() {
        "127.0.0.1".to_string()
    } else {
        s.host
    };
    let socket = Some(s.socket)
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .or_else(|| pdo_socket(&host));
    MysqlParams {
        port: s.port.trim().parse().unwrap_or(3306),
        host,
        socket,
        database: s.database,
        user: s.username,
        password: s.password,
        ssl_ca: s.ssl_ca,
    }
}

/// PDO (which Laravel uses) takes `localhost` to mean the server's Unix socket, not TCP; do the
/// same when one of the usual sockets exists, so we reach the server the app reaches.
fn pdo_socket(host: &str) -> Option<PathBuf> {
    if !host.eq_ignore_ascii_case("localhost") {
        return None;
    }
    [
        "/run/mysqld/mysqld.sock",
        "/var/run/mysqld/mysqld.sock",
        "/tmp/mysql.sock",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

/// Resolves the default connection: `DB_CONNECTION`, else the default in `config/database.php`.
pub fn resolve(app: &App) -> Result<Connection> {
    let php = app.dir.join("config/database.php");
    let env = |k: &str| app.env.get(k).filter(|v| !v.is_empty());
    let name = match config::default_connection(&php) {
        // What the app's config says, hard-coded or through env('DB_CONNECTION', default).
        Some(setting) => setting.resolve(env),
        // Laravel 8–10 always ship this file; without it we are on 11+, whose framework default
        // is env('DB_CONNECTION', 'sqlite').
        None if !php.exists() => Some(env("DB_CONNECTION").unwrap_or_else(|| "sqlite".into())),
        None => env("DB_CONNECTION"),
    }
    .ok_or(Error::NoConnection(php.clone()))?;
    let url = database_url(app, &php)?;
    // A URL's scheme names the driver, as Laravel's ConfigurationUrlParser does.
    let driver = url
        .as_ref()
        .map(|u| driver_of_scheme(u.scheme()))
        .unwrap_or(name.as_str())
        .to_string();
    match driver.as_str() {
        "sqlite" => sqlite(app),
        "mysql" | "mariadb" => Ok(Connection::Mysql(mysql_params(mysql(
            app,
            &name,
            url.as_ref(),
        )))),
        "pgsql" => Ok(Connection::Postgres(pgsql_params(pgsql(
            app,
            &name,
            url.as_ref(),
        )))),
        "sqlsrv" => Err(Error::UnsupportedDriver(driver)),
        _ => Err(Error::UnknownConnection(name)),
    }
}

fn driver_of_scheme(scheme: &str) -> &str {
    match scheme {
        "mysql2" => "mysql",
        "postgres" | "postgresql" => "pgsql",
        "mssql" => "sqlsrv",
        "sqlite3" => "sqlite",
        other => other,
    }
}

/// `DB_URL` (Laravel 11+) or `DATABASE_URL` (8–10): whichever the app's config reads.
fn database_url(app: &App, database_php: &std::path::Path) -> Result<Option<url::Url>> {
    let text = super::config::read(database_php).unwrap_or_default();
    let keys: &[&str] = if text.contains("'DATABASE_URL'") && !text.contains("'DB_URL'") {
        &["DATABASE_URL"]
    } else if text.contains("'DB_URL'") {
        &["DB_URL"]
    } else {
        &["DB_URL", "DATABASE_URL"]
    };
    for key in keys {
        if let Some(raw) = app.env.get(key).filter(|v| !v.is_empty()) {
            return url::Url::parse(&raw).map(Some).map_err(|e| {
                // Never echo the URL: it usually carries the password.
                Error::BadUrl(key, redact(&raw), e.to_string())
            });
        }
    }
    Ok(None)
}

fn redact(raw: &str) -> String {
    match (raw.find("://"), raw.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***@{}", &raw[..s], &raw[at + 1..]),
        _ => "***".to_string(),
    }
}

/// A PostgreSQL connection's settings as Laravel's config holds them.
#[derive(Default)]
pub struct PgsqlSettings {
    pub host: String,
    pub port: String,
    pub database: String,
    pub username: String,
    pub password: String,
    /// `search_path` (Laravel 9+) or `schema` (8), as written: a list of names.
    pub search_path: String,
    pub sslmode: String,
    /// `sslrootcert`, `sslcert`, `sslkey`, already resolved against the app folder.
    pub sslrootcert: Option<PathBuf>,
    pub sslcert: Option<PathBuf>,
    pub sslkey: Option<PathBuf>,
}

/// The one place PostgreSQL parameters are built, for `.env` and Artisan handovers alike, with
/// the defaults Laravel's PostgresConnector and libpq apply.
pub fn pgsql_params(s: PgsqlSettings) -> PgParams {
    PgParams {
        host: if s.host.is_empty() {
            "127.0.0.1".into()
        } else {
            s.host
        },
        port: s.port.trim().parse().unwrap_or(5432),
        database: s.database,
        user: s.username,
        password: s.password,
        search_path: crate::engine::postgres::parse_search_path(&s.search_path),
        sslmode: if s.sslmode.is_empty() {
            "prefer".into()
        } else {
            s.sslmode
        },
        sslrootcert: s.sslrootcert,
        sslcert: s.sslcert,
        sslkey: s.sslkey,
    }
}

/// A connection's `.env` key: its value, else the default the app's config/database.php
/// writes for it, else Laravel's own.
fn key_of(app: &App, php: &Path, name: &str, key: &str, laravel_default: &str) -> String {
    app.env
        .get(key)
        .or_else(|| config::connection_default(php, name, key))
        .unwrap_or_else(|| laravel_default.to_string())
}

/// The PostgreSQL settings: the separate keys with the defaults written in the app's config,
/// the URL's parts laid over them; `search_path`, `sslmode` and the SSL files from the config
/// (hard-coded there, or `env()` of a key with a default).
fn pgsql(app: &App, name: &str, url: Option<&url::Url>) -> PgsqlSettings {
    let php = app.dir.join("config/database.php");
    let text = config::read(&php).unwrap_or_default();
    let block = config::block(&text, name).unwrap_or("");
    let env = |k: &str| app.env.get(k).filter(|v| !v.is_empty());
    let setting = |key: &str, laravel_default: &str| key_of(app, &php, name, key, laravel_default);
    // A key of the connection's block: a literal, or env('KEY', default).
    let keyed = |key: &str, default: &str| -> String {
        config::setting(block, key)
            .and_then(|s| s.resolve(env))
            .unwrap_or_else(|| default.to_string())
    };
    let file = |key: &str| {
        Some(keyed(key, ""))
            .filter(|v| !v.is_empty())
            .map(|v| app.dir.join(v))
    };
    let search_path = match config::setting(block, "search_path") {
        Some(s) => s.resolve(env).unwrap_or_default(),
        None => keyed("schema", "public"),
    };
    let mut s = PgsqlSettings {
        host: setting("DB_HOST", "127.0.0.1"),
        port: setting("DB_PORT", "5432"),
        database: setting("DB_DATABASE", "laravel"),
        username: setting("DB_USERNAME", "root"),
        password: setting("DB_PASSWORD", ""),
        search_path,
        sslmode: keyed("sslmode", "prefer"),
        sslrootcert: file("sslrootcert"),
        sslcert: file("sslcert"),
        sslkey: file("sslkey"),
    };
    if let Some(u) = url {
        overlay(
            u,
            [
                &mut s.host,
                &mut s.port,
                &mut s.username,
                &mut s.password,
                &mut s.database,
            ],
        );
        for (k, v) in u.query_pairs() {
            match k.as_ref() {
                "sslmode" => s.sslmode = v.into_owned(),
                "search_path" | "schema" => s.search_path = v.into_owned(),
                "host" if v.starts_with('/') => s.host = v.into_owned(),
                _ => {}
            }
        }
    }
    s
}

/// The MySQL settings: the separate keys (with the defaults written in the app's config), with
/// the URL's parts laid over them.
fn mysql(app: &App, name: &str, url: Option<&url::Url>) -> MysqlSettings {
    let php = app.dir.join("config/database.php");
    let setting = |key: &str, laravel_default: &str| key_of(app, &php, name, key, laravel_default);
    let mut s = MysqlSettings {
        host: setting("DB_HOST", "127.0.0.1"),
        port: setting("DB_PORT", "3306"),
        socket: setting("DB_SOCKET", ""),
        database: setting("DB_DATABASE", "laravel"),
        username: setting("DB_USERNAME", "root"),
        password: setting("DB_PASSWORD", ""),
        ssl_ca: app
            .env
            .get("MYSQL_ATTR_SSL_CA")
            .filter(|s| !s.is_empty())
            .map(|s| app.dir.join(s)),
    };
    if let Some(u) = url {
        overlay(
            u,
            [
                &mut s.host,
                &mut s.port,
                &mut s.username,
                &mut s.password,
                &mut s.database,
            ],
        );
        for (k, v) in u.query_pairs() {
            if k == "unix_socket" && !v.is_empty() {
                s.socket = v.into_owned();
            }
        }
    }
    s
}

/// Lays a URL's parts over the separate keys (host, port, username, password, database), as
/// Laravel's ConfigurationUrlParser does: only the parts the URL has.
fn overlay(u: &url::Url, [host, port, user, password, database]: [&mut String; 5]) {
    if let Some(h) = u.host_str().filter(|h| !h.is_empty()) {
        *host = h.trim_matches(['[', ']']).to_string();
    }
    if let Some(p) = u.port() {
        *port = p.to_string();
    }
    if !u.username().is_empty() {
        *user = decode(u.username());
    }
    if let Some(pw) = u.password() {
        *password = decode(pw);
    }
    let db = u.path().trim_start_matches('/');
    if !db.is_empty() {
        *database = decode(db);
    }
}

fn decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::laravel::Env;
    use std::collections::HashMap;

    fn app(env: &[(&str, &str)]) -> (tempfile::TempDir, App) {
        let t = tempfile::tempdir().unwrap();
        let file = env
            .iter()
            .map(|(k, v)| (k.to_string(), Some(v.to_string())))
            .collect();
        let app = App {
            dir: t.path().to_path_buf(),
            env: Env::new(file, HashMap::new()),
        };
        (t, app)
    }

    fn params(env: &[(&str, &str)]) -> MysqlParams {
        let (_t, app) = app(env);
        match resolve(&app).unwrap() {
            Connection::Mysql(p) => p,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn separate_keys_with_laravel_defaults() {
        let p = params(&[
            ("DB_CONNECTION", "mysql"),
            ("DB_DATABASE", "stock"),
            ("DB_PASSWORD", "pa$word"),
        ]);
        assert_eq!(
            (p.host.as_str(), p.port, p.user.as_str()),
            ("127.0.0.1", 3306, "root")
        );
        assert_eq!(
            (p.database.as_str(), p.password.as_str()),
            ("stock", "pa$word")
        );
        assert!(
            !format!("{p:?}").contains("pa$word"),
            "Debug must hide the password"
        );
    }

    #[test]
    fn url_is_laid_over_the_keys() {
        let p = params(&[
            ("DB_CONNECTION", "mysql"),
            ("DB_HOST", "ignored"),
            ("DB_USERNAME", "kept"),
            ("DB_URL", "mariadb://:p%40ss%3Aw@db.local:3307/stock%20db"),
        ]);
        assert_eq!((p.host.as_str(), p.port), ("db.local", 3307));
        assert_eq!(
            (p.user.as_str(), p.password.as_str(), p.database.as_str()),
            ("kept", "p@ss:w", "stock db")
        );
    }

    #[test]
    fn socket_from_env_and_url_scheme_picks_driver() {
        let p = params(&[
            ("DB_CONNECTION", "sqlite"),
            ("DATABASE_URL", "mysql://u@h/d?unix_socket=/run/m.sock"),
        ]);
        assert_eq!(
            p.socket.as_deref(),
            Some(std::path::Path::new("/run/m.sock"))
        );
        assert_eq!(p.server(), "unix:/run/m.sock");
        let (_t, a) = app(&[
            ("DB_CONNECTION", "mysql"),
            ("DB_URL", "sqlsrv://u:secret@h/d"),
        ]);
        assert!(matches!(resolve(&a), Err(Error::UnsupportedDriver(d)) if d == "sqlsrv"));
        let (_t, a) = app(&[
            ("DB_CONNECTION", "mysql"),
            ("DB_URL", "mysql://u:secret@[bad"),
        ]);
        let msg = resolve(&a).unwrap_err().to_string();
        assert!(!msg.contains("secret"), "{msg}");
    }

    fn pg(env: &[(&str, &str)], php: Option<&str>) -> PgParams {
        let (t, app) = app(env);
        if let Some(php) = php {
            std::fs::create_dir_all(t.path().join("config")).unwrap();
            std::fs::write(t.path().join("config/database.php"), php).unwrap();
        }
        match resolve(&app).unwrap() {
            Connection::Postgres(p) => p,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn pgsql_keys_url_socket_and_config() {
        let p = pg(&[("DB_CONNECTION", "pgsql"), ("DB_PASSWORD", "p'w")], None);
        assert_eq!((p.host.as_str(), p.port), ("127.0.0.1", 5432));
        assert_eq!((p.user.as_str(), p.database.as_str()), ("root", "laravel"));
        assert_eq!(
            (p.search_path.clone(), p.sslmode.as_str()),
            (vec!["public".to_string()], "prefer")
        );
        assert!(!format!("{p:?}").contains("p'w"));
        let p = pg(
            &[("DB_CONNECTION", "pgsql"), ("DB_HOST", "/run/postgresql")],
            None,
        );
        assert!(p.is_socket());
        assert_eq!(p.server(), "unix:/run/postgresql/.s.PGSQL.5432");
        let p = pg(
            &[
                ("DB_CONNECTION", "mysql"),
                (
                    "DB_URL",
                    "postgresql://u:s%40c@db:6543/stock?sslmode=require",
                ),
            ],
            None,
        );
        assert_eq!(
            (
                p.host.as_str(),
                p.port,
                p.user.as_str(),
                p.password.as_str(),
                p.database.as_str(),
                p.sslmode.as_str()
            ),
            ("db", 6543, "u", "s@c", "stock", "require")
        );
        // Laravel 8's `schema`, and a hard-coded search_path with an env() default.
        let l8 = "<?php\nreturn [\n    'connections' => [\n        'pgsql' => [\n            'database' => env('DB_DATABASE', 'forge'),\n            'username' => env('DB_USERNAME', 'forge'),\n            'schema' => 'app',\n            'sslmode' => 'disable',\n        ],\n    ],\n];\n";
        let p = pg(&[("DB_CONNECTION", "pgsql")], Some(l8));
        assert_eq!((p.database.as_str(), p.user.as_str()), ("forge", "forge"));
        assert_eq!(
            (p.search_path.clone(), p.sslmode.as_str()),
            (vec!["app".to_string()], "disable")
        );
        let l11 = "<?php\nreturn [\n    'connections' => [\n        'pgsql' => [\n            'search_path' => env('DB_SEARCH_PATH', 'public'),\n            'sslrootcert' => env('PG_CA'),\n        ],\n    ],\n];\n";
        let p = pg(
            &[
                ("DB_CONNECTION", "pgsql"),
                ("DB_SEARCH_PATH", "app, public"),
                ("PG_CA", "ca.pem"),
            ],
            Some(l11),
        );
        assert_eq!(p.search_path, ["app", "public"]);
        assert!(p.sslrootcert.unwrap().ends_with("ca.pem"));
    }
}
