//! The dump: one consistent snapshot of the app's schemas, written as a plain SQL file that
//! the stock `psql -v ON_ERROR_STOP=1 -f FILE` loads, of the server's version and older ones.
//! Rows go as COPY text, streamed from the server to the file in constant memory; the only
//! psql meta-command in the file is the `\.` that ends each COPY's rows.

use std::io::Write;
use std::path::Path;
use std::sync::mpsc;

use super::catalog::{self, Item, Schema};
use super::check::Streamed;
use super::rows::{self, SESSION};
use super::{connect, explain, Fail, PgParams};
use crate::engine::Progress;
use crate::error::Error;

/// The last line of every complete dump, as pg_dump ends its own; the read-back check
/// requires it.
pub const COMPLETE: &str = "-- PostgreSQL database dump complete";

/// The session settings at the top of the file: the ones pg_dump writes, so that a load
/// reads values as they were written and names only as qualified.
pub const PREAMBLE: &[&str] = &[
    "SET statement_timeout = 0;",
    "SET lock_timeout = 0;",
    "SET idle_in_transaction_session_timeout = 0;",
    "SET client_encoding = 'UTF8';",
    "SET standard_conforming_strings = on;",
    "SELECT pg_catalog.set_config('search_path', '', false);",
    "SET check_function_bodies = false;",
    "SET xmloption = content;",
    "SET client_min_messages = warning;",
    "SET row_security = off;",
];

/// Counts for the report, and what was written for the read-back check.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub tables: usize,
    pub rows: u64,
    pub streamed: Streamed,
}

/// Dumps the app's schemas into `out`; `schemas` learns them as soon as they are read (the
/// read-back that follows the file needs them).
pub fn dump(
    params: &PgParams,
    out: &mut impl Write,
    dest: &Path,
    exclude_data: &[String],
    progress: &mut dyn FnMut(Progress),
    schemas: mpsc::Sender<Vec<String>>,
) -> Result<Stats, Error> {
    let mut connected = false;
    let spill_dir = dest.parent().unwrap_or(Path::new("."));
    let to = Target {
        out,
        spill_dir,
        schemas,
    };
    run(params, to, exclude_data, progress, &mut connected)
        .map_err(|f| explain(f, params, dest, connected))
}

/// Where the dump goes.
struct Target<'a, W> {
    out: &'a mut W,
    spill_dir: &'a Path,
    schemas: mpsc::Sender<Vec<String>>,
}

fn run(
    params: &PgParams,
    to: Target<impl Write>,
    exclude_data: &[String],
    progress: &mut dyn FnMut(Progress),
    connected: &mut bool,
) -> Result<Stats, Fail> {
    let Target {
        out,
        spill_dir,
        schemas,
    } = to;
    let mut client = connect(params, &params.database)?;
    *connected = true;
    client.batch_execute(SESSION)?;
    // One snapshot for every query that follows (a batch of its own: the SETs above ran in
    // an implicit transaction of their own).
    client.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY, DEFERRABLE")?;
    // The helper connection reads the same snapshot.
    let snapshot: String = client
        .query_one("SELECT pg_catalog.pg_export_snapshot()", &[])?
        .get(0);
    let version: String = client.query_one("SHOW server_version", &[])?.get(0);
    // The catalog is read with what 14 brought (SQL-standard bodies, multiranges, column
    // compression); an older server would fail on a column name.
    let number: i32 = client
        .query_one("SELECT current_setting('server_version_num')::int", &[])?
        .get(0);
    if number < 140000 {
        return Err(Fail::OldServer(version));
    }
    let schema = catalog::read(&mut client, &params.search_path, exclude_data)?;
    // The read-back may start; if it is gone, the check after the dump says so.
    let _ = schemas.send(schema.schemas.clone());
    // What we read must not be dropped or altered under us until we are done (pg_dump does
    // the same); writers go on.
    for t in &schema.tables {
        client.batch_execute(&format!("LOCK TABLE {} IN ACCESS SHARE MODE", t.name))?;
    }
    let mut stats = Stats::default();
    let mut bytes = 0u64;
    let w = |out: &mut dyn Write, s: &str, bytes: &mut u64| -> std::io::Result<()> {
        *bytes += s.len() as u64;
        out.write_all(s.as_bytes())
    };
    w(
        out,
        &header(&params.database, &version, &schema),
        &mut bytes,
    )?;
    write_items(out, &schema.before, &mut bytes)?;
    let pieces = rows::pieces(&mut client, &schema.tables)?;
    let d = rows::Dumping {
        params,
        client: &mut client,
        snapshot: &snapshot,
        spill_dir,
    };
    rows::write(
        d,
        &schema.tables,
        &pieces,
        out,
        &mut bytes,
        &mut stats,
        progress,
    )?;
    write_items(out, &schema.after, &mut bytes)?;
    w(out, &format!("\n--\n{COMPLETE}\n--\n\n"), &mut bytes)?;
    client.batch_execute("COMMIT")?;
    Ok(stats)
}

fn header(database: &str, version: &str, schema: &Schema) -> String {
    let mut h = String::from("--\n-- PostgreSQL database dump (db-backup)\n--\n\n");
    h += &format!(
        "-- Database: {}\n-- Dumped from database version {}\n-- Schemas: {}\n\n",
        one_line(database),
        one_line(version),
        one_line(&schema.schemas.join(", "))
    );
    for line in PREAMBLE {
        h += line;
        h.push('\n');
    }
    h.push('\n');
    h
}

/// A name in a `--` comment: a newline would end the comment and make the rest a statement.
fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

fn write_items(out: &mut dyn Write, items: &[Item], bytes: &mut u64) -> std::io::Result<()> {
    for it in items {
        let text = format!(
            "--\n-- {}: {}\n--\n\n{}\n\n",
            it.what,
            one_line(&it.name),
            it.sql
        );
        *bytes += text.len() as u64;
        out.write_all(text.as_bytes())?;
    }
    Ok(())
}
