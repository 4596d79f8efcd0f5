<?php

namespace DbBackup\Laravel;

use Illuminate\Console\Command;
use Symfony\Component\Process\Process;

/**
 * `php artisan db-backup:install [--from=URL] [--release=X]`: downloads the prebuilt db-backup
 * for this machine, checks it against SHA256SUMS and SHA256SUMS against its minisign signature
 * by the pinned release key, then puts it in storage/app/db-backup/bin/ — no Rust needed.
 * Nothing is installed unless every check passes; an installed binary is replaced in one rename.
 */
class InstallCommand extends Command
{
    /** The release this bridge belongs to: the binary it installs by default. */
    const VERSION = '0.1.0';

    /** Where releases are published, as `<base>/v<version>/<file>`. */
    const RELEASES = 'https://github.com/db-backup/db-backup/releases/download';

    /**
     * The minisign public key that signs SHA256SUMS of every release (also in the repository as
     * minisign.pub). DB_BACKUP_PUBLIC_KEY replaces it for builds you sign yourself.
     */
    const PUBLIC_KEY = 'RWQey4ySLDyxLzFTp2pyg5ztyZqLuaRE0SMcq4z39tNr7dTrde4Tlieo';

    protected $signature = 'db-backup:install
        {--from= : Download from this folder (URL or path) instead of the GitHub release}
        {--release= : The version to install (default: this bridge\'s own)}';

    protected $description = 'Install the prebuilt db-backup binary for this machine, checked against its signed SHA256SUMS';

    public function handle()
    {
        $version = $this->option('release') ?: self::VERSION;
        $target = $this->target();
        if ($target === null) {
            return $this->fail_(sprintf(
                'no prebuilt db-backup for %s/%s; build it with `cargo install --git <db-backup repository>` and set DB_BACKUP_BINARY',
                PHP_OS_FAMILY,
                php_uname('m')
            ));
        }
        $base = rtrim((string) ($this->option('from') ?: (config('db-backup.download_url') ?: env('DB_BACKUP_DOWNLOAD_URL'))
            ?: self::RELEASES . "/v{$version}"), '/');
        $archive = "db-backup-{$version}-{$target}.tar.gz";

        $sums = $this->download("{$base}/SHA256SUMS");
        $signature = $sums === null ? null : $this->download("{$base}/SHA256SUMS.minisig");
        $bytes = $signature === null ? null : $this->download("{$base}/{$archive}");
        if ($bytes === null) {
            return 1;
        }
        $key = (string) (config('db-backup.public_key') ?: (env('DB_BACKUP_PUBLIC_KEY') ?: self::PUBLIC_KEY));
        $bad = Minisign::verify($sums, $signature, $key);
        if ($bad !== null) {
            return $this->fail_("SHA256SUMS from {$base}: {$bad}; nothing was installed");
        }
        $expected = $this->expectedHash($sums, $archive);
        if ($expected === null) {
            return $this->fail_("SHA256SUMS from {$base} has no line for {$archive}; nothing was installed");
        }
        if (! hash_equals($expected, hash('sha256', $bytes))) {
            return $this->fail_("{$archive} does not match its SHA-256 in SHA256SUMS (altered or truncated); nothing was installed");
        }

        $dir = storage_path('app/db-backup/bin');
        if (! is_dir($dir) && ! @mkdir($dir, 0755, true)) {
            return $this->fail_("cannot create {$dir}; nothing was installed");
        }
        $staged = $this->unpack($bytes, $archive, $dir);
        if ($staged === null) {
            return 1;
        }
        $check = new Process([$staged, '--version']);
        $check->run();
        if (! $check->isSuccessful()) {
            @unlink($staged);
            return $this->fail_("the downloaded db-backup does not run here ({$target}): " . trim($check->getErrorOutput()) . '; nothing was installed');
        }
        $binary = "{$dir}/db-backup";
        if (! @rename($staged, $binary)) {
            @unlink($staged);
            return $this->fail_("cannot put the binary in place at {$binary}; nothing was installed");
        }
        $this->pointConfigAt($binary);
        $this->line(sprintf(
            'db-backup %s installed: %s (%s; SHA-256 and signature checked)',
            trim($check->getOutput()) !== '' ? trim(str_replace('db-backup ', '', $check->getOutput())) : $version,
            $binary,
            $target
        ));
        return 0;
    }

    /** One line on stderr and a non-zero exit: what went wrong and how to do it by hand. */
    protected function fail_($message)
    {
        fwrite(STDERR, "db-backup:install: {$message}\n");
        return 1;
    }

    /** This machine's Rust target: `x86_64-unknown-linux-gnu`, `aarch64-apple-darwin`, …; null if none is built. */
    protected function target()
    {
        $machine = strtolower(php_uname('m'));
        $arch = in_array($machine, ['x86_64', 'amd64'], true) ? 'x86_64'
            : (in_array($machine, ['aarch64', 'arm64'], true) ? 'aarch64' : null);
        if ($arch === null) {
            return null;
        }
        if (PHP_OS_FAMILY === 'Darwin') {
            return "{$arch}-apple-darwin";
        }
        if (PHP_OS_FAMILY !== 'Linux') {
            return null;
        }
        // Alpine and other musl systems have the musl loader and no glibc one.
        $musl = glob('/lib/ld-musl-*.so.1') ?: [];
        return $musl ? "{$arch}-unknown-linux-musl" : "{$arch}-unknown-linux-gnu";
    }

    /** The body at $url (or a local path), or null after one line saying why. */
    protected function download($url)
    {
        $context = stream_context_create(['http' => ['timeout' => 30, 'follow_location' => 1, 'ignore_errors' => false]]);
        $body = @file_get_contents($url, false, $context);
        if ($body === false) {
            $why = error_get_last();
            $this->fail_(sprintf(
                'cannot download %s (%s); without network, download the release archive, SHA256SUMS and SHA256SUMS.minisig by hand and pass their folder with --from=',
                $url,
                $why ? preg_replace('/^file_get_contents\([^)]*\): /', '', $why['message']) : 'no answer'
            ));
            return null;
        }
        return $body;
    }

    /** The SHA-256 that SHA256SUMS gives $name (`<hex>  <name>` lines), or null. */
    protected function expectedHash($sums, $name)
    {
        foreach (preg_split('/\r?\n/', $sums) as $line) {
            if (preg_match('/^([0-9a-f]{64}) [ *](.+)$/', trim($line), $m) && $m[2] === $name) {
                return $m[1];
            }
        }
        return null;
    }

    /** Unpacks the archive's db-backup into a temporary file in $dir; its path, or null. */
    protected function unpack($bytes, $archive, $dir)
    {
        $work = sys_get_temp_dir() . '/db-backup-install-' . bin2hex(random_bytes(6));
        @mkdir($work, 0700);
        try {
            file_put_contents("{$work}/{$archive}", $bytes);
            $tar = new \PharData("{$work}/{$archive}");
            $tar->extractTo("{$work}/x", null, true);
            $found = glob("{$work}/x/*/db-backup") ?: [];
            if (count($found) !== 1 || ! is_file($found[0])) {
                $this->fail_("{$archive} holds no db-backup binary; nothing was installed");
                return null;
            }
            $staged = "{$dir}/.db-backup." . bin2hex(random_bytes(6));
            if (! @copy($found[0], $staged) || ! @chmod($staged, 0755)) {
                @unlink($staged);
                $this->fail_("cannot write into {$dir}; nothing was installed");
                return null;
            }
            return $staged;
        } catch (\Exception $e) {
            $this->fail_("{$archive} cannot be unpacked ({$e->getMessage()}); nothing was installed");
            return null;
        } finally {
            $this->remove($work);
        }
    }

    protected function remove($path)
    {
        if (is_dir($path) && ! is_link($path)) {
            foreach (scandir($path) as $entry) {
                if ($entry !== '.' && $entry !== '..') {
                    $this->remove("{$path}/{$entry}");
                }
            }
            @rmdir($path);
        } else {
            @unlink($path);
        }
    }

    /**
     * config/db-backup.php, when the app has one (the drop-in, or a published copy), gets the
     * installed binary as its default, so `php artisan config:cache` keeps it; without one, the
     * commands find storage/app/db-backup/bin/db-backup themselves.
     */
    protected function pointConfigAt($binary)
    {
        $file = config_path('db-backup.php');
        if (! is_file($file)) {
            return;
        }
        $text = (string) file_get_contents($file);
        $line = "'binary' => env('DB_BACKUP_BINARY', " . var_export($binary, true) . '),';
        $new = preg_replace("/^(\\s*)'binary'\\s*=>.*\$/m", '$1' . str_replace('$', '\\$', $line), $text, 1, $count);
        if ($count === 1 && $new !== $text) {
            file_put_contents($file, $new);
            $this->line("config/db-backup.php now points at it (run php artisan config:cache again if the config is cached)");
        }
    }
}
