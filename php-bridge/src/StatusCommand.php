<?php

namespace DbBackup\Laravel;

/**
 * `php artisan db:backup:status`: are the backups healthy? (db-backup status). Exit 0 when they
 * are, 1 when not, with one line per check; an unhealthy result is also dispatched as the
 * UnhealthyBackupFound event.
 */
class StatusCommand extends BackupCommand
{
    protected $signature = 'db:backup:status {--json : One JSON object}
        {--quiet-ok : Print only the checks that fail}
        {--verify : Also verify the newest backup}
        {--prometheus= : Also write node_exporter textfile metrics to this file}
        {--max-age= : The newest backup must be younger than this (26h)}
        {--min-ratio= : The newest backup must be at least this share of the one before (50%)}
        {--max-total= : All backups must stay under this size (10G, 500M)}';

    protected $description = 'Check that database backups are healthy; exit 0 only when they are (db-backup)';

    public function handle()
    {
        $arguments = ['status'];
        foreach (['json', 'verify'] as $flag) {
            if ($this->option($flag)) {
                $arguments[] = "--{$flag}";
            }
        }
        // Artisan's own --quiet silences everything; this one keeps the failing lines.
        if ($this->option('quiet-ok')) {
            $arguments[] = '--quiet';
        }
        foreach (['prometheus', 'max-age', 'min-ratio', 'max-total'] as $option) {
            if ($this->option($option) !== null) {
                $arguments[] = "--{$option}=" . $this->option($option);
            }
        }
        return $this->delegate($arguments);
    }
}
