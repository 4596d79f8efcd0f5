//! Monitoring: `db-backup status` (checks, exit codes, JSON, Prometheus metrics), the
//! daily/weekly/monthly/yearly retention rules, and `--on-failure` hooks — on real SQLite apps
//! with the real binary.

mod common;

use chrono::{Duration, NaiveDateTime, TimeZone, Utc};
use common::*;

/// A backup name for a time `hours_ago` hours before now, in UTC (the test apps' zone).
fn name_hours_ago(hours_ago: i64) -> String {
    let t = Utc::now() - Duration::hours(hours_ago);
    format!("database_backup_{}.sqlite", t.format("%Y-%m-%d_%H%M%S"))
}

/// Plants a backup file of `size` bytes under `name`.
fn plant(app: &App, name: &str, size: usize) {
    std::fs::create_dir_all(app.backups_dir()).unwrap();
    std::fs::write(app.backups_dir().join(name), vec![b'x'; size]).unwrap();
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn status_is_healthy_after_a_backup_and_says_so_line_by_line() {
    let app = App::sqlite();
    app.ok(&[]);
    let out = app.run(&["status"]);
    assert_success(&out);
    let text = stdout(&out);
    assert!(
        text.contains("[local] ok: 1 backup in storage/app/backups"),
        "{text}"
    );
    assert!(
        text.contains("[local] ok: newest backup database_backup_"),
        "{text}"
    );
    assert!(!text.contains("UNHEALTHY"), "{text}");
}

#[test]
fn no_backups_is_unhealthy_with_what_to_do() {
    let app = App::sqlite();
    let out = app.run(&["status"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("[local] UNHEALTHY: no backups in storage/app/backups: run `db-backup`"),
        "{text}"
    );
    assert_eq!(
        stderr(&out).trim(),
        "db-backup: error: backups are unhealthy: 1 check(s) failed (see the lines above)"
    );
}

#[test]
fn a_stale_newest_backup_is_unhealthy_and_max_age_comes_from_env_or_the_command_line() {
    let app = App::sqlite();
    plant(&app, &name_hours_ago(30), 1000);
    let out = app.run(&["status"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("UNHEALTHY: newest backup"), "{text}");
    assert!(
        text.contains("(limit 26 h): backups have stopped"),
        "{text}"
    );
    // The limit from .env, then from the command line, which wins.
    app.write_env("DB_CONNECTION=sqlite\nDB_BACKUP_MAX_AGE=2d\n");
    assert_success(&app.run(&["status"]));
    assert_eq!(
        app.run(&["status", "--max-age", "1h"]).status.code(),
        Some(1)
    );
    // A nonsense setting is one clear line naming the variable, exit 1.
    app.write_env("DB_CONNECTION=sqlite\nDB_BACKUP_MAX_AGE=soon\n");
    let out = app.run(&["status"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out).trim(),
        "db-backup: error: DB_BACKUP_MAX_AGE is not a duration such as 26h, 90m or 2d; fix it in .env or config/db-backup.php"
    );
    let out = app.run(&["status", "--max-age", "soon"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "nonsense option is a usage error"
    );
}

#[test]
fn a_newest_backup_much_smaller_than_the_one_before_is_unhealthy() {
    let app = App::sqlite();
    plant(&app, &name_hours_ago(25), 100_000);
    plant(&app, &name_hours_ago(1), 30_000);
    let out = app.run(&["status"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("30% of the one before"), "{text}");
    assert!(text.contains("verify --latest"), "{text}");
    assert_success(&app.run(&["status", "--min-ratio", "25%"]));
}

#[test]
fn total_size_cap_and_json() {
    let app = App::sqlite();
    plant(&app, &name_hours_ago(2), 600_000);
    plant(&app, &name_hours_ago(1), 600_000);
    assert_success(&app.run(&["status"]));
    let out = app.run(&["status", "--json", "--max-total", "1M"]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["healthy"], false);
    let local = &json["places"][0];
    assert_eq!(local["name"], "local");
    assert_eq!(local["count"], 2);
    assert_eq!(local["newest"]["size_bytes"], 600_000);
    let failed: Vec<&str> = local["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["total"]);
}

#[test]
fn verify_flag_catches_a_newest_backup_that_would_not_restore() {
    let app = App::sqlite();
    app.ok(&[]);
    assert_success(&app.run(&["status", "--verify"]));
    // Damage the newest backup in the middle: sizes and dates still look fine.
    let newest = app.backups_dir().join(app.backups().last().unwrap());
    let mut bytes = std::fs::read(&newest).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid..mid + 4096].fill(0xA5);
    std::fs::write(&newest, bytes).unwrap();
    assert_success(&app.run(&["status"]));
    let out = app.run(&["status", "--verify"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("does not verify"), "{}", stdout(&out));
}

#[test]
fn prometheus_metrics_are_written_whole() {
    let app = App::sqlite();
    app.ok(&[]);
    let metrics_dir = app.root.path().join("textfile");
    let file = metrics_dir.join("db_backup.prom");
    assert_success(&app.run(&["status", "--prometheus", file.to_str().unwrap()]));
    let text = std::fs::read_to_string(&file).unwrap();
    let newest = app.backups().last().unwrap().clone();
    let stamp = NaiveDateTime::parse_from_str(&newest[16..33], "%Y-%m-%d_%H%M%S").unwrap();
    let unix = Utc.from_utc_datetime(&stamp).timestamp();
    for line in [
        "# TYPE db_backup_last_success_timestamp_seconds gauge".to_string(),
        format!("db_backup_last_success_timestamp_seconds{{place=\"local\"}} {unix}"),
        "db_backup_count{place=\"local\"} 1".to_string(),
        "db_backup_healthy{place=\"local\"} 1".to_string(),
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "{line:?} missing in:\n{text}"
        );
    }
    let size = std::fs::metadata(app.backups_dir().join(&newest))
        .unwrap()
        .len();
    assert!(text.contains(&format!(
        "db_backup_last_size_bytes{{place=\"local\"}} {size}\n"
    )));
    // Unhealthy is written too (that is when the alert needs it), and nothing else is left.
    std::fs::remove_file(app.backups_dir().join(&newest)).unwrap();
    assert_eq!(
        app.run(&["status", "--prometheus", file.to_str().unwrap()])
            .status
            .code(),
        Some(1)
    );
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains("db_backup_healthy{place=\"local\"} 0"),
        "{text}"
    );
    assert_eq!(list(&metrics_dir), ["db_backup.prom"]);
    assert_eq!(mode(&file), 0o644, "node_exporter must be able to read it");
}

/// Backup names at these local wall-clock times, as `php artisan db:backup` would have named
/// them in UTC.
fn plant_at(app: &App, stamps: &[&str]) {
    for s in stamps {
        plant(app, &format!("database_backup_{s}.sqlite"), 10);
    }
}

#[test]
fn daily_weekly_monthly_rules_thin_old_backups_out() {
    let app = App::sqlite();
    let old = [
        "2025-12-31_230000", // last of 2025-12: monthly
        "2026-01-03_010000", // Saturday of ISO week 2026-W01
        "2026-01-04_010000", // Sunday, W01: the week's newest
        "2026-01-05_010000", // Monday, W02
        "2026-01-05_020000", // same day, later: the day's newest
        "2026-01-06_010000",
    ];
    plant_at(&app, &old);
    let out = app.ok(&[
        "--keep-daily",
        "2",
        "--keep-weekly",
        "2",
        "--keep-monthly",
        "3",
    ]);
    let new = app.backups().last().unwrap().clone();
    let kept: Vec<String> = app.backups();
    // Today's new backup (daily, weekly, monthly); 2026-01-06, the newest of the next day, week
    // (W02) and month that have backups; 2025-12-31, the newest of the third month. ISO week
    // 2026-W01 (2025-12-29 to 2026-01-04) is the third week: not kept by `--keep-weekly 2`.
    let mut want = vec![
        "database_backup_2025-12-31_230000.sqlite".to_string(),
        "database_backup_2026-01-06_010000.sqlite".to_string(),
        new.clone(),
    ];
    want.sort();
    assert_eq!(kept, want, "{out}");
    for gone in [
        "2026-01-03_010000",
        "2026-01-04_010000",
        "2026-01-05_010000",
        "2026-01-05_020000",
    ] {
        assert!(out.contains(&format!(
            "deleted storage/app/backups/database_backup_{gone}"
        )));
    }
}

#[test]
fn rules_come_from_env_and_keep_defaults_to_7_only_without_them() {
    let app = App::sqlite();
    let days: Vec<String> = (1..=10).map(|d| format!("2026-02-{d:02}_120000")).collect();
    let refs: Vec<&str> = days.iter().map(String::as_str).collect();
    plant_at(&app, &refs);
    // Without rules: the newest 7, the new one included.
    app.ok(&[]);
    assert_eq!(app.backups().len(), 7);
    // DB_BACKUP_KEEP_DAILY=3 in .env: three days (today's new one and the two newest days).
    app.write_env("DB_CONNECTION=sqlite\nDB_BACKUP_KEEP_DAILY=3\n");
    app.ok(&[]);
    let kept = app.backups();
    assert_eq!(kept.len(), 3, "{kept:?}");
    assert!(kept.contains(&"database_backup_2026-02-10_120000.sqlite".to_string()));
    // An explicit --keep adds up with the rules.
    plant_at(&app, &["2026-01-01_000000", "2026-01-02_000000"]);
    app.ok(&["--keep", "4"]);
    assert_eq!(app.backups().len(), 4);
}

#[test]
fn dry_run_says_which_rule_keeps_each_backup() {
    let app = App::sqlite();
    plant_at(
        &app,
        &[
            "2024-06-01_000000",
            "2025-06-01_000000",
            "2025-06-02_000000",
        ],
    );
    let out = app.ok(&["--dry-run", "--keep-yearly", "2"]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("would create "), "{out}");
    assert!(lines[1].ends_with("(new, yearly)"), "{out}");
    assert_eq!(
        lines[2..],
        [
            "would keep storage/app/backups/database_backup_2025-06-02_000000.sqlite (yearly)",
            "would delete storage/app/backups/database_backup_2025-06-01_000000.sqlite",
            "would delete storage/app/backups/database_backup_2024-06-01_000000.sqlite",
        ]
    );
    assert_eq!(app.backups().len(), 3, "a dry run deletes nothing");
    let json = app.ok(&["backup", "--dry-run", "--json", "--keep-yearly", "2"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["kept"][1]["kept_by"], serde_json::json!(["yearly"]));
}

/// A hook script that saves its stdin and its environment.
fn hook(app: &App) -> (String, std::path::PathBuf, std::path::PathBuf) {
    let got = app.root.path().join("hook.json");
    let env = app.root.path().join("hook.env");
    let cmd = format!("cat > '{}'; env > '{}'", got.display(), env.display());
    (cmd, got, env)
}

#[test]
fn on_failure_gets_the_outcome_as_json_and_no_secret() {
    let app = App::bare(
        "DB_CONNECTION=sqlite\nDB_DATABASE=database/missing.sqlite\nDB_PASSWORD=hunter2-secret\nAWS_SECRET_ACCESS_KEY=aws-secret-9\n",
    );
    let (cmd, got, env) = hook(&app);
    let out = app
        .cmd(&["--on-failure", &cmd])
        .env("DB_PASSWORD", "hunter2-secret")
        .env("DB_BACKUP_PASSWORD", "hunter2-secret")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&got).unwrap()).unwrap();
    assert_eq!(json["event"], "backup_failed");
    assert_eq!(json["exit_code"], 1);
    assert!(json["error"]
        .as_str()
        .unwrap()
        .contains("database file not found"));
    let env = std::fs::read_to_string(&env).unwrap();
    assert!(
        !env.contains("hunter2") && !env.contains("aws-secret"),
        "{env}"
    );
    assert!(env.contains("PATH="), "{env}");
    // A success runs no hook.
    std::fs::remove_file(&got).unwrap();
    let ok = App::sqlite();
    let (cmd, got, _) = hook(&ok);
    assert_success(&ok.run(&["--on-failure", &cmd]));
    assert!(!got.exists(), "the hook ran after a success");
}

#[test]
fn on_failure_runs_for_an_unhealthy_status_and_a_broken_hook_is_a_warning() {
    let app = App::sqlite();
    let (cmd, got, _) = hook(&app);
    assert_eq!(
        app.run(&["status", "--on-failure", &cmd]).status.code(),
        Some(1)
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&got).unwrap()).unwrap();
    assert_eq!(json["event"], "unhealthy_backup_found");
    assert_eq!(json["places"][0]["checks"][0]["check"], "exists");
    // A hook that fails does not change the run's exit code; it is reported.
    let out = app.run(&["status", "--on-failure", "exit 7"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out)
            .contains("db-backup: warning: --on-failure command: exited with exit status: 7"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn quiet_status_prints_only_what_fails() {
    let app = App::sqlite();
    app.ok(&[]);
    let out = app.run(&["status", "--quiet"]);
    assert_success(&out);
    assert_eq!(stdout(&out), "", "cron mails any output: none when healthy");
    // One second later the newest backup is older than a one-second limit.
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let out = app.run(&["status", "--quiet", "--max-age", "1s"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.starts_with("[local] UNHEALTHY: newest backup"),
        "{text}"
    );
}

#[test]
fn status_options_only_where_they_apply() {
    let app = App::sqlite();
    let out = app.run(&["--max-age", "1h"]);
    assert_eq!(out.status.code(), Some(2));
    let out = app.run(&["--keep-daily", "2", "status"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("goes after the subcommand"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_hook_that_lingers_is_stopped_whole_and_never_writes_into_json() {
    // A backup made whose copy fails (exit 4): --json prints the outcome, and the hook runs.
    let app = common::disks::app_on_nas(std::path::Path::new("/dev/null/nas"), "");
    // The hook talks on its stdout, never reads its stdin, and leaves a background job holding
    // our output open: the run ends at the 60 s bound with everything the hook started.
    let started = std::time::Instant::now();
    let out = app
        .cmd(&[
            "--json",
            "--on-failure",
            "echo hook-noise; sleep 300 & sleep 300",
        ])
        .output()
        .unwrap();
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(4));
    assert!(
        took < std::time::Duration::from_secs(90),
        "output stayed open for {took:?}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json: serde_json::Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}): {stdout}"));
    assert!(json["copies"][0]["error"].is_string(), "{json}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("hook-noise"), "{stderr}");
    assert!(
        stderr.contains("stopped with everything it started"),
        "{stderr}"
    );
}

#[test]
fn a_status_that_cannot_run_writes_unhealthy_metrics() {
    let app = App::sqlite();
    app.ok(&[]);
    let file = app.root.path().join("db_backup.prom");
    assert_success(&app.run(&["status", "--prometheus", file.to_str().unwrap()]));
    assert!(std::fs::read_to_string(&file)
        .unwrap()
        .contains("db_backup_healthy{place=\"local\"} 1"));
    // A bad setting: status fails, and the metrics say so instead of keeping yesterday's 1.
    let out = app
        .cmd(&["status", "--prometheus", file.to_str().unwrap()])
        .env("DB_BACKUP_MAX_AGE", "soon")
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains("db_backup_healthy{place=\"local\"} 0"),
        "{text}"
    );
    assert!(!text.contains("} 1\n"), "{text}");
}
