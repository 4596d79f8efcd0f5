//! Differential fuzz: random `.env` files built from nasty fragments (quotes, `${}`, `#`,
//! `\r\n`, tabs, `export`, Unicode and invalid UTF-8), read by each real phpdotenv release and by
//! us under that release's rules.
//!
//! The normal suite runs a few hundred files per release; `scripts/dotenv-fuzz` runs more and
//! prints the figures (DOTENV_FUZZ_CASES, DOTENV_FUZZ_SEED).

use super::super::*;
use super::oracle::{ours, ours_decoded, same, Case, Oracle, Outcome};

/// SplitMix64: a fixed generator, so a seed names the same files on every machine and with
/// every version of the `rand` crate.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a [u8]]) -> &'a [u8] {
        items[self.below(items.len())]
    }
}

/// Names every release accepts...
const NAMES: &[&[u8]] = &[
    b"A",
    b"B",
    b"DB_DATABASE",
    b"DB_PASSWORD",
    b"A.B.C",
    b"1A",
    b"AB",
    b"'A'",
    b"\"AB\"",
    b"A",
    b"B",
    b"DB_DATABASE",
];

/// Names only 5.5 and later accept.
const UNICODE_NAMES: &[&[u8]] = &[
    "é".as_bytes(),
    "FOOƱ".as_bytes(),
    "Ⅷ".as_bytes(),
    "e\u{301}".as_bytes(),
];

/// ... and names it rejects, or that only some releases accept after `export`.
const BAD_NAMES: &[&[u8]] = &[
    b"'A",
    b"A B",
    b"A-B",
    b"",
    b"export",
    b"exportAB",
    "中".as_bytes(),
    "ǅ".as_bytes(),
    b"\xe9",
    b"A\xff",
];

const PREFIXES: &[&[u8]] = &[
    b"export ",
    b"export\t",
    b"export  ",
    b"export \x0c",
    b"export \0",
    b" ",
    b"\t",
    b"\x0c",
    b"# ",
    b"#",
];

const EQUALS: &[&[u8]] = &[b"=", b"=", b"=", b" = ", b"\t=", b"= ", b"==", b"", b"=\t"];

/// Value fragments that rarely break a line on their own...
const BITS: &[&[u8]] = &[
    b"x",
    b"secret",
    b"false",
    b"${A}",
    b"${A.B.C}",
    b"${B}",
    b"$",
    b"$$",
    b"{",
    b"}",
    b"(",
    b")",
    b"=",
    b"\\n",
    "é".as_bytes(),
    b"~",
    b"\xe9",
    b"\xff\xfe",
    b"\xc3",
    b"\xe2\x82",
];

/// ... and the ones that make trouble: quotes, comments, whitespace, escapes, line breaks.
const NASTY_BITS: &[&[u8]] = &[
    b"\"",
    b"\"",
    b"'",
    b"${ A}",
    b"#",
    b" # c",
    b" ",
    b"\t",
    b"\\",
    b"\\t",
    b"\\v",
    b"\\\"",
    b"\\\\",
    b"\\$",
    b"\\q",
    b"=\"",
    b"\n",
    b"\r\n",
    b"\r",
    b"\x0c",
    b"\x0b",
    b"\0",
    b"\xc2\xa0",
    b"\xef\xbb\xbf",
];

const LONE_LINES: &[&[u8]] = &[
    b"",
    b"  ",
    b"# comment",
    b"#x=\"y",
    b"  # P=\"secret",
    b"\"",
    b"\" # c",
    b"\t",
    b"=\"",
    b"B=2",
    b"'",
];

/// A fragment: usually tame, one time in `odds` nasty.
fn bit(
    rng: &mut SplitMix,
    tame: &[&'static [u8]],
    nasty: &[&'static [u8]],
    odds: usize,
) -> Vec<u8> {
    if rng.below(odds) == 0 {
        rng.pick(nasty).to_vec()
    } else {
        rng.pick(tame).to_vec()
    }
}

fn value(rng: &mut SplitMix) -> Vec<u8> {
    let mut inner = Vec::new();
    for _ in 0..rng.below(5) {
        inner.extend(bit(rng, BITS, NASTY_BITS, 8));
    }
    let mut out = Vec::new();
    match rng.below(10) {
        0..=3 => {
            out.push(b'"');
            out.extend(inner);
            out.push(b'"');
            out.extend(bit(rng, &[b"", b" # c"], &[b" x", b"#", b"  ", b"\""], 6));
        }
        4 | 5 => {
            out.push(b'\'');
            out.extend(inner);
            out.push(b'\'');
            out.extend(bit(rng, &[b"", b" # c"], &[b"x", b"'"], 6));
        }
        _ => out.extend(inner),
    }
    out
}

fn line(rng: &mut SplitMix) -> Vec<u8> {
    match rng.below(25) {
        0 | 1 => rng.pick(LONE_LINES).to_vec(),
        2 => (0..1 + rng.below(5))
            .flat_map(|_| bit(rng, BITS, NASTY_BITS, 2))
            .collect(),
        _ => {
            let mut out = bit(rng, &[b""], PREFIXES, 5);
            out.extend(match rng.below(20) {
                0 => rng.pick(BAD_NAMES).to_vec(),
                1 => rng.pick(UNICODE_NAMES).to_vec(),
                _ => rng.pick(NAMES).to_vec(),
            });
            out.extend(bit(rng, &[b"="], EQUALS, 4));
            out.extend(value(rng));
            out
        }
    }
}

/// `count` random files from `seed`, each with a random real environment.
fn random_cases(seed: u64, count: usize) -> Vec<Case> {
    let mut rng = SplitMix(seed);
    (0..count)
        .map(|_| {
            let mut content = Vec::new();
            if rng.below(20) == 0 {
                content.extend_from_slice(b"\xef\xbb\xbf");
            }
            let lines = 1 + rng.below(6);
            for i in 0..lines {
                if i > 0 {
                    content.extend_from_slice(rng.pick(&[b"\n", b"\n", b"\n", b"\r\n", b"\r"]));
                }
                content.extend(line(&mut rng));
            }
            if rng.below(2) == 0 {
                content.push(b'\n');
            }
            let env: &[(&str, &str)] = match rng.below(10) {
                0 | 1 => &[("A", "real")],
                2 => &[("A.B.C", "abc"), ("B", "")],
                _ => &[],
            };
            Case::new(&content, env)
        })
        .collect()
}

/// How db-backup read every app before it knew releases: 5.4's rules after Rust's lossy
/// decoding (U+FFFD where phpdotenv writes `?`).
fn legacy(case: &Case) -> Outcome {
    let text = String::from_utf8_lossy(&case.content);
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    ours_decoded(text, &case.env, Rules::V5_4)
}

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn random_files_read_as_every_real_phpdotenv() {
    let count = setting("DOTENV_FUZZ_CASES", 400) as usize;
    let seed = setting("DOTENV_FUZZ_SEED", 0x5EED_2026);
    let cases = random_cases(seed, count);
    let mut failures = Vec::new();
    for oracle in Oracle::all() {
        let theirs = oracle.run(&cases);
        let loaded = theirs.iter().filter(|o| o.is_ok()).count();
        let mut now = 0;
        let mut before = 0;
        let mut old_rules = 0;
        for (case, php) in cases.iter().zip(&theirs) {
            let mine = ours(case, oracle.rules);
            if !same(php, &mine) {
                now += 1;
                failures.push(format!(
                    "{:?} env={:?}\n  php {}: {php:?}\n  ours: {mine:?}",
                    String::from_utf8_lossy(&case.content),
                    case.env,
                    oracle.version
                ));
            }
            before += usize::from(!same(php, &legacy(case)));
            old_rules += usize::from(!same(php, &ours(case, Rules::V5_4)));
        }
        eprintln!(
            "fuzz seed {seed:#x}: {count} files, phpdotenv {} loads {loaded}; mismatches: \
             {now} now, {before} with the old reader (5.4 rules, lossy UTF-8), \
             {old_rules} with 5.4 rules alone",
            oracle.version
        );
    }
    failures.truncate(10);
    assert!(
        failures.is_empty(),
        "differences from phpdotenv (first 10):\n{}",
        failures.join("\n")
    );
}

#[test]
fn fuzz_files_are_nasty_and_varied() {
    // A generator that drifted into producing only broken (or only trivial) files would test
    // little: check the mix on our side, without PHP.
    let cases = random_cases(1, 500);
    let ok = |rules| cases.iter().filter(|c| ours(c, rules).is_ok()).count();
    for rules in [Rules::V5_4, Rules::V5_6, Rules::V5_8] {
        let n = ok(rules);
        eprintln!("{n} of 500 files load under {rules}");
        assert!(
            (150..400).contains(&n),
            "{n} of 500 files load under {rules}"
        );
    }
    let has = |needle: &[u8]| {
        cases
            .iter()
            .filter(|c| c.content.windows(needle.len()).any(|w| w == needle))
            .count()
    };
    for needle in [&b"\r\n"[..], b"${", b"export", b"\xe9", b"=\"", b"#"] {
        assert!(has(needle) > 20, "{needle:?}");
    }
}
