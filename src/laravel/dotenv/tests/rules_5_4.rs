//! The rules every 5.x release shares, pinned under 5.4's (the oldest): the table in
//! laravel-env.md and the quirks found along the way. `oracle` checks the same cases against
//! the real phpdotenv releases.

use super::super::*;
use super::{no_env, s};

/// Parses with an empty real environment under 5.4's rules.
fn p(content: &str) -> Result<Vec<(String, Option<String>)>, ParseError> {
    parse(content, &Release::with_rules(Rules::V5_4), &no_env)
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
    let parsed = parse(r#"A="\${B}""#, &Release::with_rules(Rules::V5_4), &env).expect("parses");
    assert_eq!(parsed, vec![("A".to_string(), s("${B}"))]);
}

#[test]
fn escaped_single_quote_rejected() {
    let e = p(r#"A="it\'s""#).expect_err("must fail");
    assert_eq!(e.line, 1);
    assert_eq!(e.problem, Problem::BadEscape);
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
    assert_eq!(e.problem, Problem::UnterminatedSingle);
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
    assert_eq!(val(&decode("\u{feff}A=1".as_bytes()), "A"), s("1"));
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
    assert_eq!(e.problem, Problem::UnquotedWhitespace);
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
    let parsed = parse(
        "A=file\nB=${A}\nA\nC=${A}",
        &Release::with_rules(Rules::V5_4),
        &env,
    )
    .expect("parses");
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
    let parsed = parse("A=x\nB=<${A}>", &Release::with_rules(Rules::V5_4), &env);
    assert_eq!(parsed.expect("parses")[1].1, s("<>"));
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
    assert_eq!(
        e.to_string(),
        "line 2 (B): unterminated single-quoted value [phpdotenv 5.4 (as asked) rejects it too]"
    );
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
