<?php

namespace DbBackup\Laravel;

use Illuminate\Support\ServiceProvider;

/**
 * Registers `php artisan db:backup` when the package is installed with Composer
 * (found by Laravel's package auto-discovery through composer.json's extra.laravel).
 */
class DbBackupServiceProvider extends ServiceProvider
{
    public function register()
    {
        // Merged into the app's config, so `config:cache` keeps DB_BACKUP_BINARY from .env.
        $this->mergeConfigFrom(__DIR__ . '/../config/db-backup.php', 'db-backup');
    }

    public function boot()
    {
        if ($this->app->runningInConsole()) {
            $this->publishes([
                __DIR__ . '/../config/db-backup.php' => config_path('db-backup.php'),
            ], 'db-backup-config');
            $this->commands([
                BackupCommand::class,
                ListCommand::class,
                VerifyCommand::class,
                RestoreCommand::class,
                StatusCommand::class,
                ReplicateCommand::class,
                InstallCommand::class,
            ]);
        }
    }
}
