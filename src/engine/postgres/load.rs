//! Loading a PostgreSQL script — ours or a plain `pg_dump` file — statement by statement, one
//! statement per request (the extended protocol refuses two), each one judged by the whitelist
//! first. A restore runs in ONE transaction: the app's schemas are emptied and refilled, and a
//! refused line, an error, Ctrl-C or a lost connection leaves the live database as it was.

use std::io::{BufReader, Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use postgres::{Client, NoTls};

use super::allow::{judge, Action};
use super::check::{refused_meta, scan, Inventory};
use super::script::{Piece, Script};
use super::{connect, explain, ident, Fail, PgParams};
use crate::engine::mysql::guard::{catch_interrupts, interrupted};
use crate::engine::{Contents, Meter};
use crate::error::{Error, Result};

/// The app's schemas by name: `search_path` with `$user` standing for the user.
pub fn app_schemas(params: &PgParams) -> Vec<String> {
    let path: Vec<String> = if params.search_path.is_empty() {
        vec!["public".into()]
    } else {
        params.search_path.clone()
    };
    path.into_iter()
        .map(|s| if s == "$user" { params.user.clone() } else { s })
        .collect()
}

/// Counts the bytes read, for the progress bar.
struct Counted<R> {
    inner: R,
    meter: Arc<Meter>,
    done: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done += n as u64;
        self.meter.set_done(self.done);
        Ok(n)
    }
}

/// Runs every statement of `file` on `client`; returns what it held.
fn load(
    client: &mut Client,
    file: &Path,
    schemas: &[String],
    meter: &Arc<Meter>,
) -> std::result::Result<Inventory, Fail> {
    let f = std::fs::File::open(file).map_err(Fail::Script)?;
    if let Ok(m) = f.metadata() {
        meter.total.store(m.len(), Ordering::Relaxed);
    }
    let reader = Counted {
        inner: f,
        meter: meter.clone(),
        done: 0,
    };
    let mut script = Script::new(BufReader::with_capacity(1 << 20, reader));
    let mut inv = Inventory::default();
    while let Some(piece) = script.next_piece().map_err(Fail::Script)? {
        if interrupted() {
            return Err(Fail::Interrupted);
        }
        let (line, sql) = match piece {
            Piece::Meta { line, text, inside } => match refused_meta(&text, inside) {
                Some(why) => return Err(Fail::Refused(line, why)),
                None => continue,
            },
            Piece::Statement { line, sql } => (line, sql),
        };
        inv.statements += 1;
        let action = judge(&sql, schemas).map_err(|why| Fail::Refused(line, why))?;
        let run = |client: &mut Client| {
            client
                .execute(sql.as_str(), &[])
                .map_err(|e| Fail::AtLine(line, e))
        };
        match action {
            Action::Run => {
                run(client)?;
            }
            Action::Skip => {}
            Action::Table(t) => {
                run(client)?;
                inv.created.push(t);
                meter.tables.fetch_add(1, Ordering::Relaxed);
            }
            Action::Schema(name) => {
                let exists = client
                    .query_opt(
                        "SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1",
                        &[&name],
                    )
                    .map_err(|e| Fail::AtLine(line, e))?
                    .is_some();
                if !exists {
                    run(client)?;
                }
            }
            Action::Extension(name) => {
                if let Some(why) =
                    extension_refused(client, &name).map_err(|e| Fail::AtLine(line, e))?
                {
                    return Err(Fail::Refused(line, why));
                }
                let installed = client
                    .query_opt(
                        "SELECT 1 FROM pg_catalog.pg_extension WHERE extname = $1",
                        &[&name],
                    )
                    .map_err(|e| Fail::AtLine(line, e))?
                    .is_some();
                if !installed {
                    run(client)?;
                }
                inv.extensions.push(name);
            }
            Action::Copy(table) => {
                let mut w = client
                    .copy_in(sql.as_str())
                    .map_err(|e| Fail::AtLine(line, e))?;
                let mut err = None;
                let n = script
                    .copy_rows(&mut |row| {
                        if interrupted() {
                            return Err(std::io::Error::other("interrupted"));
                        }
                        w.write_all(row).inspect_err(|e| err = Some(e.to_string()))
                    })
                    .map_err(|e| {
                        if interrupted() {
                            Fail::Interrupted
                        } else {
                            Fail::Script(e)
                        }
                    })?;
                let copied = w.finish().map_err(|e| Fail::AtLine(line, e))?;
                if copied != n {
                    return Err(Fail::Refused(
                        line,
                        format!("{table}: the file holds {n} rows, the server took {copied}"),
                    ));
                }
                inv.copied.push((table, n));
            }
        }
    }
    Ok(inv)
}

/// Why `CREATE EXTENSION name` may not run as the app's user, if it may not: the extension
/// must be installed already, or available and either trusted or the user a superuser.
fn extension_refused(
    client: &mut Client,
    name: &str,
) -> std::result::Result<Option<String>, postgres::Error> {
    let row = client.query_one(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = $1),
                EXISTS (SELECT 1 FROM pg_catalog.pg_available_extensions WHERE name = $1),
                COALESCE((SELECT bool_or(trusted) FROM pg_catalog.pg_available_extension_versions WHERE name = $1), false),
                (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user)",
        &[&name],
    )?;
    let (installed, available, trusted, superuser): (bool, bool, bool, bool) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    Ok(match () {
        _ if installed || (available && (trusted || superuser)) => None,
        _ if !available => Some(format!("extension {name} is not available on this server")),
        _ => Some(format!(
            "extension {name} is not installed and the app's user may not install it (not a trusted extension); have an administrator run CREATE EXTENSION {name}"
        )),
    })
}

/// Cancels the running statement when Ctrl-C or SIGTERM comes, until `done`.
fn watch_interrupts(client: &Client, done: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    let token = client.cancel_token();
    std::thread::spawn(move || {
        while !done.load(Ordering::Relaxed) {
            if interrupted() {
                let _ = token.cancel_query(NoTls);
                std::thread::sleep(Duration::from_secs(1));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    })
}

/// Rows per table, counted by the server.
fn counts(client: &mut Client, tables: &[String]) -> std::result::Result<Vec<(String, u64)>, Fail> {
    let mut out = Vec::new();
    for t in tables {
        let (schema, name) = t.split_once('.').unwrap_or(("public", t));
        let n: i64 = client
            .query_one(
                format!(
                    "SELECT count(*) FROM ONLY {}.{}",
                    ident(schema),
                    ident(name)
                )
                .as_str(),
                &[],
            )?
            .get(0);
        out.push((t.clone(), n as u64));
    }
    Ok(out)
}

/// The row counts the server holds must be those the file copied, table by table.
fn compare(inv: &Inventory, tables: &[(String, u64)]) -> std::result::Result<(), Fail> {
    for (t, n) in tables {
        let want = inv.rows(t);
        if *n != want {
            return Err(Fail::Unsupported(format!(
                "table {t} holds {n} rows after the load, the file copied {want}"
            )));
        }
    }
    Ok(())
}

/// Loads the file into a scratch database on the app's server (a unique name, dropped
/// afterwards even on failure) and reports its tables.
pub fn verify(params: &PgParams, file: &Path, warn: &mut dyn FnMut(String)) -> Result<Contents> {
    catch_interrupts();
    let schemas = app_schemas(params);
    // Judged whole before the scratch database exists: a refused file changes nothing.
    scan(file, &schemas)?;
    let scratch = crate::engine::scratch_name(&params.database);
    let mut admin =
        connect(params, &params.database).map_err(|f| explain(f, params, file, false))?;
    if let Err(e) = admin.batch_execute(&format!(
        "CREATE DATABASE {} TEMPLATE template0",
        ident(&scratch)
    )) {
        if e.code() == Some(&postgres::error::SqlState::INSUFFICIENT_PRIVILEGE) {
            return Err(Error::PgPrivilege {
                user: params.user.clone(),
                db: params.database.clone(),
                detail: "verify loads the backup into a scratch database and may not create one; grant it with ALTER ROLE … CREATEDB, or verify on another server".into(),
            });
        }
        return Err(explain(Fail::Db(e), params, file, true));
    }
    let result = (|| {
        let mut client = connect(params, &scratch)?;
        let done = Arc::new(AtomicBool::new(false));
        let watcher = watch_interrupts(&client, done.clone());
        let loaded = (|| {
            client.batch_execute("BEGIN")?;
            let inv = load(&mut client, file, &schemas, &Arc::new(Meter::default()))?;
            client.batch_execute("COMMIT")?;
            let tables = counts(&mut client, &inv.created)?;
            compare(&inv, &tables)?;
            Ok(tables)
        })();
        done.store(true, Ordering::Relaxed);
        let _ = watcher.join();
        loaded
    })();
    if let Err(e) = admin.batch_execute(&format!(
        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
        ident(&scratch)
    )) {
        warn(format!(
            "the scratch database {scratch} could not be dropped ({}); drop it by hand",
            e.to_string().replace('\n', " ")
        ));
    }
    let tables = result.map_err(|f| explain(f, params, file, true))?;
    Ok(Contents {
        check: format!(
            "loaded into a scratch database ({} tables, row counts match)",
            tables.len()
        ),
        tables,
    })
}

/// What a restore did.
#[derive(Debug, Clone)]
pub struct Restored {
    pub tables: Vec<(String, u64)>,
    /// With `clean`: the tables dropped because the file does not create them.
    pub dropped: Option<String>,
}

/// The tables of the app's schemas, as `schema.name`.
fn live_tables(client: &mut Client, schemas: &[String]) -> std::result::Result<Vec<String>, Fail> {
    Ok(client
        .query(
            "SELECT n.nspname::text || '.' || c.relname::text FROM pg_catalog.pg_class c
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'p', 'f')
               AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_class'::regclass
                               AND d.objid = c.oid AND d.deptype = 'e')
             ORDER BY 1",
            &[&schemas],
        )?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

/// Empties the app's schemas of what a dump recreates (not the extensions: the dump's
/// `CREATE EXTENSION IF NOT EXISTS` keeps them, with their data).
fn empty_schemas(client: &mut Client, schemas: &[String]) -> std::result::Result<(), Fail> {
    let drops: Vec<String> = client
        .query(
            format!("{}{}", EMPTIED, named_drops()).as_str(),
            &[&schemas],
        )?
        .iter()
        .map(|r| r.get(0))
        .collect();
    for d in drops {
        client.batch_execute(&d)?;
    }
    Ok(())
}

/// Kinds dropped by their name alone: (what DROP names, catalog, name column, schema column).
const NAMED: [(&str, &str, &str, &str); 3] = [
    (
        "TEXT SEARCH CONFIGURATION",
        "pg_ts_config",
        "cfgname",
        "cfgnamespace",
    ),
    (
        "TEXT SEARCH DICTIONARY",
        "pg_ts_dict",
        "dictname",
        "dictnamespace",
    ),
    ("COLLATION", "pg_collation", "collname", "collnamespace"),
];

/// The DROPs of [`NAMED`] kinds, UNIONed onto [`EMPTIED`].
fn named_drops() -> String {
    NAMED
        .iter()
        .map(|(kind, catalog, name, schema)| {
            format!(
                "
             UNION ALL
             SELECT 'DROP {kind} IF EXISTS ' || pg_catalog.quote_ident(n.nspname) || '.'
                    || pg_catalog.quote_ident(o.{name}) || ' CASCADE'
             FROM pg_catalog.{catalog} o JOIN pg_catalog.pg_namespace n ON n.oid = o.{schema}
             WHERE n.nspname = ANY($1)
               AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.{catalog}'::regclass
                               AND d.objid = o.oid AND d.deptype = 'e')"
            )
        })
        .collect()
}

/// What emptying the app's schemas drops: relations, functions, types, operators.
const EMPTIED: &str = "SELECT 'DROP ' || CASE c.relkind WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'v' THEN 'VIEW'
                                 WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END
                    || ' IF EXISTS ' || pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname) || ' CASCADE'
             FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'p', 'f', 'v', 'm', 'S') AND NOT c.relispartition
               -- Not what goes with another object: an extension's, a column's sequence (a
               -- partitioned table's key depends on its own columns: that one is dropped).
               AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_class'::regclass
                               AND d.objid = c.oid AND d.deptype IN ('e', 'a', 'i') AND d.refobjid <> c.oid)
             UNION ALL
             SELECT 'DROP ' || CASE p.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END
                    || ' IF EXISTS ' || pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(p.proname)
                    || '(' || pg_catalog.pg_get_function_identity_arguments(p.oid) || ') CASCADE'
             FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname = ANY($1) AND p.prokind IN ('a', 'f', 'p')
               -- An extension's, or a range type's constructors (they go with the type).
               AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_proc'::regclass
                               AND d.objid = p.oid AND d.deptype IN ('e', 'i'))
             UNION ALL
             SELECT 'DROP ' || CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END || ' IF EXISTS '
                    || pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(t.typname) || ' CASCADE'
             FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
             LEFT JOIN pg_catalog.pg_class c ON c.oid = t.typrelid
             WHERE n.nspname = ANY($1) AND (t.typtype IN ('e', 'd', 'r') OR (t.typtype = 'c' AND c.relkind = 'c'))
               AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_type'::regclass
                               AND d.objid = t.oid AND d.deptype = 'e')
             UNION ALL
             SELECT 'DROP OPERATOR IF EXISTS ' || pg_catalog.quote_ident(n.nspname) || '.' || o.oprname || ' ('
                    || coalesce(pg_catalog.format_type(NULLIF(o.oprleft, 0), NULL), 'NONE') || ', '
                    || coalesce(pg_catalog.format_type(NULLIF(o.oprright, 0), NULL), 'NONE') || ') CASCADE'
             FROM pg_catalog.pg_operator o JOIN pg_catalog.pg_namespace n ON n.oid = o.oprnamespace
             WHERE n.nspname = ANY($1)
               AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_operator'::regclass
                               AND d.objid = o.oid AND d.deptype = 'e')";

/// Restores `file` over the app's database in one transaction. Without `clean`, tables the
/// file does not create stop it (named) before anything changes; with it they are dropped.
pub fn restore(
    params: &PgParams,
    file: &Path,
    dump: &Inventory,
    clean: bool,
    lock_wait: Duration,
    meter: Arc<Meter>,
) -> Result<Restored> {
    catch_interrupts();
    let schemas = app_schemas(params);
    let mut client =
        connect(params, &params.database).map_err(|f| explain(f, params, file, false))?;
    let done = Arc::new(AtomicBool::new(false));
    let watcher = watch_interrupts(&client, done.clone());
    let result = (|| {
        let live = live_tables(&mut client, &schemas)?;
        let extra: Vec<&String> = live.iter().filter(|t| !dump.created.contains(t)).collect();
        if !extra.is_empty() && !clean {
            return Err(Fail::CleanNeeded(
                extra
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            ));
        }
        let dropped = (!extra.is_empty()).then(|| {
            extra
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        });
        client.batch_execute(&format!(
            "BEGIN; SET LOCAL lock_timeout = {};",
            lock_wait.as_millis().max(1)
        ))?;
        empty_schemas(&mut client, &schemas)?;
        let inv = load(&mut client, file, &schemas, &meter)?;
        let tables = counts(&mut client, &inv.created)?;
        compare(&inv, &tables)?;
        if interrupted() {
            return Err(Fail::Interrupted);
        }
        client.batch_execute("COMMIT")?;
        Ok(Restored { tables, dropped })
    })();
    done.store(true, Ordering::Relaxed);
    let _ = watcher.join();
    result.map_err(|f| explain(f, params, file, true))
}
