<?php

/*
 * db-backup's settings, as config rather than env() calls in the commands: `php artisan
 * config:cache` keeps them, while env() sees nothing from .env once the config is cached.
 */

return [
    // The db-backup binary that `php artisan db:backup` runs (DB_BACKUP_BINARY in .env);
    // without one, `db-backup` on the PATH.
    'binary' => env('DB_BACKUP_BINARY'),
];
