//! Every MySQL/MariaDB failure: one clear error line, exit 1, nothing under a final name, the
//! older backup untouched, no temporary file left (`assert_fails`).

mod common;

use std::time::{Duration, Instant};

use common::mysql::*;
use common::*;

/// Runs db-backup on `app` with an older backup planted; returns the output and how long it took.
fn run_failing(
    app: &App,
) -> (
    std::process::Output,
    (std::path::PathBuf, Vec<u8>),
    Duration,
) {
    let old = plant_old_sql_backup(app);
    let start = Instant::now();
    let out = app.run(&[]);
    (out, old, start.elapsed())
}

/// Replaces what the database's own user may do on it.
fn set_grants(db: &TestDb, privileges: &str) {
    let g = db.name.replace('_', "\\_");
    db.server.admin_sql(
        None,
        &format!(
            "REVOKE ALL PRIVILEGES ON `{g}`.* FROM '{u}'@'%';
             GRANT {privileges} ON `{g}`.* TO '{u}'@'%';",
            u = db.user
        ),
    );
}

test_on_both!(wrong_password);
fn wrong_password(server: &'static Server) {
    let db = TestDb::on(server);
    stock_objects(&db);
    let app = App::bare(
        &db.env_text(Via::Tcp)
            .replace(&db.password, "Wrong-pw-4c1d8e"),
    );
    let (out, old, _) = run_failing(&app);
    assert_fails(&app, &out, &old, &[&db.user, "password"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("Wrong-pw-4c1d8e"),
        "the password is printed: {err}"
    );
}

test_on_both!(closed_port_fails_fast);
fn closed_port_fails_fast(server: &'static Server) {
    let db = TestDb::on(server);
    let port = closed_port();
    let app = App::bare(&db.env_text(Via::Tcp).replace(
        &format!("DB_PORT={}\n", db.server.port),
        &format!("DB_PORT={port}\n"),
    ));
    let (out, old, took) = run_failing(&app);
    assert_fails(&app, &out, &old, &[&port.to_string(), "refused"]);
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

test_on_both!(server_that_never_answers_times_out);
fn server_that_never_answers_times_out(server: &'static Server) {
    // A local listener that accepts TCP connections (the kernel completes the handshake) and
    // never says a word: without a bounded connect/read timeout the backup would hang forever.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let db = TestDb::on(server);
    let app = App::bare(&db.env_text(Via::Tcp).replace(
        &format!("DB_PORT={}\n", db.server.port),
        &format!("DB_PORT={port}\n"),
    ));
    let (out, old, took) = run_failing(&app);
    assert_fails(&app, &out, &old, &[&port.to_string(), "time"]);
    assert!(took < Duration::from_secs(30), "took {took:?}");
    drop(silent);
}

test_on_both!(unknown_database);
fn unknown_database(server: &'static Server) {
    let db = TestDb::on(server);
    db.server
        .admin_sql(None, &format!("DROP DATABASE `{}`", db.name));
    let app = db.app(Via::Tcp);
    let (out, old, _) = run_failing(&app);
    assert_fails(&app, &out, &old, &["database", &db.name]);
}

test_on_both!(missing_show_view_privilege);
fn missing_show_view_privilege(server: &'static Server) {
    // SELECT alone reads the tables, but SHOW CREATE VIEW needs SHOW VIEW (error 1142).
    let db = TestDb::on(server);
    stock_objects(&db);
    set_grants(&db, "SELECT");
    let app = db.app(Via::Tcp);
    let (out, old, _) = run_failing(&app);
    assert_fails(&app, &out, &old, &["SHOW VIEW"]);
}

test_on_both!(missing_trigger_privilege_is_never_silent);
fn missing_trigger_privilege_is_never_silent(server: &'static Server) {
    // Without TRIGGER the server hides the triggers (SHOW TRIGGERS and information_schema just
    // return nothing), so a dump would silently lack them. Either refusing or warning is fine;
    // saying nothing is not.
    let db = TestDb::on(server);
    stock_objects(&db);
    set_grants(&db, "SELECT, SHOW VIEW, LOCK TABLES, EVENT, EXECUTE");
    let app = db.app(Via::Tcp);
    let (out, old, _) = run_failing(&app);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("TRIGGER"),
        "a backup without the triggers, and nothing said about it: {err}"
    );
    if out.status.success() {
        assert!(err.to_lowercase().contains("warning"), "{err}");
    } else {
        assert_fails(&app, &out, &old, &["TRIGGER"]);
    }
}

test_on_both!(routine_whose_body_the_user_cannot_read);
fn routine_whose_body_the_user_cannot_read(server: &'static Server) {
    // A procedure defined by another account: the app's user (ALL on the database) sees it in
    // information_schema, but SHOW CREATE PROCEDURE gives a NULL body unless it is the definer
    // or may SELECT mysql.proc. The backup must not drop it silently.
    let db = TestDb::on(server);
    stock_objects(&db);
    db.admin_sql("CREATE PROCEDURE admin_only_proc() SELECT 42");
    let app = db.app(Via::Tcp);
    let (out, old, _) = run_failing(&app);
    assert_fails(&app, &out, &old, &["admin_only_proc"]);
}

test_on_both!(connection_killed_mid_dump);
fn connection_killed_mid_dump(server: &'static Server) {
    let db = TestDb::on(server);
    stock_objects(&db);
    db.sql(&format!(
        "CREATE TABLE big (id INT PRIMARY KEY, payload VARCHAR(200) NOT NULL);
         INSERT INTO big SELECT seq, REPEAT(CHAR(65 + seq % 26), 150) FROM {};",
        numbers(300_000)
    ));
    let app = db.app(Via::Tcp);
    let old = plant_old_sql_backup(&app);
    let mut child = app
        .cmd(&[])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for its query on `big`, then kill every connection it has.
    let start = Instant::now();
    let mut killed = Vec::new();
    while killed.is_empty() {
        if child.try_wait().unwrap().is_some() {
            let out = child.wait_with_output().unwrap();
            panic!(
                "the run ended ({}) before its connection could be killed (make `big` bigger if it succeeded): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no query on `big` seen"
        );
        let mine = db.server.processes_of(&db.user);
        if mine.iter().any(|p| p.info.contains("big")) {
            for id in mine.iter().map(|p| p.id) {
                // It may have ended in between: ignore "Unknown thread id".
                let _ = pipe(
                    db.server.admin(),
                    format!("KILL CONNECTION {id};").as_bytes(),
                );
                killed.push(id.to_string());
            }
        }
    }
    let out = child.wait_with_output().unwrap();
    assert_fails(&app, &out, &old, &["connection"]);
}

test_on_both!(disk_full_by_file_size_limit);
fn disk_full_by_file_size_limit(server: &'static Server) {
    let db = TestDb::on(server);
    stock_objects(&db);
    filler(&db, 40_000); // ~4 MB of dump
    let app = db.app(Via::Tcp);
    let old = plant_old_sql_backup(&app);
    let mut cmd = app.cmd(&[]);
    limit_file_size(&mut cmd, 1 << 20);
    let out = cmd.output().unwrap();
    assert_fails(&app, &out, &old, &["disk full"]);
}

test_on_both!(second_run_at_the_same_time);
fn second_run_at_the_same_time(server: &'static Server) {
    let db = TestDb::on(server);
    let app = db.app(Via::Tcp);
    let old = plant_old_sql_backup(&app);
    let lock = std::fs::File::create(app.backups_dir().join(".db-backup.lock")).unwrap();
    lock.lock().unwrap();
    let out = app.run(&[]);
    assert_clean_failure(&app, &out, 75, "another db-backup run is in progress", &old);
    drop(lock);
    app.ok(&[]);
    assert_eq!(app.backups().len(), 2);
}

test_on_both!(a_column_the_dump_would_leave_out_fails_the_backup);
/// The column guard, end to end: a column added to a table after the dump has read the schema
/// but before it reaches that table's rows. The dump is held at its first table by another
/// session's `LOCK TABLES … WRITE` while `z_last` gets a new column; once let go, the columns
/// it would write for `z_last` are no longer all of the table's: the backup must fail with one
/// line naming the table, and publish nothing. MariaDB's SHOW COLUMNS shows the new column, so
/// the guard names it; MySQL's (like its information_schema) reads the data dictionary inside
/// the dump's snapshot and still shows the old columns, but its SELECT then refuses the changed
/// table (error 1412), which the dump reports for that table the same way.
fn a_column_the_dump_would_leave_out_fails_the_backup(server: &'static Server) {
    use std::io::{BufRead, BufReader, Write};
    use std::process::Stdio;

    let db = TestDb::on(server);
    db.sql(
        "CREATE TABLE a_first (id INT PRIMARY KEY); INSERT INTO a_first VALUES (1), (2);
         CREATE TABLE z_last (id INT PRIMARY KEY); INSERT INTO z_last VALUES (1);",
    );
    let app = db.app(Via::Tcp);
    let old = plant_old_sql_backup(&app);
    let mut holder = db
        .server
        .client(&db.user, &db.password)
        .args(["--batch", "--skip-column-names", "--unbuffered", &db.name])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut hold = holder.stdin.take().unwrap();
    writeln!(hold, "LOCK TABLES a_first WRITE; SELECT 'locked';").unwrap();
    let mut said = String::new();
    BufReader::new(holder.stdout.take().unwrap())
        .read_line(&mut said)
        .unwrap();
    assert_eq!(said, "locked\n");

    let backup = app
        .cmd(&[])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The dump has read the schema and waits to read a_first's rows.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let waiting = db.server.processes_of(&db.user).into_iter().any(|p| {
            p.state == "Waiting for table metadata lock"
                && p.info.starts_with("SELECT")
                && p.info.contains("a_first")
        });
        if waiting {
            break;
        }
        assert!(Instant::now() < deadline, "the dump never reached a_first");
        std::thread::sleep(Duration::from_millis(20));
    }
    db.sql("SET SESSION lock_wait_timeout = 20; ALTER TABLE z_last ADD COLUMN added INT NULL;");
    writeln!(hold, "UNLOCK TABLES;").unwrap();
    drop(hold);
    assert!(holder.wait().unwrap().success());

    let out = backup.wait_with_output().unwrap();
    assert_fails(
        &app,
        &out,
        &old,
        &[
            "table z_last",
            "stopped rather than write a backup that leaves a column out",
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("column added would be left out")
            || err.contains("definition changed while the backup ran"),
        "{err}"
    );
}
