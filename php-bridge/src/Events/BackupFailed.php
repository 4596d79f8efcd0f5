<?php

namespace DbBackup\Laravel\Events;

/**
 * A backup failed; $outcome holds `error` (one line, never a password) and `exit_code`.
 */
class BackupFailed
{
    /** @var array */
    public $outcome;

    public function __construct(array $outcome)
    {
        $this->outcome = $outcome;
    }
}
