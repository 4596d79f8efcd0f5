//! MySQL/MariaDB backups end to end: the real binary against real MariaDB 10.11 and MySQL 9.7
//! servers, the file loaded back with the server's own stock client into a fresh database and
//! compared with the source (see tests/common/mysql/).

mod common;

use std::time::{Duration, Instant};

use common::mysql::*;
use common::*;

/// Back up the stock schema through `via`, restore it elsewhere, compare, and check the file.
fn stock_round_trip(server: &'static Server, driver: &str, via: Via) {
    let db = TestDb::on(server);
    stock_objects(&db);
    let app = App::bare(&db.env_text_as(driver, via));
    let before = chrono::Utc::now().naive_utc();
    let stdout = app.ok(&[]);
    let file = only_backup(&app);

    // Named and placed like the SQLite backups, and said so on stdout.
    let name = file.file_name().unwrap().to_str().unwrap().to_string();
    let stamp = chrono::NaiveDateTime::parse_from_str(&name, "database_backup_%Y-%m-%d_%H%M%S.sql")
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(
        (stamp - before).num_seconds().abs() < 120,
        "{name} is not now in UTC"
    );
    assert!(
        stdout.contains(&format!("storage/app/backups/{name}")),
        "{stdout}"
    );
    assert_eq!(mode(&app.backups_dir()), 0o700);
    assert_eq!(
        app.entries()
            .into_iter()
            .filter(|e| e != ".db-backup.lock")
            .collect::<Vec<_>>(),
        vec![name.clone()],
        "nothing but the backup beside it"
    );

    let copy = TestDb::on(server);
    copy.load(&file);
    db.assert_same_as(&copy);
    // Triggers came after the data: the stock was not decremented a second time on restore.
    assert_eq!(
        copy.sql("SELECT stock FROM products ORDER BY id"),
        "110\n40\n700\n"
    );
    // Views, the function and the procedure work in the copy without the source around.
    drop(db);
    assert_eq!(
        copy.sql("SELECT name, balance FROM balance_view ORDER BY id"),
        "Paracétamol 500mg\t90\nAmoxicilline\t50\nGants nitrile\t-200\n"
    );
    copy.sql("CALL restock(2, 5)");
    assert_eq!(copy.sql("SELECT stock_of(2)"), "45\n");
}

test_on_both!(backup_over_tcp_restores_everything);
fn backup_over_tcp_restores_everything(server: &'static Server) {
    stock_round_trip(server, "mysql", Via::Tcp);
}

test_on_both!(backup_over_the_unix_socket_which_wins_over_host_and_port);
fn backup_over_the_unix_socket_which_wins_over_host_and_port(server: &'static Server) {
    stock_round_trip(server, "mysql", Via::Socket);
}

test_on_both!(backup_from_db_url);
fn backup_from_db_url(server: &'static Server) {
    stock_round_trip(server, "mysql", Via::DbUrl);
}

test_on_both!(backup_from_database_url);
fn backup_from_database_url(server: &'static Server) {
    stock_round_trip(server, "mysql", Via::DatabaseUrl);
}

test_on_both!(db_connection_mariadb);
fn db_connection_mariadb(server: &'static Server) {
    stock_round_trip(server, "mariadb", Via::Tcp);
}

test_on_both!(keep_retention_across_runs);
fn keep_retention_across_runs(server: &'static Server) {
    let db = TestDb::on(server);
    stock_objects(&db);
    let app = db.app(Via::Tcp);
    let old = plant_old_sql_backup(&app);
    let mut made = Vec::new();
    for _ in 0..3 {
        app.ok(&["--keep=2", "--quiet"]);
        let names = app.backups();
        made.push(names.last().unwrap().clone());
    }
    made.dedup();
    assert_eq!(made.len(), 3, "three distinct backups: {made:?}");
    assert_eq!(app.backups(), made[1..], "the newest two are kept");
    assert!(!old.0.exists(), "the planted 2020 backup is the oldest");
    for n in app.backups() {
        TestDb::on(server).load(&app.backups_dir().join(n));
    }
}

test_on_both!(password_never_shows_in_outputs_files_or_command_lines);
fn password_never_shows_in_outputs_files_or_command_lines(server: &'static Server) {
    let db = TestDb::on(server);
    stock_objects(&db);
    filler(&db, 50_000);
    for (via, args) in [
        (Via::Tcp, &[][..]),
        (Via::DbUrl, &["--json"][..]),
        (Via::DatabaseUrl, &["--dry-run"][..]),
    ] {
        let app = db.app(via);
        let (out, seen) = run_watching_command_lines(&app, args, &db.token);
        common::assert_success(&out);
        assert!(seen.is_empty(), "password on a command line: {seen:?}");
        for text in [&out.stdout, &out.stderr] {
            assert!(
                !String::from_utf8_lossy(text).contains(&db.token),
                "password printed"
            );
        }
        for n in app.backups() {
            let dump = std::fs::read(app.backups_dir().join(n)).unwrap();
            assert!(
                !String::from_utf8_lossy(&dump).contains(&db.token),
                "password in the dump"
            );
        }
    }
    // Nor in the error of a run that fails after reading it (URL naming an unknown database).
    let app = App::bare(
        &db.env_text(Via::DbUrl)
            .replace(&format!("/{}\n", db.name), "/no_such_db\n"),
    );
    let (out, seen) = run_watching_command_lines(&app, &[], &db.token);
    assert_eq!(out.status.code(), Some(1));
    assert!(seen.is_empty(), "password on a command line: {seen:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains(&db.token), "password in the error: {err}");
    assert!(
        !err.contains("Pw%40"),
        "URL with its password in the error: {err}"
    );
}

/// Runs db-backup and, while it runs, reads the command line of every process on the machine
/// (ours, and anything it spawns) looking for `token`.
fn run_watching_command_lines(
    app: &App,
    args: &[&str],
    token: &str,
) -> (std::process::Output, Vec<String>) {
    let mut child = app
        .cmd(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut seen = Vec::new();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() && start.elapsed() < Duration::from_secs(120) {
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
                let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
                if cmdline.contains(token) {
                    seen.push(cmdline);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    (child.wait_with_output().unwrap(), seen)
}

test_on_both!(definers_are_left_out);
fn definers_are_left_out(server: &'static Server) {
    let db = TestDb::on(server);
    stock_objects(&db);
    let (dump, copy) = round_trip(&db);
    let definer = regex::Regex::new(r"(?i)DEFINER\s*=").unwrap();
    let found: Vec<&str> = dump.lines().filter(|l| definer.is_match(l)).collect();
    assert!(found.is_empty(), "DEFINER clauses in the dump: {found:?}");
    // Whoever loads it owns the objects.
    let owners = copy.admin_sql(
        "SELECT DISTINCT DEFINER FROM information_schema.VIEWS WHERE TABLE_SCHEMA = DATABASE()
         UNION SELECT DEFINER FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()
         UNION SELECT DEFINER FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE()
         UNION SELECT DEFINER FROM information_schema.EVENTS WHERE EVENT_SCHEMA = DATABASE()",
    );
    assert!(
        owners.lines().count() == 1 && owners.starts_with(&format!("{}@", copy.server.user)),
        "objects owned by the loader, not {}: {owners}",
        db.user
    );
}

test_on_both!(header_and_footer_in_the_mysqldump_tradition);
fn header_and_footer_in_the_mysqldump_tradition(server: &'static Server) {
    let db = TestDb::on(server);
    stock_objects(&db);
    let (_app, file) = backup(&db, Via::Tcp);
    let dump = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();

    // Loads with either client: no MariaDB-only first line (mariadb-dump ≥ 10.5.25/10.6.18/
    // 10.11.8 starts with `/*M!999999\- enable the sandbox mode */`, which MySQL's client
    // rejects), no GTID or histogram statements.
    let first = dump.lines().next().unwrap_or("");
    assert!(
        !first.starts_with("/*M!"),
        "MariaDB-only first line: {first}"
    );
    assert!(!dump.contains("sandbox mode"), "sandbox-mode line");
    for bad in [
        "GTID_PURGED",
        "gtid_slave_pos",
        "HISTOGRAM",
        "column_stats",
        "PERSISTENT FOR",
    ] {
        assert!(
            !dump.to_uppercase().contains(&bad.to_uppercase()),
            "{bad} in the dump"
        );
    }

    // The header, before the first CREATE: utf8mb4, UTC, checks off, NO_AUTO_VALUE_ON_ZERO.
    let head = &dump[..dump.find("CREATE").expect("a CREATE statement")];
    for (what, re) in [
        ("SET NAMES utf8mb4", r"(?i)SET\s+NAMES\s+'?utf8mb4"),
        ("TIME_ZONE='+00:00'", r"(?i)TIME_ZONE\s*=\s*'\+00:00'"),
        ("FOREIGN_KEY_CHECKS=0", r"(?i)FOREIGN_KEY_CHECKS\s*=\s*0"),
        ("UNIQUE_CHECKS=0", r"(?i)UNIQUE_CHECKS\s*=\s*0"),
        (
            "NO_AUTO_VALUE_ON_ZERO",
            r"(?i)SQL_MODE\s*=\s*'[^']*NO_AUTO_VALUE_ON_ZERO",
        ),
    ] {
        assert!(
            regex::Regex::new(re).unwrap().is_match(head),
            "{what} missing from the header:\n{head}"
        );
    }

    // Restored at the end: a session that loads the file between its own statements gets its
    // own settings back. (Piped rather than `source`d: MySQL 9.7's client runs no client
    // commands from piped input unless given --commands.)
    let mut script = b"SET NAMES latin1; SET time_zone = '-03:00'; SET sql_mode = 'STRICT_ALL_TABLES'; SET sql_notes = 1;\n".to_vec();
    script.extend(std::fs::read(&file).unwrap());
    script.extend(b"\nSELECT @@foreign_key_checks, @@unique_checks, @@time_zone, @@sql_mode, @@character_set_client, @@collation_connection, @@sql_notes;\n");
    let copy = TestDb::on(server);
    let mut client = server.admin();
    client.args(["--batch", "--skip-column-names", &copy.name]);
    let out = pipe(client, &script).unwrap();
    common::assert_success(&out);
    let out = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.lines().last().unwrap(),
        "1\t1\t-03:00\tSTRICT_ALL_TABLES\tlatin1\tlatin1_swedish_ci\t1",
        "session settings after loading the dump (checks, time zone, sql_mode, charset, notes)"
    );
    db.assert_same_as(&copy);
}

test_on_both!(tables_are_ordered_so_the_file_loads_with_foreign_key_checks_on);
fn tables_are_ordered_so_the_file_loads_with_foreign_key_checks_on(server: &'static Server) {
    let db = TestDb::on(server);
    stock_objects(&db);
    let (_app, file) = backup(&db, Via::Tcp);
    // Take the dump's FOREIGN_KEY_CHECKS=0 away: parents must come before their children.
    let dump = std::fs::read(&file).unwrap();
    let text = String::from_utf8_lossy(&dump);
    let re = regex::Regex::new(r"(?i)(FOREIGN_KEY_CHECKS\s*=\s*)0").unwrap();
    assert!(re.is_match(&text), "no FOREIGN_KEY_CHECKS=0 in the dump");
    let strict = re.replace_all(&text, "${1}1");
    let checked = file.with_extension("fk-checked");
    std::fs::write(&checked, strict.as_bytes()).unwrap();
    let copy = TestDb::on(server);
    copy.load(&checked);
    db.assert_same_as(&copy);
}

test_on_both!(loads_twice_over_itself);
fn loads_twice_over_itself(server: &'static Server) {
    // DROP … IF EXISTS before every object: restoring over a live copy works.
    let db = TestDb::on(server);
    stock_objects(&db);
    let (_app, file) = backup(&db, Via::Tcp);
    let copy = TestDb::on(server);
    copy.load(&file);
    copy.load(&file);
    db.assert_same_as(&copy);
}

test_on_both!(dry_run_writes_nothing);
fn dry_run_writes_nothing(server: &'static Server) {
    let db = TestDb::on(server);
    stock_objects(&db);
    let app = db.app(Via::Tcp);
    let out = app.ok(&["--dry-run"]);
    assert!(out.contains("database_backup_"), "{out}");
    assert!(out.contains(".sql"), "{out}");
    assert!(app.backups().is_empty(), "{:?}", app.entries());
}

test_on_both!(db_host_localhost_means_the_usual_socket);
/// Called directly with `DB_HOST=localhost` (as PDO reads it: the Unix socket), on a server
/// with no TCP at all, whose socket is where Debian's PHP looks: /run/mysqld/mysqld.sock (in a
/// private mount namespace, so this machine's own server stays out of sight).
fn db_host_localhost_means_the_usual_socket(server: &'static Server) {
    let server = server.socket_only();
    let db = TestDb::on(server);
    stock_objects(&db);
    let app = App::bare(&format!(
        "DB_CONNECTION=mysql\nDB_HOST=localhost\nDB_PORT=3306\nDB_DATABASE={}\nDB_USERNAME={}\nDB_PASSWORD=\"{}\"\n",
        db.name, db.user, db.password
    ));
    let out = with_default_mysql_socket(&app.cmd(&[]), server.socket())
        .output()
        .expect("unshare (util-linux) is needed: apt-get install util-linux");
    assert_success(&out);
    let copy = TestDb::on(server);
    copy.load(&only_backup(&app));
    db.assert_same_as(&copy);
}

test_on_both!(the_dump_is_read_back_and_checked_before_it_is_published);
fn the_dump_is_read_back_and_checked_before_it_is_published(server: &'static Server) {
    let db = TestDb::on(server);
    stock_objects(&db);
    // Strings holding what a naive row counter would trip on.
    db.sql(
        "CREATE TABLE notes (id INT PRIMARY KEY, body TEXT);
         INSERT INTO notes VALUES (1, 'a),(b'), (2, 'it''s; \\\\'), (3, '\\n(\\')'), (4, NULL);",
    );
    let app = db.app(Via::Tcp);
    let out = app.ok(&["--json"]);
    let json: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(json["method"], "dump", "{json}");
    assert_eq!(json["check"], "read back", "{json}");
    assert!(json["phases_ms"]["check"].is_u64(), "{json}");
    only_backup(&app);
}
