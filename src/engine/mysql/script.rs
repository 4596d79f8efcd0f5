//! Splits a SQL script (a `mysqldump`/`mariadb-dump` file or any script meant for
//! `mysql db < file.sql`) into the statements the command-line client would send, so we can
//! load it over our own connection without the `mysql` client.
//!
//! The rules are those of the client in batch mode (`client/mysql.cc`, `add_line`), checked
//! against the MariaDB 10.11 client:
//!
//! - A statement ends at the current delimiter (initially `;`) outside strings and comments.
//!   The delimiter is not part of the statement; leading whitespace and trailing whitespace
//!   and control bytes are trimmed; empty statements are skipped. `\g` and `\G` outside
//!   strings also end a statement.
//! - `DELIMITER xx` (any case) as the first word of a line, while no statement is pending, is a
//!   client command: it is not sent, the rest of its line is ignored, and its argument is read
//!   as the client reads it (up to a space; `'…'`, `"…"` or `` `…` `` quoting; backslash
//!   escapes; at most 15 bytes; one containing a backslash is refused and ignored).
//! - Strings `'…'` and `"…"` honour backslash escapes and doubled quotes; identifiers
//!   `` `…` `` only doubled backquotes. Comments and delimiters inside them are content.
//!   [`Statements::set_no_backslash_escapes`] and [`Statements::set_ansi_quotes`] follow the
//!   session's `sql_mode` as the client does from the server's status flags.
//! - `# …` and `-- …` (two dashes then whitespace or the end of the line; any `--` when the
//!   statement is still empty) run to the end of the line and are dropped, not the newline.
//!   So `SELECT 1--1` is `SELECT 1--1`.
//!   `/* … */` is dropped (replaced by a space when text follows it directly).
//! - Version comments `/*!NNNNN … */` and `/*M!NNNNN … */` are not comments to the client: they
//!   are sent verbatim, and their content is scanned like any other text. So a delimiter
//!   inside one DOES end the statement, exactly as with the real client (dumps put the
//!   delimiter after the `*/`, and switch to `DELIMITER ;;` around bodies that contain `;`).
//! - MariaDB's sandbox line `/*M!999999\- enable the sandbox mode */` (or `/*!999999\-…`) at
//!   the start of a dump is a client command: it is skipped.
//! - Lines end in LF or CRLF; a CR right before a LF is dropped everywhere, strings included,
//!   as the client does. A backslash at the very end of a line is dropped. A UTF-8 byte order
//!   mark at the start of the file is skipped.
//! - A final statement without delimiter is returned (the client sends it too), and
//!   [`Statements::unterminated`] tells it happened. A script that ends inside a string or a
//!   `/* */` comment yields an [`std::io::ErrorKind::UnexpectedEof`] error instead of its last
//!   statement ("script ends inside a string starting at line 7 (statement at line 5)",
//!   "script ends inside a comment starting at line 9"): a truncated file, which the client
//!   would have sent anyway. A NUL byte yields an [`std::io::ErrorKind::InvalidData`] error,
//!   as the client refuses such a script (outside `--binary-mode`).
//!
//! Not followed on purpose: the client's other commands (`use` without delimiter, `source`,
//! `\c`, `\q`, `exit`, …: a `\x` pair outside strings is kept verbatim, as the client does for
//! an unknown command under `--force`), `DELIMITER` after another statement on the same line,
//! and the client's quirk of gluing a line that starts with `delimiter…` inside a statement to
//! the next line (it produces broken SQL). Bytes are read as ASCII-compatible (UTF-8, latin1),
//! not as multi-byte charsets whose trailing bytes can be ASCII (sjis, gbk, big5).
//!
//! It reads through `fill_buf()` chunks into a small window and copies runs of ordinary bytes,
//! strings included, with one table look-up per byte: 0.8 to 1 GB/s in a release build with a
//! `BufReader` of 256 KiB over a file (give it a large one: the default 8 KiB costs a system
//! call every 8 KiB). Memory is bounded by the largest statement (at most
//! [`DEFAULT_MAX_STATEMENT`] unless changed), never by the file.

use std::io::{self, BufRead, ErrorKind};

/// A statement read from a script, with the 1-based line where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub line: usize,
    pub sql: Vec<u8>,
}

/// A statement longer than this is refused (the server's own `max_allowed_packet` cap is 1 GiB).
pub const DEFAULT_MAX_STATEMENT: usize = 1 << 30;

/// Initial size of the read window; it grows only for a long `DELIMITER` line.
const WINDOW: usize = 64 * 1024;
/// The client keeps a delimiter in a 16-byte C string.
const MAX_DELIMITER: usize = 15;
/// The client reads a `DELIMITER` line into a 256-byte C string.
const MAX_COMMAND_LINE: usize = 255;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Outside strings and comments.
    Normal,
    /// Inside a string or quoted identifier opened by this byte.
    Quoted(u8),
    /// Inside `/* … */`.
    Comment,
    /// Inside `# …` or `-- …`, up to (not including) the newline.
    LineComment,
}

/// Splits a SQL script into the statements the mysql/mariadb command-line client would send,
/// reading it as a stream (memory bounded by the largest statement, never the file).
///
/// Errors (I/O, truncated script, NUL byte, oversized statement) end the iteration.
pub struct Statements<R> {
    reader: R,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    /// Bytes taken from the reader so far.
    taken: u64,
    eof: bool,
    done: bool,
    started: bool,
    line: usize,
    /// Nothing but whitespace seen on the current line.
    line_blank: bool,
    state: State,
    /// Line where the current string or comment opened.
    opened_at: usize,
    sql: Vec<u8>,
    sql_line: usize,
    /// A `/* */` comment just closed: the next character gets a space before it.
    need_space: bool,
    delimiter: Vec<u8>,
    /// Bytes that need a decision outside strings and comments.
    special: [bool; 256],
    backslash_escapes: bool,
    ansi_quotes: bool,
    unterminated: bool,
    max_statement: usize,
}

const fn table(bytes: &[u8]) -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < bytes.len() {
        t[bytes[i] as usize] = true;
        i += 1;
    }
    t
}

const NORMAL: [bool; 256] = table(b"\0\n\r\\#-/'\"`");
const SINGLE: [bool; 256] = table(b"\0\n\r\\'");
const DOUBLE: [bool; 256] = table(b"\0\n\r\\\"");
const BACKQUOTE: [bool; 256] = table(b"\0\n\r`");
const COMMENT: [bool; 256] = table(b"\0\n*");
const TO_EOL: [bool; 256] = table(b"\0\n");

/// Whitespace as the client sees it (`my_isspace` in latin1/utf8).
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

impl<R: BufRead> Statements<R> {
    pub fn new(reader: R) -> Self {
        let mut s = Statements {
            reader,
            buf: vec![0; WINDOW],
            pos: 0,
            end: 0,
            taken: 0,
            eof: false,
            done: false,
            started: false,
            line: 1,
            line_blank: true,
            state: State::Normal,
            opened_at: 0,
            sql: Vec::new(),
            sql_line: 1,
            need_space: false,
            delimiter: Vec::new(),
            special: NORMAL,
            backslash_escapes: true,
            ansi_quotes: false,
            unterminated: false,
            max_statement: DEFAULT_MAX_STATEMENT,
        };
        s.set_delimiter(b";");
        s
    }

    /// Refuses statements longer than `bytes` (an `InvalidData` error) instead of
    /// [`DEFAULT_MAX_STATEMENT`].
    #[allow(dead_code)] // part of the splitter\'s API; used by its tests
    pub fn max_statement_len(mut self, bytes: usize) -> Self {
        self.max_statement = bytes;
        self
    }

    /// Whether backslashes are plain characters in strings, as under `sql_mode`
    /// `NO_BACKSLASH_ESCAPES`. The client follows the server's status flag after each
    /// statement; a caller does the same with `conn.no_backslash_escape()` before asking for
    /// the next statement (dumps set it around routines created in that mode).
    pub fn set_no_backslash_escapes(&mut self, on: bool) {
        self.backslash_escapes = !on;
    }

    /// Whether `"…"` is an identifier (no backslash escapes), as under `sql_mode` `ANSI_QUOTES`.
    #[allow(dead_code)] // part of the splitter\'s API; used by its tests
    pub fn set_ansi_quotes(&mut self, on: bool) {
        self.ansi_quotes = on;
    }

    /// The current delimiter.
    #[allow(dead_code)] // part of the splitter\'s API; used by its tests
    pub fn delimiter(&self) -> &[u8] {
        &self.delimiter
    }

    /// The line being read (1-based).
    #[allow(dead_code)] // part of the splitter\'s API; used by its tests
    pub fn line(&self) -> usize {
        self.line
    }

    /// Bytes of the script consumed so far, for progress reports.
    #[allow(dead_code)] // part of the splitter\'s API; used by its tests
    pub fn position(&self) -> u64 {
        self.taken - (self.end - self.pos) as u64
    }

    fn set_delimiter(&mut self, d: &[u8]) {
        self.delimiter = d.to_vec();
        self.special = NORMAL;
        self.special[d[0] as usize] = true;
    }

    /// Makes at least `want` bytes available from `pos` unless the script ends first; returns
    /// how many are.
    fn fill(&mut self, want: usize) -> io::Result<usize> {
        while self.end - self.pos < want && !self.eof {
            if self.pos > 0 {
                self.buf.copy_within(self.pos..self.end, 0);
                self.end -= self.pos;
                self.pos = 0;
            }
            if self.end == self.buf.len() {
                let size = (self.buf.len() * 2).max(want);
                self.buf.resize(size, 0);
            }
            let chunk = match self.reader.fill_buf() {
                Ok(chunk) => chunk,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                self.eof = true;
                break;
            }
            let n = chunk.len().min(self.buf.len() - self.end);
            self.buf[self.end..self.end + n].copy_from_slice(&chunk[..n]);
            self.reader.consume(n);
            self.end += n;
            self.taken += n as u64;
        }
        Ok(self.end - self.pos)
    }

    fn advance(&mut self) -> io::Result<Option<Statement>> {
        if !self.started {
            self.started = true;
            if self.fill(3)? >= 3 && self.buf[..3] == [0xEF, 0xBB, 0xBF] {
                self.pos += 3;
            }
        }
        loop {
            if self.pos == self.end && self.fill(1)? == 0 {
                return self.finish();
            }
            // Mid-statement, spans of ordinary bytes, strings included, are copied at once.
            let fast = !self.sql.is_empty()
                && !self.need_space
                && matches!(self.state, State::Normal | State::Quoted(_));
            if fast {
                self.fast();
                self.check_size(self.sql.len())?;
                if self.pos == self.end {
                    continue;
                }
            }
            match self.state {
                State::Normal => {
                    let statement = if fast { self.decide()? } else { self.normal()? };
                    if let Some(statement) = statement {
                        self.check_size(statement.sql.len())?;
                        return Ok(Some(statement));
                    }
                }
                State::Quoted(quote) => self.quoted(quote)?,
                State::Comment => self.comment()?,
                State::LineComment => self.line_comment()?,
            }
            self.check_size(self.sql.len())?;
        }
    }

    fn check_size(&self, len: usize) -> io::Result<()> {
        if len <= self.max_statement {
            return Ok(());
        }
        Err(io::Error::new(
            ErrorKind::InvalidData,
            format!(
                "the statement starting at line {} is longer than {} bytes",
                self.sql_line, self.max_statement
            ),
        ))
    }

    fn finish(&mut self) -> io::Result<Option<Statement>> {
        match self.state {
            State::Quoted(quote) => {
                self.unterminated = true;
                let what = match quote {
                    b'`' => "a quoted identifier",
                    _ => "a string",
                };
                return Err(io::Error::new(
                    ErrorKind::UnexpectedEof,
                    format!(
                        "script ends inside {what} starting at line {} (statement at line {})",
                        self.opened_at, self.sql_line
                    ),
                ));
            }
            State::Comment => {
                self.unterminated = true;
                return Err(io::Error::new(
                    ErrorKind::UnexpectedEof,
                    format!(
                        "script ends inside a comment starting at line {}",
                        self.opened_at
                    ),
                ));
            }
            State::Normal | State::LineComment => {}
        }
        self.done = true;
        let statement = self.take();
        if let Some(statement) = &statement {
            self.unterminated = true;
            self.check_size(statement.sql.len())?;
        }
        Ok(statement)
    }

    fn nul(&self) -> io::Error {
        io::Error::new(
            ErrorKind::InvalidData,
            format!(
                "script has a NUL byte at line {} (the mysql client refuses it outside --binary-mode)",
                self.line
            ),
        )
    }

    fn newline(&mut self) {
        self.line += 1;
        self.line_blank = true;
        self.need_space = false;
    }

    /// The pending statement, trimmed, unless it is empty.
    fn take(&mut self) -> Option<Statement> {
        let keep = self
            .sql
            .iter()
            .rposition(|&b| b > b' ' && b != 0x7f)
            .map_or(0, |i| i + 1);
        self.sql.truncate(keep);
        if self.sql.is_empty() {
            return None;
        }
        let cap = keep + keep / 4 + 64;
        let sql = std::mem::replace(&mut self.sql, Vec::with_capacity(cap));
        Some(Statement {
            line: self.sql_line,
            sql,
        })
    }

    /// Appends one ordinary byte to the statement.
    fn push(&mut self, b: u8) {
        if self.sql.is_empty() {
            self.sql_line = self.line;
        } else if self.need_space && !is_space(b) {
            self.sql.push(b' ');
        }
        self.need_space = false;
        self.sql.push(b);
    }

    /// The hot loop, for a statement already started: walks strings, escapes, quotes and
    /// newlines in the window and copies everything walked in one go. It stops at the end of
    /// the window or before a byte that needs the general code: a possible delimiter or
    /// comment, a CR, a NUL, a backslash outside strings or before a line end, or one whose
    /// look-ahead is not in the window yet.
    fn fast(&mut self) {
        let buf = &self.buf[..self.end];
        let delimiter = &self.delimiter[..];
        let mut pos = self.pos;
        let mut state = self.state;
        let mut line = self.line;
        let mut opened_at = self.opened_at;
        loop {
            let rest = &buf[pos..];
            if let State::Quoted(quote) = state {
                let special = match quote {
                    b'\'' => &SINGLE,
                    b'"' => &DOUBLE,
                    _ => &BACKQUOTE,
                };
                let Some(n) = rest.iter().position(|&b| special[b as usize]) else {
                    pos = buf.len();
                    break;
                };
                pos += n;
                match buf[pos] {
                    b'\n' => {
                        line += 1;
                        pos += 1;
                    }
                    b'\\' if !self.backslash_escapes || (quote == b'"' && self.ansi_quotes) => {
                        pos += 1;
                    }
                    b'\\' => match buf.get(pos + 1) {
                        Some(b'\n' | b'\r' | 0) | None => break,
                        Some(_) => pos += 2,
                    },
                    b if b == quote => {
                        pos += 1;
                        state = State::Normal;
                    }
                    _ => break,
                }
            } else {
                let Some(n) = rest.iter().position(|&b| self.special[b as usize]) else {
                    pos = buf.len();
                    break;
                };
                pos += n;
                let b = buf[pos];
                if b == delimiter[0]
                    && (pos + delimiter.len() > buf.len()
                        || buf[pos..pos + delimiter.len()] == *delimiter)
                {
                    break;
                }
                match b {
                    b'\'' | b'"' | b'`' => {
                        state = State::Quoted(b);
                        opened_at = line;
                        pos += 1;
                    }
                    b'\n' => {
                        line += 1;
                        pos += 1;
                    }
                    b'-' => {
                        if pos + 2 >= buf.len() || (buf[pos + 1] == b'-' && is_space(buf[pos + 2]))
                        {
                            break;
                        }
                        pos += 1;
                    }
                    b'/' => {
                        if pos + 3 >= buf.len()
                            || (buf[pos + 1] == b'*'
                                && buf[pos + 2] != b'!'
                                && !(buf[pos + 2] == b'M' && buf[pos + 3] == b'!'))
                        {
                            break;
                        }
                        pos += 1;
                    }
                    b'\\' | b'#' | b'\r' | 0 => break,
                    // The first byte of a multi-byte delimiter, not followed by the rest.
                    _ => pos += 1,
                }
            }
        }
        self.sql.extend_from_slice(&buf[self.pos..pos]);
        if line != self.line {
            self.line = line;
            self.line_blank = true;
        }
        self.pos = pos;
        self.state = state;
        self.opened_at = opened_at;
    }

    /// Outside strings and comments: copies a run of ordinary bytes, then decides on the byte
    /// that stopped it.
    fn normal(&mut self) -> io::Result<Option<Statement>> {
        if self.sql.is_empty() {
            let b = self.buf[self.pos];
            if b == b'\n' {
                self.pos += 1;
                self.newline();
                return Ok(None);
            }
            if is_space(b) {
                self.pos += 1;
                return Ok(None);
            }
            if self.line_blank {
                self.line_blank = false;
                if (b == b'd' || b == b'D' || b == b'/') && self.client_command()? {
                    return Ok(None);
                }
            }
        } else {
            let start = self.pos;
            let run = &self.buf[start..self.end];
            let n = run
                .iter()
                .position(|&b| self.special[b as usize])
                .unwrap_or(run.len());
            if n > 0 {
                if self.need_space && !is_space(run[0]) {
                    self.sql.push(b' ');
                }
                self.need_space = false;
                self.sql.extend_from_slice(&run[..n]);
                self.pos += n;
                if self.pos == self.end {
                    return Ok(None);
                }
            }
        }
        self.decide()
    }

    fn decide(&mut self) -> io::Result<Option<Statement>> {
        let b = self.buf[self.pos];
        match b {
            0 => return Err(self.nul()),
            b'\n' => {
                self.pos += 1;
                if !self.sql.is_empty() {
                    self.sql.push(b'\n');
                }
                self.newline();
                return Ok(None);
            }
            b'\r' => {
                if self.fill(2)? >= 2 && self.buf[self.pos + 1] == b'\n' {
                    self.pos += 1;
                } else {
                    self.pos += 1;
                    self.push(b'\r');
                }
                return Ok(None);
            }
            b'\\' => return self.backslash(),
            _ => {}
        }
        if b == self.delimiter[0] {
            let len = self.delimiter.len();
            if self.fill(len)? >= len && self.buf[self.pos..self.pos + len] == self.delimiter[..] {
                self.pos += len;
                return Ok(self.end_statement());
            }
        }
        match b {
            b'#' => {
                self.pos += 1;
                self.state = State::LineComment;
            }
            b'-' => {
                let avail = self.fill(3)?;
                let comment = avail >= 2
                    && self.buf[self.pos + 1] == b'-'
                    && (self.sql.is_empty() || avail == 2 || is_space(self.buf[self.pos + 2]));
                if comment {
                    self.pos += 2;
                    self.state = State::LineComment;
                } else {
                    self.pos += 1;
                    self.push(b'-');
                }
            }
            b'/' => {
                let avail = self.fill(4)?;
                let at = |i: usize| if i < avail { self.buf[self.pos + i] } else { 0 };
                let comment = at(1) == b'*' && !(at(2) == b'!' || (at(2) == b'M' && at(3) == b'!'));
                if comment {
                    self.opened_at = self.line;
                    self.pos += 2;
                    self.state = State::Comment;
                } else {
                    self.pos += 1;
                    self.push(b'/');
                }
            }
            b'\'' | b'"' | b'`' => {
                self.pos += 1;
                self.push(b);
                self.opened_at = self.line;
                self.state = State::Quoted(b);
            }
            _ => {
                self.pos += 1;
                self.push(b);
            }
        }
        Ok(None)
    }

    fn end_statement(&mut self) -> Option<Statement> {
        self.line_blank = false;
        self.need_space = false;
        self.take()
    }

    /// A backslash outside strings: the client's one-letter commands.
    fn backslash(&mut self) -> io::Result<Option<Statement>> {
        let avail = self.fill(3)?;
        let next = if avail >= 2 {
            self.buf[self.pos + 1]
        } else {
            b'\n'
        };
        let crlf = next == b'\r' && avail >= 3 && self.buf[self.pos + 2] == b'\n';
        match next {
            // At the end of a line the client drops it.
            b'\n' => self.pos += 1,
            _ if crlf => self.pos += 1,
            0 => return Err(self.nul()),
            // \g and \G send the statement.
            b'g' | b'G' => {
                self.pos += 2;
                return Ok(self.end_statement());
            }
            // \N (NULL) and, as with `--force`, unknown commands are kept as they are.
            _ => {
                if self.sql.is_empty() {
                    self.sql_line = self.line;
                }
                self.sql.extend_from_slice(&[b'\\', next]);
                self.pos += 2;
            }
        }
        Ok(None)
    }

    fn quoted(&mut self, quote: u8) -> io::Result<()> {
        let special = match quote {
            b'\'' => &SINGLE,
            b'"' => &DOUBLE,
            _ => &BACKQUOTE,
        };
        let run = &self.buf[self.pos..self.end];
        let n = run
            .iter()
            .position(|&b| special[b as usize])
            .unwrap_or(run.len());
        self.sql.extend_from_slice(&run[..n]);
        self.pos += n;
        if self.pos == self.end {
            return Ok(());
        }
        match self.buf[self.pos] {
            0 => return Err(self.nul()),
            b'\n' => {
                self.pos += 1;
                self.sql.push(b'\n');
                self.newline();
            }
            b'\r' => {
                if !(self.fill(2)? >= 2 && self.buf[self.pos + 1] == b'\n') {
                    self.sql.push(b'\r');
                }
                self.pos += 1;
            }
            b'\\' if self.backslash_escapes && !(quote == b'"' && self.ansi_quotes) => {
                let avail = self.fill(3)?;
                let next = if avail >= 2 {
                    self.buf[self.pos + 1]
                } else {
                    b'\n'
                };
                let crlf = next == b'\r' && avail >= 3 && self.buf[self.pos + 2] == b'\n';
                if next == b'\n' || crlf {
                    // The client drops a backslash that ends a line.
                    self.pos += 1;
                } else if next == 0 {
                    return Err(self.nul());
                } else {
                    self.sql.extend_from_slice(&[b'\\', next]);
                    self.pos += 2;
                }
            }
            b'\\' => {
                self.pos += 1;
                self.sql.push(b'\\');
            }
            _ => {
                // The closing quote (a doubled quote reopens the string right away).
                self.pos += 1;
                self.sql.push(quote);
                self.state = State::Normal;
            }
        }
        Ok(())
    }

    fn comment(&mut self) -> io::Result<()> {
        let run = &self.buf[self.pos..self.end];
        let n = run
            .iter()
            .position(|&b| COMMENT[b as usize])
            .unwrap_or(run.len());
        self.pos += n;
        if self.pos == self.end {
            return Ok(());
        }
        match self.buf[self.pos] {
            0 => return Err(self.nul()),
            b'\n' => {
                self.pos += 1;
                self.newline();
            }
            _ => {
                if self.fill(2)? >= 2 && self.buf[self.pos + 1] == b'/' {
                    self.pos += 2;
                    self.state = State::Normal;
                    self.line_blank = false;
                    self.need_space = true;
                } else {
                    self.pos += 1;
                }
            }
        }
        Ok(())
    }

    fn line_comment(&mut self) -> io::Result<()> {
        let run = &self.buf[self.pos..self.end];
        let n = run
            .iter()
            .position(|&b| TO_EOL[b as usize])
            .unwrap_or(run.len());
        self.pos += n;
        if self.pos < self.end {
            if self.buf[self.pos] == 0 {
                return Err(self.nul());
            }
            // The newline itself is handled outside the comment.
            self.state = State::Normal;
        }
        Ok(())
    }

    /// Length of the line from `pos` (its newline excluded) and whether a newline ends it.
    fn fill_line(&mut self) -> io::Result<(usize, bool)> {
        let mut scanned = 0;
        loop {
            let window = &self.buf[self.pos..self.end];
            if let Some(i) = window[scanned..].iter().position(|&b| b == b'\n') {
                return Ok((scanned + i, true));
            }
            scanned = window.len();
            if self.eof {
                return Ok((scanned, false));
            }
            if scanned > self.max_statement {
                return Err(io::Error::new(
                    ErrorKind::InvalidData,
                    format!(
                        "line {} is longer than {} bytes",
                        self.line, self.max_statement
                    ),
                ));
            }
            self.fill(scanned + 1)?;
        }
    }

    /// At the first non-blank byte of a line with no statement pending: runs a `DELIMITER`
    /// command or skips the sandbox line. Returns whether the line (or its start) was consumed.
    fn client_command(&mut self) -> io::Result<bool> {
        const SANDBOX: [&[u8]; 2] = [b"/*M!999999\\-", b"/*!999999\\-"];
        let avail = self.fill(12)?;
        let head = &self.buf[self.pos..self.pos + avail];
        if head[0] == b'/' {
            if !SANDBOX.iter().any(|s| head.starts_with(s)) {
                return Ok(false);
            }
            let (len, _) = self.fill_line()?;
            let line = &self.buf[self.pos..self.pos + len];
            // Up to the end of the comment, else the whole line.
            let skip = line
                .windows(2)
                .position(|w| w == b"*/")
                .map_or(len, |i| i + 2);
            self.pos += skip;
            return Ok(true);
        }
        let word = head.len() >= 9 && head[..9].eq_ignore_ascii_case(b"delimiter");
        if !word || !matches!(head.get(9), None | Some(b' ' | b'\t' | b'\r' | b'\n')) {
            return Ok(false);
        }
        let (len, newline) = self.fill_line()?;
        let mut line = &self.buf[self.pos..self.pos + len];
        if newline && line.last() == Some(&b'\r') {
            line = &line[..len - 1];
        }
        // A line with `\g` is left to the statement parser, as the client does.
        if line.windows(2).any(|w| w == b"\\g") {
            return Ok(false);
        }
        let has_arg = line[9..].iter().any(|&b| !is_space(b));
        if has_arg {
            match get_arg(line) {
                None => return Ok(false),
                // The client takes the argument from the line's first 255 bytes.
                Some(_) => {
                    let cut = &line[..line.len().min(MAX_COMMAND_LINE)];
                    if let Some(d) = get_arg(cut) {
                        // An empty one or one with a backslash is refused by the client.
                        if !d.is_empty() && !d.contains(&b'\\') {
                            let d = d[..d.len().min(MAX_DELIMITER)].to_vec();
                            self.set_delimiter(&d);
                        }
                    }
                }
            }
        }
        // Without an argument the client only complains; either way the line is consumed.
        self.pos += len;
        Ok(true)
    }
}

/// The argument of a client command line (`get_arg` in the client): the word after the command,
/// ended by a space (only), or quoted with `'`, `"` or `` ` `` (a doubled quote is one quote);
/// a backslash takes the next byte literally, except inside backquotes. `None` if empty or
/// its quote is not closed.
fn get_arg(line: &[u8]) -> Option<Vec<u8>> {
    let mut i = 0;
    while i < line.len() && is_space(line[i]) {
        i += 1;
    }
    while i < line.len() && !is_space(line[i]) {
        i += 1;
    }
    if i == line.len() {
        return None;
    }
    while i < line.len() && is_space(line[i]) {
        i += 1;
    }
    let mut quote = 0;
    if i < line.len() && matches!(line[i], b'\'' | b'"' | b'`') {
        quote = line[i];
        i += 1;
    }
    let mut arg = Vec::new();
    while i < line.len() {
        let c = line[i];
        let next = line.get(i + 1).copied();
        let escaped = (c == b'\\' && next.is_some() && quote != b'`')
            || (quote != 0 && c == quote && next == Some(quote));
        if escaped {
            arg.push(line[i + 1]);
            i += 2;
        } else if c == if quote != 0 { quote } else { b' ' } {
            quote = 0;
            break;
        } else {
            arg.push(c);
            i += 1;
        }
    }
    (!arg.is_empty() && quote == 0).then_some(arg)
}

impl<R> Statements<R> {
    /// Whether the script ended inside a statement (the last one returned had no delimiter),
    /// a string or a comment: a sign of a truncated file. Meaningful once the iteration ended.
    pub fn unterminated(&self) -> bool {
        self.unterminated
    }
}

impl<R: BufRead> Iterator for Statements<R> {
    type Item = io::Result<Statement>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.advance() {
            Ok(Some(statement)) => Some(Ok(statement)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl<R: BufRead> std::iter::FusedIterator for Statements<R> {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufReader;

    /// Statements as (line, text), the error if any, and `unterminated()`; read in chunks of
    /// `chunk` bytes.
    fn run(input: &[u8], chunk: usize) -> (Vec<(usize, String)>, Option<io::Error>, bool) {
        let mut it = Statements::new(BufReader::with_capacity(chunk, input));
        let mut out = Vec::new();
        let mut err = None;
        for s in it.by_ref() {
            match s {
                Ok(s) => out.push((s.line, String::from_utf8(s.sql).unwrap())),
                Err(e) => err = Some(e),
            }
        }
        assert!(it.next().is_none(), "fused");
        (out, err, it.unterminated())
    }

    /// Splits with a normal reader and with a 1-byte reader, which must agree.
    fn split(input: &str) -> Vec<String> {
        let (a, err, _) = run(input.as_bytes(), 8192);
        assert!(err.is_none(), "{input:?}: {err:?}");
        let (b, _, _) = run(input.as_bytes(), 1);
        assert_eq!(a, b, "1-byte chunks differ for {input:?}");
        a.into_iter().map(|(_, s)| s).collect()
    }

    fn check(cases: &[(&str, &[&str])]) {
        for (input, want) in cases {
            assert_eq!(split(input), *want, "input {input:?}");
        }
    }

    #[test]
    fn simple_statements() {
        check(&[
            ("SELECT 1;", &["SELECT 1"]),
            (
                "SELECT 1; SELECT 2;\nSELECT 3;",
                &["SELECT 1", "SELECT 2", "SELECT 3"],
            ),
            ("  \n\t SELECT 1 \t\n ;\n", &["SELECT 1"]),
            ("SELECT\n  1,\n  2;", &["SELECT\n  1,\n  2"]),
            (";;; ;\n;", &[]),
            ("", &[]),
            ("\n\n  \n", &[]),
            ("USE `db`;\nSELECT 1;", &["USE `db`", "SELECT 1"]),
            ("SELECT 1\\g SELECT 2\\G", &["SELECT 1", "SELECT 2"]),
            ("SELECT \\N;", &["SELECT \\N"]),
            ("\u{feff}SELECT 1;", &["SELECT 1"]),
        ]);
    }

    #[test]
    fn strings_with_delimiters_quotes_and_backslashes() {
        check(&[
            ("SELECT 'a;b';", &["SELECT 'a;b'"]),
            ("SELECT \"a;b\", `a;b`;", &["SELECT \"a;b\", `a;b`"]),
            (r"SELECT 'it\'s;';", &[r"SELECT 'it\'s;'"]),
            (r"SELECT '\\'; SELECT 2;", &[r"SELECT '\\'", "SELECT 2"]),
            (r#"SELECT "a\"b;c";"#, &[r#"SELECT "a\"b;c""#]),
            // No backslash escape in backquotes.
            (r"SELECT `a\`;", &[r"SELECT `a\`"]),
            ("SELECT 'x\ny;z';", &["SELECT 'x\ny;z'"]),
            (
                "SELECT '-- no', '# no', '/* no */';",
                &["SELECT '-- no', '# no', '/* no */'"],
            ),
            (
                r"INSERT INTO t VALUES ('\0\n\r\Z','\x');",
                &[r"INSERT INTO t VALUES ('\0\n\r\Z','\x')"],
            ),
            // A backslash ending a line is dropped by the client; the string goes on.
            ("SELECT 'ab\\\ncd;';", &["SELECT 'ab\ncd;'"]),
            // Outside strings a backslash pair is kept as it is (an unknown client command).
            (r"SELECT 1 \x;", &[r"SELECT 1 \x"]),
        ]);
    }

    #[test]
    fn doubled_quotes() {
        check(&[
            ("SELECT 'it''s;';", &["SELECT 'it''s;'"]),
            ("SELECT \"a\"\"b;\";", &["SELECT \"a\"\"b;\""]),
            ("SELECT `a``b;`;", &["SELECT `a``b;`"]),
            ("SELECT '''';", &["SELECT ''''"]),
            ("SELECT '';SELECT \"\";", &["SELECT ''", "SELECT \"\""]),
        ]);
    }

    #[test]
    fn comments() {
        check(&[
            ("-- c;\nSELECT 1; -- c;\n", &["SELECT 1"]),
            ("SELECT 1 -- c;\n, 2;", &["SELECT 1 \n, 2"]),
            ("SELECT 1--1;", &["SELECT 1--1"]),
            ("SELECT 1 --\tc;\n;", &["SELECT 1"]),
            ("SELECT 1 --\n;", &["SELECT 1"]),
            ("SELECT 1 --", &["SELECT 1"]),
            // At the start of a statement `--` needs no blank after it.
            ("--1 comment;\nSELECT 2;", &["SELECT 2"]),
            (
                "# c;\nSELECT 1; # c;\nSELECT '#';",
                &["SELECT 1", "SELECT '#'"],
            ),
            ("SELECT 1 # c\n;", &["SELECT 1"]),
            ("/* c; */ SELECT 1;", &["SELECT 1"]),
            ("SELECT /* c; */ 1;", &["SELECT  1"]),
            ("SELECT 1/* c; */+2;", &["SELECT 1 +2"]),
            ("SELECT 1 /* multi\nline; */ + 2;", &["SELECT 1  + 2"]),
            ("/* a */\n/* b\n;c */\nSELECT 1;", &["SELECT 1"]),
            ("SELECT 1 /**/;", &["SELECT 1"]),
            ("SELECT 1 /* * / */, 2;", &["SELECT 1  , 2"]),
        ]);
    }

    #[test]
    fn version_comments_are_kept() {
        check(&[
            (
                "/*!40101 SET NAMES utf8mb4 */;",
                &["/*!40101 SET NAMES utf8mb4 */"],
            ),
            ("/*M!100100 SET x=1 */;", &["/*M!100100 SET x=1 */"]),
            (
                "/*!50003 SET @saved_cs_client      = @@character_set_client */ ;",
                &["/*!50003 SET @saved_cs_client      = @@character_set_client */"],
            ),
            (
                "/*!50001 CREATE VIEW v AS SELECT ';' */;",
                &["/*!50001 CREATE VIEW v AS SELECT ';' */"],
            ),
            // As with the real client, a delimiter inside one ends the statement.
            (
                "/*!50000 SELECT 1; */ SELECT 2;",
                &["/*!50000 SELECT 1", "*/ SELECT 2"],
            ),
            (
                "/*!40000 ALTER TABLE `t` DISABLE KEYS */;\n",
                &["/*!40000 ALTER TABLE `t` DISABLE KEYS */"],
            ),
        ]);
    }

    #[test]
    fn delimiter_blocks() {
        let trigger = "DELIMITER ;;\n\
            /*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER trg BEFORE INSERT ON t FOR EACH ROW\n\
            BEGIN\n  IF NEW.s = 'x;y' THEN SET NEW.s = 'z;\\'w'; END IF;\n  INSERT INTO log VALUES ('ins;;');\nEND \n*/;;\n\
            DELIMITER ;\n\
            /*!50003 SET sql_mode = @saved_sql_mode */ ;\n";
        check(&[
            (
                trigger,
                &[
                    "/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER trg BEFORE INSERT ON t FOR EACH ROW\n\
                     BEGIN\n  IF NEW.s = 'x;y' THEN SET NEW.s = 'z;\\'w'; END IF;\n  INSERT INTO log VALUES ('ins;;');\nEND \n*/",
                    "/*!50003 SET sql_mode = @saved_sql_mode */",
                ],
            ),
            (
                "DELIMITER ;;\nCREATE PROCEDURE p()\nBEGIN\n  -- note;\n  SELECT 1;\n  SELECT 2;\nEND\n;;\nDELIMITER ;\nCALL p();",
                &["CREATE PROCEDURE p()\nBEGIN\n  \n  SELECT 1;\n  SELECT 2;\nEND", "CALL p()"],
            ),
            (
                "delimiter $$\nCREATE FUNCTION f() RETURNS INT BEGIN RETURN 1; END$$ SELECT 2$$\n  DeLiMiTeR ;\nSELECT 3;",
                &["CREATE FUNCTION f() RETURNS INT BEGIN RETURN 1; END", "SELECT 2", "SELECT 3"],
            ),
            ("DELIMITER //\nSELECT 1; SELECT 2//\nDELIMITER ;\n", &["SELECT 1; SELECT 2"]),
            // The rest of the line after the argument is ignored; quotes allowed.
            ("DELIMITER $$ ignored\nSELECT 1$$", &["SELECT 1"]),
            ("DELIMITER '$ $'\nSELECT 1$ $", &["SELECT 1"]),
            ("DELIMITER \\;\\;\nSELECT 1;;", &["SELECT 1"]),
            // Without an argument, or with a backslash in it, the line is dropped.
            ("DELIMITER\nSELECT 1;", &["SELECT 1"]),
            ("DELIMITER '\\\\'\nSELECT 1;", &["SELECT 1"]),
            // At most 15 bytes are kept.
            ("DELIMITER 0123456789abcdefXYZ\nSELECT 1 0123456789abcdeXYZ", &["SELECT 1", "XYZ"]),
            // Only as the first word of a line with no statement pending.
            ("SELECT 1\nDELIMITER ;;\n", &["SELECT 1\nDELIMITER"]),
            ("SELECT 'x\nDELIMITER ;;\n';", &["SELECT 'x\nDELIMITER ;;\n'"]),
            ("/* c */ DELIMITER ;;\n", &["DELIMITER"]),
            ("DELIMITERS ;;\nSELECT 1;", &["DELIMITERS", "SELECT 1"]),
            ("/* a\n*/\n  delimiter ;;\nSELECT 1;;", &["SELECT 1"]),
        ]);
    }

    #[test]
    fn crlf() {
        check(&[
            ("SELECT 1;\r\nSELECT\r\n2;\r\n", &["SELECT 1", "SELECT\n2"]),
            // The client drops a CR before a LF even inside strings.
            ("SELECT 'a\r\nb';\r\n", &["SELECT 'a\nb'"]),
            ("SELECT 'a\rb';", &["SELECT 'a\rb'"]),
            (
                "DELIMITER ;;\r\nSELECT 1;;\r\nDELIMITER ;\r\nSELECT 2;\r\n",
                &["SELECT 1", "SELECT 2"],
            ),
            (
                "SELECT 1 -- c\r\n;\r\n# c\r\nSELECT 2;",
                &["SELECT 1", "SELECT 2"],
            ),
            ("SELECT 'ab\\\r\ncd';", &["SELECT 'ab\ncd'"]),
        ]);
    }

    #[test]
    fn line_numbers() {
        let (got, err, _) = run(
            b"\n-- c\nSELECT 1;SELECT\n2;\r\n/* x\n*/ SELECT 'a\nb';\n\nSELECT 4",
            1,
        );
        assert!(err.is_none());
        let lines: Vec<usize> = got.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, [3, 3, 6, 9]);
        let mut it = Statements::new(&b"SELECT 1;\nSELECT 2;\n"[..]);
        it.next();
        assert_eq!(it.line(), 1);
        assert_eq!(it.position(), 9);
        it.next();
        assert_eq!(it.position(), 19);
        assert_eq!(it.line(), 2);
    }

    /// A mysqldump-like multi-row INSERT of at least `size` bytes between two statements.
    fn big_script(size: usize) -> (Vec<u8>, String) {
        let mut insert = String::from("INSERT INTO t VALUES ");
        let mut n = 0;
        while insert.len() < size {
            insert.push_str(&format!("({n},'a;b\\'c\\\\',\"x\"\"y\",-{n},'--/*'),"));
            n += 1;
        }
        insert.push_str("(0,'',\"\",0,'')");
        let script = format!("DROP TABLE IF EXISTS t;\n{insert};\r\nSELECT 1;");
        (script.into_bytes(), insert)
    }

    #[test]
    fn many_small_chunks_and_large_statements() {
        // Over 16 MiB in one statement, in many chunks; and 1 byte at a time for a smaller one.
        for (size, chunks) in [
            (17 << 20, &[4093, 1 << 20][..]),
            (300 << 10, &[1, 2, 3][..]),
        ] {
            let (script, insert) = big_script(size);
            for &chunk in chunks {
                let (got, err, unterminated) = run(&script, chunk);
                assert!(err.is_none() && !unterminated);
                assert_eq!(got.len(), 3, "chunk {chunk}");
                assert_eq!(got[0], (1, "DROP TABLE IF EXISTS t".to_string()));
                assert!(got[1] == (2, insert.clone()), "chunk {chunk}");
                assert_eq!(got[2], (3, "SELECT 1".to_string()));
            }
        }
    }

    #[test]
    fn binary_literals_with_every_byte() {
        // As the dump writes them: `_binary'…'` with every byte value, raw from 0x80 up (not
        // UTF-8), escaped where it must be; a delimiter and quotes inside are content.
        let mut value: Vec<u8> = (0..=255).collect();
        value.extend_from_slice(b"';\\'\\\n\xff\xfe;");
        let mut insert = b"INSERT INTO t VALUES (1,".to_vec();
        super::super::encode::binary(&mut insert, &value);
        insert.extend_from_slice(b"),(2,");
        super::super::encode::binary(&mut insert, &value.repeat(4096));
        insert.push(b')');
        let mut script = b"SET NAMES utf8mb4;\n".to_vec();
        script.extend_from_slice(&insert);
        script.extend_from_slice(b";\nSELECT 1;\n");
        for chunk in [1, 7, 8192, 1 << 20] {
            let mut it = Statements::new(BufReader::with_capacity(chunk, &script[..]));
            let got: Vec<Statement> = it.by_ref().map(|s| s.unwrap()).collect();
            assert!(!it.unterminated());
            let sql: Vec<&[u8]> = got.iter().map(|s| &s.sql[..]).collect();
            assert_eq!(sql.len(), 3, "chunk {chunk}");
            assert_eq!(sql[0], b"SET NAMES utf8mb4");
            assert!(sql[1] == &insert[..], "chunk {chunk}: the INSERT differs");
            assert_eq!(sql[2], b"SELECT 1");
            assert_eq!(got[2].line, 3);
        }
    }

    #[test]
    fn truncated_scripts() {
        // The client sends a last statement without delimiter: so do we, and say so.
        let (got, err, unterminated) = run(b"SELECT 1;\nSELECT 2", 1);
        assert!(err.is_none() && unterminated);
        assert_eq!(got, [(1, "SELECT 1".into()), (2, "SELECT 2".into())]);
        let (_, err, unterminated) = run(b"SELECT 1;\n-- end\n", 1);
        assert!(err.is_none() && !unterminated);
        for (input, message) in [
            (
                &b"SELECT 1;\nINSERT INTO t VALUES (1,'abc\n"[..],
                "inside a string starting at line 2",
            ),
            (
                b"SELECT 1;\nSELECT \"a\\\"",
                "inside a string starting at line 2",
            ),
            (
                b"SELECT `a",
                "inside a quoted identifier starting at line 1",
            ),
            (
                b"SELECT 1;\n\nSELECT 2 /* abc\n",
                "inside a comment starting at line 3",
            ),
            (b"/*", "inside a comment starting at line 1"),
        ] {
            for chunk in [1, 8192] {
                let (got, err, unterminated) = run(input, chunk);
                let err = err.expect("an error");
                assert_eq!(err.kind(), ErrorKind::UnexpectedEof);
                assert!(err.to_string().contains(message), "{err}");
                assert!(unterminated);
                assert!(got.len() <= 1);
            }
        }
    }

    #[test]
    fn sandbox_line_is_skipped() {
        check(&[
            (
                "/*M!999999\\- enable the sandbox mode */ \n-- MariaDB dump 10.19\n--\n\n/*!40101 SET NAMES utf8mb4 */;\n",
                &["/*!40101 SET NAMES utf8mb4 */"],
            ),
            ("/*!999999\\- enable the sandbox mode */ \r\nSELECT 1;", &["SELECT 1"]),
            ("\u{feff}/*M!999999\\- enable the sandbox mode */SELECT 1;", &["SELECT 1"]),
        ]);
    }

    #[test]
    fn sql_mode_follows_the_session() {
        let mut it =
            Statements::new(&b"SELECT 'a\\';\nSELECT 'b\\';\nSELECT \"c\\\";\nSELECT 1;"[..]);
        assert_eq!(
            it.next().unwrap().unwrap().sql,
            b"SELECT 'a\\';\nSELECT 'b\\'"
        );
        it.set_no_backslash_escapes(true);
        assert_eq!(it.next().unwrap().unwrap().sql, b"SELECT \"c\\\"");
        it.set_no_backslash_escapes(false);
        assert_eq!(it.next().unwrap().unwrap().sql, b"SELECT 1");
        let mut it = Statements::new(&b"SELECT \"a\\\";"[..]);
        it.set_ansi_quotes(true);
        assert_eq!(it.next().unwrap().unwrap().sql, b"SELECT \"a\\\"");
    }

    #[test]
    fn refusals() {
        let (got, err, _) = run(b"SELECT 1;\nSELECT '\0';", 1);
        assert_eq!(got.len(), 1);
        assert_eq!(err.unwrap().kind(), ErrorKind::InvalidData);
        let mut it = Statements::new(&b"SELECT 1;\nSELECT 1234567890;"[..]).max_statement_len(10);
        assert!(it.next().unwrap().is_ok());
        assert_eq!(
            it.next().unwrap().unwrap_err().kind(),
            ErrorKind::InvalidData
        );
        assert!(it.next().is_none());
    }
}
