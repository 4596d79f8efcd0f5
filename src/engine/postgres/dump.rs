//! The dump: one consistent snapshot of the app's schemas, written as a plain SQL file that
//! the stock `psql -v ON_ERROR_STOP=1 -f FILE` loads, of the server's version and older ones.
//! Rows go as COPY text, streamed from the server to the file in constant memory; the only
//! psql meta-command in the file is the `\.` that ends each COPY's rows.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::Path;
use std::sync::{mpsc, Mutex};

use postgres::Client;

use super::catalog::{self, Item, Schema};
use super::check::Streamed;
use futures_util::StreamExt;

use super::{connect, connect_stream, explain, Fail, PgParams, Stream};
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

/// Dumps the app's schemas into `out`.
pub fn dump(
    params: &PgParams,
    out: &mut impl Write,
    dest: &Path,
    exclude_data: &[String],
    progress: &mut dyn FnMut(Progress),
) -> Result<Stats, Error> {
    let mut connected = false;
    let spill_dir = dest.parent().unwrap_or(Path::new("."));
    run(
        params,
        out,
        spill_dir,
        exclude_data,
        progress,
        &mut connected,
    )
    .map_err(|f| explain(f, params, dest, connected))
}

fn run(
    params: &PgParams,
    out: &mut impl Write,
    spill_dir: &Path,
    exclude_data: &[String],
    progress: &mut dyn FnMut(Progress),
    connected: &mut bool,
) -> Result<Stats, Fail> {
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
    let schema = catalog::read(&mut client, &params.search_path, exclude_data)?;
    // What we read must not be dropped or altered under us until we are done (pg_dump does
    // the same); writers go on.
    for t in &schema.tables {
        client.batch_execute(&format!("LOCK TABLE {} IN ACCESS SHARE MODE", t.name))?;
    }
    let mut stats = Stats {
        streamed: Streamed::of(&schema),
        ..Default::default()
    };
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
    let tables = &schema.tables;
    let total = tables.len();
    let claims = Mutex::new(Claims {
        front: 0,
        back: total,
    });
    let (sent, received) = mpsc::channel::<Result<Ahead, Fail>>();
    std::thread::scope(|scope| -> Result<(), Fail> {
        if tables.iter().filter(|t| copies(t)).count() >= 2 {
            let (claims, snapshot) = (&claims, snapshot.as_str());
            scope.spawn(move || helper(params, snapshot, tables, spill_dir, claims, sent));
        } else {
            drop(sent);
        }
        let mut ahead: HashMap<usize, Ahead> = HashMap::new();
        // The front's rows on an async connection too, or on the dump's own if none opens.
        let mut front = if tables.iter().any(copies) {
            open_stream(params, &snapshot).ok()
        } else {
            None
        };
        let mut main = || -> Result<(), Fail> {
            for (index, table) in tables.iter().enumerate() {
                progress(Progress::Table {
                    name: &table.plain,
                    index,
                    total,
                });
                let mine = {
                    let mut c = claims.lock().unwrap_or_else(|e| e.into_inner());
                    if c.front < c.back {
                        c.front += 1;
                        true
                    } else {
                        false
                    }
                };
                let rows = if mine || !copies(table) {
                    direct(&mut client, front.as_mut(), table, out, &mut bytes)?
                } else {
                    // Copied ahead by the helper into a spill file: appended as it is.
                    let done = loop {
                        if let Some(done) = ahead.remove(&index) {
                            break done;
                        }
                        let next = received.recv().map_err(|_| {
                            Fail::Io(std::io::Error::other("the helper connection stopped"))
                        })??;
                        ahead.insert(next.index, next);
                    };
                    let mut spill = done.spill.reopen()?;
                    bytes += std::io::copy(&mut spill, out)?;
                    done.rows
                };
                stats.tables += 1;
                stats.rows += rows;
                stats.streamed.table(&table.plain, rows);
                progress(Progress::Written {
                    rows: stats.rows,
                    bytes,
                });
            }
            Ok(())
        };
        let result = main();
        if result.is_err() {
            // The helper takes nothing more: the scope waits for it.
            let mut c = claims.lock().unwrap_or_else(|e| e.into_inner());
            c.back = c.front;
        }
        result
    })?;
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

/// Values are written as the server's exact text: every float digit, ISO dates, UTC.
const SESSION: &str = "SET client_encoding = 'UTF8';
     SET extra_float_digits = 3;
     SET DateStyle = ISO;
     SET IntervalStyle = postgres;
     SET TimeZone = 'UTC';
     SET bytea_output = hex;
     SET statement_timeout = 0;
     SET lock_timeout = 0;
     SET idle_in_transaction_session_timeout = 0;
     SET row_security = off;
     SELECT pg_catalog.set_config('search_path', '', false);";

/// Which tables each connection takes: the dump's from the front, the helper's from the back,
/// until they meet. The file keeps the tables' order either way.
struct Claims {
    front: usize,
    back: usize,
}

/// A table's COPY section written ahead by the helper.
struct Ahead {
    index: usize,
    spill: tempfile::NamedTempFile,
    rows: u64,
}

/// Whether a table's rows are copied (the others are written without a connection's work).
fn copies(table: &catalog::Table) -> bool {
    !table.excluded && table.holds_rows && !table.columns.is_empty()
}

/// A table's rows straight into the file (none when excluded or partitioned).
fn direct(
    client: &mut Client,
    front: Option<&mut Stream>,
    table: &catalog::Table,
    out: &mut dyn Write,
    bytes: &mut u64,
) -> Result<u64, Fail> {
    if table.excluded || !table.holds_rows {
        return Ok(0);
    }
    if table.columns.is_empty() {
        // No column to copy (none, or all generated): COPY cannot name them, so no rows may
        // be there to lose.
        let n: i64 = client
            .query_one(
                format!("SELECT count(*) FROM ONLY {}", table.name).as_str(),
                &[],
            )?
            .get(0);
        if n > 0 {
            return Err(Fail::Unsupported(format!(
                "table {} has rows but no column to copy them with",
                table.name
            )));
        }
        return Ok(0);
    }
    let mut source = match front {
        Some(s) => Source::Stream(s),
        None => Source::Sync(client),
    };
    copy(&mut source, table, out, bytes)
}

/// A second connection on the dump's exported snapshot, copying tables from the back of the
/// list into spill files (0600, in the backups folder, swept by the next run if we die) while
/// the dump streams from the front: the server formats two tables' rows at once. Memory stays
/// constant; a helper that cannot connect (max_connections, say) leaves every table to the
/// dump.
fn helper(
    params: &PgParams,
    snapshot: &str,
    tables: &[catalog::Table],
    spill_dir: &Path,
    claims: &Mutex<Claims>,
    sent: mpsc::Sender<Result<Ahead, Fail>>,
) {
    let Ok(mut stream) = open_stream(params, snapshot) else {
        return;
    };
    loop {
        let index = {
            let mut c = claims.lock().unwrap_or_else(|e| e.into_inner());
            // Tables without rows to copy are left to the dump.
            while c.back > c.front && !copies(&tables[c.back - 1]) {
                c.back -= 1;
            }
            if c.back <= c.front {
                return;
            }
            c.back -= 1;
            c.back
        };
        let done = spill(&mut stream, &tables[index], spill_dir).map(|(spill, rows)| Ahead {
            index,
            spill,
            rows,
        });
        let failed = done.is_err();
        if sent.send(done).is_err() || failed {
            return;
        }
    }
}

/// One table's COPY section into a spill file.
fn spill(
    stream: &mut Stream,
    table: &catalog::Table,
    dir: &Path,
) -> Result<(tempfile::NamedTempFile, u64), Fail> {
    let file = crate::store::publish::staging_file(dir)
        .map_err(|e| Fail::Io(std::io::Error::other(e.to_string())))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, file.as_file());
    let mut bytes = 0;
    let rows = copy(&mut Source::Stream(stream), table, &mut w, &mut bytes)?;
    w.flush()?;
    drop(w);
    Ok((file, rows))
}

/// Where a table's rows come from: the dump's own connection, or an async one on its
/// snapshot (cheaper per row: see [`super::Stream`]).
enum Source<'a> {
    Sync(&'a mut Client),
    Stream(&'a mut Stream),
}

/// An async connection on the dump's exported snapshot, with the dump's session settings.
fn open_stream(params: &PgParams, snapshot: &str) -> Result<Stream, Fail> {
    let s = connect_stream(params, &params.database)?;
    // The settings in a batch of their own: they run in an implicit transaction, and the
    // snapshot must be the first thing the next one does.
    s.runtime.block_on(s.client.batch_execute(SESSION))?;
    let begin = format!(
        "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;
         SET TRANSACTION SNAPSHOT {};",
        super::literal(snapshot)
    );
    s.runtime.block_on(s.client.batch_execute(&begin))?;
    Ok(s)
}

/// Streams one table's rows as COPY text; returns how many rows (one per line: COPY's text
/// format escapes newlines inside values).
fn copy(
    source: &mut Source,
    table: &catalog::Table,
    out: &mut dyn Write,
    bytes: &mut u64,
) -> Result<u64, Fail> {
    let cols = table.columns.join(", ");
    let head = format!(
        "--\n-- data: {}\n--\n\nCOPY {} ({cols}) FROM stdin;\n",
        table.name, table.name
    );
    out.write_all(head.as_bytes())?;
    *bytes += head.len() as u64;
    let sql = format!("COPY {} ({cols}) TO STDOUT", table.name);
    let mut rows = 0u64;
    let mut last = b'\n';
    let mut take = |chunk: &[u8]| -> Result<(), Fail> {
        rows += memchr::memchr_iter(b'\n', chunk).count() as u64;
        last = chunk[chunk.len() - 1];
        out.write_all(chunk)?;
        *bytes += chunk.len() as u64;
        Ok(())
    };
    match source {
        Source::Sync(client) => {
            let mut reader = client.copy_out(sql.as_str())?;
            loop {
                let chunk = reader.fill_buf().map_err(Fail::Read)?;
                if chunk.is_empty() {
                    break;
                }
                take(chunk)?;
                let n = chunk.len();
                reader.consume(n);
            }
        }
        Source::Stream(s) => s.runtime.block_on(async {
            let stream = s.client.copy_out(sql.as_str()).await?;
            futures_util::pin_mut!(stream);
            while let Some(chunk) = stream.next().await {
                let chunk = chunk?;
                if !chunk.is_empty() {
                    take(&chunk)?;
                }
            }
            Ok::<(), Fail>(())
        })?,
    }
    if last != b'\n' {
        return Err(Fail::Io(std::io::Error::other(format!(
            "the rows of {} did not end with a newline",
            table.name
        ))));
    }
    out.write_all(b"\\.\n\n")?;
    *bytes += 4;
    Ok(rows)
}
