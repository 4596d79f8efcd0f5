//! Reading a PostgreSQL script back: the gate before a dump is published, and the first look
//! at a file before a restore changes anything. Every statement must pass the whitelist
//! (`allow`), the only meta-commands are `\restrict`/`\unrestrict` (pg_dump 17.6+ writes them;
//! they are not passed on), and what the file creates and copies is counted.

use std::io::{BufReader, Read};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use super::allow::{judge, Action};
use super::dump::COMPLETE;
use super::script::{Piece, Script};
use crate::error::{Error, Result};

/// What the dump streamed into the file.
#[derive(Debug, Clone, Default)]
pub struct Streamed {
    /// Every table in dump order (`schema.name`), with the rows written.
    pub tables: Vec<(String, u64)>,
}

impl Streamed {
    pub(super) fn table(&mut self, name: &str, rows: u64) {
        self.tables.push((name.to_string(), rows));
    }
}

/// What a script holds.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    /// Tables created, in order (`schema.name`).
    pub created: Vec<String>,
    /// Rows copied per table, in order.
    pub copied: Vec<(String, u64)>,
    /// Extensions created.
    pub extensions: Vec<String>,
    /// Whether it ends with pg_dump's (and our) "dump complete" line.
    pub complete: bool,
    pub statements: u64,
}

impl Inventory {
    /// Rows copied into `table` (0 when the file copies none).
    pub fn rows(&self, table: &str) -> u64 {
        self.copied
            .iter()
            .filter(|(t, _)| t == table)
            .map(|(_, n)| n)
            .sum()
    }
}

/// A meta-command psql would run, or None for the two a load skips.
pub fn refused_meta(text: &str, inside: bool) -> Option<String> {
    let word = text.split_whitespace().next().unwrap_or("");
    if !inside && (word == "\\restrict" || word == "\\unrestrict") {
        return None;
    }
    Some(format!(
        "the psql meta-command {} is not loaded (only the \\. ending COPY rows, and \\restrict/\\unrestrict, which are skipped)",
        word
    ))
}

/// Reads `file` to the end under the whitelist for `schemas`; the first refused line stops it.
pub fn scan(file: &Path, schemas: &[String]) -> Result<Inventory> {
    let f = std::fs::File::open(file).map_err(Error::io("cannot read", file))?;
    scan_from(f, file, schemas)
}

/// A file still being written, read as it grows: at its end a read waits for more, until the
/// writer says it is done (after its last flush).
struct Follow {
    file: std::fs::File,
    done: Arc<AtomicBool>,
}

impl Read for Follow {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let n = self.file.read(buf)?;
            if n > 0 {
                return Ok(n);
            }
            if self.done.load(Ordering::Acquire) {
                // What was flushed just before `done`, or the end.
                return self.file.read(buf);
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// The read-back of a dump while it is written (one pass: the check costs no time after the
/// dump): the thread reads `file` under the whitelist of the schemas `schemas` will name, up to
/// the end the writer marks with `done`. Compare its inventory with [`compare`].
pub fn follow(
    file: &Path,
    schemas: mpsc::Receiver<Vec<String>>,
    done: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Result<Inventory>> {
    let path = file.to_path_buf();
    std::thread::spawn(move || {
        let f = std::fs::File::open(&path).map_err(Error::io("cannot read", &path))?;
        // No schemas: the dump failed before it read them, and says why itself.
        let schemas = schemas
            .recv()
            .map_err(|_| Error::CheckFailed("the dump stopped before its schemas".into()))?;
        scan_from(Follow { file: f, done }, &path, &schemas)
    })
}

fn scan_from(f: impl Read, file: &Path, schemas: &[String]) -> Result<Inventory> {
    let mut script = Script::new(BufReader::with_capacity(1 << 20, f));
    let mut inv = Inventory::default();
    let bad = |e: std::io::Error| Error::io("cannot load", file)(e);
    while let Some(piece) = script.next_piece().map_err(bad)? {
        match piece {
            Piece::Meta { line, text, inside } => {
                if let Some(why) = refused_meta(&text, inside) {
                    return Err(Error::Refused {
                        file: file.to_path_buf(),
                        line,
                        detail: why,
                    });
                }
            }
            Piece::Statement { line, sql } => {
                inv.statements += 1;
                let action = judge(&sql, schemas).map_err(|detail| Error::Refused {
                    file: file.to_path_buf(),
                    line,
                    detail,
                })?;
                match action {
                    Action::Copy(table) => {
                        let n = script.copy_rows(&mut |_| Ok(())).map_err(bad)?;
                        inv.copied.push((table, n));
                    }
                    Action::Table(t) => inv.created.push(t),
                    Action::Extension(e) => inv.extensions.push(e),
                    _ => {}
                }
            }
        }
    }
    // The "complete" line is a comment after the last statement: read the tail for it.
    inv.complete = ends_complete(file)?;
    Ok(inv)
}

/// Whether the file's last non-blank lines hold the "dump complete" comment.
fn ends_complete(file: &Path) -> Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(file).map_err(Error::io("cannot read", file))?;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    f.seek(SeekFrom::Start(len.saturating_sub(256)))
        .map_err(Error::io("cannot read", file))?;
    let mut tail = Vec::new();
    f.read_to_end(&mut tail)
        .map_err(Error::io("cannot read", file))?;
    let tail = String::from_utf8_lossy(&tail);
    Ok(tail
        .lines()
        .rev()
        .filter(|l| !l.trim().is_empty() && l.trim() != "--")
        .take(1)
        .any(|l| l.trim_end() == COMPLETE))
}

/// The gate before a dump is published: the file, read back under the whitelist ([`follow`]),
/// ends with the "complete" line, creates each dumped table exactly once and copies as many
/// rows as were streamed — nothing more, nothing less.
pub fn compare(inv: &Inventory, streamed: &Streamed) -> Result<()> {
    let fail = |why: String| Err(Error::CheckFailed(format!("the dump read back {why}")));
    if !inv.complete {
        return fail("does not end with its \"dump complete\" line".into());
    }
    let wanted: Vec<&str> = streamed.tables.iter().map(|(t, _)| t.as_str()).collect();
    let created: Vec<&str> = inv.created.iter().map(String::as_str).collect();
    if wanted != created {
        return fail(format!(
            "creates tables {created:?}, but the dump wrote {wanted:?}"
        ));
    }
    for (table, rows) in &streamed.tables {
        let found = inv.rows(table);
        if found != *rows {
            return fail(format!(
                "has {found} rows for {table}, but {rows} were streamed"
            ));
        }
    }
    Ok(())
}
