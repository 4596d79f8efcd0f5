//! `db-backup`: parse the command line, run, and turn any error into one line and an exit code.

mod backup;
mod catalog;
mod cli;
mod connection;
mod error;
mod install;
mod laravel;
mod mysql;
mod publish;
mod report;
mod restore;
mod retention;
mod run;
mod sqlite;
mod verify;

use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match cli::parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    let artisan = cli.output().artisan;
    match run::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if artisan {
                report::artisan_error(&e);
            } else {
                eprintln!("db-backup: error: {e}");
            }
            ExitCode::from(e.exit_code())
        }
    }
}
