//! PostgreSQL end to end, on a real server (tests/common/postgres.rs): the app's database is
//! backed up by db-backup, the file is loaded by the stock `psql -v ON_ERROR_STOP=1 -f` into a
//! fresh database and by `db-backup restore` into the app's own, and the oracle holds each copy
//! against the source: `pg_dump --schema-only --no-owner --no-acl` identical text for text, and
//! every table's rows (md5 of the ordered rows) and every sequence's value equal.

mod common;

use std::path::{Path, PathBuf};

use common::postgres::*;
use common::*;

const MATRIX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/postgres/matrix.sql");

/// Backs the app up; returns the backup file.
fn backup(app: &App) -> PathBuf {
    let out = app.run(&["backup"]);
    assert_success(&out);
    let backups = app.backups();
    assert_eq!(backups.len(), 1, "{backups:?}");
    let name = backups.last().unwrap().clone();
    assert!(name.ends_with(".sql"), "{name}");
    app.backups_dir().join(name)
}

/// The stock client loads the file into a fresh database of the same user, which then holds
/// exactly what `db` holds.
fn assert_psql_copy_is_exact(db: &PgDb, file: &Path) {
    let copy = db.sibling();
    let out = copy.psql_load(file);
    assert_success(&out);
    assert!(
        out.stderr.is_empty(),
        "psql said: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    db.assert_same_as(&copy);
}

fn matrix_db(server: &'static Server) -> PgDb {
    let db = PgDb::new(server, true);
    // Extensions are installed by the superuser (pgcrypto and btree_gist are trusted on
    // PostgreSQL 13+, so the app's user could too; as on managed servers, an admin does it).
    db.server.admin_sql(
        &db.name,
        "CREATE EXTENSION pgcrypto; CREATE EXTENSION btree_gist;",
    );
    db.sql_file(Path::new(MATRIX));
    db
}

#[test]
fn the_type_matrix_round_trips_through_psql_and_restore() {
    let db = matrix_db(pg15());
    let app = db.app();
    let file = backup(&app);
    let text = std::fs::read_to_string(&file).unwrap();
    // No psql meta-command but the `\.` that ends COPY rows; no \restrict.
    let mut in_copy = false;
    for (n, line) in text.lines().enumerate() {
        if in_copy {
            in_copy = line != "\\.";
        } else if line.starts_with("COPY ") && line.ends_with(" FROM stdin;") {
            in_copy = true;
        } else {
            assert!(!line.starts_with('\\'), "line {}: {line}", n + 1);
        }
    }
    assert!(text
        .trim_end()
        .ends_with("-- PostgreSQL database dump complete\n--"));
    assert_eq!(common::mode(&file) & 0o777, 0o600);
    assert_psql_copy_is_exact(&db, &file);

    // verify: a scratch database, row counts.
    let out = app.run(&["verify", file.to_str().unwrap()]);
    assert_success(&out);

    // restore over the app's own database after changes: back to the backup, exactly.
    let before = (db.schema(), db.data());
    db.sql("DELETE FROM public.sorties; UPDATE public.products SET stock = 0; DROP VIEW public.low_stock_count; SELECT nextval('public.invoice_no');");
    let out = app.run(&["restore", file.to_str().unwrap(), "--yes"]);
    assert_success(&out);
    assert_eq!(db.schema(), before.0, "schema after restore");
    assert_eq!(db.data(), before.1, "rows after restore");
}
