//! Which phpdotenv release the app runs, from its Composer files, and which reading rules that
//! release follows.

use std::fmt;
use std::path::Path;

use super::Rules;

/// The app's phpdotenv release, as far as reading `.env` goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// The version as Composer recorded it (`v5.6.1`), or `None` when it was not found.
    pub version: Option<String>,
    /// Where the version came from, for messages.
    pub source: &'static str,
    pub(super) choice: Choice,
}

/// The rules a release follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Choice {
    /// One known set of rules.
    Known(Rules),
    /// A release between two verified ones whose own rules could not be checked: a file is
    /// read only when both neighbours read it the same way.
    Between(Rules, Rules),
}

/// Laravel 10 to 12 require phpdotenv ^5.4.1 / ^5.6: without any record, assume 5.6.
const DEFAULT_RULES: Rules = Rules::V5_6;

impl Default for Release {
    fn default() -> Release {
        Release {
            version: None,
            source:
                "assumed: no vlucas/phpdotenv in vendor/composer/installed.json or composer.lock",
            choice: Choice::Known(DEFAULT_RULES),
        }
    }
}

impl Release {
    /// The release installed in the app at `dir`: `vendor/composer/installed.json` (what runs),
    /// else `composer.lock` (what would be installed), else the default.
    ///
    /// An unreadable or malformed file counts as missing: the app itself never reads these
    /// files at run time, so they cannot make it fail.
    pub fn of_app(dir: &Path) -> Release {
        let found = [
            (
                "vendor/composer/installed.json",
                "vendor/composer/installed.json",
            ),
            ("composer.lock", "composer.lock"),
        ]
        .into_iter()
        .find_map(|(file, source)| {
            let text = std::fs::read_to_string(dir.join(file)).ok()?;
            Some((version_in_composer_json(&text)?, source))
        });
        match found {
            Some((version, source)) => Release::from_version(&version, source),
            None => Release::default(),
        }
    }

    /// The release for a Composer version string (`v5.6.1`, `5.6.1.0`, `5.6.x-dev`).
    pub fn from_version(version: &str, source: &'static str) -> Release {
        Release {
            version: Some(version.to_string()),
            source,
            choice: choice_for(version),
        }
    }

    /// A release that follows exactly `rules`.
    #[cfg(test)]
    pub fn with_rules(rules: Rules) -> Release {
        Release {
            version: None,
            source: "as asked",
            choice: Choice::Known(rules),
        }
    }
}

impl fmt::Display for Release {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.version, self.choice) {
            (Some(v), _) => write!(f, "phpdotenv {v} ({})", self.source),
            (None, Choice::Known(rules)) => write!(f, "phpdotenv {rules} ({})", self.source),
            (None, Choice::Between(a, b)) => {
                write!(f, "phpdotenv between {a} and {b} ({})", self.source)
            }
        }
    }
}

/// Finds vlucas/phpdotenv's version in Composer's `installed.json` (Composer 1: a list of
/// packages; Composer 2: `{"packages": [...]}`) or `composer.lock` (`packages`, `packages-dev`).
fn version_in_composer_json(text: &str) -> Option<String> {
    let json: serde_json::Value = serde_json::from_str(text).ok()?;
    let lists: Vec<&serde_json::Value> = match &json {
        serde_json::Value::Array(_) => vec![&json],
        serde_json::Value::Object(map) => ["packages", "packages-dev"]
            .iter()
            .filter_map(|k| map.get(*k))
            .collect(),
        _ => return None,
    };
    let package = lists
        .iter()
        .filter_map(|list| list.as_array())
        .flatten()
        .find(|p| p.get("name").and_then(|n| n.as_str()) == Some("vlucas/phpdotenv"))?;
    // A branch checkout (`dev-master`) says what it will become in its branch alias.
    let alias = package
        .pointer("/extra/branch-alias")
        .and_then(|a| a.as_object())
        .and_then(|a| a.values().find_map(|v| v.as_str()));
    let version = package.get("version").and_then(|v| v.as_str())?;
    match (major_minor(version), alias) {
        (None, Some(alias)) => Some(alias.to_string()),
        _ => Some(version.to_string()),
    }
}

/// `(major, minor)` of `v5.6.1`, `5.6.1.0` or `5.6.x-dev`; `None` for `dev-master`.
fn major_minor(version: &str) -> Option<(u32, u32)> {
    // Leading digits of each part, so that the `6` of a `5.6-dev` alias counts.
    let number = |part: &str| -> Option<u32> {
        let digits = part.len() - part.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        part[..digits].parse().ok()
    };
    let mut parts = version.trim_start_matches(['v', 'V']).split('.');
    let major = number(parts.next()?)?;
    let minor = parts.next().and_then(number).unwrap_or(0);
    Some((major, minor))
}

/// The rules of each release line, as checked against phpdotenv's source:
/// 5.4.1 (Debian bookworm), 5.6.1 (Debian trixie) and 5.8.0 (Debian sid), whose changes are
/// listed on [`Rules`]. 5.7 could not be obtained, so it gets [`Choice::Between`].
fn choice_for(version: &str) -> Choice {
    match major_minor(version) {
        // 5.0 to 5.4 share 5.4's rules. 3.x and 4.x have older parsers that are not modelled;
        // 5.4's rules are the closest there is.
        Some((major, minor)) if major < 5 || (major == 5 && minor <= 4) => {
            Choice::Known(Rules::V5_4)
        }
        Some((5, 5 | 6)) => Choice::Known(Rules::V5_6),
        Some((5, 7)) => Choice::Between(Rules::V5_6, Rules::V5_8),
        // Newer releases and unaliased development branches: the newest rules known.
        _ => Choice::Known(Rules::V5_8),
    }
}
