//! The real phpdotenv as an oracle: 5.4.1 from the machine's Debian package, 5.6.1 and 5.8.0
//! fetched from Debian by `scripts/phpdotenv-oracle`. Each reads cases in one batch, the way
//! Laravel loads a file (file reader's UTF-8 and BOM handling, Parser, Loader, immutable
//! repository pre-filled with the "real" environment).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::super::*;

const PHP_HINT: &str = "install with: apt-get install php-cli php-mbstring php-vlucas-phpdotenv";

/// One `.env` file and the real environment it is loaded under.
#[derive(Debug, Clone)]
pub(in super::super) struct Case {
    pub content: Vec<u8>,
    pub env: Vec<(String, String)>,
}

impl Case {
    pub fn new(content: &[u8], env: &[(&str, &str)]) -> Case {
        Case {
            content: content.to_vec(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }
}

/// What Laravel ends up seeing: per file key in first-appearance order, the real value if set,
/// else the file's; or the fact that loading failed.
pub(in super::super) type Outcome = Result<Vec<(String, Option<String>)>, String>;

/// Two outcomes agree when both load the same values or both fail (messages differ by design).
pub(in super::super) fn same(a: &Outcome, b: &Outcome) -> bool {
    match (a, b) {
        (Ok(x), Ok(y)) => x == y,
        (Err(_), Err(_)) => true,
        _ => false,
    }
}

/// What we read for `case` under `rules`, starting from the file's bytes as App::load does.
pub(in super::super) fn ours(case: &Case, rules: Rules) -> Outcome {
    ours_decoded(&decode(&case.content), &case.env, rules)
}

/// Like [`ours`] for text already decoded (lets a test swap the decoder).
pub(in super::super) fn ours_decoded(
    text: &str,
    env: &[(String, String)],
    rules: Rules,
) -> Outcome {
    let lookup = |name: &str| {
        env.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.to_string())
    };
    parse(text, &Release::with_rules(rules), &lookup)
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

/// A real phpdotenv release, ready to run.
pub(in super::super) struct Oracle {
    /// The release, e.g. "5.6.1".
    pub version: &'static str,
    /// The rules that must read files as it does.
    pub rules: Rules,
    /// The folder holding `Dotenv/`, `GrahamCampbell/ResultType/` and `PhpOption/`.
    base: PathBuf,
}

/// Loads each case of a JSON batch on stdin ({"env": [[hex name, hex value]...], "content":
/// hex}) with the classes under argv[1], and prints one JSON answer per case: {"ok": [[hex
/// name, hex value or null]...]} in first-appearance order, or {"err": message}.
const PHP_ORACLE: &str = r#"
$base = $argv[1];
spl_autoload_register(function ($class) use ($base) {
    $roots = ['Dotenv\\' => 'Dotenv/', 'GrahamCampbell\\ResultType\\' => 'GrahamCampbell/ResultType/',
        'PhpOption\\' => 'PhpOption/'];
    foreach ($roots as $prefix => $dir) {
        if (strncmp($class, $prefix, strlen($prefix)) === 0) {
            require $base.'/'.$dir.str_replace('\\', '/', substr($class, strlen($prefix))).'.php';
            return;
        }
    }
});
foreach (json_decode(stream_get_contents(STDIN), true) as $case) {
    $adapter = Dotenv\Repository\Adapter\ArrayAdapter::create()->get();
    foreach ($case['env'] as [$k, $v]) {
        $adapter->write(hex2bin($k), hex2bin($v));
    }
    $repo = Dotenv\Repository\RepositoryBuilder::createWithNoAdapters()
        ->addAdapter($adapter)->immutable()->make();
    $content = Dotenv\Util\Str::utf8(hex2bin($case['content']))->success()->get();
    try {
        $entries = (new Dotenv\Parser\Parser())->parse($content);
    } catch (Dotenv\Exception\InvalidFileException $e) {
        echo json_encode(['err' => bin2hex($e->getMessage())]), "\n";
        continue;
    }
    (new Dotenv\Loader\Loader())->load($repo, $entries);
    $seen = [];
    $out = [];
    foreach ($entries as $entry) {
        $name = $entry->getName();
        if (isset($seen[$name])) { continue; }
        $seen[$name] = true;
        $value = $repo->get($name);
        $out[] = [bin2hex($name), $value === null ? null : bin2hex($value)];
    }
    echo json_encode(['ok' => $out]), "\n";
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
    String::from_utf8(bytes).expect("phpdotenv hands out UTF-8")
}

impl Oracle {
    /// 5.4.1, Debian bookworm's php-vlucas-phpdotenv, installed by scripts/test.
    pub fn v5_4_1() -> Oracle {
        let status = Command::new("dpkg-query")
            .args(["-W", "-f", "${Version}", "php-vlucas-phpdotenv"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        assert!(
            status.starts_with("5.4.1"),
            "the 5.4 oracle needs Debian bookworm's php-vlucas-phpdotenv 5.4.1 (found {status:?}); {PHP_HINT}"
        );
        Oracle::at("5.4.1", Rules::V5_4, PathBuf::from("/usr/share/php"))
    }

    /// 5.6.1 (Debian trixie), what Laravel 10 to 12 ran until 5.8.
    pub fn v5_6_1() -> Oracle {
        Oracle::fetched("5.6.1", Rules::V5_6)
    }

    /// 5.8.0 (Debian sid).
    pub fn v5_8_0() -> Oracle {
        Oracle::fetched("5.8.0", Rules::V5_8)
    }

    /// Every oracle, oldest first.
    pub fn all() -> Vec<Oracle> {
        vec![Oracle::v5_4_1(), Oracle::v5_6_1(), Oracle::v5_8_0()]
    }

    fn fetched(version: &'static str, rules: Rules) -> Oracle {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/phpdotenv-oracle");
        let out = Command::new(&script)
            .arg(version)
            .stderr(Stdio::inherit())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        assert!(
            out.status.success(),
            "{} {version} failed: it fetches phpdotenv from Debian's package archive with apt-get",
            script.display()
        );
        let base = String::from_utf8(out.stdout).expect("a path");
        Oracle::at(version, rules, PathBuf::from(base.trim()))
    }

    fn at(version: &'static str, rules: Rules, base: PathBuf) -> Oracle {
        assert!(
            base.join("Dotenv/Parser/Parser.php").is_file(),
            "phpdotenv {version} not found in {}; {PHP_HINT}",
            base.display()
        );
        Oracle {
            version,
            rules,
            base,
        }
    }

    /// Loads every case with the real phpdotenv, in one PHP process.
    pub fn run(&self, cases: &[Case]) -> Vec<Outcome> {
        let batch: Vec<serde_json::Value> = cases
            .iter()
            .map(|c| {
                let env: Vec<[String; 2]> = c
                    .env
                    .iter()
                    .map(|(k, v)| [hex(k.as_bytes()), hex(v.as_bytes())])
                    .collect();
                serde_json::json!({"env": env, "content": hex(&c.content)})
            })
            .collect();
        let mut child = Command::new("php")
            .args(["-d", "error_reporting=E_ALL", "-r", PHP_ORACLE])
            .arg(&self.base)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run php ({e}); {PHP_HINT}"));
        let input = serde_json::to_vec(&batch).expect("json");
        let mut stdin = child.stdin.take().expect("piped stdin");
        let writer = std::thread::spawn(move || stdin.write_all(&input));
        let output = child.wait_with_output().expect("php output");
        writer.join().expect("writer").expect("write to php");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "php ({}) failed: {stdout}{}",
            self.version,
            String::from_utf8_lossy(&output.stderr)
        );
        let answers: Vec<Outcome> = stdout.lines().map(parse_answer).collect();
        assert_eq!(answers.len(), cases.len(), "one answer per case: {stdout}");
        answers
    }
}

fn parse_answer(line: &str) -> Outcome {
    let json: serde_json::Value = serde_json::from_str(line).expect("json from php");
    if let Some(err) = json.get("err").and_then(|e| e.as_str()) {
        return Err(String::from_utf8_lossy(&hex_bytes(err)).into_owned());
    }
    let pairs = json["ok"].as_array().expect("ok list");
    Ok(pairs
        .iter()
        .map(|p| {
            let name = unhex(p[0].as_str().expect("name"));
            (name, p[1].as_str().map(unhex))
        })
        .collect())
}

fn hex_bytes(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex from php"))
        .collect()
}

/// Runs `cases` through one oracle and through our reader under its rules; returns the cases
/// where they disagree, described.
pub(in super::super) fn differences(oracle: &Oracle, cases: &[Case]) -> Vec<String> {
    let theirs = oracle.run(cases);
    cases
        .iter()
        .zip(theirs)
        .filter_map(|(case, php)| {
            let ours = ours(case, oracle.rules);
            (!same(&php, &ours)).then(|| {
                format!(
                    "{:?} env={:?}\n  php {}: {php:?}\n  ours: {ours:?}",
                    String::from_utf8_lossy(&case.content),
                    case.env,
                    oracle.version
                )
            })
        })
        .collect()
}

/// Hand-written cases: every rule in laravel-env.md and each quirk found so far, plus the
/// differences between releases.
fn cases() -> Vec<Case> {
    let none: &[(&str, &str)] = &[];
    let real_a: &[(&str, &str)] = &[("A", "real")];
    let text: &[(&str, &[(&str, &str)])] = &[
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
        ("export \x0cAB=1", none),
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
        ("A=1 # see B=\"x\nC=2", none),
        ("A=foo=\"bar\nB=1", none),
        ("A=\"x\nB=\"y\nC\"", none),
        ("A=\"x\nB=\"\n=\"", none),
        ("A=\"x\n\"y\"", none),
        ("A=\"x\n\" # c\nB=2", none),
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
        ("AlbertÅberg=Skybert\nДата='2022'", none),
        ("中=1", none),
        ("ǅ=1", none),
        ("Ⅷ=1\ne\u{301}=2", none),
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
        // The two files an earlier fuzz run found 5.6.2 reading differently from 5.4's rules.
        (
            "A=\"\r\n# comment\r\n# P=\"secret\r\nexport\tDB_DATABASE ='false'  \r\n",
            none,
        ),
        (
            "\t\u{e9}=\"~\"\nDB_DATABASE=\"${A.B.C}$$ #\\v${ A}\nB=2\n${B}'{\r\n\\t\" # comment\nFOO=\"{\" #\n",
            none,
        ),
    ];
    let mut cases: Vec<Case> = text
        .iter()
        .map(|(content, env)| Case::new(content.as_bytes(), env))
        .collect();
    // Invalid UTF-8: each bad sequence becomes one `?`, also in names and around quotes.
    for bytes in [
        &b"DB_DATABASE=/srv/caf\xe9.sqlite"[..],
        b"A=\"\xe9\xe9\xc3\" # \xff",
        b"A=\xe2\x82\xf0\x9f\x98(\xed\xa0\x80\xc0\xaf\xf4\x90\x80\x80",
        b"\xe9=1",
        b"\xef\xbb\xbfA=\xef\xbb",
        b"A=\xef\xbf\xbd",
    ] {
        cases.push(Case::new(bytes, none));
    }
    cases
}

#[test]
fn oracles_are_not_pushovers() {
    // Guard against an oracle that agrees with everything (e.g. a broken script).
    let none: &[(&str, &str)] = &[];
    for oracle in Oracle::all() {
        let out = oracle.run(&[
            Case::new(b"A=abc#123\nB", none),
            Case::new(b"A=bar baz", none),
        ]);
        let expected: Outcome = Ok(vec![("A".into(), Some("abc".into())), ("B".into(), None)]);
        assert_eq!(out[0], expected, "{}", oracle.version);
        assert!(out[1].is_err(), "{}", oracle.version);
    }
}

#[test]
fn matches_every_real_phpdotenv() {
    let cases = cases();
    let mut failures = Vec::new();
    for oracle in Oracle::all() {
        failures.extend(differences(&oracle, &cases));
    }
    assert!(
        failures.is_empty(),
        "differences from phpdotenv:\n{}",
        failures.join("\n")
    );
}

#[test]
fn releases_really_differ_on_these_cases() {
    // The per-release rules exist because the real releases disagree: if two neighbouring
    // oracles ever agreed on all of these, the distinction (or the oracle) would be wrong.
    let none: &[(&str, &str)] = &[];
    let cases = [
        Case::new("é=1".as_bytes(), none),
        Case::new(b"A=\"x\nB=\"\n=\"", none),
        Case::new(b"export A=1", none),
        Case::new(b"# P=\"secret\nB=2\nC=\"3\"\nD=4", none),
        Case::new(b"X=1\nA=\"abc\nB=2", none),
    ];
    let [v54, v56, v58] =
        [Oracle::v5_4_1(), Oracle::v5_6_1(), Oracle::v5_8_0()].map(|o| o.run(&cases));
    let differ =
        |a: &[Outcome], b: &[Outcome]| (0..cases.len()).filter(|&i| !same(&a[i], &b[i])).count();
    assert_eq!(differ(&v54, &v56), 2, "5.4.1 vs 5.6.1: {v54:?} {v56:?}");
    assert_eq!(differ(&v56, &v58), 4, "5.6.1 vs 5.8.0: {v56:?} {v58:?}");
}
