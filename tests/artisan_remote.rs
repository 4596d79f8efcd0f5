//! Off-machine copies under a real Laravel 8 app: `php artisan db:backup` copies to the app's
//! own s3 disk (the stock Laravel block in config/filesystems.php, on a real Garage), before and
//! after `config:cache`, and both copies verify from the disk through Artisan.

mod common;

use common::disks::*;
use common::garage::Bucket;
use common::laravel::{normalized_lines, LaravelApp};

fn app_on(bucket: &Bucket) -> LaravelApp {
    let app = LaravelApp::sqlite();
    app.install_bridge();
    write_filesystems(&app.dir());
    app.edit_env(|t| format!("{t}\nDB_BACKUP_DISKS=s3\n{}", bucket.env_text()));
    app
}

#[test]
fn artisan_copies_to_s3_with_and_without_a_cached_config() {
    let bucket = Bucket::new();
    let app = app_on(&bucket);
    let out = app.artisan_ok(&["db:backup"]);
    assert_eq!(
        normalized_lines(&out),
        [
            "Backup SQLite créé: database_backup_<ts>.sqlite",
            "Backup copié sur le disque s3: database_backup_<ts>.sqlite",
            "Backup créé avec succès !"
        ]
    );
    app.artisan_ok(&["config:cache"]);
    // Once cached, Laravel reads no .env: only the handed-over config can reach the bucket.
    app.edit_env(|t| t.replace(&bucket.secret, "not-the-secret"));
    let out = app.artisan_ok(&["db:backup"]);
    assert!(out.contains("Backup copié sur le disque s3: "), "{out}");
    let names = app.backups();
    assert_eq!(names.len(), 2);
    let remote: Vec<String> = bucket.list("").into_iter().map(|(k, _)| k).collect();
    assert_eq!(remote, names.iter().map(|n| key(n)).collect::<Vec<_>>());
    for name in &names {
        let out = app.artisan_ok(&["db:backup:verify", "--disk=s3", name]);
        assert!(out.starts_with(&format!("ok: s3:{name} (")), "{out}");
    }
    let listed = app.artisan_ok(&["db:backup:list", "--disk=s3"]);
    assert_eq!(listed.lines().count(), 2, "{listed}");
    // The seal key is the cached config('app.key'): an APP_KEY changed in .env is not read.
    app.edit_env(|t| t.replace("APP_KEY=", "APP_KEY=base64:Y2hhbmdlZA==\n#APP_KEY="));
    let out = app.artisan_ok(&["db:backup:verify", "--disk=s3", "--latest"]);
    assert!(out.starts_with("ok: s3:"), "{out}");
    // A copy planted beside them is foreign through Artisan too, unless trusted on request.
    let planted = "database_backup_2020-01-01_000000.sqlite";
    bucket.put(
        &key(planted),
        &std::fs::read(app.backups_dir().join(&names[0])).unwrap(),
    );
    let out = app.artisan(&["db:backup:verify", "--disk=s3", planted]);
    assert_eq!(out.status.code(), Some(1));
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("foreign copy"), "{text}");
    let out = app.artisan_ok(&["db:backup:verify", "--disk=s3", planted, "--trust-foreign"]);
    assert!(out.starts_with(&format!("ok: s3:{planted} (")), "{out}");
    app.artisan_ok(&["config:clear"]);
}

#[test]
fn artisan_copy_failure_is_the_french_line_and_exit_4() {
    let bucket = Bucket::new();
    let wrong = Bucket {
        name: format!("{}-missing", bucket.name),
        ..bucket.clone()
    };
    let app = app_on(&wrong);
    let out = app.artisan(&["db:backup"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(4), "{stdout}");
    let lines = normalized_lines(&stdout);
    assert_eq!(lines.len(), 2, "{stdout}");
    assert_eq!(lines[0], "Backup SQLite créé: database_backup_<ts>.sqlite");
    assert!(
        lines[1].starts_with("Erreur lors de la copie du backup sur le disque s3: ")
            && lines[1].contains("does not exist"),
        "{stdout}"
    );
    assert_eq!(app.backups().len(), 1, "the local backup is kept");
}
