//! What a dump file holds, read back with our own statement splitter: the tables, views,
//! routines, triggers and events it creates, the rows its INSERTs carry, and whether it ends
//! with the "-- Dump completed" line. Used to check a dump before it is published and to know,
//! before a restore, what the dump will not replace.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use super::script::Statements;

/// The kinds of objects a dump creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Object {
    Table,
    View,
    Procedure,
    Function,
    Trigger,
    Event,
}

impl Object {
    /// The SQL word, as in `DROP PROCEDURE`.
    pub fn sql(self) -> &'static str {
        match self {
            Object::Table => "TABLE",
            Object::View => "VIEW",
            Object::Procedure => "PROCEDURE",
            Object::Function => "FUNCTION",
            Object::Trigger => "TRIGGER",
            Object::Event => "EVENT",
        }
    }

    /// Whether the server compares these names without case (routines, triggers, events);
    /// table and view names follow the file system, case-sensitive on Linux.
    pub fn case_insensitive(self) -> bool {
        !matches!(self, Object::Table | Object::View)
    }
}

/// One table as the file has it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableEntry {
    /// How many `CREATE TABLE` statements make it.
    pub creates: u32,
    /// Row tuples in the INSERT statements into it.
    pub rows: u64,
}

/// What a dump file holds.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    pub tables: BTreeMap<String, TableEntry>,
    /// Every other object created, with how many times (a view has a placeholder first).
    pub objects: BTreeMap<(Object, String), u32>,
    /// Statements read.
    pub statements: u64,
    /// The file ends with the "-- Dump completed" line that mysqldump and db-backup write last.
    pub completed: bool,
}

impl Inventory {
    /// Whether the dump creates this object (`Object::Table` included).
    pub fn creates(&self, kind: Object, name: &str) -> bool {
        if kind == Object::Table {
            return self.tables.get(name).is_some_and(|t| t.creates > 0);
        }
        if kind.case_insensitive() {
            let name = name.to_lowercase();
            return self
                .objects
                .keys()
                .any(|(k, n)| *k == kind && n.to_lowercase() == name);
        }
        self.objects.contains_key(&(kind, name.to_string()))
    }
}

/// Reads the whole file; an error means it does not parse to the end (truncated, NUL bytes).
pub fn read(file: &Path) -> io::Result<Inventory> {
    let f = File::open(file)?;
    let mut inv = scan(BufReader::with_capacity(1 << 20, f))?;
    inv.completed = ends_completed(file)?;
    Ok(inv)
}

/// Reads a backup about to be restored: a file that does not parse to the end is refused
/// before anything changes.
pub fn read_backup(file: &Path) -> crate::error::Result<Inventory> {
    read(file).map_err(|e| crate::error::Error::BadBackup {
        file: file.to_path_buf(),
        detail: e.to_string(),
    })
}

/// The statements of a script, counted and sorted (no completion line: comments are dropped).
pub fn scan(reader: impl BufRead) -> io::Result<Inventory> {
    let mut inv = Inventory::default();
    let mut statements = Statements::new(reader);
    for stmt in statements.by_ref() {
        let stmt = stmt?;
        inv.statements += 1;
        if let Some((table, rows)) = inserted(&stmt.sql) {
            inv.tables.entry(table).or_default().rows += rows;
        } else if let Some((kind, name)) = created(&stmt.sql) {
            if kind == Object::Table {
                inv.tables.entry(name).or_default().creates += 1;
            } else {
                *inv.objects.entry((kind, name)).or_default() += 1;
            }
        }
    }
    if statements.unterminated() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the script ends inside a statement: the file is truncated",
        ));
    }
    Ok(inv)
}

/// Whether one of the last lines is "-- Dump completed…".
pub fn ends_completed(file: &Path) -> io::Result<bool> {
    let mut f = File::open(file)?;
    let len = f.metadata()?.len();
    let tail_len = len.min(4096);
    f.seek(SeekFrom::Start(len - tail_len))?;
    let mut tail = Vec::new();
    f.read_to_end(&mut tail)?;
    let text = String::from_utf8_lossy(&tail);
    Ok(text
        .lines()
        .rev()
        .filter(|l| !l.trim().is_empty())
        .take(1)
        .any(|l| l.starts_with("-- Dump completed")))
}

/// The words of a statement's head, as the server reads them: version comments
/// (`/*!50001 … */`) opened, plain comments skipped.
#[derive(Clone)]
struct Words<'a> {
    sql: &'a [u8],
    at: usize,
}

/// One token of a statement's head.
#[derive(Debug, PartialEq, Eq)]
enum Word {
    /// A bare word, as written.
    Bare(String),
    /// A `` `quoted` `` identifier (or a '…'/"…" string), unquoted.
    Quoted(String),
    /// Any other byte.
    Punct(u8),
}

impl Word {
    /// Whether this is the bare keyword `kw` (any case).
    fn is(&self, kw: &str) -> bool {
        matches!(self, Word::Bare(b) if b.eq_ignore_ascii_case(kw))
    }

    /// The name this word stands for, if it is a name.
    fn name(self) -> Option<String> {
        match self {
            Word::Bare(s) | Word::Quoted(s) => Some(s),
            Word::Punct(_) => None,
        }
    }
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

impl<'a> Words<'a> {
    fn new(sql: &'a [u8]) -> Self {
        Words { sql, at: 0 }
    }

    /// The next word, without taking it.
    fn peek(&self) -> Option<Word> {
        self.clone().next()
    }

    /// Takes the next word if it is `p`.
    fn eat(&mut self, p: u8) -> bool {
        let mut ahead = self.clone();
        if ahead.next() == Some(Word::Punct(p)) {
            *self = ahead;
            return true;
        }
        false
    }

    /// A name, possibly qualified (`db`.`t`): its last part.
    fn qualified_name(&mut self) -> Option<String> {
        let mut name = self.next()?.name()?;
        if self.eat(b'.') {
            name = self.next()?.name()?;
        }
        Some(name)
    }

    fn skip_space(&mut self) {
        loop {
            let rest = &self.sql[self.at..];
            match rest {
                [c, ..] if c.is_ascii_whitespace() => self.at += 1,
                [b'*', b'/', ..] => self.at += 2,
                [b'/', b'*', b'!', ..] | [b'/', b'*', b'M', b'!', ..] => {
                    self.at += if rest[2] == b'!' { 3 } else { 4 };
                    while self.sql.get(self.at).is_some_and(u8::is_ascii_digit) {
                        self.at += 1;
                    }
                }
                [b'/', b'*', ..] => {
                    self.at = match rest[2..].windows(2).position(|w| w == b"*/") {
                        Some(p) => self.at + 2 + p + 2,
                        None => self.sql.len(),
                    };
                }
                _ => return,
            }
        }
    }
}

impl Iterator for Words<'_> {
    type Item = Word;

    fn next(&mut self) -> Option<Word> {
        self.skip_space();
        let c = *self.sql.get(self.at)?;
        if is_word_byte(c) {
            let start = self.at;
            while self.sql.get(self.at).copied().is_some_and(is_word_byte) {
                self.at += 1;
            }
            let w = String::from_utf8_lossy(&self.sql[start..self.at]);
            return Some(Word::Bare(w.into_owned()));
        }
        if matches!(c, b'`' | b'\'' | b'"') {
            let mut out = Vec::new();
            self.at += 1;
            while let Some(&b) = self.sql.get(self.at) {
                self.at += 1;
                if b == c {
                    if self.sql.get(self.at) != Some(&c) {
                        break;
                    }
                    self.at += 1;
                } else if b == b'\\' && c != b'`' && self.at < self.sql.len() {
                    out.push(self.sql[self.at]);
                    self.at += 1;
                    continue;
                }
                out.push(b);
            }
            return Some(Word::Quoted(String::from_utf8_lossy(&out).into_owned()));
        }
        self.at += 1;
        Some(Word::Punct(c))
    }
}

/// The object a `CREATE …` statement makes, if it is one a dump restores; a qualified name
/// (`db`.`t`) gives its last part. Temporary tables, databases, users and indexes give `None`.
pub fn created(sql: &[u8]) -> Option<(Object, String)> {
    let mut words = Words::new(sql);
    if !words.next()?.is("CREATE") {
        return None;
    }
    let kind = loop {
        let w = words.next()?;
        let Word::Bare(b) = &w else { return None };
        match b.to_ascii_uppercase().as_str() {
            "TABLE" | "SEQUENCE" => break Object::Table,
            "VIEW" => break Object::View,
            "PROCEDURE" => break Object::Procedure,
            "FUNCTION" => break Object::Function,
            "TRIGGER" => break Object::Trigger,
            "EVENT" => break Object::Event,
            "OR" | "REPLACE" | "SQL" | "SECURITY" | "INVOKER" | "AGGREGATE" => {}
            // "SQL SECURITY DEFINER" or "DEFINER = user"
            "DEFINER" if !words.eat(b'=') => {}
            "DEFINER" => {
                // 'user'@'host', `user`@`host`, user@host, CURRENT_USER or CURRENT_USER()
                words.next()?;
                if words.eat(b'@') {
                    words.next()?;
                } else if words.eat(b'(') && !words.eat(b')') {
                    return None;
                }
            }
            "ALGORITHM" => {
                if !words.eat(b'=') {
                    return None;
                }
                words.next()?;
            }
            _ => return None,
        }
    };
    if words.peek()?.is("IF") {
        // IF NOT EXISTS
        words.next();
        words.next();
        words.next();
    }
    Some((kind, words.qualified_name()?))
}

/// For `INSERT [IGNORE] [INTO] t … VALUES (…),(…)` (or REPLACE): the table and how many row
/// tuples follow VALUES.
pub fn inserted(sql: &[u8]) -> Option<(String, u64)> {
    let mut words = Words::new(sql);
    let first = words.next()?;
    if !(first.is("INSERT") || first.is("REPLACE")) {
        return None;
    }
    while ["LOW_PRIORITY", "DELAYED", "HIGH_PRIORITY", "IGNORE", "INTO"]
        .iter()
        .any(|kw| words.peek().is_some_and(|w| w.is(kw)))
    {
        words.next();
    }
    let table = words.qualified_name()?;
    Some((table, count_tuples(&sql[words.at..])))
}

/// Row tuples after the VALUES keyword: each `(` at depth 0, outside strings and quoted names.
/// Stops at anything else at depth 0 (`ON DUPLICATE KEY UPDATE …`, an alias). It reads every
/// byte of every INSERT when a dump is checked, so the common stretches (a value's digits,
/// a string's bytes) are skipped by table look-up and memchr rather than byte by byte.
pub fn count_tuples(sql: &[u8]) -> u64 {
    let mut i = 0;
    let mut depth = 0u32;
    let mut after_values = false;
    let mut tuples = 0;
    while i < sql.len() {
        if depth > 0 {
            // Inside a tuple only quotes and parentheses matter.
            match sql[i..].iter().position(|&b| INSIDE[b as usize]) {
                Some(p) => i += p,
                None => break,
            }
        }
        let c = sql[i];
        match c {
            b'\'' | b'"' | b'`' => {
                i = skip_quoted(sql, i);
                continue;
            }
            b'(' => {
                if depth == 0 && after_values {
                    tuples += 1;
                }
                depth += 1;
            }
            b')' => depth = depth.saturating_sub(1),
            _ if depth > 0 => {}
            b',' => {}
            _ if c.is_ascii_whitespace() => {}
            _ if c.is_ascii_alphabetic() => {
                let start = i;
                while i < sql.len() && (sql[i].is_ascii_alphanumeric() || sql[i] == b'_') {
                    i += 1;
                }
                let word = &sql[start..i];
                if after_values {
                    return tuples;
                }
                after_values =
                    word.eq_ignore_ascii_case(b"VALUES") || word.eq_ignore_ascii_case(b"VALUE");
                continue;
            }
            _ if after_values => return tuples,
            _ => {}
        }
        i += 1;
    }
    tuples
}

/// The bytes that matter inside a tuple.
static INSIDE: [bool; 256] = {
    let mut t = [false; 256];
    t[b'\'' as usize] = true;
    t[b'"' as usize] = true;
    t[b'`' as usize] = true;
    t[b'(' as usize] = true;
    t[b')' as usize] = true;
    t
};

/// The index just past the string or quoted name opening at `start` (backslash escapes in
/// strings, doubled quotes in both).
fn skip_quoted(sql: &[u8], start: usize) -> usize {
    let q = sql[start];
    let mut i = start + 1;
    while i < sql.len() {
        // Jump to the next byte that matters: the quote, or a backslash in a string.
        let rest = &sql[i..];
        let hit = if q == b'`' {
            memchr::memchr(q, rest)
        } else {
            memchr::memchr2(q, b'\\', rest)
        };
        let Some(p) = hit else { return sql.len() };
        i += p;
        // An escaped byte, or a doubled quote: both stay inside.
        if sql[i] == b'\\' || sql.get(i + 1) == Some(&q) {
            i += 2;
        } else {
            return i + 1;
        }
    }
    sql.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_are_named_through_version_comments_and_definers() {
        let cases: &[(&str, Object, &str)] = &[
            ("CREATE TABLE `products` (\n `id` int)", Object::Table, "products"),
            ("CREATE TABLE IF NOT EXISTS t2 (a int)", Object::Table, "t2"),
            ("CREATE TABLE `db`.`a``b` (a int)", Object::Table, "a`b"),
            ("CREATE VIEW `v` AS SELECT 1 AS `a`", Object::View, "v"),
            (
                "CREATE ALGORITHM=UNDEFINED SQL SECURITY DEFINER VIEW `balance_view` AS select 1",
                Object::View,
                "balance_view",
            ),
            (
                "/*!50001 CREATE ALGORITHM=UNDEFINED */\n/*!50013 DEFINER=`root`@`localhost` SQL SECURITY DEFINER */\n/*!50001 VIEW `moves_view` AS select 1 */",
                Object::View,
                "moves_view",
            ),
            (
                "/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`%`*/ /*!50003 TRIGGER sorties_after_insert AFTER INSERT ON `sorties` FOR EACH ROW BEGIN END */",
                Object::Trigger,
                "sorties_after_insert",
            ),
            (
                "CREATE DEFINER=`u`@`%` PROCEDURE `restock`(IN p INT)\nBEGIN END",
                Object::Procedure,
                "restock",
            ),
            ("CREATE DEFINER=CURRENT_USER() FUNCTION f() RETURNS INT RETURN 1", Object::Function, "f"),
            (
                "/*!50106 CREATE*/ /*!50117 DEFINER='root'@'localhost'*/ /*!50106 EVENT `nightly` ON SCHEDULE EVERY 1 DAY DO SELECT 1 */",
                Object::Event,
                "nightly",
            ),
            ("CREATE OR REPLACE VIEW v2 AS SELECT 1", Object::View, "v2"),
            ("CREATE SEQUENCE `s1` start with 1", Object::Table, "s1"),
        ];
        for (sql, kind, name) in cases {
            assert_eq!(
                created(sql.as_bytes()),
                Some((*kind, name.to_string())),
                "{sql}"
            );
        }
        for sql in [
            "CREATE DATABASE `x`",
            "CREATE TEMPORARY TABLE t (a int)",
            "CREATE INDEX i ON t (a)",
            "CREATE USER 'a'@'%'",
            "DROP TABLE IF EXISTS `t`",
        ] {
            assert_eq!(created(sql.as_bytes()), None, "{sql}");
        }
    }

    #[test]
    fn insert_tuples_are_counted_outside_strings() {
        let cases: &[(&str, &str, u64)] = &[
            ("INSERT INTO `t` (`a`,`b`) VALUES (1,'x'),(2,'y')", "t", 2),
            (
                "INSERT INTO `t` VALUES (1,'a),(b'),(2,'c\\'),('),(3,\"d\"\"),(\")",
                "t",
                3,
            ),
            (
                "INSERT INTO t VALUES (CAST(1 AS DOUBLE),0x2829),(ST_GeomFromText('POINT(1 2)'))",
                "t",
                2,
            ),
            ("INSERT IGNORE INTO `a``b` VALUES (1)", "a`b", 1),
            ("REPLACE INTO t VALUES (1),(2)", "t", 2),
            (
                "INSERT INTO t VALUES (1) ON DUPLICATE KEY UPDATE a=VALUES(a)",
                "t",
                1,
            ),
            ("INSERT INTO `db`.`t` (`(`) VALUES (1)", "t", 1),
            ("INSERT INTO t SELECT * FROM u", "t", 0),
        ];
        for (sql, table, n) in cases {
            assert_eq!(
                inserted(sql.as_bytes()),
                Some((table.to_string(), *n)),
                "{sql}"
            );
        }
    }

    #[test]
    fn a_script_is_inventoried() {
        let sql = "/*!40101 SET NAMES utf8mb4 */;\n\
            DROP TABLE IF EXISTS `t`;\nCREATE TABLE `t` (a int);\n\
            INSERT INTO `t` (`a`) VALUES (1),(2);\nINSERT INTO `t` (`a`) VALUES (3);\n\
            CREATE VIEW `v` AS SELECT 1 AS `a`;\nDELIMITER ;;\n\
            CREATE TRIGGER `tr` BEFORE INSERT ON `t` FOR EACH ROW BEGIN SET @x = 1; END ;;\n\
            DELIMITER ;\n-- Dump completed\n";
        let inv = scan(sql.as_bytes()).unwrap();
        assert_eq!(
            inv.tables["t"],
            TableEntry {
                creates: 1,
                rows: 3
            }
        );
        assert!(inv.creates(Object::View, "v"));
        assert!(inv.creates(Object::Trigger, "TR"));
        assert!(!inv.creates(Object::Table, "v"));
        assert_eq!(inv.statements, 7);
        let cut = &sql[..sql.find("(2)").unwrap()];
        assert!(scan(cut.as_bytes()).is_err(), "truncated");
    }
}
