//! The whitelist a script's statements pass before they reach the server: what our dumps and
//! pg_dump's plain format write (`--no-owner --no-acl`), each statement's target in one of the
//! app's schemas. Everything else is refused with its line — shell and file access (`\!`,
//! `\copy`, `COPY … PROGRAM`), `DO` blocks, roles and grants, `ALTER SYSTEM`, settings other
//! than a dump's own — before the load changes anything it would not roll back.

/// What to do with an accepted statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send it as it is.
    Run,
    /// A session setting the load makes itself (timeouts): not sent.
    Skip,
    /// `CREATE SCHEMA name` of one of the app's schemas: sent only if it does not exist.
    Schema(String),
    /// `CREATE EXTENSION`: the server must already allow it to the app's user.
    Extension(String),
    /// `COPY table (…) FROM stdin`: its rows follow.
    Copy(String),
    /// `CREATE TABLE schema.name`: sent; named for the inventory.
    Table(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    /// A bare word, upper-cased for keywords, with its text as written.
    Word(String, String),
    /// A double-quoted identifier, unquoted.
    Quoted(String),
    /// A string literal, unquoted.
    Str(String),
    Num(String),
    Sym(char),
}

impl Tok {
    fn is(&self, kw: &str) -> bool {
        matches!(self, Tok::Word(w, _) if w == kw)
    }
    /// The identifier it names (a bare word folds to lower case, as the server folds it).
    fn ident(&self) -> Option<String> {
        match self {
            Tok::Word(_, raw) => Some(raw.to_lowercase()),
            Tok::Quoted(q) => Some(q.clone()),
            _ => None,
        }
    }
}

/// The first tokens of a statement: enough to judge it (bodies are not looked into).
fn tokens(sql: &str, limit: usize) -> Vec<Tok> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() && out.len() < limit {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if sql[i..].starts_with("--") {
            i = sql[i..].find('\n').map_or(b.len(), |n| i + n);
        } else if sql[i..].starts_with("/*") {
            let mut depth = 0;
            while i < b.len() {
                if sql[i..].starts_with("/*") {
                    depth += 1;
                    i += 2;
                } else if sql[i..].starts_with("*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == b'"' {
            let (text, next) = quoted(sql, i, b'"');
            out.push(Tok::Quoted(text));
            i = next;
        } else if c == b'\'' {
            let (text, next) = quoted(sql, i, b'\'');
            out.push(Tok::Str(text));
            i = next;
        } else if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 {
            let start = i;
            while i < b.len()
                && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'$' || b[i] >= 0x80)
            {
                i += 1;
            }
            let raw = &sql[start..i];
            out.push(Tok::Word(raw.to_ascii_uppercase(), raw.to_string()));
        } else if c.is_ascii_digit() || (c == b'-' && b.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            let start = i;
            i += 1;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.') {
                i += 1;
            }
            out.push(Tok::Num(sql[start..i].to_string()));
        } else {
            let ch = sql[i..].chars().next().unwrap_or('\0');
            out.push(Tok::Sym(ch));
            i += ch.len_utf8();
        }
    }
    out
}

/// The text between the quote at `start` and its closing one (doubled quotes are one), and
/// where the token ends.
fn quoted(sql: &str, start: usize, quote: u8) -> (String, usize) {
    let b = sql.as_bytes();
    let mut s = String::new();
    let mut i = start + 1;
    while i < b.len() {
        if b[i] == quote {
            if b.get(i + 1) == Some(&quote) {
                s.push(quote as char);
                i += 2;
                continue;
            }
            return (s, i + 1);
        }
        let ch = sql[i..].chars().next().unwrap_or('\0');
        s.push(ch);
        i += ch.len_utf8();
    }
    (s, i)
}

/// Settings a dump may set, with the values it may set them to (None: any).
const SETTINGS: &[(&str, Option<&[&str]>)] = &[
    ("STATEMENT_TIMEOUT", None),
    ("LOCK_TIMEOUT", None),
    ("IDLE_IN_TRANSACTION_SESSION_TIMEOUT", None),
    ("TRANSACTION_TIMEOUT", None),
    ("CLIENT_ENCODING", Some(&["UTF8", "UTF-8"])),
    ("STANDARD_CONFORMING_STRINGS", Some(&["ON"])),
    (
        "CHECK_FUNCTION_BODIES",
        Some(&["FALSE", "OFF", "TRUE", "ON"]),
    ),
    ("XMLOPTION", Some(&["CONTENT", "DOCUMENT"])),
    ("CLIENT_MIN_MESSAGES", Some(&["WARNING", "NOTICE", "ERROR"])),
    ("ROW_SECURITY", Some(&["OFF", "ON"])),
    ("DEFAULT_TABLESPACE", Some(&[""])),
    ("DEFAULT_TABLE_ACCESS_METHOD", Some(&["HEAP"])),
    ("DEFAULT_WITH_OIDS", Some(&["FALSE", "OFF"])),
];

/// Judges one statement: what to do with it, or why it is refused. `schemas` are the app's.
pub fn judge(sql: &str, schemas: &[String]) -> Result<Action, String> {
    let t = tokens(sql, 64);
    let word = |i: usize| match t.get(i) {
        Some(Tok::Word(w, _)) => w.as_str(),
        _ => "",
    };
    match word(0) {
        "SET" => setting(&t),
        "SELECT" => select(&t, schemas),
        "CREATE" => {
            let action = create(&t, schemas)?;
            if matches!(action, Action::Table(_)) {
                related_tables(&tokens(sql, usize::MAX), schemas)?;
            }
            Ok(action)
        }
        "ALTER" => alter(&t, schemas),
        "COMMENT" => comment(&t, schemas),
        // Its column list can be longer than the first tokens: all of it is read.
        "COPY" => copy(&tokens(sql, usize::MAX), schemas),
        "REFRESH" if word(1) == "MATERIALIZED" && word(2) == "VIEW" => {
            name_at(&t, 3, schemas).map(|_| Action::Run)
        }
        "GRANT" | "REVOKE" => Err("grants are not restored (dump with --no-acl)".into()),
        "DO" => Err("DO blocks run code at load time; they are not part of a dump".into()),
        "" => Err("not a statement".into()),
        w => Err(format!("{w} statements are not part of a plain dump")),
    }
}

fn setting(t: &[Tok]) -> Result<Action, String> {
    let mut i = 1;
    if t.get(i).is_some_and(|x| x.is("SESSION")) {
        i += 1;
    }
    let Some(Tok::Word(name, _)) = t.get(i) else {
        return Err("SET without a setting name".into());
    };
    let Some((_, values)) = SETTINGS.iter().find(|(n, _)| n == name) else {
        return Err(format!(
            "SET {} is not one of the session settings a dump writes",
            name.to_lowercase()
        ));
    };
    if !(t.get(i + 1).is_some_and(|x| x.is("TO")) || t.get(i + 1) == Some(&Tok::Sym('='))) {
        return Err(format!("SET {} without = or TO", name.to_lowercase()));
    }
    let value = t[i + 2..].iter().map(|x| match x {
        Tok::Word(w, _) => w.clone(),
        Tok::Str(s) => s.to_ascii_uppercase(),
        Tok::Num(n) => n.clone(),
        Tok::Quoted(q) => q.to_ascii_uppercase(),
        Tok::Sym(c) => c.to_string(),
    });
    let value: Vec<String> = value.collect();
    if let Some(allowed) = values {
        if value.len() != 1 || !allowed.contains(&value[0].as_str()) {
            return Err(format!(
                "SET {} = {} is not a value a dump writes",
                name.to_lowercase(),
                value.join(" ")
            ));
        }
    } else if value.len() != 1 || !matches!(t.get(i + 2), Some(Tok::Num(_) | Tok::Str(_))) {
        return Err(format!("SET {} to an expression", name.to_lowercase()));
    }
    if name.ends_with("TIMEOUT") {
        // The load bounds its own waits (--busy-timeout).
        return Ok(Action::Skip);
    }
    Ok(Action::Run)
}

/// `SELECT pg_catalog.set_config('search_path', '', false)` and
/// `SELECT pg_catalog.setval('schema.seq', N, true|false)`: nothing else.
fn select(t: &[Tok], schemas: &[String]) -> Result<Action, String> {
    let call = |f: &str| {
        t.len() >= 6
            && t[1].is("PG_CATALOG")
            && t[2] == Tok::Sym('.')
            && t[3].is(f)
            && t[4] == Tok::Sym('(')
    };
    if call("SET_CONFIG")
        && t[5..]
            == [
                Tok::Str("search_path".into()),
                Tok::Sym(','),
                Tok::Str(String::new()),
                Tok::Sym(','),
                Tok::Word("FALSE".into(), "false".into()),
                Tok::Sym(')'),
            ]
    {
        return Ok(Action::Run);
    }
    if call("SETVAL") && t.len() == 11 {
        if let (
            Tok::Str(seq),
            Tok::Sym(','),
            Tok::Num(_),
            Tok::Sym(','),
            Tok::Word(b, _),
            Tok::Sym(')'),
        ) = (&t[5], &t[6], &t[7], &t[8], &t[9], &t[10])
        {
            if b == "TRUE" || b == "FALSE" {
                let inner = tokens(seq, 8);
                name_at(&inner, 0, schemas)?;
                return Ok(Action::Run);
            }
        }
    }
    Err("only the SELECTs a dump writes (set_config of search_path, setval) are loaded".into())
}

/// A schema-qualified name starting at token `i`, whose schema is one of the app's; returns
/// the index after it.
fn name_at(t: &[Tok], i: usize, schemas: &[String]) -> Result<usize, String> {
    name_of(t, i, schemas, false)
}

/// As [`name_at`]; `column`: a column's `schema.table.column`.
fn name_of(t: &[Tok], i: usize, schemas: &[String], column: bool) -> Result<usize, String> {
    let mut i = i;
    if t.get(i).is_some_and(|x| x.is("ONLY")) {
        i += 1;
    }
    let first = t.get(i).and_then(Tok::ident).ok_or("a name was expected")?;
    if t.get(i + 1) != Some(&Tok::Sym('.')) {
        return Err(format!(
            "{first} is not qualified with its schema (a dump names every object with it)"
        ));
    }
    let second = t
        .get(i + 2)
        .and_then(Tok::ident)
        .ok_or("a name was expected")?;
    let has_third = t.get(i + 3) == Some(&Tok::Sym('.'));
    if column != has_third {
        return Err(if column {
            format!("{first}.{second} is not a column's schema.table.column")
        } else {
            format!("{first}.{second}.… names another database's object")
        });
    }
    if !schemas.contains(&first) {
        return Err(format!(
            "{first}.{second} is in schema {first}, not in the app's ({})",
            schemas.join(", ")
        ));
    }
    Ok(if column { i + 5 } else { i + 3 })
}

/// `schema.name` (unquoted) of a name [`name_at`] accepted at `i`.
fn two_part(t: &[Tok], i: usize) -> String {
    format!(
        "{}.{}",
        t[i].ident().unwrap_or_default(),
        t[i + 2].ident().unwrap_or_default()
    )
}

fn skip_words(t: &[Tok], mut i: usize, words: &[&str]) -> usize {
    while t.get(i).is_some_and(|x| words.iter().any(|w| x.is(w))) {
        i += 1;
    }
    i
}

fn create(t: &[Tok], schemas: &[String]) -> Result<Action, String> {
    let mut i = skip_words(t, 1, &["OR", "REPLACE", "UNIQUE", "UNLOGGED", "CONSTRAINT"]);
    if t.get(i).is_some_and(|x| x.is("MATERIALIZED")) {
        i += 1;
    }
    let kind = match t.get(i) {
        Some(Tok::Word(w, _)) => w.clone(),
        _ => return Err("CREATE of nothing".into()),
    };
    let after_kind = skip_words(t, i + 1, &["IF", "NOT", "EXISTS"]);
    match kind.as_str() {
        "SCHEMA" => {
            let name = t
                .get(after_kind)
                .and_then(Tok::ident)
                .ok_or("CREATE SCHEMA without a name")?;
            if t.len() > after_kind + 1 {
                return Err("CREATE SCHEMA with more than a name".into());
            }
            if !schemas.contains(&name) {
                return Err(format!(
                    "schema {name} is not one of the app's ({})",
                    schemas.join(", ")
                ));
            }
            Ok(Action::Schema(name))
        }
        "EXTENSION" => {
            let name = t
                .get(after_kind)
                .and_then(Tok::ident)
                .ok_or("CREATE EXTENSION without a name")?;
            if t.iter().any(|x| x.is("CASCADE")) {
                return Err(format!("CREATE EXTENSION {name} CASCADE"));
            }
            if let Some(s) = t.iter().position(|x| x.is("SCHEMA")) {
                let schema = t.get(s + 1).and_then(Tok::ident).unwrap_or_default();
                if !schemas.contains(&schema) {
                    return Err(format!(
                        "extension {name} in schema {schema}, not one of the app's"
                    ));
                }
            }
            Ok(Action::Extension(name))
        }
        "TABLE" | "SEQUENCE" | "VIEW" | "TYPE" | "DOMAIN" | "FUNCTION" | "PROCEDURE"
        | "AGGREGATE" => {
            if t.get(i - 1).is_some_and(|x| x.is("CONSTRAINT")) {
                return Err("CREATE CONSTRAINT outside a trigger".into());
            }
            name_at(t, after_kind, schemas)?;
            if kind == "TABLE" {
                return Ok(Action::Table(two_part(t, after_kind)));
            }
            Ok(Action::Run)
        }
        "INDEX" => {
            let on = t
                .iter()
                .position(|x| x.is("ON"))
                .ok_or("CREATE INDEX without ON")?;
            if t.iter().take(on).any(|x| x.is("CONCURRENTLY")) {
                return Err(
                    "CREATE INDEX CONCURRENTLY cannot run in the load's transaction".into(),
                );
            }
            name_at(t, on + 1, schemas).map(|_| Action::Run)
        }
        "TEXT" if t.get(i + 1).is_some_and(|x| x.is("SEARCH")) => {
            // CREATE TEXT SEARCH DICTIONARY|CONFIGURATION name (…); parsers and templates
            // are C.
            match t.get(i + 2) {
                Some(x) if x.is("DICTIONARY") || x.is("CONFIGURATION") => {
                    name_at(t, i + 3, schemas).map(|_| Action::Run)
                }
                _ => Err("CREATE TEXT SEARCH PARSER/TEMPLATE (C code) is not loaded".into()),
            }
        }
        "OPERATOR" => {
            // CREATE OPERATOR schema.=== (…): an operator's name is symbols, not a word.
            operator_at(t, after_kind, schemas).map(|_| Action::Run)
        }
        "COLLATION" => {
            // Made from its options, not copied FROM another (pg_dump never writes that).
            if t.iter().any(|x| x.is("FROM")) {
                return Err("CREATE COLLATION … FROM another collation".into());
            }
            name_at(t, after_kind, schemas).map(|_| Action::Run)
        }
        "STATISTICS" => {
            // CREATE STATISTICS name (kinds) ON columns FROM table
            name_at(t, after_kind, schemas)?;
            let from = t
                .iter()
                .rposition(|x| x.is("FROM"))
                .ok_or("CREATE STATISTICS without FROM")?;
            name_at(t, from + 1, schemas).map(|_| Action::Run)
        }
        "RULE" => {
            // CREATE RULE name AS ON event TO table …
            let to = t
                .iter()
                .position(|x| x.is("TO"))
                .ok_or("CREATE RULE without TO")?;
            name_at(t, to + 1, schemas).map(|_| Action::Run)
        }
        "TRIGGER" | "POLICY" => {
            let on = t
                .iter()
                .position(|x| x.is("ON"))
                .ok_or(format!("CREATE {kind} without ON"))?;
            name_at(t, on + 1, schemas).map(|_| Action::Run)
        }
        "ROLE" | "USER" | "GROUP" => Err("roles are not restored".into()),
        other => Err(format!(
            "CREATE {other} is not part of a plain dump we load"
        )),
    }
}

/// The tables a CREATE TABLE ties its table to — `PARTITION OF parent`, `INHERITS (a, b)` —
/// must be in the app's schemas too.
fn related_tables(t: &[Tok], schemas: &[String]) -> Result<(), String> {
    let mut depth = 0i32;
    for (i, x) in t.iter().enumerate() {
        match x {
            Tok::Sym('(') => depth += 1,
            Tok::Sym(')') => depth -= 1,
            _ if depth != 0 => {}
            x if x.is("PARTITION") && t.get(i + 1).is_some_and(|y| y.is("OF")) => {
                name_at(t, i + 2, schemas)?;
            }
            x if x.is("INHERITS") && t.get(i + 1) == Some(&Tok::Sym('(')) => {
                let mut j = i + 2;
                loop {
                    j = name_at(t, j, schemas)?;
                    match t.get(j) {
                        Some(Tok::Sym(',')) => j += 1,
                        Some(Tok::Sym(')')) => break,
                        _ => return Err("INHERITS with a list that is not plain names".into()),
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// `schema.<symbols>` at `i`, the schema one of the app's.
fn operator_at(t: &[Tok], i: usize, schemas: &[String]) -> Result<(), String> {
    let schema = t
        .get(i)
        .and_then(Tok::ident)
        .ok_or("an operator's schema was expected")?;
    if t.get(i + 1) != Some(&Tok::Sym('.')) || !matches!(t.get(i + 2), Some(Tok::Sym(_))) {
        return Err("an operator not qualified with its schema".into());
    }
    if !schemas.contains(&schema) {
        return Err(format!(
            "an operator in schema {schema}, not in the app's ({})",
            schemas.join(", ")
        ));
    }
    Ok(())
}

fn alter(t: &[Tok], schemas: &[String]) -> Result<Action, String> {
    if t.iter().any(|x| x.is("OWNER")) {
        return Err("ownership is not restored (dump with --no-owner)".into());
    }
    let kind = match t.get(1) {
        Some(Tok::Word(w, _)) => w.as_str(),
        _ => "",
    };
    let allowed: &[&str] = match kind {
        "TABLE" => &[
            "ADD", "ALTER", "ENABLE", "DISABLE", "FORCE", "ATTACH", "CLUSTER", "REPLICA",
        ],
        "SEQUENCE" => &["OWNED"],
        "TEXT" => &[],
        "STATISTICS" => &["SET"],
        "INDEX" => &["ATTACH"],
        "SYSTEM" => return Err("ALTER SYSTEM changes the server, not the database".into()),
        "ROLE" | "USER" | "GROUP" => return Err("roles are not restored".into()),
        other => return Err(format!("ALTER {other} is not part of a plain dump we load")),
    };
    if kind == "TEXT" {
        // ALTER TEXT SEARCH CONFIGURATION name ADD|ALTER MAPPING FOR … WITH …
        let next = if t.get(2).is_some_and(|x| x.is("SEARCH"))
            && t.get(3).is_some_and(|x| x.is("CONFIGURATION"))
        {
            name_at(t, 4, schemas)?
        } else {
            return Err("ALTER TEXT … of a kind a dump does not write".into());
        };
        return match t.get(next) {
            Some(x)
                if (x.is("ADD") || x.is("ALTER"))
                    && t.get(next + 1).is_some_and(|y| y.is("MAPPING")) =>
            {
                Ok(Action::Run)
            }
            _ => Err("ALTER TEXT SEARCH CONFIGURATION … other than its mappings".into()),
        };
    }
    let i = skip_words(t, 2, &["IF", "EXISTS"]);
    let next = name_at(t, i, schemas)?;
    // What is attached is named too: it must be the app's.
    if t.get(next).is_some_and(|x| x.is("ATTACH"))
        && t.get(next + 1).is_some_and(|x| x.is("PARTITION"))
    {
        name_at(t, next + 2, schemas)?;
    }
    match t.get(next) {
        Some(Tok::Word(w, _)) if allowed.contains(&w.as_str()) => Ok(Action::Run),
        _ => Err(format!("ALTER {kind} … of a kind a dump does not write")),
    }
}

fn comment(t: &[Tok], schemas: &[String]) -> Result<Action, String> {
    if !t.get(1).is_some_and(|x| x.is("ON")) {
        return Err("COMMENT without ON".into());
    }
    let i = skip_words(t, 2, &["MATERIALIZED"]);
    match t.get(i) {
        // An extension's comment is its own (CREATE EXTENSION writes it), and only its owner
        // may change it.
        Some(x) if x.is("EXTENSION") => Ok(Action::Skip),
        Some(x) if x.is("SCHEMA") => match t.get(i + 1).and_then(Tok::ident) {
            Some(s) if schemas.contains(&s) => Ok(Action::Run),
            _ => Err("a comment on another schema".into()),
        },
        Some(x) if x.is("CONSTRAINT") || x.is("TRIGGER") || x.is("POLICY") || x.is("RULE") => {
            let on = t
                .iter()
                .skip(i + 1)
                .position(|x| x.is("ON"))
                .map(|p| p + i + 1)
                .ok_or("COMMENT ON … without ON")?;
            let on = skip_words(t, on + 1, &["DOMAIN"]);
            name_at(t, on, schemas).map(|_| Action::Run)
        }
        Some(x) if x.is("COLUMN") => name_of(t, i + 1, schemas, true).map(|_| Action::Run),
        Some(x) if x.is("OPERATOR") => operator_at(t, i + 1, schemas).map(|_| Action::Run),
        Some(x)
            if x.is("TEXT")
                && t.get(i + 1).is_some_and(|y| y.is("SEARCH"))
                && t.get(i + 2)
                    .is_some_and(|y| y.is("DICTIONARY") || y.is("CONFIGURATION")) =>
        {
            name_at(t, i + 3, schemas).map(|_| Action::Run)
        }
        Some(x)
            if [
                "TABLE",
                "VIEW",
                "SEQUENCE",
                "INDEX",
                "FUNCTION",
                "PROCEDURE",
                "AGGREGATE",
                "COLLATION",
                "STATISTICS",
                "TYPE",
                "DOMAIN",
            ]
            .iter()
            .any(|k| x.is(k)) =>
        {
            name_at(t, i + 1, schemas).map(|_| Action::Run)
        }
        _ => Err("a comment on something a dump does not comment".into()),
    }
}

/// `COPY schema.table [(columns)] FROM stdin`, nothing else: no file, no program, no options.
fn copy(t: &[Tok], schemas: &[String]) -> Result<Action, String> {
    let mut i = name_at(t, 1, schemas)?;
    let table = two_part(t, 1);
    if t.get(i) == Some(&Tok::Sym('(')) {
        i += 1;
        loop {
            match (t.get(i), t.get(i + 1)) {
                (Some(c), Some(Tok::Sym(','))) if c.ident().is_some() => i += 2,
                (Some(c), Some(Tok::Sym(')'))) if c.ident().is_some() => {
                    i += 2;
                    break;
                }
                _ => return Err("COPY with a column list that is not plain names".into()),
            }
        }
    }
    if t.len() == i + 2 && t[i].is("FROM") && t[i + 1].is("STDIN") {
        Ok(Action::Copy(table))
    } else {
        Err("only COPY … FROM stdin is loaded (no file, no program, no options)".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s() -> Vec<String> {
        vec!["public".into(), "app".into()]
    }

    #[test]
    fn what_a_dump_writes_is_accepted() {
        for sql in [
            "SET statement_timeout = 0",
            "SET client_encoding = 'UTF8'",
            "SET standard_conforming_strings = on",
            "SELECT pg_catalog.set_config('search_path', '', false)",
            "SET check_function_bodies = false",
            "CREATE TABLE public.t (\n a integer\n)",
            "CREATE UNIQUE INDEX t_a ON public.t USING btree (a)",
            "ALTER TABLE ONLY public.t\n    ADD CONSTRAINT t_pkey PRIMARY KEY (a)",
            "CREATE TRIGGER tr BEFORE INSERT ON public.t FOR EACH ROW EXECUTE FUNCTION public.f()",
            "COMMENT ON COLUMN public.t.a IS 'x'",
            "COMMENT ON TRIGGER tr ON public.t IS 'x'",
            "COMMENT ON RULE r ON public.v IS 'x'",
            "CREATE AGGREGATE public.joined(text) (\n    SFUNC = public.join_step,\n    STYPE = text\n)",
            "COMMENT ON AGGREGATE public.joined(text) IS 'x'",
            "CREATE COLLATION public.ci (provider = icu, deterministic = false, locale = 'und-u-ks-level2')",
            "CREATE STATISTICS public.st (ndistinct) ON a, b FROM public.t",
            "ALTER STATISTICS public.st SET STATISTICS 500",
            "CREATE TEXT SEARCH DICTIONARY public.fr_stem (TEMPLATE = pg_catalog.snowball, language = 'french')",
            "CREATE TEXT SEARCH CONFIGURATION public.fr (PARSER = pg_catalog.\"default\")",
            "ALTER TEXT SEARCH CONFIGURATION public.fr\n    ADD MAPPING FOR asciiword WITH public.fr_stem, simple",
            "COMMENT ON TEXT SEARCH CONFIGURATION public.fr IS 'x'",
            "CREATE OPERATOR public.=== (\n    FUNCTION = int4eq,\n    LEFTARG = integer,\n    RIGHTARG = integer,\n    COMMUTATOR = OPERATOR(public.===)\n)",
            "COMMENT ON OPERATOR public.=== (integer, integer) IS 'x'",
            "CREATE TYPE public.span AS RANGE (\n    subtype = double precision,\n    subtype_diff = float8mi\n)",
            "COMMENT ON CONSTRAINT c ON DOMAIN public.d IS 'x'",
            "SELECT pg_catalog.setval('public.t_a_seq', 42, true)",
            "SELECT pg_catalog.setval('\"app\".\"s\"', 1, false)",
            "CREATE OR REPLACE FUNCTION app.f() RETURNS trigger LANGUAGE plpgsql AS $$ begin return new; end $$",
            "REFRESH MATERIALIZED VIEW public.mv",
            "ALTER SEQUENCE public.s OWNED BY public.t.a",
            "CREATE TABLE public.p (\n a integer\n)\nPARTITION BY RANGE (a)",
            "CREATE TABLE app.c (\n b integer\n)\nINHERITS (public.p, app.q)",
            "CREATE TABLE public.p1 PARTITION OF public.p FOR VALUES FROM (1) TO (2)",
            "ALTER TABLE ONLY public.p ATTACH PARTITION app.p1 FOR VALUES FROM (1) TO (2)",
            "ALTER INDEX public.p_idx ATTACH PARTITION public.p1_idx",
            "CREATE INDEX p_idx ON ONLY public.p USING btree (a)",
            "CREATE RULE r AS\n    ON DELETE TO public.v DO INSTEAD  DELETE FROM public.t\n  WHERE (t.a = old.a)",
        ] {
            assert!(judge(sql, &s()).is_ok(), "{sql}: {:?}", judge(sql, &s()));
        }
        assert_eq!(
            judge("COPY public.t (a, \"B\") FROM stdin", &s()),
            Ok(Action::Copy("public.t".into()))
        );
        let wide: Vec<String> = (0..200).map(|i| format!("c{i}")).collect();
        assert_eq!(
            judge(
                &format!("COPY public.t ({}) FROM stdin", wide.join(", ")),
                &s()
            ),
            Ok(Action::Copy("public.t".into()))
        );
        assert_eq!(judge("SET lock_timeout = 0", &s()), Ok(Action::Skip));
        assert_eq!(
            judge("CREATE SCHEMA app", &s()),
            Ok(Action::Schema("app".into()))
        );
    }

    #[test]
    fn what_reaches_past_the_database_is_refused() {
        for sql in [
            "COPY public.t FROM PROGRAM 'id'",
            "COPY public.t TO '/tmp/x'",
            "COPY public.t FROM '/etc/passwd'",
            "DO $$ begin perform 1; end $$",
            "ALTER SYSTEM SET archive_command = 'x'",
            "CREATE ROLE x SUPERUSER",
            "GRANT ALL ON public.t TO x",
            "ALTER TABLE public.t OWNER TO postgres",
            "SET session_authorization = 'postgres'",
            "SET role postgres",
            "SET standard_conforming_strings = off",
            "SET search_path = evil",
            "SELECT pg_read_file('/etc/passwd')",
            "SELECT pg_catalog.set_config('search_path', 'evil', false)",
            "CREATE TABLE other.t (a int)",
            "CREATE TABLE t (a int)",
            "CREATE TABLE db.public.t (a int)",
            "CREATE SCHEMA evil",
            "CREATE EXTENSION x CASCADE",
            "CREATE INDEX CONCURRENTLY i ON public.t (a)",
            "CREATE SERVER s FOREIGN DATA WRAPPER f",
            "CREATE RULE r AS ON INSERT TO other.t DO INSTEAD NOTHING",
            "SELECT pg_catalog.setval('other.s', 1, true)",
            "LOAD 'x'",
            "CHECKPOINT",
            "CREATE TABLE public.c (b integer) INHERITS (other.p)",
            "CREATE TABLE public.c (b integer) INHERITS (public.p, other.p)",
            "CREATE TABLE public.p1 PARTITION OF other.p FOR VALUES IN (1)",
            "ALTER TABLE ONLY public.p ATTACH PARTITION other.p1 DEFAULT",
            "ALTER INDEX public.p_idx ATTACH PARTITION other.p1_idx",
            "CREATE STATISTICS public.st (ndistinct) ON a, b FROM other.t",
            "CREATE COLLATION public.c FROM other.c",
            "CREATE OPERATOR other.=== (FUNCTION = int4eq, LEFTARG = integer, RIGHTARG = integer)",
            "CREATE OPERATOR === (FUNCTION = int4eq, LEFTARG = integer, RIGHTARG = integer)",
            "CREATE TEXT SEARCH CONFIGURATION other.fr (PARSER = pg_catalog.\"default\")",
            "CREATE TEXT SEARCH PARSER public.p (START = a, GETTOKEN = b, END = c, LEXTYPES = d)",
            "ALTER TEXT SEARCH CONFIGURATION public.fr OWNER TO x",
            "ALTER TEXT SEARCH CONFIGURATION other.fr ADD MAPPING FOR word WITH simple",
        ] {
            assert!(judge(sql, &s()).is_err(), "accepted: {sql}");
        }
    }
}
