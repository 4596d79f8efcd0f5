//! The layout of src/ as a test: no circles between modules, arrows pointing down the layers
//! (cmd over laravel over engine over store), and only `report` (and clap's usage errors in
//! `cli`) printing. Read from the `crate::…` paths in the source, tests left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use regex::Regex;

type Module = Vec<String>;

/// Every module of src/ (a file; `mod.rs`/`main.rs` stand for their folder) and its text.
fn modules() -> BTreeMap<Module, String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = BTreeMap::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let m = module_of(&src, &path);
                // Test-only modules in their own files (`mod tests;` under #[cfg(test)]).
                if !m.iter().any(|part| part == "tests") {
                    out.insert(m, without_tests(&read(&path)));
                }
            }
        }
    }
    out
}

fn read(path: &PathBuf) -> String {
    std::fs::read_to_string(path).unwrap()
}

fn module_of(src: &Path, path: &Path) -> Module {
    let rel = path.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Module = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "main")) {
        parts.pop();
    }
    parts
}

/// The text before a `#[cfg(test)] mod …` block, without line comments.
fn without_tests(text: &str) -> String {
    let cut = Regex::new(r"#\[cfg\(test\)\]\s*mod\s+\w+")
        .unwrap()
        .find(text)
        .map_or(text.len(), |m| m.start());
    Regex::new(r"//[^\n]*")
        .unwrap()
        .replace_all(&text[..cut], "")
        .into_owned()
}

/// The modules each module refers to through `crate::a::b…` paths (in `use` lines, with their
/// braces expanded, and inline), each tied to the deepest existing module of the path.
fn graph(mods: &BTreeMap<Module, String>) -> BTreeMap<Module, BTreeSet<Module>> {
    let use_re = Regex::new(r"\buse\s+crate::([^;]+);").unwrap();
    let inline_re = Regex::new(r"\bcrate::((?:\w+::)*\w+)").unwrap();
    let mut g = BTreeMap::new();
    for (m, text) in mods {
        let mut paths = Vec::new();
        for c in use_re.captures_iter(text) {
            let body: String = c[1].chars().filter(|c| !c.is_whitespace()).collect();
            paths.extend(expand(&body));
        }
        for c in inline_re.captures_iter(text) {
            paths.push(c[1].to_string());
        }
        let mut targets = BTreeSet::new();
        for p in paths {
            let parts: Module = p
                .split("::")
                .filter(|s| !s.is_empty() && *s != "self")
                .map(str::to_string)
                .collect();
            if let Some(t) = (1..=parts.len())
                .rev()
                .map(|k| parts[..k].to_vec())
                .find(|t| mods.contains_key(t))
            {
                // A module's own children and parent are one unit of design.
                if !t.starts_with(m) && !m.starts_with(&t) {
                    targets.insert(t);
                }
            }
        }
        g.insert(m.clone(), targets);
    }
    g
}

/// `a::{b,c::{d,e}}` → `a::b`, `a::c::d`, `a::c::e`.
fn expand(body: &str) -> Vec<String> {
    let Some(open) = body.find('{') else {
        return vec![body.to_string()];
    };
    let head = &body[..open];
    let inner = &body[open + 1..body.len() - 1];
    let (mut parts, mut depth, mut cur) = (Vec::new(), 0, String::new());
    for ch in inner.chars() {
        match ch {
            ',' if depth == 0 => parts.push(std::mem::take(&mut cur)),
            '{' => {
                depth += 1;
                cur.push(ch)
            }
            '}' => {
                depth -= 1;
                cur.push(ch)
            }
            _ => cur.push(ch),
        }
    }
    parts.push(cur);
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .flat_map(|p| expand(&format!("{head}{p}")))
        .collect()
}

fn name(m: &Module) -> String {
    if m.is_empty() {
        "crate".into()
    } else {
        m.join("::")
    }
}

/// Modules reachable from `from`.
fn reachable(g: &BTreeMap<Module, BTreeSet<Module>>, from: &Module) -> BTreeSet<Module> {
    let mut seen = BTreeSet::new();
    let mut todo: Vec<Module> = g[from].iter().cloned().collect();
    while let Some(m) = todo.pop() {
        if seen.insert(m.clone()) {
            todo.extend(g[&m].iter().cloned());
        }
    }
    seen
}

#[test]
fn no_circles_between_modules() {
    let g = graph(&modules());
    let mut circles = Vec::new();
    for m in g.keys() {
        if reachable(&g, m).contains(m) {
            let back: Vec<String> = g[m]
                .iter()
                .filter(|t| reachable(&g, t).contains(m))
                .map(name)
                .collect();
            circles.push(format!("{} -> {}", name(m), back.join(", ")));
        }
    }
    assert!(
        circles.is_empty(),
        "module circles (each module, then where it goes that leads back to it):\n{}",
        circles.join("\n")
    );
}

#[test]
fn arrows_point_down_the_layers() {
    // Each layer may use the ones after it, never the ones before. `report` sits beside `cmd`:
    // it reads the outcome types of the subcommands, and only the dispatcher calls it.
    let layers = ["cmd", "report", "laravel", "engine", "store"];
    let g = graph(&modules());
    let mut wrong = Vec::new();
    for (m, targets) in &g {
        let Some(from) = m.first().and_then(|t| layers.iter().position(|l| l == t)) else {
            continue;
        };
        for t in targets {
            let to = t.first().and_then(|h| layers.iter().position(|l| l == h));
            if to.is_some_and(|to| to < from && layers[from] != "report") {
                wrong.push(format!("{} -> {}", name(m), name(t)));
            }
        }
    }
    assert!(wrong.is_empty(), "upward arrows:\n{}", wrong.join("\n"));
}

#[test]
fn only_report_prints() {
    let print = Regex::new(r"\b(e?println!|e?print!|dbg!)").unwrap();
    let offenders: Vec<String> = modules()
        .into_iter()
        .filter(|(m, _)| !matches!(name(m).as_str(), "report" | "cli"))
        .filter(|(_, text)| print.is_match(text))
        .map(|(m, _)| name(&m))
        .collect();
    assert!(
        offenders.is_empty(),
        "print outside report.rs: {offenders:?}"
    );
}

#[test]
fn the_checks_see_the_tree() {
    let mods = modules();
    for m in [
        "cmd",
        "cmd::backup",
        "engine::mysql::dump",
        "store::publish",
    ] {
        let key: Module = m.split("::").map(str::to_string).collect();
        assert!(mods.contains_key(&key), "{m} not found");
    }
    let g = graph(&mods);
    let backup: Module = vec!["cmd".into(), "backup".into()];
    assert!(
        g[&backup].contains(&vec!["store".to_string(), "publish".to_string()]),
        "{:?}",
        g[&backup]
    );
    assert_eq!(
        expand("a::{b,c::{d,e}}"),
        ["a::b", "a::c::d", "a::c::e"],
        "brace expansion"
    );
}
