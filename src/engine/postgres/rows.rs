//! The rows of a dump, as COPY text, in the order the file lists the tables: two connections
//! on the dump's exported snapshot share the work, so the server formats two streams of rows
//! at once. Large tables are cut into page ranges (TID range scans, PostgreSQL 14+), so one
//! big table is shared too. The front connection streams into the file; the helper takes
//! pieces from the back into spill files (0600, in the backups folder, swept by the next run
//! if we die), appended when the front reaches them and deleted one by one as they are: what
//! is spilled is never in the file yet, so the dump takes no more room than its file and one
//! piece. The file is the same whoever copied a piece, and memory stays constant.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::Path;
use std::sync::{mpsc, Mutex};

use futures_util::StreamExt;
use postgres::Client;

use super::catalog::Table;
use super::dump::Stats;
use super::{connect_stream, Fail, PgParams, Stream};
use crate::engine::Progress;

/// Values are written as the server's exact text: every float digit, ISO dates, UTC.
pub const SESSION: &str = "SET client_encoding = 'UTF8';
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

/// Tables larger than this many pages (8 KiB each by default: 16 MiB) are cut into pieces of
/// this size, so that both connections work until the end.
const PIECE_PAGES: i64 = 2048;

/// One table's rows, or a page range of them.
#[derive(Debug, Clone)]
pub struct Piece {
    table: usize,
    /// Pages `[from, to)`; `to` None: to the end (a table may grow while we read it, but what
    /// the snapshot sees is on pages that existed when it was taken).
    pages: Option<(i64, Option<i64>)>,
    first: bool,
    last: bool,
}

/// Whether a table's rows are copied (the others are written without a connection's work).
fn copies(table: &Table) -> bool {
    !table.excluded && table.holds_rows && !table.columns.is_empty()
}

/// The pieces of every table, in the file's order.
pub fn pieces(client: &mut Client, tables: &[Table]) -> Result<Vec<Piece>, Fail> {
    let version: i32 = client
        .query_one("SELECT current_setting('server_version_num')::int", &[])?
        .get(0);
    let mut out = Vec::new();
    for (index, table) in tables.iter().enumerate() {
        let whole = Piece {
            table: index,
            pages: None,
            first: true,
            last: true,
        };
        // TID range scans came with PostgreSQL 14; before, a range would read the whole table.
        if !copies(table) || version < 140000 {
            out.push(whole);
            continue;
        }
        let pages: i64 = client
            .query_one(
                "SELECT pg_catalog.pg_relation_size($1::text::regclass)
                        / current_setting('block_size')::bigint",
                &[&table.name],
            )?
            .get(0);
        if pages <= PIECE_PAGES {
            out.push(whole);
            continue;
        }
        let mut from = 0;
        while from < pages {
            let to = from + PIECE_PAGES;
            out.push(Piece {
                table: index,
                pages: Some((from, (to < pages).then_some(to))),
                first: from == 0,
                last: to >= pages,
            });
            from = to;
        }
    }
    Ok(out)
}

/// The COPY of a piece.
fn copy_sql(table: &Table, piece: &Piece) -> String {
    let cols = table.columns.join(", ");
    match piece.pages {
        None => format!("COPY {} ({cols}) TO STDOUT", table.name),
        Some((from, to)) => {
            let upper = to
                .map(|to| format!(" AND ctid < '({to},0)'::tid"))
                .unwrap_or_default();
            format!(
                "COPY (SELECT {cols} FROM ONLY {} WHERE ctid >= '({from},0)'::tid{upper}) TO STDOUT",
                table.name
            )
        }
    }
}

/// Which pieces each connection takes: the front's from the start, the helper's from the
/// end, until they meet.
struct Claims {
    front: usize,
    back: usize,
}

/// A piece's rows copied ahead by the helper.
struct Ahead {
    index: usize,
    spill: tempfile::NamedTempFile,
    rows: u64,
}

/// What the rows phase needs of the dump.
pub struct Dumping<'a> {
    pub params: &'a PgParams,
    /// The dump's own connection, holding the snapshot.
    pub client: &'a mut Client,
    pub snapshot: &'a str,
    pub spill_dir: &'a Path,
}

/// Writes every table's COPY section into `out`, in order.
pub fn write(
    d: Dumping,
    tables: &[Table],
    pieces: &[Piece],
    out: &mut dyn Write,
    bytes: &mut u64,
    stats: &mut Stats,
    progress: &mut dyn FnMut(Progress),
) -> Result<(), Fail> {
    let claims = Mutex::new(Claims {
        front: 0,
        back: pieces.len(),
    });
    let (sent, received) = mpsc::channel::<Result<Ahead, Fail>>();
    let Dumping {
        params,
        client,
        snapshot,
        spill_dir,
    } = d;
    std::thread::scope(|scope| -> Result<(), Fail> {
        let work = pieces.iter().filter(|p| copies(&tables[p.table])).count();
        if work >= 2 {
            let claims = &claims;
            scope.spawn(move || helper(params, snapshot, tables, pieces, spill_dir, claims, sent));
        } else {
            drop(sent);
        }
        // The front's rows on an async connection too, or on the dump's own if none opens.
        let mut front = if work > 0 {
            open_stream(params, snapshot, "db-backup").ok()
        } else {
            None
        };
        let mut ahead: HashMap<usize, Ahead> = HashMap::new();
        let mut table_rows = 0u64;
        let mut run = || -> Result<(), Fail> {
            for (index, piece) in pieces.iter().enumerate() {
                let table = &tables[piece.table];
                if piece.first {
                    progress(Progress::Table {
                        name: &table.plain,
                        index: piece.table,
                        total: tables.len(),
                    });
                    table_rows = 0;
                    if copies(table) {
                        let head = format!(
                            "--\n-- data: {}\n--\n\nCOPY {} ({}) FROM stdin;\n",
                            table.name,
                            table.name,
                            table.columns.join(", ")
                        );
                        out.write_all(head.as_bytes())?;
                        *bytes += head.len() as u64;
                    } else {
                        check_empty(client, table)?;
                    }
                }
                // Every piece before the helper's first is the front's.
                let mine = {
                    let mut c = claims.lock().unwrap_or_else(|e| e.into_inner());
                    let mine = index < c.back;
                    if mine {
                        c.front = index + 1;
                    }
                    mine
                };
                if copies(table) {
                    table_rows += if mine {
                        let mut source = match front.as_mut() {
                            Some(s) => Source::Stream(s),
                            None => Source::Sync(&mut *client),
                        };
                        stream(&mut source, &copy_sql(table, piece), table, out, bytes)?
                    } else {
                        let done = wait_for(index, &mut ahead, &received)?;
                        let mut spill = done.spill.reopen()?;
                        *bytes += std::io::copy(&mut spill, out)?;
                        done.rows
                    };
                }
                if piece.last {
                    if copies(table) {
                        out.write_all(b"\\.\n\n")?;
                        *bytes += 4;
                    }
                    stats.tables += 1;
                    stats.rows += table_rows;
                    stats.streamed.table(&table.plain, table_rows);
                    progress(Progress::Written {
                        rows: stats.rows,
                        bytes: *bytes,
                    });
                }
            }
            Ok(())
        };
        let result = run();
        if result.is_err() {
            // The helper takes nothing more: the scope waits for it.
            let mut c = claims.lock().unwrap_or_else(|e| e.into_inner());
            c.back = c.front;
        }
        result
    })
}

/// The helper's copy of piece `index`, as it arrives (the helper works from the end).
fn wait_for(
    index: usize,
    ahead: &mut HashMap<usize, Ahead>,
    received: &mpsc::Receiver<Result<Ahead, Fail>>,
) -> Result<Ahead, Fail> {
    loop {
        if let Some(done) = ahead.remove(&index) {
            return Ok(done);
        }
        let next = received
            .recv()
            .map_err(|_| Fail::Io(std::io::Error::other("the helper connection stopped")))??;
        ahead.insert(next.index, next);
    }
}

/// A table with no column to copy (none, or all generated): COPY cannot name them, so no rows
/// may be there to lose.
fn check_empty(client: &mut Client, table: &Table) -> Result<(), Fail> {
    if table.excluded || !table.holds_rows {
        return Ok(());
    }
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
    Ok(())
}

/// The second connection: pieces from the end into spill files. One that cannot connect
/// (max_connections, say) leaves every piece to the front.
fn helper(
    params: &PgParams,
    snapshot: &str,
    tables: &[Table],
    pieces: &[Piece],
    spill_dir: &Path,
    claims: &Mutex<Claims>,
    sent: mpsc::Sender<Result<Ahead, Fail>>,
) {
    let Ok(mut s) = open_stream(params, snapshot, "db-backup helper") else {
        return;
    };
    loop {
        let index = {
            let mut c = claims.lock().unwrap_or_else(|e| e.into_inner());
            // Pieces without rows to copy are left to the front.
            while c.back > c.front && !copies(&tables[pieces[c.back - 1].table]) {
                c.back -= 1;
            }
            if c.back <= c.front {
                return;
            }
            c.back -= 1;
            c.back
        };
        let piece = &pieces[index];
        let done = spill(&mut s, &tables[piece.table], piece, spill_dir)
            .map(|(spill, rows)| Ahead { index, spill, rows });
        let failed = done.is_err();
        if sent.send(done).is_err() || failed {
            return;
        }
    }
}

/// One piece's rows into a spill file.
fn spill(
    s: &mut Stream,
    table: &Table,
    piece: &Piece,
    dir: &Path,
) -> Result<(tempfile::NamedTempFile, u64), Fail> {
    let file = crate::store::publish::staging_file(dir)
        .map_err(|e| Fail::Io(std::io::Error::other(e.to_string())))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, file.as_file());
    let mut bytes = 0;
    let rows = stream(
        &mut Source::Stream(s),
        &copy_sql(table, piece),
        table,
        &mut w,
        &mut bytes,
    )?;
    w.flush()?;
    drop(w);
    Ok((file, rows))
}

/// Where rows come from: an async connection on the snapshot (cheaper per row: see
/// [`Stream`]), or the dump's own.
enum Source<'a> {
    Sync(&'a mut Client),
    Stream(&'a mut Stream),
}

/// An async connection on the dump's exported snapshot, with the dump's session settings.
fn open_stream(params: &PgParams, snapshot: &str, name: &str) -> Result<Stream, Fail> {
    let s = connect_stream(params, &params.database, name)?;
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

/// Streams one COPY's rows into `out`; returns how many (one per line: COPY's text format
/// escapes newlines inside values).
fn stream(
    source: &mut Source,
    sql: &str,
    table: &Table,
    out: &mut dyn Write,
    bytes: &mut u64,
) -> Result<u64, Fail> {
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
            let mut reader = client.copy_out(sql)?;
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
        // One block_on for the whole COPY.
        Source::Stream(s) => s.runtime.block_on(async {
            let rows = s.client.copy_out(sql).await?;
            futures_util::pin_mut!(rows);
            while let Some(chunk) = rows.next().await {
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
    Ok(rows)
}
