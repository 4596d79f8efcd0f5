//! Step 3 of phpdotenv's pipeline: split each raw entry into name and value (`EntryParser`) and
//! run the value through its token-level state machine (`Lexer`, `EntryParser::parseValue`).
//!
//! Errors carry a [`Problem`] and, once the name is known to be valid, that name: never any text
//! of the value, which may be a password.

use std::sync::LazyLock;

use super::{is_php_trim_char, php_trim, Problem, Rules};

/// One parsed `NAME=value` entry; `value` is `None` for a bare `NAME` line.
pub(super) struct Entry {
    pub name: String,
    pub value: Option<RawValue>,
}

/// A value before interpolation: its text plus the byte offsets of `$` signs that may start
/// a `${NAME}` reference (escaped `\$` and single-quoted `$` are not recorded).
pub(super) struct RawValue {
    pub chars: String,
    pub vars: Vec<usize>,
}

impl RawValue {
    /// A `$` that may start a `${VAR}` reference: remembered for interpolation.
    fn push_dollar(&mut self) {
        self.vars.push(self.chars.len());
        self.chars.push('$');
    }
}

/// Why an entry was rejected, and the entry's name when it got that far.
pub(super) struct EntryError {
    pub key: Option<String>,
    pub problem: Problem,
}

impl From<Problem> for EntryError {
    fn from(problem: Problem) -> EntryError {
        EntryError { key: None, problem }
    }
}

/// C `isspace` in the "C" locale, as used by PHP's `ctype_space` and PCRE's `\s`.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\x0B' | b'\x0C' | b'\r')
}

/// Splits an entry at the first `=` and parses both halves (`EntryParser::parse`).
pub(super) fn parse_entry(raw: &str, rules: Rules) -> Result<Entry, EntryError> {
    // phpdotenv trims both halves only when there is an `=`; a bare name is left as is,
    // so `  NAME` or `NAME ` alone is an invalid name.
    let (name, value) = match raw.find('=') {
        Some(eq) => (php_trim(&raw[..eq]), Some(php_trim(&raw[eq + 1..]))),
        None => (raw, None),
    };
    if name.is_empty() {
        return Err(Problem::MissingName.into());
    }
    let name = parse_name(name, rules)?;
    let value = match value {
        Some(v) => Some(parse_value(v).map_err(|problem| EntryError {
            key: Some(name.clone()),
            problem,
        })?),
        None => None,
    };
    Ok(Entry { name, value })
}

/// Strips an `export ` prefix and one pair of quotes, then validates the name (`parseName`).
fn parse_name(name: &str, rules: Rules) -> Result<String, Problem> {
    let name = strip_export(name, rules);
    let quoted = name.chars().count() >= 3
        && ((name.starts_with('"') && name.ends_with('"'))
            || (name.starts_with('\'') && name.ends_with('\'')));
    // Both quotes are single ASCII bytes, so these are char boundaries.
    let name = if quoted {
        &name[1..name.len() - 1]
    } else {
        name
    };
    if is_valid_name(name, rules) {
        Ok(name.to_string())
    } else {
        Err(Problem::InvalidName(NameFault::of(name, rules)))
    }
}

/// The `export` prefix, stripped only when followed by whitespace and long enough.
///
/// Up to 5.6 the whole name must be longer than 8 characters, so `export A=1` (one-letter name)
/// is rejected while `export AB=1` is accepted; 5.8 only needs something after the space
/// (vlucas/phpdotenv#599) and trims a form feed but no longer a NUL after it.
fn strip_export(name: &str, rules: Rules) -> &str {
    let long_enough = match rules {
        Rules::V5_4 | Rules::V5_6 => name.chars().count() > 8,
        Rules::V5_8 => name.len() > 6,
    };
    let spaced = name.as_bytes().get(6).copied().is_some_and(is_c_space);
    if !(long_enough && name.starts_with("export") && spaced) {
        return name;
    }
    match rules {
        Rules::V5_4 | Rules::V5_6 => name[6..].trim_start_matches(is_php_trim_char),
        Rules::V5_8 => name[6..].trim_start_matches([' ', '\t', '\n', '\r', '\x0B', '\x0C']),
    }
}

fn is_ascii_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
}

/// `~\A[a-zA-Z0-9_.]+\z~` up to 5.4; from 5.5 on (vlucas/phpdotenv#546) also
/// `~(*UTF8)\A[\p{Ll}\p{Lu}\p{M}\p{N}_.]+\z~`: lower- and upper-case letters, marks and numbers,
/// but not title-case, modifier or "other" letters (so not `ǅ`, `ʰ` or CJK ideographs).
fn is_valid_name(name: &str, rules: Rules) -> bool {
    static UNICODE_NAME: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(r"\A[\p{Ll}\p{Lu}\p{M}\p{N}_.]+\z").expect("valid regex")
    });
    match rules {
        Rules::V5_4 => is_ascii_name(name),
        Rules::V5_6 | Rules::V5_8 => is_ascii_name(name) || UNICODE_NAME.is_match(name),
    }
}

/// What is wrong with a rejected name, told without repeating it: a "name" can be a stray
/// line of a multi-line value, i.e. part of a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameFault {
    /// `export` followed by a name too short for phpdotenv to strip the prefix.
    ShortExport,
    /// Spaces or tabs inside the name.
    Whitespace,
    /// A quote that is not one matching pair around the name.
    Quote,
    /// Some other character that is not allowed.
    Character,
}

impl NameFault {
    fn of(name: &str, rules: Rules) -> NameFault {
        let spaced = name.as_bytes().get(6).copied().is_some_and(is_c_space);
        if rules != Rules::V5_8 && name.starts_with("export") && spaced {
            NameFault::ShortExport
        } else if name.chars().any(|c| c.is_whitespace()) {
            NameFault::Whitespace
        } else if name.contains(['"', '\'']) {
            NameFault::Quote
        } else {
            NameFault::Character
        }
    }

    /// The explanation shown to the user.
    pub fn describe(self, rules: Rules) -> &'static str {
        match (self, rules) {
            (NameFault::ShortExport, _) => {
                "invalid variable name: this phpdotenv only strips `export ` before names of 2+ characters"
            }
            (NameFault::Whitespace, _) => {
                "invalid variable name: it contains whitespace (a stray line of a multi-line value?)"
            }
            (NameFault::Quote, _) => "invalid variable name: it contains a quote",
            (NameFault::Character, Rules::V5_4) => {
                "invalid variable name: only ASCII letters, digits, `_` and `.` are allowed"
            }
            (NameFault::Character, _) => {
                "invalid variable name: only letters, marks, digits, `_` and `.` are allowed"
            }
        }
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
///
/// The automaton is the same in every 5.x release; 5.8's shortcut for plain literals
/// (`parseLiteral`) gives the same result by design, so it is not reproduced.
fn parse_value(value: &str) -> Result<RawValue, Problem> {
    let mut out = RawValue {
        chars: String::new(),
        vars: Vec::new(),
    };
    let mut state = State::Initial;
    for (kind, token) in lex(value) {
        state = step(state, kind, token, &mut out)?;
    }
    match state {
        State::SingleQuoted => Err(Problem::UnterminatedSingle),
        State::DoubleQuoted => Err(Problem::UnterminatedDouble),
        State::Escape => Err(Problem::UnterminatedEscape),
        _ => Ok(out),
    }
}

/// One transition of the automaton (`processToken`), writing kept text to `out`.
fn step(state: State, kind: TokenKind, token: &str, out: &mut RawValue) -> Result<State, Problem> {
    let is_space = matches!(kind, TokenKind::Newlines | TokenKind::Spaces);
    let next = match state {
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
                    _ => return Err(Problem::BadEscape),
                };
                out.chars.push(replacement);
                out.chars.push_str(&token[1..]);
                State::DoubleQuoted
            }
            _ => return Err(Problem::BadEscape),
        },
        State::Whitespace { after_quote } => match kind {
            TokenKind::Hash => State::Comment,
            _ if is_space => State::Whitespace { after_quote },
            _ if after_quote => return Err(Problem::TextAfterQuote),
            _ => return Err(Problem::UnquotedWhitespace),
        },
        State::Comment => State::Comment,
    };
    Ok(next)
}
