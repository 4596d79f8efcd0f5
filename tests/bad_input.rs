//! Every bad input: one clear error line, a non-zero exit, nothing under a final name, and the
//! older backups untouched.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::time::Duration;

use common::*;
use rusqlite::Connection;

fn fails(app: &App, args: &[&str], code: i32, needle: &str) {
    let old = app.plant_old_backup();
    let out = app.run(args);
    assert_clean_failure(app, &out, code, needle, &old);
}

#[test]
fn no_env_file() {
    let app = App::sqlite();
    std::fs::remove_file(app.dir().join(".env")).unwrap();
    fails(&app, &[], 1, "no .env file");
}

#[test]
fn env_file_given_but_missing() {
    let app = App::sqlite();
    fails(&app, &["--env-file", "nowhere.env"], 1, "nowhere.env");
}

#[test]
fn unreadable_env_file() {
    let app = App::sqlite();
    // A folder where the file should be: unreadable even for root, unlike chmod 000.
    std::fs::remove_file(app.dir().join(".env")).unwrap();
    std::fs::create_dir(app.dir().join(".env")).unwrap();
    fails(&app, &[], 1, "cannot read");
}

#[test]
fn malformed_env_line_names_its_line() {
    let app = App::sqlite();
    app.write_env("APP_NAME=stock\nDB_CONNECTION=sqlite\nDB_PASSWORD=bar baz\n");
    fails(&app, &[], 1, "line 3");
}

#[test]
fn unsupported_and_unknown_drivers() {
    for (driver, needle) in [
        ("sqlsrv", "driver 'sqlsrv' is not supported"),
        ("mongodb", "DB_CONNECTION=mongodb: unknown"),
    ] {
        let app = App::sqlite();
        app.write_env(&format!("DB_CONNECTION={driver}\n"));
        fails(&app, &[], 1, needle);
    }
}

#[test]
fn no_connection_anywhere() {
    let app = App::sqlite();
    app.write_env("APP_NAME=stock\n");
    std::fs::write(app.dir().join("config/database.php"), "<?php return [];\n").unwrap();
    fails(&app, &[], 1, "DB_CONNECTION is not set");
}

#[test]
fn in_memory_database() {
    let app = App::sqlite();
    app.write_env("DB_CONNECTION=sqlite\nDB_DATABASE=:memory:\n");
    fails(&app, &[], 1, ":memory:");
}

#[test]
fn missing_database() {
    let app = App::sqlite();
    std::fs::remove_file(app.db_path()).unwrap();
    fails(&app, &[], 1, "database file not found");
}

#[test]
fn empty_database() {
    let app = App::sqlite();
    std::fs::write(app.db_path(), "").unwrap();
    fails(&app, &[], 1, "is empty (0 bytes)");
}

#[test]
fn corrupt_database() {
    let app = App::sqlite();
    std::fs::write(app.db_path(), vec![0x5a; 8192]).unwrap();
    fails(&app, &[], 1, "is not a SQLite database");
}

#[test]
fn damaged_database_fails_the_check() {
    let app = App::sqlite();
    grow(&app.db_path(), 2);
    // Keep the header valid but scribble over pages in the middle of the file.
    let mut bytes = std::fs::read(app.db_path()).unwrap();
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 20_000] {
        *b = 0xff;
    }
    std::fs::write(app.db_path(), bytes).unwrap();
    fails(&app, &[], 1, "integrity check");
}

#[test]
fn database_locked_past_the_busy_timeout() {
    let app = App::sqlite();
    let writer = Connection::open(app.db_path()).unwrap();
    writer
        .execute_batch("BEGIN EXCLUSIVE; UPDATE products SET stock = stock + 1;")
        .unwrap();
    fails(
        &app,
        &["--busy-timeout", "1"],
        1,
        "stayed locked by another writer for 1 s",
    );
    writer.execute_batch("COMMIT").unwrap();
}

#[test]
fn unwritable_backups_folder() {
    let app = App::sqlite();
    let old = app.plant_old_backup();
    let dir = app.backups_dir();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
    // Root ignores permission bits, so run the binary as an unprivileged user when we are root.
    let mut cmd = app.cmd(&[]);
    if unsafe { libc::geteuid() } == 0 {
        for p in [app.root.path().to_path_buf(), app.dir()] {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::set_permissions(app.db_path(), std::fs::Permissions::from_mode(0o644)).unwrap();
        cmd.uid(65534).gid(65534);
    }
    let out = cmd.output().unwrap();
    assert_clean_failure(&app, &out, 1, "storage/app/backups", &old);
}

#[test]
fn backups_path_is_a_file() {
    let app = App::sqlite();
    std::fs::write(app.backups_dir(), "not a folder").unwrap();
    let out = app.run(&[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot create backups folder"), "{err}");
    assert_eq!(
        std::fs::read_to_string(app.backups_dir()).unwrap(),
        "not a folder"
    );
}

#[test]
fn disk_full_by_file_size_limit() {
    let app = App::sqlite();
    grow(&app.db_path(), 4);
    let old = app.plant_old_backup();
    let mut cmd = app.cmd(&[]);
    limit_file_size(&mut cmd, 1 << 20);
    let out = cmd.output().unwrap();
    assert_clean_failure(&app, &out, 1, "disk full", &old);
    assert_eq!(
        app.entries().len(),
        2,
        "temp file removed: {:?}",
        app.entries()
    );
}

#[test]
fn disk_full_on_a_small_tmpfs() {
    let app = App::sqlite();
    grow(&app.db_path(), 4);
    let dir = app.backups_dir();
    std::fs::create_dir_all(&dir).unwrap();
    // A private mount namespace: a 1 MiB tmpfs over the backups folder, an older backup in it,
    // then the real binary; the script reports what the folder holds afterwards.
    let script = r#"
        set -e
        mount -t tmpfs -o size=1m tmpfs "$1"
        printf 'older backup' > "$1/database_backup_2020-01-01_000000.sqlite"
        set +e
        "$2" 2>"$1/../stderr"
        echo "exit=$?"
        ls -A "$1"
        cat "$1/database_backup_2020-01-01_000000.sqlite"; echo
        cat "$1/../stderr"
    "#;
    let out = std::process::Command::new("unshare")
        .args(["--mount", "--map-root-user", "sh", "-c", script, "sh"])
        .arg(&dir)
        .arg(BIN)
        .current_dir(app.dir())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .output()
        .expect("unshare (util-linux) is needed: apt-get install util-linux");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "could not set up the tmpfs (needs unshare --mount --map-root-user): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "exit=1", "{text}");
    let listing: Vec<&str> = lines[1..]
        .iter()
        .take_while(|l| l.starts_with('.') || l.starts_with("database_backup"))
        .copied()
        .collect();
    assert_eq!(
        listing,
        [
            ".db-backup.lock",
            "database_backup_2020-01-01_000000.sqlite"
        ],
        "{text}"
    );
    assert!(text.contains("older backup"), "{text}");
    let err_line = lines.last().unwrap();
    assert!(
        err_line.starts_with("db-backup: error: disk full"),
        "{text}"
    );
}

#[test]
fn second_run_at_the_same_time() {
    let app = App::sqlite();
    let old = app.plant_old_backup();
    let lock = std::fs::File::create(app.backups_dir().join(".db-backup.lock")).unwrap();
    lock.lock().unwrap();
    let out = app.run(&["--keep=1"]);
    assert_clean_failure(&app, &out, 75, "another db-backup run is in progress", &old);
    drop(lock);
    std::thread::sleep(Duration::from_millis(10));
    app.ok(&["--keep=1"]);
    assert_eq!(app.backups().len(), 1);
}

#[test]
fn nonsense_keep_values_are_usage_errors() {
    for bad in [
        "--keep=0",
        "--keep=-1",
        "--keep=abc",
        "--keep=",
        "--keep=2.5",
    ] {
        let app = App::sqlite();
        fails(&app, &[bad], 2, "--keep");
    }
    let app = App::sqlite();
    fails(&app, &["--keep", "-1"], 2, "--keep");
    let app = App::sqlite();
    fails(&app, &["--frobnicate"], 2, "--frobnicate");
}

#[test]
fn app_not_found_names_the_folders_tried() {
    let empty = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(BIN)
        .current_dir(empty.path())
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&empty.path().join("api").display().to_string()),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1);
}

/// The backup is published, then an old one cannot be deleted: exit 3 (not 1, which would say
/// no backup was made), the result line still printed, and the error naming both the new backup
/// and the file retention could not delete.
#[test]
fn retention_failure_after_publishing_exits_3_and_says_the_backup_exists() {
    let app = App::sqlite();
    let (old, content) = app.plant_old_backup();
    // Private, as db-backup would have made them: no warnings beside the one error line.
    std::fs::set_permissions(app.backups_dir(), std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = with_undeletable(&app.cmd(&["--keep=1"]), &old)
        .output()
        .expect("unshare (util-linux) is needed: apt-get install util-linux");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stdout}{stderr}");
    let backups = app.backups();
    assert_eq!(backups.len(), 2, "{backups:?}");
    let new = &backups[1];
    assert!(
        stdout.starts_with(&format!("created storage/app/backups/{new} (")),
        "{stdout}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("db-backup: error: the backup ") && stderr.contains(new.as_str()),
        "{stderr}"
    );
    assert!(
        stderr.contains("was made, but retention failed: cannot delete old backup")
            && stderr.contains("database_backup_2020-01-01_000000.sqlite"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&old).unwrap(), content);
    assert_eq!(quick_check(&app.backups_dir().join(new)), "ok");

    // --json still carries the outcome, with the failure in it.
    let out = with_undeletable(&app.cmd(&["--keep=1", "--json"]), &old)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        v["retention_failed"]
            .as_str()
            .unwrap()
            .contains("cannot delete old backup"),
        "{v}"
    );
}

/// A `.env` line Laravel would reject is named by its line and key, never shown: the value is
/// usually the password.
#[test]
fn env_syntax_errors_never_show_the_value() {
    for line in [
        "DB_PASSWORD=bar Zq-s3cret-9",
        "DB_PASSWORD='Zq-s3cret-9",
        "DB_PASSWORD=\"it\\'s Zq-s3cret-9\"",
        "DB_PASSWORD=\"Zq-s3cret-9\"trailing",
        "DB_PASSWORD=Zq-s3cret-9\"x y",
        // A stray line (a password pasted on its own): rejected as a name, still not shown.
        "Zq-s3cret-9",
        "Zq s3cret 9",
    ] {
        let app = App::sqlite();
        app.write_env(&format!("DB_CONNECTION=sqlite\n{line}\n"));
        let old = app.plant_old_backup();
        let out = app.run(&[]);
        assert_clean_failure(&app, &out, 1, ".env: line 2", &old);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("s3cret"), "{line}: {err}");
    }
}

/// A symlink planted as the lock file is not followed: a clear error, and nothing is created
/// where it points.
#[test]
fn a_symlink_planted_as_the_lock_file_is_refused() {
    let app = App::sqlite();
    std::fs::create_dir_all(app.backups_dir()).unwrap();
    let victim = app.root.path().join("victim");
    std::os::unix::fs::symlink(&victim, app.backups_dir().join(".db-backup.lock")).unwrap();
    fails(&app, &[], 1, ".db-backup.lock is a symbolic link");
    assert!(!victim.exists(), "a file was created through the symlink");
}

/// Output streams that went away (a log reader that died, `2>&-` into a closed pipe) never turn
/// a clear exit code into a panic (101): a usage error still exits 2, a failure 1.
#[test]
fn a_closed_stderr_never_turns_an_exit_code_into_a_panic() {
    let app = App::sqlite();
    for (args, code) in [
        (&["--frobnicate"][..], 2),
        (&["--app-dir", "/nonexistent"][..], 1),
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = app.cmd(args).stderr(writer).output().unwrap();
        assert_eq!(out.status.code(), Some(code), "{args:?}");
    }
}

/// A missing argument is named on the one error line (clap puts it on a second line).
#[test]
fn a_missing_argument_is_named() {
    let app = App::sqlite();
    for (args, needle) in [(&["verify"][..], "<FILE>"), (&["restore"][..], "<FILE>")] {
        let out = app.run(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains(&format!("were not provided: {needle}")),
            "{err}"
        );
    }
}
