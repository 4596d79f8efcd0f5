<?php

namespace DbBackup\Laravel;

use Illuminate\Support\ServiceProvider;

/**
 * Registers `php artisan db:backup` when the package is installed with Composer
 * (found by Laravel's package auto-discovery through composer.json's extra.laravel).
 */
class DbBackupServiceProvider extends ServiceProvider
{
    public function boot()
    {
        if ($this->app->runningInConsole()) {
            $this->commands([
                BackupCommand::class,
                ListCommand::class,
                VerifyCommand::class,
                RestoreCommand::class,
            ]);
        }
    }
}
