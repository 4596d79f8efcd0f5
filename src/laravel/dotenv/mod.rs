//! Reads a Laravel `.env` file exactly as Laravel does, i.e. as vlucas/phpdotenv 5.x
//! (checked against 5.4.1) parses it and as Laravel's immutable repository resolves it.
//!
//! The `dotenvy` crate is deliberately not used: it disagrees with phpdotenv on comments,
//! `$`, escapes, quotes, duplicate keys and more, and a backup tool that reads a different
//! password than the application uses is worse than useless.
//!
//! The code mirrors phpdotenv's pipeline step by step so that its quirks are reproduced:
//! 1. split into lines on `\r\n`, `\n` or `\r` (`Parser::parse`);
//! 2. glue multi-line double-quoted values back together (`Lines::process`);
//! 3. split each entry into name and value and run the value through a token-level state
//!    machine (`Lexer`, `EntryParser`);
//! 4. resolve `${NAME}` references in the order entries appear (`Loader`, `Resolver`).

use std::collections::HashMap;
use std::fmt;

/// A line Laravel (phpdotenv) would reject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line where the failing entry starts.
    pub line: usize,
    /// Short human-readable reason.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

/// Parses .env text as phpdotenv 5 does and resolves it the way Laravel's immutable repository does.
///
/// `lookup(name)` gives the real process environment, which always wins over the file.
/// Returns the final value of every key named in the file, in first-appearance order;
/// `None` means the key ends up unset (e.g. a bare `A` line). Real-environment values are NOT
/// substituted into the result map for keys the file defines — the caller applies "real env wins";
/// but `${VAR}` interpolation sees real env first, then values defined earlier in the file.
pub fn parse(
    content: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, Option<String>)>, ParseError> {
    // phpdotenv's file reader (Str::utf8) drops one leading UTF-8 BOM; Laravel always reads
    // through it, so we do the same.
    let content = content.strip_prefix('\u{feff}').unwrap_or(content);

    // phpdotenv parses every entry before loading any of them, so a bad line anywhere means
    // nothing is loaded. Parsing all entries first gives the same all-or-nothing result.
    let mut entries = Vec::new();
    for (line, raw) in raw_entries(content) {
        let entry = parse_entry(&raw).map_err(|message| ParseError { line, message })?;
        entries.push(entry);
    }

    // What the repository holds for names the file has written. Names that the real
    // environment defines never land here: the immutable writer refuses to touch them.
    let mut loaded: HashMap<String, String> = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut result: HashMap<String, Option<String>> = HashMap::new();

    for entry in entries {
        let value = entry.value.map(|v| {
            resolve(&v, &|name: &str| {
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
        if !result.contains_key(&entry.name) {
            order.push(entry.name.clone());
        }
        // Last occurrence wins, as each phpdotenv write overwrites the previous one.
        result.insert(entry.name, value);
    }

    Ok(order
        .into_iter()
        .map(|name| {
            let value = result.remove(&name).flatten();
            (name, value)
        })
        .collect())
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

/// One parsed `NAME=value` entry; `value` is `None` for a bare `NAME` line.
struct Entry {
    name: String,
    value: Option<RawValue>,
}

/// A value before interpolation: its text plus the byte offsets of `$` signs that may start
/// a `${NAME}` reference (escaped `\$` and single-quoted `$` are not recorded).
struct RawValue {
    chars: String,
    vars: Vec<usize>,
}

impl RawValue {
    /// A `$` that may start a `${VAR}` reference: remembered for interpolation.
    fn push_dollar(&mut self) {
        self.vars.push(self.chars.len());
        self.chars.push('$');
    }
}

/// PHP's default `trim()` set: space, `\t`, `\n`, `\r`, NUL and `\v` — but not `\f`.
fn is_php_trim_char(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\0' | '\x0B')
}

fn php_trim(s: &str) -> &str {
    s.trim_matches(is_php_trim_char)
}

/// C `isspace` in the "C" locale, as used by PHP's `ctype_space` and PCRE's `\s`.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\x0B' | b'\x0C' | b'\r')
}

/// Splits into lines the way phpdotenv does: on `\r\n`, `\n` or a lone `\r`.
fn split_lines(content: &str) -> Vec<&str> {
    let bytes = content.as_bytes();
    let mut lines = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\r' => {
                lines.push(&content[start..i]);
                i += if bytes.get(i + 1) == Some(&b'\n') {
                    2
                } else {
                    1
                };
                start = i;
            }
            b'\n' => {
                lines.push(&content[start..i]);
                i += 1;
                start = i;
            }
            _ => i += 1,
        }
    }
    lines.push(&content[start..]);
    lines
}

/// Groups lines into raw entries with their 1-based starting line, as `Lines::process` does.
///
/// phpdotenv decides where a multi-line value starts and stops by counting unescaped double
/// quotes on each line, before (and independently of) real parsing. Its consequences are
/// reproduced on purpose: any line containing `="` with a single unescaped quote after
/// position 0 (even a `#` comment) opens a block that swallows the following lines up to the
/// next line with a quote, and a block still open at end of file is silently dropped.
fn raw_entries(content: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut multiline = false;
    let mut buffer: Vec<&str> = Vec::new();
    let mut buffer_start = 0;

    for (index, line) in split_lines(content).into_iter().enumerate() {
        let line_no = index + 1;
        let started = looks_like_multiline_start(line);
        if started {
            multiline = true;
        }
        if multiline {
            if buffer.is_empty() {
                buffer_start = line_no;
            }
            buffer.push(line);
            if looks_like_multiline_stop(line, started) {
                multiline = false;
                let joined = buffer.join("\n");
                buffer.clear();
                if !is_comment_or_whitespace(&joined) {
                    out.push((buffer_start, joined));
                }
            }
        } else if !is_comment_or_whitespace(line) {
            out.push((line_no, line.to_string()));
        }
    }
    out
}

fn looks_like_multiline_start(line: &str) -> bool {
    line.contains("=\"") && !looks_like_multiline_stop(line, true)
}

/// phpdotenv counts matches of `(?=([^\\]"))` after deleting every `\\` pair: that is, the
/// quotes not at position 0 and not preceded by a backslash. The opening line needs two of
/// them (its own `="` is one), a continuation line one.
fn looks_like_multiline_stop(line: &str, started: bool) -> bool {
    if line == "\"" {
        return true;
    }
    let stripped = line.replace("\\\\", "");
    let count = stripped
        .as_bytes()
        .windows(2)
        .filter(|w| w[0] != b'\\' && w[1] == b'"')
        .count();
    if started {
        count > 1
    } else {
        count >= 1
    }
}

fn is_comment_or_whitespace(line: &str) -> bool {
    let trimmed = php_trim(line);
    trimmed.is_empty() || trimmed.starts_with('#')
}

/// Splits an entry at the first `=` and parses both halves (`EntryParser::parse`).
fn parse_entry(raw: &str) -> Result<Entry, String> {
    // phpdotenv trims both halves only when there is an `=`; a bare name is left as is,
    // so `  NAME` or `NAME ` alone is an invalid name.
    let (name, value) = match raw.find('=') {
        Some(eq) => (php_trim(&raw[..eq]), Some(php_trim(&raw[eq + 1..]))),
        None => (raw, None),
    };
    if name.is_empty() {
        return Err("missing variable name before '='".to_string());
    }
    let name = parse_name(name)?;
    let value = match value {
        Some(v) => Some(parse_value(v)?),
        None => None,
    };
    Ok(Entry { name, value })
}

/// Strips an `export ` prefix and one pair of quotes, then validates the name (`parseName`).
fn parse_name(name: &str) -> Result<String, String> {
    let mut name = name;
    // phpdotenv only strips `export` when the whole name is longer than 8 characters, so
    // `export A=1` (one-letter name) is rejected while `export AB=1` is accepted.
    if name.chars().count() > 8
        && name.starts_with("export")
        && name.as_bytes().get(6).copied().is_some_and(is_c_space)
    {
        name = name[6..].trim_start_matches(is_php_trim_char);
    }
    let quoted = name.chars().count() >= 3
        && ((name.starts_with('"') && name.ends_with('"'))
            || (name.starts_with('\'') && name.ends_with('\'')));
    if quoted {
        // Both quotes are single ASCII bytes, so these are char boundaries.
        name = &name[1..name.len() - 1];
    }
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.');
    if valid {
        Ok(name.to_string())
    } else if name.starts_with("export") {
        Err(format!(
            "invalid variable name {name:?} (phpdotenv only strips `export ` before names of 2+ characters)"
        ))
    } else {
        Err(format!("invalid variable name {name:?}"))
    }
}

/// Token classes of phpdotenv's `Lexer`; runs of newlines, other whitespace and ordinary
/// text become one token each, everything else is a one-byte token.
#[derive(Clone, Copy, PartialEq, Eq)]
enum TokenKind {
    Newlines,
    Spaces,
    Backslash,
    SingleQuote,
    DoubleQuote,
    Hash,
    Dollar,
    Text,
}

fn kind_of(b: u8) -> TokenKind {
    match b {
        b'\r' | b'\n' => TokenKind::Newlines,
        b' ' | b'\t' | b'\x0B' | b'\x0C' => TokenKind::Spaces,
        b'\\' => TokenKind::Backslash,
        b'\'' => TokenKind::SingleQuote,
        b'"' => TokenKind::DoubleQuote,
        b'#' => TokenKind::Hash,
        b'$' => TokenKind::Dollar,
        _ => TokenKind::Text,
    }
}

/// Splits a value into tokens exactly as `Lexer::lex` does.
fn lex(value: &str) -> Vec<(TokenKind, &str)> {
    let bytes = value.as_bytes();
    let mut tokens = Vec::new();
    let mut start = 0;
    while start < bytes.len() {
        let kind = kind_of(bytes[start]);
        let mut end = start + 1;
        match kind {
            // The lexer caps whitespace runs at 1000 bytes. It only matters for a value that
            // starts with form feeds (which `trim` keeps), but it costs nothing to match.
            TokenKind::Newlines | TokenKind::Spaces => {
                while end < bytes.len() && end - start < 1000 && kind_of(bytes[end]) == kind {
                    end += 1;
                }
            }
            // Text runs are also capped at 1000 there, but splitting them never changes the
            // result, and not splitting keeps multi-byte characters whole.
            TokenKind::Text => {
                while end < bytes.len() && kind_of(bytes[end]) == kind {
                    end += 1;
                }
            }
            _ => {}
        }
        // Token boundaries fall on ASCII bytes or the end, so they are char boundaries.
        tokens.push((kind, &value[start..end]));
        start = end;
    }
    tokens
}

/// States of `EntryParser`'s value automaton.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Initial,
    Unquoted,
    SingleQuoted,
    DoubleQuoted,
    Escape,
    /// After a value has ended; only whitespace or a `#` comment may follow. The flag tells
    /// whether it ended with a closing quote, for a clearer error message.
    Whitespace {
        after_quote: bool,
    },
    Comment,
}

/// Runs phpdotenv's value automaton over an already trimmed value (`parseValue`).
fn parse_value(value: &str) -> Result<RawValue, String> {
    let mut out = RawValue {
        chars: String::new(),
        vars: Vec::new(),
    };
    if value.is_empty() {
        return Ok(out);
    }
    let mut state = State::Initial;
    for (kind, token) in lex(value) {
        let is_space = matches!(kind, TokenKind::Newlines | TokenKind::Spaces);
        state = match state {
            State::Initial => match kind {
                TokenKind::SingleQuote => State::SingleQuoted,
                TokenKind::DoubleQuote => State::DoubleQuoted,
                TokenKind::Hash => State::Comment,
                TokenKind::Dollar => {
                    out.push_dollar();
                    State::Unquoted
                }
                // Includes leading whitespace that `trim` keeps (form feed), which phpdotenv
                // takes literally as the start of an unquoted value.
                _ => {
                    out.chars.push_str(token);
                    State::Unquoted
                }
            },
            State::Unquoted => match kind {
                TokenKind::Hash => State::Comment,
                _ if is_space => State::Whitespace { after_quote: false },
                TokenKind::Dollar => {
                    out.push_dollar();
                    State::Unquoted
                }
                // Quotes and backslashes inside an unquoted value are literal (`a"b`, `C:\x`).
                _ => {
                    out.chars.push_str(token);
                    State::Unquoted
                }
            },
            State::SingleQuoted => match kind {
                TokenKind::SingleQuote => State::Whitespace { after_quote: true },
                // Everything is literal in single quotes, `$` and `\` included.
                _ => {
                    out.chars.push_str(token);
                    State::SingleQuoted
                }
            },
            State::DoubleQuoted => match kind {
                TokenKind::DoubleQuote => State::Whitespace { after_quote: true },
                TokenKind::Backslash => State::Escape,
                TokenKind::Dollar => {
                    out.push_dollar();
                    State::DoubleQuoted
                }
                _ => {
                    out.chars.push_str(token);
                    State::DoubleQuoted
                }
            },
            State::Escape => match kind {
                // `\"`, `\\` and `\$` give the character itself; an escaped `$` never
                // interpolates.
                TokenKind::DoubleQuote | TokenKind::Backslash | TokenKind::Dollar => {
                    out.chars.push_str(token);
                    State::DoubleQuoted
                }
                // phpdotenv looks only at the first character of the next token, so `\tab`
                // is a tab followed by "ab".
                TokenKind::Text => {
                    let replacement = match token.as_bytes().first() {
                        Some(b'f') => '\x0C',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'v') => '\x0B',
                        _ => return Err(unexpected_escape(token)),
                    };
                    out.chars.push(replacement);
                    out.chars.push_str(&token[1..]);
                    State::DoubleQuoted
                }
                _ => return Err(unexpected_escape(token)),
            },
            State::Whitespace { after_quote } => match kind {
                TokenKind::Hash => State::Comment,
                _ if is_space => State::Whitespace { after_quote },
                _ if after_quote => {
                    return Err(format!("unexpected text {token:?} after closing quote"))
                }
                _ => {
                    return Err(
                        "unquoted value contains whitespace (wrap the value in quotes)".to_string(),
                    )
                }
            },
            State::Comment => State::Comment,
        };
    }
    match state {
        State::SingleQuoted => Err("unterminated single-quoted value".to_string()),
        State::DoubleQuoted => Err("unterminated double-quoted value".to_string()),
        State::Escape => Err("unterminated double-quoted value (ends in a backslash)".to_string()),
        _ => Ok(out),
    }
}

fn unexpected_escape(token: &str) -> String {
    let shown: String = token.chars().take(1).collect();
    format!(
        "unsupported escape sequence {:?} in double-quoted value (allowed: \\\" \\\\ \\$ \\f \\n \\r \\t \\v)",
        format!("\\{shown}")
    )
}

/// Replaces `${NAME}` references as phpdotenv's `Resolver` does.
///
/// It walks the recorded `$` positions from last to first, replacing a reference only when
/// `get` knows the name and leaving unknown ones (`${UNDEF}`) verbatim. Going backwards means a
/// substituted value can complete a reference that starts earlier (`$${B}` with `B={A}` reads
/// `${A}`); phpdotenv does exactly that, so we do too.
fn resolve(value: &RawValue, get: &dyn Fn(&str) -> Option<String>) -> String {
    let mut s = value.chars.clone();
    let mut positions = value.vars.clone();
    positions.sort_unstable_by(|a, b| b.cmp(a));
    for pos in positions {
        // Only text after `pos` has changed, so `pos` is still a char boundary at a `$`.
        let Some(rest) = s.get(pos..) else { continue };
        if let Some((name, len)) = reference_at(rest) {
            if let Some(replacement) = get(name) {
                s.replace_range(pos..pos + len, &replacement);
            }
        }
    }
    s
}

/// Matches `\A\$\{([a-zA-Z0-9_.]+)\}`, returning the name and the byte length of the match.
fn reference_at(s: &str) -> Option<(&str, usize)> {
    let body = s.strip_prefix("${")?;
    let name_len = body
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'.')
        .count();
    if name_len == 0 || body.as_bytes().get(name_len) != Some(&b'}') {
        return None;
    }
    Some((&body[..name_len], 2 + name_len + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    /// Parses with an empty real environment.
    fn p(content: &str) -> Result<Vec<(String, Option<String>)>, ParseError> {
        parse(content, &no_env)
    }

    /// Parses and returns the final value of one key (panics if parsing fails or the key is absent).
    fn val(content: &str, key: &str) -> Option<String> {
        let parsed = p(content).unwrap_or_else(|e| panic!("{content:?} failed: {e}"));
        parsed
            .into_iter()
            .find(|(k, _)| k == key)
            .unwrap_or_else(|| panic!("{key} not in result of {content:?}"))
            .1
    }

    fn s(v: &str) -> Option<String> {
        Some(v.to_string())
    }

    fn err_line(content: &str) -> usize {
        match p(content) {
            Ok(v) => panic!("{content:?} should fail, got {v:?}"),
            Err(e) => e.line,
        }
    }

    /// Why this parser exists: on these ordinary lines dotenvy (the usual Rust crate) reads a
    /// different value than Laravel, or fails where Laravel succeeds. Each row pins both sides, so
    /// a dotenvy release that changes behaviour shows up here.
    #[test]
    fn dotenvy_disagrees_with_laravel_on_these_lines() {
        let dotenvy_reads = |content: &str| -> Result<Option<String>, ()> {
            let mut last = None;
            for item in dotenvy::from_read_iter(content.as_bytes()) {
                let (k, v) = item.map_err(|_| ())?;
                // dotenvy keeps the first duplicate when loading; mirror what `load` would set.
                if k == "A" && last.is_none() {
                    last = Some(v);
                }
            }
            Ok(last)
        };
        let ours = |content: &str| {
            p(content).map(|v| {
                v.into_iter()
                    .rev()
                    .find(|(k, _)| k == "A")
                    .and_then(|(_, v)| v)
            })
        };
        type Read<'a> = Result<Option<&'a str>, ()>;
        let rows: [(&str, Read, Read); 9] = [
            ("A=abc#123\n", Ok(Some("abc")), Ok(Some("abc#123"))),
            ("A=pa$word\n", Ok(Some("pa$word")), Ok(Some("pa"))),
            ("A=\"${UNDEF}z\"\n", Ok(Some("${UNDEF}z")), Ok(Some("z"))),
            ("A=\"tab\\there\"\n", Ok(Some("tab\there")), Err(())),
            ("A=\"it\\'s\"\n", Err(()), Ok(Some("it's"))),
            ("A=C:\\path\n", Ok(Some("C:\\path")), Err(())),
            ("A=a\"b\n", Ok(Some("a\"b")), Err(())),
            ("1A=x\nA=y\n", Ok(Some("y")), Err(())),
            ("A=first\nA=last\n", Ok(Some("last")), Ok(Some("first"))),
        ];
        for (line, laravel, dotenvy) in rows {
            let laravel = laravel.map(|v| v.map(String::from));
            let dotenvy = dotenvy.map(|v| v.map(String::from));
            assert_eq!(ours(line).map_err(|_| ()), laravel, "ours on {line:?}");
            assert_eq!(dotenvy_reads(line), dotenvy, "dotenvy on {line:?}");
            assert_ne!(laravel, dotenvy);
        }
    }

    // --- the table in laravel-env.md ---

    #[test]
    fn hash_starts_comment_in_unquoted_value() {
        assert_eq!(val("A=abc#123", "A"), s("abc"));
    }

    #[test]
    fn dollar_without_braces_is_literal() {
        assert_eq!(val("A=pa$word", "A"), s("pa$word"));
        assert_eq!(val("A=$B", "A"), s("$B"));
    }

    #[test]
    fn undefined_reference_kept_verbatim() {
        assert_eq!(val("A=\"${UNDEF}z\"", "A"), s("${UNDEF}z"));
    }

    #[test]
    fn double_quote_escapes() {
        assert_eq!(val(r#"A="tab\there""#, "A"), s("tab\there"));
        assert_eq!(val(r#"A="\r\f\v\n""#, "A"), s("\r\x0C\x0B\n"));
        assert_eq!(val(r#"A="q\"b\\s\$x""#, "A"), s("q\"b\\s$x"));
        // An escaped `$` never starts a reference.
        let env = |n: &str| (n == "B").then(|| "1".to_string());
        let parsed = parse(r#"A="\${B}""#, &env).expect("parses");
        assert_eq!(parsed, vec![("A".to_string(), s("${B}"))]);
    }

    #[test]
    fn escaped_single_quote_rejected() {
        let e = p(r#"A="it\'s""#).expect_err("must fail");
        assert_eq!(e.line, 1);
        assert!(e.message.contains("escape"), "{}", e.message);
        assert!(p(r#"A="\a""#).is_err());
        assert!(p(r#"A="\ x""#).is_err());
    }

    #[test]
    fn backslash_literal_in_unquoted_value() {
        assert_eq!(val(r"A=C:\path", "A"), s(r"C:\path"));
    }

    #[test]
    fn quote_inside_unquoted_value_is_literal() {
        assert_eq!(val("A=a\"b", "A"), s("a\"b"));
        assert_eq!(val("A=x\"", "A"), s("x\""));
    }

    #[test]
    fn single_quoted_value_cannot_span_lines() {
        let e = p("X=1\nA='ab\ncd'").expect_err("must fail");
        assert_eq!(e.line, 2);
        assert_eq!(e.message, "unterminated single-quoted value");
    }

    #[test]
    fn bare_name_is_unset() {
        assert_eq!(p("A").expect("parses"), vec![("A".to_string(), None)]);
        assert_eq!(val("A=1\nA", "A"), None);
    }

    #[test]
    fn name_may_start_with_digit() {
        assert_eq!(val("1A=x", "1A"), s("x"));
        assert_eq!(val("A.B=x", "A.B"), s("x"));
    }

    #[test]
    fn duplicate_key_last_wins_first_position() {
        assert_eq!(
            p("A=1\nB=2\nA=3").expect("parses"),
            vec![("A".to_string(), s("3")), ("B".to_string(), s("2"))]
        );
    }

    // --- further rules ---

    #[test]
    fn bom_stripped() {
        assert_eq!(val("\u{feff}A=1", "A"), s("1"));
    }

    #[test]
    fn export_prefix() {
        assert_eq!(val("export AB=1", "AB"), s("1"));
        assert_eq!(val("export\tAB=1", "AB"), s("1"));
        assert_eq!(val("export   AB=1", "AB"), s("1"));
        assert_eq!(val("export \"AB\"=1", "AB"), s("1"));
        assert_eq!(val("exportAB=1", "exportAB"), s("1"));
        // phpdotenv quirk: the prefix is only stripped when the name part is > 8 chars.
        assert!(p("export A=1").is_err());
        assert_eq!(val("export  A=1", "A"), s("1"));
    }

    #[test]
    fn crlf_and_cr_line_endings() {
        assert_eq!(
            p("A=1\r\nB=\"x\r\ny\"\r\nC=3\rD=4\r\n").expect("parses"),
            vec![
                ("A".to_string(), s("1")),
                // Multi-line values are re-joined with `\n`.
                ("B".to_string(), s("x\ny")),
                ("C".to_string(), s("3")),
                ("D".to_string(), s("4")),
            ]
        );
    }

    #[test]
    fn comments() {
        let parsed =
            p("# full line\n  # indented\nA=x # trailing\nB=\"x # kept\"\nC='y#kept'\nD=#\nE=v#c")
                .expect("parses");
        assert_eq!(
            parsed,
            vec![
                ("A".to_string(), s("x")),
                ("B".to_string(), s("x # kept")),
                ("C".to_string(), s("y#kept")),
                ("D".to_string(), s("")),
                ("E".to_string(), s("v")),
            ]
        );
    }

    #[test]
    fn empty_values() {
        assert_eq!(val("A=", "A"), s(""));
        assert_eq!(val("A=\"\"", "A"), s(""));
        assert_eq!(val("A=''", "A"), s(""));
        assert_eq!(val("A=   ", "A"), s(""));
    }

    #[test]
    fn whitespace_in_unquoted_value_rejected() {
        let e = p("A=1\n\nA=bar baz").expect_err("must fail");
        assert_eq!(e.line, 3);
        assert!(e.message.contains("whitespace"), "{}", e.message);
    }

    #[test]
    fn spaces_around_equals() {
        assert_eq!(val("A = b", "A"), s("b"));
        assert_eq!(val("A\t=\t b \t", "A"), s("b"));
        assert_eq!(val("  A=b", "A"), s("b"));
    }

    #[test]
    fn bare_name_is_not_trimmed() {
        assert!(p("  A").is_err());
        assert!(p("A ").is_err());
    }

    #[test]
    fn quoted_value_with_trailing_comment() {
        assert_eq!(val("A=\"x\" # c", "A"), s("x"));
        assert_eq!(val("A='x' #c", "A"), s("x"));
        assert_eq!(val("A=\"x\"#c", "A"), s("x"));
        assert!(p("A=\"x\" y").is_err());
        assert!(p("A=\"x\"y").is_err());
    }

    #[test]
    fn multi_line_double_quoted_value() {
        let parsed = p("A=\"line1\n# not a comment\nline3\"\nB=2").expect("parses");
        assert_eq!(
            parsed,
            vec![
                ("A".to_string(), s("line1\n# not a comment\nline3")),
                ("B".to_string(), s("2")),
            ]
        );
        assert_eq!(val("A=\"\n\"", "A"), s("\n"));
    }

    #[test]
    fn multi_line_error_reports_first_line() {
        // The block runs from line 2 to line 4, where `C="bar"` closes it; the joined text
        // has junk after the first closing quote.
        let e = p("X=1\nA=\"abc\nB=foo\nC=\"bar\"").expect_err("must fail");
        assert_eq!(e.line, 2);
    }

    #[test]
    fn unclosed_multi_line_block_is_dropped() {
        // phpdotenv quirk: an open block at end of file vanishes without an error,
        // taking every following line with it.
        assert_eq!(
            p("X=1\nA=\"abc\nB=2").expect("parses"),
            vec![("X".to_string(), s("1"))]
        );
        // Even a comment containing `="` opens a block.
        assert_eq!(
            p("# P=\"secret\nB=2\nC=\"3\"\nD=4").expect("parses"),
            vec![("D".to_string(), s("4"))]
        );
    }

    #[test]
    fn interpolation() {
        let parsed = p("A=x\nB=${A}\nC=\"<${A}>\"\nD='${A}'\nE=${A}${A}\nF=${ A}x").err();
        // `${ A}x` is an unquoted value with a space in it.
        assert_eq!(parsed.map(|e| e.line), Some(6));
        let parsed = p("A=x\nB=${A}\nC=\"<${A}>\"\nD='${A}'\nE=${A}${A}$").expect("parses");
        assert_eq!(
            parsed,
            vec![
                ("A".to_string(), s("x")),
                ("B".to_string(), s("x")),
                ("C".to_string(), s("<x>")),
                ("D".to_string(), s("${A}")),
                ("E".to_string(), s("xx$")),
            ]
        );
        // Only values defined earlier are visible.
        assert_eq!(val("B=${A}\nA=x", "B"), s("${A}"));
        // A cleared name no longer resolves.
        assert_eq!(val("A=x\nA\nB=${A}", "B"), s("${A}"));
        // Backwards substitution can complete an earlier reference.
        assert_eq!(val("B={A}\nA=zz\nC=$${B}", "C"), s("zz"));
    }

    #[test]
    fn real_env_wins_in_interpolation_but_not_in_result() {
        let env = |n: &str| (n == "A").then(|| "real".to_string());
        let parsed = parse("A=file\nB=${A}\nA\nC=${A}", &env).expect("parses");
        assert_eq!(
            parsed,
            vec![
                // The file's own (last) value is reported; the caller applies "real env wins".
                ("A".to_string(), None),
                ("B".to_string(), s("real")),
                // Clearing a real-environment name has no effect on lookups.
                ("C".to_string(), s("real")),
            ]
        );
        // An empty real value still counts as defined.
        let env = |n: &str| (n == "A").then(String::new);
        assert_eq!(parse("A=x\nB=<${A}>", &env).expect("parses")[1].1, s("<>"));
    }

    #[test]
    fn invalid_names() {
        for bad in ["A-B=1", "\"A=1", "A\"=1", "A B=1", "=x", "é=1", "$A=1"] {
            let e = p(&format!("OK=1\n{bad}")).expect_err(bad);
            assert_eq!(e.line, 2, "{bad}");
        }
        assert_eq!(val("\"AB\"=1", "AB"), s("1"));
        assert_eq!(val("'AB'=1", "AB"), s("1"));
    }

    #[test]
    fn form_feed_is_kept_by_trim() {
        // PHP's trim() leaves `\f`, so it starts an unquoted value.
        assert_eq!(val("A=\x0Cabc", "A"), s("\x0Cabc"));
        assert!(p("A=a\x0Cb").is_err());
    }

    #[test]
    fn every_error_has_its_line() {
        assert_eq!(err_line("A=1\n# c\n\nB=\"x\\q\""), 4);
        assert_eq!(err_line("A=1\r\nB= \"open"), 2);
        assert_eq!(err_line("A=1\nB= \"x\\"), 2);
        let e = p("A=1\nB='x").expect_err("must fail");
        assert_eq!(e.to_string(), "line 2: unterminated single-quoted value");
    }

    #[test]
    fn env_literal_conversion() {
        assert_eq!(env_literal("true"), EnvValue::Bool(true));
        assert_eq!(env_literal("(TRUE)"), EnvValue::Bool(true));
        assert_eq!(env_literal("False"), EnvValue::Bool(false));
        assert_eq!(env_literal("(false)"), EnvValue::Bool(false));
        assert_eq!(env_literal("NULL"), EnvValue::Null);
        assert_eq!(env_literal("(null)"), EnvValue::Null);
        assert_eq!(env_literal("empty"), EnvValue::Str(String::new()));
        assert_eq!(env_literal("(Empty)"), EnvValue::Str(String::new()));
        assert_eq!(env_literal(""), EnvValue::Str(String::new()));
        assert_eq!(env_literal("\"foo\""), EnvValue::Str("foo".into()));
        assert_eq!(env_literal("'foo'"), EnvValue::Str("foo".into()));
        assert_eq!(env_literal("\"\""), EnvValue::Str(String::new()));
        assert_eq!(env_literal("\"a\"b\""), EnvValue::Str("a\"b".into()));
        assert_eq!(env_literal("\"true\""), EnvValue::Str("true".into()));
        assert_eq!(env_literal("\"a\rb\""), EnvValue::Str("a\rb".into()));
        for kept in ["\"", "'a\"", "\"a\nb\"", " true", "yes", "1"] {
            assert_eq!(env_literal(kept), EnvValue::Str(kept.into()), "{kept:?}");
        }
    }

    // --- the real phpdotenv as an oracle ---

    const PHP_HINT: &str = "install with: apt-get install php-cli php-vlucas-phpdotenv";
    const DOTENV_AUTOLOAD: &str = "/usr/share/php/Dotenv/autoload.php";

    /// Reads stdin as "<hex name>:<hex value> ...\n<.env content>", loads the content the way
    /// Laravel does (file reader's UTF-8/BOM handling, Parser, Loader, immutable repository
    /// pre-filled with the "real" environment), then prints `OK` and one
    /// "<hex name> <hex value or ->" line per distinct name in the file, or `ERR <message>`.
    const PHP_ORACLE: &str = r#"
require '/usr/share/php/Dotenv/autoload.php';
$in = stream_get_contents(STDIN);
$nl = strpos($in, "\n");
$adapter = Dotenv\Repository\Adapter\ArrayAdapter::create()->get();
foreach (explode(' ', substr($in, 0, $nl)) as $pair) {
    if ($pair === '') { continue; }
    [$k, $v] = explode(':', $pair);
    $adapter->write(hex2bin($k), hex2bin($v));
}
$repo = Dotenv\Repository\RepositoryBuilder::createWithNoAdapters()
    ->addAdapter($adapter)->immutable()->make();
$content = Dotenv\Util\Str::utf8(substr($in, $nl + 1))->success()->get();
try {
    $entries = (new Dotenv\Parser\Parser())->parse($content);
} catch (Dotenv\Exception\InvalidFileException $e) {
    echo 'ERR ', $e->getMessage(), "\n";
    exit(0);
}
(new Dotenv\Loader\Loader())->load($repo, $entries);
echo "OK\n";
$seen = [];
foreach ($entries as $entry) {
    $name = $entry->getName();
    if (isset($seen[$name])) { continue; }
    $seen[$name] = true;
    $value = $repo->get($name);
    echo bin2hex($name), ' ', $value === null ? '-' : bin2hex($value), "\n";
}
"#;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn unhex(text: &str) -> String {
        let bytes: Vec<u8> = (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex from php"))
            .collect();
        String::from_utf8(bytes).expect("utf-8 from php")
    }

    /// What Laravel ends up seeing: per file key, the real value if set, else the file's.
    type Outcome = Result<Vec<(String, Option<String>)>, String>;

    fn run_php(content: &str, env: &[(&str, &str)]) -> Outcome {
        use std::io::Write;
        use std::process::{Command, Stdio};

        let mut child = Command::new("php")
            .arg("-r")
            .arg(PHP_ORACLE)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run php ({e}); {PHP_HINT}"));
        let env_line: Vec<String> = env
            .iter()
            .map(|(k, v)| format!("{}:{}", hex(k.as_bytes()), hex(v.as_bytes())))
            .collect();
        let input = format!("{}\n{content}", env_line.join(" "));
        child
            .stdin
            .take()
            .expect("piped stdin")
            .write_all(input.as_bytes())
            .expect("write to php");
        let output = child.wait_with_output().expect("php output");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "php failed: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let mut lines = stdout.lines();
        match lines.next() {
            Some("OK") => Ok(lines
                .map(|line| {
                    let (name, value) = line.split_once(' ').expect("php line");
                    (unhex(name), (value != "-").then(|| unhex(value)))
                })
                .collect()),
            Some(err) if err.starts_with("ERR") => Err(err.to_string()),
            _ => panic!("unexpected php output: {stdout}"),
        }
    }

    fn run_ours(content: &str, env: &[(&str, &str)]) -> Outcome {
        let lookup = |name: &str| {
            env.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        };
        parse(content, &lookup)
            .map(|entries| {
                entries
                    .into_iter()
                    .map(|(k, v)| {
                        let effective = lookup(&k).or(v);
                        (k, effective)
                    })
                    .collect()
            })
            .map_err(|e| e.to_string())
    }

    #[test]
    fn matches_real_phpdotenv() {
        let php_ok = std::process::Command::new("php")
            .arg("-v")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        assert!(php_ok, "php not found; {PHP_HINT}");
        assert!(
            std::path::Path::new(DOTENV_AUTOLOAD).exists(),
            "{DOTENV_AUTOLOAD} not found; {PHP_HINT}"
        );

        let none: &[(&str, &str)] = &[];
        let real_a: &[(&str, &str)] = &[("A", "real")];
        let cases: &[(&str, &[(&str, &str)])] = &[
            ("A=abc#123", none),
            ("A=pa$word", none),
            ("A=\"${UNDEF}z\"", none),
            ("A=\"tab\\there\\r\\f\\v\\n\"", none),
            ("A=\"\\tabc\\nxyz\"", none),
            ("A=\"it\\'s\"", none),
            ("A=\"q\\\"b\\\\s\\$x\"", none),
            ("A=\"\\a\"", none),
            ("A=\"\\ \"", none),
            ("A=\"x\\\"\ny\"", none),
            ("A=\"x\\\\\"\ny\"", none),
            ("A=C:\\path", none),
            ("A=a\"b", none),
            ("A=x\"", none),
            ("A='ab\ncd'", none),
            ("A", none),
            ("A\nB=1", none),
            ("  A", none),
            ("A ", none),
            ("1A=x\nA.B=y", none),
            ("A=1\nB=2\nA=3", none),
            ("\u{feff}A=1", none),
            ("\u{feff}\u{feff}A=1", none),
            (
                "export AB=1\nexport\tCD=2\nexport \"EF\"=3\nexportGH=4",
                none,
            ),
            ("export A=1", none),
            ("export  A=1", none),
            ("export AB", none),
            ("A=1\r\nB=\"x\r\ny\"\r\nC=3\rD=4\r\n", none),
            (
                "# c\n  # c\nA=x # t\nB=\"x # k\"\nC='y#k'\nD=#\nE=v#c",
                none,
            ),
            ("A=\nB=\"\"\nC=''\nD=   ", none),
            ("A=bar baz", none),
            ("A = b\nC\t=\t d \t", none),
            ("A=\"x\" # c\nB='y' #c\nC=\"z\"#c", none),
            ("A=\"x\" y", none),
            ("A=\"x\"y", none),
            ("A='x''y'", none),
            ("A=\"line1\n# nc\nline3\"\nB=2", none),
            ("A=\"\n\"", none),
            ("A=\"a\nb\n\"\nB=2", none),
            ("X=1\nA=\"abc\nB=foo\nC=\"bar\"", none),
            ("X=1\nA=\"abc\nB=2", none),
            ("# P=\"secret\nB=2\nC=\"3\"\nD=4", none),
            ("A=foo=\"bar\nB=1", none),
            ("A=\"x\nB=\"y\nC\"", none),
            ("A=\"x\"\nB=\"y", none),
            ("A= \"open", none),
            ("A=\"x\\", none),
            ("A=x\nB=${A}\nC=\"<${A}>\"\nD='${A}'\nE=${A}${A}$", none),
            ("A=${ B}", none),
            ("B=${A}\nA=x", none),
            ("A=x\nA\nB=${A}", none),
            ("B={A}\nA=zz\nC=$${B}", none),
            ("A=$${B}\nB={A}", none),
            ("A=file\nB=${A}\nA\nC=${A}", real_a),
            ("A=${A}x", real_a),
            ("B=<${A}>", &[("A", "")]),
            ("A=${B.C}\nD=\"\\${B.C}\"", &[("B.C", "1")]),
            ("A-B=1", none),
            ("\"A=1", none),
            ("A\"=1", none),
            ("=x", none),
            ("é=1", none),
            ("\"AB\"=1\n'CD'=2", none),
            ("A=\x0Cabc", none),
            ("A=a\x0Cb", none),
            ("A=a\x0Bb", none),
            ("A=a\u{a0}b\nB=\"é\\tè\"", none),
            ("A=\"\\é\"", none),
            ("A=(x)\nB=\"(y)\"", none),
            ("A=\"a\\\\\"\nB=\"\\\\\\\"\"", none),
            ("", none),
            ("\n\n  \n", none),
        ];

        // Guard against an oracle that agrees with everything (e.g. a broken script).
        assert_eq!(
            run_php("A=abc#123\nB", none),
            Ok(vec![("A".to_string(), s("abc")), ("B".to_string(), None)])
        );
        assert!(run_php("A=bar baz", none).is_err());

        let mut failures = Vec::new();
        for (content, env) in cases {
            let php = run_php(content, env);
            let ours = run_ours(content, env);
            let same = match (&php, &ours) {
                (Ok(a), Ok(b)) => a == b,
                (Err(_), Err(_)) => true,
                _ => false,
            };
            if !same {
                failures.push(format!(
                    "{content:?} env={env:?}\n  php:  {php:?}\n  ours: {ours:?}"
                ));
            }
        }
        assert!(
            failures.is_empty(),
            "differences from phpdotenv:\n{}",
            failures.join("\n")
        );
    }
}
