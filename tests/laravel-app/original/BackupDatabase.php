<?php

namespace App\Console\Commands;

use Carbon\Carbon;
use Illuminate\Console\Command;
use Illuminate\Support\Facades\File;

/*
 * The stock application's original `db:backup` command, rebuilt from its
 * documented behaviour (/work/shared/reference/original-command.md) so the
 * tests can compare it with the bridge. Its defects are kept on purpose:
 * --keep=0 deletes every backup, a failed mysqldump leaves a .sql full of
 * error text, the password is on the command line.
 *
 * Tests copy it to app/Console/Commands/BackupDatabase.php.
 */
class BackupDatabase extends Command
{
    /**
     * The name and signature of the console command.
     *
     * @var string
     */
    protected $signature = 'db:backup {--keep=7 : Number of backups to keep}';

    /**
     * The console command description.
     *
     * @var string
     */
    protected $description = 'Create a backup of the database';

    /**
     * Execute the console command.
     *
     * @return int
     */
    public function handle()
    {
        try {
            $connection = config('database.default');
            $driver = config("database.connections.{$connection}.driver");

            $backupPath = storage_path('app/backups');

            if (!File::exists($backupPath)) {
                File::makeDirectory($backupPath, 0755, true);
            }

            $timestamp = Carbon::now()->format('Y-m-d_His');

            if ($driver === 'sqlite') {
                $success = $this->backupSqlite($connection, $backupPath, $timestamp);
            } elseif ($driver === 'mysql') {
                $success = $this->backupMysql($connection, $backupPath, $timestamp);
            } else {
                $this->error("Le driver de base de données '{$driver}' n'est pas supporté pour le backup.");
                return 1;
            }

            if (!$success) {
                return 1;
            }

            $this->cleanOldBackups($backupPath, (int) $this->option('keep'));

            $this->info('Backup créé avec succès !');

            return 0;
        } catch (\Exception $e) {
            $this->error('Erreur lors de la création du backup: ' . $e->getMessage());
            return 1;
        }
    }

    private function backupSqlite(string $connection, string $backupPath, string $timestamp): bool
    {
        $databasePath = config("database.connections.{$connection}.database");

        if (!File::exists($databasePath)) {
            $this->error("Le fichier de base de données n'existe pas: {$databasePath}");
            return false;
        }

        $fileName = "database_backup_{$timestamp}.sqlite";

        if (!File::copy($databasePath, $backupPath . '/' . $fileName)) {
            $this->error('Impossible de copier le fichier de base de données');
            return false;
        }

        $this->info("Backup SQLite créé: {$fileName}");

        return true;
    }

    private function backupMysql(string $connection, string $backupPath, string $timestamp): bool
    {
        $config = config("database.connections.{$connection}");

        $fileName = "database_backup_{$timestamp}.sql";

        $command = sprintf(
            'mysqldump --host=%s --port=%s --user=%s --password=%s %s > %s 2>&1',
            escapeshellarg((string) $config['host']),
            escapeshellarg((string) $config['port']),
            escapeshellarg((string) $config['username']),
            escapeshellarg((string) $config['password']),
            escapeshellarg((string) $config['database']),
            escapeshellarg($backupPath . '/' . $fileName)
        );

        $output = [];
        $returnVar = 0;
        exec($command, $output, $returnVar);

        if ($returnVar !== 0) {
            $this->error('Erreur lors de la création du dump MySQL: ' . implode("\n", $output));
            return false;
        }

        $this->info("Backup MySQL créé: {$fileName}");

        return true;
    }

    private function cleanOldBackups(string $backupPath, int $keep): void
    {
        $files = collect(File::glob($backupPath . '/database_backup_*'))
            ->sortBy(function ($file) {
                return File::lastModified($file);
            })
            ->values();

        $toDelete = $files->count() - $keep;

        if ($toDelete <= 0) {
            return;
        }

        foreach ($files->take($toDelete) as $file) {
            File::delete($file);
            $this->info('Ancien backup supprimé: ' . basename($file));
        }
    }
}
