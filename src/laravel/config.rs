//! Defaults written in the app's `config/*.php`, read with regexes: we never run PHP here.

use std::path::Path;

use regex::Regex;

/// The default connection named in `config/database.php`:
/// `'default' => env('DB_CONNECTION', 'mysql')` or `'default' => 'sqlite'`.
pub fn default_connection(database_php: &Path) -> Option<String> {
    let text = std::fs::read_to_string(database_php).ok()?;
    first_default(&text, "default", "DB_CONNECTION")
}

/// The time zone in `config/app.php`: `'timezone' => 'UTC'` or
/// `'timezone' => env('APP_TIMEZONE', 'UTC')`.
pub fn app_timezone(app_php: &Path) -> Option<String> {
    let text = std::fs::read_to_string(app_php).ok()?;
    first_default(&text, "timezone", "APP_TIMEZONE")
}

/// The default a connection's block in `config/database.php` gives an env key, e.g.
/// `'database' => env('DB_DATABASE', 'forge')` inside `'mysql' => [ … ]` (Laravel 8–10 wrote
/// `forge`, 11+ writes `laravel`): the value the app itself falls back to.
pub fn connection_default(database_php: &Path, connection: &str, env_key: &str) -> Option<String> {
    let text = std::fs::read_to_string(database_php).ok()?;
    let block = connection_block(&text, connection)?;
    let re = Regex::new(&format!(
        r#"env\(\s*['"]{}['"]\s*,\s*['"]([^'"]*)['"]\s*\)"#,
        regex::escape(env_key)
    ))
    .ok()?;
    re.captures(block).map(|c| c[1].to_string())
}

/// The text of `'name' => [ … ]`, from its line to the `]` at the same indentation.
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

/// The literal a config key falls back to, either directly or as `env(...)`'s default.
fn first_default(text: &str, key: &str, env_key: &str) -> Option<String> {
    let pattern =
        format!(r#"['"]{key}['"]\s*=>\s*(?:env\(\s*['"]{env_key}['"]\s*,\s*)?['"]([^'"]+)['"]"#);
    let re = Regex::new(&pattern).ok()?;
    // Skip commented-out lines so `// 'default' => 'pgsql'` is not taken for the real one.
    text.lines()
        .filter(|l| {
            let t = l.trim_start();
            !(t.starts_with("//") || t.starts_with('#') || t.starts_with('*'))
        })
        .find_map(|l| re.captures(l).map(|c| c[1].to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_env_default_and_plain_literal() {
        let t = "    'default' => env('DB_CONNECTION', 'sqlite'),\n";
        assert_eq!(
            first_default(t, "default", "DB_CONNECTION").as_deref(),
            Some("sqlite")
        );
        let t = "// 'default' => 'pgsql',\n'default' => \"mysql\",\n";
        assert_eq!(
            first_default(t, "default", "DB_CONNECTION").as_deref(),
            Some("mysql")
        );
        let t = "'timezone' => env('APP_TIMEZONE', 'Africa/Abidjan'),";
        assert_eq!(
            first_default(t, "timezone", "APP_TIMEZONE").as_deref(),
            Some("Africa/Abidjan")
        );
        assert_eq!(
            first_default(
                "'default' => env('DB_CONNECTION'),",
                "default",
                "DB_CONNECTION"
            ),
            None
        );
    }
}
