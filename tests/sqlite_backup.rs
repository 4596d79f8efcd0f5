//! The SQLite path end to end: the real binary against temp Laravel apps.

mod common;

use std::os::unix::fs::symlink;

use chrono::{Duration, Utc};
use common::*;
use rusqlite::Connection;

#[test]
fn backs_up_to_the_old_commands_folder_and_name() {
    let app = App::sqlite();
    let out = app.ok(&[]);
    let names = app.backups();
    assert_eq!(names.len(), 1);
    assert!(names[0].ends_with(".sqlite"));
    assert!(
        out.starts_with(&format!("created storage/app/backups/{}", names[0])),
        "{out}"
    );
    let copy = app.backups_dir().join(&names[0]);
    assert_eq!(quick_check(&copy), "ok");
    let c = Connection::open(&copy).unwrap();
    let n: i64 = c
        .query_row("SELECT count(*) FROM products", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 3);
    assert_eq!(mode(&copy), 0o600);
    assert_eq!(mode(&app.backups_dir()), 0o700);
    // Only the backup and our lock file: no temp files, no -wal/-shm/-journal.
    assert_eq!(
        app.entries(),
        vec![".db-backup.lock".to_string(), names[0].clone()]
    );
}

/// A backups folder made before (the old command made it 0755, its backups 0644) is left as it
/// is — it may be shared on purpose — but each run warns about what other users can reach.
#[test]
fn an_existing_folder_open_to_others_is_warned_about_not_changed() {
    use std::fs::{set_permissions, Permissions};
    use std::os::unix::fs::PermissionsExt;
    let app = App::sqlite();
    let (old, _) = app.plant_old_backup();
    set_permissions(&old, Permissions::from_mode(0o644)).unwrap();
    set_permissions(app.backups_dir(), Permissions::from_mode(0o755)).unwrap();
    for args in [&["--quiet"][..], &[]] {
        let out = app.run(args);
        assert_success(&out);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("db-backup: warning: the backups folder storage/app/backups is open to other users (mode 0755)"),
            "{err}"
        );
        assert!(
            err.contains("1 backup(s) in storage/app/backups can be read by any user of this machine (database_backup_2020-01-01_000000.sqlite)"),
            "{err}"
        );
    }
    assert_eq!(mode(&app.backups_dir()), 0o755, "not ours to change");
    assert_eq!(mode(&old), 0o644);
    // Once the user has closed it, nothing more is said.
    set_permissions(&old, Permissions::from_mode(0o600)).unwrap();
    set_permissions(app.backups_dir(), Permissions::from_mode(0o750)).unwrap();
    let out = app.run(&["--keep=10"]);
    assert_success(&out);
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

#[test]
fn timestamp_is_in_the_app_time_zone() {
    for (env, config_zone, zone) in [
        ("APP_TIMEZONE=Asia/Tokyo\n", "UTC", chrono_tz::Asia::Tokyo),
        (
            "",
            "America/Port-au-Prince",
            "America/Port-au-Prince".parse::<chrono_tz::Tz>().unwrap(),
        ),
        ("", "UTC", chrono_tz::UTC),
    ] {
        let app = App::sqlite();
        app.write_env(&format!("DB_CONNECTION=sqlite\n{env}"));
        std::fs::write(
            app.dir().join("config/app.php"),
            format!(
                "<?php\nreturn [\n    'timezone' => env('APP_TIMEZONE', '{config_zone}'),\n];\n"
            ),
        )
        .unwrap();
        let before = Utc::now().with_timezone(&zone).naive_local();
        app.ok(&[]);
        let after = Utc::now().with_timezone(&zone).naive_local();
        let name = &app.backups()[0];
        let stamp = chrono::NaiveDateTime::parse_from_str(
            &name["database_backup_".len()..name.len() - ".sqlite".len()],
            "%Y-%m-%d_%H%M%S",
        )
        .unwrap();
        assert!(
            stamp >= before - Duration::seconds(1) && stamp <= after,
            "{name} not between {before} and {after} in {zone}"
        );
    }
}

#[test]
fn bad_time_zone_is_refused() {
    let app = App::sqlite();
    app.write_env("DB_CONNECTION=sqlite\nAPP_TIMEZONE=Mars/Olympus\n");
    std::fs::write(
        app.dir().join("config/app.php"),
        "<?php\nreturn [\n    'timezone' => env('APP_TIMEZONE', 'UTC'),\n];\n",
    )
    .unwrap();
    let out = app.run(&[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Mars/Olympus"));
    assert!(app.backups().is_empty());
}

#[test]
fn hard_coded_config_values_win_over_the_environment_as_in_laravel() {
    // Laravel 8's config/app.php says 'timezone' => 'UTC': APP_TIMEZONE is then ignored.
    let app = App::sqlite();
    app.write_env("DB_CONNECTION=pgsql\nAPP_TIMEZONE=Mars/Olympus\n");
    std::fs::write(
        app.dir().join("config/database.php"),
        "<?php\nreturn [\n    'default' => 'sqlite',\n];\n",
    )
    .unwrap();
    app.ok(&[]);
    assert_eq!(app.backups().len(), 1);
}

#[test]
fn finds_the_app_from_the_project_root_and_from_a_subfolder() {
    let app = App::sqlite();
    // From the repository root: ./api holds the app.
    let out = app
        .cmd(&["--quiet"])
        .current_dir(app.root.path())
        .output()
        .unwrap();
    common::assert_success(&out);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let sub = app.dir().join("app/Console/Commands");
    std::fs::create_dir_all(&sub).unwrap();
    let out = app.cmd(&["--quiet"]).current_dir(&sub).output().unwrap();
    common::assert_success(&out);
    assert_eq!(app.backups().len(), 2);
    assert!(app.ok(&["--quiet"]).is_empty(), "--quiet prints nothing");
}

#[test]
fn app_dir_and_env_file_options() {
    let app = App::sqlite();
    let elsewhere = tempfile::tempdir().unwrap();
    let moved = app.dir().join("database/stock.sqlite");
    std::fs::rename(app.db_path(), &moved).unwrap();
    let env = elsewhere.path().join("prod.env");
    std::fs::write(
        &env,
        "DB_CONNECTION=sqlite\nDB_DATABASE=database/stock.sqlite\n",
    )
    .unwrap();
    let out = app
        .cmd(&[
            "--app-dir",
            app.dir().to_str().unwrap(),
            "--env-file",
            env.to_str().unwrap(),
        ])
        .current_dir(elsewhere.path())
        .output()
        .unwrap();
    common::assert_success(&out);
    assert_eq!(app.backups().len(), 1);
}

#[test]
fn database_path_absolute_relative_and_default() {
    let app = App::sqlite();
    let other = tempfile::tempdir().unwrap();
    let abs = other.path().join("abs.sqlite");
    stock_schema(&abs);
    app.write_env(&format!(
        "DB_CONNECTION=sqlite\nDB_DATABASE={}\n",
        abs.display()
    ));
    app.ok(&[]);
    std::fs::copy(&abs, app.dir().join("database/rel.sqlite")).unwrap();
    std::fs::remove_file(&abs).unwrap();
    app.write_env("DB_CONNECTION=sqlite\nDB_DATABASE=database/rel.sqlite\n");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    app.ok(&[]);
    assert_eq!(app.backups().len(), 2);
}

#[test]
fn real_environment_wins_over_env_file() {
    let app = App::sqlite();
    app.write_env("DB_CONNECTION=sqlite\nDB_DATABASE=database/nope.sqlite\n");
    let out = app
        .cmd(&[])
        .env("DB_DATABASE", app.db_path())
        .output()
        .unwrap();
    common::assert_success(&out);
}

#[test]
fn connection_default_comes_from_config_database_php() {
    let app = App::sqlite();
    app.write_env("APP_NAME=stock\n");
    std::fs::write(
        app.dir().join("config/database.php"),
        "<?php\nreturn [\n    'default' => env('DB_CONNECTION', 'sqlite'),\n];\n",
    )
    .unwrap();
    app.ok(&[]);
    assert_eq!(app.backups().len(), 1);
}

#[test]
fn keep_retains_the_newest_and_never_touches_foreign_files() {
    let app = App::sqlite();
    let dir = app.backups_dir();
    std::fs::create_dir_all(&dir).unwrap();
    // Older backups, made "earlier" by name; mtimes deliberately newest-looking.
    for n in [
        "database_backup_2025-12-31_235959.sqlite",
        "database_backup_2026-01-01_000000.sql",
    ] {
        std::fs::write(dir.join(n), "old").unwrap();
    }
    let foreign = [
        "notes.txt",
        "database_backup_2026-01-01_000000.sqlite.bak",
        "database_backup_manual.sqlite",
    ];
    for n in foreign {
        std::fs::write(dir.join(n), "mine").unwrap();
    }
    let outside = tempfile::tempdir().unwrap();
    let precious = outside.path().join("precious");
    std::fs::write(&precious, "do not delete").unwrap();
    symlink(
        &precious,
        dir.join("database_backup_2019-01-01_000000.sqlite"),
    )
    .unwrap();

    let out = app.ok(&["--keep=2"]);
    assert!(
        out.contains("deleted storage/app/backups/database_backup_2025-12-31_235959.sqlite"),
        "{out}"
    );
    let names = app.backups();
    assert_eq!(
        names.len(),
        3,
        "2 kept + the symlink, which is never a candidate: {names:?}"
    );
    assert!(names.contains(&"database_backup_2026-01-01_000000.sql".to_string()));
    for n in foreign {
        assert!(dir.join(n).exists(), "{n} was touched");
    }
    assert!(precious.exists());
    assert!(dir
        .join("database_backup_2019-01-01_000000.sqlite")
        .symlink_metadata()
        .is_ok());

    app.ok(&["--keep", "1"]);
    let names: Vec<_> = app
        .backups()
        .into_iter()
        .filter(|n| !n.starts_with("database_backup_2019"))
        .collect();
    assert_eq!(names.len(), 1);
    assert!(names[0].as_str() > "database_backup_2026");
}

#[test]
fn json_output_for_ci() {
    let app = App::sqlite();
    std::fs::create_dir_all(app.backups_dir()).unwrap();
    std::fs::write(
        app.backups_dir()
            .join("database_backup_2020-01-01_000000.sqlite"),
        "x",
    )
    .unwrap();
    let out = app.ok(&["--json", "--keep=1"]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let created = v["created"].as_str().unwrap();
    assert!(
        created.starts_with("storage/app/backups/database_backup_"),
        "{v}"
    );
    assert!(v["size_bytes"].as_u64().unwrap() > 0);
    assert!(v["duration_ms"].is_u64());
    assert_eq!(
        v["deleted"],
        serde_json::json!(["storage/app/backups/database_backup_2020-01-01_000000.sqlite"])
    );
    assert_eq!(out.lines().count(), 1);
}

#[test]
fn dry_run_changes_nothing() {
    let app = App::sqlite();
    let (old, _) = app.plant_old_backup();
    let out = app.ok(&["--dry-run", "--keep=1"]);
    assert!(
        out.contains("would create storage/app/backups/database_backup_"),
        "{out}"
    );
    assert!(
        out.contains("would delete storage/app/backups/database_backup_2020-01-01_000000.sqlite"),
        "{out}"
    );
    assert!(old.exists());
    assert_eq!(
        app.entries(),
        vec!["database_backup_2020-01-01_000000.sqlite".to_string()]
    );
}

#[test]
fn runs_in_the_same_second_never_overwrite() {
    let app = App::sqlite();
    for _ in 0..3 {
        app.ok(&["--keep=10"]);
    }
    let names = app.backups();
    assert_eq!(names.len(), 3, "{names:?}");
}

#[test]
fn wal_source_stays_wal_and_the_copy_is_self_contained() {
    let app = App::sqlite();
    let live = Connection::open(app.db_path()).unwrap();
    let mode: String = live
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    live.execute_batch("PRAGMA wal_autocheckpoint=0; INSERT INTO products (name, stock) VALUES ('only in the wal', 1);").unwrap();
    app.ok(&[]);
    let name = &app.backups()[0];
    assert_eq!(
        app.entries(),
        vec![".db-backup.lock".to_string(), name.clone()]
    );
    let copy = app.backups_dir().join(name);
    // Restore the way users do: cp over a fresh database file, then open it.
    let restored = app.root.path().join("restored.sqlite");
    std::fs::copy(&copy, &restored).unwrap();
    let c = Connection::open(&restored).unwrap();
    let m: String = c
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(m, "delete");
    let n: i64 = c
        .query_row(
            "SELECT count(*) FROM products WHERE name = 'only in the wal'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 1, "commits still in the -wal file are in the backup");
    let still: String = live
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(still, "wal");
    let header = std::fs::read(app.db_path()).unwrap();
    assert_eq!(
        (header[18], header[19]),
        (2, 2),
        "source header still says WAL"
    );
}

#[test]
fn stale_temporary_files_are_removed_by_the_next_run() {
    let app = App::sqlite();
    std::fs::create_dir_all(app.backups_dir()).unwrap();
    let stale = app.backups_dir().join(".db-backup-AbC123.partial");
    std::fs::write(&stale, "half a backup").unwrap();
    std::fs::write(
        app.backups_dir().join(".db-backup-AbC123.partial-journal"),
        "x",
    )
    .unwrap();
    app.ok(&[]);
    assert_eq!(app.entries().len(), 2, "{:?}", app.entries());
    assert!(!stale.exists());
}

#[test]
fn help_explains_every_option() {
    let app = App::sqlite();
    let help = app.ok(&["--help"]);
    for opt in [
        "--keep",
        "--app-dir",
        "--env-file",
        "--dry-run",
        "--quiet",
        "--json",
        "--busy-timeout",
    ] {
        assert!(help.contains(opt), "--help lacks {opt}");
    }
}

#[test]
fn app_env_selects_its_own_env_file() {
    // APP_ENV=testing in the real environment: Laravel loads .env.testing instead of .env.
    let app = App::sqlite();
    app.write_env("DB_CONNECTION=sqlite\nDB_DATABASE=database/missing.sqlite\n");
    std::fs::write(app.dir().join(".env.testing"), "DB_CONNECTION=sqlite\n").unwrap();
    let out = app.cmd(&[]).env("APP_ENV", "testing").output().unwrap();
    common::assert_success(&out);
    let out = app.run(&[]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.sqlite"));
}

#[test]
fn laravel_env_rules_reach_the_connection() {
    // A password-like `$`, an inline comment, and the last duplicate: all as Laravel reads them.
    let app = App::sqlite();
    app.write_env(
        "DB_CONNECTION=pgsql\nDB_CONNECTION=sqlite # the one Laravel uses\nDB_DATABASE=database/pa$word.sqlite\n",
    );
    std::fs::rename(app.db_path(), app.dir().join("database/pa$word.sqlite")).unwrap();
    app.ok(&[]);
    assert_eq!(app.backups().len(), 1);
}
