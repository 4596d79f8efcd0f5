//! `php artisan db:backup` unchanged for its users: the bridge under a real Laravel 8 app.

mod common;

use std::process::Command;

use common::laravel::{normalized_lines, LaravelApp};
use common::{quick_check, BIN};
use rusqlite::Connection;

fn products_in(path: &std::path::Path) -> i64 {
    Connection::open(path)
        .unwrap()
        .query_row("SELECT count(*) FROM products", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn artisan_backup_and_retention_through_the_bridge() {
    let app = LaravelApp::sqlite();
    app.install_bridge();
    let mut outs = Vec::new();
    for _ in 0..3 {
        outs.push(app.artisan_ok(&["db:backup", "--keep=2"]));
    }
    let names = app.backups();
    assert_eq!(names.len(), 2, "{names:?}");
    let first = outs[0].lines().collect::<Vec<_>>();
    assert_eq!(first.len(), 2, "{first:?}");
    assert!(
        first[0].starts_with("Backup SQLite créé: database_backup_"),
        "{first:?}"
    );
    assert_eq!(first[1], "Backup créé avec succès !");
    assert!(
        outs[2].contains("Ancien backup supprimé: database_backup_"),
        "{}",
        outs[2]
    );
    for n in &names {
        let p = app.backups_dir().join(n);
        assert_eq!(quick_check(&p), "ok");
        assert_eq!(products_in(&p), 5);
    }
}

#[test]
fn artisan_output_matches_the_original_command_line_by_line() {
    let run = |install: &dyn Fn(&LaravelApp)| -> Vec<Vec<String>> {
        let app = LaravelApp::sqlite();
        install(&app);
        (0..3)
            .map(|_| {
                // The original names by the second and overwrites within one: keep runs apart.
                std::thread::sleep(std::time::Duration::from_millis(1100));
                normalized_lines(&app.artisan_ok(&["db:backup", "--keep=2"]))
            })
            .collect()
    };
    let original = run(&|a: &LaravelApp| a.install_original());
    let bridge = run(&|a: &LaravelApp| a.install_bridge());
    assert_eq!(bridge, original);
    assert_eq!(
        original[2],
        [
            "Backup SQLite créé: database_backup_<ts>.sqlite",
            "Ancien backup supprimé: database_backup_<ts>.sqlite",
            "Backup créé avec succès !"
        ]
    );
}

#[test]
fn failures_print_the_original_lines_and_exit_non_zero() {
    for install in [LaravelApp::install_original, LaravelApp::install_bridge] {
        let app = LaravelApp::sqlite();
        install(&app);
        app.edit_env(|e| e + "DB_DATABASE=/nonexistent/stock.sqlite\n");
        let out = app.artisan(&["db:backup"]);
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim_end(),
            "Le fichier de base de données n'existe pas: /nonexistent/stock.sqlite"
        );
        let app = LaravelApp::sqlite();
        install(&app);
        app.edit_env(|e| e.replace("DB_CONNECTION=sqlite", "DB_CONNECTION=sqlsrv"));
        let out = app.artisan(&["db:backup"]);
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim_end(),
            "Le driver de base de données 'sqlsrv' n'est pas supporté pour le backup."
        );
    }
}

#[test]
fn keep_zero_is_refused_through_artisan_and_deletes_nothing() {
    let app = LaravelApp::sqlite();
    app.install_bridge();
    app.artisan_ok(&["db:backup"]);
    let before = app.backups();
    for bad in ["--keep=0", "--keep=-1", "--keep=abc"] {
        let out = app.artisan(&["db:backup", bad]);
        assert_ne!(out.status.code(), Some(0), "{bad} accepted");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("--keep"),
            "{bad}"
        );
    }
    assert_eq!(app.backups(), before);
}

#[test]
fn cached_config_wins_through_artisan_and_a_direct_call_refuses() {
    let app = LaravelApp::sqlite();
    app.install_bridge();
    app.artisan_ok(&["config:cache"]);
    // After caching, Laravel no longer reads .env: this edit must change nothing.
    app.edit_env(|e| e + "DB_DATABASE=/nonexistent/stock.sqlite\n");
    let out = app.artisan_ok(&["db:backup"]);
    assert!(out.starts_with("Backup SQLite créé: "), "{out}");
    assert_eq!(products_in(&app.backups_dir().join(&app.backups()[0])), 5);

    let direct = Command::new(BIN)
        .current_dir(app.dir())
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(direct.status.code(), Some(1));
    let err = String::from_utf8_lossy(&direct.stderr);
    assert!(err.contains("bootstrap/cache/config.php"), "{err}");
    assert_eq!(app.backups().len(), 1);
}

#[test]
fn env_option_and_env_testing_file_are_honoured() {
    let app = LaravelApp::sqlite();
    app.install_bridge();
    let other = app.dir().join("database/testing.sqlite");
    std::fs::copy(app.dir().join("database/database.sqlite"), &other).unwrap();
    Connection::open(&other)
        .unwrap()
        .execute("DELETE FROM inventaires", [])
        .unwrap();
    Connection::open(&other)
        .unwrap()
        .execute("DELETE FROM sorties", [])
        .unwrap();
    Connection::open(&other)
        .unwrap()
        .execute("DELETE FROM receptions", [])
        .unwrap();
    Connection::open(&other)
        .unwrap()
        .execute("DELETE FROM products WHERE id > 1", [])
        .unwrap();
    let env = std::fs::read_to_string(app.dir().join(".env")).unwrap();
    std::fs::write(
        app.dir().join(".env.testing"),
        format!("{env}DB_DATABASE={}\n", other.display()),
    )
    .unwrap();
    app.artisan_ok(&["db:backup", "--env=testing"]);
    assert_eq!(products_in(&app.backups_dir().join(&app.backups()[0])), 1);
}

#[test]
fn missing_binary_is_one_line_and_non_zero() {
    let app = LaravelApp::sqlite();
    app.install_bridge();
    let out = app
        .artisan_cmd(&["db:backup"])
        .env("DB_BACKUP_BINARY", "/nonexistent/db-backup")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("DB_BACKUP_BINARY"), "{text}");
    // Not configured (no config/db-backup.php, no DB_BACKUP_BINARY) and not on the PATH.
    std::fs::remove_file(app.dir().join("config/db-backup.php")).unwrap();
    let out = artisan_as_cron(&app, &["db:backup"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("introuvable"));
    assert!(app.backups().is_empty());
}

#[test]
fn the_scheduler_runs_the_backup() {
    let app = LaravelApp::sqlite();
    app.install_bridge();
    let kernel = app.dir().join("app/Console/Kernel.php");
    let text = std::fs::read_to_string(&kernel).unwrap().replace(
        "// $schedule->command('db:backup --keep=7')->daily();",
        "$schedule->command('db:backup --keep=7')->everyMinute()->withoutOverlapping();",
    );
    std::fs::write(&kernel, text).unwrap();
    let out = app.artisan_ok(&["schedule:run"]);
    assert!(out.contains("db:backup"), "{out}");
    assert_eq!(app.backups().len(), 1);
}

#[test]
fn artisan_and_direct_calls_name_backups_the_same_way() {
    let app = LaravelApp::sqlite();
    app.install_bridge();
    // Both stamp the current second in the app's time zone: a direct --dry-run right after an
    // Artisan run must name the same second (or the next, if the clock ticked in between).
    for _ in 0..5 {
        let out = app.artisan_ok(&["db:backup", "--keep=10"]);
        let via_artisan = out
            .lines()
            .next()
            .unwrap()
            .trim_start_matches("Backup SQLite créé: ")
            .to_string();
        let direct = Command::new(BIN)
            .args(["--dry-run", "--json"])
            .current_dir(app.dir())
            .env_clear()
            .output()
            .unwrap();
        common::assert_success(&direct);
        let v: serde_json::Value = serde_json::from_slice(&direct.stdout).unwrap();
        let direct_name = v["created"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_string();
        if direct_name == via_artisan {
            return;
        }
    }
    panic!("never the same name in the same second");
}

#[test]
fn composer_package_is_auto_discovered() {
    let app = LaravelApp::sqlite();
    app.install_package();
    let out = app.artisan_ok(&["db:backup", "--keep=1"]);
    assert!(out.starts_with("Backup SQLite créé: "), "{out}");
    assert_eq!(app.backups().len(), 1);
}

/// `php artisan ARGS` as cron runs it: cron's PATH (no ~/.cargo/bin) and no DB_BACKUP_BINARY
/// in the environment, only what the app's files say.
fn artisan_as_cron(app: &LaravelApp, args: &[&str]) -> std::process::Output {
    app.artisan_cmd(args)
        .env_remove("DB_BACKUP_BINARY")
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap()
}

/// DB_BACKUP_BINARY set only in `.env` still names the binary once `config:cache` has run
/// (Laravel then reads no `.env`: only a config value survives). The binary named is a wrapper
/// that leaves a mark, so the test knows it was that one, not a default, that ran.
fn binary_in_dot_env_survives_config_cache(install: fn(&LaravelApp)) {
    let app = LaravelApp::sqlite();
    install(&app);
    let mark = app.root.path().join("wrapper-ran");
    let wrapper = app.root.path().join("bin/db-backup-wrapper");
    std::fs::create_dir_all(wrapper.parent().unwrap()).unwrap();
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\necho ran >> '{}'\nexec '{}' \"$@\"\n",
            mark.display(),
            common::BIN
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    app.edit_env(|e| e + &format!("DB_BACKUP_BINARY={}\n", wrapper.display()));
    let cached = artisan_as_cron(&app, &["config:cache"]);
    assert!(cached.status.success(), "{cached:?}");
    let out = artisan_as_cron(&app, &["db:backup"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.starts_with("Backup SQLite créé: "), "{stdout}");
    assert_eq!(
        std::fs::read_to_string(&mark).unwrap_or_default(),
        "ran\n",
        "the binary named in .env must be the one that ran"
    );
    assert_eq!(app.backups().len(), 1);
}

#[test]
fn binary_in_dot_env_survives_config_cache_with_the_drop_in() {
    binary_in_dot_env_survives_config_cache(LaravelApp::install_bridge);
}

#[test]
fn binary_in_dot_env_survives_config_cache_with_the_composer_package() {
    binary_in_dot_env_survives_config_cache(LaravelApp::install_package);
}

/// Nothing configured at all, cron's PATH, config cached: the drop-in's config names the binary
/// that installed it, so the scheduler still finds it.
#[test]
fn cron_finds_the_binary_that_installed_the_drop_in() {
    let app = LaravelApp::sqlite();
    app.install_bridge();
    let config = std::fs::read_to_string(app.dir().join("config/db-backup.php")).unwrap();
    assert!(config.contains(common::BIN), "{config}");
    assert!(artisan_as_cron(&app, &["config:cache"]).status.success());
    let out = artisan_as_cron(&app, &["db:backup"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(app.backups().len(), 1);
}

/// The Laravel app on the database of `env` (its DB_ keys), migrated and seeded by Laravel
/// itself, with the bridge installed.
fn migrated_on(env: &str) -> LaravelApp {
    let app = LaravelApp::sqlite();
    app.edit_env(|e| e.replace("DB_CONNECTION=sqlite\n", "") + env);
    app.artisan_ok(&["migrate", "--seed", "--force"]);
    app.install_bridge();
    app
}

/// `db:backup --keep=2` three times: what each printed, and the two backups kept.
fn three_backups_keeping_two(app: &LaravelApp) -> (Vec<String>, Vec<String>) {
    let outs: Vec<String> = (0..3)
        .map(|_| app.artisan_ok(&["db:backup", "--keep=2"]))
        .collect();
    let names = app.backups();
    assert_eq!(names.len(), 2, "{names:?}");
    (outs, names)
}

test_on_both!(artisan_backup_on_a_mysql_server_with_retention);
/// On MariaDB 10.11 and on MySQL 9.7 (where Laravel's PHP logs in with caching_sha2_password).
fn artisan_backup_on_a_mysql_server_with_retention(server: &'static common::mysql::Server) {
    use common::mysql::{TestDb, Via};
    let db = TestDb::on(server);
    let app = migrated_on(&db.env_text(Via::Tcp));
    let (outs, names) = three_backups_keeping_two(&app);
    assert!(names.iter().all(|n| n.ends_with(".sql")));
    assert!(
        outs[0].starts_with("Backup MySQL créé: database_backup_"),
        "{}",
        outs[0]
    );
    assert!(outs[2].contains("Ancien backup supprimé: "), "{}", outs[2]);
    // The newest file restores the migrated, seeded stock tables with the stock client.
    let copy = TestDb::on(server);
    copy.load(&app.backups_dir().join(names.last().unwrap()));
    db.assert_same_as(&copy);

    // db:restore --clean reaches the binary: a table the backup does not hold is dropped.
    db.sql("CREATE TABLE extra (id INT PRIMARY KEY)");
    let out = app.artisan_ok(&["db:restore", names.last().unwrap(), "--force", "--clean"]);
    assert!(out.contains("table `extra`"), "{out}");
    assert_eq!(db.sql("SHOW TABLES LIKE 'extra'"), "");
    db.assert_same_as(&copy);
}

#[test]
fn list_verify_and_restore_through_artisan() {
    let app = LaravelApp::sqlite();
    app.install_bridge();
    app.artisan_ok(&["db:backup"]);
    let name = app.backups()[0].clone();
    let list = app.artisan_ok(&["db:backup:list"]);
    assert!(list.starts_with(&name), "{list}");
    let verify = app.artisan_ok(&["db:backup:verify"]);
    assert!(verify.starts_with("ok: storage/app/backups/"), "{verify}");
    assert!(verify.contains("  products: 5"), "{verify}");

    let live = app.dir().join("database/database.sqlite");
    Connection::open(&live)
        .unwrap()
        .execute("DELETE FROM products", [])
        .unwrap();
    // Non-interactive without --force: refused, nothing changed.
    let out = app.artisan(&["db:restore", &name, "--no-interaction"]);
    assert_ne!(out.status.code(), Some(0));
    assert_eq!(app.backups().len(), 1);
    let out = app.artisan_ok(&["db:restore", &name, "--force"]);
    assert!(out.contains("safety backup of the previous data"), "{out}");
    let n: i64 = Connection::open(&live)
        .unwrap()
        .query_row("SELECT count(*) FROM products", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 5);
    assert_eq!(app.backups().len(), 2, "the safety backup was kept");
}

/// `install-artisan` run again after an upgrade finds our previous drop-in in place: the user's
/// original command, kept by the first install, must survive it (and any later install).
#[test]
fn reinstall_after_an_upgrade_keeps_the_users_original_command() {
    let app = common::App::sqlite();
    let cmd = app.dir().join("app/Console/Commands/BackupDatabase.php");
    std::fs::create_dir_all(cmd.parent().unwrap()).unwrap();
    let original = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/laravel-app/original/BackupDatabase.php"),
    )
    .unwrap();
    std::fs::write(&cmd, &original).unwrap();
    let install = || app.ok(&["install-artisan"]);
    let first = install();
    assert!(first.contains("BackupDatabase.php.orig"), "{first}");
    // What an older version of db-backup left: its drop-in, which differs from today's.
    let ours = std::fs::read_to_string(&cmd).unwrap();
    std::fs::write(
        &cmd,
        ours.replace("db-backup introuvable", "db-backup est introuvable"),
    )
    .unwrap();
    install();
    install();
    let kept = app.dir().join("storage/app/db-backup");
    assert_eq!(common::list(&kept), ["BackupDatabase.php.orig"]);
    assert!(
        std::fs::read_to_string(kept.join("BackupDatabase.php.orig")).unwrap() == original,
        "the kept file is no longer the user's original"
    );
}

/// A backup whose name starts with `-` is a file for db:restore and db:backup:verify, not an
/// option of the binary they call.
#[test]
fn artisan_passes_a_dash_named_file_as_a_file() {
    let app = LaravelApp::sqlite();
    app.install_bridge();
    app.artisan_ok(&["db:backup"]);
    let dir = app.backups_dir();
    std::fs::copy(dir.join(&app.backups()[0]), dir.join("-copy.sqlite")).unwrap();
    let verify = app.artisan_ok(&["db:backup:verify", "--", "-copy.sqlite"]);
    assert!(
        verify.starts_with("ok: storage/app/backups/-copy.sqlite"),
        "{verify}"
    );
    let restore = app.artisan_ok(&["db:restore", "--force", "--", "-copy.sqlite"]);
    assert!(
        restore.contains("restored storage/app/backups/-copy.sqlite"),
        "{restore}"
    );
}

/// Retention fails after the backup was published (an old backup that cannot be deleted):
/// Artisan shows the created line, then one error line saying the backup was made, and exits 3.
#[test]
fn artisan_retention_failure_says_the_backup_was_made() {
    let app = LaravelApp::sqlite();
    app.install_bridge();
    let dir = app.backups_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let old = dir.join("database_backup_2020-01-01_000000.sqlite");
    std::fs::write(&old, "an older backup").unwrap();
    let out = common::with_undeletable(&app.artisan_cmd(&["db:backup", "--keep=1"]), &old)
        .output()
        .expect("unshare (util-linux) is needed: apt-get install util-linux");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    let new = app.backups().pop().unwrap();
    assert_ne!(new, "database_backup_2020-01-01_000000.sqlite");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert_eq!(lines[0], format!("Backup SQLite créé: {new}"));
    assert!(
        lines[1].starts_with("Erreur lors de la création du backup: the backup ")
            && lines[1].contains(&new)
            && lines[1].contains("was made, but retention failed: cannot delete old backup"),
        "{stdout}"
    );
    assert!(!stdout.contains("Backup créé avec succès !"), "{stdout}");
}

test_on_both!(artisan_shows_the_backups_warnings);
/// `php artisan db:backup` (`--artisan`) keeps the original's stdout lines and still shows a
/// warning — here a MyISAM table, whose rows are not in the snapshot — on stderr.
fn artisan_shows_the_backups_warnings(server: &'static common::mysql::Server) {
    use common::mysql::{TestDb, Via};
    let db = TestDb::on(server);
    db.sql(
        "CREATE TABLE legacy_logs (id INT PRIMARY KEY, line VARCHAR(100)) ENGINE=MyISAM;
         INSERT INTO legacy_logs VALUES (1, 'old');",
    );
    let app = LaravelApp::sqlite();
    app.edit_env(|e| e.replace("DB_CONNECTION=sqlite\n", "") + &db.env_text(Via::Tcp));
    app.install_bridge();
    let out = app.artisan(&["db:backup"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines[0].starts_with("Backup MySQL créé: database_backup_"));
    assert_eq!(lines[1], "Backup créé avec succès !");
    assert!(
        stderr.lines().any(|l| l.starts_with("db-backup: warning: ")
            && l.contains("legacy_logs")
            && l.contains("MyISAM")),
        "the warning was lost: {stderr:?}"
    );
}

test_on_both!(artisan_with_db_host_localhost_reaches_a_socket_only_server);
/// `DB_HOST=localhost` on a server with no TCP at all: PDO (so Laravel) goes through the socket
/// PHP's ini names (`pdo_mysql.default_socket`), and so must the backup — not through whatever
/// other server listens on the usual socket paths or on TCP port 3306 of this machine.
fn artisan_with_db_host_localhost_reaches_a_socket_only_server(
    server: &'static common::mysql::Server,
) {
    use common::mysql::TestDb;
    let server = server.socket_only();
    let db = TestDb::on(server);
    let app = LaravelApp::sqlite();
    app.edit_env(|e| {
        e.replace("DB_CONNECTION=sqlite\n", "")
            + &format!(
                "DB_CONNECTION=mysql\nDB_HOST=localhost\nDB_PORT=3306\nDB_DATABASE={}\nDB_USERNAME={}\nDB_PASSWORD=\"{}\"\n",
                db.name, db.user, db.password
            )
    });
    let socket = server.socket().display().to_string();
    let ini = [("pdo_mysql.default_socket", socket.as_str())];
    let artisan = |args: &[&str]| {
        let out = app.artisan_cmd_with_ini(&ini, args).output().unwrap();
        assert!(
            out.status.success(),
            "php artisan {args:?} failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    // Laravel itself reaches it that way: the migrations land in the test database.
    artisan(&["migrate", "--seed", "--force"]);
    assert_eq!(db.sql("SELECT count(*) FROM products"), "5\n");
    app.install_bridge();
    let out = artisan(&["db:backup"]);
    assert!(out.starts_with("Backup MySQL créé: "), "{out}");
    let copy = TestDb::on(server);
    copy.load(&app.backups_dir().join(&app.backups()[0]));
    db.assert_same_as(&copy);
}

/// `php artisan db:replicate` becomes db-backup replicate (exec): Supervisor's or systemd's
/// SIGTERM reaches it directly, and it ships what is left and exits 0.
#[test]
fn artisan_db_replicate_runs_until_sigterm() {
    let app = LaravelApp::sqlite();
    app.install_bridge();
    let db = app.dir().join("database/database.sqlite");
    Connection::open(&db)
        .unwrap()
        .execute_batch("PRAGMA journal_mode=WAL")
        .unwrap();
    let log = app.root.path().join("replicate.log");
    let out = std::fs::File::create(&log).unwrap();
    let mut child = app
        .artisan_cmd(&["db:replicate"])
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while !std::fs::read_to_string(&log)
        .unwrap()
        .contains("has its backup")
    {
        assert!(
            start.elapsed().as_secs() < 60,
            "{}",
            std::fs::read_to_string(&log).unwrap()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let comm = std::fs::read_to_string(format!("/proc/{}/comm", child.id())).unwrap();
    assert_eq!(comm.trim(), "db-backup", "php did not become db-backup");
    Connection::open(&db)
        .unwrap()
        .execute_batch("INSERT INTO products (code, name, unit, stock) SELECT code || '-2', name, unit, stock FROM products")
        .unwrap();
    let after = chrono::Utc::now() + chrono::Duration::milliseconds(300);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "{status}: {text}");
    assert!(
        text.contains("stopped: everything seen was shipped"),
        "{text}"
    );
    let point = app.root.path().join("point.sqlite");
    app.db_backup_ok(&[
        "restore",
        "--at",
        &after.to_rfc3339(),
        "--to",
        point.to_str().unwrap(),
    ]);
    assert_eq!(products_in(&point), 10);
}

on_each_pg!(artisan_backup_and_restore_on_postgresql);
/// PostgreSQL through Artisan: Laravel's own pgsql connection (its PDO driver migrates and
/// seeds), handed over to the binary; the file loads with the stock psql; db:restore --clean.
fn artisan_backup_and_restore_on_postgresql(server: &'static common::postgres::Server) {
    use common::postgres::PgDb;
    let db = PgDb::new(server, false);
    let app = migrated_on(&db.env_text());
    let (outs, names) = three_backups_keeping_two(&app);
    assert!(
        outs[0].starts_with("Backup PostgreSQL créé: database_backup_") && outs[0].contains(".sql"),
        "{}",
        outs[0]
    );
    assert!(outs[2].contains("Ancien backup supprimé: "), "{}", outs[2]);
    let copy = db.sibling();
    common::assert_success(&copy.psql_load(&app.backups_dir().join(names.last().unwrap())));
    db.assert_same_as(&copy);

    db.sql("CREATE TABLE public.extra (id integer PRIMARY KEY)");
    app.artisan_ok(&["db:restore", names.last().unwrap(), "--force", "--clean"]);
    assert_eq!(
        db.sql("SELECT count(*) FROM pg_class WHERE relname = 'extra'")
            .trim(),
        "0"
    );
    db.assert_same_as(&copy);
}
