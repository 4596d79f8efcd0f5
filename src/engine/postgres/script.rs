//! Reading a plain SQL file as psql would: statements end at a `;` outside quotes, comments,
//! dollar-quoted bodies and `BEGIN ATOMIC … END`; `COPY … FROM stdin;` is followed by its rows
//! up to a `\.` line; a backslash anywhere else outside quotes starts a psql meta-command
//! (which psql would run: `\!` is a shell), reported as such for the caller to refuse.
//!
//! Constant memory per statement: rows are handed on line by line. The file must be UTF-8
//! (the dump sets `client_encoding = 'UTF8'`; anything else is refused with its line).

use std::io::{self, BufRead, ErrorKind};

/// One piece of a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// A statement, with the line it starts on, without its final `;`.
    Statement { line: usize, sql: String },
    /// A psql meta-command: its line, the text from the backslash to the end of the line, and
    /// whether it came in the middle of a statement.
    Meta {
        line: usize,
        text: String,
        inside: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Normal,
    LineComment,
    Block(u32),
    Single { escapes: bool },
    Double,
}

/// A script being read.
pub struct Script<R> {
    reader: R,
    /// The line number of the next line to read (1-based).
    next_line: usize,
    /// What is left of the current line, and where it starts.
    pending: Option<(usize, String)>,
}

fn invalid(line: usize, what: &str) -> io::Error {
    io::Error::new(ErrorKind::InvalidData, format!("line {line}: {what}"))
}

impl<R: BufRead> Script<R> {
    pub fn new(reader: R) -> Script<R> {
        Script {
            reader,
            next_line: 1,
            pending: None,
        }
    }

    /// The next line (with its newline), and its number.
    fn line(&mut self) -> io::Result<Option<(usize, String)>> {
        if let Some(p) = self.pending.take() {
            return Ok(Some(p));
        }
        let mut buf = Vec::new();
        if self.reader.read_until(b'\n', &mut buf)? == 0 {
            return Ok(None);
        }
        let n = self.next_line;
        self.next_line += 1;
        if buf.contains(&0) {
            return Err(invalid(n, "a NUL byte (not a SQL script)"));
        }
        String::from_utf8(buf)
            .map(|s| Some((n, s)))
            .map_err(|_| invalid(n, "not UTF-8"))
    }

    /// The next statement or meta-command, or None at the end of the script.
    pub fn next_piece(&mut self) -> io::Result<Option<Piece>> {
        let mut sql = String::new();
        let mut start: Option<usize> = None;
        let mut state = State::Normal;
        let mut dollar: Option<String> = None;
        let mut words = Words::default();
        // psql ends a statement at a `;` outside parentheses only: a rule's action list
        // `DO INSTEAD (INSERT …; INSERT …)` is one statement.
        let mut parens = 0u32;
        loop {
            let Some((n, text)) = self.line()? else {
                if start.is_some() && !sql.trim().is_empty() {
                    return Err(io::Error::new(
                        ErrorKind::UnexpectedEof,
                        format!(
                            "line {}: the script ends inside a statement (no final `;`)",
                            start.unwrap_or(self.next_line)
                        ),
                    ));
                }
                return Ok(None);
            };
            if state == State::LineComment {
                state = State::Normal;
            }
            let bytes = text.as_bytes();
            let mut i = 0;
            while i < bytes.len() {
                let c = bytes[i];
                if let Some(tag) = &dollar {
                    if text[i..].starts_with(tag.as_str()) {
                        i += tag.len();
                        sql.push_str(tag);
                        dollar = None;
                    } else {
                        let ch = text[i..].chars().next().unwrap_or('\0');
                        sql.push(ch);
                        i += ch.len_utf8();
                    }
                    continue;
                }
                match state {
                    State::LineComment => {
                        sql.push_str(&text[i..]);
                        i = bytes.len();
                        continue;
                    }
                    State::Block(depth) => {
                        if text[i..].starts_with("*/") {
                            state = if depth == 1 {
                                State::Normal
                            } else {
                                State::Block(depth - 1)
                            };
                            sql.push_str("*/");
                            i += 2;
                        } else if text[i..].starts_with("/*") {
                            state = State::Block(depth + 1);
                            sql.push_str("/*");
                            i += 2;
                        } else {
                            let ch = text[i..].chars().next().unwrap_or('\0');
                            sql.push(ch);
                            i += ch.len_utf8();
                        }
                        continue;
                    }
                    State::Single { escapes } => {
                        if escapes && c == b'\\' && i + 1 < bytes.len() {
                            let ch = text[i + 1..].chars().next().unwrap_or('\0');
                            sql.push('\\');
                            sql.push(ch);
                            i += 1 + ch.len_utf8();
                            continue;
                        }
                        if c == b'\'' {
                            if bytes.get(i + 1) == Some(&b'\'') {
                                sql.push_str("''");
                                i += 2;
                                continue;
                            }
                            state = State::Normal;
                        }
                        let ch = text[i..].chars().next().unwrap_or('\0');
                        sql.push(ch);
                        i += ch.len_utf8();
                        continue;
                    }
                    State::Double => {
                        if c == b'"' {
                            state = State::Normal;
                        }
                        let ch = text[i..].chars().next().unwrap_or('\0');
                        sql.push(ch);
                        i += ch.len_utf8();
                        continue;
                    }
                    State::Normal => {}
                }
                // Normal text.
                let ident_char = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80;
                if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 {
                    let mut j = i;
                    while j < bytes.len() && (ident_char(bytes[j]) || bytes[j] == b'$') {
                        j += 1;
                    }
                    let word = &text[i..j];
                    if start.is_none() {
                        start = Some(n);
                    }
                    // E'…' is the one string kind where a backslash escapes.
                    if word.eq_ignore_ascii_case("e") && bytes.get(j) == Some(&b'\'') {
                        sql.push_str(word);
                        sql.push('\'');
                        state = State::Single { escapes: true };
                        i = j + 1;
                        continue;
                    }
                    words.push(word);
                    sql.push_str(word);
                    i = j;
                    continue;
                }
                if c.is_ascii_whitespace() {
                    sql.push(c as char);
                    i += 1;
                    continue;
                }
                if start.is_none() && !(c == b'-' && bytes.get(i + 1) == Some(&b'-')) {
                    start = Some(n);
                }
                match c {
                    b'-' if bytes.get(i + 1) == Some(&b'-') => {
                        state = State::LineComment;
                        sql.push_str(&text[i..]);
                        i = bytes.len();
                    }
                    b'/' if bytes.get(i + 1) == Some(&b'*') => {
                        state = State::Block(1);
                        sql.push_str("/*");
                        i += 2;
                    }
                    b'\'' => {
                        state = State::Single { escapes: false };
                        sql.push('\'');
                        i += 1;
                    }
                    b'"' => {
                        state = State::Double;
                        sql.push('"');
                        i += 1;
                    }
                    b'$' => {
                        let tag = dollar_tag(&text[i..]);
                        match tag {
                            Some(tag) => {
                                sql.push_str(tag);
                                i += tag.len();
                                dollar = Some(tag.to_string());
                            }
                            None => {
                                sql.push('$');
                                i += 1;
                            }
                        }
                    }
                    b'\\' => {
                        let rest = text[i..].trim_end_matches(['\n', '\r']).to_string();
                        return Ok(Some(Piece::Meta {
                            line: n,
                            text: rest,
                            inside: !only_comments(&sql),
                        }));
                    }
                    b'(' | b')' => {
                        parens = if c == b'(' {
                            parens + 1
                        } else {
                            parens.saturating_sub(1)
                        };
                        sql.push(c as char);
                        i += 1;
                    }
                    b';' if words.depth == 0 && parens == 0 => {
                        let rest = &text[i + 1..];
                        if !rest.trim().is_empty() {
                            self.pending = Some((n, rest.to_string()));
                        }
                        let line = start.unwrap_or(n);
                        return Ok(Some(Piece::Statement { line, sql }));
                    }
                    _ => {
                        let ch = text[i..].chars().next().unwrap_or('\0');
                        sql.push(ch);
                        i += ch.len_utf8();
                    }
                }
            }
            if start.is_none() && only_comments(&sql) {
                // Comments and blank lines between statements are not part of the next one.
                sql.clear();
            }
        }
    }

    /// After a `COPY … FROM stdin` statement: hands the row lines (whole lines, with their
    /// newlines, several at a time) to `rows`, up to the `\.` line; returns how many rows.
    /// Every byte is checked (UTF-8, no NUL) a buffer at a time, not a line at a time: a dump
    /// holds millions of rows.
    pub fn copy_rows(&mut self, rows: &mut dyn FnMut(&[u8]) -> io::Result<()>) -> io::Result<u64> {
        let mut count = 0;
        // The rest of the COPY statement's own line, if any, is a row line of its own.
        if let Some((n, text)) = self.pending.take() {
            if self.row_line(n, text.into_bytes(), rows, &mut count)? {
                return Ok(count);
            }
        }
        loop {
            let n = self.next_line;
            let buf = self.reader.fill_buf()?;
            if buf.is_empty() {
                return Err(io::Error::new(
                    ErrorKind::UnexpectedEof,
                    format!("line {n}: the script ends inside COPY rows (no `\\.` line)"),
                ));
            }
            // Whole lines only (the reader always stands at a line's start); a line longer
            // than the buffer, or the last one without a newline, goes alone.
            let Some(last) = memchr::memrchr(b'\n', buf) else {
                let mut line = Vec::new();
                self.reader.read_until(b'\n', &mut line)?;
                self.next_line += 1;
                if self.row_line(n, line, rows, &mut count)? {
                    return Ok(count);
                }
                continue;
            };
            let lines = &buf[..=last];
            let end = end_marker(lines);
            let data = &lines[..end.map_or(lines.len(), |(start, _)| start)];
            check_bytes(data, n)?;
            let k = memchr::memchr_iter(b'\n', data).count();
            if !data.is_empty() {
                rows(data)?;
            }
            count += k as u64;
            self.next_line += k;
            match end {
                Some((_, after)) => {
                    self.next_line += 1;
                    self.reader.consume(after);
                    return Ok(count);
                }
                None => {
                    let used = lines.len();
                    self.reader.consume(used);
                }
            }
        }
    }

    /// One row line read alone (line `n`); true when it is the `\.` that ends the rows.
    fn row_line(
        &mut self,
        n: usize,
        line: Vec<u8>,
        rows: &mut dyn FnMut(&[u8]) -> io::Result<()>,
        count: &mut u64,
    ) -> io::Result<bool> {
        check_bytes(&line, n)?;
        let bare = line.strip_suffix(b"\n").unwrap_or(&line);
        if bare.strip_suffix(b"\r").unwrap_or(bare) == b"\\." {
            return Ok(true);
        }
        if line.last() != Some(&b'\n') {
            return Err(invalid(
                n,
                "the last COPY row has no newline and no `\\.` follows",
            ));
        }
        *count += 1;
        rows(&line)?;
        Ok(false)
    }
}

/// Where the first `\.` line of `lines` (whole lines) starts, and where the line after it does.
fn end_marker(lines: &[u8]) -> Option<(usize, usize)> {
    for at in memchr::memmem::find_iter(lines, b"\\.") {
        if at > 0 && lines[at - 1] != b'\n' {
            continue;
        }
        let rest = &lines[at + 2..];
        if rest.starts_with(b"\n") {
            return Some((at, at + 3));
        }
        if rest.starts_with(b"\r\n") {
            return Some((at, at + 4));
        }
    }
    None
}

/// Row bytes as a load may send them: UTF-8, no NUL; the error names the line (`first` is the
/// line the bytes start on).
fn check_bytes(bytes: &[u8], first: usize) -> io::Result<()> {
    let line_of = |at: usize| first + memchr::memchr_iter(b'\n', &bytes[..at]).count();
    if let Some(at) = memchr::memchr(0, bytes) {
        return Err(invalid(line_of(at), "a NUL byte (not a SQL script)"));
    }
    if let Err(e) = std::str::from_utf8(bytes) {
        return Err(invalid(line_of(e.valid_up_to()), "not UTF-8"));
    }
    Ok(())
}

/// `$tag$` or `$$` at the start of `s`, if that is a dollar quote (not `$1`).
fn dollar_tag(s: &str) -> Option<&str> {
    let b = s.as_bytes();
    let mut j = 1;
    while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] >= 0x80) {
        if j == 1 && b[j].is_ascii_digit() {
            return None;
        }
        j += 1;
    }
    (j < b.len() && b[j] == b'$').then(|| &s[..=j])
}

/// Whether `sql` holds only whitespace and comments.
fn only_comments(sql: &str) -> bool {
    sql.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with("--")
    }) && !sql.contains("/*")
}

/// Tracks `BEGIN ATOMIC … END` in a function or procedure with a SQL-standard body, where
/// `;` does not end the statement (psql does the same), with `CASE … END` inside it.
#[derive(Default)]
struct Words {
    first: Vec<String>,
    last: String,
    depth: u32,
}

impl Words {
    fn push(&mut self, word: &str) {
        let w = word.to_ascii_uppercase();
        let routine = self
            .first
            .iter()
            .any(|f| f == "FUNCTION" || f == "PROCEDURE")
            && self.first.first().is_some_and(|f| f == "CREATE");
        if routine {
            let opens = (w == "ATOMIC" && self.last == "BEGIN") || (self.depth > 0 && w == "CASE");
            if opens {
                self.depth += 1;
            } else if self.depth > 0 && w == "END" {
                self.depth -= 1;
            }
        }
        if self.first.len() < 4 {
            self.first.push(w.clone());
        }
        self.last = w;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(s: &str) -> Vec<Piece> {
        let mut sc = Script::new(s.as_bytes());
        let mut out = Vec::new();
        while let Some(p) = sc.next_piece().unwrap() {
            out.push(p);
        }
        out
    }

    fn stmt(line: usize, sql: &str) -> Piece {
        Piece::Statement {
            line,
            sql: sql.into(),
        }
    }

    #[test]
    fn splits_on_semicolons_outside_quotes_comments_and_bodies() {
        let s = "-- head\nSET a = 1;\nSELECT ';', \"x;\", E'\\';', $f$;$f$ /* ; /* ; */ */;\nCREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT CASE WHEN true THEN 1 END; SELECT 2; END;\nCREATE RULE r AS ON INSERT TO public.v DO INSTEAD (INSERT INTO public.a VALUES (1);\n INSERT INTO public.b VALUES (2);\n);\n";
        let p = pieces(s);
        assert_eq!(p.len(), 4, "{p:?}");
        assert!(
            matches!(&p[3], Piece::Statement { line: 5, sql } if sql.ends_with("VALUES (2);\n)"))
        );
        assert_eq!(p[0], stmt(2, "SET a = 1"));
        assert!(
            matches!(&p[2], Piece::Statement { line: 4, sql } if sql.ends_with("SELECT 2; END"))
        );
    }

    #[test]
    fn a_backslash_outside_quotes_is_a_meta_command() {
        let p = pieces("\\restrict abc\nSELECT 1 \\! id\n;\nSELECT '\\!';\n");
        assert_eq!(
            p[0],
            Piece::Meta {
                line: 1,
                text: "\\restrict abc".into(),
                inside: false
            }
        );
        assert!(matches!(
            &p[1],
            Piece::Meta {
                line: 2,
                inside: true,
                ..
            }
        ));
    }

    /// The rows of a COPY, as one run of bytes, and how many.
    fn all_rows<R: BufRead>(sc: &mut Script<R>) -> (u64, Vec<u8>) {
        let mut seen = Vec::new();
        let n = sc
            .copy_rows(&mut |r| {
                seen.extend_from_slice(r);
                Ok(())
            })
            .unwrap();
        (n, seen)
    }

    #[test]
    fn copy_rows_run_to_the_end_marker() {
        let s = "COPY t (a) FROM stdin;\n1\n\\N\n\\.\nSELECT 1;\n";
        let mut sc = Script::new(s.as_bytes());
        assert!(matches!(
            sc.next_piece().unwrap(),
            Some(Piece::Statement { .. })
        ));
        let (n, seen) = all_rows(&mut sc);
        assert_eq!((n, seen.as_slice()), (2, b"1\n\\N\n".as_slice()));
        assert_eq!(sc.next_piece().unwrap(), Some(stmt(5, "SELECT 1")));
    }

    /// The rows whatever the buffer's size: lines split across reads, lines longer than the
    /// buffer, `\.` inside a row, a CRLF end marker; what follows starts on the right line.
    #[test]
    fn copy_rows_are_the_same_for_any_buffer() {
        let rows = "1\tx\\.y\n\\.x\n22\t\\N\n333333333333333333333\té\n";
        for end in ["\\.\n", "\\.\r\n"] {
            let text = format!("COPY t (a, b) FROM stdin;\n{rows}{end}SELECT 1;\n");
            for cap in [1, 2, 3, 7, 64, 1 << 20] {
                let reader = std::io::BufReader::with_capacity(cap, text.as_bytes());
                let mut sc = Script::new(reader);
                sc.next_piece().unwrap();
                let (n, seen) = all_rows(&mut sc);
                assert_eq!(n, 4, "buffer {cap}");
                assert_eq!(String::from_utf8(seen).unwrap(), rows, "buffer {cap}");
                assert_eq!(sc.next_piece().unwrap(), Some(stmt(7, "SELECT 1")));
            }
        }
    }

    /// A NUL or bytes that are not UTF-8 in the rows: refused naming their line.
    #[test]
    fn bad_bytes_in_rows_name_their_line() {
        for (bad, what) in [(&b"\0"[..], "NUL"), (&b"\xff"[..], "UTF-8")] {
            let mut text = b"COPY t (a) FROM stdin;\n1\n2\nx".to_vec();
            text.extend_from_slice(bad);
            text.extend_from_slice(b"\n\\.\n");
            for cap in [3, 1 << 20] {
                let mut sc = Script::new(std::io::BufReader::with_capacity(cap, &text[..]));
                sc.next_piece().unwrap();
                let e = sc.copy_rows(&mut |_| Ok(())).unwrap_err().to_string();
                assert!(e.starts_with("line 4: ") && e.contains(what), "{cap}: {e}");
            }
        }
    }

    #[test]
    fn an_unfinished_script_is_an_error() {
        let mut sc = Script::new("SELECT 'x".as_bytes());
        assert!(sc.next_piece().is_err());
        let mut sc = Script::new("COPY t (a) FROM stdin;\n1\n".as_bytes());
        sc.next_piece().unwrap();
        assert!(sc.copy_rows(&mut |_| Ok(())).is_err());
    }
}
