//! MySQL side of the harness: real MariaDB 10.11 and MySQL 9.7 servers, one fresh database (and
//! user) per test, and exact comparisons made with each server's own stock client (`mariadb`,
//! or MySQL 9.7's `mysql` inside its chroot) — never with the engine under test.
//!
//! **Both servers, one suite.** A test written as `fn name(server: &'static Server)` with
//! `test_on_both!(name)` above it (tests/common/mod.rs) runs twice, as `name::mariadb` and
//! `name::mysql`, with the same assertions. `mariadb()` and `mysql()` below are the one place a
//! server is picked; `Server::odd` gives the same flavor's server with hostile settings.
//!
//! **Which server.** With `DB_BACKUP_TEST_MARIADB_URL=mysql://root:pw@127.0.0.1:3306` (or
//! `DB_BACKUP_TEST_MYSQL_URL=…` for the MySQL side; plus `…_SOCKET=/path/to/mysqld.sock` for
//! the socket tests) the tests use that server and its admin account. Otherwise the first test
//! that needs one starts our own (own.rs): MariaDB from the Debian packages, MySQL 9.7 from a
//! Debian sid chroot under `<target>/test-sid/root` (made by scripts/sid-chroot). They keep
//! running for later tests and runs; scripts/test stops them at the end.
//!
//! Missing server binaries fail the test with instructions; nothing is ever skipped silently.
#![allow(dead_code)]

mod own;

pub use own::Throwaway;

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use super::{App, ClientFile};

/// The CA that signed our servers' TLS certificates (for `MYSQL_ATTR_SSL_CA`).
pub fn tls_ca() -> PathBuf {
    own::tls_ca()
}

/// The harness's CA folder: `ca.pem`, and `server.pem`/`server.key` for 127.0.0.1 and localhost.
pub fn tls_files() -> PathBuf {
    own::tls_files()
}

/// How the app's `.env` reaches the database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// `DB_HOST=127.0.0.1`, `DB_PORT`.
    Tcp,
    /// `DB_SOCKET` set, with a `DB_PORT` nothing listens on: the socket must win.
    Socket,
    /// `DB_URL=mysql://user:pass@127.0.0.1:port/db` (percent-encoded password), with wrong
    /// `DB_PORT`/`DB_PASSWORD` beside it: the URL must win, as in Laravel.
    DbUrl,
    /// The same through `DATABASE_URL` (Laravel ≤ 10).
    DatabaseUrl,
}

/// Which server software.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// MariaDB 10.11, from this machine's Debian packages.
    MariaDb,
    /// MySQL 9.7, from Debian sid in a chroot: GTIDs and the binary log on, caching_sha2_password.
    MySql,
}

impl Flavor {
    pub fn name(self) -> &'static str {
        match self {
            Flavor::MariaDb => "mariadb",
            Flavor::MySql => "mysql",
        }
    }

    /// Its stock command-line client.
    fn client(self) -> &'static str {
        match self {
            Flavor::MariaDb => "mariadb",
            Flavor::MySql => "mysql",
        }
    }

    /// SHOW CREATE TABLE with the column collations written one way. MySQL prints a column
    /// that inherits the table's collation as `COLLATE c` and one declared with it as
    /// `CHARACTER SET cs COLLATE c`: the same column (a collation names its character set),
    /// but every copy made from SHOW CREATE TABLE text — mysqldump's too — has the second.
    fn same_collations(self, create: &str) -> String {
        match self {
            Flavor::MariaDb => create.to_string(),
            Flavor::MySql => regex::Regex::new(r" CHARACTER SET \w+ COLLATE ")
                .unwrap()
                .replace_all(create, " COLLATE ")
                .into_owned(),
        }
    }

    /// Its stock dump tool.
    fn dump(self) -> &'static str {
        match self {
            Flavor::MariaDb => "mariadb-dump",
            Flavor::MySql => "mysqldump",
        }
    }
}

/// The MariaDB server the tests share: `DB_BACKUP_TEST_MARIADB_URL`'s, else our own.
pub fn mariadb() -> &'static Server {
    static S: OnceLock<Server> = OnceLock::new();
    S.get_or_init(|| own::main(Flavor::MariaDb))
}

/// The MySQL 9.7 server the tests share: `DB_BACKUP_TEST_MYSQL_URL`'s, else our own.
pub fn mysql() -> &'static Server {
    static S: OnceLock<Server> = OnceLock::new();
    S.get_or_init(|| own::main(Flavor::MySql))
}

/// A MariaDB or MySQL server and its admin account.
#[derive(Clone, Debug)]
pub struct Server {
    pub flavor: Flavor,
    /// `main`, `odd` or `external`.
    pub label: &'static str,
    pub host: String,
    pub port: u16,
    /// The socket as the app sees it.
    pub socket: Option<PathBuf>,
    pub user: String,
    pub password: String,
    /// MySQL: the chroot its stock programs run in (they see the socket from inside).
    root: Option<PathBuf>,
    /// The socket as the stock programs see it.
    client_socket: Option<PathBuf>,
}

impl Server {
    /// A stock client (`mariadb`, or MySQL's `mysql`) logged in as `user`; the password goes
    /// through `MYSQL_PWD`, never the command line.
    pub fn client(&self, user: &str, password: &str) -> Command {
        self.program(self.flavor.client(), user, password)
    }

    /// The stock dump tool (`mariadb-dump`, or MySQL's `mysqldump`) connected the same way.
    pub fn dump_tool(&self, user: &str, password: &str) -> Command {
        self.program(self.flavor.dump(), user, password)
    }

    /// Another stock program of this server's flavor (`mysql_tzinfo_to_sql`, …), connected
    /// to it as `user`.
    pub fn program(&self, name: &str, user: &str, password: &str) -> Command {
        let mut c = self.command(name);
        c.arg("--no-defaults").arg(format!("--user={user}"));
        // An external server is reached the way its URL says; DB_BACKUP_TEST_*_SOCKET only
        // feeds the `Via::Socket` tests.
        match self
            .client_socket
            .as_ref()
            .filter(|_| self.label != "external")
        {
            Some(s) => c
                .arg("--protocol=socket")
                .arg(format!("--socket={}", s.display())),
            None => c
                .arg("--protocol=tcp")
                .arg(format!("--host={}", self.host))
                .arg(format!("--port={}", self.port)),
        };
        for var in ["MYSQL_HOST", "MYSQL_TCP_PORT", "MYSQL_UNIX_PORT"] {
            c.env_remove(var);
        }
        c.env("MYSQL_PWD", password);
        c
    }

    /// A stock program of this flavor, not yet connected: from the host's MariaDB packages,
    /// or run inside the MySQL chroot.
    pub fn command(&self, name: &str) -> Command {
        match &self.root {
            Some(root) => {
                let mut c = Command::new("chroot");
                c.arg(root).arg(format!("/usr/bin/{name}"));
                c
            }
            None => Command::new(own::bin(name)),
        }
    }

    /// The client logged in as the admin account.
    pub fn admin(&self) -> Command {
        self.client(&self.user, &self.password)
    }

    /// Runs `sql` as admin (in `db` if given); returns the batch output (tab-separated, escaped).
    pub fn admin_sql(&self, db: Option<&str>, sql: &str) -> String {
        run_sql(self.admin(), db, sql)
    }

    /// The server's connections, from `SHOW FULL PROCESSLIST`. Not information_schema's
    /// PROCESSLIST: MySQL fails a query on it (error 3854) while any session's statement holds
    /// bytes that are not UTF-8, as a `_binary'…'` literal of a dump being loaded does.
    pub fn processes(&self) -> Vec<Process> {
        self.admin_sql(None, "SHOW FULL PROCESSLIST")
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                Some(Process {
                    id: f.first()?.parse().ok()?,
                    user: unescape(f.get(1)?),
                    state: unescape(f.get(6)?),
                    info: unescape(f.get(7)?),
                })
            })
            .collect()
    }

    /// The connections of `user`.
    pub fn processes_of(&self, user: &str) -> Vec<Process> {
        self.processes()
            .into_iter()
            .filter(|p| p.user == user)
            .collect()
    }

    pub fn socket(&self) -> &Path {
        self.socket.as_deref().unwrap_or_else(|| {
            panic!(
                "this test needs the server's Unix socket: set DB_BACKUP_TEST_{}_SOCKET",
                self.flavor.name().to_uppercase()
            )
        })
    }

    /// A host file as this server's stock client sees it (for `source`): MySQL's runs in its
    /// chroot, so it gets a copy there, removed when the returned value is dropped.
    pub fn client_file(&self, file: &Path) -> ClientFile {
        ClientFile::new(self.root.as_deref(), file)
    }

    /// The same server and account, reached over TCP only.
    pub fn over_tcp(&self) -> Server {
        Server {
            socket: None,
            client_socket: None,
            ..self.clone()
        }
    }

    /// The same flavor's own server with hostile global settings: `sql_mode` with ANSI_QUOTES
    /// and NO_BACKSLASH_ESCAPES, `time_zone` Europe/Paris, latin1 server charset — for the
    /// tests that need them without disturbing the tests running in parallel. Always our own,
    /// even with an external URL.
    pub fn odd(&self) -> &'static Server {
        own::odd(self.flavor)
    }

    /// A server of the same flavor for the calling test alone, with the flavor's default
    /// settings: for changing global settings or restarting it (see `Throwaway`). Always our
    /// own, even with an external URL.
    pub fn throwaway(&self) -> Throwaway {
        Throwaway::start(self.flavor)
    }

    /// The same flavor's own server with the binary log and GTIDs on: MySQL's main one; for
    /// MariaDB, one started with `--log-bin` (the others run without it). Always our own.
    pub fn with_binlog(&self) -> &'static Server {
        own::binlog(self.flavor)
    }

    /// The same flavor's own server with no TCP at all (`--skip-networking`): only its Unix
    /// socket reaches it. Always our own, even with an external URL.
    pub fn socket_only(&self) -> &'static Server {
        own::socket_only(self.flavor)
    }
}

/// One connection of a server (see `Server::processes`).
#[derive(Debug, Clone)]
pub struct Process {
    pub id: u64,
    pub user: String,
    pub state: String,
    /// The statement it runs (`NULL` when idle).
    pub info: String,
}

/// One fresh database per test, with its own user holding `ALL PRIVILEGES ON db.*` and nothing
/// else — what a Laravel app's account usually has. Dropped (with the user) at the end of the
/// test, unless `DB_BACKUP_TEST_KEEP_DB` is set.
pub struct TestDb {
    pub server: &'static Server,
    pub name: String,
    pub user: String,
    pub password: String,
    /// The random part of the password: what must never show up in outputs or command lines.
    pub token: String,
}

impl TestDb {
    /// Another fresh database on the same server (for the restored copy).
    pub fn sibling(&self) -> TestDb {
        TestDb::on(self.server)
    }

    pub fn on(server: &'static Server) -> TestDb {
        let id = format!("{:012x}", rand::random::<u64>() >> 16);
        let token = format!("{:016x}", rand::random::<u64>());
        let db = TestDb {
            server,
            name: format!("t_{id}"),
            user: format!("u_{id}"),
            password: format!("Pw@{token}:Zq!9"),
            token,
        };
        server.admin_sql(
            None,
            &format!(
                "CREATE DATABASE `{n}`;
                 CREATE USER '{u}'@'%' IDENTIFIED BY '{p}';
                 GRANT ALL PRIVILEGES ON `{g}`.* TO '{u}'@'%';",
                n = db.name,
                u = db.user,
                p = db.password,
                g = db.name.replace('_', "\\_"),
            ),
        );
        db
    }

    /// Runs `sql` in this database as the app's user, with the server's own session defaults
    /// (`DELIMITER` works: it goes through the client's stdin). Returns the batch output.
    pub fn sql(&self, sql: &str) -> String {
        run_sql(
            self.server.client(&self.user, &self.password),
            Some(&self.name),
            sql,
        )
    }

    /// Runs `sql` in this database as admin.
    pub fn admin_sql(&self, sql: &str) -> String {
        self.server.admin_sql(Some(&self.name), sql)
    }

    /// Admin query with a neutral session (no sql_mode, UTC), for reading things back.
    fn query(&self, sql: &str) -> Vec<String> {
        let out = self.admin_sql(&format!(
            "SET SESSION sql_mode = ''; SET SESSION time_zone = '+00:00';\n{sql}"
        ));
        out.lines().map(str::to_string).collect()
    }

    /// The app's `.env` for this database, as `DB_CONNECTION=mysql`.
    pub fn env_text(&self, via: Via) -> String {
        self.env_text_as("mysql", via)
    }

    /// The app's `.env` for this database with this `DB_CONNECTION` (`mysql` or `mariadb`).
    pub fn env_text_as(&self, driver: &str, via: Via) -> String {
        let s = self.server;
        let mut env = format!("APP_NAME=stock\nAPP_ENV=production\nDB_CONNECTION={driver}\n");
        let url = format!(
            "mysql://{}:{}@{}:{}/{}",
            self.user,
            percent_encode(&self.password),
            s.host,
            s.port,
            self.name
        );
        let plain = format!(
            "DB_DATABASE={}\nDB_USERNAME={}\nDB_PASSWORD=\"{}\"\n",
            self.name, self.user, self.password
        );
        let wrong = format!(
            "DB_HOST=127.0.0.1\nDB_PORT={}\nDB_DATABASE=not_this_one\nDB_USERNAME=nobody\nDB_PASSWORD=wrong\n",
            closed_port()
        );
        match via {
            Via::Tcp => env += &format!("DB_HOST={}\nDB_PORT={}\n{plain}", s.host, s.port),
            Via::Socket => {
                env += &format!(
                    "DB_HOST=127.0.0.1\nDB_PORT={}\nDB_SOCKET={}\n{plain}",
                    closed_port(),
                    s.socket().display()
                )
            }
            Via::DbUrl => env += &format!("{wrong}DB_URL={url}\n"),
            Via::DatabaseUrl => env += &format!("{wrong}DATABASE_URL={url}\n"),
        }
        env
    }

    /// A temp Laravel app whose `.env` points at this database.
    pub fn app(&self, via: Via) -> App {
        App::bare(&self.env_text(via))
    }

    /// Loads a dump into this database the stock way, as admin, with the server's own client:
    /// `mariadb --no-defaults -u root --socket=S dbname < file.sql` (MySQL: `mysql …`).
    pub fn load(&self, dump: &Path) {
        self.load_with(dump, &[]);
    }

    /// `load` with extra client options (e.g. `--init-command=SET time_zone='-08:00'`).
    pub fn load_with(&self, dump: &Path, extra: &[&str]) {
        let mut c = self.server.admin();
        c.args(extra).arg(&self.name);
        c.stdin(File::open(dump).unwrap());
        let out = c.output().expect("run the stock client");
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            panic!(
                "the stock client could not load {}: {err}{}",
                dump.display(),
                failing_line(dump, &err)
            );
        }
    }

    /// Base tables, sorted.
    pub fn tables(&self) -> Vec<String> {
        self.names("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME")
    }

    /// Views, sorted.
    pub fn views(&self) -> Vec<String> {
        self.names("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'VIEW' ORDER BY TABLE_NAME")
    }

    fn names(&self, sql: &str) -> Vec<String> {
        self.query(sql).iter().map(|l| unescape(l)).collect()
    }

    /// `CHECKSUM TABLE … EXTENDED`: a hash of the stored row bytes, so bit-exact (floats too).
    pub fn checksum(&self, table: &str) -> String {
        let out = self.query(&format!("CHECKSUM TABLE {} EXTENDED", ident(table)));
        col(&out[0], 1)
    }

    /// Every row of a table or view, every column (INVISIBLE ones included), as exact text,
    /// sorted: see `exact_expr`.
    pub fn rows(&self, table: &str) -> Vec<String> {
        self.snapshot()
            .rows
            .into_iter()
            .find(|(t, _)| t == table)
            .unwrap_or_else(|| panic!("no table or view {table} in {}", self.name))
            .1
    }

    /// Everything but the data (see `Snapshot::schema`).
    pub fn schema(&self) -> Vec<String> {
        self.snapshot().schema
    }

    /// Reads the whole database back in two client calls.
    pub fn snapshot(&self) -> Snapshot {
        // 1. What is there, each row tagged by its kind.
        let mut tables = Vec::new(); // (name, is_view)
        let mut columns: Vec<(String, String, String)> = Vec::new();
        let mut routines = Vec::new();
        let mut events = Vec::new();
        let mut schema = Vec::new();
        for l in self.query(
            "SELECT 'T', TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES
               WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME;
             SELECT 'C', TABLE_NAME, COLUMN_NAME, DATA_TYPE FROM information_schema.COLUMNS
               WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME, ORDINAL_POSITION;
             SELECT 'R', ROUTINE_TYPE, ROUTINE_NAME FROM information_schema.ROUTINES
               WHERE ROUTINE_SCHEMA = DATABASE() ORDER BY 2, 3;
             SELECT 'E', EVENT_NAME FROM information_schema.EVENTS
               WHERE EVENT_SCHEMA = DATABASE() ORDER BY 2;
             SELECT 'G', CONCAT_WS(' | ', 'TRIGGER', TRIGGER_NAME, ACTION_TIMING,
                 EVENT_MANIPULATION, EVENT_OBJECT_TABLE, ACTION_ORDER, SQL_MODE, ACTION_STATEMENT)
               FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()
               ORDER BY EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER;",
        ) {
            let f: Vec<String> = l.split('\t').map(unescape).collect();
            match f[0].as_str() {
                "T" => tables.push((f[1].clone(), f[2] == "VIEW")),
                "C" => columns.push((f[1].clone(), f[2].clone(), f[3].clone())),
                "R" => routines.push((f[1].clone(), f[2].clone())),
                "E" => events.push(f[1].clone()),
                // Kept escaped, like every SHOW CREATE text below: one line each.
                _ => schema.push(l.split_once('\t').unwrap().1.to_string()),
            }
        }

        // 2. Their definitions and contents, in one script with a marker before each answer.
        let mut script = String::new();
        let mut asks = Vec::new();
        let mut ask = |what: String, sql: String| {
            script += &format!("SELECT '{MARK}{}';\n{sql};\n", asks.len());
            asks.push(what);
        };
        for (t, view) in &tables {
            let q = ident(t);
            let exprs: Vec<String> = columns
                .iter()
                .filter(|(ct, _, _)| ct == t)
                .map(|(_, c, ty)| exact_expr(&ident(c), ty))
                .collect();
            if *view {
                ask(format!("view {t}"), format!("SHOW CREATE VIEW {q}"));
            } else {
                ask(format!("table {t}"), format!("SHOW CREATE TABLE {q}"));
                ask(
                    format!("checksum {t}"),
                    format!("CHECKSUM TABLE {q} EXTENDED"),
                );
            }
            ask(
                format!("rows {t}"),
                format!("SELECT {} FROM {q}", exprs.join(", ")),
            );
        }
        for (kind, r) in &routines {
            ask(
                format!("{kind} {r}"),
                format!("SHOW CREATE {kind} {}", ident(r)),
            );
        }
        for e in &events {
            ask(
                format!("event {e}"),
                format!("SHOW CREATE EVENT {}", ident(e)),
            );
        }
        let mut answers: Vec<Vec<String>> = vec![Vec::new(); asks.len()];
        let mut current = None;
        for l in self.query(&script) {
            match l.strip_prefix(MARK) {
                Some(i) => current = Some(i.parse::<usize>().unwrap()),
                None => answers[current.expect("answer before any marker")].push(l),
            }
        }

        let mut snap = Snapshot {
            schema: Vec::new(),
            rows: Vec::new(),
            checksums: Vec::new(),
        };
        let first = |a: &Vec<String>| a.first().cloned().unwrap_or_default();
        for (what, mut answer) in asks.into_iter().zip(answers) {
            let (kind, name) = what.split_once(' ').unwrap();
            match kind {
                "table" => snap.schema.push(format!(
                    "TABLE {}",
                    self.server.flavor.same_collations(&col(&first(&answer), 1))
                )),
                "view" => {
                    // A view whose definer lacks rights prints `db`.`table`.`column`: drop our
                    // database's name so that source and copy compare.
                    let create = strip_definer(&col(&first(&answer), 1));
                    let create = create.replace(&format!("{}.", ident(&self.name)), "");
                    snap.schema.push(format!("VIEW {create}"));
                }
                "checksum" => snap
                    .checksums
                    .push((name.to_string(), col(&first(&answer), 1))),
                "rows" => {
                    answer.sort();
                    snap.rows.push((name.to_string(), answer));
                }
                // Event, sql_mode, time_zone, Create Event, …
                "event" => snap.schema.push(format!(
                    "EVENT sql_mode={} time_zone={} {}",
                    col(&first(&answer), 1),
                    col(&first(&answer), 2),
                    strip_definer(&col(&first(&answer), 3))
                )),
                // PROCEDURE|FUNCTION: Name, sql_mode, Create …
                _ => snap.schema.push(format!(
                    "{kind} sql_mode={} {}",
                    col(&first(&answer), 1),
                    strip_definer(&col(&first(&answer), 2))
                )),
            }
        }
        snap.schema.extend(schema);
        snap
    }

    /// Asserts `copy` holds exactly what this database holds: same schema, and for every table
    /// the same rows and the same CHECKSUM TABLE; every view returns the same rows.
    pub fn assert_same_as(&self, copy: &TestDb) {
        let (a, b) = (self.snapshot(), copy.snapshot());
        assert_lines_eq("schema", &a.schema, &b.schema);
        for ((t, src), (_, dst)) in a.rows.iter().zip(&b.rows) {
            assert_lines_eq(&format!("rows of {t}"), src, dst);
        }
        for ((t, src), (_, dst)) in a.checksums.iter().zip(&b.checksums) {
            assert_eq!(
                src, dst,
                "CHECKSUM TABLE {t} differs although the rows print the same"
            );
        }
    }
}

/// A database read back: everything but the data, normalised so that two databases holding
/// the same objects compare equal — SHOW CREATE TABLE (AUTO_INCREMENT included), SHOW CREATE
/// VIEW, routines and events (with their sql_mode, and the event's time zone), triggers (with
/// their sql_mode), DEFINER clauses removed (a restored copy belongs to whoever loaded it) —
/// and the data: every table's and view's rows (see `exact_expr`, sorted) and every table's
/// CHECKSUM TABLE.
pub struct Snapshot {
    pub schema: Vec<String>,
    pub rows: Vec<(String, Vec<String>)>,
    pub checksums: Vec<(String, String)>,
}

impl Snapshot {
    /// Asserts the same rows, row by row and by CHECKSUM TABLE, as `before`.
    pub fn assert_same_data(&self, before: &Snapshot) {
        assert_eq!(self.rows, before.rows);
        assert_eq!(self.checksums, before.checksums);
    }
}

const MARK: &str = "~~~answer~~~";

impl Drop for TestDb {
    fn drop(&mut self) {
        if std::env::var_os("DB_BACKUP_TEST_KEEP_DB").is_some() {
            eprintln!("kept database {} (user {})", self.name, self.user);
            return;
        }
        let sql = format!(
            "DROP DATABASE IF EXISTS `{}`; DROP USER IF EXISTS '{}'@'%';",
            self.name, self.user
        );
        // Never panic here: this may run while a failed assertion unwinds.
        let mut c = self.server.admin();
        c.args(["--batch", "--skip-column-names"]);
        let _ = pipe(c, sql.as_bytes());
    }
}

/// Runs a backup of `db` from a fresh app reaching it through `via`; returns the app and the
/// one backup file it made (checked: `.sql` name in `storage/app/backups`, mode 0600).
pub fn backup(db: &TestDb, via: Via) -> (App, PathBuf) {
    let app = db.app(via);
    app.ok(&[]);
    let file = only_backup(&app);
    (app, file)
}

/// The single final-name backup of `app`, checked for its name and mode.
pub fn only_backup(app: &App) -> PathBuf {
    let names = app.backups();
    assert_eq!(names.len(), 1, "one backup expected: {:?}", app.entries());
    assert!(names[0].ends_with(".sql"), "{names:?}");
    let path = app.backups_dir().join(&names[0]);
    assert_eq!(super::mode(&path), 0o600, "{}", path.display());
    path
}

/// The usual check: back up `db` over TCP, load the file into a fresh database with the stock
/// client, and assert both hold the same. Returns the dump's text and the copy.
pub fn round_trip(db: &TestDb) -> (String, TestDb) {
    let (_app, file) = backup(db, Via::Tcp);
    let dump = String::from_utf8_lossy(&fs::read(&file).unwrap()).into_owned();
    let copy = db.sibling();
    copy.load(&file);
    db.assert_same_as(&copy);
    (dump, copy)
}

/// Every statement of `dump` that starts with `prefix` (up to its `;` at the end of a line).
pub fn statements<'a>(dump: &'a str, prefix: &str) -> Vec<&'a str> {
    dump.match_indices(prefix)
        .map(|(i, _)| {
            let rest = &dump[i..];
            let end = rest.find(";\n").map(|e| e + 1).unwrap_or(rest.len());
            &rest[..end]
        })
        .collect()
}

/// Writes to `file` what an admin gets from the stock `mysqldump` 9.7 on our MySQL server, which
/// has GTIDs on: `mysqldump --single-transaction --routines --triggers --events db`, run as the
/// admin account (with GTIDs on it needs RELOAD for its FLUSH TABLES WITH READ LOCK, and
/// PROCESS for the tablespaces, which an app's account lacks). The file turns the binary log
/// off for its session and sets `@@GLOBAL.GTID_PURGED` (see the harness test that shows its
/// head).
pub fn stock_mysqldump(db: &TestDb, file: &Path) {
    let s = db.server;
    assert_eq!(s.flavor, Flavor::MySql, "mysqldump is MySQL's tool");
    let out = s
        .dump_tool(&s.user, &s.password)
        .args([
            "--single-transaction",
            "--routines",
            "--triggers",
            "--events",
            &db.name,
        ])
        .stdout(File::create(file).unwrap())
        .stderr(Stdio::piped())
        .output()
        .expect("run mysqldump");
    super::assert_success(&out);
}

/// Plants an older `.sql` backup with known content, to prove a failing run leaves it alone.
pub fn plant_old_sql_backup(app: &App) -> (PathBuf, Vec<u8>) {
    fs::create_dir_all(app.backups_dir()).unwrap();
    let path = app
        .backups_dir()
        .join("database_backup_2020-01-01_000000.sql");
    let content = b"-- an older backup that must survive\n".to_vec();
    fs::write(&path, &content).unwrap();
    (path, content)
}

/// `assert_clean_failure` (exit 1, one `db-backup: error:` line, no new final-name file, the
/// older backup intact), plus: each of `needles` appears in that line (case-insensitive), and
/// no temporary file is left beside the backups.
pub fn assert_fails(app: &App, out: &Output, old: &(PathBuf, Vec<u8>), needles: &[&str]) {
    super::assert_clean_failure(app, out, 1, "", old);
    let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
    for n in needles {
        assert!(
            err.contains(&n.to_lowercase()),
            "{err:?} should mention {n:?}"
        );
    }
    let left: Vec<String> = app
        .entries()
        .into_iter()
        .filter(|e| e != ".db-backup.lock" && !super::is_backup_name(e))
        .collect();
    assert!(left.is_empty(), "temporary files left behind: {left:?}");
}

/// The stock tables of the health-centre app as Laravel migrations make them on MySQL, created
/// in an order that differs from both alphabetical and dependency order for the loader
/// (`inventaires` sorts before the `products` it references), a view on a view (`balance_view`
/// reads `moves_view`, and sorts before it), triggers (one with a BEGIN…END body, one whose
/// effect would be applied twice if it were restored before the data), a procedure, a function
/// and an event. All created by the app's user, as migrations would.
pub fn stock_objects(db: &TestDb) {
    db.sql(
        "CREATE TABLE products (
           id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
           name VARCHAR(255) NOT NULL,
           unit VARCHAR(50) NULL,
           stock INT NOT NULL DEFAULT 0,
           created_at TIMESTAMP NULL, updated_at TIMESTAMP NULL,
           UNIQUE KEY products_name_unique (name)
         ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
         CREATE TABLE receptions (
           id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
           product_id BIGINT UNSIGNED NOT NULL,
           quantity INT NOT NULL,
           received_at DATE NULL,
           note VARCHAR(100) NULL,
           CONSTRAINT receptions_product_id_foreign FOREIGN KEY (product_id) REFERENCES products (id) ON DELETE CASCADE
         ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
         CREATE TABLE sorties (
           id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
           product_id BIGINT UNSIGNED NOT NULL,
           quantity INT NOT NULL,
           left_at DATE NULL,
           note VARCHAR(100) NULL,
           CONSTRAINT sorties_product_id_foreign FOREIGN KEY (product_id) REFERENCES products (id) ON DELETE CASCADE
         ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
         CREATE TABLE inventaires (
           id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
           product_id BIGINT UNSIGNED NOT NULL,
           counted INT NOT NULL,
           counted_at DATETIME NULL,
           CONSTRAINT inventaires_product_id_foreign FOREIGN KEY (product_id) REFERENCES products (id)
         ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
         INSERT INTO products (name, unit, stock, created_at) VALUES
           ('Paracétamol 500mg', 'boîte', 120, '2026-11-01 08:00:00'),
           ('Amoxicilline', 'flacon', 40, '2026-11-01 08:00:00'),
           ('Gants nitrile', 'paire', 900, NULL);
         DELIMITER //
         CREATE TRIGGER sorties_after_insert AFTER INSERT ON sorties FOR EACH ROW
           UPDATE products SET stock = stock - NEW.quantity WHERE id = NEW.product_id//
         CREATE TRIGGER receptions_before_insert BEFORE INSERT ON receptions FOR EACH ROW
         BEGIN
           IF NEW.quantity <= 0 THEN
             SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'quantité invalide';
           END IF;
         END//
         CREATE PROCEDURE restock(IN pid BIGINT UNSIGNED, IN qty INT)
         BEGIN
           INSERT INTO receptions (product_id, quantity, received_at, note) VALUES (pid, qty, CURDATE(), 'restock');
           UPDATE products SET stock = stock + qty WHERE id = pid;
         END//
         CREATE FUNCTION stock_of(pid BIGINT UNSIGNED) RETURNS INT READS SQL DATA
         BEGIN
           RETURN (SELECT stock FROM products WHERE id = pid);
         END//
         CREATE EVENT nightly_inventory ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 02:00:00'
           ON COMPLETION PRESERVE DISABLE COMMENT 'inventaire de nuit'
           DO INSERT INTO inventaires (product_id, counted, counted_at) SELECT id, stock, NOW() FROM products//
         DELIMITER ;
         INSERT INTO receptions (product_id, quantity, received_at, note) VALUES
           (1, 100, '2026-11-01', 'livraison ''CAMEG'''), (2, 50, '2026-11-02', NULL);
         INSERT INTO sorties (product_id, quantity, left_at, note) VALUES
           (1, 10, '2026-11-03', 'pédiatrie'), (3, 200, '2026-11-04', 'bloc');
         INSERT INTO inventaires (product_id, counted, counted_at) VALUES (1, 110, '2026-11-05 17:30:00');
         CREATE VIEW moves_view AS
           SELECT product_id, quantity AS qty_in, 0 AS qty_out FROM receptions
           UNION ALL SELECT product_id, 0, quantity FROM sorties;
         CREATE VIEW balance_view AS
           SELECT p.id, p.name, COALESCE(SUM(m.qty_in - m.qty_out), 0) AS balance
           FROM products p LEFT JOIN moves_view m ON m.product_id = p.id GROUP BY p.id, p.name;",
    );
}

/// Adds `rows` rows of ~100 bytes to a `filler` table.
pub fn filler(db: &TestDb, rows: u64) {
    db.sql(&format!(
        "CREATE TABLE IF NOT EXISTS filler (id INT UNSIGNED NOT NULL PRIMARY KEY, label VARCHAR(120) NOT NULL) ENGINE=InnoDB;
         INSERT INTO filler SELECT seq, CONCAT('filler row ', seq, ' ', REPEAT(CHAR(97 + seq % 26), 80)) FROM {};",
        numbers(rows)
    ));
}

/// A derived table `numbers` whose column `seq` holds 1 to `n`, in SQL that both servers run
/// (MariaDB's seq_1_to_N tables do not exist in MySQL, whose recursive CTEs stop at 1000 rows
/// by default): a cross join of digit tables.
pub fn numbers(n: u64) -> String {
    let digits = (0..10)
        .map(|d| format!("SELECT {d} AS d"))
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let width = n.saturating_sub(1).to_string().len();
    let value = (0..width)
        .map(|i| format!("{}*d{i}.d", 10u64.pow(i as u32)))
        .collect::<Vec<_>>()
        .join(" + ");
    let from = (0..width)
        .map(|i| format!("({digits}) AS d{i}"))
        .collect::<Vec<_>>()
        .join(" CROSS JOIN ");
    format!("(SELECT 1 + {value} AS seq FROM {from} WHERE {value} < {n}) AS numbers")
}

/// Backtick-quotes an identifier.
pub fn ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// A SQL string literal (for sessions without NO_BACKSLASH_ESCAPES).
pub fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
}

/// A SQL expression for these bytes in this character set that survives any sql_mode:
/// `CONVERT(0x… USING cs)`, or `''` for none.
pub fn text(bytes: &[u8], charset: &str) -> String {
    if bytes.is_empty() {
        return "''".into();
    }
    format!("CONVERT(0x{} USING {charset})", hex(bytes))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// The expression `rows` reads a column of this DATA_TYPE through, so that equal text means
/// equal stored value.
///
/// FLOAT: MariaDB prints a FLOAT column with only 6 significant digits (16777216 prints as
/// 16777200, 0.3333333432674408 as 0.333333), so `SELECT f` cannot tell floats apart. Widening
/// to DOUBLE is exact, and a DOUBLE prints as the shortest text that reads back to the same
/// double (up to 17 digits), so `CAST(f AS DOUBLE)` text is equal exactly when the float bits
/// are — except the sign of zero, which MariaDB does not keep anyway (it stores -0e0 as +0).
/// CHECKSUM TABLE, which hashes the stored bytes, backs this up in `assert_same_as`.
pub fn exact_expr(col: &str, data_type: &str) -> String {
    match data_type {
        "float" => format!("CAST({col} AS DOUBLE)"),
        "tinyint" | "smallint" | "mediumint" | "int" | "bigint" | "decimal" | "double" | "date"
        | "datetime" | "time" | "timestamp" | "year" => col.to_string(),
        // BIT: HEX of the number; strings, binaries, JSON, ENUM, SET, geometries (SRID + WKB),
        // UUID/INET: HEX of their bytes.
        _ => format!("HEX({col})"),
    }
}

/// Undoes the escaping of `mariadb --batch` (\\, \t, \n, \0).
pub fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('0') => out.push('\0'),
            Some('\\') => out.push('\\'),
            Some(o) => {
                out.push('\\');
                out.push(o);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A 127.0.0.1 port nothing listens on (bound then released).
pub fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Compares two line lists and reports the first difference rather than two huge dumps.
pub fn assert_lines_eq(what: &str, src: &[String], copy: &[String]) {
    if src == copy {
        return;
    }
    let i = src
        .iter()
        .zip(copy)
        .position(|(a, b)| a != b)
        .unwrap_or(src.len().min(copy.len()));
    panic!(
        "{what}: the restored copy differs ({} lines in the source, {} in the copy); first difference at line {i}:\n  source: {}\n  copy:   {}",
        src.len(),
        copy.len(),
        src.get(i).map(|s| short(s)).unwrap_or("<none>".into()),
        copy.get(i).map(|s| short(s)).unwrap_or("<none>".into()),
    );
}

fn short(s: &str) -> String {
    if s.len() <= 3000 {
        s.to_string()
    } else {
        let mut end = 3000;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}… ({} bytes)", &s[..end], s.len())
    }
}

fn col(line: &str, i: usize) -> String {
    line.split('\t').nth(i).unwrap_or("").to_string()
}

fn strip_definer(create: &str) -> String {
    // Quoted with backticks, or with double quotes when printed under ANSI_QUOTES.
    regex::Regex::new(
        r#"DEFINER=(?:`(?:[^`]|``)*`|"(?:[^"]|"")*")@(?:`(?:[^`]|``)*`|"(?:[^"]|"")*")\s*"#,
    )
    .unwrap()
    .replace_all(create, "")
    .into_owned()
}

/// "ERROR 1064 (42000) at line 12: …" → that line of the dump, to show what the client choked on.
fn failing_line(dump: &Path, err: &str) -> String {
    let Some(n) = regex::Regex::new(r"at line (\d+)")
        .unwrap()
        .captures(err)
        .and_then(|c| c[1].parse::<usize>().ok())
    else {
        return String::new();
    };
    let bytes = fs::read(dump).unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes);
    match text.lines().nth(n.saturating_sub(1)) {
        Some(l) => format!("\nline {n} of the dump: {}", short(l)),
        None => String::new(),
    }
}

/// Runs the client in batch mode with `sql` on stdin; panics with the client's error.
fn run_sql(mut cmd: Command, db: Option<&str>, sql: &str) -> String {
    cmd.args([
        "--batch",
        "--skip-column-names",
        "--default-character-set=utf8mb4",
    ]);
    if let Some(db) = db {
        cmd.arg(format!("--database={db}"));
    }
    let out = pipe(cmd, sql.as_bytes()).expect("run the stock client");
    if !out.status.success() {
        panic!(
            "the stock client failed ({}): {}\nSQL: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim(),
            short(sql)
        );
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `cmd` with `input` on stdin (written from a thread: no pipe deadlock).
pub fn pipe(mut cmd: Command, input: &[u8]) -> std::io::Result<Output> {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn()?;
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output();
    let _ = writer.join();
    out
}
