//! What a dump may do when it is loaded. Loading a file runs it with the app user's rights, and
//! a dump we did not write is hostile until proven otherwise: a whitelist of what mysqldump,
//! mariadb-dump and db-backup write, every statement read whole, as the server will read it.
//!
//! - Each statement is tokenized the way the connected server lexes it: strings and quoted
//!   names under the session's `sql_mode` (ANSI_QUOTES, NO_BACKSLASH_ESCAPES, followed through
//!   the file in lockstep: a mode that cannot be known is refused), version comments
//!   `/*!NNNNN … */` and `/*M!NNNNNN … */` resolved against the server's version as the server
//!   does (read when it would run them, skipped when it would skip them).
//! - Its head must be one of the statements dump tools write (see [`Checker::judge`]);
//!   server-wide ones they write (GTIDs, replication, users, grants, plugins) are skipped with
//!   a warning per kind; everything else is refused with its kind.
//! - Every qualified name of the whole statement, bodies of views, routines, triggers and
//!   events included, must be in the database loaded into: a name qualified with another
//!   database of the server (or a system schema, or the app's live database during a verify)
//!   is refused. Bodies may not hold dynamic SQL, file access, or server-wide statements.
//! - During a verify, events are created DISABLED.

use std::collections::{BTreeMap, BTreeSet};

/// The databases a load deals with.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    /// The app's database: what the dump stands for.
    pub app: &'a str,
    /// Where the statements run: the app's database (restore) or a scratch one (verify).
    pub target: &'a str,
}

/// What to do with one statement.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Run,
    /// Run this instead (the database name dropped, an event made DISABLED).
    RunAs(Vec<u8>),
    /// Not run; `kind` names the kind of statement for the one warning per kind.
    Skip {
        kind: String,
        why: &'static str,
    },
    /// The load must stop before anything changes: why, naming the kind.
    Refuse(String),
}

/// Why a statement is skipped, as the warning says it.
const SERVER_WIDE: &str = "it changes the server, not the database";
const LOG_BIN: &str =
    "it needs an admin privilege; the load is written to the binary log like any other change";
const OWN_DATABASE: &str = "the dump is loaded into the app's database";

/// Session variables a dump may set that belong to replication and need an admin's privilege.
const REPLICATION_VARIABLES: &[&str] = &[
    "SQL_LOG_BIN",
    "GTID_NEXT",
    "GTID_SEQ_NO",
    "GTID_DOMAIN_ID",
    "SERVER_ID",
    "PSEUDO_THREAD_ID",
    "PSEUDO_SLAVE_MODE",
    "PSEUDO_REPLICA_MODE",
    "SKIP_REPLICATION",
    "SQL_LOG_OFF",
];

/// Session variables dump tools set, to a literal or back to a value they saved.
const SESSION_VARIABLES: &[&str] = &[
    "CHARACTER_SET_CLIENT",
    "CHARACTER_SET_RESULTS",
    "CHARACTER_SET_CONNECTION",
    "COLLATION_CONNECTION",
    "TIME_ZONE",
    "UNIQUE_CHECKS",
    "FOREIGN_KEY_CHECKS",
    "SQL_MODE",
    "SQL_NOTES",
    "NOTE_VERBOSITY",
    "AUTOCOMMIT",
    "CHECK_CONSTRAINT_CHECKS",
    "SQL_QUOTE_SHOW_CREATE",
    "DEFAULT_COLLATION_FOR_UTF8MB4",
    "INFORMATION_SCHEMA_STATS_EXPIRY",
];

/// Character sets whose multi-byte characters can hold a backslash or a quote byte: the
/// server would read such a file differently from any ASCII-compatible reading of it.
const UNSAFE_CHARSETS: &[&str] = &["SJIS", "CP932", "GBK", "GB18030", "BIG5", "EUCJPMS"];

/// sql_mode words: the ones that change how text is read, and the ones that do not.
const MODES_QUOTING: &[&str] = &["ANSI_QUOTES", "NO_BACKSLASH_ESCAPES", "ANSI"];
const MODES_PLAIN: &[&str] = &[
    "ALLOW_INVALID_DATES",
    "EMPTY_STRING_IS_NULL",
    "ERROR_FOR_DIVISION_BY_ZERO",
    "HIGH_NOT_PRECEDENCE",
    "IGNORE_BAD_TABLE_OPTIONS",
    "IGNORE_SPACE",
    "NO_AUTO_CREATE_USER",
    "NO_AUTO_VALUE_ON_ZERO",
    "NO_DIR_IN_CREATE",
    "NO_ENGINE_SUBSTITUTION",
    "NO_FIELD_OPTIONS",
    "NO_KEY_OPTIONS",
    "NO_TABLE_OPTIONS",
    "NO_UNSIGNED_SUBTRACTION",
    "NO_ZERO_DATE",
    "NO_ZERO_IN_DATE",
    "ONLY_FULL_GROUP_BY",
    "PAD_CHAR_TO_FULL_LENGTH",
    "PIPES_AS_CONCAT",
    "REAL_AS_FLOAT",
    "SIMULTANEOUS_ASSIGNMENT",
    "STRICT_ALL_TABLES",
    "STRICT_TRANS_TABLES",
    "TIME_ROUND_FRACTIONAL",
    "TIME_TRUNCATE_FRACTIONAL",
    "TRADITIONAL",
];

/// Words that never appear in what a dump loads, bodies included: dynamic SQL, files, locks
/// and transactions of the whole server.
const NEVER: &[&str] = &[
    "PREPARE",
    "EXECUTE",
    "DEALLOCATE",
    "OUTFILE",
    "DUMPFILE",
    "INFILE",
    "LOAD_FILE",
    "XA",
    "SHUTDOWN",
    "PERSIST",
    "PERSIST_ONLY",
    "GLOBAL",
];

/// Storage engines that reach past the database: other tables (MERGE), other servers
/// (FEDERATED, CONNECT, SPIDER).
const FOREIGN_ENGINES: &[&str] = &[
    "MERGE",
    "MRG_MYISAM",
    "FEDERATED",
    "FEDERATEDX",
    "CONNECT",
    "SPIDER",
];

/// The server a dump is loaded into, as far as reading text goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Server {
    /// `MAJOR*10000 + MINOR*100 + PATCH`, as version comments write it.
    pub version: u32,
    pub mariadb: bool,
}

impl Server {
    /// From `SELECT VERSION()`: `9.7.4`, `10.11.19-MariaDB-0+deb12u1`.
    pub fn from_version(text: &str) -> Server {
        let mut parts = text
            .split(|c: char| !c.is_ascii_digit())
            .filter(|p| !p.is_empty())
            .map(|p| p.parse::<u32>().unwrap_or(0));
        let (a, b, c) = (
            parts.next().unwrap_or(0),
            parts.next().unwrap_or(0),
            parts.next().unwrap_or(0),
        );
        Server {
            version: a * 10_000 + b.min(99) * 100 + c.min(99),
            mariadb: text.to_ascii_lowercase().contains("mariadb"),
        }
    }
}

/// The reading state `sql_mode` gives the server's lexer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Mode {
    pub ansi_quotes: bool,
    pub no_backslash_escapes: bool,
}

impl Mode {
    /// A `sql_mode` value; None for a mode word that is not known (or changes the grammar
    /// itself, like MariaDB's ORACLE).
    pub fn parse(value: &str) -> Option<Mode> {
        let mut m = Mode::default();
        for word in value.split(',').map(|w| w.trim().to_ascii_uppercase()) {
            match word.as_str() {
                "" => {}
                "ANSI_QUOTES" | "ANSI" => m.ansi_quotes = true,
                "NO_BACKSLASH_ESCAPES" => m.no_backslash_escapes = true,
                w if MODES_PLAIN.contains(&w) || MODES_QUOTING.contains(&w) => {}
                _ => return None,
            }
        }
        Some(m)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum K {
    /// A bare word (keyword or unquoted name).
    Word,
    /// A quoted name: backquotes, or double quotes under ANSI_QUOTES.
    Ident,
    /// A string literal (also `X'…'`, `B'…'`, `N'…'`).
    Str,
    Num,
    /// `@name` or `@'name'`.
    UserVar,
    /// `@@name`, `@@session.name`, `@@global.name`…
    SysVar,
    Punct(u8),
}

#[derive(Debug, Clone, Copy)]
struct Tok {
    k: K,
    start: usize,
    end: usize,
    /// Parenthesis depth at the token.
    depth: u32,
}

/// Reads a statement into tokens as the server would, or says why it cannot be known.
struct Lexer<'a> {
    sql: &'a [u8],
    server: Server,
    mode: Mode,
}

impl Lexer<'_> {
    fn tokens(&self) -> Result<Vec<Tok>, String> {
        let sql = self.sql;
        let mut out = Vec::new();
        let mut i = 0;
        let mut depth = 0u32;
        // Inside an included version comment: its `*/` is skipped.
        let mut in_version = false;
        while i < sql.len() {
            let c = sql[i];
            let rest = &sql[i..];
            let push = |out: &mut Vec<Tok>, k, start, end, depth| {
                out.push(Tok {
                    k,
                    start,
                    end,
                    depth,
                })
            };
            if c.is_ascii_whitespace() {
                i += 1;
            } else if in_version && rest.starts_with(b"*/") {
                in_version = false;
                i += 2;
            } else if rest.starts_with(b"/*!") || rest.starts_with(b"/*M!") {
                let mariadb_only = rest[2] == b'M';
                let digits_at = i + if mariadb_only { 4 } else { 3 };
                let digits = sql[digits_at..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .count();
                let number: u64 = std::str::from_utf8(&sql[digits_at..digits_at + digits])
                    .ok()
                    .and_then(|d| d.parse().ok())
                    .unwrap_or(0);
                let readable = match (digits, self.server.mariadb) {
                    // A plain comment to MySQL.
                    _ if mariadb_only && !self.server.mariadb => false,
                    (0, _) if !mariadb_only => true,
                    (5, _) | (6, true) => number <= u64::from(self.server.version),
                    _ => {
                        return Err(format!(
                            "a version comment `{}` that the server may read either way",
                            String::from_utf8_lossy(&sql[i..(digits_at + digits).min(sql.len())])
                        ))
                    }
                };
                if in_version {
                    return Err("a version comment inside another".into());
                }
                if (mariadb_only && !self.server.mariadb) || !readable {
                    // A comment to this server: skipped whole, as it skips it.
                    i = find(sql, digits_at, b"*/").map_or(sql.len(), |e| e + 2);
                } else {
                    in_version = true;
                    i = digits_at + digits;
                }
            } else if rest.starts_with(b"/*") {
                i = find(sql, i + 2, b"*/").map_or(sql.len(), |e| e + 2);
            } else if c == b'#'
                || (rest.starts_with(b"--")
                    && rest
                        .get(2)
                        .is_none_or(|b| b.is_ascii_whitespace() || *b < 32))
            {
                i = memchr::memchr(b'\n', rest).map_or(sql.len(), |e| i + e + 1);
            } else if c == b'\'' || (c == b'"' && !self.mode.ansi_quotes) {
                let end = self.string_end(i)?;
                push(&mut out, K::Str, i, end, depth);
                i = end;
            } else if c == b'`' || c == b'"' {
                let end = quoted_end(sql, i, c)?;
                push(&mut out, K::Ident, i, end, depth);
                i = end;
            } else if c == b'@' {
                let (k, end) = self.variable(i)?;
                push(&mut out, k, i, end, depth);
                i = end;
            } else if matches!(c, b'x' | b'X' | b'b' | b'B' | b'n' | b'N')
                && rest.get(1) == Some(&b'\'')
            {
                let end = self.string_end(i + 1)?;
                push(&mut out, K::Str, i, end, depth);
                i = end;
            } else if c.is_ascii_digit()
                || (c == b'.' && rest.get(1).is_some_and(u8::is_ascii_digit))
            {
                let mut end = i + 1;
                while end < sql.len()
                    && (sql[end].is_ascii_alphanumeric()
                        || sql[end] == b'.'
                        || ((sql[end] == b'+' || sql[end] == b'-')
                            && matches!(sql[end - 1], b'e' | b'E')))
                {
                    end += 1;
                }
                // `1e` followed by letters is a name in MySQL (`1abc`), harmless either way.
                push(&mut out, K::Num, i, end, depth);
                i = end;
            } else if is_word_byte(c) {
                let end = sql[i..]
                    .iter()
                    .position(|&b| !is_word_byte(b))
                    .map_or(sql.len(), |p| i + p);
                push(&mut out, K::Word, i, end, depth);
                i = end;
            } else {
                if c == b')' {
                    depth = depth.saturating_sub(1);
                }
                push(&mut out, K::Punct(c), i, i + 1, depth);
                if c == b'(' {
                    depth += 1;
                }
                i += 1;
            }
        }
        Ok(out)
    }

    /// The end of the string opening at `i` (its quote included).
    fn string_end(&self, i: usize) -> Result<usize, String> {
        let sql = self.sql;
        let q = sql[i];
        let mut j = i + 1;
        loop {
            let next = if self.mode.no_backslash_escapes {
                memchr::memchr(q, &sql[j..])
            } else {
                memchr::memchr2(q, b'\\', &sql[j..])
            };
            let Some(p) = next else {
                return Err("a string that does not end in the statement".into());
            };
            let at = j + p;
            if sql[at] == b'\\' {
                j = at + 2;
                if j > sql.len() {
                    return Err("a string that does not end in the statement".into());
                }
            } else if sql.get(at + 1) == Some(&q) {
                j = at + 2;
            } else {
                return Ok(at + 1);
            }
        }
    }

    /// `@name`, `@'name'`, `@@name`, `@@scope.name`.
    fn variable(&self, i: usize) -> Result<(K, usize), String> {
        let sql = self.sql;
        let system = sql.get(i + 1) == Some(&b'@');
        let mut j = i + if system { 2 } else { 1 };
        match sql.get(j) {
            Some(b'\'' | b'"' | b'`') if !system => {
                let q = sql[j];
                let end = if q == b'`' {
                    quoted_end(sql, j, q)?
                } else {
                    self.string_end(j)?
                };
                return Ok((K::UserVar, end));
            }
            _ => {}
        }
        while j < sql.len() && (is_word_byte(sql[j]) || (system && sql[j] == b'.')) {
            j += 1;
        }
        Ok((if system { K::SysVar } else { K::UserVar }, j))
    }
}

fn quoted_end(sql: &[u8], i: usize, q: u8) -> Result<usize, String> {
    let mut j = i + 1;
    loop {
        let Some(p) = memchr::memchr(q, &sql[j..]) else {
            return Err("a quoted name that does not end in the statement".into());
        };
        let at = j + p;
        if sql.get(at + 1) == Some(&q) {
            j = at + 2;
        } else {
            return Ok(at + 1);
        }
    }
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

fn find(sql: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(sql.get(from..)?, needle).map(|p| from + p)
}

/// Judges a dump's statements one after the other, following the session state they set.
#[derive(Debug)]
pub struct Checker<'a> {
    scope: Scope<'a>,
    server: Server,
    /// Other databases of the server, lower-cased: a name qualified with one is refused.
    others: BTreeSet<String>,
    mode: Mode,
    /// User variables holding a saved sql_mode (`SET @saved = @@sql_mode`), by lower-cased
    /// name; None when what they hold is not known.
    saved: BTreeMap<String, Option<Mode>>,
    /// Loading into a scratch database: events are created disabled.
    verifying: bool,
}

impl<'a> Checker<'a> {
    /// `others`: the server's other databases (as `SHOW DATABASES` lists them); `sql_mode`:
    /// the session's at the start of the load.
    pub fn new(
        scope: Scope<'a>,
        server: Server,
        others: impl IntoIterator<Item = String>,
        sql_mode: &str,
    ) -> Result<Checker<'a>, String> {
        let mut set: BTreeSet<String> = others.into_iter().map(|d| d.to_lowercase()).collect();
        for system in ["mysql", "information_schema", "performance_schema", "sys"] {
            set.insert(system.into());
        }
        set.remove(&scope.target.to_lowercase());
        if scope.app != scope.target {
            set.insert(scope.app.to_lowercase());
        }
        let mode = Mode::parse(sql_mode).ok_or_else(|| {
            format!("the session's sql_mode '{sql_mode}' is not one db-backup can read dumps under")
        })?;
        Ok(Checker {
            verifying: scope.app != scope.target,
            scope,
            server,
            others: set,
            mode,
            saved: BTreeMap::new(),
        })
    }

    /// The reading state after the statements judged so far.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Decides what to do with one statement, and takes note of the session state it sets
    /// when it is run.
    pub fn judge(&mut self, sql: &[u8]) -> Verdict {
        let lexer = Lexer {
            sql,
            server: self.server,
            mode: self.mode,
        };
        let toks = match lexer.tokens() {
            Ok(t) => t,
            Err(why) => return Verdict::Refuse(format!("it holds {why}")),
        };
        let s = Stmt { sql, t: &toks };
        if toks.is_empty() {
            return Verdict::Run;
        }
        // What is skipped is never sent, whatever it holds; what runs is read whole.
        let verdict = self.head(&s);
        if let Verdict::Skip { .. } = verdict {
            return verdict;
        }
        // A name in another database is the more telling reason, when there is one.
        if let Some(why) = self.reaches_out(&s) {
            return Verdict::Refuse(why);
        }
        if let Verdict::Refuse(_) = verdict {
            return verdict;
        }
        if s.word(0) == "SET" {
            if let Err(why) = self.follow_set(&s) {
                return Verdict::Refuse(why);
            }
        }
        verdict
    }

    /// Anything anywhere in the statement that reaches past the database: a name qualified
    /// with another database, dynamic SQL, files, server-wide words.
    fn reaches_out(&self, s: &Stmt) -> Option<String> {
        // Stored programs hold statements; anything else is one statement.
        let program = s.word(0) == "CREATE"
            && matches!(
                s.word(object_at(s)).as_str(),
                "PROCEDURE" | "FUNCTION" | "TRIGGER" | "EVENT"
            );
        if !program && s.t.iter().any(|t| t.k == K::Punct(b';')) {
            return Some(
                "a `;` inside it: several statements in one, which dumps never send".into(),
            );
        }
        for (n, tok) in s.t.iter().enumerate() {
            if tok.k == K::Word {
                let w = s.upper(n);
                if NEVER.contains(&w.as_str()) && !(n == 1 && s.word(0) == "SET") {
                    return Some(format!("`{w}` is not something a dump loads (dynamic SQL, files, or server-wide state)"));
                }
                if (w == "DATA" || w == "INDEX") && s.word(n + 1) == "DIRECTORY" {
                    return Some(format!(
                        "`{w} DIRECTORY` places files outside the database's folder"
                    ));
                }
                if w == "ENGINE" {
                    let at = if s.punct(n + 1, b'=') { n + 2 } else { n + 1 };
                    let engine = s.name_at(at).to_ascii_uppercase();
                    if FOREIGN_ENGINES.contains(&engine.as_str()) {
                        return Some(format!("`ENGINE={engine}` reaches other tables or servers"));
                    }
                }
                if w == "UNION" && s.punct(n + 1, b'=') {
                    return Some("`UNION=` (a MERGE table) reaches other tables".into());
                }
            }
            if tok.k == K::SysVar {
                let v = s.text(n).to_ascii_uppercase();
                if v.starts_with("@@GLOBAL.") || v.starts_with("@@PERSIST") {
                    // Reading one into a user variable is harmless; SET of one is judged below.
                    let reads =
                        n >= 2 && s.t[n - 1].k == K::Punct(b'=') && s.t[n - 2].k == K::UserVar;
                    if !(reads || (n == 1 && s.word(0) == "SET")) {
                        return Some(format!("`{v}` is server-wide state"));
                    }
                }
            }
            // db.name and db.name.column: the database must be the one loaded into.
            if matches!(tok.k, K::Word | K::Ident)
                && s.punct(n + 1, b'.')
                && s.t
                    .get(n + 2)
                    .is_some_and(|t| matches!(t.k, K::Word | K::Ident))
                && !(n > 0 && s.punct(n - 1, b'.'))
            {
                let db = s.name_at(n);
                let three = s.punct(n + 3, b'.');
                let lower = db.to_lowercase();
                let other = self.others.contains(&lower)
                    || (three && lower != self.scope.target.to_lowercase());
                if other {
                    return Some(other_database(
                        &db,
                        self.scope,
                        &format!("`{db}`.`{}`", s.name_at(n + 2)),
                    ));
                }
            }
        }
        None
    }

    /// The statement's kind against the whitelist.
    fn head(&self, s: &Stmt) -> Verdict {
        let first = s.word(0);
        let skip = |words: usize| Verdict::Skip {
            kind: s.kind(words),
            why: SERVER_WIDE,
        };
        let refuse = |what: String| {
            Verdict::Refuse(format!(
                "{what} is not a statement dump tools write; db-backup loads only what mysqldump, mariadb-dump and db-backup write"
            ))
        };
        match first.as_str() {
            "SET" => self.judge_set(s),
            "USE" => own_database(&s.name_at(1), self.scope, "USE"),
            "CHANGE" | "START" | "STOP"
                if matches!(
                    s.word(1).as_str(),
                    "MASTER" | "REPLICATION" | "SLAVE" | "REPLICA" | "ALL" | "GROUP_REPLICATION"
                ) =>
            {
                skip(3)
            }
            "START" if s.word(1) == "TRANSACTION" && s.t.len() == 2 => Verdict::Run,
            "COMMIT" if s.t.len() == 1 => Verdict::Run,
            "RESET" | "PURGE" => skip(3),
            "FLUSH" | "INSTALL" | "UNINSTALL" => skip(2),
            "GRANT" | "REVOKE" => skip(1),
            "LOCK" if s.word(1) == "TABLES" || s.word(1) == "TABLE" => Verdict::Run,
            "UNLOCK" if s.word(1) == "TABLES" && s.t.len() == 2 => Verdict::Run,
            "INSERT" | "REPLACE" => judge_insert(s),
            "ALTER" if s.word(1) == "TABLE" => {
                let keys = s.t.len() == 5
                    && matches!(s.word(3).as_str(), "DISABLE" | "ENABLE")
                    && s.word(4) == "KEYS";
                if keys {
                    Verdict::Run
                } else {
                    refuse("`ALTER TABLE` other than DISABLE/ENABLE KEYS".into())
                }
            }
            "CREATE" | "ALTER" | "DROP" => self.judge_ddl(s),
            // mariadb-dump restores a sequence's next value so.
            "SELECT" | "DO" if s.word(1) == "SETVAL" && s.punct(2, b'(') => {
                let ends = s.punct(s.t.len() - 1, b')');
                let plain = s.t[3..s.t.len() - 1]
                    .iter()
                    .all(|t| matches!(t.k, K::Word | K::Ident | K::Num | K::Punct(b',' | b'-')));
                if ends && plain {
                    Verdict::Run
                } else {
                    refuse(format!(
                        "`{first} SETVAL` with more than a sequence and numbers"
                    ))
                }
            }
            "" => refuse("a statement that does not start with a word".into()),
            _ => refuse(format!("`{}`", s.kind(2))),
        }
    }

    /// `SET …`: session settings dump tools write run; server-wide and replication settings
    /// are skipped; anything else (a function, a subquery, SET STATEMENT … FOR) is refused.
    fn judge_set(&self, s: &Stmt) -> Verdict {
        if matches!(s.word(1).as_str(), "PASSWORD" | "DEFAULT" | "ROLE") {
            return Verdict::Skip {
                kind: format!("SET {}", s.word(1)),
                why: SERVER_WIDE,
            };
        }
        if s.word(1) == "STATEMENT" {
            return Verdict::Refuse(
                "`SET STATEMENT … FOR` runs another statement; dumps never write it".into(),
            );
        }
        if matches!(s.word(1).as_str(), "GLOBAL" | "PERSIST" | "PERSIST_ONLY")
            && s.word(2) == "TRANSACTION"
        {
            return Verdict::Skip {
                kind: "SET GLOBAL TRANSACTION".into(),
                why: SERVER_WIDE,
            };
        }
        let mut server_wide = None;
        let mut session = false;
        for a in s.assignments() {
            match &a.target {
                Target::Global(kind, why) => {
                    server_wide = server_wide.or(Some((kind.clone(), *why)))
                }
                Target::User => {
                    if !a.value_is(
                        s,
                        &[ValueKind::Literal, ValueKind::SysVar, ValueKind::UserVar],
                    ) {
                        return Verdict::Refuse(format!("`{}` sets a user variable to an expression; dumps set them to literals or saved settings", s.kind(2)));
                    }
                    session = true;
                }
                Target::Names => session = true,
                Target::Session(var) => {
                    let var = var.clone();
                    if !SESSION_VARIABLES.contains(&var.as_str()) {
                        return Verdict::Refuse(format!(
                            "`SET {var}` is not a setting dump tools write"
                        ));
                    }
                    if !a.value_is(s, &[ValueKind::Literal, ValueKind::UserVar]) {
                        return Verdict::Refuse(format!(
                            "`SET {var}` to an expression; dumps set literals or saved values"
                        ));
                    }
                    session = true;
                }
                Target::Unknown => {
                    return Verdict::Refuse(format!(
                        "`{}` is not a setting dump tools write",
                        s.kind(3)
                    ))
                }
            }
        }
        match (server_wide, session) {
            (Some((kind, why)), false) => Verdict::Skip { kind, why },
            (Some((kind, _)), true) => Verdict::Refuse(format!(
                "`{kind}` in the same SET as session settings; dumps set server-wide variables alone"
            )),
            (None, _) => Verdict::Run,
        }
    }

    /// Follows what a SET that runs does to the reading state: sql_mode and saved copies of
    /// it, and character sets that would change how bytes are read.
    fn follow_set(&mut self, s: &Stmt) -> Result<(), String> {
        for a in s.assignments() {
            let value = a.value(s);
            match &a.target {
                Target::User => {
                    let name = s.text(a.name_at).trim_start_matches('@').to_lowercase();
                    let saved = match value.first().map(|t| t.k) {
                        Some(K::SysVar) if var_name(&s.text(a.value_at)) == "SQL_MODE" => {
                            Some(self.mode)
                        }
                        _ => None,
                    };
                    self.saved.insert(name, saved);
                }
                Target::Session(var) if var == "SQL_MODE" => {
                    self.mode = match value.first().map(|t| t.k) {
                        Some(K::Str) if value.len() == 1 => {
                            let text = s.string(a.value_at);
                            Mode::parse(&text).ok_or_else(|| format!("sql_mode '{text}' changes how the server reads text in ways db-backup does not follow"))?
                        }
                        Some(K::UserVar) if value.len() == 1 => {
                            let name = s.text(a.value_at).trim_start_matches('@').to_lowercase();
                            self.saved.get(&name).copied().flatten().ok_or_else(|| {
                                format!("sql_mode is set from @{name}, whose value is not known here")
                            })?
                        }
                        _ => return Err("sql_mode is set to something other than a literal or a saved sql_mode; how the server reads the rest cannot be known".into()),
                    };
                }
                Target::Session(var) if var.starts_with("CHARACTER_SET") => {
                    let v = s.string_or_word(a.value_at).to_ascii_uppercase();
                    if UNSAFE_CHARSETS.contains(&v.as_str()) {
                        return Err(format!("character set {v} has multi-byte characters that hide quotes and backslashes"));
                    }
                }
                Target::Names => {
                    let v = s.string_or_word(a.value_at).to_ascii_uppercase();
                    if UNSAFE_CHARSETS.contains(&v.as_str()) {
                        return Err(format!("character set {v} has multi-byte characters that hide quotes and backslashes"));
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// CREATE / ALTER / DROP of what a dump holds, in the database loaded into.
    fn judge_ddl(&self, s: &Stmt) -> Verdict {
        let verb = s.word(0);
        let i = object_at(s);
        let object = s.word(i);
        let skip = |kind: String| Verdict::Skip {
            kind,
            why: SERVER_WIDE,
        };
        match (verb.as_str(), object.as_str()) {
            (_, "USER" | "ROLE") => skip(format!("{verb} {object}")),
            ("CREATE", "DATABASE" | "SCHEMA") => {
                let at = if s.word(i + 1) == "IF" { i + 4 } else { i + 1 };
                own_database(&s.name_at(at), self.scope, "CREATE DATABASE")
            }
            ("ALTER", "DATABASE" | "SCHEMA") => {
                let at = i + 1;
                let named = matches!(s.t.get(at).map(|t| t.k), Some(K::Ident))
                    || (s.t.get(at).is_some_and(|t| t.k == K::Word)
                        && !matches!(
                            s.word(at).as_str(),
                            "CHARACTER" | "CHARSET" | "DEFAULT" | "COLLATE"
                        ));
                let rest = &s.t[(if named { at + 1 } else { at })..];
                if !rest.iter().all(|t| matches!(t.k, K::Word | K::Str | K::Punct(b'='))) {
                    return Verdict::Refuse("`ALTER DATABASE` with more than a character set".into());
                }
                if !named {
                    return Verdict::Run;
                }
                let db = s.name_at(at);
                if db == self.scope.target {
                    Verdict::Run
                } else if db == self.scope.app {
                    // mysqldump switches the database's collation around routines, by name:
                    // in a scratch database the statement must apply to the current one.
                    let tok = s.t[at];
                    let mut out = s.sql[..tok.start].to_vec();
                    out.extend_from_slice(&s.sql[tok.end..]);
                    Verdict::RunAs(out)
                } else {
                    Verdict::Refuse(other_database(&db, self.scope, &format!("`ALTER DATABASE {db}`")))
                }
            }
            ("DROP", "DATABASE" | "SCHEMA") => Verdict::Refuse(format!(
                "`DROP DATABASE` would drop a whole database; a dump is loaded into the app's database '{}', never drops one",
                self.scope.app
            )),
            ("CREATE" | "DROP", "TABLE" | "VIEW" | "PROCEDURE" | "FUNCTION" | "TRIGGER" | "SEQUENCE") => {
                if verb == "CREATE" && object == "TABLE" && s.t[i + 1..].iter().any(|t| t.k == K::Word && s.sql[t.start..t.end].eq_ignore_ascii_case(b"SELECT") && t.depth == 0) {
                    return Verdict::Refuse("`CREATE TABLE … SELECT` is not what dump tools write".into());
                }
                Verdict::Run
            }
            ("CREATE", "EVENT") if self.verifying => self.disabled_event(s, i),
            ("CREATE" | "DROP", "EVENT") => Verdict::Run,
            ("CREATE", "TEMPORARY") => Verdict::Refuse("`CREATE TEMPORARY TABLE` is not what dump tools write".into()),
            ("ALTER", "INSTANCE") | (_, "SERVER" | "TABLESPACE" | "LOGFILE" | "RESOURCE" | "UNDO" | "SPATIAL") => {
                skip(format!("{verb} {object}"))
            }
            _ => Verdict::Refuse(format!(
                "`{verb} {object}` is not a statement dump tools write; db-backup loads only what mysqldump, mariadb-dump and db-backup write"
            )),
        }
    }

    /// `CREATE EVENT … DO …` made DISABLED: a check must not start the app's jobs, nor a
    /// planted one.
    fn disabled_event(&self, s: &Stmt, from: usize) -> Verdict {
        let Some(do_at) = (from..s.t.len()).find(|&n| s.t[n].depth == 0 && s.upper(n) == "DO")
        else {
            return Verdict::Refuse("`CREATE EVENT` without a `DO`".into());
        };
        let mut out = s.sql.to_vec();
        let mut n = from;
        while n < do_at {
            let w = s.upper(n);
            if s.t[n].depth == 0 && (w == "ENABLE" || w == "DISABLE") {
                let mut end = n + 1;
                if s.upper(end) == "ON" && matches!(s.upper(end + 1).as_str(), "SLAVE" | "REPLICA")
                {
                    end += 2;
                }
                for t in &s.t[n..end] {
                    out[t.start..t.end].fill(b' ');
                }
                n = end;
            } else {
                n += 1;
            }
        }
        // Before COMMENT '…' when there is one (the grammar's order), else before DO.
        let before = (from..do_at)
            .find(|&n| s.t[n].depth == 0 && s.upper(n) == "COMMENT")
            .unwrap_or(do_at);
        let at = s.t[before].start;
        out.splice(at..at, b"DISABLE ".iter().copied());
        Verdict::RunAs(out)
    }
}

/// Where the object word of a CREATE/ALTER/DROP is, past `OR REPLACE`, `ALGORITHM=…`,
/// `DEFINER=…`, `SQL SECURITY …` and `AGGREGATE`.
fn object_at(s: &Stmt) -> usize {
    let mut i = 1;
    // CREATE [OR REPLACE] [ALGORITHM=…] [DEFINER=…] [SQL SECURITY …] [AGGREGATE]
    loop {
        match s.word(i).as_str() {
            "OR" if s.word(i + 1) == "REPLACE" => i += 2,
            "ALGORITHM" | "DEFINER" => {
                i += 1;
                if s.punct(i, b'=') {
                    i += 1;
                }
                i += 1;
                if s.punct(i, b'(') && s.punct(i + 1, b')') {
                    i += 2;
                }
                if s.t
                    .get(i)
                    .is_some_and(|t| t.k == K::UserVar || t.k == K::Punct(b'@'))
                {
                    i += 1;
                    if s.t.get(i - 1).is_some_and(|t| t.k == K::Punct(b'@')) {
                        i += 1;
                    }
                }
            }
            "SQL" if s.word(i + 1) == "SECURITY" => i += 3,
            "AGGREGATE" => i += 1,
            _ => break,
        }
    }
    i
}

/// `INSERT`/`REPLACE [modifiers] [INTO] t [(columns)] VALUES (literals), …`, nothing else.
fn judge_insert(s: &Stmt) -> Verdict {
    let mut i = 1;
    while matches!(
        s.word(i).as_str(),
        "LOW_PRIORITY" | "DELAYED" | "HIGH_PRIORITY" | "IGNORE" | "INTO"
    ) {
        i += 1;
    }
    // The table, possibly qualified (checked by `reaches_out`).
    i += 1;
    if s.punct(i, b'.') {
        i += 2;
    }
    if s.punct(i, b'(') {
        while i < s.t.len() && !s.punct(i, b')') {
            if !matches!(s.t[i].k, K::Word | K::Ident | K::Punct(b'(' | b',')) {
                return Verdict::Refuse("an INSERT whose column list holds more than names".into());
            }
            i += 1;
        }
        i += 1;
    }
    if !matches!(s.word(i).as_str(), "VALUES" | "VALUE") {
        return Verdict::Refuse(format!(
            "`{} … {}` is not a statement dump tools write (they write INSERT … VALUES)",
            s.word(0),
            s.word(i)
        ));
    }
    for n in i + 1..s.t.len() {
        let ok = match s.t[n].k {
            K::Str | K::Num => true,
            K::Punct(b'(' | b')' | b',' | b'-' | b'+') => true,
            K::Word => {
                let w = s.upper(n);
                matches!(w.as_str(), "NULL" | "TRUE" | "FALSE" | "DEFAULT")
                    // a character set introducer: _binary'…', _utf8mb4 0x…
                    || (w.starts_with('_') && s.t.get(n + 1).is_some_and(|t| matches!(t.k, K::Str | K::Num)))
            }
            _ => false,
        };
        if !ok {
            return Verdict::Refuse(format!(
                "an INSERT whose values hold `{}`; dump tools write literal values only",
                String::from_utf8_lossy(&s.sql[s.t[n].start..s.t[n].end.min(s.t[n].start + 40)])
            ));
        }
    }
    Verdict::Run
}

/// A statement and its tokens.
struct Stmt<'s> {
    sql: &'s [u8],
    t: &'s [Tok],
}

impl Stmt<'_> {
    fn text(&self, n: usize) -> String {
        self.t
            .get(n)
            .map(|t| String::from_utf8_lossy(&self.sql[t.start..t.end]).into_owned())
            .unwrap_or_default()
    }

    fn upper(&self, n: usize) -> String {
        self.text(n).to_ascii_uppercase()
    }

    /// The word at `n`, upper-cased, or "" when it is not a bare word.
    fn word(&self, n: usize) -> String {
        match self.t.get(n) {
            Some(t) if t.k == K::Word => self.upper(n),
            _ => String::new(),
        }
    }

    fn punct(&self, n: usize, c: u8) -> bool {
        self.t.get(n).is_some_and(|t| t.k == K::Punct(c))
    }

    /// A name as the server means it: a bare word, or a quoted name unquoted.
    fn name_at(&self, n: usize) -> String {
        let Some(t) = self.t.get(n) else {
            return String::new();
        };
        match t.k {
            K::Ident => {
                let q = self.sql[t.start];
                let inner = &self.sql[t.start + 1..t.end - 1];
                let doubled = [q, q];
                String::from_utf8_lossy(inner).replace(
                    std::str::from_utf8(&doubled).unwrap_or("``"),
                    std::str::from_utf8(&[q]).unwrap_or("`"),
                )
            }
            K::Word => self.text(n),
            _ => String::new(),
        }
    }

    /// A string literal's content (escapes undone), for settings.
    fn string(&self, n: usize) -> String {
        let Some(t) = self.t.get(n) else {
            return String::new();
        };
        let inner = &self.sql[t.start + 1..t.end.saturating_sub(1).max(t.start + 1)];
        String::from_utf8_lossy(inner)
            .replace("\\'", "'")
            .replace("''", "'")
    }

    fn string_or_word(&self, n: usize) -> String {
        match self.t.get(n).map(|t| t.k) {
            Some(K::Str) => self.string(n),
            _ => self.name_at(n),
        }
    }

    /// The statement's first `words` bare words, for messages and warnings.
    fn kind(&self, words: usize) -> String {
        (0..self.t.len())
            .take(words)
            .take_while(|&n| self.t[n].k == K::Word)
            .map(|n| self.upper(n))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The assignments of a SET: what each sets, and where its value starts and ends.
    fn assignments(&self) -> Vec<Assignment> {
        let mut out = Vec::new();
        let mut i = 1;
        while i < self.t.len() {
            let name_at = i;
            let target = match self.t[i].k {
                K::UserVar => {
                    i += 1;
                    Target::User
                }
                K::SysVar => {
                    let text = self.upper(i);
                    i += 1;
                    let var = var_name(&text);
                    let scope = text
                        .trim_start_matches("@@")
                        .split('.')
                        .next()
                        .unwrap_or("")
                        .to_string();
                    if text.contains('.')
                        && matches!(scope.as_str(), "GLOBAL" | "PERSIST" | "PERSIST_ONLY")
                    {
                        Target::Global(format!("SET @@{scope}.{var}"), SERVER_WIDE)
                    } else if REPLICATION_VARIABLES.contains(&var.as_str()) {
                        Target::Global(format!("SET @@SESSION.{var}"), LOG_BIN)
                    } else {
                        Target::Session(var)
                    }
                }
                K::Word => {
                    let w = self.upper(i);
                    match w.as_str() {
                        "GLOBAL" | "PERSIST" | "PERSIST_ONLY" => {
                            let var = self.upper(i + 1);
                            i += 2;
                            Target::Global(format!("SET {w} {var}"), SERVER_WIDE)
                        }
                        "SESSION" | "LOCAL" => {
                            let var = self.upper(i + 1);
                            i += 2;
                            if REPLICATION_VARIABLES.contains(&var.as_str()) {
                                Target::Global(format!("SET SESSION {var}"), LOG_BIN)
                            } else {
                                Target::Session(var)
                            }
                        }
                        "NAMES" | "CHARACTER" | "CHARSET" => {
                            i += if w == "CHARACTER" { 2 } else { 1 };
                            let value_at = i;
                            while i < self.t.len() && !self.punct(i, b',') {
                                i += 1;
                            }
                            out.push(Assignment {
                                target: Target::Names,
                                name_at,
                                value_at,
                                value_end: i,
                            });
                            i += 1;
                            continue;
                        }
                        _ => {
                            i += 1;
                            if REPLICATION_VARIABLES.contains(&w.as_str()) {
                                Target::Global(format!("SET SESSION {w}"), LOG_BIN)
                            } else {
                                Target::Session(w)
                            }
                        }
                    }
                }
                _ => Target::Unknown,
            };
            if matches!(target, Target::Unknown) {
                out.push(Assignment {
                    target,
                    name_at,
                    value_at: i,
                    value_end: i,
                });
                break;
            }
            // = or :=
            if self.punct(i, b':') {
                i += 1;
            }
            if !self.punct(i, b'=') {
                out.push(Assignment {
                    target: Target::Unknown,
                    name_at,
                    value_at: i,
                    value_end: i,
                });
                break;
            }
            i += 1;
            let value_at = i;
            while i < self.t.len() && !(self.punct(i, b',') && self.t[i].depth == 0) {
                i += 1;
            }
            out.push(Assignment {
                target,
                name_at,
                value_at,
                value_end: i,
            });
            i += 1;
        }
        out
    }
}

/// `@@session.sql_mode` → `SQL_MODE`.
fn var_name(text: &str) -> String {
    text.trim_start_matches('@')
        .rsplit('.')
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase()
}

#[derive(Debug)]
enum Target {
    /// `@name`.
    User,
    /// A session variable, upper-cased.
    Session(String),
    /// `NAMES …`, `CHARACTER SET …`.
    Names,
    /// A server-wide or replication variable: (kind for the warning, why).
    Global(String, &'static str),
    Unknown,
}

#[derive(Debug)]
struct Assignment {
    target: Target,
    name_at: usize,
    value_at: usize,
    value_end: usize,
}

#[derive(Debug, PartialEq, Eq)]
enum ValueKind {
    Literal,
    SysVar,
    UserVar,
}

impl Assignment {
    fn value<'t>(&self, s: &'t Stmt) -> &'t [Tok] {
        &s.t[self.value_at.min(s.t.len())..self.value_end.min(s.t.len())]
    }

    /// The value is one token of those kinds (a literal may carry a sign, or be a bare word
    /// such as `utf8mb4`, `ON`, `DEFAULT`).
    fn value_is(&self, s: &Stmt, kinds: &[ValueKind]) -> bool {
        let v = self.value(s);
        let v = match v.first().map(|t| t.k) {
            Some(K::Punct(b'-' | b'+')) => &v[1..],
            _ => v,
        };
        let kind = match v {
            [t] => match t.k {
                K::Str | K::Num | K::Word => ValueKind::Literal,
                K::SysVar => ValueKind::SysVar,
                K::UserVar => ValueKind::UserVar,
                _ => return false,
            },
            _ => return false,
        };
        kinds.contains(&kind)
    }
}

/// `USE db` / `CREATE DATABASE db`: skipped when `db` is the app's (a dump made with
/// `--databases`), refused otherwise.
fn own_database(db: &str, scope: Scope, kind: &str) -> Verdict {
    if db == scope.app || db == scope.target {
        Verdict::Skip {
            kind: kind.to_string(),
            why: OWN_DATABASE,
        }
    } else {
        Verdict::Refuse(other_database(db, scope, &format!("`{kind} {db}`")))
    }
}

/// Why a statement `what` that names database `db` is refused.
fn other_database(db: &str, scope: Scope, what: &str) -> String {
    if db == scope.app {
        format!(
            "{what} names the app's live database '{db}', which a check in a scratch database must not touch (make the dump without --databases)"
        )
    } else {
        format!(
            "{what} names another database, '{db}'; only the app's database '{}' is loaded (make the dump of that one database, without --databases or --all-databases)",
            scope.app
        )
    }
}

#[cfg(test)]
mod tests;
