//! `db-backup`: parse the command line, run, and turn any error into one line and an exit code.

mod cli;
mod cmd;
mod engine;
mod error;
mod laravel;
mod report;
mod store;
mod units;

use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match cli::parse() {
        Ok(cli) => cli,
        Err(e) => return report::usage(&e),
    };
    let artisan = cli.output().artisan;
    match cmd::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            report::error(&e, artisan);
            ExitCode::from(e.exit_code())
        }
    }
}
