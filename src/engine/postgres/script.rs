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

    /// After a `COPY … FROM stdin` statement: hands each row line (with its newline) to
    /// `row`, up to the `\.` line; returns how many rows.
    pub fn copy_rows(&mut self, row: &mut dyn FnMut(&[u8]) -> io::Result<()>) -> io::Result<u64> {
        let mut rows = 0;
        // One buffer for every row: a dump holds millions of them.
        let mut buf = Vec::with_capacity(1 << 12);
        loop {
            buf.clear();
            let mut n = self.next_line;
            match self.pending.take() {
                Some((line, text)) => {
                    n = line;
                    buf.extend_from_slice(text.as_bytes());
                }
                None => {
                    if self.reader.read_until(b'\n', &mut buf)? == 0 {
                        return Err(io::Error::new(
                            ErrorKind::UnexpectedEof,
                            format!("line {n}: the script ends inside COPY rows (no `\\.` line)"),
                        ));
                    }
                    self.next_line += 1;
                }
            }
            if memchr::memchr(0, &buf).is_some() {
                return Err(invalid(n, "a NUL byte (not a SQL script)"));
            }
            if std::str::from_utf8(&buf).is_err() {
                return Err(invalid(n, "not UTF-8"));
            }
            let bare = buf.strip_suffix(b"\n").unwrap_or(&buf);
            let bare = bare.strip_suffix(b"\r").unwrap_or(bare);
            if bare == b"\\." {
                return Ok(rows);
            }
            if buf.last() != Some(&b'\n') {
                return Err(invalid(
                    n,
                    "the last COPY row has no newline and no `\\.` follows",
                ));
            }
            rows += 1;
            row(&buf)?;
        }
    }
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

    #[test]
    fn copy_rows_run_to_the_end_marker() {
        let s = "COPY t (a) FROM stdin;\n1\n\\N\n\\.\nSELECT 1;\n";
        let mut sc = Script::new(s.as_bytes());
        assert!(matches!(
            sc.next_piece().unwrap(),
            Some(Piece::Statement { .. })
        ));
        let mut seen = Vec::new();
        let n = sc
            .copy_rows(&mut |r| {
                seen.push(r.to_vec());
                Ok(())
            })
            .unwrap();
        assert_eq!((n, seen.len()), (2, 2));
        assert_eq!(sc.next_piece().unwrap(), Some(stmt(5, "SELECT 1")));
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
