//! Laravel disks for the copy tests: the stock `config/filesystems.php` blocks (Laravel 8's s3
//! disk, a `local` NAS folder) and the `.env` lines that point them at a test bucket or folder.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use super::garage::Bucket;
use super::App;

/// Laravel 8's skeleton `s3` disk (with a `root` prefix) and a `nas` folder disk.
pub const FILESYSTEMS_PHP: &str = r#"<?php

return [

    'default' => env('FILESYSTEM_DRIVER', 'local'),

    'disks' => [

        'local' => [
            'driver' => 'local',
            'root' => storage_path('app'),
        ],

        'nas' => [
            'driver' => 'local',
            'root' => env('NAS_ROOT', '/mnt/nas/backups'),
        ],

        's3' => [
            'driver' => 's3',
            'key' => env('AWS_ACCESS_KEY_ID'),
            'secret' => env('AWS_SECRET_ACCESS_KEY'),
            'region' => env('AWS_DEFAULT_REGION'),
            'bucket' => env('AWS_BUCKET'),
            'url' => env('AWS_URL'),
            'endpoint' => env('AWS_ENDPOINT'),
            'use_path_style_endpoint' => env('AWS_USE_PATH_STYLE_ENDPOINT', false),
            'root' => env('AWS_ROOT', 'db'),
        ],

        'ftp' => [
            'driver' => 'ftp',
            'host' => 'example.org',
        ],

    ],

];
"#;

/// The app's APP_KEY in the test apps (copies are sealed with a key derived from it).
pub const APP_KEY: &str = "base64:a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2s=";

/// The key prefix the s3 disk above uses by default.
pub const ROOT: &str = "db";

/// Writes `config/filesystems.php` into the app folder `dir`.
pub fn write_filesystems(dir: &Path) {
    std::fs::write(dir.join("config/filesystems.php"), FILESYSTEMS_PHP).unwrap();
}

/// A SQLite app whose backups are also copied to `bucket` (disk `s3`), plus `extra` `.env`
/// lines.
pub fn app_on_s3(bucket: &Bucket, extra: &str) -> App {
    let app = App::sqlite();
    write_filesystems(&app.dir());
    app.write_env(&format!(
        "DB_CONNECTION=sqlite\nAPP_KEY={APP_KEY}\nDB_BACKUP_DISKS=s3\n{}{extra}",
        bucket.env_text()
    ));
    app
}

/// A SQLite app whose backups are also copied to the folder `nas` (disk `nas`).
pub fn app_on_nas(nas: &Path, extra: &str) -> App {
    let app = App::sqlite();
    write_filesystems(&app.dir());
    app.write_env(&format!(
        "DB_CONNECTION=sqlite\nAPP_KEY={APP_KEY}\nDB_BACKUP_DISKS=nas\nNAS_ROOT={}\n{extra}",
        nas.display()
    ));
    app
}

/// The object key of a backup on the s3 disk above.
pub fn key(name: &str) -> String {
    format!("{ROOT}/{name}")
}

/// An age key pair made by the stock `age-keygen`: (identity file, public key).
pub fn keygen(dir: &Path) -> (PathBuf, String) {
    let file = dir.join("backup-key.txt");
    let out = Command::new("age-keygen")
        .arg("-o")
        .arg(&file)
        .output()
        .expect("age-keygen (Debian package `age`; scripts/test installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&file).unwrap();
    let public = text
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .expect("age-keygen writes the public key as a comment")
        .to_string();
    (file, public)
}
