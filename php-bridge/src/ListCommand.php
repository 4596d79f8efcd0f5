<?php

namespace DbBackup\Laravel;

/** `php artisan db:backup:list`: the backups, newest first (db-backup list). */
class ListCommand extends BackupCommand
{
    protected $signature = 'db:backup:list {--json : One JSON array}';

    protected $description = 'List the database backups, newest first (db-backup)';

    public function handle()
    {
        return $this->delegate($this->option('json') ? ['list', '--json'] : ['list']);
    }
}
