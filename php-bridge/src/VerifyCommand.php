<?php

namespace DbBackup\Laravel;

/** `php artisan db:backup:verify [file] [--latest]`: proves a backup restores (db-backup verify). */
class VerifyCommand extends BackupCommand
{
    protected $signature = 'db:backup:verify {file? : A backup file or name} {--latest : The newest backup} {--json}';

    protected $description = 'Prove a database backup restores; exit 0 only when it is sound (db-backup)';

    public function handle()
    {
        $arguments = ['verify'];
        if ($this->argument('file') !== null) {
            $arguments[] = $this->argument('file');
        } else {
            $arguments[] = '--latest';
        }
        if ($this->option('json')) {
            $arguments[] = '--json';
        }
        return $this->delegate($arguments);
    }
}
