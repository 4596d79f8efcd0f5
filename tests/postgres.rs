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
/// On a server newer than this Debian's, this Debian's older psql (15) loads it too.
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
    if db.server.version != "15" {
        let older = db.sibling();
        let out = older.older_psql_load(file);
        assert_success(&out);
        assert!(
            out.stderr.is_empty(),
            "psql 15 said: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        db.assert_same_as(&older);
    }
}

/// The backup `file` of `db`'s app is exact through psql, verifies, and a restore after
/// `damage` puts the database back exactly.
fn assert_round_trip(db: &PgDb, app: &App, file: &Path, damage: &str) {
    assert_psql_copy_is_exact(db, file);
    let out = app.run(&["verify", file.to_str().unwrap()]);
    assert_success(&out);
    let before = (db.schema(), db.data());
    db.sql(damage);
    assert_ne!(
        (db.schema(), db.data()),
        before,
        "the damage changed nothing"
    );
    let out = app.run(&["restore", file.to_str().unwrap(), "--yes"]);
    assert_success(&out);
    assert_eq!(db.schema(), before.0, "schema after restore");
    assert_eq!(db.data(), before.1, "rows after restore");
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

on_each_pg!(the_type_matrix_round_trips_through_psql_and_restore);
fn the_type_matrix_round_trips_through_psql_and_restore(server: &'static Server) {
    let db = matrix_db(server);
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
    // Nothing but the backup is left of the run.
    let left: Vec<String> = app
        .entries()
        .into_iter()
        .filter(|e| e.starts_with(".db-backup-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    assert_round_trip(
        &db,
        &app,
        &file,
        "DELETE FROM public.sorties; UPDATE public.products SET stock = 0; DROP VIEW public.low_stock_count; SELECT nextval('public.invoice_no');",
    );
}

on_each_pg!(a_plain_pg_dump_file_verifies_and_restores);
/// A plain `pg_dump --no-owner --no-acl` file (with the `\restrict` line of 15.14+) restores
/// and verifies: other people's dumps load under the same whitelist.
fn a_plain_pg_dump_file_verifies_and_restores(server: &'static Server) {
    let db = matrix_db(server);
    // pg_dump's own way of writing partitions and inheritance goes through the whitelist too.
    db.sql_file(Path::new(PARTITIONS));
    let app = db.app();
    let file = app.dir().join("theirs.sql");
    let out = db
        .server
        .program("pg_dump", &db.user, &db.password)
        .args(["--no-owner", "--no-acl", "-d", &db.name])
        .output()
        .unwrap();
    assert_success(&out);
    std::fs::write(&file, &out.stdout).unwrap();
    let out = app.run(&["verify", file.to_str().unwrap()]);
    assert_success(&out);
    let target = db.sibling();
    let app2 = target.app();
    target.server.admin_sql(
        &target.name,
        "CREATE EXTENSION pgcrypto; CREATE EXTENSION btree_gist;",
    );
    let out = app2.run(&["restore", file.to_str().unwrap(), "--yes"]);
    assert_success(&out);
    db.assert_same_as(&target);
}

on_each_pg!(hostile_dumps_are_refused_with_their_line_and_change_nothing);
/// What reaches past the app's database is refused with its line, and nothing changes: no
/// shell command runs, the live database is as it was.
fn hostile_dumps_are_refused_with_their_line_and_change_nothing(server: &'static Server) {
    let db = PgDb::new(server, true);
    db.sql("CREATE TABLE public.keep (id integer); INSERT INTO public.keep VALUES (1), (2);");
    let app = db.app();
    let before = (db.schema(), db.data());
    let marker = app.dir().join("pwned");
    let head = "SET client_encoding = 'UTF8';\nSET standard_conforming_strings = on;\nSELECT pg_catalog.set_config('search_path', '', false);\nCREATE TABLE public.keep (id integer);\n";
    let cases: Vec<(String, &str)> = vec![
        (
            format!("\\! touch {}\n", marker.display()),
            "meta-command \\!",
        ),
        (
            format!("SELECT 1 \\! touch {}\n;\n", marker.display()),
            "meta-command \\!",
        ),
        (
            "\\copy public.keep from '/etc/hostname'\n".into(),
            "meta-command \\copy",
        ),
        ("\\i /etc/passwd\n".into(), "meta-command \\i"),
        ("\\connect postgres\n".into(), "meta-command \\connect"),
        (
            format!(
                "COPY public.keep FROM PROGRAM 'touch {}';\n",
                marker.display()
            ),
            "COPY",
        ),
        ("COPY public.keep TO '/tmp/out';\n".into(), "COPY"),
        ("DO $$ BEGIN PERFORM 1; END $$;\n".into(), "DO blocks"),
        (
            "ALTER SYSTEM SET work_mem = '1GB';\n".into(),
            "ALTER SYSTEM",
        ),
        ("CREATE ROLE evil SUPERUSER;\n".into(), "roles"),
        ("GRANT ALL ON public.keep TO PUBLIC;\n".into(), "grants"),
        (
            "ALTER TABLE public.keep OWNER TO postgres;\n".into(),
            "--no-owner",
        ),
        ("SET role = 'postgres';\n".into(), "SET role"),
        (
            "CREATE TABLE other.t (id integer);\n".into(),
            "schema other",
        ),
        (
            "SELECT pg_catalog.pg_read_file('/etc/passwd');\n".into(),
            "SELECT",
        ),
        (
            "CREATE EXTENSION IF NOT EXISTS plpython3u WITH SCHEMA public;\n".into(),
            "plpython3u",
        ),
    ];
    for (i, (bad, needle)) in cases.iter().enumerate() {
        let file = app.dir().join(format!("hostile{i}.sql"));
        std::fs::write(
            &file,
            format!("{head}{bad}COPY public.keep (id) FROM stdin;\n9\n\\.\n"),
        )
        .unwrap();
        for cmd in ["verify", "restore"] {
            let mut args = vec![cmd, file.to_str().unwrap()];
            if cmd == "restore" {
                args.extend(["--yes", "--clean"]);
            }
            let out = app.run(&args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{cmd} accepted {bad:?}");
            let err: String = err
                .lines()
                .filter(|l| !l.starts_with("db-backup: note:"))
                .collect();
            assert!(
                err.starts_with("db-backup: error: ") && !err.contains("\n"),
                "{err}"
            );
            assert!(err.contains("line 5"), "{cmd} {bad:?}: {err}");
            assert!(
                err.contains(needle),
                "{cmd} {bad:?}: {err} should say {needle}"
            );
            assert!(!marker.exists(), "a shell command ran: {bad:?}");
        }
        assert_eq!((db.schema(), db.data()), before, "changed by {bad:?}");
    }
}

on_each_pg!(bad_settings_and_servers_give_one_line_and_no_file);
fn bad_settings_and_servers_give_one_line_and_no_file(server: &'static Server) {
    let db = PgDb::new(server, false);
    db.sql(
        "CREATE TABLE public.t (id integer); INSERT INTO public.t SELECT generate_series(1, 10);",
    );
    let app = db.app();
    let old = app.plant_old_backup();
    let env = db.env_text();
    let cases = [
        (
            env.replace(
                &format!("DB_PASSWORD='{}'", db.password),
                "DB_PASSWORD=wrong",
            ),
            "refused user",
        ),
        (
            env.replace(
                &format!("DB_DATABASE={}", db.name),
                "DB_DATABASE=no_such_db",
            ),
            "has no database 'no_such_db'",
        ),
        (
            env.replace(&format!("DB_PORT={}", server.port), "DB_PORT=1"),
            "cannot reach PostgreSQL server 127.0.0.1:1",
        ),
    ];
    for (text, needle) in cases {
        app.write_env(&text);
        let out = app.run(&["backup"]);
        assert_clean_failure(&app, &out, 1, needle, &old);
        assert!(!String::from_utf8_lossy(&out.stderr).contains(&db.password));
    }
    app.write_env(&env);

    // Something the dump cannot reproduce stops it, named.
    // A large object: database-wide, its data would not be in the file.
    db.sql("SELECT lo_from_bytea(0, 'scan of an invoice')");
    let out = app.run(&["backup"]);
    assert_clean_failure(&app, &out, 1, "large object", &old);
    db.sql("SELECT lo_unlink(oid) FROM pg_largeobject_metadata");
    // (Only a superuser may make an operator family.)
    server.admin_sql(&db.name, "CREATE OPERATOR FAMILY public.fam USING btree;");
    let out = app.run(&["backup"]);
    assert_clean_failure(&app, &out, 1, "operator family fam", &old);
    server.admin_sql(&db.name, "DROP OPERATOR FAMILY public.fam USING btree;");
    // An event trigger (database-wide, a superuser's) too.
    server.admin_sql(
        &db.name,
        "CREATE FUNCTION public.ddl_log() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN END $$;
         CREATE EVENT TRIGGER audit_ddl ON ddl_command_end EXECUTE FUNCTION public.ddl_log();",
    );
    let out = app.run(&["backup"]);
    assert_clean_failure(&app, &out, 1, "event trigger audit_ddl", &old);
    server.admin_sql(
        &db.name,
        "DROP EVENT TRIGGER audit_ddl; DROP FUNCTION public.ddl_log();",
    );

    // verify without the right to create a database says so.
    let out = app.run(&["backup"]);
    assert_success(&out);
    let file = app.backups_dir().join(
        app.backups()
            .into_iter()
            .find(|b| b.ends_with(".sql") && !old.0.ends_with(b))
            .unwrap(),
    );
    let out = app.run(&["verify", file.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("CREATEDB"), "{err}");
}

on_each_pg!(a_server_going_away_mid_dump_publishes_nothing);
/// The server going away in the middle of a dump: one line, nothing published.
fn a_server_going_away_mid_dump_publishes_nothing(server: &'static Server) {
    // Kill the dump's sessions as soon as they stream.
    killed_mid_copy_fails_cleanly(server, "db-backup");
}

/// A 75 MB table, and a backup of it whose sessions named `name` are terminated while they
/// copy: one line, exit 1, nothing published, the older backup untouched.
fn killed_mid_copy_fails_cleanly(server: &'static Server, name: &str) -> App {
    let db = PgDb::new(server, false);
    db.sql("CREATE TABLE public.big (id integer, pad text); INSERT INTO public.big SELECT i, repeat('x', 500) FROM generate_series(1, 150000) i;");
    let app = db.app();
    let old = app.plant_old_backup();
    let out = backup_killed_mid_copy(&db, &app, name);
    assert_clean_failure(&app, &out, 1, "PostgreSQL server", &old);
    app
}

/// A backup whose sessions named `name` (application_name) are terminated while they COPY.
fn backup_killed_mid_copy(db: &PgDb, app: &App, name: &str) -> std::process::Output {
    let child = app
        .cmd(&["backup"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut killed = false;
    for _ in 0..400 {
        let n = db.server.admin_sql(
            "postgres",
            &format!("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = '{name}' AND query LIKE 'COPY%'"),
        );
        if n.trim() != "0" {
            killed = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let out = child.wait_with_output().unwrap();
    assert!(killed, "no session {name} copied before the backup ended");
    out
}

on_each_pg!(the_helper_connection_lost_mid_copy_publishes_nothing);
/// The second copying connection (the helper) killed while it copies: one line, nothing
/// published, no file left.
fn the_helper_connection_lost_mid_copy_publishes_nothing(server: &'static Server) {
    let app = killed_mid_copy_fails_cleanly(server, "db-backup helper");
    let left: Vec<String> = app
        .entries()
        .into_iter()
        .filter(|e| e.starts_with(".db-backup-") && e != ".db-backup.lock")
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

const LARAVEL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/postgres/laravel.sql");

on_each_pg!(laravel_migrations_in_two_schemas_with_excluded_data);
/// Laravel's default migrations and a second schema of the search path (hard-coded in the
/// app's config/database.php, as Laravel apps set it), with `--exclude-data` of the sessions
/// and cache: the structure is kept, the rows are not.
fn laravel_migrations_in_two_schemas_with_excluded_data(server: &'static Server) {
    let db = PgDb::new(server, true);
    db.sql_file(Path::new(LARAVEL));
    let app = db.app();
    std::fs::write(
        app.dir().join("config/database.php"),
        "<?php\nreturn [\n    'default' => env('DB_CONNECTION', 'pgsql'),\n    'connections' => [\n        'pgsql' => [\n            'driver' => 'pgsql',\n            'search_path' => 'public,app',\n            'sslmode' => 'prefer',\n        ],\n    ],\n];\n",
    )
    .unwrap();
    let file = backup(&app);
    assert_psql_copy_is_exact(&db, &file);

    let out = app.run(&["backup", "--exclude-data=sessions,cache", "--json"]);
    assert_success(&out);
    let json = String::from_utf8_lossy(&out.stdout);
    assert!(json.contains("sessions"), "{json}");
    let lean = app.backups_dir().join(
        app.backups()
            .into_iter()
            .rfind(|b| b.ends_with(".sql"))
            .unwrap(),
    );
    let copy = db.sibling();
    assert_success(&copy.psql_load(&lean));
    assert_eq!(db.schema(), copy.schema());
    assert_eq!(copy.sql("SELECT count(*) FROM public.sessions").trim(), "0");
    assert_eq!(copy.sql("SELECT count(*) FROM public.cache").trim(), "0");
    assert_eq!(
        copy.sql("SELECT count(*) FROM app.receptions").trim(),
        "2000"
    );

    // A table that is not in the backup stops a restore unless --clean.
    db.sql("CREATE TABLE app.later (id integer)");
    let out = app.run(&["restore", file.to_str().unwrap(), "--yes"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("app.later"), "{err}");
    assert_eq!(db.sql("SELECT count(*) FROM app.later").trim(), "0");
    let out = app.run(&["restore", file.to_str().unwrap(), "--yes", "--clean"]);
    assert_success(&out);
    let gone = db.sql("SELECT count(*) FROM pg_class WHERE relname = 'later'");
    assert_eq!(gone.trim(), "0");
    assert_eq!(db.sql("SELECT count(*) FROM app.products").trim(), "500");
}

const PARTITIONS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/postgres/partitions.sql");

on_each_pg!(partitions_and_inheritance_round_trip);
/// Partitioned tables (range, hash, a default partition partitioned again, one attached with
/// its own column order), keys, indexes and triggers on the parent, foreign keys to and from
/// them, and inheritance with two parents: psql's load is exact, verify passes, restore puts
/// back what changed, and excluding a partitioned table's data leaves every partition empty.
fn partitions_and_inheritance_round_trip(server: &'static Server) {
    let db = PgDb::new(server, true);
    db.sql_file(Path::new(PARTITIONS));
    let app = db.app();
    let file = backup(&app);
    assert_round_trip(
        &db,
        &app,
        &file,
        "DELETE FROM public.movements WHERE id % 3 = 0; DROP TABLE public.vaccines;
         ALTER TABLE public.movements DETACH PARTITION public.movements_2026;
         INSERT INTO public.items VALUES ('new', 1); DROP TABLE public.hashed_1;",
    );

    let out = app.run(&["backup", "--exclude-data=hashed"]);
    assert_success(&out);
    let lean = app.backups_dir().join(app.backups().last().unwrap());
    let copy = db.sibling();
    assert_success(&copy.psql_load(&lean));
    assert_eq!(db.schema(), copy.schema());
    for t in ["hashed_0", "hashed_1"] {
        assert_eq!(
            copy.sql(&format!("SELECT count(*) FROM public.{t}")).trim(),
            "0"
        );
    }
    assert_eq!(
        copy.sql("SELECT count(*) FROM public.movements").trim(),
        "3000"
    );
}

const NEWEST: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/postgres/newest.sql");

/// What only the newest server has (PostgreSQL 18: named and NOT VALID NOT NULL constraints,
/// NOT ENFORCED checks, virtual generated columns, temporal keys), exact through psql (of the
/// server's version and this Debian's older one) and restore.
#[test]
fn what_only_the_newest_server_has_round_trips() {
    let db = PgDb::new(newest(), true);
    db.server
        .admin_sql(&db.name, "CREATE EXTENSION btree_gist;");
    db.sql_file(Path::new(NEWEST));
    let app = db.app();
    let file = backup(&app);
    assert_round_trip(
        &db,
        &app,
        &file,
        "ALTER TABLE public.legacy DROP CONSTRAINT code_wanted; DELETE FROM public.stays;",
    );
}

on_each_pg!(real_world_schemas_round_trip);
/// Schemas nobody here wrote, as their applications ship them in Debian: Zabbix (173 tables,
/// images as bytea, 170 000 rows of initial data) and DAViCal (plpgsql functions, triggers,
/// views with multi-statement rewrite rules). Each is exact through psql, verifies, and is
/// put back by restore after changes.
fn real_world_schemas_round_trip(server: &'static Server) {
    let apps: [(&str, &[&str], &str); 2] = [
        (
            "zabbix",
            &[
                "usr/share/zabbix-server-pgsql/schema.sql",
                "usr/share/zabbix-server-pgsql/images.sql",
                "usr/share/zabbix-server-pgsql/data.sql",
            ],
            "DELETE FROM public.images WHERE imageid NOT IN (SELECT iconid_off FROM public.sysmaps_elements); DROP TABLE public.hosts CASCADE; UPDATE public.config SET work_period = 'x'",
        ),
        (
            "davical",
            &[
                "usr/share/awl/dba/awl-tables.sql",
                "usr/share/awl/dba/schema-management.sql",
                "usr/share/davical/dba/davical.sql",
                "usr/share/davical/dba/caldav_functions.sql",
                "usr/share/davical/dba/rrule_functions.sql",
                "usr/share/davical/dba/base-data.sql",
                "usr/share/davical/dba/views/dav_principal.sql",
            ],
            "DROP VIEW public.dav_principal; DELETE FROM public.principal; DROP FUNCTION public.rrule_event_overlaps CASCADE",
        ),
    ];
    for (name, files, damage) in apps {
        let db = PgDb::new(server, true);
        for f in files {
            db.sql_file(&sample(f));
        }
        // Which one failed, in the test's output.
        eprintln!("real-world schema: {name}");
        let app = db.app();
        let file = backup(&app);
        assert_round_trip(&db, &app, &file, damage);
    }
}

on_each_pg!(tls_modes_against_a_server_that_requires_tls);
/// A user the server accepts over TLS only (pg_hba `hostnossl … reject`): `require` and
/// `prefer` encrypt, `verify-ca` and `verify-full` check the harness's CA (and 127.0.0.1 /
/// localhost in its certificate); `disable`, a CA that did not sign the server's certificate,
/// and a root certificate file that is not there each give one line and no file.
fn tls_modes_against_a_server_that_requires_tls(server: &'static Server) {
    let db = PgDb::new(server, false);
    db.sql("CREATE TABLE public.t (id integer); INSERT INTO public.t VALUES (1), (2);");
    db.tls_only();
    let app = db.app();
    std::fs::write(
        app.dir().join("config/database.php"),
        "<?php\nreturn [\n    'default' => env('DB_CONNECTION', 'pgsql'),\n    'connections' => [\n        'pgsql' => [\n            'driver' => 'pgsql',\n            'sslmode' => env('DB_SSLMODE', 'prefer'),\n            'sslrootcert' => env('DB_SSLROOTCERT'),\n        ],\n    ],\n];\n",
    )
    .unwrap();
    let ca = common::mysql::tls_ca();
    let env = db.env_text();
    let with = |more: &str| format!("{env}{more}");
    let good = [
        with("DB_SSLMODE=require\n"),
        with("DB_SSLMODE=prefer\n"),
        with(&format!(
            "DB_SSLMODE=verify-ca\nDB_SSLROOTCERT={}\n",
            ca.display()
        )),
        with(&format!(
            "DB_SSLMODE=verify-full\nDB_SSLROOTCERT={}\n",
            ca.display()
        )),
        with(&format!(
            "DB_SSLMODE=verify-full\nDB_SSLROOTCERT={}\n",
            ca.display()
        ))
        .replace("DB_HOST=127.0.0.1", "DB_HOST=localhost"),
    ];
    for text in &good {
        app.write_env(text);
        let out = app.run(&["backup"]);
        assert_success(&out);
    }
    let made = app.backups();
    assert_eq!(made.len(), good.len(), "{made:?}");
    // The harness's own clients connect without TLS.
    server.admin_sql("postgres", &format!("REVOKE tls_only FROM {}", db.user));
    let copy = db.sibling();
    assert_success(&copy.psql_load(&app.backups_dir().join(made.last().unwrap())));
    assert_eq!(copy.sql("SELECT count(*) FROM public.t").trim(), "2");
    db.tls_only();

    for f in made {
        std::fs::remove_file(app.backups_dir().join(f)).unwrap();
    }
    let old = app.plant_old_backup();
    // A CA that did not sign the server's certificate: the system's own bundle.
    let other_ca = "/etc/ssl/certs/ca-certificates.crt";
    let bad = [
        (with("DB_SSLMODE=disable\n"), "no encryption"),
        (
            with(&format!(
                "DB_SSLMODE=verify-full\nDB_SSLROOTCERT={other_ca}\n"
            )),
            "TLS handshake",
        ),
        (
            with("DB_SSLMODE=verify-ca\nDB_SSLROOTCERT=/nonexistent/root.crt\n"),
            "/nonexistent/root.crt",
        ),
    ];
    for (text, needle) in bad {
        app.write_env(&text);
        let out = app.run(&["backup"]);
        assert_clean_failure(&app, &out, 1, needle, &old);
        assert!(!String::from_utf8_lossy(&out.stderr).contains(&db.password));
    }
}

on_each_pg!(a_large_table_is_copied_in_page_ranges_exactly);
/// A table of some 17 MB is cut into page ranges shared by the two copying connections: every
/// row once, none lost at a range's edge, also with rows moved by updates
/// and holes left by deletes; an inheritance child's rows stay its own.
fn a_large_table_is_copied_in_page_ranges_exactly(server: &'static Server) {
    let db = PgDb::new(server, true);
    db.sql(
        "CREATE TABLE public.movements (id bigint PRIMARY KEY, note text, qty integer);
         INSERT INTO public.movements SELECT i, repeat(md5(i::text), 4), i % 97 FROM generate_series(1, 100000) i;
         DELETE FROM public.movements WHERE id % 7 = 0;
         UPDATE public.movements SET qty = -qty WHERE id % 11 = 0;
         CREATE TABLE public.archived (reason text) INHERITS (public.movements);
         INSERT INTO public.archived VALUES (0, 'old', 1, 'why');
         CREATE TABLE public.small (id integer);
         INSERT INTO public.small VALUES (1);",
    );
    let size = db.sql("SELECT pg_relation_size('public.movements') / 8192");
    assert!(size.trim().parse::<i64>().unwrap() > 3 * 512, "{size}");
    let app = db.app();
    let file = backup(&app);
    assert_psql_copy_is_exact(&db, &file);
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(text.matches("COPY \"public\".\"movements\"").count(), 1);
    let out = app.run(&["verify", file.to_str().unwrap()]);
    assert_success(&out);
}

on_each_pg!(a_dump_while_the_app_writes_is_one_moment);
/// While pgbench moves stock (one unit off a shelf row, one movement row, per transaction) on
/// two connections, three backups in a row: each, loaded by psql, holds the invariant — the
/// shelf's units plus the movements are the starting total — so every table and every page
/// range (the shelf is cut in several) was read at the same moment, by either connection.
fn a_dump_while_the_app_writes_is_one_moment(server: &'static Server) {
    const TOTAL: i64 = 50_000 * 100;
    let db = PgDb::new(server, true);
    db.sql(
        "CREATE TABLE public.shelf (id integer PRIMARY KEY, qty integer NOT NULL, pad text);
         INSERT INTO public.shelf SELECT i, 100, repeat('x', 150) FROM generate_series(1, 50000) i;
         CREATE TABLE public.moves (id bigserial PRIMARY KEY, qty integer NOT NULL);",
    );
    let pages = db.sql("SELECT pg_relation_size('public.shelf') / 8192");
    assert!(pages.trim().parse::<i64>().unwrap() > 2 * 512, "{pages}");
    let app = db.app();
    let script = app.dir().join("move.sql");
    std::fs::write(
        &script,
        "\\set id random(1, 50000)\nBEGIN;\nUPDATE public.shelf SET qty = qty - 1 WHERE id = :id;\nINSERT INTO public.moves (qty) VALUES (1);\nCOMMIT;\n",
    )
    .unwrap();
    let script = server.client_file(&script);
    let writer = server
        .program("pgbench", &db.user, &db.password)
        .args(["-n", "-T", "10", "-c", "2", "-f"])
        .arg(&script.path)
        .arg(&db.name)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let mut files = Vec::new();
    for _ in 0..3 {
        let out = app.run(&["backup"]);
        assert_success(&out);
        files.push(app.backups_dir().join(app.backups().last().unwrap()));
    }
    let out = writer.wait_with_output().unwrap();
    assert_success(&out);
    let moved = db.sql("SELECT count(*) FROM public.moves");
    assert!(
        moved.trim().parse::<i64>().unwrap() > 0,
        "pgbench moved nothing"
    );
    for file in files {
        let copy = db.sibling();
        assert_success(&copy.psql_load(&file));
        let sum = copy.sql(
            "SELECT (SELECT sum(qty) FROM public.shelf) + (SELECT coalesce(sum(qty), 0) FROM public.moves)",
        );
        assert_eq!(
            sum.trim().parse::<i64>().unwrap(),
            TOTAL,
            "{}",
            file.display()
        );
    }
}
