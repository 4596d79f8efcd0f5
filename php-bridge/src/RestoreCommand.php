<?php

namespace DbBackup\Laravel;

/**
 * `php artisan db:restore {file}`: puts a backup back (db-backup restore), after a safety backup
 * of the current data. Asks first, unless --force (or --no-interaction refuses).
 */
class RestoreCommand extends BackupCommand
{
    protected $signature = 'db:restore {file : A backup file or name} {--force : Do not ask for confirmation}
        {--disk= : Restore the copy on this disk of config/filesystems.php}
        {--clean : MySQL: also drop the tables, views and routines the backup does not hold}
        {--trust-foreign : With --disk: accept a copy this app did not seal}';

    protected $description = 'Restore a database backup over the live database, after a safety backup (db-backup)';

    public function handle()
    {
        $file = $this->argument('file');
        if (! $this->option('force')
            && ! $this->confirm("Restaurer {$file} sur la base de données ? Un backup de sécurité est fait avant.")) {
            $this->line('Restauration annulée.');
            return 1;
        }
        $arguments = ['restore', '--yes'];
        if ($this->option('clean')) {
            $arguments[] = '--clean';
        }
        if ($this->option('disk') !== null) {
            $arguments[] = '--disk=' . $this->option('disk');
        }
        if ($this->option('trust-foreign')) {
            $arguments[] = '--trust-foreign';
        }
        // After `--`: a name that starts with `-` is still a file, never an option.
        $arguments[] = '--';
        $arguments[] = $file;
        return $this->delegate($arguments);
    }
}
