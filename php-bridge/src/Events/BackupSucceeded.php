<?php

namespace DbBackup\Laravel\Events;

/**
 * A backup was made (and published); $outcome is the binary's JSON outcome (see `db-backup --json`).
 */
class BackupSucceeded
{
    /** @var array */
    public $outcome;

    public function __construct(array $outcome)
    {
        $this->outcome = $outcome;
    }
}
