//! Settings handed over by the Artisan bridge: the connection, folder and time zone that
//! Laravel itself resolved (cached config, `--env`, values hard-coded in `config/*.php`).
//!
//! The bridge passes them as environment variables of our process, never as arguments, so the
//! password stays out of `ps`.

use std::collections::HashMap;
use std::path::PathBuf;

use super::connection::{mysql_params, pgsql_params, MysqlSettings, PgsqlSettings};
use super::Target;
use crate::engine::Connection;
use crate::error::{Error, Result};

/// The variable whose presence means "Laravel resolved this; do not read `.env`".
pub const CONNECTION: &str = "DB_BACKUP_CONNECTION";

/// The handed-over target, when the bridge started us.
pub fn from_env(real: &HashMap<String, String>) -> Result<Option<Target>> {
    let Some(driver) = real.get(CONNECTION) else {
        return Ok(None);
    };
    let get = |k: &str| {
        real.get(&format!("DB_BACKUP_{k}"))
            .cloned()
            .unwrap_or_default()
    };
    let required = |k: &str| -> Result<PathBuf> {
        let v = get(k);
        if v.is_empty() {
            Err(Error::Handover(format!("DB_BACKUP_{k}")))
        } else {
            Ok(PathBuf::from(v))
        }
    };
    let app_dir = required("APP_DIR")?;
    let in_app = |p: PathBuf| if p.is_absolute() { p } else { app_dir.join(p) };
    let connection = match driver.as_str() {
        "sqlite" => match get("DATABASE").as_str() {
            "" => Connection::Sqlite {
                path: app_dir.join("database/database.sqlite"),
            },
            ":memory:" => return Err(Error::InMemoryDatabase),
            d => Connection::Sqlite {
                path: in_app(PathBuf::from(d)),
            },
        },
        "mysql" | "mariadb" => Connection::Mysql(mysql_params(MysqlSettings {
            host: get("HOST"),
            port: get("PORT"),
            socket: get("SOCKET"),
            database: get("DATABASE"),
            username: get("USERNAME"),
            password: get("PASSWORD"),
            ssl_ca: Some(get("SSL_CA"))
                .filter(|s| !s.is_empty())
                .map(|s| in_app(PathBuf::from(s))),
        })),
        "pgsql" => Connection::Postgres(pgsql_params(PgsqlSettings {
            host: get("HOST"),
            port: get("PORT"),
            database: get("DATABASE"),
            username: get("USERNAME"),
            password: get("PASSWORD"),
            search_path: get("SEARCH_PATH"),
            sslmode: get("SSLMODE"),
            sslrootcert: Some(get("SSLROOTCERT"))
                .filter(|s| !s.is_empty())
                .map(|s| in_app(PathBuf::from(s))),
            sslcert: Some(get("SSLCERT"))
                .filter(|s| !s.is_empty())
                .map(|s| in_app(PathBuf::from(s))),
            sslkey: Some(get("SSLKEY"))
                .filter(|s| !s.is_empty())
                .map(|s| in_app(PathBuf::from(s))),
        })),
        "sqlsrv" => return Err(Error::UnsupportedDriver(driver.clone())),
        other => return Err(Error::UnsupportedDriver(other.to_string())),
    };
    let zone = Some(get("TIMEZONE"))
        .filter(|z| !z.is_empty())
        .unwrap_or_else(|| "UTC".into());
    let tz = zone.parse().map_err(|_| Error::BadTimeZone {
        zone: zone.clone(),
        origin: "config('app.timezone')".into(),
    })?;
    let settings = match real.get(super::settings::HANDOVER) {
        Some(json) if !json.is_empty() => super::settings::Settings::from_handover(json)?,
        _ => Default::default(),
    };
    let keys = crate::store::remote::Keys::new(
        Some(get("APP_KEY")).as_deref(),
        &super::split_keys(Some(get("APP_PREVIOUS_KEYS"))),
    );
    Ok(Some(Target {
        keys,
        backups_dir: required("DIR").map(in_app)?,
        filesystems: super::disks::Filesystems::from_handover(&app_dir, real)?,
        app_dir,
        connection,
        tz,
        settings,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn absent_means_read_the_env_file() {
        assert!(from_env(&env(&[("DB_CONNECTION", "sqlite")]))
            .unwrap()
            .is_none());
    }

    #[test]
    fn sqlite_and_mysql_handover() {
        let base = [
            ("DB_BACKUP_APP_DIR", "/srv/api"),
            ("DB_BACKUP_DIR", "/srv/api/storage/app/backups"),
        ];
        let mut e = env(&base);
        e.extend(env(&[
            (CONNECTION, "sqlite"),
            ("DB_BACKUP_DATABASE", "database/x.sqlite"),
            ("DB_BACKUP_TIMEZONE", "Europe/Paris"),
        ]));
        let t = from_env(&e).unwrap().unwrap();
        assert_eq!(
            t.connection,
            Connection::Sqlite {
                path: "/srv/api/database/x.sqlite".into()
            }
        );
        assert_eq!(t.tz, chrono_tz::Europe::Paris);
        let mut e = env(&base);
        e.extend(env(&[
            (CONNECTION, "mariadb"),
            ("DB_BACKUP_DATABASE", "stock"),
            ("DB_BACKUP_PASSWORD", "s3cret"),
            ("DB_BACKUP_SOCKET", "/run/mysqld/mysqld.sock"),
        ]));
        let Connection::Mysql(p) = from_env(&e).unwrap().unwrap().connection else {
            panic!()
        };
        assert_eq!(
            (
                p.database.as_str(),
                p.password.as_str(),
                p.server().as_str()
            ),
            ("stock", "s3cret", "unix:/run/mysqld/mysqld.sock")
        );
        let mut e = env(&base);
        e.insert(CONNECTION.into(), "sqlsrv".into());
        assert!(matches!(from_env(&e), Err(Error::UnsupportedDriver(d)) if d == "sqlsrv"));
        let mut e = env(&base);
        e.extend(env(&[
            (CONNECTION, "pgsql"),
            ("DB_BACKUP_DATABASE", "stock"),
            ("DB_BACKUP_HOST", "/run/postgresql"),
            ("DB_BACKUP_SEARCH_PATH", "app,public"),
            ("DB_BACKUP_SSLROOTCERT", "certs/ca.pem"),
        ]));
        let Connection::Postgres(p) = from_env(&e).unwrap().unwrap().connection else {
            panic!("not pgsql")
        };
        assert_eq!((p.port, p.sslmode.as_str()), (5432, "prefer"));
        assert_eq!(p.search_path, ["app", "public"]);
        assert_eq!(p.server(), "unix:/run/postgresql/.s.PGSQL.5432");
        assert_eq!(
            p.sslrootcert.unwrap(),
            std::path::Path::new("/srv/api/certs/ca.pem")
        );
        assert!(matches!(
            from_env(&env(&[(CONNECTION, "sqlite")])),
            Err(Error::Handover(_))
        ));
    }
}
