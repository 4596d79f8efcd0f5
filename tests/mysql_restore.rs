//! verify and restore of `.sql` backups against real MariaDB 10.11 and MySQL 9.7 servers: our
//! dumps, and the stock dump tools' (`mariadb-dump`, `mysqldump` with GTIDs).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::mysql::*;

fn dbs_like(server: &Server, prefix: &str) -> Vec<String> {
    server
        .admin_sql(
            None,
            &format!("SHOW DATABASES LIKE '{}%'", prefix.replace('_', "\\_")),
        )
        .lines()
        .filter(|l| l.starts_with(prefix))
        .map(str::to_string)
        .collect()
}

test_on_both!(verify_loads_into_a_scratch_database_and_drops_it);
fn verify_loads_into_a_scratch_database_and_drops_it(server: &'static Server) {
    let db = TestDb::on(server);
    stock_objects(&db);
    // What the README asks of an admin: the app's user may own scratch databases.
    db.admin_sql(&format!(
        "GRANT ALL PRIVILEGES ON `dbbackup\\_verify\\_%`.* TO '{}'@'%'",
        db.user
    ));
    let (app, _file) = backup(&db, Via::Tcp);
    let out = app.ok(&["verify", "--latest"]);
    assert!(
        out.starts_with("ok: storage/app/backups/database_backup_"),
        "{out}"
    );
    assert!(out.contains("loaded into a scratch database"), "{out}");
    assert!(out.contains("  products: "), "{out}");
    let left = dbs_like(server, &format!("dbbackup_verify_{}_", db.name));
    assert!(left.is_empty(), "scratch database left behind: {left:?}");
}

test_on_both!(verify_fails_on_a_broken_dump_and_still_drops_the_scratch_database);
fn verify_fails_on_a_broken_dump_and_still_drops_the_scratch_database(server: &'static Server) {
    let db = TestDb::on(server);
    stock_objects(&db);
    // What the README asks of an admin: the app's user may own scratch databases.
    db.admin_sql(&format!(
        "GRANT ALL PRIVILEGES ON `dbbackup\\_verify\\_%`.* TO '{}'@'%'",
        db.user
    ));
    let (app, file) = backup(&db, Via::Tcp);
    let text = std::fs::read_to_string(&file).unwrap();
    let broken = text.replacen("INSERT INTO `products`", "INSERT INTO `products_nope`", 1);
    std::fs::write(&file, broken).unwrap();
    let out = app.run(&["verify", "--latest"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line "), "the failing line is named: {err}");
    let left = dbs_like(server, &format!("dbbackup_verify_{}_", db.name));
    assert!(left.is_empty(), "scratch database left behind: {left:?}");
}

test_on_both!(restore_round_trip);
fn restore_round_trip(server: &'static Server) {
    let db = TestDb::on(server);
    stock_objects(&db);
    let before = db.snapshot();
    let (app, file) = backup(&db, Via::Tcp);
    db.sql("DELETE FROM inventaires; UPDATE products SET stock = -1; DROP VIEW balance_view;");
    let name = file.file_name().unwrap().to_str().unwrap().to_string();
    let out = app.ok(&["restore", &name, "--yes"]);
    assert!(out.contains("safety backup of the previous data"), "{out}");
    let after = db.snapshot();
    assert_eq!(after.schema, before.schema);
    after.assert_same_data(&before);
    // The safety backup holds the changed state.
    let safety = app.backups().into_iter().find(|n| *n != name).unwrap();
    let undo = TestDb::on(server);
    undo.load(&app.backups_dir().join(safety));
    assert!(undo
        .sql("SELECT stock FROM products")
        .lines()
        .all(|l| l == "-1" || l == "stock"));
}

test_on_both!(keys_added_after_the_rows_come_back_exactly);
/// The loader builds plain and foreign keys after a table's rows (engine/mysql/defer.rs): every
/// kind of key, in every place a dump can hold it, comes back as it was, in the same order —
/// a foreign key to a table created after its own, keys on foreign-key columns, a prefix key
/// with a comment, a descending one, unique and full-text keys (which stay in the CREATE), the
/// key an AUTO_INCREMENT column needs, a table without a primary key; by restore and by verify,
/// from our file and from the stock dump tool's.
fn keys_added_after_the_rows_come_back_exactly(server: &'static Server) {
    let db = TestDb::on(server);
    db.sql(
        "CREATE TABLE z_parent (id INT NOT NULL PRIMARY KEY, code VARCHAR(20) NOT NULL, UNIQUE KEY code_unique (code)) ENGINE=InnoDB;
         CREATE TABLE a_child (
           id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
           parent_id INT NOT NULL, other_id INT NULL, label VARCHAR(200) NULL, at DATE NOT NULL, body TEXT NULL,
           KEY at_desc (at DESC, id), KEY label_prefix (label(12)) COMMENT 'prefix, commented',
           FULLTEXT KEY body_ft (body),
           CONSTRAINT a_child_parent_foreign FOREIGN KEY (parent_id) REFERENCES z_parent (id) ON DELETE CASCADE ON UPDATE RESTRICT,
           CONSTRAINT a_child_other_foreign FOREIGN KEY (other_id) REFERENCES z_parent (id) ON DELETE SET NULL
         ) ENGINE=InnoDB;
         CREATE TABLE counted (shop INT NOT NULL, n INT NOT NULL AUTO_INCREMENT, note VARCHAR(10), PRIMARY KEY (shop, n), KEY n_alone (n), KEY note_idx (note)) ENGINE=InnoDB;
         CREATE TABLE no_pk (a INT, b INT, KEY a_idx (a)) ENGINE=InnoDB;
         INSERT INTO z_parent VALUES (1, 'one'), (2, 'two');
         INSERT INTO a_child (parent_id, other_id, label, at, body) SELECT 1 + seq % 2, IF(seq % 3 = 0, NULL, 2), CONCAT('label ', seq), '2024-01-01' + INTERVAL seq DAY, CONCAT('body ', seq) FROM (SELECT 1 seq UNION SELECT 2 UNION SELECT 3 UNION SELECT 4 UNION SELECT 5) s;
         INSERT INTO counted (shop, note) VALUES (1, 'a'), (1, 'b'), (2, 'c');
         INSERT INTO no_pk VALUES (1, 2), (1, 2), (NULL, 3);",
    );
    db.admin_sql(&format!(
        "GRANT ALL PRIVILEGES ON `dbbackup\\_verify\\_%`.* TO '{}'@'%'",
        db.user
    ));
    let before = db.snapshot();
    let (app, file) = backup(&db, Via::Tcp);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains("  KEY `label_prefix`"),
        "the dump holds the keys inline"
    );
    app.ok(&["verify", file.to_str().unwrap()]);
    db.sql("DROP TABLE a_child, counted, no_pk, z_parent; CREATE TABLE no_pk (x INT);");
    let name = file.file_name().unwrap().to_str().unwrap().to_string();
    app.ok(&["restore", &name, "--yes", "--clean"]);
    let after = db.snapshot();
    assert_eq!(after.schema, before.schema);
    after.assert_same_data(&before);
    // The same from the stock tool's file (its own layout of the same CREATE TABLE text).
    let dump = app.root.path().join("stock.sql");
    if server.flavor == Flavor::MySql {
        stock_mysqldump(&db, &dump);
    } else {
        let out = db
            .server
            .dump_tool(&db.user, &db.password)
            .args(["--single-transaction", &db.name])
            .stdout(std::fs::File::create(&dump).unwrap())
            .stderr(Stdio::piped())
            .output()
            .expect("mariadb-dump (apt-get install mariadb-client)");
        common::assert_success(&out);
    }
    db.sql("DROP TABLE a_child, counted, no_pk, z_parent;");
    app.ok(&["restore", dump.to_str().unwrap(), "--yes"]);
    let again = db.snapshot();
    assert_eq!(again.schema, before.schema);
    again.assert_same_data(&before);
}

test_on_both!(a_key_built_after_the_rows_fails_at_its_own_create);
/// A table's keys are built after its rows (engine/mysql/defer.rs), once the next statement
/// shows the rows are done: a key that cannot be built still fails the restore with the line
/// of its own CREATE and names the safety backup; in a good file, over the live tables, every
/// table and key comes back.
fn a_key_built_after_the_rows_fails_at_its_own_create(server: &'static Server) {
    let db = TestDb::on(server);
    db.sql(
        "CREATE TABLE a_first (id INT NOT NULL PRIMARY KEY, a INT, KEY a_idx (a)) ENGINE=InnoDB;
         CREATE TABLE b_second (id INT NOT NULL PRIMARY KEY, first_id INT NOT NULL, b INT, KEY b_idx (b),
           CONSTRAINT b_first FOREIGN KEY (first_id) REFERENCES a_first (id)) ENGINE=InnoDB;
         CREATE TABLE c_third (id INT NOT NULL PRIMARY KEY, c INT, KEY c_idx (c)) ENGINE=InnoDB;
         INSERT INTO a_first VALUES (1, 10), (2, 20);
         INSERT INTO b_second VALUES (1, 1, 5), (2, 2, 6), (3, 1, 7);
         INSERT INTO c_third VALUES (1, 1);",
    );
    let before = db.snapshot();
    let (app, file) = backup(&db, Via::Tcp);
    let name = file.file_name().unwrap().to_str().unwrap().to_string();
    // A good file first, over the live tables.
    app.ok(&["restore", &name, "--yes"]);
    let after = db.snapshot();
    assert_eq!(after.schema, before.schema);
    after.assert_same_data(&before);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("  KEY `a_idx` (`a`)"), "{text}");
    let line = 1 + text
        .lines()
        .position(|l| l.starts_with("CREATE TABLE `a_first`"))
        .unwrap();
    std::fs::write(
        &file,
        text.replace("  KEY `a_idx` (`a`)", "  KEY `a_idx` (`nope`)"),
    )
    .unwrap();
    let out = app.run(&["restore", &name, "--yes"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("line {line}")) && err.contains("nope"),
        "the CREATE's line and the key's column are named: {err}"
    );
    assert!(
        err.contains("the data from before the restore is in"),
        "{err}"
    );
}

#[test]
fn restore_a_file_made_by_the_real_mariadb_dump() {
    let db = TestDb::on(mariadb());
    stock_objects(&db);
    // Raw binary bytes in a BLOB, as mariadb-dump writes them without --hex-blob.
    db.sql("CREATE TABLE scans (id INT PRIMARY KEY, doc BLOB); INSERT INTO scans VALUES (1, UNHEX('00FF27225C0D0A1A80C3'));");
    let before = db.snapshot();
    let app = db.app(Via::Tcp);
    let dump = app.root.path().join("from-mariadb-dump.sql");
    let out = db
        .server
        .dump_tool(&db.user, &db.password)
        .args([
            "--single-transaction",
            "--routines",
            "--events",
            "--triggers",
            &db.name,
        ])
        .stdout(std::fs::File::create(&dump).unwrap())
        .stderr(Stdio::piped())
        .output()
        .expect("mariadb-dump (apt-get install mariadb-client)");
    common::assert_success(&out);
    db.sql(
        "DELETE FROM scans; DELETE FROM inventaires; DROP TRIGGER IF EXISTS sorties_after_insert;",
    );
    let run = app.run(&["restore", dump.to_str().unwrap(), "--yes"]);
    common::assert_success(&run);
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(err.contains("outside the backups folder"), "{err}");
    // Every table, view, routine, trigger and event is recognised in the stock tool's file.
    assert!(!err.contains("left in place"), "{err}");
    let after = db.snapshot();
    after.assert_same_data(&before);
}

/// The MySQL side of the test above: a file from the stock `mysqldump` 9.7, taken as its manual
/// says for InnoDB on a server with GTIDs (see `stock_mysqldump`), so it turns the binary log
/// off for its session (`SET @@SESSION.SQL_LOG_BIN= 0`) and sets `@@GLOBAL.GTID_PURGED` —
/// statements the app's account may not run. Restoring it into the app's database must work
/// all the same.
#[test]
fn restore_a_file_made_by_the_real_mysqldump() {
    let db = TestDb::on(mysql());
    stock_objects(&db);
    // Raw binary bytes in a BLOB, as mysqldump writes them without --hex-blob.
    db.sql("CREATE TABLE scans (id INT PRIMARY KEY, doc BLOB); INSERT INTO scans VALUES (1, UNHEX('00FF27225C0D0A1A80C3'));");
    let before = db.snapshot();
    let app = db.app(Via::Tcp);
    let dump = app.root.path().join("from-mysqldump.sql");
    stock_mysqldump(&db, &dump);
    let text = String::from_utf8_lossy(&std::fs::read(&dump).unwrap()).into_owned();
    for what in ["SET @@SESSION.SQL_LOG_BIN= 0;", "SET @@GLOBAL.GTID_PURGED="] {
        assert!(text.contains(what), "no {what} in the stock dump");
    }
    db.sql(
        "DELETE FROM scans; DELETE FROM inventaires; DROP TRIGGER IF EXISTS sorties_after_insert;",
    );
    let run = app.run(&["restore", dump.to_str().unwrap(), "--yes"]);
    common::assert_success(&run);
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(err.contains("outside the backups folder"), "{err}");
    // Every table, view, routine, trigger and event is recognised in the stock tool's file.
    assert!(!err.contains("left in place"), "{err}");
    let after = db.snapshot();
    after.assert_same_data(&before);
}

test_on_both!(a_truncated_dump_is_refused_before_anything_changes);
fn a_truncated_dump_is_refused_before_anything_changes(server: &'static Server) {
    let db = TestDb::on(server);
    stock_objects(&db);
    let (app, file) = backup(&db, Via::Tcp);
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let before = db.snapshot();
    let name = file.file_name().unwrap().to_str().unwrap().to_string();
    let out = app.run(&["restore", &name, "--yes"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("truncated"));
    assert_eq!(
        app.backups(),
        vec![name],
        "no safety backup: nothing was about to change"
    );
    assert_eq!(db.snapshot().rows, before.rows);
}

test_on_both!(the_server_gone_during_a_restore_names_the_safety_backup);
fn the_server_gone_during_a_restore_names_the_safety_backup(server: &'static Server) {
    let db = TestDb::on(server);
    stock_objects(&db);
    filler(&db, 200_000);
    let (app, file) = backup(&db, Via::Tcp);
    let name = file.file_name().unwrap().to_str().unwrap().to_string();
    let child = app
        .cmd(&["restore", &name, "--yes"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Kill the restoring connection once it is loading.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let loading = db
            .server
            .processes_of(&db.user)
            .into_iter()
            .find(|p| p.info.starts_with("INSERT"));
        if let Some(id) = loading.map(|p| p.id) {
            db.server.admin_sql(None, &format!("KILL {id}"));
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the restore never started loading"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("restore failed") && err.contains("the data from before the restore is in"),
        "{err}"
    );
    assert_eq!(app.backups().len(), 2, "the safety backup exists");
}

test_on_both!(restore_refuses_a_sqlite_backup_for_a_mysql_app);
fn restore_refuses_a_sqlite_backup_for_a_mysql_app(server: &'static Server) {
    let db = TestDb::on(server);
    let app = db.app(Via::Tcp);
    std::fs::create_dir_all(app.backups_dir()).unwrap();
    std::fs::write(
        app.backups_dir()
            .join("database_backup_2020-01-01_000000.sqlite"),
        "x",
    )
    .unwrap();
    let out = app.run(&[
        "restore",
        "database_backup_2020-01-01_000000.sqlite",
        "--yes",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("across drivers"));
}

/// The stock dump tool of `db`'s server (`mysqldump` 9.7 or `mariadb-dump`), run as its admin
/// with every option that writes statements for the whole server: the binary log position and
/// GTIDs to start a replica from (`--source-data`/`--master-data`, MariaDB's `--gtid`;
/// mysqldump adds `SQL_LOG_BIN` and `GTID_PURGED` by itself on a server with GTIDs), and
/// `--databases`, which adds `CREATE DATABASE` and `USE` of the database dumped.
fn stock_dump_for_a_replica(db: &TestDb, file: &std::path::Path) -> String {
    let s = db.server;
    let replica: &[&str] = match s.flavor {
        Flavor::MySql => &["--source-data=1", "--set-gtid-purged=ON"],
        Flavor::MariaDb => &["--master-data=1", "--gtid"],
    };
    let out = s
        .dump_tool(&s.user, &s.password)
        .args([
            "--single-transaction",
            "--routines",
            "--triggers",
            "--events",
        ])
        .args(replica)
        .args(["--databases", &db.name])
        .stdout(std::fs::File::create(file).unwrap())
        .stderr(Stdio::piped())
        .output()
        .expect("run the stock dump tool");
    common::assert_success(&out);
    String::from_utf8_lossy(&std::fs::read(file).unwrap()).into_owned()
}

/// What a load must never change: the server's GTID state and its replication set-up (the
/// binary log's files are listed, but its position and executed GTIDs move with every write
/// of any test, so numbers are left out).
fn global_state(server: &Server) -> String {
    let sql = match server.flavor {
        Flavor::MySql => {
            "SELECT @@GLOBAL.gtid_purged, @@GLOBAL.read_only; SHOW REPLICA STATUS; SHOW BINARY LOGS"
        }
        Flavor::MariaDb => {
            "SELECT @@GLOBAL.gtid_slave_pos, @@GLOBAL.read_only; SHOW ALL SLAVES STATUS; SHOW BINARY LOGS"
        }
    };
    server
        .admin_sql(None, sql)
        .lines()
        .map(|l| {
            l.split('\t')
                .filter(|f| !f.chars().all(|c| c.is_ascii_digit()))
                .collect::<Vec<_>>()
                .join("\t")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

test_on_both!(a_stock_dump_for_a_replica_verifies_and_restores_without_touching_the_server);
/// A file from the stock dump tool made for seeding a replica, restored by an app that
/// connects as an admin (as many small apps do): the server would obey every statement in it.
/// `verify` and `restore` must load the data and nothing else: the server-wide statements are
/// skipped, with one warning per kind, and the server's GTIDs and replication set-up stay as
/// they were.
fn a_stock_dump_for_a_replica_verifies_and_restores_without_touching_the_server(
    server: &'static Server,
) {
    let server = server.with_binlog();
    let db = TestDb::on(server);
    stock_objects(&db);
    db.sql("CREATE TABLE scans (id INT PRIMARY KEY, doc BLOB); INSERT INTO scans VALUES (1, UNHEX('00FF27225C0D0A1A80C3'));");
    let before = db.snapshot();
    let app = common::App::bare(
        &db.env_text(Via::Socket)
            .replace(
                &format!("DB_USERNAME={}", db.user),
                &format!("DB_USERNAME={}", server.user),
            )
            .replace(
                &format!("DB_PASSWORD=\"{}\"", db.password),
                &format!("DB_PASSWORD=\"{}\"", server.password),
            ),
    );
    let dump = app.root.path().join("for-a-replica.sql");
    let text = stock_dump_for_a_replica(&db, &dump);
    let kinds: &[&str] = match server.flavor {
        Flavor::MySql => &[
            "SET @@SESSION.SQL_LOG_BIN",
            "SET @@GLOBAL.GTID_PURGED",
            "CHANGE REPLICATION SOURCE",
        ],
        Flavor::MariaDb => &["SET GLOBAL GTID_SLAVE_POS", "CHANGE MASTER TO"],
    };
    for kind in kinds {
        assert!(
            text.to_uppercase().contains(kind),
            "the stock dump has no {kind}:\n{}",
            &text[..text.len().min(3000)]
        );
    }
    let state = global_state(server);

    db.sql(
        "DELETE FROM scans; DELETE FROM inventaires; DROP TRIGGER IF EXISTS sorties_after_insert;",
    );
    let changed = db.snapshot();
    let path = dump.to_str().unwrap();
    for args in [&["verify", path][..], &["restore", path, "--yes"]] {
        let out = app.run(args);
        common::assert_success(&out);
        let err = String::from_utf8_lossy(&out.stderr);
        for kind in kinds {
            assert_eq!(
                err.matches(&format!("skipped `{kind}")).count(),
                1,
                "{args:?}: one warning for {kind}:\n{err}"
            );
        }
        assert!(
            err.contains("skipped `USE`") && err.contains("skipped `CREATE DATABASE`"),
            "{err}"
        );
        assert_eq!(
            global_state(server),
            state,
            "{args:?} changed the server's global state"
        );
        if args[0] == "verify" {
            assert_eq!(
                db.snapshot().rows,
                changed.rows,
                "verify changed the live data"
            );
        }
    }
    let after = db.snapshot();
    after.assert_same_data(&before);
    assert_eq!(after.schema, before.schema);
}

test_on_both!(a_dump_of_another_database_is_refused_before_anything_changes);
/// A stock dump of another database (with `--databases`, so it says `USE other`) given to the
/// app's restore: refused before the safety backup, with the line and the database named;
/// verify refuses it too and leaves no scratch database.
fn a_dump_of_another_database_is_refused_before_anything_changes(server: &'static Server) {
    let db = TestDb::on(server);
    stock_objects(&db);
    let other = db.sibling();
    other.sql("CREATE TABLE elsewhere (id INT PRIMARY KEY); INSERT INTO elsewhere VALUES (1);");
    db.admin_sql(&format!(
        "GRANT ALL PRIVILEGES ON `dbbackup\\_verify\\_%`.* TO '{}'@'%'",
        db.user
    ));
    let app = db.app(Via::Tcp);
    let dump = app.root.path().join("other.sql");
    let gtids: &[&str] = match server.flavor {
        Flavor::MySql => &["--set-gtid-purged=OFF"],
        Flavor::MariaDb => &[],
    };
    let out = server
        .dump_tool(&server.user, &server.password)
        .args(["--single-transaction", "--databases", &other.name])
        .args(gtids)
        .stdout(std::fs::File::create(&dump).unwrap())
        .stderr(Stdio::piped())
        .output()
        .expect("run the stock dump tool");
    common::assert_success(&out);
    let before = db.snapshot();
    let path = dump.to_str().unwrap();

    let out = app.run(&["restore", path, "--yes"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(" line ")
            && err.contains(&format!("'{}'", other.name))
            && err.contains("another database"),
        "{err}"
    );
    assert!(
        app.backups().is_empty(),
        "no safety backup: nothing was about to change"
    );
    assert_eq!(db.snapshot().rows, before.rows);

    let out = app.run(&["verify", path]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("'{}'", other.name)), "{err}");
    let left = dbs_like(server, &format!("dbbackup_verify_{}_", db.name));
    assert!(left.is_empty(), "scratch database left behind: {left:?}");
    assert_eq!(other.sql("SELECT COUNT(*) FROM elsewhere"), "1\n");
}

/// Another session of the app's user holding a lock, as the app's own requests may: the stock
/// client left open on `sql`, until dropped.
struct Holder(Child);

impl Holder {
    fn new(db: &TestDb, sql: &str) -> Holder {
        let mut child = db
            .server
            .client(&db.user, &db.password)
            .args(["--batch", "--skip-column-names", "--unbuffered"])
            .arg(format!("--database={}", db.name))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the stock client");
        let mut stdin = child.stdin.take().unwrap();
        // Bounded, so a test can fail but never hang here.
        writeln!(
            stdin,
            "SET SESSION lock_wait_timeout = 30; {sql}; SELECT 'held';"
        )
        .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let held = BufReader::new(stdout)
                .lines()
                .any(|l| l.is_ok_and(|l| l == "held"));
            let _ = tx.send(held);
        });
        let held = rx.recv_timeout(Duration::from_secs(60));
        if held != Ok(true) {
            let _ = child.kill();
            panic!("the other session never took its lock ({held:?})");
        }
        // Kept open: the session lives as long as its stdin.
        std::mem::forget(stdin);
        Holder(child)
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until a session of `db`'s user is in a state that starts with `state` and ends with
/// `lock` ("Waiting for table metadata lock", "… level lock").
fn wait_for_state(db: &TestDb, state: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let found = db
            .server
            .processes_of(&db.user)
            .iter()
            .any(|p| p.state.starts_with(state) && p.state.ends_with("lock"));
        if found {
            return;
        }
        assert!(Instant::now() < deadline, "no session came to '{state}'");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits for a restore; one still running after `secs` is killed and the test fails, so a
/// hang shows up as a failure naming it rather than as a stuck test run.
fn finish(child: Child, secs: u64) -> std::process::Output {
    let pid = child.id() as libc::pid_t;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("db-backup restore still running after {secs} s: it hangs");
        }
    }
}

fn signal(child: &Child, sig: libc::c_int) {
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, sig) }, 0);
}

/// A restore of `db`'s fresh backup, started in the background.
fn restore_child(db: &TestDb, extra: &[&str]) -> (common::App, Child) {
    let (app, file) = backup(db, Via::Tcp);
    let name = file.file_name().unwrap().to_str().unwrap().to_string();
    let mut args = vec!["restore", name.as_str(), "--yes"];
    args.extend_from_slice(extra);
    let child = app
        .cmd(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    (app, child)
}

/// The safety backup: the one backup that is not the restored one.
fn safety_backup(app: &common::App) -> String {
    let all = app.backups();
    assert_eq!(
        all.len(),
        2,
        "the restored backup and the safety backup: {all:?}"
    );
    all.into_iter().max().unwrap()
}

test_on_both!(a_lock_held_by_another_session_fails_the_restore_within_the_bound);
fn a_lock_held_by_another_session_fails_the_restore_within_the_bound(server: &'static Server) {
    let db = TestDb::on(server);
    stock_objects(&db);
    let (app, file) = backup(&db, Via::Tcp);
    let name = file.file_name().unwrap().to_str().unwrap().to_string();
    let _holder = Holder::new(&db, "LOCK TABLES products READ");
    let started = Instant::now();
    let child = app
        .cmd(&["restore", &name, "--yes", "--busy-timeout", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = finish(child, 120);
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.contains("waited 2 s for a lock another session holds")
            && err.contains("--busy-timeout")
            && err.contains(&format!(
                "the data from before the restore is in {}",
                app.backups_dir().join(safety_backup(&app)).display()
            )),
        "{err}"
    );
    assert!(took < Duration::from_secs(30), "took {took:?}");
}

test_on_both!(ctrl_c_cancels_a_statement_waiting_for_a_lock);
fn ctrl_c_cancels_a_statement_waiting_for_a_lock(server: &'static Server) {
    let db = TestDb::on(server);
    stock_objects(&db);
    let holder = Holder::new(&db, "LOCK TABLES products READ");
    // Without the cancel, the restore would wait 10 minutes for the lock.
    let (app, child) = restore_child(&db, &["--busy-timeout", "600"]);
    wait_for_state(&db, "Waiting for table");
    let sent = Instant::now();
    signal(&child, libc::SIGINT);
    let out = finish(child, 180);
    drop(holder);
    assert_failed_naming_safety(
        &app,
        &out,
        "interrupted by a signal",
        sent,
        Duration::from_secs(10),
    );
}

test_on_both!(ctrl_c_during_a_long_load_stops_it_and_names_the_safety_backup);
fn ctrl_c_during_a_long_load_stops_it_and_names_the_safety_backup(server: &'static Server) {
    let db = TestDb::on(server);
    stock_objects(&db);
    filler(&db, 200_000);
    let (app, child) = restore_child(&db, &[]);
    wait_for_inserts(&db);
    let sent = Instant::now();
    signal(&child, libc::SIGINT);
    let out = finish(child, 180);
    assert_failed_naming_safety(
        &app,
        &out,
        "restore failed: interrupted by a signal",
        sent,
        Duration::from_secs(10),
    );
}

test_on_both!(a_second_ctrl_c_stops_at_once);
fn a_second_ctrl_c_stops_at_once(server: &'static Server) {
    let db = TestDb::on(server);
    stock_objects(&db);
    let holder = Holder::new(&db, "LOCK TABLES products READ");
    let (app, child) = restore_child(&db, &["--busy-timeout", "600"]);
    wait_for_state(&db, "Waiting for table");
    // Two different signals: two SIGINTs sent at once would merge into one while pending.
    signal(&child, libc::SIGINT);
    signal(&child, libc::SIGTERM);
    let out = finish(child, 180);
    drop(holder);
    // 128 + the signal, as a shell reports a process stopped by it.
    assert!(
        matches!(out.status.code(), Some(130 | 143)),
        "{:?}",
        out.status
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim_end(),
        format!(
            "db-backup: error: restore failed: stopped at once by a second signal, in the middle of the load; the data from before the restore is in {}",
            app.backups_dir().join(safety_backup(&app)).display()
        )
    );
}

/// A TCP relay to a server that can go silent, as a cut network or a frozen host does: once
/// frozen, nothing more is forwarded in either direction and new connections are accepted but
/// never answered. Dropping it closes every connection (so the server releases their locks).
struct Relay {
    port: u16,
    frozen: Arc<AtomicBool>,
    sockets: Arc<Mutex<Vec<TcpStream>>>,
}

impl Relay {
    fn to(server: &Server) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let frozen = Arc::new(AtomicBool::new(false));
        let sockets = Arc::new(Mutex::new(Vec::new()));
        let upstream = (server.host.clone(), server.port);
        let (f, keep) = (frozen.clone(), sockets.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                keep.lock().unwrap().push(client.try_clone().unwrap());
                if f.load(Ordering::SeqCst) {
                    continue;
                }
                let server = TcpStream::connect((upstream.0.as_str(), upstream.1)).unwrap();
                keep.lock().unwrap().push(server.try_clone().unwrap());
                pump(
                    client.try_clone().unwrap(),
                    server.try_clone().unwrap(),
                    f.clone(),
                );
                pump(server, client, f.clone());
            }
        });
        Relay {
            port,
            frozen,
            sockets,
        }
    }

    fn freeze(&self) {
        self.frozen.store(true, Ordering::SeqCst);
    }
}

/// Copies `from` into `to` until the relay freezes; then holds on to both, silent.
fn pump(mut from: TcpStream, mut to: TcpStream, frozen: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if frozen.load(Ordering::SeqCst) {
                return std::mem::forget((from, to));
            }
            if to.write_all(&buf[..n]).is_err() {
                return;
            }
        }
    });
}

impl Drop for Relay {
    fn drop(&mut self) {
        for s in self.sockets.lock().unwrap().iter() {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

/// Waits until the restore's connection runs INSERTs.
fn wait_for_inserts(db: &TestDb) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !db
        .server
        .processes_of(&db.user)
        .iter()
        .any(|p| p.info.starts_with("INSERT"))
    {
        assert!(
            Instant::now() < deadline,
            "the restore never started loading"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

test_on_both!(a_server_that_goes_silent_mid_restore_is_given_up_on);
fn a_server_that_goes_silent_mid_restore_is_given_up_on(server: &'static Server) {
    let db = TestDb::on(server);
    stock_objects(&db);
    filler(&db, 200_000);
    let relay = Relay::to(server);
    let app = common::App::bare(&db.env_text(Via::Tcp).replace(
        &format!("DB_PORT={}\n", server.port),
        &format!("DB_PORT={}\n", relay.port),
    ));
    app.ok(&[]);
    let name = only_backup(&app)
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let child = app
        .cmd(&["restore", &name, "--yes"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_inserts(&db);
    relay.freeze();
    let frozen = Instant::now();
    let out = finish(child, 180);
    drop(relay);
    // A ping every 10 s, 30 s for its answer, 10 s for a fresh connection.
    assert_failed_naming_safety(
        &app,
        &out,
        "stopped answering: no reply to a ping within 30 s",
        frozen,
        Duration::from_secs(75),
    );
}

test_on_both!(a_statement_longer_than_the_ping_bound_is_waited_for);
fn a_statement_longer_than_the_ping_bound_is_waited_for(server: &'static Server) {
    let db = TestDb::on(server);
    stock_objects(&db);
    let before = db.snapshot();
    let (app, file) = backup(&db, Via::Tcp);
    // A statement that runs longer than the 30 s a silent server is given, as an index build on
    // a large table does: the server keeps answering pings, so it is waited for.
    let text = std::fs::read_to_string(&file).unwrap();
    // Only what dump tools write loads: a trigger that takes 35 s, fired by one INSERT.
    let slow = text.replacen(
        "\nDROP TABLE IF EXISTS",
        "\nCREATE TABLE `slow_t` (`a` int);\nDELIMITER ;;\n\
         CREATE TRIGGER `slow_tr` BEFORE INSERT ON `slow_t` FOR EACH ROW SET @x = SLEEP(35) ;;\n\
         DELIMITER ;\nINSERT INTO `slow_t` VALUES (1);\nDROP TABLE IF EXISTS `slow_t`;\n\
         DROP TABLE IF EXISTS",
        1,
    );
    let slow_file = app.root.path().join("slow.sql");
    std::fs::write(&slow_file, slow).unwrap();
    db.sql("DELETE FROM inventaires");
    let started = Instant::now();
    let out = app.run(&["restore", slow_file.to_str().unwrap(), "--yes"]);
    common::assert_success(&out);
    assert!(started.elapsed() >= Duration::from_secs(35));
    assert_eq!(db.snapshot().rows, before.rows);
}

/// Objects made after the backup, which the backup does not hold.
fn add_extras(db: &TestDb) {
    db.sql(
        "CREATE TABLE extra (id INT PRIMARY KEY, product_id BIGINT UNSIGNED, FOREIGN KEY (product_id) REFERENCES products (id));
         INSERT INTO extra VALUES (1, 1);
         CREATE VIEW extra_view AS SELECT id FROM extra;
         CREATE PROCEDURE extra_proc() SELECT 1;
         CREATE TRIGGER extra_trigger BEFORE INSERT ON extra FOR EACH ROW SET NEW.id = NEW.id;",
    );
}

test_on_both!(tables_the_backup_does_not_hold_are_left_in_place_and_named);
fn tables_the_backup_does_not_hold_are_left_in_place_and_named(server: &'static Server) {
    let db = TestDb::on(server);
    stock_objects(&db);
    let before = db.snapshot();
    let (app, file) = backup(&db, Via::Tcp);
    add_extras(&db);
    db.sql("DELETE FROM inventaires");
    let name = file.file_name().unwrap().to_str().unwrap().to_string();
    let out = app.run(&["restore", &name, "--yes"]);
    common::assert_success(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("db-backup: warning: left in place, not in the backup: trigger `extra_trigger`, procedure `extra_proc`, view `extra_view`, table `extra` (restore --clean drops them first)"),
        "{err}"
    );
    // mysqldump's semantics: the backup's tables are as backed up, the others untouched.
    let rows = |snap: &Snapshot| snap.rows.iter().find(|(t, _)| t == "inventaires").cloned();
    assert_eq!(rows(&db.snapshot()), rows(&before));
    assert!(db.tables().contains(&"extra".to_string()));
    assert_eq!(db.sql("SELECT COUNT(*) FROM extra_view"), "1\n");
    db.sql("CALL extra_proc()");
}

test_on_both!(restore_clean_drops_what_the_backup_does_not_hold);
fn restore_clean_drops_what_the_backup_does_not_hold(server: &'static Server) {
    let db = TestDb::on(server);
    stock_objects(&db);
    let before = db.snapshot();
    let (app, file) = backup(&db, Via::Tcp);
    add_extras(&db);
    db.sql("DELETE FROM inventaires");
    let name = file.file_name().unwrap().to_str().unwrap().to_string();
    let out = app.run(&["restore", &name, "--yes", "--clean"]);
    common::assert_success(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("dropped first, not in the backup (--clean): trigger `extra_trigger`, procedure `extra_proc`, view `extra_view`, table `extra`"),
        "{stdout}"
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("left in place"));
    // Exactly as backed up.
    let after = db.snapshot();
    assert_eq!(after.schema, before.schema);
    after.assert_same_data(&before);
    // The safety backup still holds the extras.
    let undo = TestDb::on(server);
    undo.load(&app.backups_dir().join(safety_backup(&app)));
    assert_eq!(undo.sql("SELECT COUNT(*) FROM extra"), "1\n");
}

/// The restore failed (exit 1) with `reason`, named the safety backup it took first, and
/// stopped within `bound` of `since`.
fn assert_failed_naming_safety(
    app: &common::App,
    out: &std::process::Output,
    reason: &str,
    since: Instant,
    bound: Duration,
) {
    let took = since.elapsed();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(reason)
            && err.contains(&format!(
                "the data from before the restore is in {}",
                app.backups_dir().join(safety_backup(app)).display()
            )),
        "{err}"
    );
    assert!(took < bound, "stopped {took:?} after the cause");
}

test_on_both!(rows_loaded_over_two_connections_come_back_and_a_failing_one_names_its_line);
/// Restoring our own file, a table's INSERTs are shared by two connections (engine/mysql/
/// share.rs): a table of many statements comes back exact, beside a table without a primary
/// key; an INSERT that fails on the second connection stops the restore at its own line and
/// names the safety backup.
fn rows_loaded_over_two_connections_come_back_and_a_failing_one_names_its_line(
    server: &'static Server,
) {
    let db = TestDb::on(server);
    stock_objects(&db);
    filler(&db, 60_000);
    db.sql(
        "CREATE TABLE heap (a INT, b VARCHAR(20)) ENGINE=InnoDB;
         INSERT INTO heap VALUES (3, 'c'), (1, 'a'), (2, 'b'), (1, 'a');",
    );
    let before = db.snapshot();
    let (app, file) = backup(&db, Via::Tcp);
    let text = std::fs::read_to_string(&file).unwrap();
    let inserts: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.starts_with("INSERT INTO `filler` "))
        .map(|(i, _)| i)
        .collect();
    assert!(inserts.len() >= 4, "several statements: {}", inserts.len());
    db.sql("UPDATE filler SET label = 'changed'; DELETE FROM heap;");
    let name = file.file_name().unwrap().to_str().unwrap().to_string();
    app.ok(&["restore", &name, "--yes"]);
    let after = db.snapshot();
    assert_eq!(after.schema, before.schema);
    after.assert_same_data(&before);

    // A table's first INSERT is the second connection's: its first row twice fails there.
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let first = &lines[inserts[0]];
    let values = first.find(" VALUES (").unwrap() + 8;
    let row = &first[values..values + first[values..].find("),(").unwrap() + 1];
    lines[inserts[0]] = format!("{},{row};", first.strip_suffix(';').unwrap());
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    for f in app.backups().into_iter().filter(|n| *n != name) {
        std::fs::remove_file(app.backups_dir().join(f)).unwrap();
    }
    let out = app.run(&["restore", &name, "--yes"]);
    assert_failed_naming_safety(
        &app,
        &out,
        &format!("line {}", inserts[0] + 1),
        Instant::now(),
        Duration::from_secs(600),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    // MariaDB inserts into an empty table in bulk (unique and foreign key checks off, as dumps
    // load) and finds the duplicate when that statement commits: its own words differ.
    let bulk = server.flavor == Flavor::MariaDb && err.contains("during COMMIT");
    assert!(err.contains("Duplicate entry") || bulk, "{err}");
}
