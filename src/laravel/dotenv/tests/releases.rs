//! What changed from 5.4 to 5.6 and 5.8, pinned rule by rule.
//!
//! The `upstream_*` tests are ported from phpdotenv 5.6.1's own test suite (Debian's
//! php-vlucas-phpdotenv_5.6.1.orig.tar.xz: tests/Dotenv/Parser/EntryParserTest.php,
//! LinesTest.php, ParserTest.php, DotenvTest.php and tests/fixtures/env/*), with the PHP string
//! literals translated as PHP reads them. The 5.8 pins follow 5.8.0's source (Debian sid's
//! php-vlucas-phpdotenv 5.8.0-1: src/Parser/Lines.php, EntryParser.php); `oracle` runs the
//! same files through the real releases.

use super::super::entry::parse_entry;
use super::super::*;
use super::{no_env, s};

fn read(rules: Rules, content: &str) -> Result<Vec<(String, Option<String>)>, ParseError> {
    parse(content, &Release::with_rules(rules), &no_env)
}

fn val(rules: Rules, content: &str, key: &str) -> Option<String> {
    let parsed = read(rules, content).unwrap_or_else(|e| panic!("{content:?} failed: {e}"));
    parsed
        .into_iter()
        .find(|(k, _)| k == key)
        .unwrap_or_else(|| panic!("{key} not in result of {content:?}"))
        .1
}

/// A name, and its value's text with the offsets of `$` signs, if it has a value.
type Parsed = (String, Option<(String, Vec<usize>)>);

/// `EntryParser::parse` of one raw entry.
fn entry(raw: &str, rules: Rules) -> Result<Parsed, Problem> {
    parse_entry(raw, rules)
        .map(|e| (e.name, e.value.map(|v| (v.chars, v.vars))))
        .map_err(|e| e.problem)
}

fn positive(raw: &str, name: &str, chars: &str, vars: &[usize]) {
    for rules in [Rules::V5_6, Rules::V5_8] {
        let (n, v) = entry(raw, rules).unwrap_or_else(|p| panic!("{raw:?}: {p:?}"));
        let (c, mut offsets) = v.expect("a value");
        offsets.sort_unstable_by(|a, b| b.cmp(a));
        assert_eq!(
            (n.as_str(), c.as_str(), &offsets[..]),
            (name, chars, vars),
            "{raw:?}"
        );
    }
}

fn negative(raw: &str, problem: Problem) {
    for rules in [Rules::V5_6, Rules::V5_8] {
        assert_eq!(
            entry(raw, rules).err(),
            Some(problem),
            "{raw:?} under {rules}"
        );
    }
}

#[test]
fn upstream_entry_parser_test() {
    positive("FOO=BAR", "FOO", "BAR", &[]);
    assert!(matches!(entry("FOO", Rules::V5_6), Ok((n, None)) if n == "FOO"));
    positive("FOOƱ=BAZ", "FOOƱ", "BAZ", &[]);
    positive("FOO=\"BAR  \n\"", "FOO", "BAR  \n", &[]);
    positive(r#"FOO="\n""#, "FOO", "\n", &[]);
    positive(r#"FOO="\t""#, "FOO", "\t", &[]);
    positive(r"FOO='\t'", "FOO", r"\t", &[]);
    positive(r"FOO=\n\v", "FOO", r"\n\v", &[]);
    positive(r"FOO=\q", "FOO", r"\q", &[]);
    negative(r#"FOO="\q""#, Problem::BadEscape);
    positive("FOO=$BAR", "FOO", "$BAR", &[0]);
    positive("FOO=AAA$BAR", "FOO", "AAA$BAR", &[3]);
    positive(
        r#"FOO="TEST $BAR $$BAZ""#,
        "FOO",
        "TEST $BAR $$BAZ",
        &[11, 10, 5],
    );
    positive("FOO='TEST $BAR $$BAZ'", "FOO", "TEST $BAR $$BAZ", &[]);
    positive("FOO=\"\n\"", "FOO", "\n", &[]);
    positive(r#"export FOO="bar baz""#, "FOO", "bar baz", &[]);
    positive("export\t\"FOO\"='bar baz'", "FOO", "bar baz", &[]);
    negative(
        r#"export "FOO="bar baz""#,
        Problem::InvalidName(NameFault::Quote),
    );
    positive(
        r#"SPVAR5="test some escaped characters like a quote \" or maybe a backslash \\" # not escaped"#,
        "SPVAR5",
        r#"test some escaped characters like a quote " or maybe a backslash \"#,
        &[],
    );
    negative("FOO=bar baz", Problem::UnquotedWhitespace);
    negative("=", Problem::MissingName);
    negative("FOO_ASD!=BAZ", Problem::InvalidName(NameFault::Character));
    negative(r#"FOO_BAD="iiiiviiiixiiiiviiii\a""#, Problem::BadEscape);
    positive(
        r"FOO_BAD='iiiiviiiixiiiiviiii\a'",
        "FOO_BAD",
        r"iiiiviiiixiiiiviiii\a",
        &[],
    );
    negative("TEST='erert", Problem::UnterminatedSingle);
    negative("TEST=\"erert", Problem::UnterminatedDouble);
    negative("TEST=\"erert\nTEST='erert\n", Problem::UnterminatedDouble);
    negative("TEST=\"\\", Problem::UnterminatedEscape);
}

/// tests/fixtures/env/multiline.env as of 5.6.1 (the last value is new there: its closing line
/// `...No4="` holds `="`, which 5.4 took for the start of another value).
const MULTILINE_ENV: &str = "TEST=\"test\n     test\\\"test\\\"\n     test\"\n\nTEST_ND=\"test\\ntest\"\nTEST_NS='test\\ntest'\n\nTEST_EQD=\"https://vision.googleapis.com/v1/images:annotate?key=\"\nTEST_EQS='https://vision.googleapis.com/v1/images:annotate?key='\n\nBASE64_ENCODED_MULTILINE=\"qS1zCzMVVUJWQShokv6YVYi+ruKSC/bHV7GmEiyVkLaBWJHNVHCHsgTksEBsy8wJ\nuwycAvR07ZyOJJed4XTRMKnKp1/v+6UATpWzkIjZXytK+pD+XlZimUHTx3uiDcmU\njhQX1wWSxHDqrSWxeIJiTD+BuUyId8FzmXQ3TcBydJ474tmOU2F492ubk3LAiZ18\nmhiRGoshXAOSbS/P3+RZi4bDeNE/No4=\"\n";

#[test]
fn upstream_lines_test_multiline() {
    for rules in [Rules::V5_6, Rules::V5_8] {
        let v = |key| val(rules, MULTILINE_ENV, key);
        assert_eq!(v("TEST"), s("test\n     test\"test\"\n     test"));
        assert_eq!(v("TEST_ND"), s("test\ntest"));
        assert_eq!(v("TEST_NS"), s(r"test\ntest"));
        let url = "https://vision.googleapis.com/v1/images:annotate?key=";
        assert_eq!(v("TEST_EQD"), s(url));
        assert_eq!(v("TEST_EQS"), s(url));
        assert_eq!(
            v("BASE64_ENCODED_MULTILINE"),
            s("qS1zCzMVVUJWQShokv6YVYi+ruKSC/bHV7GmEiyVkLaBWJHNVHCHsgTksEBsy8wJ\nuwycAvR07ZyOJJed4XTRMKnKp1/v+6UATpWzkIjZXytK+pD+XlZimUHTx3uiDcmU\njhQX1wWSxHDqrSWxeIJiTD+BuUyId8FzmXQ3TcBydJ474tmOU2F492ubk3LAiZ18\nmhiRGoshXAOSbS/P3+RZi4bDeNE/No4=")
        );
    }
    // Under 5.4 the last value silently vanishes (its block never closes).
    let old = read(Rules::V5_4, MULTILINE_ENV).expect("parses");
    assert!(old.iter().all(|(k, _)| k != "BASE64_ENCODED_MULTILINE"));
}

#[test]
fn upstream_lines_test_basic() {
    // tests/fixtures/env/assertions.env and the values LinesTest::testProcessBasic implies.
    let content = "ASSERTVAR1=val1\n\nASSERTVAR2=\"\"\n\nASSERTVAR3=\"val3   \"\nASSERTVAR4=\"0\" # empty looking value\nASSERTVAR5=\"#foo\"\nASSERTVAR6=\"val1\nval2\"\nASSERTVAR7=\"\nval3\" #\n\n\nASSERTVAR8=\"val3\n\"\nASSERTVAR9=\"\n\n\"\n";
    for rules in [Rules::V5_4, Rules::V5_6, Rules::V5_8] {
        assert_eq!(
            read(rules, content).expect("parses"),
            vec![
                ("ASSERTVAR1".into(), s("val1")),
                ("ASSERTVAR2".into(), s("")),
                ("ASSERTVAR3".into(), s("val3   ")),
                ("ASSERTVAR4".into(), s("0")),
                ("ASSERTVAR5".into(), s("#foo")),
                ("ASSERTVAR6".into(), s("val1\nval2")),
                ("ASSERTVAR7".into(), s("\nval3")),
                ("ASSERTVAR8".into(), s("val3\n")),
                ("ASSERTVAR9".into(), s("\n\n")),
            ],
            "{rules}"
        );
    }
}

#[test]
fn upstream_parser_test() {
    for rules in [Rules::V5_6, Rules::V5_8] {
        // testFullParse: the last of four FOO entries wins.
        assert_eq!(
            read(rules, "FOO=BAR\nFOO\nFOO=\"BAR  \n\"\nFOO=\"\\n\""),
            Ok(vec![("FOO".into(), s("\n"))])
        );
        let problem = |content: &str| read(rules, content).map_err(|e| e.problem).err();
        assert_eq!(problem(r#"FOO="\q""#), Some(Problem::BadEscape));
        assert_eq!(problem("FOO=bar baz\n"), Some(Problem::UnquotedWhitespace));
        assert_eq!(problem("=\n"), Some(Problem::MissingName));
        assert_eq!(
            problem("FOO_ASD!=BAZ"),
            Some(Problem::InvalidName(NameFault::Character))
        );
    }
}

#[test]
fn upstream_dotenv_test_fixtures() {
    let nested = "NVAR1=\"Hellō\"\nNVAR2=\"World!\"\nNVAR3=\"{$NVAR1} {$NVAR2}\"\nNVAR4=\"${NVAR1} ${NVAR2}\"\nNVAR5=\"$NVAR1 {NVAR2}\"\nN.VAR6=\"Special Value\"\nNVAR7=\"${N.VAR6}\"\nNVAR8=\"\"\nNVAR9=\"${NVAR8}\"\nNVAR10=\"${NVAR888}\"\nNVAR11=\"NVAR1\"\nNVAR12=\"${${NVAR11}}\"\nNVAR13='${${NVAR11}}'\nNVAR14='${NVAR1} ${NVAR2}'\nNVAR15=\"\\${NVAR1} \\${NVAR2}\"\n";
    let specialchars = "SPVAR1=\"$a6^C7k%zs+e^.jvjXk\"\nSPVAR2=\"?BUty3koaV3%GA*hMAwH}B\"\nSPVAR3=\"jdgEB4{QgEC]HL))&GcXxokB+wqoN+j>xkV7K?m$r\"\nSPVAR4=\"22222:22#2^{\"\nSPVAR5=\"test some escaped characters like a quote \\\" or maybe a backslash \\\\\" # not escaped\nSPVAR6=secret!@#\nSPVAR7='secret!@#'\nSPVAR8=\"secret!@#\"\n";
    let quoted = "QFOO=\"bar\"\nQBAR=\"baz\"\nQSPACED=\"with spaces\"\nQEQUALS=\"pgsql:host=localhost;dbname=test\"\n\nQNULL=\"\"\nQWHITESPACE = \"no space\"\n\nQESCAPED=\"test some escaped characters like a quote (\\\") or maybe a backslash (\\\\)\"\nQSLASH=\"iiiiviiiixiiiiviiii\\\\n\"\nSQSLASH='iiiiviiiixiiiiviiii\\\\n'\n";
    let exported = "export\tEFOO=\"bar\"\nexport EBAR = \"baz\"\nexport ESPACED=\"with spaces\"\nexport \"EDQUOTED\" = 123\nexport 'ESQUOTED' = 456\n\nexport    ENULL=\"\"\n";
    let commented = "# This is a comment\nCFOO=bar\n#CBAR=baz\n#CZOO=goo # a comment on a commented row\nCSPACED=\"with spaces\" # this is a comment\nCQUOTES=\"a value with a # character\" # this is a comment\nCQUOTESWITHQUOTE=\"a value with a # character & a quote \\\" character inside quotes\" # \" this is a comment\nEMPTY= # comment with empty variable\nEMPTY2=# comment with empty variable\nFOOO=foo# comment with no space\nBOOLEAN=yes # (yes, no)\n\nCNULL=\n\n## this is a comment ##\n";
    let unicode = "AlbertÅberg=Skybert\nДатаЗакрытияРасчетногоПериода='2022-04-01T00:00'\n\n";
    let expected: &[(&str, &str, &str)] = &[
        (nested, "NVAR3", "{$NVAR1} {$NVAR2}"),
        (nested, "NVAR4", "Hellō World!"),
        (nested, "NVAR5", "$NVAR1 {NVAR2}"),
        (nested, "N.VAR6", "Special Value"),
        (nested, "NVAR7", "Special Value"),
        (nested, "NVAR8", ""),
        (nested, "NVAR9", ""),
        (nested, "NVAR10", "${NVAR888}"),
        (nested, "NVAR11", "NVAR1"),
        (nested, "NVAR12", "Hellō"),
        (nested, "NVAR13", "${${NVAR11}}"),
        (nested, "NVAR14", "${NVAR1} ${NVAR2}"),
        (nested, "NVAR15", "${NVAR1} ${NVAR2}"),
        (specialchars, "SPVAR1", "$a6^C7k%zs+e^.jvjXk"),
        (specialchars, "SPVAR2", "?BUty3koaV3%GA*hMAwH}B"),
        (
            specialchars,
            "SPVAR3",
            "jdgEB4{QgEC]HL))&GcXxokB+wqoN+j>xkV7K?m$r",
        ),
        (specialchars, "SPVAR4", "22222:22#2^{"),
        (
            specialchars,
            "SPVAR5",
            "test some escaped characters like a quote \" or maybe a backslash \\",
        ),
        (specialchars, "SPVAR6", "secret!@"),
        (specialchars, "SPVAR7", "secret!@#"),
        (specialchars, "SPVAR8", "secret!@#"),
        (quoted, "QFOO", "bar"),
        (quoted, "QSPACED", "with spaces"),
        (quoted, "QNULL", ""),
        (quoted, "QWHITESPACE", "no space"),
        (quoted, "QEQUALS", "pgsql:host=localhost;dbname=test"),
        (
            quoted,
            "QESCAPED",
            "test some escaped characters like a quote (\") or maybe a backslash (\\)",
        ),
        (quoted, "QSLASH", "iiiiviiiixiiiiviiii\\n"),
        (quoted, "SQSLASH", "iiiiviiiixiiiiviiii\\\\n"),
        (exported, "EFOO", "bar"),
        (exported, "EBAR", "baz"),
        (exported, "ESPACED", "with spaces"),
        (exported, "EDQUOTED", "123"),
        (exported, "ESQUOTED", "456"),
        (exported, "ENULL", ""),
        (commented, "CFOO", "bar"),
        (commented, "CSPACED", "with spaces"),
        (commented, "CQUOTES", "a value with a # character"),
        (
            commented,
            "CQUOTESWITHQUOTE",
            "a value with a # character & a quote \" character inside quotes",
        ),
        (commented, "EMPTY", ""),
        (commented, "EMPTY2", ""),
        (commented, "FOOO", "foo"),
        (commented, "CNULL", ""),
        (unicode, "AlbertÅberg", "Skybert"),
        (unicode, "ДатаЗакрытияРасчетногоПериода", "2022-04-01T00:00"),
    ];
    for rules in [Rules::V5_6, Rules::V5_8] {
        for (content, key, value) in expected {
            assert_eq!(val(rules, content, key), s(value), "{key} under {rules}");
        }
    }
    // The byte-order mark of utf8-with-bom-encoding.env goes with the file reader's decoding.
    let bom = decode(b"\xef\xbb\xbfFOO=bar\nBAR=baz\nSPACED=\"with spaces\"\n");
    assert_eq!(val(Rules::V5_6, &bom, "FOO"), s("bar"));
}

#[test]
fn unicode_names_from_5_5() {
    for name in ["é", "FOOƱ", "Ⅷ", "e\u{301}", "Δ.x_1", "²"] {
        let content = format!("{name}=1");
        assert!(read(Rules::V5_4, &content).is_err(), "{name} under 5.4");
        for rules in [Rules::V5_6, Rules::V5_8] {
            assert_eq!(val(rules, &content, name), s("1"), "{name} under {rules}");
        }
    }
    // \p{Ll}\p{Lu}\p{M}\p{N} leaves out title-case (ǅ), modifier (ʰ) and other letters (中).
    for name in ["ǅ", "ʰ", "中", "A B", "a-b", "€"] {
        let e = read(Rules::V5_8, &format!("{name}=1")).expect_err(name);
        assert!(matches!(e.problem, Problem::InvalidName(_)), "{name}");
    }
    // References stay ASCII-only: `${é}` is left as written.
    assert_eq!(val(Rules::V5_6, "é=1\nB=${é}", "B"), s("${é}"));
}

#[test]
fn lines_inside_a_block_start_nothing_from_5_5() {
    // `B="` inside A's value: 5.4 restarts the count there and loses the rest of the file.
    let content = "A=\"x\nB=\"\n=\"\nC=3";
    assert_eq!(read(Rules::V5_4, content), Ok(vec![]));
    assert_eq!(
        read(Rules::V5_6, content),
        Ok(vec![("A".into(), s("x\nB="))])
    );
    // 5.8 hands the still-open `="` block to the parser, which finds no name.
    assert_eq!(
        read(Rules::V5_8, content).map_err(|e| (e.line, e.problem)),
        Err((3, Problem::MissingName))
    );
}

#[test]
fn export_before_short_names_from_5_8() {
    for rules in [Rules::V5_4, Rules::V5_6] {
        let e = read(rules, "export A=1").expect_err("5.4/5.6 reject");
        assert_eq!(e.problem, Problem::InvalidName(NameFault::ShortExport));
    }
    assert_eq!(val(Rules::V5_8, "export A=1", "A"), s("1"));
    // The whitespace after `export` that each release trims: 5.8 adds \f and drops NUL.
    assert_eq!(val(Rules::V5_8, "export \x0cAB=1", "AB"), s("1"));
    assert!(read(Rules::V5_6, "export \x0cAB=1").is_err());
    assert_eq!(val(Rules::V5_6, "export \0AB=1", "AB"), s("1"));
    assert!(read(Rules::V5_8, "export \0AB=1").is_err());
}

#[test]
fn comments_open_no_block_from_5_8() {
    let content = "# P=\"secret\nB=2\nC=\"3\"\nD=4";
    for rules in [Rules::V5_4, Rules::V5_6] {
        assert_eq!(read(rules, content), Ok(vec![("D".into(), s("4"))]));
    }
    assert_eq!(
        read(Rules::V5_8, content),
        Ok(vec![
            ("B".into(), s("2")),
            ("C".into(), s("3")),
            ("D".into(), s("4"))
        ])
    );
    // A trailing comment counts too, but a `#` inside the quotes does not.
    assert_eq!(
        read(Rules::V5_8, "A=1 # B=\"x\nC=2").map(|v| v.len()),
        Ok(2)
    );
    assert_eq!(val(Rules::V5_8, "A=\"#x\ny\"", "A"), s("#x\ny"));
}

#[test]
fn open_block_at_end_of_file_is_an_error_from_5_8() {
    let content = "X=1\nA=\"abc\nB=2";
    for rules in [Rules::V5_4, Rules::V5_6] {
        assert_eq!(read(rules, content), Ok(vec![("X".into(), s("1"))]));
    }
    let e = read(Rules::V5_8, content).expect_err("5.8 rejects");
    assert_eq!(
        (e.line, e.key.as_deref(), e.problem),
        (2, Some("A"), Problem::UnterminatedDouble)
    );
}

#[test]
fn quote_at_start_of_line_closes_a_block_from_5_8() {
    // Up to 5.6 a quote at position 0 is not counted (only a line that is just `"` closes a
    // block that way), so `" # c` leaves A's block open to the end of the file, where it
    // vanishes with B; 5.8 counts it and closes the block.
    let content = "A=\"x\n\" # c\nB=2";
    for rules in [Rules::V5_4, Rules::V5_6] {
        assert_eq!(read(rules, content), Ok(vec![]), "{rules}");
    }
    assert_eq!(
        read(Rules::V5_8, content),
        Ok(vec![("A".into(), s("x\n")), ("B".into(), s("2"))])
    );
    for rules in [Rules::V5_4, Rules::V5_6, Rules::V5_8] {
        assert_eq!(val(rules, "A=\"x\n\"", "A"), s("x\n"), "{rules}");
    }
}

#[test]
fn releases_between_known_ones_must_agree() {
    let v57 = Release::from_version("v5.7.0", "composer.lock");
    // Where 5.6 and 5.8 agree, 5.7 can only agree too.
    assert_eq!(
        parse("A=1\nB=\"x\ny\"", &v57, &no_env),
        Ok(vec![("A".into(), s("1")), ("B".into(), s("x\ny"))])
    );
    // Where they differ, refuse rather than guess, naming the entry.
    let e = parse("X=1\nexport A=1", &v57, &no_env).expect_err("5.6 rejects, 5.8 accepts");
    assert_eq!((e.line, e.problem), (2, Problem::Unverified));
    let e = parse("# P=\"s\nB=2\nC=\"3\"", &v57, &no_env).expect_err("different values");
    assert_eq!(
        (e.line, e.key.as_deref(), e.problem),
        (2, Some("B"), Problem::Unverified)
    );
    // An error both give is reported as such.
    let e = parse("A=b c", &v57, &no_env).expect_err("both reject");
    assert_eq!(e.problem, Problem::UnquotedWhitespace);
}
