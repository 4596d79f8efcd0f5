//! The subcommands, one file each: typed options in, an outcome out. This file turns the parsed
//! command line into a call and hands the outcome to `report`, the only place that prints.

pub mod backup;
pub mod disks;
pub mod install;
pub mod list;
pub mod notify;
pub mod pitr;
pub mod replicate;
pub mod restore;
pub mod ship;
pub mod status;
pub mod verify;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cli::{AppArgs, BackupArgs, Cli, Command, OutputArgs, StatusArgs};
use crate::error::{Error, Result};
use crate::laravel::{self, Target};
use crate::report::{self, Style};
use crate::store::catalog;
use crate::store::publish;
use crate::store::retention::Policy;

/// Runs the command the user asked for.
pub fn run(cli: Cli) -> Result<()> {
    ignore_file_size_signal();
    warn_bridge_version();
    let app = cli.app;
    match cli.command {
        None => backup_command(&app, &cli.output, &cli.backup),
        Some(Command::Backup { output, backup }) => backup_command(&app, &output, &backup),
        Some(Command::Status { status }) => status_command(&app, &status),
        Some(Command::InstallArtisan { print }) => install_command(&app, print),
        Some(Command::List { json, disk, points }) => {
            let target = load_target(&app)?;
            if points {
                if disk.is_some() {
                    return Err(Error::Unsupported(
                        "--points shows the backups folder's continuous backup; --disk with --points is not there yet".into(),
                    ));
                }
                let mut warnings = Vec::new();
                let windows = pitr::windows(&target, &mut warnings)?;
                report::warnings(&warnings);
                report::points(&target, &windows, json);
                return Ok(());
            }
            match disk {
                Some(name) => {
                    let disk = disks::open(&target, &name)?;
                    let (entries, warnings) = list::on_disk(&target, disk.as_ref())?;
                    report::warnings(&warnings);
                    report::list_disk(disk.as_ref(), &entries, json);
                }
                None => report::list(&target, &list::run(&target)?, json),
            }
            Ok(())
        }
        Some(Command::Verify {
            file,
            latest,
            at,
            json,
            disk,
            trust_foreign,
        }) => {
            let target = load_target(&app)?;
            if let Some(at) = at {
                let at_ms = pitr::parse_time(&at, target.tz)?;
                let built = pitr::build(&target, &at, at_ms, disk.as_deref(), pitr::Check::Here)?;
                report::warnings(&built.warnings);
                report::point_verified(&target, &built, json);
                return Ok(());
            }
            let verified = match disk {
                Some(name) => {
                    let disk = disks::open(&target, &name)?;
                    let object = disks::find(
                        &target,
                        disk.as_ref(),
                        file.as_deref(),
                        latest,
                        trust_foreign,
                    )?;
                    let fetched = disks::fetch(&target, disk.as_ref(), &object)?;
                    report::warnings(&fetched.warnings);
                    let mut failed = Vec::new();
                    let mut v =
                        verified(verify::run(&target, &fetched.path, &mut failed), &failed)?;
                    v.file = fetched.shown.clone();
                    v
                }
                None => {
                    let path = locate(&target, file.as_deref(), latest, "")?;
                    let mut failed = Vec::new();
                    verified(verify::run(&target, &path, &mut failed), &failed)?
                }
            };
            report::verified(&target, &verified, json);
            Ok(())
        }
        Some(Command::Restore {
            file,
            at,
            to,
            yes,
            clean,
            busy_timeout,
            disk,
            trust_foreign,
        }) => {
            let target = load_target(&app)?;
            let busy_timeout = Duration::from_secs(busy_timeout);
            if let Some(at) = at {
                let at_ms = pitr::parse_time(&at, target.tz)?;
                let check = match to {
                    Some(_) => pitr::Check::Here,
                    None => pitr::Check::BesideSafetyBackup,
                };
                let built = pitr::build(&target, &at, at_ms, disk.as_deref(), check)?;
                report::warnings(&built.warnings);
                report::point(&target, &built, at_ms);
                if let Some(to) = to {
                    let written = pitr::write_to(built, &to)?;
                    report::note(&format!("wrote {}", written.display()));
                    return Ok(());
                }
                let path = built.path.clone();
                let shown = PathBuf::from(format!(
                    "{} + {} transaction(s), as at {}",
                    built.base,
                    built.applied,
                    pitr::show(built.point_ms, target.tz)
                ));
                let req = restore::Request {
                    file: path,
                    yes,
                    clean,
                    busy_timeout,
                    thorough: true,
                };
                return restore_file(&target, req, Some(shown));
            }
            let file = file.expect("clap requires FILE without --at");
            // A copy from a disk is downloaded (and checked against the disk's checksum) into a
            // private file first; the restore then checks it again as it does any backup.
            let fetched = match &disk {
                Some(name) => {
                    let disk = disks::open(&target, name)?;
                    let object =
                        disks::find(&target, disk.as_ref(), Some(&file), false, trust_foreign)?;
                    let fetched = disks::fetch(&target, disk.as_ref(), &object)?;
                    report::warnings(&fetched.warnings);
                    Some(fetched)
                }
                None => None,
            };
            let path = match &fetched {
                Some(f) => f.path.clone(),
                None => locate(&target, Some(&file), false, "restoring ")?,
            };
            let req = restore::Request {
                file: path,
                yes,
                clean,
                busy_timeout,
                thorough: false,
            };
            restore_file(&target, req, fetched.as_ref().map(|f| f.shown.clone()))
        }
        Some(Command::Replicate {
            busy_timeout,
            stop_after,
        }) => {
            let target = load_target(&app)?;
            let s = &target.settings;
            let opts = replicate::Options {
                sync: s
                    .duration("sync_interval")?
                    .and_then(|d| d.to_std().ok())
                    .unwrap_or(Duration::from_secs(1)),
                wal_limit: s.size("wal_limit")?,
                busy_timeout: Duration::from_secs(busy_timeout),
                stop_after: stop_after.map(Duration::from_secs),
            };
            replicate::run(&target, &app, &opts)
        }
    }
}

/// Restores `file` over the live database (`shown`: the name to report instead of its path).
fn restore_file(target: &Target, req: restore::Request, shown: Option<PathBuf>) -> Result<()> {
    let mut bar = report::DumpProgress::new(false);
    let mut failed = Vec::new();
    let meter = std::sync::Arc::new(crate::engine::Meter::default());
    let load_bar = report::LoadBar::new(meter.clone());
    let done = restore::run(
        target,
        &req,
        &mut report::confirm,
        &mut |p| bar.update(p),
        meter,
        &mut failed,
    );
    load_bar.finish();
    if done.is_err() {
        report::warnings(&failed);
    }
    bar.finish();
    let mut done = done?;
    if let Some(shown) = shown {
        done.file = shown;
    }
    report::restored(target, &done);
    Ok(())
}

/// A verify's outcome; a failed one's warnings (a scratch database left behind) are printed
/// before its error.
fn verified(run: Result<verify::Verified>, failed: &[String]) -> Result<verify::Verified> {
    if run.is_err() {
        report::warnings(failed);
    }
    run
}

/// The backup a user named (or the newest), with a note when it lies outside the backups folder.
fn locate(target: &Target, file: Option<&Path>, latest: bool, doing: &str) -> Result<PathBuf> {
    let (path, outside) = catalog::locate(&target.backups_dir, file, latest, &cwd()?)?;
    if outside {
        report::note(&format!(
            "{doing}{}, which is outside the backups folder",
            path.display()
        ));
    }
    Ok(path)
}

fn install_command(args: &AppArgs, print: bool) -> Result<()> {
    let binary = install::default_binary();
    if print {
        report::install_files(&install::drop_in_files(binary.as_deref()));
        return Ok(());
    }
    let dir = laravel::find_app_dir(args.app_dir.as_deref(), &cwd()?)?;
    report::installed(&install::install(&dir, binary.as_deref())?);
    Ok(())
}

fn backup_command(app_args: &AppArgs, output: &OutputArgs, args: &BackupArgs) -> Result<()> {
    let style = style(output);
    let result = load_target(app_args).and_then(|target| {
        let (outcome, copies) = backup_run(&target, args, style)?;
        Ok((target, outcome, copies))
    });
    let (event, failed) = match &result {
        Ok((target, outcome, copies)) => {
            let mut event = report::backup_json(target, outcome, copies);
            event["event"] = "backup_succeeded".into();
            event["ok"] = outcome.retention_failed.is_none().into();
            // A backup that did not get off the machine is what ops listen for: it is
            // announced as BackupFailed (with the whole outcome), not as a success.
            if let Some(e) = copy_failure(outcome, copies) {
                event["event"] = "backup_failed".into();
                event["ok"] = false.into();
                event["error"] = e.to_string().into();
                event["exit_code"] = e.exit_code().into();
            }
            let failed = event["ok"] == false;
            (event, failed)
        }
        Err(e) => (report::failure_json("backup_failed", e), true),
    };
    // Dry runs change nothing and tell nobody.
    if !args.dry_run {
        report::warnings(&notify::deliver(&event, failed, args.on_failure.as_deref()));
    }
    let (_, outcome, copies) = result?;
    // A failed copy outranks a failed local retention: the backup is not off the machine.
    if let Some(e) = copy_failure(&outcome, &copies) {
        return Err(e);
    }
    match outcome.retention_failed {
        Some(detail) => Err(Error::RetentionFailed {
            created: outcome.created,
            detail,
        }),
        None => Ok(()),
    }
}

/// The error of a run whose backup some disk did not get (exit code 4).
fn copy_failure(outcome: &backup::Outcome, copies: &[disks::DiskRun]) -> Option<Error> {
    let failures: Vec<(String, String)> = copies
        .iter()
        .filter_map(|c| Some((c.disk.clone(), c.error.clone()?)))
        .collect();
    (!failures.is_empty()).then(|| Error::CopyFailed {
        created: outcome.created.clone(),
        failures,
    })
}

/// One backup, printed, then its copies to the app's disks; a retention or copy failure is in
/// the outcome, not an error.
fn backup_run(
    target: &Target,
    args: &BackupArgs,
    style: Style,
) -> Result<(backup::Outcome, Vec<disks::DiskRun>)> {
    let local = policy(target, args)?;
    let plan = backup::Plan {
        policy: local,
        dry_run: args.dry_run,
        busy_timeout: Duration::from_secs(args.busy_timeout),
        exclude_data: match &args.exclude_data {
            Some(list) => crate::laravel::settings::split_names(list),
            None => target.settings.exclude_data(),
        },
    };
    let remote = match args.keep_remote.or(target.settings.count("keep_remote")?) {
        Some(n) => Policy::last(n),
        None => local,
    };
    let mut bar = report::DumpProgress::new(style == Style::Text);
    let outcome = backup::run(target, &plan, &mut |p| bar.update(p));
    bar.finish();
    let (outcome, lock) = outcome?;
    // The local backup is announced before any upload starts (JSON waits for the copies).
    report::backup(target, &outcome, style);
    // Under the lock the copies are made; a dry run (no lock) only says what they would be.
    let copies = disks::copy_all(target, &outcome.created, &remote, lock.is_none());
    report::copies(target, &outcome, &copies, style);
    drop(lock);
    Ok((outcome, copies))
}

/// The keep-policy: the command line's rules, else the app's settings. `--keep` defaults to 7
/// only when no daily/weekly/monthly/yearly rule is set, so those alone can thin backups out.
fn policy(target: &Target, args: &BackupArgs) -> Result<Policy> {
    let s = &target.settings;
    let rule =
        |cli: Option<u32>, key: &str| -> Result<u32> { Ok(cli.or(s.count(key)?).unwrap_or(0)) };
    let mut p = Policy {
        last: 0,
        daily: rule(args.keep_daily, "keep_daily")?,
        weekly: rule(args.keep_weekly, "keep_weekly")?,
        monthly: rule(args.keep_monthly, "keep_monthly")?,
        yearly: rule(args.keep_yearly, "keep_yearly")?,
    };
    let any_rule = p.daily + p.weekly + p.monthly + p.yearly > 0;
    p.last = args.keep.unwrap_or(if any_rule { 0 } else { 7 });
    Ok(p)
}

fn status_command(app_args: &AppArgs, args: &StatusArgs) -> Result<()> {
    let result = load_target(app_args).and_then(|target| {
        let req = status::Request {
            verify: args.verify,
            max_age: args.max_age,
            min_ratio: args.min_ratio,
            max_total: args.max_total,
        };
        status::run(&target, &req)
    });
    let st = match result {
        Ok(st) => st,
        Err(e) => {
            // Yesterday's `healthy 1` must not stay in place while status cannot even run.
            if let Some(file) = &args.prometheus {
                let _ =
                    publish::write_atomically(file, report::prometheus_failed().as_bytes(), 0o644);
            }
            let event = report::failure_json("status_failed", &e);
            report::warnings(&notify::deliver(&event, true, args.on_failure.as_deref()));
            return Err(e);
        }
    };
    report::status(&st, args.json, args.quiet);
    if let Some(file) = &args.prometheus {
        publish::write_atomically(file, report::prometheus(&st).as_bytes(), 0o644)?;
    }
    let mut event = report::status_json(&st);
    event["event"] = if st.healthy {
        "backups_healthy"
    } else {
        "unhealthy_backup_found"
    }
    .into();
    report::warnings(&notify::deliver(
        &event,
        !st.healthy,
        args.on_failure.as_deref(),
    ));
    if st.healthy {
        Ok(())
    } else {
        Err(Error::Unhealthy(st.failed()))
    }
}

/// The Artisan bridge says which release it belongs to; a binary of another release may not
/// take the same options or settings.
fn warn_bridge_version() {
    let bridge = std::env::var("DB_BACKUP_BRIDGE_VERSION").unwrap_or_default();
    if !bridge.is_empty() && bridge != env!("CARGO_PKG_VERSION") {
        report::warnings(&[format!(
            "this db-backup is {} but the Artisan bridge is {bridge}: run `php artisan db-backup:install` (or `db-backup install-artisan` again) so that they match",
            env!("CARGO_PKG_VERSION")
        )]);
    }
}

fn cwd() -> Result<PathBuf> {
    std::env::current_dir().map_err(Error::io("cannot read the current folder", "."))
}

fn load_target(args: &AppArgs) -> Result<Target> {
    let cwd = cwd()?;
    // Non-UTF-8 variables cannot be Laravel settings we read; skip them rather than fail.
    let real: HashMap<String, String> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    laravel::target(
        args.app_dir.as_deref(),
        args.env_file.as_deref(),
        &cwd,
        real,
    )
}

fn style(output: &OutputArgs) -> Style {
    if output.artisan {
        Style::Artisan
    } else if output.json {
        Style::Json
    } else if output.quiet {
        Style::Quiet
    } else {
        Style::Text
    }
}

/// With a file-size limit (ulimit -f) the kernel would kill us with SIGXFSZ and leave no
/// message; ignored, the write fails with EFBIG and the user gets a clear "disk full" line.
fn ignore_file_size_signal() {
    // SAFETY: setting a signal's disposition to SIG_IGN has no preconditions.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}
