//! Turns parsed arguments into a run of the right job.

use std::collections::HashMap;
use std::time::Duration;

use crate::backup::{self, Plan};
use crate::cli::{AppArgs, BackupArgs, Cli, Command, OutputArgs};
use crate::error::{Error, Result};
use crate::laravel::{self, Target};
use crate::report::{self, Style};
use crate::{catalog, install, restore, verify};

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
            report::list(
                &target,
                &catalog::list(&target.backups_dir, target.tz)?,
                json,
            );
            Ok(())
        }
        Some(Command::Verify { file, latest, json }) => {
            let target = load_target(&app)?;
            let (path, outside) =
                catalog::locate(&target.backups_dir, file.as_deref(), latest, &cwd()?)?;
            if outside {
                eprintln!(
                    "db-backup: note: {} is outside the backups folder",
                    path.display()
                );
            }
            let report = verify::sqlite_or_sql(&target, &path)?;
            report::verified(&target, &report, json);
            Ok(())
        }
        Some(Command::Restore {
            file,
            yes,
            busy_timeout,
        }) => {
            let target = load_target(&app)?;
            let (path, outside) =
                catalog::locate(&target.backups_dir, Some(&file), false, &cwd()?)?;
            if outside {
                eprintln!(
                    "db-backup: note: restoring {}, which is outside the backups folder",
                    path.display()
                );
            }
            let done = restore::run(&target, &path, yes, Duration::from_secs(busy_timeout))?;
            report::restored(&target, &done);
            Ok(())
        }
    }
}

fn install_command(args: &AppArgs, print: bool) -> Result<()> {
    if print {
        for (path, text) in install::drop_in_files() {
            println!("// ==> {path} <==");
            print!("{text}");
        }
        return Ok(());
    }
    let cwd = std::env::current_dir().map_err(Error::io("cannot read the current folder", "."))?;
    let dir = laravel::find_app_dir(args.app_dir.as_deref(), &cwd)?;
    let done = install::install(&dir)?;
    println!("installed {}", done.path.display());
    if let Some(saved) = done.saved {
        println!("the previous command was kept as {}", saved.display());
    }
    println!(
        "php artisan db:backup runs db-backup from the PATH, or the file named by DB_BACKUP_BINARY"
    );
    Ok(())
}

fn backup_command(app_args: &AppArgs, output: &OutputArgs, args: &BackupArgs) -> Result<()> {
    let target = load_target(app_args)?;
    let plan = Plan {
        keep: args.keep,
        dry_run: args.dry_run,
        busy_timeout: Duration::from_secs(args.busy_timeout),
    };
    let style = style(output);
    let outcome = backup::run(&target, &plan, style == Style::Text)?;
    report::backup(&target, &outcome, style);
    Ok(())
}

fn cwd() -> Result<std::path::PathBuf> {
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
