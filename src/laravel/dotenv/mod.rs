//! Reads a Laravel `.env` file exactly as the app's own vlucas/phpdotenv release does, and
//! resolves it as Laravel's immutable repository does.
//!
//! The `dotenvy` crate is deliberately not used: it disagrees with phpdotenv on comments,
//! `$`, escapes, quotes, duplicate keys and more, and a backup tool that reads a different
//! password than the application uses is worse than useless.
//!
//! The code mirrors phpdotenv's pipeline step by step so that its quirks are reproduced:
//! 0. turn the bytes into UTF-8 text (`Str::utf8`): [`decode`];
//! 1. split into lines on `\r\n`, `\n` or `\r` (`Parser::parse`), and
//! 2. glue multi-line double-quoted values back together (`Lines::process`): `lines`;
//! 3. split each entry into name and value and run the value through a token-level state
//!    machine (`Lexer`, `EntryParser`): `entry`;
//! 4. resolve `${NAME}` references in the order entries appear (`Loader`, `Resolver`): `resolve`.
//!
//! phpdotenv's rules changed between releases (see [`Rules`]), so [`Release::of_app`] finds the
//! app's release in its Composer files and [`parse`] follows that release.

mod entry;
mod lines;
mod resolve;
#[cfg(test)]
mod tests;
mod version;

use std::collections::HashMap;
use std::fmt;

pub use entry::NameFault;
use version::Choice;
pub use version::Release;

/// A set of phpdotenv reading rules, named after the release each was checked against.
///
/// From 5.4 to 5.6 (5.5.0 brought both changes):
/// - names may be Unicode letters, marks and numbers (vlucas/phpdotenv#546);
/// - a line inside a multi-line value no longer starts a new one (vlucas/phpdotenv#545).
///
/// From 5.6 to 5.8:
/// - `export` is stripped before one-letter names too (vlucas/phpdotenv#599);
/// - a `#` before `="` keeps a comment from opening a multi-line value (vlucas/phpdotenv#615);
/// - a quote at the start of a line closes a multi-line value;
/// - a multi-line value still open at the end of the file is an error instead of vanishing
///   with every line after it (vlucas/phpdotenv#610).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rules {
    /// phpdotenv 5.0 to 5.4 (checked against 5.4.1).
    V5_4,
    /// phpdotenv 5.5 and 5.6 (checked against 5.6.1).
    V5_6,
    /// phpdotenv 5.8 (checked against 5.8.0).
    V5_8,
}

impl fmt::Display for Rules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rules::V5_4 => "5.4",
            Rules::V5_6 => "5.6",
            Rules::V5_8 => "5.8",
        })
    }
}

/// A `.env` file the app's phpdotenv would reject, or that db-backup cannot read for sure.
///
/// It names the line and, when known, the variable, but never any part of a value: values are
/// passwords and keys, and this message ends up in terminals and CI logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line where the failing entry starts.
    pub line: usize,
    /// The variable's name, once it was read and found valid.
    pub key: Option<String>,
    /// What is wrong.
    pub problem: Problem,
    /// The rules that rejected the file.
    pub rules: Rules,
    /// The app's release as found (`phpdotenv v5.6.1 (vendor/composer/installed.json)`).
    pub release: String,
}

/// What is wrong with an entry (no text from the file: see [`ParseError`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// A line starting with `=`.
    MissingName,
    /// A name phpdotenv does not accept.
    InvalidName(NameFault),
    /// An unquoted value with whitespace in it.
    UnquotedWhitespace,
    /// Something other than whitespace or a comment after a closing quote.
    TextAfterQuote,
    /// A backslash in double quotes before something other than `" \ $ f n r t v`.
    BadEscape,
    /// A single-quoted value without its closing quote.
    UnterminatedSingle,
    /// A double-quoted value without its closing quote.
    UnterminatedDouble,
    /// A double-quoted value that ends in a lone backslash.
    UnterminatedEscape,
    /// phpdotenv 5.7, whose rules could not be checked, may read this entry either way.
    Unverified,
}

impl ParseError {
    fn describe(&self) -> &'static str {
        match self.problem {
            Problem::MissingName => "missing variable name before '='",
            Problem::InvalidName(fault) => fault.describe(self.rules),
            Problem::UnquotedWhitespace => {
                "unquoted value contains whitespace (wrap the value in quotes)"
            }
            Problem::TextAfterQuote => "unexpected text after the closing quote",
            Problem::BadEscape => {
                "unsupported escape sequence in double-quoted value (allowed: \\\" \\\\ \\$ \\f \\n \\r \\t \\v)"
            }
            Problem::UnterminatedSingle => "unterminated single-quoted value",
            Problem::UnterminatedDouble => "unterminated double-quoted value",
            Problem::UnterminatedEscape => {
                "unterminated double-quoted value (ends in a backslash)"
            }
            Problem::Unverified => {
                "phpdotenv 5.6 and 5.8 read this entry differently and 5.7 could not be checked; \
                 rewrite it so that both agree (plain quoting, no stray quotes or comments with =\")"
            }
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}", self.line)?;
        if let Some(key) = &self.key {
            write!(f, " ({key})")?;
        }
        write!(f, ": {}", self.describe())?;
        match self.problem {
            Problem::Unverified => write!(f, " [{}]", self.release),
            _ => write!(f, " [{} rejects it too]", self.release),
        }
    }
}

impl std::error::Error for ParseError {}

/// Turns the file's bytes into text as phpdotenv does (`Str::utf8`, through mbstring's
/// UTF-8 to UTF-8 conversion), then drops one leading byte-order mark as it does.
///
/// mbstring replaces each invalid sequence with one `?`, grouping bad bytes the way Unicode
/// recommends ("maximal subparts", as PHP 8.2 was checked to do) — the same groups as Rust's
/// lossy decoding, which would write U+FFFD instead. So `DB_DATABASE=/srv/caf\xe9.sqlite` in a
/// Latin-1 file names `/srv/caf?.sqlite`, the file the app opens.
pub fn decode(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        text.push_str(chunk.valid());
        if !chunk.invalid().is_empty() {
            text.push('?');
        }
    }
    match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => text,
    }
}

/// Parses .env text as the app's phpdotenv `release` does and resolves it the way Laravel's
/// immutable repository does.
///
/// `content` comes from [`decode`]. `lookup(name)` gives the real process environment, which
/// always wins over the file. Returns the final value of every key named in the file, in
/// first-appearance order; `None` means the key ends up unset (e.g. a bare `A` line).
/// Real-environment values are NOT substituted into the result map for keys the file defines —
/// the caller applies "real env wins"; but `${VAR}` interpolation sees real env first, then
/// values defined earlier in the file.
pub fn parse(
    content: &str,
    release: &Release,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, Option<String>)>, ParseError> {
    let vars = match release.choice {
        Choice::Known(rules) => load(content, rules, lookup),
        Choice::Between(older, newer) => {
            agreed(load(content, older, lookup), load(content, newer, lookup))
        }
    };
    match vars {
        Ok(vars) => Ok(vars.into_iter().map(|v| (v.name, v.value)).collect()),
        Err(e) => Err(ParseError {
            release: release.to_string(),
            ..e
        }),
    }
}

/// A variable as the file leaves it, with the line of its first assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Var {
    name: String,
    value: Option<String>,
    line: usize,
}

/// The result both rule sets give, or an error at the first entry where they differ.
fn agreed(
    older: Result<Vec<Var>, ParseError>,
    newer: Result<Vec<Var>, ParseError>,
) -> Result<Vec<Var>, ParseError> {
    let unverified = |line: usize, key: Option<String>, rules: Rules| ParseError {
        line,
        key,
        problem: Problem::Unverified,
        rules,
        release: String::new(),
    };
    match (older, newer) {
        (Ok(a), Ok(b)) if a == b => Ok(a),
        (Err(e), Err(_)) => Err(e),
        (Err(e), Ok(_)) | (Ok(_), Err(e)) => Err(unverified(e.line, e.key, e.rules)),
        (Ok(a), Ok(b)) => {
            let differs = (0..a.len().max(b.len())).find(|&i| a.get(i) != b.get(i));
            let first = differs
                .and_then(|i| a.get(i).or(b.get(i)))
                .expect("unequal lists differ at some index");
            Err(unverified(
                first.line,
                Some(first.name.clone()),
                Rules::V5_8,
            ))
        }
    }
}

/// Parses under one set of rules, then resolves and loads like Laravel's immutable repository.
fn load(
    content: &str,
    rules: Rules,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<Var>, ParseError> {
    // phpdotenv parses every entry before loading any of them, so a bad line anywhere means
    // nothing is loaded. Parsing all entries first gives the same all-or-nothing result.
    let mut entries = Vec::new();
    for (line, raw) in lines::raw_entries(content, rules) {
        let entry = entry::parse_entry(&raw, rules).map_err(|e| ParseError {
            line,
            key: e.key,
            problem: e.problem,
            rules,
            release: String::new(),
        })?;
        entries.push((line, entry));
    }

    // What the repository holds for names the file has written. Names that the real
    // environment defines never land here: the immutable writer refuses to touch them.
    let mut loaded: HashMap<String, String> = HashMap::new();
    let mut vars: Vec<Var> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();

    for (line, entry) in entries {
        let value = entry.value.map(|v| {
            resolve::resolve(&v, &|name: &str| {
                lookup(name).or_else(|| loaded.get(name).cloned())
            })
        });
        if lookup(&entry.name).is_none() {
            match &value {
                Some(v) => {
                    loaded.insert(entry.name.clone(), v.clone());
                }
                // A bare `NAME` line clears a value the file set earlier, so later
                // `${NAME}` references no longer resolve.
                None => {
                    loaded.remove(&entry.name);
                }
            }
        }
        // Last occurrence wins, as each phpdotenv write overwrites the previous one.
        match index.get(&entry.name) {
            Some(&i) => vars[i].value = value,
            None => {
                index.insert(entry.name.clone(), vars.len());
                vars.push(Var {
                    name: entry.name,
                    value,
                    line,
                });
            }
        }
    }
    Ok(vars)
}

/// The value of a Laravel `env()` call after its literal conversion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvValue {
    /// `true`/`(true)` or `false`/`(false)`.
    Bool(bool),
    /// `null`/`(null)`.
    Null,
    /// Any other string, with one pair of matching outer quotes removed.
    Str(String),
}

/// Laravel's `env()` literal conversion (`Illuminate\Support\Env::get`) for a raw string.
pub fn env_literal(raw: &str) -> EnvValue {
    // Laravel lower-cases with strtolower, which only folds ASCII letters.
    match raw.to_ascii_lowercase().as_str() {
        "true" | "(true)" => return EnvValue::Bool(true),
        "false" | "(false)" => return EnvValue::Bool(false),
        "empty" | "(empty)" => return EnvValue::Str(String::new()),
        "null" | "(null)" => return EnvValue::Null,
        _ => {}
    }
    // Laravel then applies /\A(['"])(.*)\1\z/: the same quote at both ends, and since `.`
    // does not match a line feed, a value containing `\n` keeps its quotes.
    let bytes = raw.as_bytes();
    if let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) {
        if bytes.len() >= 2 && (first == b'"' || first == b'\'') && last == first {
            let inner = &raw[1..raw.len() - 1];
            if !inner.contains('\n') {
                return EnvValue::Str(inner.to_string());
            }
        }
    }
    EnvValue::Str(raw.to_string())
}

/// PHP's default `trim()` set: space, `\t`, `\n`, `\r`, NUL and `\v` — but not `\f`.
fn is_php_trim_char(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\0' | '\x0B')
}

fn php_trim(s: &str) -> &str {
    s.trim_matches(is_php_trim_char)
}
