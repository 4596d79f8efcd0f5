<?php

namespace DbBackup\Laravel;

/** `php artisan db:backup:verify [file] [--latest]`: proves a backup restores (db-backup verify). */
class VerifyCommand extends BackupCommand
{
    protected $signature = 'db:backup:verify {file? : A backup file or name} {--latest : The newest backup} {--json}
        {--disk= : Verify the copy on this disk of config/filesystems.php}
        {--trust-foreign : With --disk: accept a copy this app did not seal}';

    protected $description = 'Prove a database backup restores; exit 0 only when it is sound (db-backup)';

    public function handle()
    {
        $arguments = ['verify'];
        if ($this->option('json')) {
            $arguments[] = '--json';
        }
        if ($this->option('disk') !== null) {
            $arguments[] = '--disk=' . $this->option('disk');
        }
        if ($this->option('trust-foreign')) {
            $arguments[] = '--trust-foreign';
        }
        if ($this->argument('file') !== null) {
            // After `--`: a name that starts with `-` is still a file, never an option.
            $arguments[] = '--';
            $arguments[] = $this->argument('file');
        } else {
            $arguments[] = '--latest';
        }
        return $this->delegate($arguments);
    }
}
