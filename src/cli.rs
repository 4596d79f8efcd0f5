//! The command-line interface: declared with clap, plus the few checks clap cannot express.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Consistent, atomic, verified database backups for a Laravel app.
///
/// Run bare, it backs up the app's database exactly where `php artisan db:backup` did:
/// storage/app/backups/database_backup_YYYY-MM-DD_HHMMSS.sqlite, then keeps the newest --keep.
/// The version, and the commit when built from a git checkout: `0.1.0 (commit 0123abcd4567)`.
pub fn version() -> &'static str {
    match env!("DB_BACKUP_COMMIT") {
        "" => env!("CARGO_PKG_VERSION"),
        commit => {
            Box::leak(format!("{} (commit {commit})", env!("CARGO_PKG_VERSION")).into_boxed_str())
        }
    }
}

#[derive(Debug, Parser)]
#[command(name = "db-backup", version = version())]
pub struct Cli {
    #[command(flatten)]
    pub app: AppArgs,

    #[command(flatten)]
    pub output: OutputArgs,

    #[command(flatten)]
    pub backup: BackupArgs,

    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    /// The output options in force, wherever on the line they were given.
    pub fn output(&self) -> &OutputArgs {
        match &self.command {
            Some(Command::Backup { output, .. }) => output,
            _ => &self.output,
        }
    }
}

/// What to do; with no subcommand, `backup`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Back up the database (the default when no subcommand is given).
    Backup {
        #[command(flatten)]
        output: OutputArgs,
        #[command(flatten)]
        backup: BackupArgs,
    },

    /// List the backups in the app's backups folder, newest first: name, kind, size, age.
    List {
        /// One JSON array on stdout.
        #[arg(long)]
        json: bool,
        /// Show the restorable window of continuous backup (`replicate`) instead: each chain's
        /// first and last point, and the backups it starts from.
        #[arg(long)]
        points: bool,
        /// List the copies on this disk of config/filesystems.php instead.
        #[arg(long, value_name = "NAME")]
        disk: Option<String>,
    },

    /// Prove a backup restores: a .sqlite is opened read-only and fully integrity-checked, then
    /// every table counted; exit 0 only when it is sound. The one-line CI and cron check.
    Verify {
        /// The backup: a path, or a name in the backups folder.
        #[arg(value_name = "FILE", required_unless_present_any = ["latest", "at"])]
        file: Option<PathBuf>,
        /// Verify the newest backup.
        #[arg(long, conflicts_with = "file")]
        latest: bool,
        /// Prove the database can be restored as it was at TIME (continuous backup): the point
        /// is built in a private folder, checked against its recorded state checksum and
        /// integrity-checked, then deleted. Nothing of the app is touched.
        #[arg(long, value_name = "TIME", conflicts_with_all = ["file", "latest"])]
        at: Option<String>,
        /// One JSON object on stdout.
        #[arg(long)]
        json: bool,
        /// Verify the copy on this disk: it is downloaded into a private temporary file,
        /// checked against its seal (SHA-256 and sizes, authenticated with a key derived from
        /// APP_KEY), decrypted and decompressed, then verified.
        #[arg(long, value_name = "NAME")]
        disk: Option<String>,
        /// With --disk: accept a copy this app did not seal (made before seals existed, or
        /// under another APP_KEY). Only for a copy whose origin you know.
        #[arg(long, requires = "disk")]
        trust_foreign: bool,
    },

    /// Put a backup back over the live database. A fresh backup of the current data is taken
    /// first (so the restore can be undone); the backup is checked before anything changes.
    Restore {
        /// The backup: a path, or a name in the backups folder.
        #[arg(
            value_name = "FILE",
            required_unless_present = "at",
            conflicts_with = "at"
        )]
        file: Option<PathBuf>,
        /// Restore the database as it was at TIME, from continuous backup (`replicate`): every
        /// transaction committed at or before TIME, none after. TIME is in the app's time zone
        /// (`2026-12-06 10:32:05`, `10:32` for today; a whole second counts) or RFC 3339.
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
        /// With --at: write the result to this new file instead of restoring over the live
        /// database (it must not exist).
        #[arg(long, value_name = "PATH", requires = "at")]
        to: Option<PathBuf>,
        /// Do not ask for confirmation (required when not run from a terminal).
        #[arg(long, short = 'y')]
        yes: bool,
        /// MySQL/MariaDB: first drop the tables, views, routines, triggers and events of the
        /// app's database that the backup does not hold, so the database ends up exactly as
        /// backed up. Without it they are left in place (as when loading a mysqldump file) and
        /// named in a warning. A SQLite restore always replaces the whole database.
        #[arg(long)]
        clean: bool,
        /// How long to wait, in seconds, for other sessions to let go of what the restore
        /// needs: the app's writers on a SQLite database; table and row locks on MySQL/MariaDB
        /// (each lock wait, as lock_wait_timeout and innodb_lock_wait_timeout). At most 86400.
        #[arg(long, value_name = "SECONDS", default_value = "30", value_parser = busy_timeout())]
        busy_timeout: u64,
        /// Restore the copy on this disk: downloaded and checked against its seal first.
        #[arg(long, value_name = "NAME")]
        disk: Option<String>,
        /// With --disk: accept a copy this app did not seal (made before seals existed, or
        /// under another APP_KEY). Only for a copy whose origin you know.
        #[arg(long, requires = "disk")]
        trust_foreign: bool,
    },

    /// Continuous backup of a SQLite database (WAL mode): ships every committed transaction to
    /// the changes folder beside the backups, and to the disks of DB_BACKUP_DISKS, every
    /// DB_BACKUP_SYNC_INTERVAL (1s). Runs in the foreground until SIGTERM or Ctrl-C, then ships
    /// what is left and exits 0. `restore --at TIME` puts a point back.
    Replicate {
        /// How long to wait, in seconds, for the app's writers when opening the database.
        #[arg(long, value_name = "SECONDS", default_value = "30", value_parser = busy_timeout())]
        busy_timeout: u64,
        /// Stop by itself after this many seconds (as if sent SIGTERM): for tests and trials.
        #[arg(long, value_name = "SECONDS")]
        stop_after: Option<u64>,
    },

    /// Check that backups are healthy: at least one, the newest younger than --max-age, not much
    /// smaller than the one before, all under --max-total; one line per check. Exit 0 when
    /// healthy, 1 when not (each failing line says what to do).
    Status {
        #[command(flatten)]
        status: StatusArgs,
    },

    /// Install the Artisan bridge as app/Console/Commands/BackupDatabase.php, replacing the old
    /// command in place (a different old file is kept in storage/app/db-backup/), so
    /// `php artisan db:backup --keep=N` runs this binary with Laravel's own settings.
    InstallArtisan {
        /// Print the PHP file on stdout instead of installing it.
        #[arg(long)]
        print: bool,
    },
}

/// Where the Laravel app and its settings are.
#[derive(Debug, Args, Clone, Default)]
pub struct AppArgs {
    /// The Laravel app's folder (the one holding `artisan` and `.env`).
    ///
    /// Without it: the current folder if it holds `artisan` or `.env`, else `./api` if that
    /// does, else the nearest parent folder that does.
    #[arg(long, value_name = "DIR", global = true)]
    pub app_dir: Option<PathBuf>,

    /// Read settings from this file instead of the app's `.env`.
    ///
    /// Real environment variables still win over the file, as they do in Laravel.
    #[arg(long, value_name = "FILE", global = true)]
    pub env_file: Option<PathBuf>,
}

/// How results are shown.
#[derive(Debug, Args, Clone, Default)]
pub struct OutputArgs {
    /// Print nothing on success; errors still go to stderr.
    #[arg(long, short = 'q')]
    pub quiet: bool,

    /// Print one JSON object on stdout (created file, size, duration, deleted files), for CI.
    #[arg(long, conflicts_with = "quiet")]
    pub json: bool,

    /// Print the original `php artisan db:backup` lines instead (French, errors on stdout too),
    /// so logs and scripts that read them keep working. The Artisan bridge passes this.
    #[arg(long, conflicts_with_all = ["quiet", "json"])]
    pub artisan: bool,
}

/// Options of the backup itself.
#[derive(Debug, Args, Clone)]
pub struct BackupArgs {
    /// How many backups to keep, newest first, counting the new one.
    ///
    /// After a successful backup only, older `database_backup_*` files beyond this number are
    /// deleted, newest judged by the timestamp in the name. Must be 1 or more: unlike the old
    /// Artisan command, 0, negative or non-numeric values are refused rather than deleting every
    /// backup.
    ///
    /// Default: 7, unless a --keep-daily/weekly/monthly/yearly rule is set (on the command line
    /// or as DB_BACKUP_KEEP_DAILY… in .env); then only the rules given apply. Given together,
    /// the rules add up, as restic's --keep-last does with its others.
    #[arg(long, value_name = "N", value_parser = parse_keep, allow_hyphen_values = true)]
    pub keep: Option<u32>,

    /// Keep the newest backup of each of the last N days that have one (DB_BACKUP_KEEP_DAILY).
    ///
    /// Days, weeks, months and years are read from the timestamp in the names, in the app's
    /// time zone; weeks are ISO weeks (Monday to Sunday).
    #[arg(long, value_name = "N", value_parser = parse_count("--keep-daily"), allow_hyphen_values = true)]
    pub keep_daily: Option<u32>,

    /// Keep the newest backup of each of the last N weeks that have one (DB_BACKUP_KEEP_WEEKLY).
    #[arg(long, value_name = "N", value_parser = parse_count("--keep-weekly"), allow_hyphen_values = true)]
    pub keep_weekly: Option<u32>,

    /// Keep the newest backup of each of the last N months that have one
    /// (DB_BACKUP_KEEP_MONTHLY).
    #[arg(long, value_name = "N", value_parser = parse_count("--keep-monthly"), allow_hyphen_values = true)]
    pub keep_monthly: Option<u32>,

    /// Keep the newest backup of each of the last N years that have one (DB_BACKUP_KEEP_YEARLY).
    #[arg(long, value_name = "N", value_parser = parse_count("--keep-yearly"), allow_hyphen_values = true)]
    pub keep_yearly: Option<u32>,

    /// Copies to keep on each disk (DB_BACKUP_DISKS), newest first; without it the disks keep
    /// what the local rules keep (DB_BACKUP_KEEP_REMOTE).
    #[arg(long, value_name = "N", value_parser = parse_count("--keep-remote"), allow_hyphen_values = true)]
    pub keep_remote: Option<u32>,

    /// When the backup fails, run this shell command with the outcome as JSON on its stdin
    /// (for cron without PHP: mail, a chat webhook…). It gets a minimal environment: never the
    /// database password nor any other secret of the app.
    #[arg(long, value_name = "CMD")]
    pub on_failure: Option<String>,

    /// Tables whose rows are left out (their structure is kept), comma-separated: Laravel's
    /// cache, sessions, jobs… (DB_BACKUP_EXCLUDE_DATA). Nothing is left out by default.
    #[arg(long, value_name = "TABLE,…")]
    pub exclude_data: Option<String>,

    /// Show what would be created and deleted, and change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// How long to wait, in seconds, for a writer holding the SQLite database locked (at most
    /// 86400, a day).
    #[arg(long, value_name = "SECONDS", default_value = "30", value_parser = busy_timeout())]
    pub busy_timeout: u64,
}

/// Options of `db-backup status`.
#[derive(Debug, Args, Clone, Default)]
pub struct StatusArgs {
    /// One JSON object on stdout.
    #[arg(long)]
    pub json: bool,

    /// Print only the checks that fail (nothing when healthy): for cron, which mails any output.
    #[arg(long, short = 'q', conflicts_with = "json")]
    pub quiet: bool,

    /// Also verify the newest backup (as `db-backup verify --latest` does).
    #[arg(long)]
    pub verify: bool,

    /// The newest backup must be younger than this: 26h, 90m, 2d… (DB_BACKUP_MAX_AGE; 26h).
    #[arg(long, value_name = "DURATION", value_parser = parse_setting(crate::laravel::settings::parse_duration, "a duration such as 26h, 90m or 2d"))]
    pub max_age: Option<chrono::Duration>,

    /// The newest backup must be at least this share of the one before: 0.5 or 50%
    /// (DB_BACKUP_MIN_RATIO; 50%).
    #[arg(long, value_name = "SHARE", value_parser = parse_setting(crate::laravel::settings::parse_ratio, "a share such as 0.5 or 50%"))]
    pub min_ratio: Option<f64>,

    /// All backups together must stay under this size: 10G, 500M… (DB_BACKUP_MAX_TOTAL; none).
    #[arg(long, value_name = "SIZE", value_parser = parse_setting(crate::laravel::settings::parse_size, "a size such as 10G or 500M"))]
    pub max_total: Option<u64>,

    /// Also write the metrics for node_exporter's textfile collector to FILE (atomically:
    /// a temporary file, then a rename).
    #[arg(long, value_name = "FILE")]
    pub prometheus: Option<PathBuf>,

    /// When unhealthy, run this shell command with the checks as JSON on its stdin.
    #[arg(long, value_name = "CMD")]
    pub on_failure: Option<String>,
}

/// Parses `std::env::args`. Help, version and usage errors come back as the clap error, for
/// `report::usage` to print (help and version as usual, a usage error as one line, exit 2).
pub fn parse() -> Result<Cli, clap::Error> {
    try_parse_from(std::env::args_os())
}

/// Parses, then refuses backup options placed before a subcommand they do not belong to
/// (`db-backup --keep 3 list`): silently ignoring a --keep is how backups get lost.
pub fn try_parse_from<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    use clap::{CommandFactory, FromArgMatches};
    let mut cmd = Cli::command();
    let matches = cmd.try_get_matches_from_mut(args)?;
    if let Some((sub, _)) = matches.subcommand() {
        for id in [
            "keep",
            "keep_daily",
            "keep_weekly",
            "keep_monthly",
            "keep_yearly",
            "keep_remote",
            "on_failure",
            "dry_run",
            "busy_timeout",
            "quiet",
            "json",
            "artisan",
        ] {
            if matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine) {
                let flag = format!("--{}", id.replace('_', "-"));
                return Err(cmd.error(
                    clap::error::ErrorKind::ArgumentConflict,
                    format!("{flag} goes after the subcommand it belongs to, not before `{sub}`"),
                ));
            }
        }
    }
    Cli::from_arg_matches(&matches).map_err(|e| e.format(&mut cmd))
}

/// `--busy-timeout`, for backup and restore alike: a day at most. SQLite takes the timeout in
/// milliseconds as an i32 and deadlines are instants; unbounded, a large value would overflow.
fn busy_timeout() -> clap::builder::RangedU64ValueParser<u64> {
    clap::value_parser!(u64).range(0..=86_400)
}

/// `--keep` must be a whole number of at least 1: the old command turned anything else into 0
/// and then deleted every backup, the new one included.
fn parse_keep(raw: &str) -> Result<u32, String> {
    match raw.trim().parse::<i64>() {
        Ok(n) if n < 1 => Err(format!(
            "'{raw}' would delete every backup: --keep must be 1 or more"
        )),
        Ok(n) => u32::try_from(n)
            .map_err(|_| format!("'{raw}' is too large: --keep must be at most {}", u32::MAX)),
        Err(_) => Err(format!(
            "'{raw}' is not a whole number: --keep must be 1 or more"
        )),
    }
}

/// A retention count: a whole number of at least 1 (0 would be a rule that keeps nothing).
fn parse_count(flag: &'static str) -> impl Fn(&str) -> Result<u32, String> + Clone {
    move |raw: &str| match raw.trim().parse::<u32>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!(
            "'{raw}' is not a whole number of 1 or more: {flag} N"
        )),
    }
}

/// A value parsed as the matching `.env` setting is.
fn parse_setting<T: Clone + Send + Sync + 'static>(
    parse: fn(&str) -> Option<T>,
    expected: &'static str,
) -> impl Fn(&str) -> Result<T, String> + Clone {
    move |raw: &str| parse(raw.trim()).ok_or_else(|| format!("'{raw}' is not {expected}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn keep_accepts_positive_whole_numbers_only() {
        assert_eq!(parse_keep("30"), Ok(30));
        assert_eq!(parse_keep("1"), Ok(1));
        for bad in ["0", "-1", "abc", "", "1.5", "99999999999"] {
            assert!(parse_keep(bad).is_err(), "{bad:?} accepted");
        }
        assert!(parse_keep("4294967296").unwrap_err().contains("too large"));
        assert!(parse_keep("99999999999999999999")
            .unwrap_err()
            .contains("not a whole number"));
    }

    #[test]
    fn app_options_go_anywhere_backup_options_only_where_they_apply() {
        let cli = try_parse_from(["db-backup", "--app-dir", "api", "list"]).unwrap();
        assert_eq!(
            cli.app.app_dir.as_deref(),
            Some(std::path::Path::new("api"))
        );
        let cli = try_parse_from(["db-backup", "list", "--app-dir", "api"]).unwrap();
        assert_eq!(
            cli.app.app_dir.as_deref(),
            Some(std::path::Path::new("api"))
        );
        assert!(try_parse_from(["db-backup", "--keep", "3", "list"]).is_err());
        assert!(try_parse_from(["db-backup", "--json", "verify", "--latest"]).is_err());
        let cli = try_parse_from(["db-backup", "backup", "--keep", "3"]).unwrap();
        assert!(matches!(cli.command, Some(Command::Backup { .. })));
    }

    /// The Artisan bridge passes the file after `--`, so a name starting with `-` is a file.
    #[test]
    fn a_file_after_double_dash_may_start_with_a_dash() {
        let cli = try_parse_from(["db-backup", "restore", "--yes", "--", "-x.sqlite"]).unwrap();
        let Some(Command::Restore { file, yes, .. }) = cli.command else {
            panic!("not a restore")
        };
        assert!(yes);
        assert_eq!(file.as_deref(), Some(std::path::Path::new("-x.sqlite")));
        let cli = try_parse_from(["db-backup", "verify", "--json", "--", "--latest"]).unwrap();
        let Some(Command::Verify {
            file, latest, json, ..
        }) = cli.command
        else {
            panic!("not a verify")
        };
        assert_eq!(file.as_deref(), Some(std::path::Path::new("--latest")));
        assert!(json && !latest);
    }

    #[test]
    fn busy_timeout_is_bounded_for_backup_and_restore() {
        for big in ["86401", "3000000", "18446744073709551615"] {
            assert!(try_parse_from(["db-backup", "--busy-timeout", big]).is_err());
            assert!(
                try_parse_from(["db-backup", "restore", "f", "--busy-timeout", big]).is_err(),
                "{big} accepted by restore"
            );
        }
        let cli = try_parse_from(["db-backup", "restore", "f", "--busy-timeout", "86400"]).unwrap();
        assert!(matches!(
            cli.command,
            Some(Command::Restore {
                busy_timeout: 86_400,
                ..
            })
        ));
    }

    #[test]
    fn keep_forms_match_artisan() {
        let a = Cli::try_parse_from(["db-backup", "--keep=30"]).unwrap();
        let b = Cli::try_parse_from(["db-backup", "--keep", "30"]).unwrap();
        assert_eq!(a.backup.keep, Some(30));
        assert_eq!(b.backup.keep, Some(30));
        let d = Cli::try_parse_from(["db-backup"]).unwrap();
        assert_eq!(
            d.backup.keep, None,
            "the default (7) is decided with the GFS rules"
        );
    }
}
