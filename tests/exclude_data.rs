//! Leaner backups: `--exclude-data` / `DB_BACKUP_EXCLUDE_DATA` leave the rows of Laravel's
//! cache, sessions and jobs tables out, structure kept, on SQLite and on MariaDB and MySQL 9.7;
//! the JSON outcome and the dry run name them; a name that is no table is one line, and nothing
//! is published. Nothing is left out by default.

mod common;

use common::mysql::*;
use common::*;

fn laravel_tables(db: &std::path::Path) {
    let c = rusqlite::Connection::open(db).unwrap();
    c.execute_batch(
        "CREATE TABLE cache (key VARCHAR PRIMARY KEY, value TEXT NOT NULL, expiration INTEGER NOT NULL);
         CREATE TABLE sessions (id VARCHAR PRIMARY KEY, payload TEXT NOT NULL, last_activity INTEGER NOT NULL);
         CREATE INDEX sessions_last_activity_index ON sessions (last_activity);
         INSERT INTO cache VALUES ('k1', 'v', 1), ('k2', 'v', 2);
         INSERT INTO sessions VALUES ('s1', 'p', 1);",
    )
    .unwrap();
}

fn count(db: &std::path::Path, table: &str) -> i64 {
    rusqlite::Connection::open(db)
        .unwrap()
        .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

#[test]
fn sqlite_rows_of_excluded_tables_are_left_out_and_named() {
    let app = App::sqlite();
    laravel_tables(&app.db_path());
    // By default everything is kept.
    app.ok(&[]);
    let full = app.backups_dir().join(app.backups().pop().unwrap());
    assert_eq!(count(&full, "cache"), 2);
    // Dry run names what would be left out.
    let dry = app.ok(&["--dry-run", "--exclude-data", "cache,sessions"]);
    assert!(
        dry.contains("would leave out the rows of cache, sessions (their structure is kept)"),
        "{dry}"
    );
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let out = app.ok(&["--json", "--exclude-data", "cache, sessions"]);
    let json: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        json["excluded_data"],
        serde_json::json!(["cache", "sessions"])
    );
    let lean = app.backups_dir().join(app.backups().pop().unwrap());
    assert_ne!(lean, full);
    assert_eq!((count(&lean, "cache"), count(&lean, "sessions")), (0, 0));
    assert_eq!(count(&lean, "products"), count(&full, "products"));
    // The index is still there, and the file passes the full check.
    app.ok(&["verify", lean.to_str().unwrap()]);
    let indexes: i64 = rusqlite::Connection::open(&lean)
        .unwrap()
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE name = 'sessions_last_activity_index'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(indexes, 1);
    // From .env too, and a name that is no table fails in one line, publishing nothing.
    let before = app.backups();
    let out = app
        .cmd(&[])
        .env("DB_BACKUP_EXCLUDE_DATA", "cache,sesions")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("names 'sesions', which is not a table"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert_eq!(app.backups(), before);
}

test_on_both!(mysql_rows_of_excluded_tables_are_left_out_and_the_dump_still_loads);
fn mysql_rows_of_excluded_tables_are_left_out_and_the_dump_still_loads(server: &'static Server) {
    let db = TestDb::on(server);
    stock_objects(&db);
    db.sql(
        "CREATE TABLE cache (`key` VARCHAR(255) PRIMARY KEY, value MEDIUMTEXT NOT NULL, expiration INT NOT NULL);
         CREATE TABLE jobs (id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, payload LONGTEXT NOT NULL);
         INSERT INTO cache VALUES ('k1', REPEAT('v', 1000), 1), ('k2', 'v', 2);
         INSERT INTO jobs (payload) VALUES ('j1'), ('j2'), ('j3');",
    );
    let app = db.app(Via::Tcp);
    let out = app.ok(&["--json", "--exclude-data", "cache,jobs"]);
    let json: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(json["excluded_data"], serde_json::json!(["cache", "jobs"]));
    let file = only_backup(&app);
    let dump = std::fs::read_to_string(&file).unwrap();
    assert!(
        dump.contains("CREATE TABLE `cache`"),
        "the structure is kept"
    );
    assert!(!dump.contains("INSERT INTO `cache`") && !dump.contains("INSERT INTO `jobs`"));
    // The stock client loads it: the tables are there, empty; the rest is whole.
    let copy = db.sibling();
    copy.load(&file);
    assert_eq!(copy.rows("cache"), Vec::<String>::new());
    assert_eq!(copy.rows("jobs"), Vec::<String>::new());
    assert_eq!(copy.rows("products"), db.rows("products"));
    // Its AUTO_INCREMENT is kept: new jobs do not reuse old ids.
    copy.sql("INSERT INTO jobs (payload) VALUES ('new')");
    assert_eq!(
        copy.rows("jobs"),
        ["4\t6E6577".to_string()],
        "id 4, hex of 'new'"
    );
    // A name that is no table.
    let out = app.run(&["--exclude-data", "cache,nope"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("names 'nope', which is not a table"), "{err}");
}
