//! The dump: one consistent snapshot of a database, streamed row by row into SQL text.

use std::io::Write;

use mysql::prelude::Queryable;
use mysql::{Conn, Value};

use super::check::Streamed;
use super::encode::{ident, literal, quoted};
use super::schema::{self, show_create, show_field, strip_definer, Schema, Table};
use super::{connect, explain, max_packet, Fail, MysqlParams, DUMP_READ_TIMEOUT};
use crate::error::Error;

/// Multi-row INSERTs are cut near this size, as mysqldump does (its net_buffer_length), so
/// that a load keeps little in flight; a row larger than this gets an INSERT of its own.
const STATEMENT_CAP: usize = 1024 * 1024;
/// Room left below the server's `max_allowed_packet` for the command byte and the packet's
/// framing, so that every statement we write is one the server accepts.
const PACKET_MARGIN: usize = 1024;

pub use crate::engine::Progress;

/// Counts bytes on their way to the file.
struct Counting<'w, W: Write> {
    inner: &'w mut W,
    bytes: u64,
}

impl<W: Write> Write for Counting<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Counts for the report, and what was written for the read-back check.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub tables: usize,
    pub rows: u64,
    pub streamed: Streamed,
}

/// Dumps the database into `out`. `warn` receives one line per thing the user should know
/// (non-transactional tables, objects that cannot be dumped).
pub fn dump(
    params: &MysqlParams,
    out: &mut impl Write,
    dest: &std::path::Path,
    exclude_data: &[String],
    warn: &mut dyn FnMut(String),
    progress: &mut dyn FnMut(Progress),
) -> Result<Stats, Error> {
    let mut connected = false;
    let mut out = Counting {
        inner: out,
        bytes: 0,
    };
    run(
        params,
        &mut out,
        exclude_data,
        warn,
        progress,
        &mut connected,
    )
    .map_err(|f| explain(f, params, dest, connected))
}

fn run<W: Write>(
    params: &MysqlParams,
    out: &mut Counting<W>,
    exclude_data: &[String],
    warn: &mut dyn FnMut(String),
    progress: &mut dyn FnMut(Progress),
    connected: &mut bool,
) -> Result<Stats, Fail> {
    let mut conn = connect(params, Some(DUMP_READ_TIMEOUT))?;
    *connected = true;
    // Our session, not the server's defaults, decides how values and DDL come out: no
    // NO_BACKSLASH_ESCAPES or ANSI_QUOTES surprises, TIMESTAMPs in UTC.
    conn.query_drop("SET SESSION sql_mode = '', NAMES utf8mb4, SESSION time_zone = '+00:00'")?;
    show_invisible_primary_keys(&mut conn)?;
    conn.query_drop("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")?;
    conn.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT")?;

    // Every statement must load back into this server: none may exceed what it accepts.
    let limit = max_packet(&mut conn)?.saturating_sub(PACKET_MARGIN);
    let schema = schema::read(&mut conn, &params.database)?;
    // A name that is no table is a typo: leaving out nothing would be a surprise.
    if let Some(unknown) = exclude_data
        .iter()
        .find(|x| !schema.tables.iter().any(|t| &t.name == *x))
    {
        return Err(Fail::Excluded(unknown.clone()));
    }
    for t in &schema.tables {
        match t.engine.as_deref() {
            Some(e) if !e.eq_ignore_ascii_case("InnoDB") => warn(format!(
                "table {} uses {e}, which is not transactional: its rows may be from a later moment than the rest",
                t.name
            )),
            _ => {}
        }
    }
    for s in &schema.skipped {
        warn(format!("not backed up: {s}"));
    }
    for w in hidden_objects(&mut conn, &params.database)? {
        warn(w);
    }

    // VERSION() rather than the handshake: MariaDB's handshake claims "5.5.5-…".
    let version: String = conn.query_first("SELECT VERSION()")?.unwrap_or_default();
    header(out, params, &version)?;
    let mut stats = Stats {
        streamed: Streamed::of(&schema),
        ..Stats::default()
    };
    let total = schema.tables.len();
    for (index, table) in schema.tables.iter().enumerate() {
        progress(Progress::Table {
            name: &table.name,
            index,
            total,
        });
        let with_rows = !exclude_data.contains(&table.name);
        let rows = table_section(
            &mut conn, out, table, with_rows, limit, stats.rows, progress,
        )?;
        // Counted as written, re-counted when the file is read back (check.rs).
        stats.streamed.table(&table.name, rows);
        stats.rows += rows;
        stats.tables += 1;
    }
    views_placeholders(out, &schema)?;
    routines(&mut conn, out, &schema)?;
    events(&mut conn, out, &schema)?;
    views(&mut conn, out, &schema)?;
    footer(out)?;
    conn.query_drop("COMMIT")?;
    Ok(stats)
}

/// MySQL ≥ 8.0.30 can hide a generated invisible primary key (`my_row_id`) from SHOW CREATE
/// TABLE and information_schema; this session must see it, or its values would be lost.
/// MariaDB has no such key, nor the variable (error 1193).
fn show_invisible_primary_keys(conn: &mut Conn) -> Result<(), Fail> {
    match conn.query_drop("SET SESSION show_gipk_in_create_table_and_information_schema = ON") {
        Err(mysql::Error::MySqlError(e)) if e.code == 1193 => Ok(()),
        other => Ok(other?),
    }
}

/// Warns when the server would hide triggers or events from this user: without the TRIGGER
/// (or EVENT) privilege they are simply absent from information_schema, and a dump would lack
/// them without a word.
fn hidden_objects(conn: &mut Conn, db: &str) -> Result<Vec<String>, Fail> {
    let mut missing = Vec::new();
    for privilege in ["TRIGGER", "EVENT"] {
        let n: Option<u64> = conn.exec_first(
            "SELECT COUNT(*) FROM (\
               SELECT 1 AS x FROM information_schema.USER_PRIVILEGES WHERE PRIVILEGE_TYPE = ? \
               UNION ALL SELECT 1 FROM information_schema.SCHEMA_PRIVILEGES \
                 WHERE PRIVILEGE_TYPE = ? AND ? LIKE TABLE_SCHEMA) AS p",
            (privilege, privilege, db),
        )?;
        if n.unwrap_or(0) == 0 {
            let what = if privilege == "TRIGGER" {
                "triggers"
            } else {
                "events"
            };
            missing.push(format!(
                "user has no {privilege} privilege on '{db}': the server hides its {what}, so any {what} are NOT in this backup (GRANT {privilege} ON `{db}`.* to the backup user)"
            ));
        }
    }
    Ok(missing)
}

fn header(out: &mut impl Write, p: &MysqlParams, version: &str) -> Result<(), Fail> {
    // No MariaDB-only first line (`/*M!999999\- enable the sandbox mode */`): MySQL's client
    // must load this file too.
    writeln!(out, "-- db-backup {} dump", env!("CARGO_PKG_VERSION"))?;
    writeln!(out, "--")?;
    writeln!(out, "-- Host: {}    Database: {}", p.server(), p.database)?;
    writeln!(out, "-- Server version: {version}")?;
    writeln!(
        out,
        "-- Taken: {}",
        chrono::Utc::now().format("%Y-%m-%d %H:%M:%S UTC")
    )?;
    out.write_all(
        b"
/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;
/*!40101 SET @OLD_CHARACTER_SET_RESULTS=@@CHARACTER_SET_RESULTS */;
/*!40101 SET @OLD_COLLATION_CONNECTION=@@COLLATION_CONNECTION */;
/*!40101 SET NAMES utf8mb4 */;
/*!40103 SET @OLD_TIME_ZONE=@@TIME_ZONE */;
/*!40103 SET TIME_ZONE='+00:00' */;
/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;
/*!40014 SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0 */;
/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;
/*!40111 SET @OLD_SQL_NOTES=@@SQL_NOTES, SQL_NOTES=0 */;
",
    )?;
    Ok(())
}

fn footer(out: &mut impl Write) -> Result<(), Fail> {
    out.write_all(
        b"
/*!40101 SET SQL_MODE=@OLD_SQL_MODE */;
/*!40014 SET FOREIGN_KEY_CHECKS=@OLD_FOREIGN_KEY_CHECKS */;
/*!40014 SET UNIQUE_CHECKS=@OLD_UNIQUE_CHECKS */;
/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;
/*!40101 SET CHARACTER_SET_CLIENT=@OLD_CHARACTER_SET_CLIENT */;
/*!40101 SET CHARACTER_SET_RESULTS=@OLD_CHARACTER_SET_RESULTS */;
/*!40101 SET COLLATION_CONNECTION=@OLD_COLLATION_CONNECTION */;
/*!40111 SET SQL_NOTES=@OLD_SQL_NOTES */;

-- Dump completed
",
    )?;
    Ok(())
}

/// Structure, rows and triggers of one table; returns the number of rows. No INSERT is longer
/// than `limit` bytes.
fn table_section<W: Write>(
    conn: &mut Conn,
    out: &mut Counting<W>,
    table: &Table,
    with_rows: bool,
    limit: usize,
    rows_before: u64,
    progress: &mut dyn FnMut(Progress),
) -> Result<u64, Fail> {
    let name = ident(&table.name);
    let create = show_create(conn, &format!("SHOW CREATE TABLE {name}"), 1)?
        .ok_or_else(|| Fail::Hidden(format!("the definition of table {}", table.name)))?;
    writeln!(out, "\n--\n-- Table structure for table {name}\n--\n")?;
    writeln!(out, "DROP TABLE IF EXISTS {name};")?;
    out.write_all(&create)?;
    out.write_all(b";\n")?;

    let written: Vec<String> = table.columns.iter().map(|(c, _)| c.clone()).collect();
    schema::check_columns_now(conn, &table.name, &written)?;
    // An excluded table keeps its structure (and AUTO_INCREMENT), not its rows.
    let rows = match with_rows {
        true => table_rows(conn, out, table, limit, rows_before, progress)?,
        false => 0,
    };

    for trigger in &table.triggers {
        let q = format!("SHOW CREATE TRIGGER {}", ident(trigger));
        let mode = show_field(conn, &q, 1)?.unwrap_or_default();
        let body = show_create(conn, &q, 2)?.ok_or_else(|| {
            Fail::Hidden(format!("trigger {trigger} (needs the TRIGGER privilege)"))
        })?;
        compound(
            out,
            &format!("DROP TRIGGER IF EXISTS {}", ident(trigger)),
            &mode,
            &strip_definer(&body),
        )?;
    }
    Ok(rows)
}

fn table_rows<W: Write>(
    conn: &mut Conn,
    out: &mut Counting<W>,
    table: &Table,
    limit: usize,
    rows_before: u64,
    progress: &mut dyn FnMut(Progress),
) -> Result<u64, Fail> {
    let name = ident(&table.name);
    let cols: Vec<String> = table.columns.iter().map(|(c, _)| ident(c)).collect();
    let list = cols.join(",");
    let prefix = format!("INSERT INTO {name} ({list}) VALUES ");
    writeln!(out, "\n--\n-- Dumping data for table {name}\n--\n")?;
    writeln!(out, "LOCK TABLES {name} WRITE;")?;
    writeln!(out, "/*!40000 ALTER TABLE {name} DISABLE KEYS */;")?;

    // The binary protocol gives typed values: exact FLOAT/DOUBLE bits, dates as numbers. A
    // table of generated columns only still has rows: `()` each.
    let select = if cols.is_empty() { "1" } else { &list };
    let query = format!("SELECT {select} FROM {name}");
    let kinds: Vec<_> = table.columns.iter().map(|(_, k)| *k).collect();
    let cap = STATEMENT_CAP.min(limit);
    let mut result = conn.exec_iter(query, ()).map_err(|e| redefined(e, table))?;
    let answered: Vec<String> = result
        .columns()
        .as_ref()
        .iter()
        .map(|c| c.name_str().into_owned())
        .collect();
    if !cols.is_empty() {
        let asked: Vec<String> = table.columns.iter().map(|(c, _)| c.clone()).collect();
        schema::check_columns(
            &asked,
            &answered
                .iter()
                .map(|c| (c.clone(), String::new()))
                .collect::<Vec<_>>(),
        )
        .map_err(|detail| Fail::Columns {
            table: table.name.clone(),
            detail,
        })?;
    }
    let mut stmt: Vec<u8> = Vec::with_capacity(cap + 64 * 1024);
    let mut row_buf: Vec<u8> = Vec::with_capacity(4096);
    let mut rows = 0u64;
    if let Some(set) = result.iter() {
        for row in set {
            let row = row.map_err(|e| redefined(e, table))?;
            row_buf.clear();
            row_buf.push(b'(');
            for (i, kind) in kinds.iter().enumerate() {
                if i > 0 {
                    row_buf.push(b',');
                }
                let value = row.as_ref(i).unwrap_or(&Value::NULL);
                literal(&mut row_buf, value, *kind);
            }
            row_buf.push(b')');
            drop(row);
            let alone = prefix.len() + row_buf.len();
            if alone > limit {
                return Err(Fail::RowTooLarge {
                    table: table.name.clone(),
                    bytes: alone,
                    limit: limit + PACKET_MARGIN,
                });
            }
            if !stmt.is_empty() && stmt.len() + 1 + row_buf.len() > cap {
                stmt.extend_from_slice(b";\n");
                out.write_all(&stmt)?;
                stmt.clear();
                progress(Progress::Written {
                    rows: rows_before + rows,
                    bytes: out.bytes,
                });
            }
            if stmt.is_empty() && alone > cap {
                // A row larger than a batch goes out on its own, without another copy.
                out.write_all(prefix.as_bytes())?;
                out.write_all(&row_buf)?;
                out.write_all(b";\n")?;
                // Its buffer is not kept at that size for the rows after it.
                row_buf = Vec::with_capacity(4096);
                progress(Progress::Written {
                    rows: rows_before + rows + 1,
                    bytes: out.bytes,
                });
            } else {
                if stmt.is_empty() {
                    stmt.extend_from_slice(prefix.as_bytes());
                } else {
                    stmt.push(b',');
                }
                stmt.extend_from_slice(&row_buf);
            }
            rows += 1;
        }
    }
    drop(result);
    if !stmt.is_empty() {
        stmt.extend_from_slice(b";\n");
        out.write_all(&stmt)?;
    }
    writeln!(out, "/*!40000 ALTER TABLE {name} ENABLE KEYS */;")?;
    // No autocommit=0/COMMIT around the rows: measured (benches/mysql.sh), MariaDB's bulk-insert
    // path it triggers loads 15% faster on an idle server but twice as slow on a busy one.
    writeln!(out, "UNLOCK TABLES;")?;
    Ok(rows)
}

/// MySQL refuses to read a table whose definition changed after the snapshot began (its
/// information_schema and SHOW COLUMNS, read inside the snapshot, still show the old one): that
/// is a column list we can no longer vouch for, said as the column guard says it.
fn redefined(e: mysql::Error, table: &Table) -> Fail {
    match &e {
        mysql::Error::MySqlError(m) if m.code == 1412 => Fail::Columns {
            table: table.name.clone(),
            detail: "its definition changed while the backup ran (ALTER TABLE), so the columns read at the start may not be all of them; run the backup again".into(),
        },
        _ => e.into(),
    }
}

/// A stored program between DELIMITER lines, under the sql_mode it was created with.
fn compound(out: &mut impl Write, drop: &str, sql_mode: &str, create: &[u8]) -> Result<(), Fail> {
    let mut mode = Vec::new();
    quoted(&mut mode, sql_mode.as_bytes());
    writeln!(out, "{drop};")?;
    writeln!(out, "/*!50003 SET @saved_sql_mode = @@sql_mode */;")?;
    out.write_all(b"/*!50003 SET sql_mode = ")?;
    out.write_all(&mode)?;
    out.write_all(b" */;\nDELIMITER ;;\n")?;
    out.write_all(create)?;
    out.write_all(b" ;;\nDELIMITER ;\n/*!50003 SET sql_mode = @saved_sql_mode */;\n")?;
    Ok(())
}

/// Stand-in views with the right column names, so anything created before the real views
/// (other views, routines) can refer to them.
fn views_placeholders(out: &mut impl Write, schema: &Schema) -> Result<(), Fail> {
    for (view, cols) in &schema.views {
        let name = ident(view);
        let select = if cols.is_empty() {
            "1 AS `placeholder`".to_string()
        } else {
            cols.iter()
                .map(|c| format!("1 AS {}", ident(c)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        writeln!(
            out,
            "\n--\n-- Temporary view structure for view {name}\n--\n"
        )?;
        writeln!(out, "DROP VIEW IF EXISTS {name};")?;
        writeln!(out, "CREATE VIEW {name} AS SELECT {select};")?;
    }
    Ok(())
}

fn views(conn: &mut Conn, out: &mut impl Write, schema: &Schema) -> Result<(), Fail> {
    for (view, _) in &schema.views {
        let name = ident(view);
        let create =
            show_create(conn, &format!("SHOW CREATE VIEW {name}"), 1)?.ok_or_else(|| {
                Fail::Hidden(format!("the definition of view {view} (needs SHOW VIEW)"))
            })?;
        writeln!(out, "\n--\n-- Final view structure for view {name}\n--\n")?;
        writeln!(out, "DROP VIEW IF EXISTS {name};")?;
        out.write_all(&strip_definer(&create))?;
        out.write_all(b";\n")?;
    }
    Ok(())
}

fn routines(conn: &mut Conn, out: &mut impl Write, schema: &Schema) -> Result<(), Fail> {
    for (routine, kind) in &schema.routines {
        let kind = if kind.eq_ignore_ascii_case("FUNCTION") {
            "FUNCTION"
        } else {
            "PROCEDURE"
        };
        let q = format!("SHOW CREATE {kind} {}", ident(routine));
        let mode = show_field(conn, &q, 1)?.unwrap_or_default();
        let body = show_create(conn, &q, 2)?.ok_or_else(|| {
            Fail::Hidden(format!(
                "the body of {} {routine} (the user must be its definer or have SELECT on mysql.proc / SHOW CREATE ROUTINE)",
                kind.to_lowercase()
            ))
        })?;
        writeln!(out, "\n--\n-- {kind} {}\n--\n", ident(routine))?;
        compound(
            out,
            &format!("DROP {kind} IF EXISTS {}", ident(routine)),
            &mode,
            &strip_definer(&body),
        )?;
    }
    Ok(())
}

fn events(conn: &mut Conn, out: &mut impl Write, schema: &Schema) -> Result<(), Fail> {
    for event in &schema.events {
        let q = format!("SHOW CREATE EVENT {}", ident(event));
        let mode = show_field(conn, &q, 1)?.unwrap_or_default();
        let zone = show_field(conn, &q, 2)?.unwrap_or_else(|| "SYSTEM".into());
        let body = show_create(conn, &q, 3)?
            .ok_or_else(|| Fail::Hidden(format!("event {event} (needs the EVENT privilege)")))?;
        let mut z = Vec::new();
        quoted(&mut z, zone.as_bytes());
        writeln!(out, "\n--\n-- Event {}\n--\n", ident(event))?;
        out.write_all(
            b"/*!50106 SET @saved_time_zone = @@time_zone */;\n/*!50106 SET time_zone = ",
        )?;
        out.write_all(&z)?;
        out.write_all(b" */;\n")?;
        compound(
            out,
            &format!("DROP EVENT IF EXISTS {}", ident(event)),
            &mode,
            &strip_definer(&body),
        )?;
        out.write_all(b"/*!50106 SET time_zone = @saved_time_zone */;\n")?;
    }
    Ok(())
}
