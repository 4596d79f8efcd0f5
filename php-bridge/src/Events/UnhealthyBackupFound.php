<?php

namespace DbBackup\Laravel\Events;

/**
 * `db:backup:status` found unhealthy backups; $outcome holds every place and check (see `db-backup status --json`).
 */
class UnhealthyBackupFound
{
    /** @var array */
    public $outcome;

    public function __construct(array $outcome)
    {
        $this->outcome = $outcome;
    }
}
