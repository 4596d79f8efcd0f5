//! The subcommands, one file each: typed options in, an outcome out. This file turns the parsed
//! command line into a call and hands the outcome to `report`, the only place that prints.

pub mod backup;
pub mod install;
pub mod list;
pub mod restore;
pub mod verify;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cli::{AppArgs, BackupArgs, Cli, Command, OutputArgs};
use crate::error::{Error, Result};
use crate::laravel::{self, Target};
use crate::report::{self, Style};
use crate::store::catalog;

/// Runs the command the user asked for.
pub fn run(cli: Cli) -> Result<()> {
    ignore_file_size_signal();
    let app = cli.app;
    match cli.command {
        None => backup_command(&app, &cli.output, &cli.backup),
        Some(Command::Backup { output, backup }) => backup_command(&app, &output, &backup),
        Some(Command::InstallArtisan { print }) => install_command(&app, print),
        Some(Command::List { json }) => {
            let target = load_target(&app)?;
            report::list(&target, &list::run(&target)?, json);
            Ok(())
        }
        Some(Command::Verify { file, latest, json }) => {
            let target = load_target(&app)?;
            let path = locate(&target, file.as_deref(), latest, "")?;
            report::verified(&target, &verify::run(&target, &path)?, json);
            Ok(())
        }
        Some(Command::Restore {
            file,
            yes,
            busy_timeout,
        }) => {
            let target = load_target(&app)?;
            let file = locate(&target, Some(&file), false, "restoring ")?;
            let req = restore::Request {
                file,
                yes,
                busy_timeout: Duration::from_secs(busy_timeout),
            };
            let mut bar = report::DumpProgress::new(false);
            let done = restore::run(&target, &req, &mut report::confirm, &mut |p| bar.update(p));
            bar.finish();
            report::restored(&target, &done?);
            Ok(())
        }
    }
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
    let target = load_target(app_args)?;
    let plan = backup::Plan {
        keep: args.keep,
        dry_run: args.dry_run,
        busy_timeout: Duration::from_secs(args.busy_timeout),
    };
    let style = style(output);
    let mut bar = report::DumpProgress::new(style == Style::Text);
    let outcome = backup::run(&target, &plan, &mut |p| bar.update(p));
    bar.finish();
    let outcome = outcome?;
    report::backup(&target, &outcome, style);
    match outcome.retention_failed {
        Some(detail) => Err(Error::RetentionFailed {
            created: outcome.created,
            detail,
        }),
        None => Ok(()),
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
