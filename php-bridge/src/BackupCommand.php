<?php

namespace DbBackup\Laravel;

use DbBackup\Laravel\Events\BackupFailed;
use DbBackup\Laravel\Events\BackupSucceeded;
use DbBackup\Laravel\Events\UnhealthyBackupFound;
use Illuminate\Console\Command;
use Illuminate\Support\ConfigurationUrlParser;
use Symfony\Component\Process\ExecutableFinder;
use Symfony\Component\Process\Process;

/**
 * `php artisan db:backup {--keep=7}`, delegated to the db-backup binary.
 *
 * Laravel resolves the connection (cached config, --env, config/database.php, DB_URL) and hands
 * it to the binary through the child's environment, never its arguments, so the password stays
 * out of `ps`. The binary prints the original command's lines (--artisan) and sets the exit code.
 * What it did comes back as JSON in a temporary file and is dispatched as a Laravel event
 * (BackupSucceeded, BackupFailed, UnhealthyBackupFound), for the app's own listeners.
 */
class BackupCommand extends Command
{
    protected $signature = 'db:backup {--keep=7 : Number of backups to keep}
        {--keep-daily= : Also keep the newest backup of each of the last N days}
        {--keep-weekly= : Also keep the newest backup of each of the last N weeks}
        {--keep-monthly= : Also keep the newest backup of each of the last N months}
        {--keep-yearly= : Also keep the newest backup of each of the last N years}
        {--keep-remote= : Copies to keep on each disk (DB_BACKUP_DISKS); default: as locally}
        {--exclude-data= : Tables whose rows are left out, structure kept (DB_BACKUP_EXCLUDE_DATA)}';

    protected $description = 'Backup the database (consistent, atomic and verified, by db-backup)';

    public function handle()
    {
        $arguments = ['--artisan'];
        // --keep goes over only when given: without it the binary keeps 7, as the original
        // command did, unless daily/weekly/monthly/yearly rules are set.
        if ($this->input->hasParameterOption('--keep')) {
            $arguments[] = '--keep=' . $this->option('keep');
        }
        foreach (['keep-daily', 'keep-weekly', 'keep-monthly', 'keep-yearly', 'keep-remote', 'exclude-data'] as $rule) {
            if ($this->option($rule) !== null) {
                $arguments[] = "--{$rule}=" . $this->option($rule);
            }
        }
        return $this->delegate($arguments);
    }

    /**
     * Runs db-backup with these arguments and Laravel's resolved settings in its environment,
     * streaming its output live; returns its exit code.
     */
    protected function delegate(array $arguments)
    {
        $binary = $this->binary();
        if ($binary === null) {
            $configured = $this->configuredBinary();
            $this->line('Erreur lors de la création du backup: db-backup introuvable'
                . ($configured ? " ({$configured} n'est pas un exécutable)" : '') . '. '
                . 'Installez-le (cargo install --path <sources de db-backup>) ou indiquez son chemin dans DB_BACKUP_BINARY '
                . '(puis php artisan config:cache si la config est en cache).');
            return 1;
        }

        $outcomeFile = tempnam(sys_get_temp_dir(), 'db-backup-outcome-');
        $environment = $this->handover();
        $environment['DB_BACKUP_OUTCOME_FILE'] = $outcomeFile === false ? '' : $outcomeFile;
        // No timeout: a large dump or restore may take as long as it takes.
        $process = new Process(array_merge([$binary], $arguments), base_path(), $environment, null, null);
        $process->run(function ($type, $buffer) {
            if ($type === Process::ERR) {
                fwrite(STDERR, $buffer);
            } else {
                $this->output->write($buffer);
            }
        });

        $code = $process->getExitCode();
        $code = $code === null ? 1 : $code;
        $this->dispatchOutcome($outcomeFile, $code);
        return $code;
    }

    /** Turns the binary's outcome into the matching Laravel event, then removes the file. */
    protected function dispatchOutcome($outcomeFile, $code)
    {
        if ($outcomeFile === false) {
            return;
        }
        $outcome = json_decode((string) @file_get_contents($outcomeFile), true);
        @unlink($outcomeFile);
        if (! is_array($outcome)) {
            // A backup that died before telling anything (killed, crashed) still failed.
            if ($code !== 0 && $this->getName() === 'db:backup') {
                event(new BackupFailed(['event' => 'backup_failed', 'ok' => false,
                    'error' => "db-backup exited with code {$code}", 'exit_code' => $code]));
            }
            return;
        }
        $events = [
            'backup_succeeded' => BackupSucceeded::class,
            'backup_failed' => BackupFailed::class,
            'unhealthy_backup_found' => UnhealthyBackupFound::class,
        ];
        $name = isset($outcome['event']) ? $outcome['event'] : '';
        if (isset($events[$name])) {
            event(new $events[$name]($outcome));
        }
    }

    /**
     * The configured binary, if executable; else, when none is configured, the one
     * `php artisan db-backup:install` put in storage/app/db-backup/bin, else `db-backup` on the PATH.
     */
    protected function binary()
    {
        $configured = $this->configuredBinary();
        if ($configured) {
            return is_file($configured) && is_executable($configured) ? $configured : null;
        }
        $installed = storage_path('app/db-backup/bin/db-backup');
        if (is_file($installed) && is_executable($installed)) {
            return $installed;
        }
        return (new ExecutableFinder())->find('db-backup');
    }

    /**
     * config('db-backup.binary') (config/db-backup.php, kept by config:cache), else a real
     * DB_BACKUP_BINARY environment variable.
     */
    protected function configuredBinary()
    {
        return config('db-backup.binary') ?: env('DB_BACKUP_BINARY');
    }

    /** The connection, folder and time zone exactly as Laravel resolved them. */
    protected function handover()
    {
        $name = config('database.default');
        $config = (array) config("database.connections.{$name}", []);
        // Laravel lays DB_URL/DATABASE_URL over the keys only when it connects; do the same.
        if (class_exists(ConfigurationUrlParser::class)) {
            $config = (new ConfigurationUrlParser())->parseConfiguration($config);
        }
        $options = isset($config['options']) && is_array($config['options']) ? $config['options'] : [];
        $sslCa = '';
        if (defined('PDO::MYSQL_ATTR_SSL_CA') && isset($options[\PDO::MYSQL_ATTR_SSL_CA])) {
            $sslCa = $options[\PDO::MYSQL_ATTR_SSL_CA];
        }
        $host = isset($config['host']) ? $config['host'] : '';
        $host = (string) (is_array($host) ? reset($host) : $host);
        $socket = (string) (isset($config['unix_socket']) ? $config['unix_socket'] : '');
        // PDO takes the host `localhost` to mean a Unix socket: pdo_mysql.default_socket from
        // PHP's ini. Hand that one over, so the binary reaches the server the app reaches.
        if ($socket === '' && $host === 'localhost') {
            $socket = (string) ini_get('pdo_mysql.default_socket');
        }

        return [
            'DB_BACKUP_CONNECTION' => (string) (isset($config['driver']) ? $config['driver'] : $name),
            'DB_BACKUP_DATABASE' => (string) (isset($config['database']) ? $config['database'] : ''),
            'DB_BACKUP_HOST' => $host,
            'DB_BACKUP_PORT' => (string) (isset($config['port']) ? $config['port'] : ''),
            'DB_BACKUP_SOCKET' => $socket,
            'DB_BACKUP_USERNAME' => (string) (isset($config['username']) ? $config['username'] : ''),
            'DB_BACKUP_PASSWORD' => (string) (isset($config['password']) ? $config['password'] : ''),
            'DB_BACKUP_SSL_CA' => (string) $sslCa,
            // PostgreSQL: the schemas (Laravel 9+ 'search_path', 8 'schema') and libpq's TLS keys.
            'DB_BACKUP_SEARCH_PATH' => $this->searchPath($config),
            'DB_BACKUP_SSLMODE' => (string) (isset($config['sslmode']) ? $config['sslmode'] : ''),
            'DB_BACKUP_SSLROOTCERT' => (string) (isset($config['sslrootcert']) ? $config['sslrootcert'] : ''),
            'DB_BACKUP_SSLCERT' => (string) (isset($config['sslcert']) ? $config['sslcert'] : ''),
            'DB_BACKUP_SSLKEY' => (string) (isset($config['sslkey']) ? $config['sslkey'] : ''),
            'DB_BACKUP_DIR' => storage_path('app/backups'),
            'DB_BACKUP_TIMEZONE' => (string) config('app.timezone', 'UTC'),
            'DB_BACKUP_APP_DIR' => base_path(),
            // The binary warns when it is not the release this bridge belongs to.
            'DB_BACKUP_BRIDGE_VERSION' => InstallCommand::VERSION,
            // Copies on disks are sealed with a key derived from these (never shown).
            'DB_BACKUP_APP_KEY' => (string) config('app.key', ''),
            'DB_BACKUP_APP_PREVIOUS_KEYS' => implode(',', array_filter((array) config('app.previous_keys', []), 'is_string')),
            // db-backup's own settings (config/db-backup.php), as Laravel resolved them.
            'DB_BACKUP_CONFIG' => (string) json_encode((array) config('db-backup', [])),
            // The disks copies go to (DB_BACKUP_DISKS, --disk), as Laravel resolved them.
            'DB_BACKUP_DISKS_CONFIG' => (string) json_encode((object) $this->disks()),
        ];
    }

    /** A pgsql connection's schemas as one comma-separated string (it may be an array). */
    protected function searchPath(array $config)
    {
        $path = isset($config['search_path']) ? $config['search_path'] : (isset($config['schema']) ? $config['schema'] : '');

        return is_array($path) ? implode(',', $path) : (string) $path;
    }

    /**
     * config('filesystems.disks.<name>') for each disk db-backup may use: those named in
     * config('db-backup.disks') and the one given with --disk. A name Laravel does not know
     * is left out, for the binary to report.
     */
    protected function disks()
    {
        $names = config('db-backup.disks', '');
        $names = is_array($names) ? $names : explode(',', (string) $names);
        if ($this->getDefinition()->hasOption('disk') && $this->option('disk') !== null) {
            $names[] = $this->option('disk');
        }
        $disks = [];
        foreach ($names as $name) {
            $name = trim((string) $name);
            $config = $name === '' ? null : config("filesystems.disks.{$name}");
            if (is_array($config)) {
                $disks[$name] = $config;
            }
        }
        return $disks;
    }
}
