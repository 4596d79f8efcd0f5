//! Settings written in the app's `config/*.php`: we never run PHP here. A file is first read
//! the way PHP's tokenizer reads it — comments (`//`, `#`, `/* */`) blanked out, strings kept
//! whole — so a commented-out line or block never counts; then its settings are matched.

use std::path::Path;

use regex::Regex;

/// How a config file sets a key: a hard-coded value (the environment is then ignored, as it is
/// by Laravel) or `env('KEY', default)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Setting {
    Literal(String),
    Env {
        key: String,
        default: Option<String>,
    },
}

impl Setting {
    /// The value Laravel ends up with, given a lookup of its `env()`.
    pub fn resolve(&self, env: impl Fn(&str) -> Option<String>) -> Option<String> {
        match self {
            Setting::Literal(v) => Some(v.clone()),
            Setting::Env { key, default } => env(key).or_else(|| default.clone()),
        }
    }
}

/// A config file with its comments blanked out (see the module comment); None when it cannot
/// be read.
pub fn read(path: &Path) -> Option<String> {
    Some(code_only(&std::fs::read_to_string(path).ok()?))
}

/// The PHP text with every comment replaced by spaces (newlines kept, so lines stay where they
/// were), strings untouched: `'// not a comment'` stays, `// 'root' => …` goes. PHP 8
/// attributes (`#[…]`) are code. `?>` ends a line comment, as in PHP.
pub fn code_only(php: &str) -> String {
    #[derive(PartialEq)]
    enum S {
        Code,
        Single,
        Double,
        Line,
        Block,
    }
    let b = php.as_bytes();
    let mut out = b.to_vec();
    let mut st = S::Code;
    let mut i = 0;
    let blank = |out: &mut Vec<u8>, i: usize| {
        if out[i] != b'\n' {
            out[i] = b' ';
        }
    };
    while i < b.len() {
        let c = b[i];
        match st {
            S::Code => match c {
                b'\'' => st = S::Single,
                b'"' => st = S::Double,
                b'#' if b.get(i + 1) != Some(&b'[') => {
                    st = S::Line;
                    blank(&mut out, i);
                }
                b'/' if b.get(i + 1) == Some(&b'/') => {
                    st = S::Line;
                    blank(&mut out, i);
                }
                b'/' if b.get(i + 1) == Some(&b'*') => {
                    st = S::Block;
                    blank(&mut out, i);
                    blank(&mut out, i + 1);
                    i += 1;
                }
                _ => {}
            },
            S::Single | S::Double => {
                let q = if st == S::Single { b'\'' } else { b'"' };
                if c == b'\\' {
                    i += 1;
                } else if c == q {
                    st = S::Code;
                }
            }
            S::Line => {
                if c == b'\n' {
                    st = S::Code;
                } else if c == b'?' && b.get(i + 1) == Some(&b'>') {
                    st = S::Code;
                    i += 1;
                } else {
                    blank(&mut out, i);
                }
            }
            S::Block => {
                blank(&mut out, i);
                if c == b'*' && b.get(i + 1) == Some(&b'/') {
                    blank(&mut out, i + 1);
                    st = S::Code;
                    i += 1;
                }
            }
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `'default' => …` in `config/database.php`.
pub fn default_connection(database_php: &Path) -> Option<Setting> {
    setting(&read(database_php)?, "default")
}

/// `'timezone' => …` in `config/app.php`.
pub fn app_timezone(app_php: &Path) -> Option<Setting> {
    setting(&read(app_php)?, "timezone")
}

/// The default a connection's block in `config/database.php` gives an env key, e.g.
/// `'database' => env('DB_DATABASE', 'forge')` inside `'mysql' => [ … ]` (Laravel 8–10 wrote
/// `forge`, 11+ writes `laravel`): the value the app itself falls back to.
pub fn connection_default(database_php: &Path, connection: &str, env_key: &str) -> Option<String> {
    let text = read(database_php)?;
    let block = connection_block(&text, connection)?;
    let re = Regex::new(&format!(
        r#"env\(\s*['"]{}['"]\s*,\s*['"]([^'"]*)['"]\s*\)"#,
        regex::escape(env_key)
    ))
    .ok()?;
    re.captures(block).map(|c| c[1].to_string())
}

/// The text of `'name' => [ … ]` (a connection, a disk), from its line to the `]` at the same
/// indentation.
pub fn block<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    connection_block(text, name)
}

fn connection_block<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let opener = Regex::new(&format!(
        r#"(?m)^([ \t]*)['"]{}['"]\s*=>\s*\["#,
        regex::escape(name)
    ))
    .ok()?;
    let caps = opener.captures(text)?;
    let start = caps.get(0)?.start();
    let indent = caps.get(1)?.as_str();
    let rest = &text[start..];
    let closer = Regex::new(&format!(r"(?m)^{}\],?\s*$", regex::escape(indent))).ok()?;
    let end = closer.find(rest).map(|m| m.end()).unwrap_or(rest.len());
    Some(&rest[..end])
}

/// The first uncommented `'key' => 'literal'` or `'key' => env('KEY'[, 'default'])`.
pub fn setting(text: &str, key: &str) -> Option<Setting> {
    // Most keys are not in most files (or there is no file): no regex to build for them (a
    // few milliseconds of every run, for twenty keys).
    if !text.contains(key) {
        return None;
    }
    let re = Regex::new(&format!(
        r#"['"]{}['"]\s*=>\s*(?:env\(\s*['"](\w+)['"]\s*(?:,\s*['"]?([^'"()]*?)['"]?\s*)?\)|['"]([^'"]+)['"]|(\d+(?:\.\d+)?)\s*[,\]])"#,
        regex::escape(key)
    ))
    .ok()?;
    text.lines()
        .filter(|l| {
            let t = l.trim_start();
            !(t.starts_with("//") || t.starts_with('#') || t.starts_with('*'))
        })
        .find_map(|l| {
            let c = re.captures(l)?;
            match (c.get(1), c.get(3).or(c.get(4))) {
                (Some(k), _) => Some(Setting::Env {
                    key: k.as_str().to_string(),
                    default: c.get(2).map(|d| d.as_str().trim().to_string()),
                }),
                (None, Some(v)) => Some(Setting::Literal(v.as_str().to_string())),
                (None, None) => None,
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_env_settings_and_hard_coded_literals() {
        let env = |k: &str, d: Option<&str>| Setting::Env {
            key: k.into(),
            default: d.map(String::from),
        };
        let t = "    'default' => env('DB_CONNECTION', 'sqlite'),\n";
        assert_eq!(
            setting(t, "default"),
            Some(env("DB_CONNECTION", Some("sqlite")))
        );
        let t = "// 'default' => 'pgsql',\n'default' => \"mysql\",\n";
        assert_eq!(
            setting(t, "default"),
            Some(Setting::Literal("mysql".into()))
        );
        let t = "'timezone' => env('APP_TIMEZONE', 'Africa/Abidjan'),";
        assert_eq!(
            setting(t, "timezone"),
            Some(env("APP_TIMEZONE", Some("Africa/Abidjan")))
        );
        assert_eq!(
            setting("'default' => env('DB_CONNECTION'),", "default"),
            Some(env("DB_CONNECTION", None))
        );
        assert_eq!(setting("'default' => $x,", "default"), None);
        // Numbers may be written bare, as literals or as env() defaults.
        assert_eq!(
            setting("'keep_daily' => 14,", "keep_daily"),
            Some(Setting::Literal("14".into()))
        );
        assert_eq!(
            setting(
                "'keep_daily' => env('DB_BACKUP_KEEP_DAILY', 7),",
                "keep_daily"
            ),
            Some(env("DB_BACKUP_KEEP_DAILY", Some("7")))
        );
        let lit = Setting::Literal("UTC".into());
        assert_eq!(
            lit.resolve(|_| Some("Asia/Tokyo".into())).as_deref(),
            Some("UTC"),
            "hard-coded wins over env"
        );
    }

    #[test]
    fn connection_defaults_come_from_the_right_block() {
        let php = "<?php\nreturn [\n    'connections' => [\n        'sqlite' => [\n            'database' => env('DB_DATABASE', database_path('x')),\n        ],\n        'mysql' => [\n            'host' => env('DB_HOST', '127.0.0.1'),\n            'database' => env('DB_DATABASE', 'forge'),\n            'username' => env('DB_USERNAME', 'forge'),\n        ],\n        'pgsql' => [\n            'database' => env('DB_DATABASE', 'pg'),\n        ],\n    ],\n];\n";
        let t = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(t.path(), php).unwrap();
        assert_eq!(
            connection_default(t.path(), "mysql", "DB_DATABASE").as_deref(),
            Some("forge")
        );
        assert_eq!(
            connection_default(t.path(), "mysql", "DB_USERNAME").as_deref(),
            Some("forge")
        );
        assert_eq!(
            connection_default(t.path(), "pgsql", "DB_DATABASE").as_deref(),
            Some("pg")
        );
        assert_eq!(connection_default(t.path(), "mariadb", "DB_DATABASE"), None);
        assert_eq!(connection_default(t.path(), "sqlite", "DB_DATABASE"), None);
    }
}
