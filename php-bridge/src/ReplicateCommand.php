<?php

namespace DbBackup\Laravel;

/**
 * `php artisan db:replicate`: continuous backup of the SQLite database (db-backup replicate).
 * Runs in the foreground until stopped, for systemd, Supervisor (Forge daemons) and containers.
 */
class ReplicateCommand extends BackupCommand
{
    protected $signature = 'db:replicate';

    protected $description = 'Continuous backup of the SQLite database: ships every transaction until stopped (db-backup)';

    public function handle()
    {
        $binary = $this->binary();
        if ($binary === null || ! function_exists('pcntl_exec')) {
            // Without pcntl it runs as a child process (and without the binary, delegate says so).
            return $this->delegate(['replicate']);
        }
        // Become db-backup: SIGTERM from systemd, Supervisor or a container stop then reaches it
        // directly, and it ships what is left before it exits 0.
        $environment = array_merge(getenv(), $this->handover());
        chdir(base_path());
        pcntl_exec($binary, ['replicate'], $environment);
        $this->line('db-backup replicate could not be started: ' . pcntl_strerror(pcntl_get_last_error()));
        return 1;
    }
}
