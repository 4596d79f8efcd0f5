//! What a statement of a dump does beyond the database it is loaded into. Stock dumps carry
//! statements for the whole server — mysqldump's `SET @@GLOBAL.GTID_PURGED`, its
//! `SET @@SESSION.SQL_LOG_BIN= 0`, `CHANGE REPLICATION SOURCE TO` with `--source-data`,
//! mariadb-dump's `SET GLOBAL gtid_slave_pos` and `CHANGE MASTER TO` with `--master-data`,
//! users and grants with `--system` — and, made with `--databases`, `CREATE DATABASE` and `USE`.
//! A restore or verify puts one database back: server-wide statements are skipped (the caller
//! warns once per kind), and statements that name another database are refused.
//!
//! Only a statement's head is read (its first words, past version comments and DEFINER
//! clauses): enough for every statement the dump tools write; bodies and data are not parsed.

/// How many tokens of a statement's head are read.
const HEAD_TOKENS: usize = 48;

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
    /// Run this instead (the statement without its database name).
    RunAs(Vec<u8>),
    /// Not run; `kind` names the kind of statement for the one warning per kind.
    Skip {
        kind: String,
        why: &'static str,
    },
    /// The load must stop: the statement names another database.
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

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    /// A bare word, upper-cased (keywords and unquoted names).
    Word(String),
    /// A backquoted name, or a double-quoted string (a name under ANSI_QUOTES).
    Quoted(String),
    /// A single-quoted string.
    Str,
    Punct(u8),
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    /// The name as written, unquoted (case kept).
    text: String,
    start: usize,
    end: usize,
}

/// The first tokens of `sql`: version comments are read as plain text (their markers
/// dropped), other comments skipped.
fn tokens(sql: &[u8]) -> Vec<Token> {
    let mut out = Vec::new();
    let mut i = 0;
    let mut in_version = false;
    while i < sql.len() && out.len() < HEAD_TOKENS {
        let c = sql[i];
        let rest = &sql[i..];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if rest.starts_with(b"/*!") || rest.starts_with(b"/*M!") {
            i += if rest[2] == b'M' { 4 } else { 3 };
            while i < sql.len() && sql[i].is_ascii_digit() {
                i += 1;
            }
            in_version = true;
        } else if in_version && rest.starts_with(b"*/") {
            i += 2;
            in_version = false;
        } else if rest.starts_with(b"/*") {
            i = find(sql, i + 2, b"*/").map_or(sql.len(), |e| e + 2);
        } else if matches!(c, b'`' | b'"' | b'\'') {
            let (text, end) = unquote(sql, i);
            let tok = match c {
                b'\'' => Tok::Str,
                _ => Tok::Quoted(text.clone()),
            };
            out.push(Token {
                tok,
                text,
                start: i,
                end,
            });
            i = end;
        } else if is_word_byte(c) {
            let end = sql[i..]
                .iter()
                .position(|&b| !is_word_byte(b))
                .map_or(sql.len(), |p| i + p);
            let text = String::from_utf8_lossy(&sql[i..end]).into_owned();
            out.push(Token {
                tok: Tok::Word(text.to_ascii_uppercase()),
                text,
                start: i,
                end,
            });
            i = end;
        } else {
            out.push(Token {
                tok: Tok::Punct(c),
                text: (c as char).to_string(),
                start: i,
                end: i + 1,
            });
            i += 1;
        }
    }
    out
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

fn find(sql: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    sql.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| from + p)
}

/// The text of the quoted token at `start` (doubled quotes and backslash escapes undone,
/// except in backquotes) and the index past it.
fn unquote(sql: &[u8], start: usize) -> (String, usize) {
    let q = sql[start];
    let mut bytes = Vec::new();
    let mut i = start + 1;
    while i < sql.len() {
        let c = sql[i];
        if c == b'\\' && q != b'`' && i + 1 < sql.len() {
            bytes.push(sql[i + 1]);
            i += 2;
        } else if c == q && sql.get(i + 1) == Some(&q) {
            bytes.push(q);
            i += 2;
        } else if c == q {
            i += 1;
            break;
        } else {
            bytes.push(c);
            i += 1;
        }
    }
    (String::from_utf8_lossy(&bytes).into_owned(), i)
}

/// A cursor over the head's tokens.
struct Head<'t> {
    t: &'t [Token],
    i: usize,
}

impl Head<'_> {
    fn word(&self) -> Option<&str> {
        match &self.t.get(self.i)?.tok {
            Tok::Word(w) => Some(w),
            _ => None,
        }
    }

    fn is(&self, words: &[&str]) -> bool {
        self.word().is_some_and(|w| words.contains(&w))
    }

    fn punct(&self, c: u8) -> bool {
        matches!(self.t.get(self.i), Some(Token { tok: Tok::Punct(p), .. }) if *p == c)
    }

    /// Skips the words given, in any order, as long as they come.
    fn skip_all(&mut self, words: &[&str]) {
        while self.is(words) {
            self.i += 1;
        }
    }

    /// Skips `IF EXISTS` / `IF NOT EXISTS`.
    fn skip_if_exists(&mut self) {
        if self.is(&["IF"]) {
            self.i += 1;
            self.skip_all(&["NOT", "EXISTS"]);
        }
    }

    /// Skips `KEY = value` (ALGORITHM=…, SQL SECURITY …, DEFINER=user@host) before an object.
    fn skip_create_options(&mut self) {
        loop {
            if self.is(&["OR"]) {
                self.i += 2; // OR REPLACE
            } else if self.is(&["ALGORITHM", "DEFINER"]) {
                self.i += 1;
                if self.punct(b'=') {
                    self.i += 1;
                }
                // user, or user@host; CURRENT_USER[()]
                self.i += 1;
                if self.punct(b'(') {
                    self.i += 2;
                }
                if self.punct(b'@') {
                    self.i += 2;
                }
            } else if self.is(&["SQL"]) {
                self.i += 3; // SQL SECURITY DEFINER|INVOKER
            } else if self.is(&[
                "TEMPORARY",
                "AGGREGATE",
                "UNIQUE",
                "FULLTEXT",
                "SPATIAL",
                "ONLINE",
                "OFFLINE",
                "IGNORE",
                "LOW_PRIORITY",
                "HIGH_PRIORITY",
                "DELAYED",
                "QUICK",
            ]) {
                self.i += 1;
            } else {
                return;
            }
        }
    }

    /// A possibly qualified name at the cursor: (database if written, name), cursor moved past.
    fn name(&mut self) -> Option<(Option<String>, String)> {
        let first = self.ident()?;
        if self.punct(b'.') {
            self.i += 1;
            let second = self.ident()?;
            return Some((Some(first), second));
        }
        Some((None, first))
    }

    fn ident(&mut self) -> Option<String> {
        let t = self.t.get(self.i)?;
        match t.tok {
            Tok::Word(_) | Tok::Quoted(_) => {
                self.i += 1;
                Some(t.text.clone())
            }
            _ => None,
        }
    }
}

/// Decides what to do with one statement of a dump.
pub fn judge(sql: &[u8], scope: Scope) -> Verdict {
    let t = tokens(sql);
    let mut h = Head { t: &t, i: 0 };
    let Some(first) = h.word().map(str::to_string) else {
        return Verdict::Run;
    };
    h.i += 1;
    let skip = |words: usize| Verdict::Skip {
        kind: kind_of(&t, words),
        why: SERVER_WIDE,
    };
    match first.as_str() {
        "USE" => match h.ident() {
            Some(db) => own_database(&db, scope, "USE"),
            None => Verdict::Run,
        },
        "SET" => judge_set(&mut h),
        "CHANGE" | "START" | "STOP"
            if h.is(&[
                "MASTER",
                "REPLICATION",
                "SLAVE",
                "REPLICA",
                "ALL",
                "GROUP_REPLICATION",
            ]) =>
        {
            skip(3)
        }
        "RESET" | "PURGE" => skip(3),
        "FLUSH" | "INSTALL" | "UNINSTALL" => skip(2),
        "GRANT" | "REVOKE" | "SHUTDOWN" | "RESTART" | "CLONE" | "KILL" => skip(1),
        "LOCK" if h.is(&["INSTANCE"]) => skip(2),
        "CREATE" | "ALTER" | "DROP" | "RENAME" => judge_ddl(&first, &mut h, scope, &t, sql),
        "INSERT" | "REPLACE" => {
            h.skip_create_options();
            if h.is(&["INTO"]) {
                h.i += 1;
            }
            check_names(&mut h, scope, &first, false)
        }
        "LOCK" | "TRUNCATE" | "UPDATE" | "CALL" => {
            h.skip_all(&["TABLES", "TABLE", "LOW_PRIORITY", "IGNORE"]);
            check_names(&mut h, scope, &first, first == "LOCK")
        }
        "DELETE" => {
            h.skip_create_options();
            if h.is(&["FROM"]) {
                h.i += 1;
            }
            check_names(&mut h, scope, &first, false)
        }
        _ => Verdict::Run,
    }
}

/// `kind` for the warning: the statement's first `words` words (for `SET`, see `judge_set`).
fn kind_of(t: &[Token], words: usize) -> String {
    t.iter()
        .take(words)
        .take_while(|t| matches!(t.tok, Tok::Word(_)))
        .map(|t| t.text.to_ascii_uppercase())
        .collect::<Vec<_>>()
        .join(" ")
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

/// `SET …`: skipped when it assigns a global (or persisted) variable or a replication one.
fn judge_set(h: &mut Head) -> Verdict {
    if h.is(&["PASSWORD", "DEFAULT"]) {
        return Verdict::Skip {
            kind: format!("SET {}", h.word().unwrap_or_default()),
            why: SERVER_WIDE,
        };
    }
    if h.is(&["GLOBAL", "PERSIST", "PERSIST_ONLY"])
        && h.t
            .get(h.i + 1)
            .is_some_and(|t| t.tok == Tok::Word("TRANSACTION".into()))
    {
        return Verdict::Skip {
            kind: "SET GLOBAL TRANSACTION".into(),
            why: SERVER_WIDE,
        };
    }
    // Each assignment: [scope] var | @@[scope.]var | @var, then = or := and an expression up to
    // a comma outside parentheses.
    loop {
        let mut scope = "SESSION".to_string();
        let at = h.punct(b'@');
        if at {
            h.i += 1;
            if !h.punct(b'@') {
                skip_expression(h); // a user variable
                if !next_assignment(h) {
                    return Verdict::Run;
                }
                continue;
            }
            h.i += 1;
            if h.t.get(h.i + 1).is_some_and(|t| t.tok == Tok::Punct(b'.')) {
                scope = h.word().unwrap_or_default().to_string();
                h.i += 2;
            }
        } else if h.is(&["GLOBAL", "PERSIST", "PERSIST_ONLY", "SESSION", "LOCAL"]) {
            scope = h.word().unwrap_or_default().to_string();
            h.i += 1;
        }
        let var = h.word().unwrap_or_default().to_string();
        let global = matches!(scope.as_str(), "GLOBAL" | "PERSIST" | "PERSIST_ONLY");
        if global || REPLICATION_VARIABLES.contains(&var.as_str()) {
            let written = if at {
                format!("SET @@{scope}.{var}")
            } else {
                format!("SET {scope} {var}")
            };
            return Verdict::Skip {
                kind: written,
                why: if global { SERVER_WIDE } else { LOG_BIN },
            };
        }
        skip_expression(h);
        if !next_assignment(h) {
            return Verdict::Run;
        }
    }
}

/// Moves past `= expression`, to the comma that ends it (or the end of the head).
fn skip_expression(h: &mut Head) {
    let mut depth = 0usize;
    while let Some(t) = h.t.get(h.i) {
        match t.tok {
            Tok::Punct(b'(') => depth += 1,
            Tok::Punct(b')') => depth = depth.saturating_sub(1),
            Tok::Punct(b',') if depth == 0 => return,
            _ => {}
        }
        h.i += 1;
    }
}

/// At a comma: steps past it and says there is another assignment.
fn next_assignment(h: &mut Head) -> bool {
    if h.punct(b',') {
        h.i += 1;
        return true;
    }
    false
}

/// CREATE / ALTER / DROP / RENAME.
fn judge_ddl(verb: &str, h: &mut Head, scope: Scope, t: &[Token], sql: &[u8]) -> Verdict {
    h.skip_create_options();
    let object = h.word().unwrap_or_default().to_string();
    let skip = || Verdict::Skip {
        kind: format!("{verb} {object}"),
        why: SERVER_WIDE,
    };
    match object.as_str() {
        "USER" | "ROLE" | "SERVER" | "TABLESPACE" | "LOGFILE" | "RESOURCE" | "INSTANCE"
        | "SPATIAL" | "UNDO" => skip(),
        "DATABASE" | "SCHEMA" => {
            h.i += 1;
            h.skip_if_exists();
            let name_at = h.i;
            let named = !h.is(&[
                "CHARACTER",
                "CHARSET",
                "DEFAULT",
                "COLLATE",
                "ENCRYPTION",
                "READ",
                "UPGRADE",
                "COMMENT",
            ]);
            let db = if named { h.ident() } else { None };
            match (verb, db) {
                ("CREATE", Some(db)) => own_database(&db, scope, "CREATE DATABASE"),
                ("DROP", Some(db)) => Verdict::Refuse(format!(
                    "`DROP DATABASE {db}` would drop a whole database; a dump is loaded into the app's database '{}', never drops one",
                    scope.app
                )),
                ("ALTER", None) => Verdict::Run,
                ("ALTER", Some(db)) if db == scope.target => Verdict::Run,
                // mysqldump switches the database's collation around routines, by name: in a
                // scratch database that must be the scratch one, the statement's current one.
                ("ALTER", Some(db)) if db == scope.app => {
                    let tok = &t[name_at];
                    let mut out = sql[..tok.start].to_vec();
                    out.extend_from_slice(&sql[tok.end..]);
                    Verdict::RunAs(out)
                }
                (_, Some(db)) => Verdict::Refuse(other_database(
                    &db,
                    scope,
                    &format!("`{verb} DATABASE {db}`"),
                )),
                (_, None) => Verdict::Run,
            }
        }
        "TABLE" | "TABLES" | "VIEW" | "PROCEDURE" | "FUNCTION" | "EVENT" | "TRIGGER"
        | "SEQUENCE" | "INDEX" | "PACKAGE" => {
            h.i += 1;
            if object == "PACKAGE" && h.is(&["BODY"]) {
                h.i += 1;
            }
            h.skip_if_exists();
            let first = check_names(h, scope, &format!("{verb} {object}"), verb != "CREATE");
            if first != Verdict::Run || !matches!(object.as_str(), "TRIGGER" | "INDEX") {
                return first;
            }
            // … ON table
            while h.i < h.t.len() && !h.is(&["ON"]) {
                h.i += 1;
            }
            if h.is(&["ON"]) {
                h.i += 1;
                return check_names(h, scope, &format!("{verb} {object}"), false);
            }
            Verdict::Run
        }
        _ => Verdict::Run,
    }
}

/// Refuses when the name at the cursor (and, with `list`, each name of a comma-separated list,
/// `RENAME a TO b` pairs and `LOCK TABLES t [AS x] WRITE` entries included) is qualified with
/// a database other than the one loaded into.
fn check_names(h: &mut Head, scope: Scope, what: &str, list: bool) -> Verdict {
    loop {
        let Some((db, name)) = h.name() else {
            return Verdict::Run;
        };
        if let Some(db) = db.filter(|db| db != scope.target) {
            return Verdict::Refuse(other_database(
                &db,
                scope,
                &format!("`{what}` of `{db}`.`{name}`"),
            ));
        }
        if !list {
            return Verdict::Run;
        }
        // Up to the next comma or TO at this level.
        loop {
            if h.i >= h.t.len() {
                return Verdict::Run;
            }
            if h.punct(b',') || h.is(&["TO"]) {
                h.i += 1;
                break;
            }
            h.i += 1;
        }
    }
}

/// Follows `sql_mode`'s NO_BACKSLASH_ESCAPES through a script read without a server (to split
/// it as the load will): literal assignments, and the `SET @saved = @@sql_mode` … `SET sql_mode
/// = @saved` pairs that dumps put around routines. Starts as the dump headers leave it: off.
#[derive(Debug, Default)]
pub struct ModeTracker {
    no_backslash_escapes: bool,
    saved: std::collections::BTreeMap<String, bool>,
}

impl ModeTracker {
    pub fn no_backslash_escapes(&self) -> bool {
        self.no_backslash_escapes
    }

    /// Takes note of a statement that was run.
    pub fn after(&mut self, sql: &[u8]) {
        let t = tokens(sql);
        if !matches!(t.first().map(|t| &t.tok), Some(Tok::Word(w)) if w == "SET") {
            return;
        }
        for part in t[1..].split(|t| t.tok == Tok::Punct(b',')) {
            let words: Vec<&Token> = part
                .iter()
                .filter(|t| !matches!(t.tok, Tok::Punct(b'@' | b'.' | b'=' | b':')))
                .collect();
            let user_var = part.first().is_some_and(|t| t.tok == Tok::Punct(b'@'))
                && part.get(1).is_some_and(|t| t.tok != Tok::Punct(b'@'));
            let is_mode = |t: &&Token| t.text.eq_ignore_ascii_case("sql_mode");
            match words.as_slice() {
                [name, value] if user_var && is_mode(value) => {
                    self.saved
                        .insert(name.text.to_ascii_uppercase(), self.no_backslash_escapes);
                }
                [.., var, value] if !user_var && is_mode(var) => {
                    self.no_backslash_escapes = match value.tok {
                        Tok::Str => value
                            .text
                            .to_ascii_uppercase()
                            .contains("NO_BACKSLASH_ESCAPES"),
                        // User variables' names ignore case.
                        _ => self
                            .saved
                            .get(&value.text.to_ascii_uppercase())
                            .copied()
                            .unwrap_or(false),
                    };
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RESTORE: Scope = Scope {
        app: "app",
        target: "app",
    };
    const VERIFY: Scope = Scope {
        app: "app",
        target: "dbbackup_verify_app_1",
    };

    fn skipped(sql: &str, scope: Scope) -> String {
        match judge(sql.as_bytes(), scope) {
            Verdict::Skip { kind, .. } => kind,
            other => panic!("{sql:?} is not skipped: {other:?}"),
        }
    }

    fn refused(sql: &str, scope: Scope) -> String {
        match judge(sql.as_bytes(), scope) {
            Verdict::Refuse(why) => why,
            other => panic!("{sql:?} is not refused: {other:?}"),
        }
    }

    #[test]
    fn what_stock_dumps_write_for_the_server_is_skipped() {
        for (sql, kind) in [
            // mysqldump 9.7 with GTIDs.
            ("SET @@SESSION.SQL_LOG_BIN= 0", "SET @@SESSION.SQL_LOG_BIN"),
            (
                "SET @@GLOBAL.GTID_PURGED=/*!80000 '+'*/ '883fedf3-ec36-11f1-978e-02fc00000001:1-363'",
                "SET @@GLOBAL.GTID_PURGED",
            ),
            (
                "SET @@SESSION.SQL_LOG_BIN = @MYSQLDUMP_TEMP_LOG_BIN",
                "SET @@SESSION.SQL_LOG_BIN",
            ),
            (
                "CHANGE REPLICATION SOURCE TO SOURCE_LOG_FILE='binlog.000002', SOURCE_LOG_POS=157",
                "CHANGE REPLICATION SOURCE",
            ),
            ("STOP REPLICA", "STOP REPLICA"),
            ("START REPLICA", "START REPLICA"),
            ("RESET BINARY LOGS AND GTIDS", "RESET BINARY LOGS"),
            ("RESET MASTER", "RESET MASTER"),
            ("/*!40000 FLUSH PRIVILEGES */", "FLUSH PRIVILEGES"),
            // mariadb-dump with --master-data --gtid, --dump-slave, --system.
            ("SET GLOBAL gtid_slave_pos='0-1-42'", "SET GLOBAL GTID_SLAVE_POS"),
            ("/*M!100000 SET GLOBAL gtid_slave_pos='0-1-42' */", "SET GLOBAL GTID_SLAVE_POS"),
            ("CHANGE MASTER TO MASTER_USE_GTID=slave_pos", "CHANGE MASTER TO"),
            (
                "CHANGE MASTER TO MASTER_LOG_FILE='binlog.000001', MASTER_LOG_POS=328",
                "CHANGE MASTER TO",
            ),
            ("STOP ALL SLAVES", "STOP ALL SLAVES"),
            ("CREATE USER IF NOT EXISTS `x`@`%`", "CREATE USER"),
            ("GRANT SELECT ON *.* TO `x`@`%`", "GRANT"),
            ("/*M!100401 UNINSTALL PLUGIN IF EXISTS unix_socket */", "UNINSTALL PLUGIN"),
            ("SET PASSWORD FOR x = 'y'", "SET PASSWORD"),
            ("SET DEFAULT ROLE ALL TO x", "SET DEFAULT"),
            ("SET sql_mode = '', GLOBAL max_connections = 10", "SET GLOBAL MAX_CONNECTIONS"),
            ("SET PERSIST max_connections = 10", "SET PERSIST MAX_CONNECTIONS"),
            ("SET @@persist_only.x = 1", "SET @@PERSIST_ONLY.X"),
            ("SET GLOBAL TRANSACTION ISOLATION LEVEL READ COMMITTED", "SET GLOBAL TRANSACTION"),
            ("SET sql_log_bin = 0", "SET SESSION SQL_LOG_BIN"),
            ("SET @@gtid_next = 'AUTOMATIC'", "SET @@SESSION.GTID_NEXT"),
            ("ALTER INSTANCE ROTATE INNODB MASTER KEY", "ALTER INSTANCE"),
        ] {
            assert_eq!(skipped(sql, VERIFY), kind, "{sql}");
            assert_eq!(skipped(sql, RESTORE), kind, "{sql}");
        }
    }

    #[test]
    fn session_statements_and_the_data_run() {
        for sql in [
            "/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */",
            "/*!50503 SET NAMES utf8mb4 */",
            "/*!40103 SET TIME_ZONE='+00:00' */",
            "/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */",
            "SET @MYSQLDUMP_TEMP_LOG_BIN = @@SESSION.SQL_LOG_BIN",
            "SET @a = (SELECT 1, 2), @b = @@global.max_connections",
            "/*!50003 SET sql_mode              = @saved_sql_mode */",
            "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
            "SET time_zone = '+00:00', sql_log_bin_not = 1",
            "DROP TABLE IF EXISTS `t1`",
            "CREATE TABLE `t1` (`id` int NOT NULL, PRIMARY KEY (`id`))",
            "INSERT INTO `t1` VALUES (1,'USE other; `other`.`t`')",
            "LOCK TABLES `t1` WRITE",
            "/*!40000 ALTER TABLE `t1` DISABLE KEYS */",
            "UNLOCK TABLES",
            "/*!50001 CREATE ALGORITHM=UNDEFINED */\n/*!50013 DEFINER=`root`@`localhost` SQL SECURITY DEFINER */\n/*!50001 VIEW `v` AS select `t1`.`id` AS `id` from `t1` */",
            "/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER `tr` BEFORE INSERT ON `t1` FOR EACH ROW SET NEW.id = NEW.id */",
            "CREATE DEFINER=\"root\"@\"localhost\" PROCEDURE \"p1\"()\nSELECT 1",
            "/*!50106 CREATE*/ /*!50117 DEFINER=`root`@`localhost`*/ /*!50106 EVENT `e1` ON SCHEDULE EVERY 1 DAY DO SELECT 1 */",
            "START TRANSACTION",
            "ALTER DATABASE CHARACTER SET utf8mb4",
            "SELECT 1",
            "",
        ] {
            assert_eq!(judge(sql.as_bytes(), VERIFY), Verdict::Run, "{sql}");
        }
    }

    #[test]
    fn the_app_database_by_name_is_the_load_target() {
        assert_eq!(skipped("USE `app`", RESTORE), "USE");
        assert_eq!(skipped("USE app", VERIFY), "USE");
        assert_eq!(
            skipped("CREATE DATABASE /*!32312 IF NOT EXISTS*/ `app` /*!40100 DEFAULT CHARACTER SET utf8mb4 */", VERIFY),
            "CREATE DATABASE"
        );
        assert_eq!(
            judge(b"INSERT INTO `app`.`t` VALUES (1)", RESTORE),
            Verdict::Run
        );
        assert_eq!(
            judge(
                b"ALTER DATABASE `app` CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_ai_ci",
                RESTORE
            ),
            Verdict::Run
        );
        // In a scratch database the name must go: the collation change applies to it.
        assert_eq!(
            judge(b"ALTER DATABASE `app` CHARACTER SET latin1", VERIFY),
            Verdict::RunAs(b"ALTER DATABASE  CHARACTER SET latin1".to_vec())
        );
        assert!(refused("INSERT INTO `app`.`t` VALUES (1)", VERIFY).contains("scratch"));
    }

    #[test]
    fn sql_mode_is_followed_through_a_dump() {
        let mut m = ModeTracker::default();
        let nbe = |m: &mut ModeTracker, sql: &str| {
            m.after(sql.as_bytes());
            m.no_backslash_escapes()
        };
        assert!(!nbe(
            &mut m,
            "/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */"
        ));
        assert!(!nbe(
            &mut m,
            "/*!50003 SET @saved_sql_mode       = @@sql_mode */"
        ));
        assert!(nbe(
            &mut m,
            "/*!50003 SET sql_mode              = 'ANSI_QUOTES,NO_BACKSLASH_ESCAPES' */"
        ));
        assert!(nbe(&mut m, "INSERT INTO t VALUES ('sql_mode')"));
        assert!(!nbe(
            &mut m,
            "/*!50003 SET sql_mode              = @saved_sql_mode */"
        ));
        assert!(nbe(&mut m, "SET SESSION sql_mode = 'no_backslash_escapes'"));
        assert!(!nbe(&mut m, "/*!40101 SET SQL_MODE=@OLD_SQL_MODE */"));
        assert!(nbe(
            &mut m,
            "SET @@SESSION.sql_mode = 'NO_BACKSLASH_ESCAPES', NAMES utf8mb4"
        ));
        assert!(!nbe(&mut m, "SET @@sql_mode = ''"));
    }

    #[test]
    fn other_databases_are_refused() {
        for sql in [
            "USE `other`",
            "use other",
            "CREATE DATABASE other",
            "CREATE SCHEMA IF NOT EXISTS `other`",
            "DROP DATABASE app",
            "DROP SCHEMA IF EXISTS other",
            "ALTER DATABASE other CHARACTER SET latin1",
            "INSERT INTO other.t VALUES (1)",
            "INSERT IGNORE INTO `other`.`t` VALUES (1)",
            "REPLACE INTO `other`.t VALUES (1)",
            "DROP TABLE IF EXISTS `t1`, `other`.`t2`",
            "CREATE TABLE `other`.`t` (a int)",
            "CREATE TEMPORARY TABLE IF NOT EXISTS other.t (a int)",
            "LOCK TABLES `t1` WRITE, `other`.`t2` AS x READ",
            "/*!50001 CREATE ALGORITHM=UNDEFINED */ /*!50013 DEFINER=`a`@`%` SQL SECURITY DEFINER */ /*!50001 VIEW `other`.`v` AS select 1 */",
            "CREATE DEFINER=`a`@`%` TRIGGER t BEFORE INSERT ON other.t1 FOR EACH ROW SET @a = 1",
            "CREATE PROCEDURE other.p() SELECT 1",
            "DROP PROCEDURE IF EXISTS `other`.`p`",
            "RENAME TABLE t1 TO other.t1",
            "TRUNCATE TABLE other.t",
            "DELETE FROM other.t",
            "UPDATE other.t SET a = 1",
            "ALTER TABLE other.t ADD COLUMN b INT",
            "CREATE INDEX i ON other.t (a)",
        ] {
            for scope in [RESTORE, VERIFY] {
                let why = refused(sql, scope);
                assert!(why.contains("'other'") || why.contains("DROP DATABASE"), "{sql}: {why}");
            }
        }
    }
}
