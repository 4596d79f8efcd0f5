//! The app's Laravel disks (`config/filesystems.php`) that copies go to: read from the file as
//! `config/database.php` is, or, through the Artisan bridge, `config('filesystems.disks.<name>')`
//! as Laravel resolved it (cached config and `--env` included).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use regex::Regex;

use super::config::{self, Setting};
use super::Env;
use crate::error::{Error, Result};
use crate::store::remote::{S3Spec, Secret, Spec};

/// The environment variable the bridge hands the named disks' config over in, as JSON.
pub const HANDOVER: &str = "DB_BACKUP_DISKS_CONFIG";

/// Where disks are described.
#[derive(Debug)]
pub struct Filesystems {
    source: Source,
    app_dir: PathBuf,
    /// `AWS_CA_BUNDLE`, for https endpoints.
    ca_bundle: Option<PathBuf>,
}

enum Source {
    /// `config/filesystems.php` (its text, empty when missing) and the app's settings.
    File { text: Option<String>, env: Env },
    /// The bridge's JSON object: disk name → Laravel's config array for it.
    Handover(serde_json::Map<String, serde_json::Value>),
}

/// Disk names only: the handed-over arrays hold secrets.
impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::File { text, env } => f
                .debug_struct("File")
                .field("found", &text.is_some())
                .field("env", env)
                .finish(),
            Source::Handover(map) => f.debug_tuple("Handover").field(&map.keys()).finish(),
        }
    }
}

impl Filesystems {
    /// The app's own `config/filesystems.php`, read with its settings.
    pub fn from_app(dir: &Path, env: Env) -> Filesystems {
        let text = config::read(&dir.join("config/filesystems.php"));
        let ca_bundle = env.get("AWS_CA_BUNDLE").filter(|v| !v.is_empty());
        Filesystems {
            source: Source::File { text, env },
            app_dir: dir.to_path_buf(),
            ca_bundle: ca_bundle.map(PathBuf::from),
        }
    }

    /// The bridge's handover (absent: no disk is known).
    pub fn from_handover(dir: &Path, real: &HashMap<String, String>) -> Result<Filesystems> {
        let map = match real.get(HANDOVER).filter(|j| !j.is_empty()) {
            Some(json) => match serde_json::from_str(json) {
                Ok(serde_json::Value::Object(m)) => m,
                // PHP encodes an empty array as [].
                Ok(serde_json::Value::Array(a)) if a.is_empty() => Default::default(),
                _ => return Err(Error::Handover(format!("{HANDOVER} (not a JSON object)"))),
            },
            None => Default::default(),
        };
        Ok(Filesystems {
            source: Source::Handover(map),
            app_dir: dir.to_path_buf(),
            ca_bundle: real
                .get("AWS_CA_BUNDLE")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
        })
    }

    /// The disk called `name`, or one clear error when it is not there or not usable.
    pub fn disk(&self, name: &str) -> Result<Spec> {
        match &self.source {
            Source::File { text, env } => {
                let unknown = || Error::UnknownDisk {
                    name: name.into(),
                    file: "config/filesystems.php".into(),
                };
                let text = text.as_deref().ok_or_else(unknown)?;
                let block = config::block(text, name).ok_or_else(unknown)?;
                readable(name, block)?;
                let get = |key: &str| php_value(block, key, env, &self.app_dir);
                self.spec(name, &get)
            }
            Source::Handover(map) => {
                let Some(serde_json::Value::Object(disk)) = map.get(name) else {
                    return Err(Error::UnknownDisk {
                        name: name.into(),
                        file: "config('filesystems.disks') (config/filesystems.php)".into(),
                    });
                };
                let get = |key: &str| match disk.get(key) {
                    Some(serde_json::Value::String(s)) => Some(s.clone()),
                    Some(serde_json::Value::Bool(b)) => Some(if *b { "1" } else { "" }.into()),
                    Some(serde_json::Value::Number(n)) => Some(n.to_string()),
                    _ => None,
                };
                self.spec(name, &get)
            }
        }
    }

    fn spec(&self, name: &str, get: &dyn Fn(&str) -> Option<String>) -> Result<Spec> {
        let bad = |detail: &str| Error::BadDisk {
            name: name.into(),
            detail: detail.into(),
        };
        let driver = get("driver").unwrap_or_default();
        match driver.as_str() {
            "s3" => {
                let need = |key: &str, var: &str| {
                    get(key)
                        .filter(|v| !v.is_empty())
                        .ok_or_else(|| bad(&format!("'{key}' is empty; set it ({var} in .env)")))
                };
                Ok(Spec::S3(S3Spec {
                    key: need("key", "AWS_ACCESS_KEY_ID")?,
                    secret: Secret::new(need("secret", "AWS_SECRET_ACCESS_KEY")?),
                    region: get("region").unwrap_or_default(),
                    bucket: need("bucket", "AWS_BUCKET")?,
                    endpoint: get("endpoint")
                        .unwrap_or_default()
                        .trim_end_matches('/')
                        .to_string(),
                    path_style: get("use_path_style_endpoint").is_some_and(|v| truthy(&v)),
                    root: get("root")
                        .unwrap_or_default()
                        .trim_matches('/')
                        .to_string(),
                    ca_bundle: self.ca_bundle.clone(),
                }))
            }
            "local" => {
                let root = get("root")
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| bad("'root' is empty; name the folder copies go to"))?;
                let root = PathBuf::from(root);
                Ok(Spec::Local {
                    root: if root.is_absolute() {
                        root
                    } else {
                        self.app_dir.join(root)
                    },
                })
            }
            "" => Err(bad("it has no 'driver'")),
            other => Err(Error::UnsupportedDisk {
                name: name.into(),
                driver: other.into(),
            }),
        }
    }
}

/// The keys of a disk's block that db-backup reads.
const DISK_KEYS: [&str; 8] = [
    "driver",
    "key",
    "secret",
    "region",
    "bucket",
    "endpoint",
    "use_path_style_endpoint",
    "root",
];

/// Refuses a disk whose settings are written in a way that needs PHP to run (a concatenation,
/// a ternary, a function we do not know): guessing would copy backups somewhere else.
fn readable(name: &str, block: &str) -> Result<()> {
    let line = Regex::new(r#"^\s*['"](\w+)['"]\s*=>\s*(.*?)\s*,?\s*$"#).expect("valid regex");
    let plain = Regex::new(
        r#"^(?:env\(\s*['"]\w+['"]\s*(?:,\s*(?:'[^']*'|"[^"$]*"|true|false|null|-?\d+))?\s*\)|'[^']*'|"[^"$]*"|true|false|null|-?\d+|(?:storage_path|base_path)\(\s*(?:'[^']*'|"[^"$]*")?\s*\))$"#,
    )
    .expect("valid regex");
    for l in block.lines() {
        let Some(c) = line.captures(l) else { continue };
        if DISK_KEYS.contains(&&c[1]) && !plain.is_match(&c[2]) {
            return Err(Error::BadDisk {
                name: name.into(),
                detail: format!(
                    "'{}' => {} cannot be read without running PHP; write a literal, env('…') or storage_path('…') there, or run through php artisan (the bridge hands over Laravel's resolved config)",
                    &c[1], &c[2]
                ),
            });
        }
    }
    Ok(())
}

/// PHP's idea of true for a config value: `true`, `1`, `"true"`, `"on"`, `"yes"`.
fn truthy(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "on" | "yes"
    )
}

/// A value of a disk's block: a literal, `env('X', default)`, `true`/`false`, or
/// `storage_path('…')` / `base_path('…')` (for a local root).
fn php_value(block: &str, key: &str, env: &Env, app_dir: &Path) -> Option<String> {
    let k = regex::escape(key);
    let helper = Regex::new(&format!(
        r#"['"]{k}['"]\s*=>\s*(storage_path|base_path)\(\s*(?:['"]([^'"]*)['"])?\s*\)"#
    ))
    .ok()?;
    if let Some(c) = helper.captures(block) {
        let base = match &c[1] {
            "storage_path" => app_dir.join("storage"),
            _ => app_dir.to_path_buf(),
        };
        let sub = c.get(2).map_or("", |m| m.as_str());
        return Some(base.join(sub).display().to_string());
    }
    let boolean = Regex::new(&format!(r#"['"]{k}['"]\s*=>\s*(true|false)\b"#)).ok()?;
    if let Some(c) = boolean.captures(block) {
        return Some(if &c[1] == "true" { "1" } else { "" }.into());
    }
    let setting = config::setting(block, key)?;
    let value = setting.resolve(|k| env.get(k))?;
    // env('X', false) gives its default as the word.
    Some(match (&setting, value.as_str()) {
        (Setting::Env { .. }, "false" | "null") => String::new(),
        (Setting::Env { .. }, "true") => "1".into(),
        _ => value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Laravel 8's disks with a NAS folder, also the PHP oracle's template.
    pub(super) const PHP: &str = r#"<?php

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
            'root' => 'db/backups/',
        ],

        'ftp' => [
            'driver' => 'ftp',
        ],

    ],
];
"#;

    fn app(env: &[(&str, &str)]) -> (tempfile::TempDir, Filesystems) {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("config")).unwrap();
        std::fs::write(t.path().join("config/filesystems.php"), PHP).unwrap();
        let file = env
            .iter()
            .map(|(k, v)| (k.to_string(), Some(v.to_string())))
            .collect();
        let fs = Filesystems::from_app(t.path(), Env::new(file, HashMap::new()));
        (t, fs)
    }

    #[test]
    fn reads_s3_and_local_disks_from_the_file() {
        let (t, fs) = app(&[
            ("AWS_ACCESS_KEY_ID", "GK1"),
            ("AWS_SECRET_ACCESS_KEY", "s3cretvalue"),
            ("AWS_DEFAULT_REGION", "garage"),
            ("AWS_BUCKET", "backups"),
            ("AWS_ENDPOINT", "http://127.0.0.1:3900/"),
            ("AWS_USE_PATH_STYLE_ENDPOINT", "true"),
        ]);
        let Spec::S3(s) = fs.disk("s3").unwrap() else {
            panic!()
        };
        assert_eq!(
            (
                s.key.as_str(),
                s.secret.expose(),
                s.bucket.as_str(),
                s.endpoint.as_str(),
                s.path_style,
                s.root.as_str()
            ),
            (
                "GK1",
                "s3cretvalue",
                "backups",
                "http://127.0.0.1:3900",
                true,
                "db/backups"
            )
        );
        assert!(!format!("{s:?}").contains("s3cretvalue"));
        assert_eq!(
            fs.disk("local").unwrap(),
            Spec::Local {
                root: t.path().join("storage/app")
            }
        );
        assert_eq!(
            fs.disk("nas").unwrap(),
            Spec::Local {
                root: "/mnt/nas/backups".into()
            }
        );
    }

    #[test]
    fn unknown_unsupported_and_incomplete_disks_are_one_clear_error() {
        let (_t, fs) = app(&[]);
        let e = fs.disk("s4").unwrap_err().to_string();
        assert!(
            e.contains("disk 's4'") && e.contains("config/filesystems.php"),
            "{e}"
        );
        let e = fs.disk("ftp").unwrap_err().to_string();
        assert!(e.contains("driver 'ftp'"), "{e}");
        let e = fs.disk("s3").unwrap_err().to_string();
        assert!(e.contains("AWS_ACCESS_KEY_ID"), "{e}");
    }

    #[test]
    fn handover_is_laravels_resolved_config() {
        let real = HashMap::from([
            (
                HANDOVER.to_string(),
                r#"{"s3":{"driver":"s3","key":"GK","secret":"hunter2secret","region":"garage","bucket":"b","endpoint":"http://h:1","use_path_style_endpoint":true,"url":null},"nas":{"driver":"local","root":"/srv/nas"}}"#
                    .to_string(),
            ),
            ("AWS_CA_BUNDLE".to_string(), "/etc/ca.pem".to_string()),
        ]);
        let fs = Filesystems::from_handover(Path::new("/srv/api"), &real).unwrap();
        let Spec::S3(s) = fs.disk("s3").unwrap() else {
            panic!()
        };
        assert!(s.path_style);
        assert_eq!(s.ca_bundle.as_deref(), Some(Path::new("/etc/ca.pem")));
        assert!(matches!(fs.disk("nas").unwrap(), Spec::Local { .. }));
        assert!(matches!(fs.disk("x"), Err(Error::UnknownDisk { .. })));
        let shown = format!("{fs:?}");
        assert!(
            shown.contains("nas") && !shown.contains("hunter2"),
            "{shown}"
        );
    }
}

/// config/filesystems.php read by us and by PHP itself (`require` of the same file, with
/// `env()` and the path helpers defined as Laravel defines them), on files fuzzed with the
/// comments and strings that fooled the pattern reading: both must find the same disks.
#[cfg(test)]
mod php_oracle {
    use super::*;
    use rand::{Rng, SeedableRng};
    use std::process::Command;

    /// The disks of the other tests, the nas disk with a URL holding `#` as a decoy.
    fn template() -> String {
        super::tests::PHP.replace(
            "'root' => env('NAS_ROOT', '/mnt/nas/backups'),",
            "'root' => env('NAS_ROOT', '/mnt/nas/backups'),\n            'url' => 'http://nas.lan/#backups',",
        )
    }

    /// What someone may write between two lines of the file.
    const DECOYS: &[&str] = &[
        "// 'root' => storage_path('wrong'),",
        "# 'root' => '/wrong',",
        "/* 's3' => ['driver' => 'local', 'root' => '/wrong'], */",
        "/*\n 'root' => '/wrong',\n 'bucket' => 'wrong',\n*/",
        "/** 'driver' => 'local', */",
        "'visibility' => '/* not a comment',",
        "'note' => \"// not a comment either # nor this\",",
        "'x' => 'a\\'b // c',",
    ];

    fn php_reads(dir: &Path) -> serde_json::Value {
        let script = r#"
            function env($k, $d = null) { $v = getenv($k); return $v === false ? $d : $v; }
            function storage_path($p = '') { return getenv('APP_BASE') . '/storage' . ($p ? '/' . $p : ''); }
            function base_path($p = '') { return getenv('APP_BASE') . ($p ? '/' . $p : ''); }
            $c = require $argv[1];
            echo json_encode($c['disks']);
        "#;
        let out = Command::new("php")
            .arg("-r")
            .arg(script)
            .arg(dir.join("config/filesystems.php"))
            .env("APP_BASE", dir)
            .env("NAS_ROOT", "/srv/nas")
            .env("AWS_ACCESS_KEY_ID", "GK1")
            .env("AWS_SECRET_ACCESS_KEY", "s3cret")
            .env("AWS_DEFAULT_REGION", "garage")
            .env("AWS_BUCKET", "backups")
            .env("AWS_ENDPOINT", "http://127.0.0.1:3900")
            .output()
            .expect("php (Debian package php-cli; scripts/test installs it)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("json from php")
    }

    fn ours(dir: &Path, name: &str) -> Spec {
        let real = [
            ("NAS_ROOT", "/srv/nas"),
            ("AWS_ACCESS_KEY_ID", "GK1"),
            ("AWS_SECRET_ACCESS_KEY", "s3cret"),
            ("AWS_DEFAULT_REGION", "garage"),
            ("AWS_BUCKET", "backups"),
            ("AWS_ENDPOINT", "http://127.0.0.1:3900"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        Filesystems::from_app(dir, Env::new(Vec::new(), real))
            .disk(name)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    #[test]
    fn fuzzed_files_read_as_php_reads_them() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(17);
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("config")).unwrap();
        for round in 0..60 {
            let mut text = String::new();
            for line in template().lines() {
                text.push_str(line);
                text.push('\n');
                // Inside the arrays only (after `=> [` or a `,`), where PHP takes a comment or
                // another entry.
                let t = line.trim_end();
                if (t.ends_with(',') || t.ends_with('[')) && rng.random_bool(0.4) {
                    text.push_str(DECOYS[rng.random_range(0..DECOYS.len())]);
                    text.push('\n');
                }
            }
            std::fs::write(dir.path().join("config/filesystems.php"), &text).unwrap();
            let php = php_reads(dir.path());
            let Spec::Local { root } = ours(dir.path(), "nas") else {
                panic!("round {round}: nas is not local:\n{text}")
            };
            assert_eq!(
                root.to_str(),
                php["nas"]["root"].as_str(),
                "round {round}:\n{text}"
            );
            let Spec::Local { root } = ours(dir.path(), "local") else {
                panic!("round {round}: local is not local:\n{text}")
            };
            assert_eq!(
                root.to_str(),
                php["local"]["root"].as_str(),
                "round {round}:\n{text}"
            );
            let Spec::S3(s3) = ours(dir.path(), "s3") else {
                panic!("round {round}: s3 is not s3:\n{text}")
            };
            let p = &php["s3"];
            assert_eq!(
                (
                    s3.bucket.as_str(),
                    s3.root.as_str(),
                    s3.region.as_str(),
                    s3.path_style
                ),
                (
                    p["bucket"].as_str().unwrap(),
                    // A prefix, as Flysystem takes it: without its slashes.
                    p["root"].as_str().unwrap().trim_matches('/'),
                    p["region"].as_str().unwrap(),
                    p["use_path_style_endpoint"].as_bool().unwrap()
                ),
                "round {round}:\n{text}"
            );
        }
    }

    #[test]
    fn what_needs_php_to_run_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("config")).unwrap();
        for value in [
            "env('NAS_ROOT') . '/db'",
            "env('NAS_ROOT') ?: '/x'",
            "env('NAS_ROOT') ?? '/x'",
            "realpath('/x')",
            "\"/srv/{$x}\"",
        ] {
            let text = template().replace("env('NAS_ROOT', '/mnt/nas/backups')", value);
            std::fs::write(dir.path().join("config/filesystems.php"), &text).unwrap();
            let got = Filesystems::from_app(dir.path(), Env::default()).disk("nas");
            let Err(Error::BadDisk { detail, .. }) = got else {
                panic!("{value}: {got:?}")
            };
            assert!(
                detail.contains("cannot be read without running PHP"),
                "{detail}"
            );
        }
    }
}
