//! The MySQL-side harness itself, independent of the engine, on MariaDB 10.11 and on MySQL 9.7:
//! the server starts (or is reused) and is the one promised, a test database comes and goes,
//! and the comparison catches a difference. If these fail, the mysql_* failures are the
//! harness's, not the engine's.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};

use common::mysql::*;

test_on_both!(harness_starts_a_server);
fn harness_starts_a_server(server: &'static Server) {
    let db = TestDb::on(server);
    db.sql("CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(20)); INSERT INTO t VALUES (1, 'é'), (2, NULL);");
    assert_eq!(db.tables(), ["t"]);
    assert_eq!(db.rows("t"), ["1\tC3A9", "2\tNULL"]);
    assert!(!db.checksum("t").is_empty());
    // The app's user reaches it over TCP too, with the password from MYSQL_PWD only.
    let out = db
        .server
        .over_tcp()
        .client(&db.user, &db.password)
        .args([
            "--batch",
            "--skip-column-names",
            &db.name,
            "-e",
            "SELECT COUNT(*) FROM t",
        ])
        .output()
        .unwrap();
    common::assert_success(&out);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "2");
    // Its grants are the database's and nothing more.
    let grants = db.sql("SHOW GRANTS");
    assert!(grants.contains("ALL PRIVILEGES ON"), "{grants}");
    assert_eq!(grants.lines().count(), 2, "{grants}");
}

test_on_both!(harness_database_is_dropped_with_its_user);
fn harness_database_is_dropped_with_its_user(server: &'static Server) {
    let (name, user) = {
        let db = TestDb::on(server);
        (db.name.clone(), db.user.clone())
    };
    let left = server.admin_sql(
        None,
        &format!(
            "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '{name}';
             SELECT COUNT(*) FROM mysql.user WHERE User = '{user}';"
        ),
    );
    assert_eq!(left, "0\n0\n");
}

test_on_both!(harness_comparison_passes_a_faithful_copy_and_catches_a_changed_bit);
fn harness_comparison_passes_a_faithful_copy_and_catches_a_changed_bit(server: &'static Server) {
    let db = TestDb::on(server);
    stock_objects(&db);
    // The reference tool makes the faithful copy (of everything but FLOATs: mariadb-dump writes
    // them with 6 significant digits, 16777216 as 16777200). mysqldump would also set the
    // GTIDs it saw as purged, which the server that executed them refuses.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ref.sql");
    let s = db.server;
    let mut dump = s.dump_tool(&s.user, &s.password);
    if s.flavor == Flavor::MySql {
        dump.arg("--set-gtid-purged=OFF");
    }
    let out = dump
        .args([
            "--single-transaction",
            "--routines",
            "--events",
            "--triggers",
        ])
        .arg(&db.name)
        .stdout(std::fs::File::create(&file).unwrap())
        .output()
        .unwrap();
    common::assert_success(&out);
    // Its DEFINER clauses would name the source's user, who has no rights on the copy.
    let text = std::fs::read_to_string(&file).unwrap();
    let text = regex::Regex::new(r"DEFINER=`[^`]*`@`[^`]*`")
        .unwrap()
        .replace_all(&text, "");
    std::fs::write(&file, text.as_bytes()).unwrap();
    let copy = TestDb::on(server);
    copy.load(&file);
    db.assert_same_as(&copy);

    // FLOAT prints 16777200 for both 16777216 and 16777218; the comparison must still see it.
    for d in [&db, &copy] {
        d.admin_sql("CREATE TABLE f (id INT PRIMARY KEY, x FLOAT); INSERT INTO f VALUES (1, 16777216), (2, 0.1);");
    }
    db.assert_same_as(&copy);
    copy.admin_sql("UPDATE f SET x = 16777218 WHERE id = 1");
    let caught = catch_unwind(AssertUnwindSafe(|| db.assert_same_as(&copy)));
    assert!(caught.is_err(), "a changed float went unnoticed");
    copy.admin_sql("UPDATE f SET x = 16777216 WHERE id = 1");
    db.assert_same_as(&copy);
    copy.admin_sql("DROP TRIGGER sorties_after_insert");
    let caught = catch_unwind(AssertUnwindSafe(|| db.assert_same_as(&copy)));
    assert!(caught.is_err(), "a missing trigger went unnoticed");
}

test_on_both!(harness_odd_server_has_hostile_settings);
fn harness_odd_server_has_hostile_settings(server: &'static Server) {
    let db = TestDb::on(server.odd());
    let out = db.sql("SELECT @@GLOBAL.sql_mode, @@GLOBAL.time_zone, @@character_set_server");
    assert!(out.contains("NO_BACKSLASH_ESCAPES"), "{out}");
    assert!(out.contains("ANSI_QUOTES"), "{out}");
    assert!(out.contains("Europe/Paris"), "{out}");
    assert!(out.contains("latin1"), "{out}");
    // Two instants one hour apart print the same in Paris on 2026-10-25.
    let out = db.sql(
        "SELECT CONVERT_TZ('2026-10-25 00:30:00', '+00:00', 'Europe/Paris') = CONVERT_TZ('2026-10-25 01:30:00', '+00:00', 'Europe/Paris')",
    );
    assert_eq!(out.trim(), "1");
}

test_on_both!(harness_url_and_env_text);
fn harness_url_and_env_text(server: &'static Server) {
    let db = TestDb::on(server);
    let env = db.env_text(Via::DbUrl);
    assert!(
        env.contains(&format!("{}:Pw%40{}%3AZq%219@", db.user, db.token)),
        "{env}"
    );
    if db.server.socket.is_some() {
        let env = db.env_text(Via::Socket);
        assert!(env.contains("DB_SOCKET="), "{env}");
    }
    let env = db.env_text_as("mariadb", Via::Tcp);
    assert!(env.contains("DB_CONNECTION=mariadb\n"), "{env}");
    assert!(
        env.contains(&format!("DB_PASSWORD=\"{}\"", db.password)),
        "{env}"
    );
}

test_on_both!(harness_server_is_the_one_promised);
/// MariaDB 10.11; MySQL 9.7 as MySQL 8+ runs by default (binary log, caching_sha2_password for
/// new accounts, its default collation) plus GTIDs; both speak TLS with the harness's CA.
fn harness_server_is_the_one_promised(server: &'static Server) {
    let db = TestDb::on(server);
    let version = db.sql("SELECT VERSION()");
    let tls = db.admin_sql(&format!(
        "SELECT plugin FROM mysql.user WHERE User = '{}'",
        db.user
    ));
    match server.flavor {
        Flavor::MariaDb => assert!(version.starts_with("10.11."), "{version}"),
        Flavor::MySql => {
            assert!(version.starts_with("9.7."), "{version}");
            assert_eq!(tls, "caching_sha2_password\n");
            assert_eq!(
                db.sql(
                    "SELECT @@log_bin, @@gtid_mode, @@enforce_gtid_consistency, @@collation_server"
                ),
                "1\tON\tON\tutf8mb4_0900_ai_ci\n"
            );
        }
    }
    // TLS with our CA: the stock client, told to verify the server against it, gets in.
    let ca = server.client_file(&tls_ca());
    let out = db
        .server
        .over_tcp()
        .client(&db.user, &db.password)
        .args(match server.flavor {
            Flavor::MariaDb => vec!["--ssl-verify-server-cert".to_string()],
            Flavor::MySql => vec!["--ssl-mode=VERIFY_IDENTITY".to_string()],
        })
        .arg(format!("--ssl-ca={}", ca.path.display()))
        .args(["--batch", "--skip-column-names", "-e"])
        .arg("SHOW SESSION STATUS LIKE 'Ssl_version'")
        .output()
        .unwrap();
    common::assert_success(&out);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("TLSv1."),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// What a stock `mysqldump` 9.7 file taken with GTIDs on starts with (`stock_mysqldump`), the
/// facts the restore of such files builds on; `--nocapture` prints its first 40 lines.
#[test]
fn harness_stock_mysqldump_head_with_gtids() {
    let db = TestDb::on(mysql());
    stock_objects(&db);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mysqldump.sql");
    stock_mysqldump(&db, &file);
    let text = std::fs::read_to_string(&file).unwrap();
    let head: Vec<&str> = text.lines().take(40).collect();
    eprintln!("{}", head.join("\n"));
    for line in [
        "-- MySQL dump 10.13  Distrib 9.7.",
        "/*!50503 SET NAMES utf8mb4 */;",
        "SET @MYSQLDUMP_TEMP_LOG_BIN = @@SESSION.SQL_LOG_BIN;",
        "SET @@SESSION.SQL_LOG_BIN= 0;",
        "-- GTID state at the beginning of the backup ",
    ] {
        assert!(
            head.iter().any(|l| l.starts_with(line)),
            "{line:?} is not at the head of the stock dump"
        );
    }
    let purged =
        regex::Regex::new(r"(?m)^SET @@GLOBAL.GTID_PURGED=/\*!80000 '\+'\*/ '([^']*)';$").unwrap();
    let set = &purged
        .captures(&text)
        .expect("SET @@GLOBAL.GTID_PURGED in the stock dump")[1];
    // The server's own GTIDs (its UUID, transactions 1 to N) that it had executed by then.
    let uuid = db.server.admin_sql(None, "SELECT @@server_uuid");
    assert!(
        regex::Regex::new(&format!("^{}:1-[0-9]+$", uuid.trim()))
            .unwrap()
            .is_match(set),
        "{set}"
    );
    // And the file's end turns the binary log back on for the session.
    assert!(text.contains("SET @@SESSION.SQL_LOG_BIN = @MYSQLDUMP_TEMP_LOG_BIN;"));
}
