//! db-backup's own settings (retention rules, health limits, off-machine disks), as the app sets
//! them: `config/db-backup.php` when the app has one, else the `DB_BACKUP_*` keys of `.env`;
//! through the Artisan bridge, `config('db-backup')` as Laravel resolved it (cache included).

use std::collections::BTreeMap;
use std::path::Path;

use super::config::{self, Setting};
use super::Env;
use crate::error::{Error, Result};
use crate::store::transform::{Age, Transforms};

/// Every setting: its key in `config/db-backup.php` and its `.env` variable.
pub const KEYS: [(&str, &str); 16] = [
    ("keep_daily", "DB_BACKUP_KEEP_DAILY"),
    ("keep_weekly", "DB_BACKUP_KEEP_WEEKLY"),
    ("keep_monthly", "DB_BACKUP_KEEP_MONTHLY"),
    ("keep_yearly", "DB_BACKUP_KEEP_YEARLY"),
    ("max_age", "DB_BACKUP_MAX_AGE"),
    ("min_ratio", "DB_BACKUP_MIN_RATIO"),
    ("max_total", "DB_BACKUP_MAX_TOTAL"),
    ("disks", "DB_BACKUP_DISKS"),
    ("keep_remote", "DB_BACKUP_KEEP_REMOTE"),
    ("compress", "DB_BACKUP_COMPRESS"),
    ("age_recipients", "DB_BACKUP_AGE_RECIPIENTS"),
    ("age_identity_file", "DB_BACKUP_AGE_IDENTITY_FILE"),
    ("exclude_data", "DB_BACKUP_EXCLUDE_DATA"),
    ("sync_interval", "DB_BACKUP_SYNC_INTERVAL"),
    ("max_lag", "DB_BACKUP_MAX_LAG"),
    ("wal_limit", "DB_BACKUP_WAL_LIMIT"),
];

/// Keys that hold secrets: never shown, not even in Debug.
const SECRET: [(&str, &str); 1] = [("age_passphrase", "DB_BACKUP_AGE_PASSPHRASE")];

/// A comma-separated list of names, trimmed, in order, without empties or repeats.
pub fn split_names(list: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for n in list.split(',') {
        let n = n.trim();
        if !n.is_empty() && !names.iter().any(|x| x == n) {
            names.push(n.to_string());
        }
    }
    names
}

/// The environment variable the bridge hands `config('db-backup')` over in, as JSON.
pub const HANDOVER: &str = "DB_BACKUP_CONFIG";

/// The settings in force; values are kept as text and typed where they are used.
#[derive(Default, Clone)]
pub struct Settings {
    values: BTreeMap<&'static str, String>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.values.keys()).finish()
    }
}

impl Settings {
    /// Read as Laravel would: `config/db-backup.php`'s line for a key (hard-coded or an
    /// `env()` call) when it has one, else the key's own `DB_BACKUP_*` variable.
    pub fn from_app(dir: &Path, env: &Env) -> Settings {
        let text = config::read(&dir.join("config/db-backup.php")).unwrap_or_default();
        let mut values = BTreeMap::new();
        for (key, var) in KEYS.iter().chain(SECRET.iter()) {
            let setting = config::setting(&text, key).unwrap_or(Setting::Env {
                key: var.to_string(),
                default: None,
            });
            if let Some(v) = setting.resolve(|k| env.get(k)).filter(|v| !v.is_empty()) {
                values.insert(*key, v);
            }
        }
        Settings { values }
    }

    /// The bridge's handover: `config('db-backup')` as JSON (null and empty values are unset).
    pub fn from_handover(json: &str) -> Result<Settings> {
        let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(json)
            .map_err(|_| Error::Handover(format!("{HANDOVER} (not a JSON object)")))?;
        let mut values = BTreeMap::new();
        for (key, _) in KEYS.iter().chain(SECRET.iter()) {
            let text = match map.get(*key) {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(serde_json::Value::Number(n)) => n.to_string(),
                Some(serde_json::Value::Bool(b)) => if *b { "1" } else { "" }.to_string(),
                Some(serde_json::Value::Array(items)) => items
                    .iter()
                    .filter_map(|i| i.as_str().map(str::to_string))
                    .collect::<Vec<_>>()
                    .join(","),
                _ => String::new(),
            };
            if !text.is_empty() {
                values.insert(*key, text);
            }
        }
        Ok(Settings { values })
    }

    /// The raw value of a setting, by its config key.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// The disks copies go to (`DB_BACKUP_DISKS=s3,nas`), in order, without repeats.
    pub fn disks(&self) -> Vec<String> {
        split_names(self.get("disks").unwrap_or_default())
    }

    /// Tables whose rows backups leave out (`DB_BACKUP_EXCLUDE_DATA=cache,sessions`), in order,
    /// without repeats.
    pub fn exclude_data(&self) -> Vec<String> {
        split_names(self.get("exclude_data").unwrap_or_default())
    }

    /// A whole number (retention counts), or an error naming the variable.
    pub fn count(&self, key: &str) -> Result<Option<u32>> {
        self.typed(key, "a whole number, e.g. 7", |v| v.parse::<u32>().ok())
    }

    /// A duration such as `26h`, `90m`, `2d` or `3600s`; a bare number is hours.
    pub fn duration(&self, key: &str) -> Result<Option<chrono::Duration>> {
        self.typed(key, "a duration such as 26h, 90m or 2d", parse_duration)
    }

    /// A share such as `0.5` or `50%`.
    pub fn ratio(&self, key: &str) -> Result<Option<f64>> {
        self.typed(key, "a share such as 0.5 or 50%", parse_ratio)
    }

    /// A size such as `10G`, `500M` or `1048576` (bytes).
    pub fn size(&self, key: &str) -> Result<Option<u64>> {
        self.typed(
            key,
            "a size such as 10G, 500M or a number of bytes",
            parse_size,
        )
    }

    /// What copies to the off-machine disks go through: `DB_BACKUP_COMPRESS=zstd` and the age
    /// keys. The local backup is never transformed.
    pub fn transforms(&self) -> Result<Transforms> {
        let zstd = match self.get("compress").map(|v| v.trim().to_ascii_lowercase()) {
            None => false,
            Some(v) if v == "zstd" => true,
            Some(v) if v == "none" || v == "off" || v == "0" || v == "false" => false,
            Some(_) => {
                return Err(Error::BadSetting {
                    name: "DB_BACKUP_COMPRESS",
                    expected: "zstd or none",
                })
            }
        };
        let age = Age::from_settings(
            self.get("age_recipients"),
            self.get("age_passphrase"),
            self.get("age_identity_file"),
        )?;
        Ok(Transforms { zstd, age })
    }

    fn typed<T>(
        &self,
        key: &str,
        expected: &'static str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<Option<T>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => parse(v.trim()).map(Some).ok_or_else(|| Error::BadSetting {
                name: var_of(key),
                expected,
            }),
        }
    }
}

/// The `.env` variable of a config key, for messages.
pub fn var_of(key: &str) -> &'static str {
    KEYS.iter()
        .chain(SECRET.iter())
        .find(|(k, _)| *k == key)
        .map_or("DB_BACKUP_*", |(_, v)| v)
}

/// `26h`, `90m`, `2d`, `3600s`, `1w`; a bare number is hours.
pub fn parse_duration(s: &str) -> Option<chrono::Duration> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: i64 = n.parse().ok().filter(|n| *n > 0 && *n < 1_000_000)?;
    Some(match unit.trim() {
        "" | "h" => chrono::Duration::hours(n),
        "s" => chrono::Duration::seconds(n),
        "m" | "min" => chrono::Duration::minutes(n),
        "d" => chrono::Duration::days(n),
        "w" => chrono::Duration::weeks(n),
        _ => return None,
    })
}

/// `0.5` or `50%`, between 0 and 1.
pub fn parse_ratio(s: &str) -> Option<f64> {
    let v = match s.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().ok()? / 100.0,
        None => s.parse::<f64>().ok()?,
    };
    (0.0..=1.0).contains(&v).then_some(v)
}

/// `10G`, `500M`, `64K`, `2T` (powers of 1024, an optional `B`/`iB`), or bytes.
pub fn parse_size(s: &str) -> Option<u64> {
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: f64 = n.parse().ok().filter(|n: &f64| *n > 0.0)?;
    let unit = unit.trim().trim_end_matches("iB").trim_end_matches('B');
    let scale = match unit.to_ascii_uppercase().as_str() {
        "" => 1u64,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        _ => return None,
    };
    Some((n * scale as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn config_file_wins_then_env_keys() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("config")).unwrap();
        std::fs::write(
            t.path().join("config/db-backup.php"),
            "<?php return [\n 'keep_daily' => 14,\n 'max_age' => '48h',\n 'keep_weekly' => env('WEEKS', '4'),\n];",
        )
        .unwrap();
        let env = Env::new(
            vec![
                ("DB_BACKUP_KEEP_DAILY".into(), Some("3".into())),
                ("DB_BACKUP_KEEP_MONTHLY".into(), Some("6".into())),
                ("DB_BACKUP_AGE_PASSPHRASE".into(), Some("s3cret".into())),
            ],
            HashMap::new(),
        );
        let s = Settings::from_app(t.path(), &env);
        // Hard-coded in the config file: the .env key is ignored, as Laravel would.
        assert_eq!(s.count("keep_daily").unwrap(), Some(14));
        assert_eq!(
            s.duration("max_age").unwrap(),
            Some(chrono::Duration::hours(48))
        );
        assert_eq!(s.count("keep_weekly").unwrap(), Some(4));
        assert_eq!(s.count("keep_monthly").unwrap(), Some(6));
        assert_eq!(s.get("age_passphrase"), Some("s3cret"));
        assert!(!format!("{s:?}").contains("s3cret"));
    }

    #[test]
    fn handover_json_and_typed_errors_name_the_variable() {
        let s = Settings::from_handover(
            r#"{"binary":"/x","keep_daily":"7","keep_weekly":4,"disks":["s3","nas"],"max_total":null,"min_ratio":"half"}"#,
        )
        .unwrap();
        assert_eq!(s.count("keep_daily").unwrap(), Some(7));
        assert_eq!(s.count("keep_weekly").unwrap(), Some(4));
        assert_eq!(s.get("disks"), Some("s3,nas"));
        assert_eq!(s.disks(), ["s3", "nas"]);
        assert_eq!(s.size("max_total").unwrap(), None);
        let e = s.ratio("min_ratio").unwrap_err().to_string();
        assert!(
            e.contains("DB_BACKUP_MIN_RATIO") && !e.contains("half"),
            "{e}"
        );
        assert!(Settings::from_handover("[1]").is_err());
    }

    #[test]
    fn units() {
        assert_eq!(parse_duration("26h"), Some(chrono::Duration::hours(26)));
        assert_eq!(parse_duration("26"), Some(chrono::Duration::hours(26)));
        assert_eq!(parse_duration("90m"), Some(chrono::Duration::minutes(90)));
        assert_eq!(parse_duration("2d"), Some(chrono::Duration::days(2)));
        for bad in ["", "h", "-1h", "0", "2y", "1.5h"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
        assert_eq!(parse_ratio("50%"), Some(0.5));
        assert_eq!(parse_ratio("0.25"), Some(0.25));
        assert_eq!(parse_ratio("150%"), None);
        assert_eq!(parse_size("10G"), Some(10 << 30));
        assert_eq!(parse_size("1.5MiB"), Some(3 << 19));
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("10X"), None);
    }
}
