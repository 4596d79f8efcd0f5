<?php

namespace DbBackup\Laravel;

/** `php artisan db:backup:list`: the backups, newest first (db-backup list). */
class ListCommand extends BackupCommand
{
    protected $signature = 'db:backup:list {--json : One JSON array}
        {--disk= : List the copies on this disk of config/filesystems.php}';

    protected $description = 'List the database backups, newest first (db-backup)';

    public function handle()
    {
        $arguments = $this->option('json') ? ['list', '--json'] : ['list'];
        if ($this->option('disk') !== null) {
            $arguments[] = '--disk=' . $this->option('disk');
        }
        return $this->delegate($arguments);
    }
}
