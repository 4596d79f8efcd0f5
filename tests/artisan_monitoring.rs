//! Monitoring the Laravel way, under a real Laravel 8 app: the bridge dispatches
//! BackupSucceeded, BackupFailed and UnhealthyBackupFound with the binary's JSON outcome (a
//! listener of the app writes them to a file here), `db:backup:status`, and the retention
//! rules through Artisan and a cached config.

mod common;

use common::laravel::LaravelApp;

/// Registers, in the app's own AppServiceProvider, a listener for the three events (under
/// both install routes' class names) that appends each to storage/events.jsonl.
fn listen(app: &LaravelApp) {
    let provider = app.dir().join("app/Providers/AppServiceProvider.php");
    let text = std::fs::read_to_string(&provider).unwrap();
    let listener = r#"
        foreach (['App\Events\DbBackup', 'DbBackup\Laravel\Events'] as $ns) {
            foreach (['BackupSucceeded', 'BackupFailed', 'UnhealthyBackupFound'] as $name) {
                \Illuminate\Support\Facades\Event::listen("$ns\\$name", function ($event) use ($ns, $name) {
                    file_put_contents(storage_path('events.jsonl'),
                        json_encode(['class' => "$ns\\$name", 'outcome' => $event->outcome]) . "\n",
                        FILE_APPEND);
                });
            }
        }
    "#;
    let text = text.replacen(
        "    public function boot()\n    {\n        //",
        &format!("    public function boot()\n    {{{listener}"),
        1,
    );
    assert!(text.contains("events.jsonl"), "boot() not found in {text}");
    std::fs::write(provider, text).unwrap();
}

/// The events the listener saw, in order: (class, outcome).
fn events(app: &LaravelApp) -> Vec<(String, serde_json::Value)> {
    let path = app.dir().join("storage/events.jsonl");
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["class"].as_str().unwrap().to_string(),
                v["outcome"].clone(),
            )
        })
        .collect()
}

fn events_on(install: fn(&LaravelApp), ns: &str) {
    let app = LaravelApp::sqlite();
    install(&app);
    listen(&app);

    // Success: the outcome names the file that was made.
    app.artisan_ok(&["db:backup"]);
    let seen = events(&app);
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].0, format!("{ns}\\BackupSucceeded"));
    let created = seen[0].1["created"].as_str().unwrap();
    let name = app.backups().pop().unwrap();
    assert!(created.ends_with(&name), "{created} vs {name}");
    assert_eq!(seen[0].1["ok"], true);

    // Failure: a database that cannot be read as one.
    let db = app.dir().join("database/database.sqlite");
    let good = std::fs::read(&db).unwrap();
    std::fs::write(&db, vec![0x5a; 8192]).unwrap();
    let out = app.artisan(&["db:backup"]);
    assert_eq!(out.status.code(), Some(1));
    let seen = events(&app);
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[1].0, format!("{ns}\\BackupFailed"));
    assert_eq!(seen[1].1["exit_code"], 1);
    assert!(
        seen[1].1["error"]
            .as_str()
            .unwrap()
            .contains("is not a SQLite database"),
        "{:?}",
        seen[1].1
    );
    std::fs::write(&db, good).unwrap();

    // Healthy status: no event; unhealthy (no backups left): the event with every check.
    let out = app.artisan_ok(&["db:backup:status"]);
    assert!(
        out.contains("[local] ok: 1 backup in storage/app/backups"),
        "{out}"
    );
    assert_eq!(events(&app).len(), 2);
    std::fs::remove_file(app.backups_dir().join(&name)).unwrap();
    let out = app.artisan(&["db:backup:status"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("[local] UNHEALTHY: no backups"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let seen = events(&app);
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(seen[2].0, format!("{ns}\\UnhealthyBackupFound"));
    assert_eq!(seen[2].1["healthy"], false);
    assert_eq!(seen[2].1["places"][0]["checks"][0]["check"], "exists");
    // Never a secret in what listeners get (the app's DB has none here; the bridge's handover
    // holds the password, and the outcome is built without it).
    for (_, outcome) in &seen {
        assert!(!outcome.to_string().contains("DB_BACKUP_PASSWORD"));
    }
}

#[test]
fn events_reach_the_apps_listeners_with_the_drop_in() {
    events_on(LaravelApp::install_bridge, "App\\Events\\DbBackup");
}

#[test]
fn events_reach_the_apps_listeners_with_the_composer_package() {
    events_on(LaravelApp::install_package, "DbBackup\\Laravel\\Events");
}

/// Backup names planted at these UTC times (the test app's zone), as valid-looking files.
fn plant(app: &LaravelApp, stamps: &[&str]) {
    std::fs::create_dir_all(app.backups_dir()).unwrap();
    for s in stamps {
        std::fs::write(
            app.backups_dir()
                .join(format!("database_backup_{s}.sqlite")),
            "x",
        )
        .unwrap();
    }
}

#[test]
fn retention_rules_through_artisan_options_and_a_cached_config() {
    let app = LaravelApp::sqlite();
    app.install_bridge();
    plant(
        &app,
        &[
            "2026-01-10_120000",
            "2026-02-10_120000",
            "2026-03-10_120000",
        ],
    );
    // --keep-monthly=2 alone: today's month and March; --keep no longer defaults to 7.
    let out = app.artisan_ok(&["db:backup", "--keep-monthly=2"]);
    assert!(
        out.contains("Ancien backup supprimé: database_backup_2026-02-10_120000.sqlite"),
        "{out}"
    );
    let kept = app.backups();
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert!(kept.contains(&"database_backup_2026-03-10_120000.sqlite".to_string()));

    // DB_BACKUP_KEEP_YEARLY in .env, then config:cache: the cached config carries it.
    plant(&app, &["2024-05-01_000000", "2025-05-01_000000"]);
    app.edit_env(|t| format!("{t}\nDB_BACKUP_KEEP_YEARLY=2\n"));
    app.artisan_ok(&["config:cache"]);
    app.edit_env(|t| t.replace("DB_BACKUP_KEEP_YEARLY=2", "DB_BACKUP_KEEP_YEARLY=9"));
    app.artisan_ok(&["db:backup"]);
    let kept = app.backups();
    // Yearly 2: this year's newest (the new one) and 2025's; 2024 and the rest are gone.
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert!(kept.contains(&"database_backup_2025-05-01_000000.sqlite".to_string()));
    app.artisan_ok(&["config:clear"]);

    // Without any rule, plain `db:backup` keeps 7, exactly as the original command.
    app.edit_env(|t| t.replace("DB_BACKUP_KEEP_YEARLY=9", ""));
    plant(
        &app,
        &[
            "2025-06-01_000000",
            "2025-06-02_000000",
            "2025-06-03_000000",
            "2025-06-04_000000",
            "2025-06-05_000000",
            "2025-06-06_000000",
            "2025-06-07_000000",
        ],
    );
    app.artisan_ok(&["db:backup"]);
    assert_eq!(app.backups().len(), 7);
}
