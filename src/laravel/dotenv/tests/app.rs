//! Finding the app's phpdotenv release, decoding the file's bytes, and error messages that keep
//! values to themselves.

use std::collections::HashMap;
use std::path::Path;

use super::super::*;
use super::no_env;
use crate::laravel::App;

fn write(path: &Path, text: &[u8]) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

fn rules_of(release: &Release) -> version::Choice {
    release.choice
}

#[test]
fn release_from_installed_json_composer_2_and_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let installed = dir.path().join("vendor/composer/installed.json");
    write(
        &installed,
        br#"{"packages": [{"name": "laravel/framework", "version": "v11.0.0"},
            {"name": "vlucas/phpdotenv", "version": "v5.4.1", "version_normalized": "5.4.1.0"}],
            "dev": true}"#,
    );
    let release = Release::of_app(dir.path());
    assert_eq!(release.version.as_deref(), Some("v5.4.1"));
    assert_eq!(release.source, "vendor/composer/installed.json");
    assert_eq!(rules_of(&release), version::Choice::Known(Rules::V5_4));

    // Composer 1 writes a bare list.
    write(
        &installed,
        br#"[{"name": "vlucas/phpdotenv", "version": "v5.6.1"}]"#,
    );
    assert_eq!(
        rules_of(&Release::of_app(dir.path())),
        version::Choice::Known(Rules::V5_6)
    );
}

#[test]
fn release_from_composer_lock_then_default() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert_eq!(Release::of_app(dir.path()), Release::default());
    assert_eq!(
        rules_of(&Release::default()),
        version::Choice::Known(Rules::V5_6)
    );
    write(
        &dir.path().join("composer.lock"),
        br#"{"packages": [], "packages-dev": [{"name": "vlucas/phpdotenv", "version": "v5.8.0"}]}"#,
    );
    let release = Release::of_app(dir.path());
    assert_eq!(
        (release.source, rules_of(&release)),
        ("composer.lock", version::Choice::Known(Rules::V5_8))
    );
    // installed.json (what runs) beats composer.lock (what would be installed); a broken one
    // counts as missing.
    let installed = dir.path().join("vendor/composer/installed.json");
    write(&installed, b"{not json");
    assert_eq!(Release::of_app(dir.path()).source, "composer.lock");
    write(
        &installed,
        br#"[{"name": "vlucas/phpdotenv", "version": "5.5.0"}]"#,
    );
    assert_eq!(
        rules_of(&Release::of_app(dir.path())),
        version::Choice::Known(Rules::V5_6)
    );
}

#[test]
fn release_rules_by_version() {
    let choice = |v: &str| rules_of(&Release::from_version(v, "test"));
    use version::Choice::{Between, Known};
    assert_eq!(choice("v4.2.0"), Known(Rules::V5_4));
    assert_eq!(choice("v5.0.0"), Known(Rules::V5_4));
    assert_eq!(choice("5.4.1.0"), Known(Rules::V5_4));
    assert_eq!(choice("v5.5.0"), Known(Rules::V5_6));
    assert_eq!(choice("v5.6.2"), Known(Rules::V5_6));
    assert_eq!(choice("5.6.x-dev"), Known(Rules::V5_6));
    assert_eq!(choice("v5.7.0"), Between(Rules::V5_6, Rules::V5_8));
    assert_eq!(choice("v5.8.0"), Known(Rules::V5_8));
    assert_eq!(choice("v5.9.1"), Known(Rules::V5_8));
    assert_eq!(choice("dev-master"), Known(Rules::V5_8));
    // A branch checkout is read by its alias.
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        &dir.path().join("vendor/composer/installed.json"),
        br#"[{"name": "vlucas/phpdotenv", "version": "dev-master",
              "extra": {"branch-alias": {"dev-master": "5.6-dev"}}}]"#,
    );
    let release = Release::of_app(dir.path());
    assert_eq!(release.version.as_deref(), Some("5.6-dev"));
    assert_eq!(rules_of(&release), Known(Rules::V5_6));
}

#[test]
fn decode_replaces_each_invalid_sequence_with_one_question_mark() {
    // mbstring's groups (checked with PHP 8.2's mb_convert_encoding, and by the oracle tests).
    let cases: &[(&[u8], &str)] = &[
        (b"caf\xe9.sqlite", "caf?.sqlite"),
        (b"\xe9\xe9", "??"),
        (b"\xe2\x82(", "?("),
        (b"\xf0\x9f\x98", "?"),
        (b"\xed\xa0\x80", "???"),
        (b"\xc0\xaf", "??"),
        (b"\xf4\x90\x80\x80", "????"),
        (b"\xe1\x80\xe1\x80\x80", "?\u{1000}"),
        (b"a\xff\xfeb", "a??b"),
        // Valid text, a real U+FFFD and NUL pass unchanged.
        ("é\u{fffd}\u{10ffff}".as_bytes(), "é\u{fffd}\u{10ffff}"),
        (b"a\0b", "a\0b"),
        // One byte-order mark goes; a second stays, as does a broken one (as `?`).
        (b"\xef\xbb\xbfA", "A"),
        (b"\xef\xbb\xbf\xef\xbb\xbfA", "\u{feff}A"),
        (b"\xef\xbbA", "?A"),
    ];
    for (bytes, text) in cases {
        assert_eq!(decode(bytes), *text, "{bytes:?}");
    }
}

#[test]
fn app_load_reads_latin1_paths_as_laravel_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        &dir.path().join(".env"),
        b"DB_CONNECTION=sqlite\nDB_DATABASE=/srv/caf\xe9.sqlite\n",
    );
    let app = App::load(Some(dir.path()), None, dir.path(), HashMap::new()).expect("loads");
    assert_eq!(app.env.raw("DB_DATABASE"), Some("/srv/caf?.sqlite"));
}

#[test]
fn app_load_follows_the_installed_release() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        &dir.path().join(".env"),
        "DB_CONNECTION=sqlite\nNOM_BASE=x\nÉTAPE=2\n".as_bytes(),
    );
    let installed = dir.path().join("vendor/composer/installed.json");
    write(
        &installed,
        br#"[{"name": "vlucas/phpdotenv", "version": "v5.6.1"}]"#,
    );
    let app = App::load(Some(dir.path()), None, dir.path(), HashMap::new()).expect("5.6 loads");
    assert_eq!(app.env.raw("ÉTAPE"), Some("2"));
    // 5.4 rejects the Unicode name, and so the whole file, as Laravel would.
    write(
        &installed,
        br#"[{"name": "vlucas/phpdotenv", "version": "v5.4.1"}]"#,
    );
    let err = App::load(Some(dir.path()), None, dir.path(), HashMap::new())
        .expect_err("5.4 rejects")
        .to_string();
    assert!(
        err.contains("line 3") && err.contains("phpdotenv v5.4.1"),
        "{err}"
    );
}

#[test]
fn parse_errors_never_show_values() {
    const SECRET: &str = "S3cr3t-P4ss";
    let files = [
        format!("DB_PASSWORD={SECRET} x"),
        format!("DB_PASSWORD=\"{SECRET}\"{SECRET}"),
        format!("DB_PASSWORD=\"{SECRET}\\q\""),
        format!("DB_PASSWORD='{SECRET}"),
        format!("DB_PASSWORD=\"{SECRET}\\\n\""),
        // A single-quoted value over two lines: its second line is read as a name.
        format!("DB_PASSWORD='abc\n{SECRET}'"),
        format!("{SECRET} more"),
        format!("={SECRET}"),
        format!("export {SECRET}"),
    ];
    for content in &files {
        for rules in [Rules::V5_4, Rules::V5_6, Rules::V5_8] {
            let e = parse(content, &Release::with_rules(rules), &no_env)
                .expect_err("every file is broken");
            let shown = e.to_string();
            for piece in [SECRET, "S3cr", "P4ss", "abc"] {
                assert!(!shown.contains(piece), "{shown:?} shows {piece}");
            }
        }
    }
    // What it may show: the line and the variable.
    let e = parse(&files[0], &Release::with_rules(Rules::V5_6), &no_env).expect_err("broken");
    assert_eq!(
        e.to_string(),
        "line 1 (DB_PASSWORD): unquoted value contains whitespace (wrap the value in quotes) \
         [phpdotenv 5.6 (as asked) rejects it too]"
    );
    assert_eq!(e.key.as_deref(), Some("DB_PASSWORD"));
    // 5.8 rejects a value left open at the end of the file, still without showing it.
    let e = parse(
        &format!("X=1\nDB_PASSWORD=\"{SECRET}"),
        &Release::with_rules(Rules::V5_8),
        &no_env,
    )
    .expect_err("open at the end");
    assert!(!e.to_string().contains("S3cr"), "{e}");
}

#[test]
fn the_test_app_records_the_phpdotenv_it_runs() {
    // tests/laravel-app runs Debian's phpdotenv; its installed.json must say which, or every
    // test through it would read .env by other rules than the app.
    let app = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/laravel-app");
    let release = Release::of_app(&app);
    assert_eq!(rules_of(&release), version::Choice::Known(Rules::V5_4));
    let debian = std::process::Command::new("dpkg-query")
        .args(["-W", "-f", "${Version}", "php-vlucas-phpdotenv"])
        .output()
        .expect("dpkg-query");
    let debian = String::from_utf8_lossy(&debian.stdout);
    let recorded = release.version.expect("a version");
    assert!(
        debian.starts_with(recorded.trim_start_matches('v')),
        "installed.json says {recorded}, Debian has {debian:?} (apt-get install php-vlucas-phpdotenv)"
    );
}
