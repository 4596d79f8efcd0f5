//! The rows of a dump, as COPY text, in the order the file lists the tables: two connections
//! on the dump's exported snapshot share the work, so the server formats two streams of rows
//! at once. Large tables are cut into page ranges (TID range scans, PostgreSQL 14+), so one
//! big table is shared too. Both connections take pieces in order, a few ahead of the file,
//! into memory; the writer appends each in its turn, so both work until the end and nothing
//! is left to append after the last COPY. The file is the same whoever copied a piece, and
//! memory stays constant.

use std::collections::HashMap;
use std::io::{BufRead, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Condvar, Mutex};

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

/// Tables larger than this many pages (8 KiB each by default: 4 MiB) are cut into pieces of
/// this size, so that both connections work until the end.
const PIECE_PAGES: i64 = 512;

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

/// Pieces handed out but not yet in the file: with [`IN_MEMORY`], the bound on memory.
const IN_FLIGHT: usize = 3;

/// A piece's rows are kept in memory up to this size (a piece is [`PIECE_PAGES`] of the
/// table, but toasted values are not counted in pages); beyond, in an unnamed file.
const IN_MEMORY: usize = 8 << 20;

/// The pieces' queue, shared by the connections and the writer.
struct Queue {
    /// The first piece no connection has taken.
    next: usize,
    /// The first piece not yet in the file (the writer's place).
    written: usize,
    /// The writer gave up: take nothing more.
    stop: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    moved: Condvar,
    /// Emptied buffers, for the next pieces.
    pool: Mutex<Vec<Vec<u8>>>,
}

impl Shared {
    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stop(&self) {
        self.queue().stop = true;
        self.moved.notify_all();
    }
}

/// A piece's rows copied by a connection, waiting for their turn in the file.
struct Copied {
    memory: Vec<u8>,
    /// What did not fit in memory, after it (an unnamed 0600 file in the backups folder:
    /// gone with the process, whatever happens).
    disk: Option<std::fs::File>,
    dir: PathBuf,
    rows: u64,
}

impl Write for Copied {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.disk.is_none() && self.memory.len() + buf.len() > IN_MEMORY {
            self.disk = Some(tempfile::tempfile_in(&self.dir)?);
        }
        match &mut self.disk {
            Some(f) => f.write(buf),
            None => {
                self.memory.extend_from_slice(buf);
                Ok(buf.len())
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Copied {
    /// Appends the rows to `out`; gives the buffer back for the next piece.
    fn write_to(mut self, out: &mut dyn Write, shared: &Shared) -> Result<u64, Fail> {
        out.write_all(&self.memory)?;
        let mut bytes = self.memory.len() as u64;
        if let Some(mut f) = self.disk.take() {
            f.seek(SeekFrom::Start(0))?;
            let mut r = std::io::BufReader::with_capacity(1 << 20, f);
            loop {
                let chunk = r.fill_buf()?;
                if chunk.is_empty() {
                    break;
                }
                out.write_all(chunk)?;
                bytes += chunk.len() as u64;
                let n = chunk.len();
                r.consume(n);
            }
        }
        self.memory.clear();
        let mut pool = shared.pool.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < IN_FLIGHT {
            pool.push(std::mem::take(&mut self.memory));
        }
        Ok(bytes)
    }
}

/// What the rows phase needs of the dump.
pub struct Dumping<'a> {
    pub params: &'a PgParams,
    /// The dump's own connection, holding the snapshot.
    pub client: &'a mut Client,
    pub snapshot: &'a str,
    pub spill_dir: &'a Path,
}

/// The connections that copy rows: two on the snapshot, named for `pg_stat_activity`. One
/// that cannot open (max_connections, say) leaves the work to the other; with none, the
/// dump's own connection copies alone.
const COPIERS: [&str; 2] = ["db-backup", "db-backup helper"];

/// Writes every table's COPY section into `out`, in order. The copying connections take the
/// pieces in order, a few ahead of the file at most, so both work until the end and the
/// pieces are written as they come, with no tail of spilled rows to append.
pub fn write(
    d: Dumping,
    tables: &[Table],
    pieces: &[Piece],
    out: &mut dyn Write,
    bytes: &mut u64,
    stats: &mut Stats,
    progress: &mut dyn FnMut(Progress),
) -> Result<(), Fail> {
    let Dumping {
        params,
        client,
        snapshot,
        spill_dir,
    } = d;
    let work = pieces.iter().filter(|p| copies(&tables[p.table])).count();
    let wanted = COPIERS.len().min(work);
    let streams: Vec<Stream> = std::thread::scope(|scope| {
        let opening: Vec<_> = COPIERS[..wanted]
            .iter()
            .map(|name| scope.spawn(move || open_stream(params, snapshot, name)))
            .collect();
        opening
            .into_iter()
            .filter_map(|h| h.join().ok().and_then(Result::ok))
            .collect()
    });
    let shared = Shared {
        queue: Mutex::new(Queue {
            next: 0,
            written: 0,
            stop: false,
        }),
        moved: Condvar::new(),
        pool: Mutex::new(Vec::new()),
    };
    let (sent, received) = mpsc::channel::<(usize, Result<Copied, Fail>)>();
    let copying = !streams.is_empty();
    std::thread::scope(|scope| -> Result<(), Fail> {
        for s in streams {
            let sent = sent.clone();
            let shared = &shared;
            scope.spawn(move || copier(s, tables, pieces, spill_dir, shared, sent));
        }
        drop(sent);
        let mut ahead: HashMap<usize, Copied> = HashMap::new();
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
                if copies(table) {
                    table_rows += if copying {
                        let done = wait_for(index, &mut ahead, &received)?;
                        let rows = done.rows;
                        *bytes += done.write_to(out, &shared)?;
                        rows
                    } else {
                        let mut source = Source::Sync(&mut *client);
                        stream(&mut source, &copy_sql(table, piece), table, out, bytes)?
                    };
                }
                {
                    shared.queue().written = index + 1;
                    shared.moved.notify_all();
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
        // The copiers take nothing more (they finish the piece in hand): the scope waits.
        shared.stop();
        result
    })
}

/// Piece `index` as a copier hands it over; a copier's failure is the dump's.
fn wait_for(
    index: usize,
    ahead: &mut HashMap<usize, Copied>,
    received: &mpsc::Receiver<(usize, Result<Copied, Fail>)>,
) -> Result<Copied, Fail> {
    loop {
        if let Some(done) = ahead.remove(&index) {
            return Ok(done);
        }
        let (at, next) = received.recv().map_err(|_| {
            Fail::Io(std::io::Error::other(
                "the connections copying rows stopped",
            ))
        })?;
        ahead.insert(at, next?);
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

/// A copying connection: takes the next piece while fewer than [`IN_FLIGHT`] wait for the
/// file, copies it into memory (or an unnamed file past [`IN_MEMORY`]) and hands it over.
fn copier(
    mut s: Stream,
    tables: &[Table],
    pieces: &[Piece],
    dir: &Path,
    shared: &Shared,
    sent: mpsc::Sender<(usize, Result<Copied, Fail>)>,
) {
    while let Some(index) = claim(tables, pieces, shared) {
        let piece = &pieces[index];
        let table = &tables[piece.table];
        let memory = shared
            .pool
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(IN_MEMORY));
        let mut copied = Copied {
            memory,
            disk: None,
            dir: dir.to_path_buf(),
            rows: 0,
        };
        let mut ignored = 0;
        let done = stream(
            &mut Source::Stream(&mut s),
            &copy_sql(table, piece),
            table,
            &mut copied,
            &mut ignored,
        )
        .map(|rows| Copied { rows, ..copied });
        let failed = done.is_err();
        if sent.send((index, done)).is_err() || failed {
            return;
        }
    }
}

/// The next piece with rows to copy, once fewer than [`IN_FLIGHT`] are ahead of the file;
/// None when there is none left or the writer stopped.
fn claim(tables: &[Table], pieces: &[Piece], shared: &Shared) -> Option<usize> {
    let mut q = shared.queue();
    loop {
        // Pieces without rows to copy are the writer's.
        while q.next < pieces.len() && !copies(&tables[pieces[q.next].table]) {
            q.next += 1;
        }
        if q.stop || q.next >= pieces.len() {
            return None;
        }
        if q.next < q.written + IN_FLIGHT {
            q.next += 1;
            return Some(q.next - 1);
        }
        q = shared.moved.wait(q).unwrap_or_else(|e| e.into_inner());
    }
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
    let mut take = |chunk: &[u8], counted: Option<u64>| -> Result<(), Fail> {
        rows += counted.unwrap_or_else(|| memchr::memchr_iter(b'\n', chunk).count() as u64);
        last = chunk[chunk.len() - 1];
        out.write_all(chunk)?;
        *bytes += chunk.len() as u64;
        Ok(())
    };
    let unfinished = || {
        Fail::Io(std::io::Error::other(format!(
            "the rows of {} did not end with a newline",
            table.name
        )))
    };
    match source {
        // The reader's chunks are not messages: lines are counted.
        Source::Sync(client) => {
            let mut reader = client.copy_out(sql)?;
            loop {
                let chunk = reader.fill_buf().map_err(Fail::Read)?;
                if chunk.is_empty() {
                    break;
                }
                take(chunk, None)?;
                let n = chunk.len();
                reader.consume(n);
            }
        }
        // One block_on for the whole COPY. Each chunk is one CopyData message, and "messages
        // sent from the backend will always correspond to single data rows" (the protocol's
        // documentation): a row is a message, which must end its line. The read-back counts
        // the file's lines, so the two counts are two readings of the rows.
        Source::Stream(s) => s.runtime.block_on(async {
            let rows = s.client.copy_out(sql).await?;
            futures_util::pin_mut!(rows);
            while let Some(chunk) = rows.next().await {
                let chunk = chunk?;
                if chunk.last() != Some(&b'\n') {
                    return Err(unfinished());
                }
                take(&chunk, Some(1))?;
            }
            Ok::<(), Fail>(())
        })?,
    }
    if last != b'\n' {
        return Err(unfinished());
    }
    Ok(rows)
}
