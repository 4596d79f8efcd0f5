<?php

/*
 * Stand-in for Composer's vendor/autoload.php (there is no Composer here).
 *
 * The framework comes from Debian's php-laravel-framework package: its
 * Illuminate/autoload.php pulls in every dependency's own autoloader
 * (Symfony, Carbon, Dotenv, Monolog, ...) through the include path, and the
 * framework's helper files. The application's classes are then loaded with
 * the PSR-4 map of ../composer.json, like `composer dump-autoload` would.
 */

$debianPhp = '/usr/share/php';

if (! in_array($debianPhp, explode(PATH_SEPARATOR, get_include_path()), true)) {
    set_include_path(get_include_path().PATH_SEPARATOR.$debianPhp);
}

require_once $debianPhp.'/Illuminate/autoload.php';

(function () {
    $base = dirname(__DIR__);
    $composer = json_decode(file_get_contents($base.'/composer.json'), true);
    $map = $composer['autoload']['psr-4'] ?? [];

    spl_autoload_register(function ($class) use ($base, $map) {
        foreach ($map as $prefix => $dir) {
            if (strncmp($class, $prefix, strlen($prefix)) !== 0) {
                continue;
            }

            $file = $base.'/'.rtrim($dir, '/').'/'
                .str_replace('\\', '/', substr($class, strlen($prefix))).'.php';

            if (is_file($file)) {
                require $file;

                return;
            }
        }
    });
})();
