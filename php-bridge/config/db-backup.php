<?php

/*
 * db-backup's settings, as config rather than env() calls in the commands: `php artisan
 * config:cache` keeps them, while env() sees nothing from .env once the config is cached.
 * Every value may also be hard-coded here instead of read from .env.
 */

return [
    // The db-backup binary that `php artisan db:backup` runs (DB_BACKUP_BINARY in .env);
    // without one, `db-backup` on the PATH.
    'binary' => env('DB_BACKUP_BINARY'),

    // Retention beside --keep, as restic's forget: the newest backup of each of the last N
    // days / ISO weeks / months / years that have one. Set any, and --keep no longer
    // defaults to 7.
    'keep_daily' => env('DB_BACKUP_KEEP_DAILY'),
    'keep_weekly' => env('DB_BACKUP_KEEP_WEEKLY'),
    'keep_monthly' => env('DB_BACKUP_KEEP_MONTHLY'),
    'keep_yearly' => env('DB_BACKUP_KEEP_YEARLY'),

    // `php artisan db:backup:status`: the newest backup must be younger than max_age
    // (26h), at least min_ratio of the one before (50%), and all under max_total (none).
    'max_age' => env('DB_BACKUP_MAX_AGE'),
    'min_ratio' => env('DB_BACKUP_MIN_RATIO'),
    'max_total' => env('DB_BACKUP_MAX_TOTAL'),

    // Copies of every backup to the app's own disks (config/filesystems.php), e.g. 's3' or
    // 's3,nas'; keep_remote keeps that many there (default: the local policy).
    'disks' => env('DB_BACKUP_DISKS'),
    'keep_remote' => env('DB_BACKUP_KEEP_REMOTE'),

    // What the copies go through (the local backup stays a plain file): compress => 'zstd';
    // age encryption to public keys (age1…, comma-separated) or to a passphrase, and the
    // secret key file that verify/restore of a copy need.
    'compress' => env('DB_BACKUP_COMPRESS'),
    'age_recipients' => env('DB_BACKUP_AGE_RECIPIENTS'),
    'age_passphrase' => env('DB_BACKUP_AGE_PASSPHRASE'),
    'age_identity_file' => env('DB_BACKUP_AGE_IDENTITY_FILE'),

    // Tables whose rows backups leave out, their structure kept: e.g. 'cache,sessions,jobs'
    // (Laravel 11+ keeps them in the database). Nothing is left out by default.
    'exclude_data' => env('DB_BACKUP_EXCLUDE_DATA'),

    // Continuous backup (`php artisan db:replicate`, SQLite in WAL mode): how often what was
    // committed is shipped ('1s'), the lag past which `status` is unhealthy ('60s'), and the
    // -wal size past which replicate restarts it ('4M').
    'sync_interval' => env('DB_BACKUP_SYNC_INTERVAL'),
    'max_lag' => env('DB_BACKUP_MAX_LAG'),
    'wal_limit' => env('DB_BACKUP_WAL_LIMIT'),
];
