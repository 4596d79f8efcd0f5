//! The one error type: every variant says what happened, where, and what to do about it.

use std::path::PathBuf;

/// Exit code for bad usage (nonsense options), as clap and most Unix tools use; `cli` emits it.
pub const EXIT_USAGE: u8 = 2;
/// Exit code when another run holds the lock (sysexits' EX_TEMPFAIL: "try again later").
pub const EXIT_LOCKED: u8 = 75;
/// Exit code for every other failure.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code when the backup was made and published but deleting older ones failed.
pub const EXIT_RETENTION: u8 = 3;
/// Exit code when the backup was made and published but copying it to a disk failed.
pub const EXIT_COPY: u8 = 4;

/// Everything that can stop a run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no Laravel app found: none of {tried} holds an `artisan` or `.env` file; run from the app folder or pass --app-dir")]
    AppNotFound { tried: String },

    #[error("--app-dir {0}: not a folder")]
    AppDirMissing(PathBuf),

    #[error("no .env file at {0} and no DB_CONNECTION in the environment; create it (cp .env.example .env) or pass --env-file")]
    EnvMissing(PathBuf),

    #[error("cannot read {path}: {source}")]
    EnvUnreadable {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("{path}: {source}; fix it so that the app and the backup read the same settings")]
    EnvSyntax {
        path: PathBuf,
        source: crate::laravel::dotenv::ParseError,
    },

    #[error("Laravel's config is cached in {0}, so the app ignores .env; run `php artisan db:backup` (it hands over the cached settings) or `php artisan config:clear`")]
    ConfigCached(PathBuf),

    #[error("cannot tell which database the app uses: DB_CONNECTION is not set and no default was found in {0}; set DB_CONNECTION in .env")]
    NoConnection(PathBuf),

    #[error(
        "DB_CONNECTION={0}: unknown connection; db-backup handles sqlite, mysql, mariadb and pgsql"
    )]
    UnknownConnection(String),

    #[error(
        "the Artisan bridge did not hand over {0}; reinstall it with `db-backup install-artisan`"
    )]
    Handover(String),

    #[error("{name} is not {expected}; fix it in .env or config/db-backup.php")]
    BadSetting {
        name: &'static str,
        expected: &'static str,
    },

    #[error("{0} in the database URL ({1}) is not a valid URL: {2}")]
    BadUrl(&'static str, String, String),

    #[error("MySQL server {server} refused user '{user}': wrong user or password (DB_USERNAME/DB_PASSWORD)")]
    MysqlAccess { server: String, user: String },

    #[error("MySQL server {server} has no database '{db}' (or user '{user}' may not see it); check DB_DATABASE")]
    MysqlUnknownDb {
        server: String,
        db: String,
        user: String,
    },

    #[error("cannot reach MySQL server {server}: {detail}; check DB_HOST, DB_PORT, DB_SOCKET and that the server runs")]
    MysqlUnreachable { server: String, detail: String },

    #[error("MySQL user '{user}' lacks a privilege needed to back up '{db}': {detail}")]
    MysqlPrivilege {
        user: String,
        db: String,
        detail: String,
    },

    #[error("lost the connection to MySQL server {server} ({detail})")]
    MysqlLost { server: String, detail: String },

    #[error("MySQL server {server}: {detail}")]
    Mysql { server: String, detail: String },

    #[error("table `{table}` has a row whose INSERT statement takes {}, more than MySQL server {server} accepts (max_allowed_packet = {}): a file holding it could not be restored; raise max_allowed_packet on the server to {} or more (in its configuration, and SET GLOBAL for the running server) and back up again", crate::units::size(*.bytes as u64), crate::units::size(*.limit as u64), packet_hint(*.bytes))]
    RowTooLarge {
        server: String,
        table: String,
        bytes: usize,
        limit: usize,
    },

    #[error("MySQL server {server} refused line {line} of {}: {detail}", .file.display())]
    LoadRefused {
        server: String,
        file: PathBuf,
        line: usize,
        detail: String,
    },

    #[error("the statement at line {line} of {} takes {}, more than MySQL server {server} accepts (max_allowed_packet = {}): the load stopped there; raise max_allowed_packet on the server to {} or more (in its configuration, and SET GLOBAL for the running server) and load it again", .file.display(), crate::units::size(*.bytes as u64), crate::units::size(*.limit as u64), packet_hint(*.bytes))]
    StatementTooLarge {
        server: String,
        file: PathBuf,
        line: usize,
        bytes: usize,
        limit: usize,
    },
    #[error(
        "table {table}: {detail}; stopped rather than write a backup that leaves a column out"
    )]
    MysqlColumns { table: String, detail: String },
    #[error("MySQL server {server}: {at}: `{statement}` waited {waited} for a lock another session holds and gave up (lock_wait_timeout); end that session's transaction or LOCK TABLES (SHOW PROCESSLIST names it), or wait longer with --busy-timeout")]
    MysqlLockWait {
        server: String,
        /// The file and line of the statement.
        at: String,
        statement: String,
        /// "30 s", or "the server's lock wait timeout".
        waited: String,
    },

    #[error("MySQL server {server} stopped answering: no reply to a ping within {seconds} s while a statement ran (the server is hung or the network is down)")]
    MysqlUnresponsive { server: String, seconds: u64 },

    #[error(
        "PostgreSQL server {server} refused user '{user}': {detail} (DB_USERNAME/DB_PASSWORD)"
    )]
    PgAccess {
        server: String,
        user: String,
        detail: String,
    },

    #[error("PostgreSQL server {server} has no database '{db}'; check DB_DATABASE")]
    PgUnknownDb { server: String, db: String },

    #[error("cannot reach PostgreSQL server {server}: {detail}; check DB_HOST, DB_PORT and that the server runs")]
    PgUnreachable { server: String, detail: String },

    #[error("PostgreSQL user '{user}' lacks a privilege on '{db}': {detail}")]
    PgPrivilege {
        user: String,
        db: String,
        detail: String,
    },

    #[error("lost the connection to PostgreSQL server {server} ({detail})")]
    PgLost { server: String, detail: String },

    #[error("PostgreSQL server {server}: {detail}")]
    Pg { server: String, detail: String },

    #[error("PostgreSQL server {server} refused line {line} of {}: {detail}", .file.display())]
    PgLoadRefused {
        server: String,
        file: PathBuf,
        line: usize,
        detail: String,
    },

    #[error("the database holds a {0}, which db-backup cannot reproduce exactly yet; stopped rather than write a backup without it")]
    PgUnsupported(String),

    #[error("PostgreSQL server {server} runs {version}; db-backup reads PostgreSQL 14 or newer")]
    PgOldServer { server: String, version: String },

    #[error(
        "PostgreSQL TLS settings: {detail}; check sslmode and the ssl keys in config/database.php"
    )]
    PgTls { detail: String },

    #[error("the database has tables the backup does not hold ({0}); nothing was changed; restore with --clean to drop them (the safety backup keeps them)")]
    PgCleanNeeded(String),

    #[error("the database driver '{0}' is not supported for backups; db-backup handles sqlite, mysql, mariadb and pgsql")]
    UnsupportedDriver(String),

    #[error("time zone '{zone}' (from {origin}) is not a known IANA zone name, e.g. UTC or Africa/Abidjan")]
    BadTimeZone { zone: String, origin: String },

    #[error("DB_DATABASE=:memory: is an in-memory database; there is no file to back up")]
    InMemoryDatabase,

    #[error("database file not found: {0}; check DB_DATABASE in .env")]
    DatabaseMissing(PathBuf),

    #[error(
        "database file {0} is empty (0 bytes): nothing to back up; has `php artisan migrate` run?"
    )]
    DatabaseEmpty(PathBuf),

    #[error("{0} is not a SQLite database (corrupt or wrong file); check DB_DATABASE in .env")]
    NotADatabase(PathBuf),

    #[error("database {path} stayed locked by another writer for {seconds} s; retry later or raise --busy-timeout")]
    DatabaseLocked { path: PathBuf, seconds: u64 },

    #[error("SQLite error on {path}: {source}")]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },

    #[error("the copy failed its integrity check ({0})")]
    CheckFailed(String),

    #[error("{0} is a symbolic link; db-backup does not follow it (it could point anywhere): remove it, the lock file is made again")]
    LockIsSymlink(PathBuf),

    #[error("another db-backup run is in progress on {0}; nothing was done (retry when it ends)")]
    AlreadyRunning(PathBuf),

    #[error("disk full while writing {0}; free space and retry")]
    DiskFull(PathBuf),

    #[error("backup not found: {0} (give a path, or a name in the backups folder; see `db-backup list`)")]
    BackupMissing(PathBuf),

    #[error("no backups in {0} yet")]
    NoBackups(PathBuf),

    #[error("name a backup file, or pass --latest")]
    NoBackupNamed,

    #[error("{file} is a {file_kind} backup but the app uses {driver}: refusing to restore across drivers")]
    WrongKind {
        file: PathBuf,
        file_kind: &'static str,
        driver: &'static str,
    },

    #[error("{file} line {line}: {detail}")]
    Refused {
        file: PathBuf,
        line: usize,
        detail: String,
    },

    #[error("{file} is not a sound backup: {detail}; nothing was changed")]
    BadBackup { file: PathBuf, detail: String },

    #[error("restoring replaces the live database: run from a terminal to confirm, or pass --yes")]
    NeedsConfirmation,

    #[error("interrupted by a signal (Ctrl-C or SIGTERM): the running statement was cancelled and no later one ran")]
    Interrupted,

    #[error("stopped at once by a second signal, in the middle of the load")]
    StoppedAtOnce,

    #[error("verify stopped at once by a second signal: the scratch database {scratch} may be left on the server; drop it by hand (DROP DATABASE `{scratch}`)")]
    VerifyStopped { scratch: String },

    #[error("verify could not drop its scratch database {scratch} ({detail}): drop it by hand (DROP DATABASE `{scratch}`); the backup itself loaded")]
    ScratchLeft { scratch: String, detail: String },

    #[error("restore failed: {source}; the data from before the restore is in {safety}")]
    RestoreFailed { source: Box<Error>, safety: PathBuf },

    #[error("restore cancelled; nothing was changed")]
    Cancelled,

    #[error("backups are unhealthy: {0} check(s) failed (see the lines above)")]
    Unhealthy(usize),

    #[error("{0}; nothing was published, older backups are untouched")]
    Unpublished(Box<Error>),

    #[error("the backup {created} was made, but retention failed: {detail}; delete old backups by hand or fix the folder's permissions")]
    RetentionFailed { created: PathBuf, detail: String },

    #[error("{0} is encrypted with age, and no key is set: set DB_BACKUP_AGE_IDENTITY_FILE (or DB_BACKUP_AGE_PASSPHRASE)")]
    NoAgeKey(String),

    #[error("cannot decrypt the copy: {0} (wrong age key or passphrase, or the copy was altered)")]
    Decrypt(String),
    #[error("disk '{name}' (DB_BACKUP_DISKS or --disk) is not in {file}: add it under 'disks' there, or fix the name")]
    UnknownDisk { name: String, file: String },

    #[error("disk '{name}' uses the driver '{driver}'; db-backup copies to s3 and local disks")]
    UnsupportedDisk { name: String, driver: String },

    #[error("disk '{name}' in config/filesystems.php: {detail}")]
    BadDisk { name: String, detail: String },

    #[error("disk '{disk}': {detail}")]
    Disk { disk: String, detail: String },

    #[error("--exclude-data / DB_BACKUP_EXCLUDE_DATA names '{0}', which is not a table of the database; fix the name")]
    ExcludedUnknown(String),

    #[error("APP_KEY is not set: copies on the app's disks are sealed with a key derived from it, so that only the app's own copies are trusted; set it (php artisan key:generate) or unset DB_BACKUP_DISKS")]
    NoAppKey,

    #[error("disk '{disk}': {name} is a foreign copy ({why}); db-backup restores and verifies only the app's own copies. If you know where it comes from (a copy made before seals existed, another app's key), pass --trust-foreign")]
    ForeignCopy {
        disk: String,
        name: String,
        why: String,
    },

    #[error("the backup {created} was made and is intact, but {}", copy_failures(.failures))]
    CopyFailed {
        created: PathBuf,
        /// (disk, reason), one per disk that failed.
        failures: Vec<(String, String)>,
    },

    #[error("{0} is not in WAL mode, which continuous backup needs (it follows the -wal file): set 'journal_mode' => 'wal' for the sqlite connection in config/database.php (Laravel 11+), or run `sqlite3 {0} 'PRAGMA journal_mode=WAL'` once while the app is stopped; db-backup never switches it for you")]
    NotWalMode(PathBuf),

    #[error("{0}")]
    Unsupported(String),

    #[error("no point to restore at {at}: {why}")]
    NoPoint { at: String, why: String },

    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Error {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::AlreadyRunning(_) => EXIT_LOCKED,
            Error::RetentionFailed { .. } => EXIT_RETENTION,
            Error::CopyFailed { .. } => EXIT_COPY,
            Error::Unpublished(inner) => inner.exit_code(),
            _ => EXIT_FAILURE,
        }
    }

    /// A failure while the backup was being made: nothing reached a final name.
    pub fn unpublished(self) -> Error {
        match self {
            Error::Unpublished(_) => self,
            other => Error::Unpublished(Box::new(other)),
        }
    }

    /// The error itself, without the job's wording around it.
    pub fn root(&self) -> &Error {
        match self {
            Error::Unpublished(inner) => inner.root(),
            other => other,
        }
    }

    /// Wraps an I/O error with what we were doing and to which path.
    pub fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| {
            if is_disk_full(&source) {
                Error::DiskFull(path)
            } else {
                Error::Io {
                    action,
                    path,
                    source,
                }
            }
        }
    }
}

/// "copying it to disk 's3' failed: …; copying it to disk 'nas' failed: …".
fn copy_failures(failures: &[(String, String)]) -> String {
    failures
        .iter()
        .map(|(disk, why)| format!("copying it to disk '{disk}' failed: {why}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// ENOSPC, EDQUOT and EFBIG (RLIMIT_FSIZE) all mean "no room for this file".
pub fn is_disk_full(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOSPC) | Some(libc::EDQUOT) | Some(libc::EFBIG)
    )
}

/// A `max_allowed_packet` value, as the server's configuration writes it, that takes a
/// statement of `bytes`: the next power of two in MiB, with room to spare.
fn packet_hint(bytes: usize) -> String {
    let mib = (bytes + bytes / 8).div_ceil(1 << 20).next_power_of_two();
    if mib >= 1024 {
        "1G (the most it takes)".to_string()
    } else {
        format!("{mib}M")
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
