//! The MariaDB harness itself, independent of the engine: the server starts (or is reused), a
//! test database comes and goes, and the comparison catches a difference. If these fail, the
//! mysql_* failures are the harness's, not the engine's.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};

use common::mariadb::*;

#[test]
fn harness_starts_a_server() {
    let db = TestDb::new();
    db.sql("CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(20)); INSERT INTO t VALUES (1, 'é'), (2, NULL);");
    assert_eq!(db.tables(), ["t"]);
    assert_eq!(db.rows("t"), ["1\tC3A9", "2\tNULL"]);
    assert!(!db.checksum("t").is_empty());
    // The app's user reaches it over TCP too, with the password from MYSQL_PWD only.
    let tcp = Server {
        label: "tcp",
        host: db.server.host.clone(),
        port: db.server.port,
        socket: None,
        user: db.server.user.clone(),
        password: db.server.password.clone(),
    };
    let out = tcp
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

#[test]
fn harness_database_is_dropped_with_its_user() {
    let server = server();
    let (name, user) = {
        let db = TestDb::new();
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

#[test]
fn harness_comparison_passes_a_faithful_copy_and_catches_a_changed_bit() {
    let db = TestDb::new();
    stock_objects(&db);
    // The reference tool makes the faithful copy (of everything but FLOATs: mariadb-dump writes
    // them with 6 significant digits, 16777216 as 16777200).
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ref.sql");
    let s = db.server;
    let out = s
        .program("mariadb-dump", &s.user, &s.password)
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
    let copy = TestDb::new();
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

#[test]
fn harness_odd_server_has_hostile_settings() {
    let db = TestDb::on(odd_server());
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

#[test]
fn harness_url_and_env_text() {
    let db = TestDb::new();
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
