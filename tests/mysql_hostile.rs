//! Loading a dump is running it: hand-made hostile dumps, loaded with `verify` and `restore` by
//! an app user with rights on the whole server (as many real set-ups have), on MariaDB 10.11
//! and MySQL 9.7. Each one must be refused before anything changes: a snapshot taken by the
//! server's admin before and after must be equal — other databases, users, global variables,
//! events, scratch databases, XA transactions, the app's own data — and no safety backup is
//! taken for a file that is refused. The corpus grows with every trick found.

mod common;

use common::mysql::*;
use common::App;

/// What the admin sees of the whole server.
#[derive(Debug, PartialEq, Eq)]
struct World {
    databases: Vec<String>,
    users: Vec<String>,
    globals: Vec<String>,
    events: Vec<String>,
    xa: Vec<String>,
    canary: String,
}

/// `mine`: the test's database name: other tests share the server, so only what this test's
/// files could have touched is compared (its databases, its user, any user or event named
/// `evil`), beside the server-wide state.
fn world(server: &Server, other: &str, mine: &str) -> World {
    let lines = |sql: &str| -> Vec<String> {
        server
            .admin_sql(None, sql)
            .lines()
            .map(str::to_string)
            .collect()
    };
    World {
        databases: lines("SHOW DATABASES")
            .into_iter()
            .filter(|d| {
                d.contains(mine) || !d.starts_with("t_") && !d.starts_with("dbbackup_verify_t_")
            })
            .collect(),
        users: lines("SELECT CONCAT(user, '@', host) FROM mysql.user ORDER BY 1")
            .into_iter()
            .filter(|u| !u.starts_with("u_") || u.contains(&mine[2..]))
            .collect(),
        globals: lines(
            "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('max_connections', 'event_scheduler', \
             'general_log', 'sql_mode', 'read_only', 'local_infile', 'max_allowed_packet')",
        ),
        events: lines(
            "SELECT CONCAT(EVENT_SCHEMA, '.', EVENT_NAME) FROM information_schema.EVENTS",
        )
        .into_iter()
        .filter(|e| e.contains(mine) || e.contains("evil"))
        .collect(),
        xa: lines("XA RECOVER"),
        canary: server.admin_sql(
            Some(other),
            "SELECT COUNT(*), COALESCE(SUM(v), 0) FROM canary",
        ),
    }
}

/// The hostile statements, `{o}` standing for another database of the server and `{a}` for
/// the app's own.
const CORPUS: &[&str] = &[
    // Past the first table or token.
    "UPDATE products, {o}.canary SET {o}.canary.v = 0;",
    "DELETE x FROM products u JOIN {o}.canary x;",
    "ALTER TABLE products RENAME {o}.y;",
    "DROP TABLE IF EXISTS a1,a2,a3,a4,a5,a6,a7,a8,a9,a10,a11,a12,a13,a14,a15,a16,a17,a18,a19,a20,a21,a22,a23,a24,a25,a26,a27,a28,a29,a30, {o}.canary;",
    "SET @a1=1,@a2=2,@a3=3,@a4=4,@a5=5,@a6=6,@a7=7,@a8=8,@a9=9,@a10=10, GLOBAL max_connections=7;",
    // Dynamic SQL and bodies.
    "PREPARE s FROM 'DROP DATABASE {o}';\nEXECUTE s;",
    "EXECUTE IMMEDIATE 'CREATE USER evil';",
    "SET STATEMENT max_statement_time=10 FOR DROP TABLE {o}.canary;",
    "DELIMITER ;;\nBEGIN NOT ATOMIC DROP TABLE {o}.canary; END;;\nDELIMITER ;",
    "DELIMITER ;;\nCREATE PROCEDURE evil() BEGIN DROP TABLE {o}.canary; END;;\nDELIMITER ;\nCALL evil();",
    "DELIMITER ;;\nCREATE TRIGGER evil BEFORE INSERT ON products FOR EACH ROW DELETE FROM {o}.canary;;\nDELIMITER ;\nINSERT INTO products VALUES (99,'x',1);",
    "CREATE EVENT evil ON SCHEDULE EVERY 1 SECOND DO DELETE FROM {o}.canary;",
    "CREATE EVENT evil ON SCHEDULE EVERY 1 SECOND DO SET GLOBAL max_connections = 7;",
    "CREATE VIEW evil AS SELECT * FROM {o}.canary;",
    "CREATE TABLE evil (v int) ENGINE=MERGE UNION=({o}.canary) INSERT_METHOD=LAST;",
    "LOAD DATA INFILE '/etc/hostname' INTO TABLE products;",
    "SELECT * FROM products INTO OUTFILE 'evil.txt';",
    "CREATE TABLE evil (a int) DATA DIRECTORY='/tmp';",
    // Version comments the server skips.
    "/*!999999 SELECT */ DROP TABLE {o}.canary;",
    // (on MySQL 9.7 this one is a plain SET GLOBAL once the comment is skipped: skipped too)
    "/*!99999 SELECT */ SET GLOBAL max_connections = 7;",
    "/*!99999 SELECT */ USE {o};\nDROP TABLE canary;",
    // Several statements in one request.
    "DELIMITER ;;\nSELECT 1; DROP TABLE {o}.canary;;\nDELIMITER ;",
    "SET sql_mode='ANSI_QUOTES';\nSELECT 1 AS \"x\\\" ; DROP TABLE {o}.canary; SELECT 1 AS \"\\\";",
    // The rest.
    "XA START 'evil';\nINSERT INTO products VALUES (97,'x',1);\nXA END 'evil';\nXA PREPARE 'evil';",
    "SET sql_mode = CONCAT('NO_BACKSLASH','_ESCAPES');\nINSERT INTO products VALUES (96,'x\\\\',1);",
    "BACKUP STAGE START;\nBACKUP STAGE BLOCK_COMMIT;",
    "ANALYZE TABLE products PERSISTENT FOR ALL;",
    "HANDLER products OPEN;",
    "DO SLEEP(0);",
];

/// What only a verify must refuse: the app's live database, which a restore loads into.
const VERIFY_ONLY: &[&str] = &[
    "INSERT INTO {a}.products VALUES (98,'x',1);",
    "UPDATE products, {a}.products SET {a}.products.stock = 0;",
];

test_on_both!(hostile_dumps_are_refused_before_anything_changes);
fn hostile_dumps_are_refused_before_anything_changes(server: &'static Server) {
    let db = TestDb::on(server);
    stock_objects(&db);
    // A broad app user: without the checker, every statement above would have run.
    db.admin_sql(&format!("GRANT ALL PRIVILEGES ON *.* TO '{}'@'%'", db.user));
    let other = format!("{}_other", db.name);
    server.admin_sql(
        None,
        &format!(
            "CREATE DATABASE `{other}`; CREATE TABLE `{other}`.canary (v int); \
             INSERT INTO `{other}`.canary VALUES (1), (2), (3);"
        ),
    );
    let app: App = db.app(Via::Tcp);
    app.ok(&[]);
    let mut backups = app.backups();
    let before = (world(server, &other, &db.name), db.snapshot());
    let cases = CORPUS
        .iter()
        .map(|c| (c, true))
        .chain(VERIFY_ONLY.iter().map(|c| (c, false)));
    for (n, (case, restore_too)) in cases.enumerate() {
        let body = case.replace("{o}", &other).replace("{a}", &db.name);
        let file = app.root.path().join(format!("hostile-{n}.sql"));
        std::fs::write(
            &file,
            format!("-- a dump from somewhere\n{body}\n-- Dump completed on 2026-12-06\n"),
        )
        .unwrap();
        let mut runs = vec![vec!["verify", file.to_str().unwrap()]];
        if restore_too {
            runs.push(vec!["restore", file.to_str().unwrap(), "--yes"]);
        }
        for args in runs {
            let out = app.run(&args);
            let err = String::from_utf8_lossy(&out.stderr);
            // Refused with its line; or, for a server-wide statement alone, skipped (never sent)
            // with the warning that says so.
            let skipped = out.status.success() && err.contains("skipped `SET GLOBAL");
            if !skipped {
                assert_eq!(out.status.code(), Some(1), "{args:?} of {body:?}: {err}");
                assert!(
                    err.contains(&format!("{} line ", file.display())),
                    "{args:?} of {body:?} is not refused with its line: {err}"
                );
            }
            assert!(
                err.contains("holds privileges on the whole server"),
                "no warning about the broad user: {err}"
            );
            let after = (world(server, &other, &db.name), db.snapshot());
            assert_eq!(after.0, before.0, "{args:?} of {body:?} changed the server");
            after.1.assert_same_data(&before.1);
            assert_eq!(after.1.schema, before.1.schema, "{args:?} of {body:?}");
            if !skipped {
                assert_eq!(app.backups(), backups, "a safety backup for a refused file");
            }
            // A restore that only skipped took its safety backup, as every restore does.
            backups = app.backups();
        }
    }
    server.admin_sql(None, &format!("DROP DATABASE `{other}`"));
}

test_on_both!(verify_creates_events_disabled);
fn verify_creates_events_disabled(server: &'static Server) {
    let db = TestDb::on(server);
    db.admin_sql(&format!(
        "GRANT ALL PRIVILEGES ON `dbbackup\\_verify\\_%`.* TO '{}'@'%'",
        db.user
    ));
    let app = db.app(Via::Tcp);
    let file = app.root.path().join("events.sql");
    // An enabled event, then a statement that takes 3 s (a trigger), so the admin can look.
    std::fs::write(
        &file,
        "CREATE TABLE t (a int);\n\
         CREATE EVENT e ON SCHEDULE EVERY 1 SECOND ON COMPLETION PRESERVE ENABLE COMMENT 'x' DO INSERT INTO t VALUES (1);\n\
         CREATE TABLE slow_t (a int);\nDELIMITER ;;\n\
         CREATE TRIGGER slow_tr BEFORE INSERT ON slow_t FOR EACH ROW SET @x = SLEEP(3) ;;\n\
         DELIMITER ;\nINSERT INTO slow_t VALUES (1);\n\
         -- Dump completed on 2026-12-06\n",
    )
    .unwrap();
    let child = app
        .cmd(&["verify", file.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let scratch = format!("dbbackup\\_verify\\_{}\\_%", db.name.replace('_', "\\_"));
    let start = std::time::Instant::now();
    let status = loop {
        let found = server.admin_sql(
            None,
            &format!(
                "SELECT STATUS FROM information_schema.EVENTS WHERE EVENT_SCHEMA LIKE '{scratch}' AND EVENT_NAME = 'e'"
            ),
        );
        if !found.trim().is_empty() {
            break found.trim().to_string();
        }
        assert!(start.elapsed().as_secs() < 20, "the event never appeared");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(status, "DISABLED");
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let left = server.admin_sql(
        None,
        &format!(
            "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE '{scratch}'"
        ),
    );
    assert_eq!(left.trim(), "0", "the scratch database was left");
}
