//! What the app's schemas hold, read from the system catalogs inside the dump's snapshot, as
//! the statements that recreate it. The server writes the definitions itself (`format_type`,
//! `pg_get_constraintdef`, `pg_get_indexdef`, `pg_get_viewdef`, `pg_get_functiondef`,
//! `pg_get_triggerdef`, `pg_get_expr`) with `search_path` empty, so every name comes out
//! schema-qualified, as pg_dump does.
//!
//! A whitelist: what is listed in [`unsupported`] stops the dump with its name rather than
//! being left out of the file.

use std::collections::{BTreeMap, HashMap, HashSet};

use postgres::Client;

use super::{ident, literal, qualified, Fail};

/// One statement of the file, with what it creates (for the read-back check and messages).
#[derive(Debug, Clone)]
pub struct Item {
    pub what: &'static str,
    pub name: String,
    pub sql: String,
}

/// A table whose rows the dump copies.
#[derive(Debug, Clone)]
pub struct Table {
    /// `"schema"."name"`.
    pub name: String,
    /// `schema.name`, unquoted (as messages and the read-back check name it).
    pub plain: String,
    /// The columns the rows are copied with: every column but generated ones, in order.
    pub columns: Vec<String>,
    /// Left out with `--exclude-data`: created, no rows.
    pub excluded: bool,
    /// False for a partitioned table: its partitions hold its rows.
    pub holds_rows: bool,
}

/// Everything the dump writes besides the rows.
#[derive(Debug, Default)]
pub struct Schema {
    /// The schemas dumped, as named in the catalog.
    pub schemas: Vec<String>,
    /// Statements before the rows: schemas, extensions, types, functions, sequences, tables,
    /// views.
    pub before: Vec<Item>,
    pub tables: Vec<Table>,
    /// Statements after the rows: sequence values, constraints, indexes, triggers, foreign
    /// keys, policies, materialized views' data, comments.
    pub after: Vec<Item>,
}

fn item(what: &'static str, name: impl Into<String>, sql: impl Into<String>) -> Item {
    let mut sql = sql.into();
    let trimmed = sql.trim_end().len();
    sql.truncate(trimmed);
    if !sql.ends_with(';') {
        sql.push(';');
    }
    Item {
        what,
        name: name.into(),
        sql,
    }
}

/// The schemas of `search_path` that exist, `$user` standing for the session's user; never
/// the system's own.
pub fn schemas(client: &mut Client, search_path: &[String]) -> Result<Vec<(u32, String)>, Fail> {
    let path: Vec<String> = if search_path.is_empty() {
        vec!["public".into()]
    } else {
        search_path.to_vec()
    };
    let mut out = Vec::new();
    for name in path {
        let row = client.query_opt(
            "SELECT oid, nspname::text FROM pg_catalog.pg_namespace
             WHERE nspname = CASE WHEN $1 = '$user' THEN current_user::text ELSE $1 END
               AND nspname NOT IN ('pg_catalog', 'information_schema')
               AND nspname NOT LIKE 'pg\\_%'",
            &[&name],
        )?;
        if let Some(r) = row {
            let entry: (u32, String) = (r.get(0), r.get(1));
            if !out.contains(&entry) {
                out.push(entry);
            }
        }
    }
    Ok(out)
}

/// Reads the whole schema. `exclude` names tables (`name` or `schema.name`) whose rows are
/// left out.
pub fn read(
    client: &mut Client,
    search_path: &[String],
    exclude: &[String],
) -> Result<Schema, Fail> {
    let spaces = schemas(client, search_path)?;
    let oids: Vec<u32> = spaces.iter().map(|(o, _)| *o).collect();
    let mut s = Schema {
        schemas: spaces.iter().map(|(_, n)| n.clone()).collect(),
        ..Default::default()
    };
    if let Some(what) = unsupported(client, &oids)? {
        return Err(Fail::Unsupported(what));
    }
    for (_, name) in &spaces {
        if name != "public" {
            s.before.push(item(
                "schema",
                name.clone(),
                format!("CREATE SCHEMA IF NOT EXISTS {}", ident(name)),
            ));
        }
    }
    extensions(client, &oids, &mut s)?;
    collations(client, &oids, &mut s)?;
    text_search(client, &oids, &mut s)?;
    types(client, &oids, &mut s)?;
    functions(client, &oids, &mut s, false)?;
    aggregates(client, &oids, &mut s)?;
    operators(client, &oids, &mut s)?;
    let owned = sequences(client, &oids, &mut s)?;
    tables(client, &oids, &mut s, exclude)?;
    s.before.extend(owned);
    views(client, &oids, &mut s)?;
    functions(client, &oids, &mut s, true)?;
    sequence_values(client, &oids, &mut s)?;
    keys(client, &oids, &mut s)?;
    indexes(client, &oids, &mut s)?;
    index_attachments(client, &oids, &mut s)?;
    table_settings(client, &oids, &mut s)?;
    statistics(client, &oids, &mut s)?;
    foreign_keys(client, &oids, &mut s)?;
    triggers(client, &oids, &mut s)?;
    rules(client, &oids, &mut s)?;
    policies(client, &oids, &mut s)?;
    refreshes(client, &oids, &mut s)?;
    comments(client, &oids, &mut s)?;
    Ok(s)
}

/// Objects are part of an extension when pg_depend says so ('e'): the extension recreates them.
const NOT_EXTENSION_MEMBER: &str = "NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
    WHERE d.classid = {class}::regclass AND d.objid = o.oid AND d.deptype = 'e')";

fn not_member(class: &str) -> String {
    NOT_EXTENSION_MEMBER.replace("{class}", &literal(class))
}

/// The first object of a kind the dump cannot yet reproduce exactly, as "what name".
fn unsupported(client: &mut Client, ns: &[u32]) -> Result<Option<String>, Fail> {
    let checks: Vec<(&str, String)> = vec![
        (
            "foreign table",
            format!("SELECT o.relname::text FROM pg_catalog.pg_class o WHERE o.relnamespace = ANY($1) AND o.relkind = 'f' AND {}", not_member("pg_class")),
        ),
        (
            "table inheriting from a table outside the app's schemas",
            "SELECT c.relname::text FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
             JOIN pg_catalog.pg_class p ON p.oid = i.inhparent
             WHERE c.relnamespace = ANY($1) AND NOT p.relnamespace = ANY($1)".into(),
        ),
        (
            "base type",
            format!("SELECT o.typname::text FROM pg_catalog.pg_type o WHERE o.typnamespace = ANY($1) AND o.typtype = 'b' AND o.typelem = 0 AND {}", not_member("pg_type")),
        ),
        (
            "range type with a canonical function",
            format!("SELECT o.typname::text FROM pg_catalog.pg_type o JOIN pg_catalog.pg_range g ON g.rngtypid = o.oid WHERE o.typnamespace = ANY($1) AND g.rngcanonical <> 0 AND {}", not_member("pg_type")),
        ),
        (
            "ordered-set aggregate or window function",
            format!("SELECT o.proname::text FROM pg_catalog.pg_proc o WHERE o.pronamespace = ANY($1) AND {}
                     AND (o.prokind = 'w' OR (o.prokind = 'a' AND NOT EXISTS (
                          SELECT 1 FROM pg_catalog.pg_aggregate g WHERE g.aggfnoid = o.oid AND g.aggkind = 'n')))", not_member("pg_proc")),
        ),
        (
            "operator class",
            format!("SELECT o.opcname::text FROM pg_catalog.pg_opclass o WHERE o.opcnamespace = ANY($1) AND {}", not_member("pg_opclass")),
        ),
        (
            "large object (database-wide; its data would not be in the file)",
            "SELECT o.oid::text FROM pg_catalog.pg_largeobject_metadata o WHERE $1::oid[] IS NOT NULL".into(),
        ),
        (
            "view column default",
            "SELECT c.relname::text FROM pg_catalog.pg_attrdef d JOIN pg_catalog.pg_class c ON c.oid = d.adrelid
             WHERE c.relnamespace = ANY($1) AND c.relkind = 'v'".into(),
        ),
        (
            "table of another access method than heap",
            format!("SELECT o.relname::text FROM pg_catalog.pg_class o WHERE o.relnamespace = ANY($1) AND o.relkind IN ('r', 'm')
                     AND o.relam <> (SELECT a.oid FROM pg_catalog.pg_am a WHERE a.amname = 'heap') AND {}", not_member("pg_class")),
        ),
        (
            "operator family",
            format!("SELECT o.opfname::text FROM pg_catalog.pg_opfamily o WHERE o.opfnamespace = ANY($1) AND {}", not_member("pg_opfamily")),
        ),
        (
            "conversion",
            format!("SELECT o.conname::text FROM pg_catalog.pg_conversion o WHERE o.connamespace = ANY($1) AND {}", not_member("pg_conversion")),
        ),
        (
            "text search parser",
            format!("SELECT o.prsname::text FROM pg_catalog.pg_ts_parser o WHERE o.prsnamespace = ANY($1) AND {}", not_member("pg_ts_parser")),
        ),
        (
            "text search template",
            format!("SELECT o.tmplname::text FROM pg_catalog.pg_ts_template o WHERE o.tmplnamespace = ANY($1) AND {}", not_member("pg_ts_template")),
        ),
        (
            "event trigger",
            // Database-wide; an extension's (managed services install some) comes back with
            // its extension.
            format!("SELECT o.evtname::text FROM pg_catalog.pg_event_trigger o WHERE $1::oid[] IS NOT NULL AND {}", not_member("pg_event_trigger")),
        ),
        (
            "column with non-default storage or statistics settings",
            "SELECT c.relname::text || '.' || a.attname FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
             WHERE c.relnamespace = ANY($1) AND c.relkind IN ('r', 'p', 'm') AND a.attnum > 0 AND NOT a.attisdropped
               AND (a.attstorage <> t.typstorage OR a.attfdwoptions IS NOT NULL
                    OR a.attcompression <> '' OR coalesce(a.attstattarget, -1) <> -1
                    -- Options named pg_… are the server's own (Debian's 15.20 stamps pg_attver on
                    -- every column; pg_dump does not write it): only the user's count.
                    OR EXISTS (SELECT 1 FROM unnest(a.attoptions) o WHERE o NOT LIKE 'pg\\_%'))".into(),
        ),
    ];
    for (what, sql) in checks {
        let rows = client.query(sql.as_str(), &[&ns])?;
        if let Some(r) = rows.first() {
            let name: String = r.get(0);
            return Ok(Some(format!("{what} {name}")));
        }
    }
    Ok(None)
}

fn extensions(client: &mut Client, ns: &[u32], s: &mut Schema) -> Result<(), Fail> {
    for r in client.query(
        "SELECT e.extname::text, n.nspname::text FROM pg_catalog.pg_extension e
         JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
         WHERE e.extnamespace = ANY($1) ORDER BY e.oid",
        &[&ns],
    )? {
        let (name, schema): (String, String) = (r.get(0), r.get(1));
        s.before.push(item(
            "extension",
            name.clone(),
            format!(
                "CREATE EXTENSION IF NOT EXISTS {} WITH SCHEMA {}",
                ident(&name),
                ident(&schema)
            ),
        ));
    }
    Ok(())
}

/// Enums, range types, domains, then composite types, each in creation order.
fn types(client: &mut Client, ns: &[u32], s: &mut Schema) -> Result<(), Fail> {
    let member = not_member("pg_type");
    for r in client.query(
        format!(
            "SELECT n.nspname::text, o.typname::text,
                    (SELECT array_agg(e.enumlabel::text ORDER BY e.enumsortorder) FROM pg_catalog.pg_enum e WHERE e.enumtypid = o.oid)
             FROM pg_catalog.pg_type o JOIN pg_catalog.pg_namespace n ON n.oid = o.typnamespace
             WHERE o.typnamespace = ANY($1) AND o.typtype = 'e' AND {member} ORDER BY o.oid"
        )
        .as_str(),
        &[&ns],
    )? {
        let name = qualified(r.get(0), r.get(1));
        let labels: Vec<String> = r.get::<_, Option<Vec<String>>>(2).unwrap_or_default();
        let labels: Vec<String> = labels.iter().map(|l| literal(l)).collect();
        s.before.push(item(
            "type",
            name.clone(),
            format!("CREATE TYPE {name} AS ENUM (\n    {}\n)", labels.join(",\n    ")),
        ));
    }
    ranges(client, ns, s)?;
    for r in client.query(
        format!(
            "SELECT n.nspname::text, o.typname::text, pg_catalog.format_type(o.typbasetype, o.typtypmod),
                    CASE WHEN o.typcollation <> 0 AND o.typcollation <> bt.typcollation
                         THEN (SELECT pg_catalog.quote_ident(cn.nspname) || '.' || pg_catalog.quote_ident(c.collname)
                               FROM pg_catalog.pg_collation c JOIN pg_catalog.pg_namespace cn ON cn.oid = c.collnamespace
                               WHERE c.oid = o.typcollation) END,
                    o.typdefault, o.typnotnull,
                    (SELECT array_agg('CONSTRAINT ' || pg_catalog.quote_ident(c.conname) || ' ' || pg_catalog.pg_get_constraintdef(c.oid) ORDER BY c.conname)
                     FROM pg_catalog.pg_constraint c WHERE c.contypid = o.oid AND c.contype = 'c')
             FROM pg_catalog.pg_type o JOIN pg_catalog.pg_namespace n ON n.oid = o.typnamespace
             JOIN pg_catalog.pg_type bt ON bt.oid = o.typbasetype
             WHERE o.typnamespace = ANY($1) AND o.typtype = 'd' AND {member} ORDER BY o.oid"
        )
        .as_str(),
        &[&ns],
    )? {
        let name = qualified(r.get(0), r.get(1));
        let mut sql = format!("CREATE DOMAIN {name} AS {}", r.get::<_, String>(2));
        if let Some(c) = r.get::<_, Option<String>>(3) {
            sql += &format!(" COLLATE {c}");
        }
        if let Some(d) = r.get::<_, Option<String>>(4) {
            sql += &format!(" DEFAULT {d}");
        }
        if r.get::<_, bool>(5) {
            sql += " NOT NULL";
        }
        for c in r.get::<_, Option<Vec<String>>>(6).unwrap_or_default() {
            sql += &format!("\n    {c}");
        }
        s.before.push(item("domain", name, sql));
    }
    for r in client.query(
        format!(
            "SELECT n.nspname::text, o.typname::text,
                    (SELECT array_agg(pg_catalog.quote_ident(a.attname) || ' ' || pg_catalog.format_type(a.atttypid, a.atttypmod)
                            || CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation
                                    THEN ' COLLATE ' || (SELECT pg_catalog.quote_ident(cn.nspname) || '.' || pg_catalog.quote_ident(c.collname)
                                        FROM pg_catalog.pg_collation c JOIN pg_catalog.pg_namespace cn ON cn.oid = c.collnamespace WHERE c.oid = a.attcollation)
                                    ELSE '' END
                            ORDER BY a.attnum)
                     FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
                     WHERE a.attrelid = o.typrelid AND a.attnum > 0 AND NOT a.attisdropped)
             FROM pg_catalog.pg_type o JOIN pg_catalog.pg_namespace n ON n.oid = o.typnamespace
             JOIN pg_catalog.pg_class c ON c.oid = o.typrelid
             WHERE o.typnamespace = ANY($1) AND o.typtype = 'c' AND c.relkind = 'c' AND {member} ORDER BY o.oid"
        )
        .as_str(),
        &[&ns],
    )? {
        let name = qualified(r.get(0), r.get(1));
        let cols = r.get::<_, Option<Vec<String>>>(2).unwrap_or_default();
        s.before.push(item(
            "type",
            name.clone(),
            format!("CREATE TYPE {name} AS (\n    {}\n)", cols.join(",\n    ")),
        ));
    }
    Ok(())
}

/// Range types (their multirange type comes with them). A canonical function (written in C)
/// stops the dump in `unsupported`.
fn ranges(client: &mut Client, ns: &[u32], s: &mut Schema) -> Result<(), Fail> {
    let member = not_member("pg_type");
    for r in client.query(
        format!(
            "SELECT n.nspname::text, o.typname::text, pg_catalog.format_type(g.rngsubtype, NULL),
                    (SELECT pg_catalog.quote_ident(cn.nspname) || '.' || pg_catalog.quote_ident(oc.opcname)
                     FROM pg_catalog.pg_opclass oc JOIN pg_catalog.pg_namespace cn ON cn.oid = oc.opcnamespace
                     WHERE oc.oid = g.rngsubopc AND NOT oc.opcdefault),
                    (SELECT pg_catalog.quote_ident(cn.nspname) || '.' || pg_catalog.quote_ident(c.collname)
                     FROM pg_catalog.pg_collation c JOIN pg_catalog.pg_namespace cn ON cn.oid = c.collnamespace
                     WHERE c.oid = g.rngcollation AND g.rngcollation <> st.typcollation),
                    CASE WHEN g.rngsubdiff <> 0 THEN g.rngsubdiff::regproc::text END,
                    (SELECT pg_catalog.quote_ident(mn.nspname) || '.' || pg_catalog.quote_ident(m.typname)
                     FROM pg_catalog.pg_type m JOIN pg_catalog.pg_namespace mn ON mn.oid = m.typnamespace
                     WHERE m.oid = g.rngmultitypid)
             FROM pg_catalog.pg_type o JOIN pg_catalog.pg_namespace n ON n.oid = o.typnamespace
             JOIN pg_catalog.pg_range g ON g.rngtypid = o.oid
             JOIN pg_catalog.pg_type st ON st.oid = g.rngsubtype
             WHERE o.typnamespace = ANY($1) AND o.typtype = 'r' AND {member} ORDER BY o.oid"
        )
        .as_str(),
        &[&ns],
    )? {
        let name = qualified(r.get(0), r.get(1));
        let mut opts = vec![format!("subtype = {}", r.get::<_, String>(2))];
        let named = [
            (3, "subtype_opclass"),
            (4, "collation"),
            (5, "subtype_diff"),
            (6, "multirange_type_name"),
        ];
        for (col, key) in named {
            if let Some(v) = r.get::<_, Option<String>>(col) {
                opts.push(format!("{key} = {v}"));
            }
        }
        s.before.push(item(
            "type",
            name.clone(),
            format!("CREATE TYPE {name} AS RANGE (\n    {}\n)", opts.join(",\n    ")),
        ));
    }
    Ok(())
}

/// Collations, before what uses them. Read through `to_jsonb`: their columns differ between
/// versions (`colliculocale` on 15 and 16, `colllocale` from 17, `collicurules` from 16).
fn collations(client: &mut Client, ns: &[u32], s: &mut Schema) -> Result<(), Fail> {
    let member = not_member("pg_collation");
    for r in client.query(
        format!(
            "SELECT n.nspname::text, o.collname::text, pg_catalog.to_jsonb(o)::text
             FROM pg_catalog.pg_collation o JOIN pg_catalog.pg_namespace n ON n.oid = o.collnamespace
             WHERE o.collnamespace = ANY($1) AND {member} ORDER BY o.oid"
        )
        .as_str(),
        &[&ns],
    )? {
        let name = qualified(r.get(0), r.get(1));
        let row: serde_json::Value = serde_json::from_str(&r.get::<_, String>(2))
            .map_err(|e| Fail::Unsupported(format!("collation {name} ({e})")))?;
        let text = |key: &str| row.get(key).and_then(|v| v.as_str()).map(literal);
        let provider = match row.get("collprovider").and_then(|v| v.as_str()) {
            Some("i") => "icu",
            Some("c") => "libc",
            Some("b") => "builtin",
            other => {
                return Err(Fail::Unsupported(format!(
                    "collation {name} of provider {other:?}"
                )))
            }
        };
        let mut opts = vec![format!("provider = {provider}")];
        if row.get("collisdeterministic").and_then(|v| v.as_bool()) == Some(false) {
            opts.push("deterministic = false".into());
        }
        match text("colllocale").or_else(|| text("colliculocale")) {
            Some(locale) => opts.push(format!("locale = {locale}")),
            None => {
                if let Some(c) = text("collcollate") {
                    opts.push(format!("lc_collate = {c}"));
                }
                if let Some(c) = text("collctype") {
                    opts.push(format!("lc_ctype = {c}"));
                }
            }
        }
        if let Some(rules) = text("collicurules") {
            opts.push(format!("rules = {rules}"));
        }
        s.before.push(item(
            "collation",
            name.clone(),
            format!("CREATE COLLATION {name} ({})", opts.join(", ")),
        ));
    }
    Ok(())
}

/// Text search dictionaries (on a template: built in, or an extension's) and configurations
/// with their token mappings, before the tables whose generated columns may use them.
fn text_search(client: &mut Client, ns: &[u32], s: &mut Schema) -> Result<(), Fail> {
    for r in client.query(
        format!(
            "SELECT n.nspname::text, o.dictname::text,
                    pg_catalog.quote_ident(tn.nspname) || '.' || pg_catalog.quote_ident(t.tmplname),
                    o.dictinitoption
             FROM pg_catalog.pg_ts_dict o JOIN pg_catalog.pg_namespace n ON n.oid = o.dictnamespace
             JOIN pg_catalog.pg_ts_template t ON t.oid = o.dicttemplate
             JOIN pg_catalog.pg_namespace tn ON tn.oid = t.tmplnamespace
             WHERE o.dictnamespace = ANY($1) AND {} ORDER BY o.oid",
            not_member("pg_ts_dict")
        )
        .as_str(),
        &[&ns],
    )? {
        let name = qualified(r.get(0), r.get(1));
        let mut opts = format!("TEMPLATE = {}", r.get::<_, String>(2));
        if let Some(o) = r.get::<_, Option<String>>(3).filter(|o| !o.is_empty()) {
            opts += &format!(", {o}");
        }
        s.before.push(item(
            "text search dictionary",
            name.clone(),
            format!("CREATE TEXT SEARCH DICTIONARY {name} ({opts})"),
        ));
    }
    for r in client.query(
        format!(
            "SELECT n.nspname::text, o.cfgname::text,
                    pg_catalog.quote_ident(pn.nspname) || '.' || pg_catalog.quote_ident(p.prsname),
                    ARRAY(SELECT (SELECT tt.alias FROM pg_catalog.ts_token_type(o.cfgparser) tt WHERE tt.tokid = m.maptokentype)
                                 || ' WITH ' || string_agg(m.mapdict::regdictionary::text, ', ' ORDER BY m.mapseqno)
                          FROM pg_catalog.pg_ts_config_map m WHERE m.mapcfg = o.oid
                          GROUP BY m.maptokentype ORDER BY m.maptokentype)
             FROM pg_catalog.pg_ts_config o JOIN pg_catalog.pg_namespace n ON n.oid = o.cfgnamespace
             JOIN pg_catalog.pg_ts_parser p ON p.oid = o.cfgparser
             JOIN pg_catalog.pg_namespace pn ON pn.oid = p.prsnamespace
             WHERE o.cfgnamespace = ANY($1) AND {} ORDER BY o.oid",
            not_member("pg_ts_config")
        )
        .as_str(),
        &[&ns],
    )? {
        let name = qualified(r.get(0), r.get(1));
        s.before.push(item(
            "text search configuration",
            name.clone(),
            format!(
                "CREATE TEXT SEARCH CONFIGURATION {name} (PARSER = {})",
                r.get::<_, String>(2)
            ),
        ));
        for mapping in r.get::<_, Vec<String>>(3) {
            s.before.push(item(
                "text search configuration",
                name.clone(),
                format!("ALTER TEXT SEARCH CONFIGURATION {name}\n    ADD MAPPING FOR {mapping}"),
            ));
        }
    }
    Ok(())
}

/// Extended statistics objects, after the rows (as pg_dump), with their statistics target.
fn statistics(client: &mut Client, ns: &[u32], s: &mut Schema) -> Result<(), Fail> {
    for r in client.query(
        "SELECT n.nspname::text, o.stxname::text, pg_catalog.pg_get_statisticsobjdef(o.oid),
                o.stxstattarget::int
         FROM pg_catalog.pg_statistic_ext o JOIN pg_catalog.pg_namespace n ON n.oid = o.stxnamespace
         WHERE o.stxnamespace = ANY($1) ORDER BY o.oid",
        &[&ns],
    )? {
        let name = qualified(r.get(0), r.get(1));
        s.after
            .push(item("statistics", name.clone(), r.get::<_, String>(2)));
        // -1 (up to 16) or NULL (17+): the default.
        if let Some(n) = r.get::<_, Option<i32>>(3).filter(|n| *n >= 0) {
            s.after.push(item(
                "statistics",
                name.clone(),
                format!("ALTER STATISTICS {name} SET STATISTICS {n}"),
            ));
        }
    }
    Ok(())
}

/// Functions and procedures. Those with a SQL-standard body (`BEGIN ATOMIC`, `RETURN`) are
/// checked when created, so they come after the tables and views (`late`); the others are not
/// (`check_function_bodies = false`) and come first, for defaults and checks that call them.
fn functions(client: &mut Client, ns: &[u32], s: &mut Schema, late: bool) -> Result<(), Fail> {
    let member = not_member("pg_proc");
    for r in client.query(
        format!(
            "SELECT n.nspname::text || '.' || o.proname::text || '(' || pg_catalog.pg_get_function_identity_arguments(o.oid) || ')',
                    pg_catalog.pg_get_functiondef(o.oid), o.prokind = 'p'
             FROM pg_catalog.pg_proc o JOIN pg_catalog.pg_namespace n ON n.oid = o.pronamespace
             WHERE o.pronamespace = ANY($1) AND o.prokind IN ('f', 'p') AND {member}
               AND (o.prosqlbody IS NOT NULL) = $2
               -- Not a range type's constructors: the type makes them.
               AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_proc'::regclass
                               AND d.objid = o.oid AND d.deptype = 'i')
             ORDER BY o.oid"
        )
        .as_str(),
        &[&ns, &late],
    )? {
        let what = if r.get::<_, bool>(2) {
            "procedure"
        } else {
            "function"
        };
        s.before.push(item(what, r.get::<_, String>(0), r.get::<_, String>(1)));
    }
    Ok(())
}

/// Operators, on the functions before them: a commutator or negator not made yet is created
/// as a shell by the server and filled in by its own CREATE, as pg_dump relies on.
fn operators(client: &mut Client, ns: &[u32], s: &mut Schema) -> Result<(), Fail> {
    let member = not_member("pg_operator");
    let other = |col: &str| {
        format!(
            "(SELECT 'OPERATOR(' || pg_catalog.quote_ident(xn.nspname) || '.' || x.oprname || ')'
              FROM pg_catalog.pg_operator x JOIN pg_catalog.pg_namespace xn ON xn.oid = x.oprnamespace
              WHERE x.oid = o.{col})"
        )
    };
    let sql = format!(
        "SELECT pg_catalog.quote_ident(n.nspname) || '.' || o.oprname,
                o.oprcode::regproc::text,
                CASE WHEN o.oprleft <> 0 THEN pg_catalog.format_type(o.oprleft, NULL) END,
                CASE WHEN o.oprright <> 0 THEN pg_catalog.format_type(o.oprright, NULL) END,
                {}, {}, o.oprcanmerge, o.oprcanhash,
                CASE WHEN o.oprrest <> 0 THEN o.oprrest::regproc::text END,
                CASE WHEN o.oprjoin <> 0 THEN o.oprjoin::regproc::text END
         FROM pg_catalog.pg_operator o JOIN pg_catalog.pg_namespace n ON n.oid = o.oprnamespace
         WHERE o.oprnamespace = ANY($1) AND {member} ORDER BY o.oid",
        other("oprcom"),
        other("oprnegate"),
    );
    for r in client.query(sql.as_str(), &[&ns])? {
        let name: String = r.get(0);
        let mut opts = vec![format!("FUNCTION = {}", r.get::<_, String>(1))];
        let keyed = [
            (2, "LEFTARG"),
            (3, "RIGHTARG"),
            (4, "COMMUTATOR"),
            (5, "NEGATOR"),
            (8, "RESTRICT"),
            (9, "JOIN"),
        ];
        for (col, key) in keyed {
            if let Some(v) = r.get::<_, Option<String>>(col) {
                opts.push(format!("{key} = {v}"));
            }
        }
        if r.get::<_, bool>(6) {
            opts.push("MERGES".into());
        }
        if r.get::<_, bool>(7) {
            opts.push("HASHES".into());
        }
        let args = |col: usize| r.get::<_, Option<String>>(col).unwrap_or("NONE".into());
        s.before.push(item(
            "operator",
            format!("{name} ({}, {})", args(2), args(3)),
            format!("CREATE OPERATOR {name} (\n    {}\n)", opts.join(",\n    ")),
        ));
    }
    Ok(())
}

/// Aggregates (the ordinary kind; ordered-set ones stop the dump), after the functions they
/// call and before the views that call them. Function and type names come out qualified.
fn aggregates(client: &mut Client, ns: &[u32], s: &mut Schema) -> Result<(), Fail> {
    let member = not_member("pg_proc");
    let fname = |col: &str| format!("CASE WHEN g.{col} <> 0 THEN g.{col}::regproc::text END");
    let sql = format!(
        "SELECT n.nspname::text || '.' || o.proname::text || '(' || pg_catalog.pg_get_function_identity_arguments(o.oid) || ')',
                pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(o.proname),
                pg_catalog.pg_get_function_arguments(o.oid),
                {}, pg_catalog.format_type(g.aggtranstype, NULL), g.aggtransspace,
                {}, g.aggfinalextra, g.aggfinalmodify::text,
                {}, {}, {},
                {}, {}, CASE WHEN g.aggmtranstype <> 0 THEN pg_catalog.format_type(g.aggmtranstype, NULL) END,
                g.aggmtransspace, {}, g.aggmfinalextra, g.aggmfinalmodify::text,
                g.agginitval, g.aggminitval,
                (SELECT 'OPERATOR(' || pg_catalog.quote_ident(opn.nspname) || '.' || op.oprname || ')'
                 FROM pg_catalog.pg_operator op JOIN pg_catalog.pg_namespace opn ON opn.oid = op.oprnamespace
                 WHERE op.oid = g.aggsortop),
                o.proparallel::text
         FROM pg_catalog.pg_aggregate g JOIN pg_catalog.pg_proc o ON o.oid = g.aggfnoid
         JOIN pg_catalog.pg_namespace n ON n.oid = o.pronamespace
         WHERE o.pronamespace = ANY($1) AND g.aggkind = 'n' AND {member} ORDER BY o.oid",
        fname("aggtransfn"),
        fname("aggfinalfn"),
        fname("aggcombinefn"),
        fname("aggserialfn"),
        fname("aggdeserialfn"),
        fname("aggmtransfn"),
        fname("aggminvtransfn"),
        fname("aggmfinalfn"),
    );
    for r in client.query(sql.as_str(), &[&ns])? {
        let mut opts = Vec::new();
        let mut opt = |key: &str, value: Option<String>| {
            if let Some(v) = value {
                opts.push(format!("{key} = {v}"));
            }
        };
        let modify = |m: String, default: &str| {
            let word = match m.as_str() {
                "r" => "READ_ONLY",
                "s" => "SHAREABLE",
                _ => "READ_WRITE",
            };
            (m != default).then(|| word.to_string())
        };
        let space = |n: i32| (n > 0).then(|| n.to_string());
        opt("SFUNC", r.get(3));
        opt("STYPE", r.get(4));
        opt("SSPACE", space(r.get(5)));
        opt("FINALFUNC", r.get(6));
        opt("FINALFUNC_MODIFY", modify(r.get(8), "r"));
        opt("COMBINEFUNC", r.get(9));
        opt("SERIALFUNC", r.get(10));
        opt("DESERIALFUNC", r.get(11));
        opt("MSFUNC", r.get(12));
        opt("MINVFUNC", r.get(13));
        opt("MSTYPE", r.get(14));
        opt("MSSPACE", space(r.get(15)));
        opt("MFINALFUNC", r.get(16));
        opt("MFINALFUNC_MODIFY", modify(r.get(18), "r"));
        opt(
            "INITCOND",
            r.get::<_, Option<String>>(19).map(|v| literal(&v)),
        );
        opt(
            "MINITCOND",
            r.get::<_, Option<String>>(20).map(|v| literal(&v)),
        );
        opt("SORTOP", r.get(21));
        opt(
            "PARALLEL",
            match r.get::<_, String>(22).as_str() {
                "s" => Some("SAFE".into()),
                "r" => Some("RESTRICTED".into()),
                _ => None,
            },
        );
        // FINALFUNC_EXTRA and MFINALFUNC_EXTRA take no value.
        if r.get::<_, bool>(7) {
            opts.push("FINALFUNC_EXTRA".into());
        }
        if r.get::<_, bool>(17) {
            opts.push("MFINALFUNC_EXTRA".into());
        }
        let (name, args): (String, String) = (r.get(1), r.get(2));
        s.before.push(item(
            "aggregate",
            r.get::<_, String>(0),
            format!(
                "CREATE AGGREGATE {name}({args}) (\n    {}\n)",
                opts.join(",\n    ")
            ),
        ));
    }
    Ok(())
}

/// Sequences not made by an identity column, and the `OWNED BY` of serial columns (returned:
/// they go after the tables).
fn sequences(client: &mut Client, ns: &[u32], s: &mut Schema) -> Result<Vec<Item>, Fail> {
    let member = not_member("pg_class");
    let mut owned = Vec::new();
    for r in client.query(
        format!(
            "SELECT n.nspname::text, o.relname::text, pg_catalog.format_type(q.seqtypid, NULL),
                    q.seqstart, q.seqincrement, q.seqmin, q.seqmax, q.seqcache, q.seqcycle,
                    (SELECT pg_catalog.quote_ident(tn.nspname) || '.' || pg_catalog.quote_ident(t.relname) || '.' || pg_catalog.quote_ident(a.attname)
                     FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_class t ON t.oid = d.refobjid
                     JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace
                     JOIN pg_catalog.pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
                     WHERE d.classid = 'pg_class'::regclass AND d.objid = o.oid AND d.deptype = 'a'
                       AND d.refclassid = 'pg_class'::regclass),
                    o.relpersistence = 'u'
             FROM pg_catalog.pg_class o JOIN pg_catalog.pg_namespace n ON n.oid = o.relnamespace
             JOIN pg_catalog.pg_sequence q ON q.seqrelid = o.oid
             WHERE o.relnamespace = ANY($1) AND o.relkind = 'S' AND {member}
               AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_class'::regclass
                               AND d.objid = o.oid AND d.deptype = 'i')
             ORDER BY o.oid"
        )
        .as_str(),
        &[&ns],
    )? {
        let name = qualified(r.get(0), r.get(1));
        let unlogged = if r.get::<_, bool>(10) { "UNLOGGED " } else { "" };
        let sql = format!(
            "CREATE {unlogged}SEQUENCE {name}\n    AS {}\n    {}",
            r.get::<_, String>(2),
            sequence_options(&r, 3)
        );
        s.before.push(item("sequence", name.clone(), sql));
        if let Some(col) = r.get::<_, Option<String>>(9) {
            owned.push(item(
                "sequence owner",
                name.clone(),
                format!("ALTER SEQUENCE {name} OWNED BY {col}"),
            ));
        }
    }
    Ok(owned)
}

/// START … CYCLE from columns `at`..`at + 5` of a row: start, increment, min, max, cache, cycle.
fn sequence_options(r: &postgres::Row, at: usize) -> String {
    let cycle = if r.get::<_, bool>(at + 5) {
        "CYCLE"
    } else {
        "NO CYCLE"
    };
    format!(
        "START WITH {} INCREMENT BY {} MINVALUE {} MAXVALUE {} CACHE {} {cycle}",
        r.get::<_, i64>(at),
        r.get::<_, i64>(at + 1),
        r.get::<_, i64>(at + 2),
        r.get::<_, i64>(at + 3),
        r.get::<_, i64>(at + 4),
    )
}

/// A table name as `--exclude-data` may give it: `name`, or `schema.name`.
fn excluded(exclude: &[String], schema: &str, name: &str) -> bool {
    exclude
        .iter()
        .any(|e| e == name || *e == format!("{schema}.{name}"))
}

/// One table as the catalog describes it.
struct Rel {
    oid: u32,
    schema: String,
    rel: String,
    unlogged: bool,
    rls: bool,
    force_rls: bool,
    options: Option<String>,
    /// `PARTITION BY …` of a partitioned table.
    partition_key: Option<String>,
    /// `FOR VALUES …`/`DEFAULT` of a partition, with its parent.
    partition_of: Option<(String, String)>,
    /// Inheritance parents (not a partition's), in INHERITS order: oids and names.
    parents: Vec<(u32, String)>,
    has_children: bool,
    /// (schema, name) of the partitioned tables it is a partition of, at any depth.
    ancestors: Vec<(String, String)>,
}

fn rels(client: &mut Client, ns: &[u32]) -> Result<Vec<Rel>, Fail> {
    let member = not_member("pg_class");
    let rows = client.query(
        format!(
            "SELECT o.oid, n.nspname::text, o.relname::text, o.relpersistence = 'u',
                    o.relrowsecurity, o.relforcerowsecurity,
                    pg_catalog.array_to_string(o.reloptions, ', '),
                    CASE WHEN o.relkind = 'p' THEN pg_catalog.pg_get_partkeydef(o.oid) END,
                    CASE WHEN o.relispartition THEN pg_catalog.pg_get_expr(o.relpartbound, o.oid) END,
                    ARRAY(SELECT i.inhparent FROM pg_catalog.pg_inherits i WHERE i.inhrelid = o.oid ORDER BY i.inhseqno),
                    ARRAY(SELECT pg_catalog.quote_ident(pn.nspname) || '.' || pg_catalog.quote_ident(p.relname)
                          FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class p ON p.oid = i.inhparent
                          JOIN pg_catalog.pg_namespace pn ON pn.oid = p.relnamespace
                          WHERE i.inhrelid = o.oid ORDER BY i.inhseqno),
                    o.relhassubclass, o.relispartition,
                    ARRAY(SELECT an.nspname::text FROM pg_catalog.pg_partition_ancestors(o.oid) x(relid)
                          JOIN pg_catalog.pg_class ac ON ac.oid = x.relid
                          JOIN pg_catalog.pg_namespace an ON an.oid = ac.relnamespace
                          WHERE x.relid <> o.oid ORDER BY an.oid, ac.oid),
                    ARRAY(SELECT ac.relname::text FROM pg_catalog.pg_partition_ancestors(o.oid) x(relid)
                          JOIN pg_catalog.pg_class ac ON ac.oid = x.relid
                          JOIN pg_catalog.pg_namespace an ON an.oid = ac.relnamespace
                          WHERE x.relid <> o.oid ORDER BY an.oid, ac.oid)
             FROM pg_catalog.pg_class o JOIN pg_catalog.pg_namespace n ON n.oid = o.relnamespace
             WHERE o.relnamespace = ANY($1) AND o.relkind IN ('r', 'p') AND {member} ORDER BY o.oid"
        )
        .as_str(),
        &[&ns],
    )?;
    let mut out = Vec::new();
    for r in rows {
        let is_partition: bool = r.get(12);
        let parent_oids: Vec<u32> = r.get(9);
        let parent_names: Vec<String> = r.get(10);
        let mut rel = Rel {
            oid: r.get(0),
            schema: r.get(1),
            rel: r.get(2),
            unlogged: r.get(3),
            rls: r.get(4),
            force_rls: r.get(5),
            options: r.get::<_, Option<String>>(6).filter(|o| !o.is_empty()),
            partition_key: r.get(7),
            partition_of: None,
            parents: Vec::new(),
            has_children: r.get(11),
            ancestors: r
                .get::<_, Vec<String>>(13)
                .into_iter()
                .zip(r.get::<_, Vec<String>>(14))
                .collect(),
        };
        let parents = parent_oids.into_iter().zip(parent_names);
        if is_partition {
            let (bound, parent) = (r.get::<_, Option<String>>(8), parents.clone().next_back());
            let (Some(bound), Some((_, parent))) = (bound, parent) else {
                return Err(Fail::Unsupported(format!(
                    "partition {} without its bound or parent",
                    rel.rel
                )));
            };
            rel.partition_of = Some((parent, bound));
        } else {
            rel.parents = parents.collect();
        }
        out.push(rel);
    }
    Ok(inheritance_order(out))
}

/// Tables with their inheritance parents first (INHERITS names them); partitions are attached
/// after all tables exist, so their order does not matter.
fn inheritance_order(mut pending: Vec<Rel>) -> Vec<Rel> {
    let mut out: Vec<Rel> = Vec::with_capacity(pending.len());
    while !pending.is_empty() {
        let before = pending.len();
        let mut i = 0;
        while i < pending.len() {
            let ready = pending[i]
                .parents
                .iter()
                .all(|(p, _)| !pending.iter().any(|r| r.oid == *p));
            if ready {
                out.push(pending.remove(i));
            } else {
                i += 1;
            }
        }
        if pending.len() == before {
            // Parents outside the app's schemas: the CREATE names them; the load says so.
            out.append(&mut pending);
        }
    }
    out
}

fn tables(client: &mut Client, ns: &[u32], s: &mut Schema, exclude: &[String]) -> Result<(), Fail> {
    let mut unknown: Vec<&String> = exclude.iter().collect();
    let mut attach = Vec::new();
    for t in rels(client, ns)? {
        let name = qualified(&t.schema, &t.rel);
        // An inheritance child writes its own columns and constraints only; a partition all
        // of them (it is created on its own, then attached, as pg_dump does).
        let local_only = !t.parents.is_empty();
        let cols = columns(client, &t, local_only)?;
        let mut defs = cols.defs;
        let only = if t.has_children { "" } else { "ONLY " };
        for (con, def) in checks(client, t.oid, t.partition_of.is_none())? {
            if def.ends_with("NOT VALID") {
                // Added after the rows, which it must not check.
                s.after
                    .push(added_constraint("constraint", only, &name, &con, &def));
            } else {
                defs.push(format!("CONSTRAINT {} {def}", ident(&con)));
            }
        }
        let unlogged = if t.unlogged { "UNLOGGED " } else { "" };
        let mut sql = format!(
            "CREATE {unlogged}TABLE {name} (\n    {}\n)",
            defs.join(",\n    ")
        );
        if !t.parents.is_empty() {
            let names: Vec<&str> = t.parents.iter().map(|(_, n)| n.as_str()).collect();
            sql += &format!("\nINHERITS ({})", names.join(", "));
        }
        if let Some(key) = &t.partition_key {
            sql += &format!("\nPARTITION BY {key}");
        }
        if let Some(opts) = &t.options {
            sql += &format!("\nWITH ({opts})");
        }
        s.before.push(item("table", name.clone(), sql));
        for fix in cols.fixes {
            s.before.push(item(
                "column",
                name.clone(),
                format!("ALTER TABLE ONLY {name} {fix}"),
            ));
        }
        for (con, def) in cols.not_valid {
            s.after
                .push(added_constraint("constraint", only, &name, &con, &def));
        }
        if let Some((parent, bound)) = &t.partition_of {
            attach.push(item(
                "partition",
                name.clone(),
                format!("ALTER TABLE ONLY {parent} ATTACH PARTITION {name} {bound}"),
            ));
        }
        for (on, what) in [(t.rls, "ENABLE"), (t.force_rls, "FORCE")] {
            if on {
                s.after.push(item(
                    "row security",
                    name.clone(),
                    format!("ALTER TABLE {name} {what} ROW LEVEL SECURITY"),
                ));
            }
        }
        let plain = format!("{}.{}", t.schema, t.rel);
        let names = |e: &String| *e == t.rel || *e == plain;
        unknown.retain(|e| !names(e));
        // Excluding a partitioned table excludes its partitions' rows.
        let is_excluded = excluded(exclude, &t.schema, &t.rel)
            || t.ancestors.iter().any(|(sc, r)| excluded(exclude, sc, r));
        s.tables.push(Table {
            plain,
            name,
            columns: cols.copied,
            excluded: is_excluded,
            // A partitioned table holds no rows of its own: its partitions do.
            holds_rows: t.partition_key.is_none(),
        });
    }
    s.before.extend(attach);
    if let Some(e) = unknown.first() {
        return Err(Fail::Excluded((*e).clone()));
    }
    Ok(())
}

/// A table's CHECK constraints: (name, definition), the inherited ones too unless `local_only`.
fn checks(
    client: &mut Client,
    table: u32,
    local_only: bool,
) -> Result<Vec<(String, String)>, Fail> {
    Ok(client
        .query(
            "SELECT c.conname::text, pg_catalog.pg_get_constraintdef(c.oid)
             FROM pg_catalog.pg_constraint c
             WHERE c.conrelid = $1 AND c.contype = 'c' AND (c.conislocal OR NOT $2)
             ORDER BY c.conname",
            &[&table, &local_only],
        )?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
}

/// What a table's CREATE says of its columns, and what follows it.
struct Columns {
    defs: Vec<String>,
    /// The columns its rows are copied with (every one but generated ones), in order.
    copied: Vec<String>,
    /// `ALTER COLUMN …` for inherited columns whose default or NOT NULL is the child's own.
    fixes: Vec<String>,
    /// NOT NULL constraints marked NOT VALID (PostgreSQL 18+), added after the rows.
    not_valid: Vec<(String, String)>,
}

/// A table's column definitions; `local_only`: an inheritance child's (its own columns; the
/// inherited ones come from INHERITS).
fn columns(client: &mut Client, t: &Rel, local_only: bool) -> Result<Columns, Fail> {
    let mut out = Columns {
        defs: Vec::new(),
        copied: Vec::new(),
        fixes: Vec::new(),
        not_valid: Vec::new(),
    };
    for r in client.query(
        "SELECT a.attname::text, pg_catalog.format_type(a.atttypid, a.atttypmod),
                CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation
                     THEN (SELECT pg_catalog.quote_ident(cn.nspname) || '.' || pg_catalog.quote_ident(c.collname)
                           FROM pg_catalog.pg_collation c JOIN pg_catalog.pg_namespace cn ON cn.oid = c.collnamespace
                           WHERE c.oid = a.attcollation) END,
                a.attnotnull, a.attgenerated::text, a.attidentity::text,
                pg_catalog.pg_get_expr(d.adbin, d.adrelid),
                (SELECT pg_catalog.quote_ident(sn.nspname) || '.' || pg_catalog.quote_ident(sc.relname)
                 FROM pg_catalog.pg_depend dep JOIN pg_catalog.pg_class sc ON sc.oid = dep.objid
                 JOIN pg_catalog.pg_namespace sn ON sn.oid = sc.relnamespace
                 WHERE dep.refobjid = a.attrelid AND dep.refobjsubid = a.attnum AND dep.deptype = 'i'
                   AND dep.classid = 'pg_class'::regclass AND sc.relkind = 'S'),
                q.seqstart, q.seqincrement, q.seqmin, q.seqmax, q.seqcache, q.seqcycle,
                a.attislocal,
                -- PostgreSQL 18 names NOT NULL constraints (older servers have none here).
                (SELECT nn.conname::text FROM pg_catalog.pg_constraint nn
                 WHERE nn.conrelid = a.attrelid AND nn.contype = 'n' AND nn.conkey[1] = a.attnum),
                (SELECT pg_catalog.pg_get_constraintdef(nn.oid) FROM pg_catalog.pg_constraint nn
                 WHERE nn.conrelid = a.attrelid AND nn.contype = 'n' AND nn.conkey[1] = a.attnum),
                -- What an inherited column gets from its parents.
                (SELECT bool_or(pa.attnotnull) FROM pg_catalog.pg_inherits i
                 JOIN pg_catalog.pg_attribute pa ON pa.attrelid = i.inhparent AND pa.attname = a.attname
                 WHERE i.inhrelid = a.attrelid),
                (SELECT pg_catalog.pg_get_expr(pd.adbin, pd.adrelid) FROM pg_catalog.pg_inherits i
                 JOIN pg_catalog.pg_attribute pa ON pa.attrelid = i.inhparent AND pa.attname = a.attname
                 JOIN pg_catalog.pg_attrdef pd ON pd.adrelid = pa.attrelid AND pd.adnum = pa.attnum
                 WHERE i.inhrelid = a.attrelid ORDER BY i.inhseqno LIMIT 1)
         FROM pg_catalog.pg_attribute a
         JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
         LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         LEFT JOIN pg_catalog.pg_depend sd ON sd.refobjid = a.attrelid AND sd.refobjsubid = a.attnum
              AND sd.deptype = 'i' AND sd.classid = 'pg_class'::regclass
         LEFT JOIN pg_catalog.pg_sequence q ON q.seqrelid = sd.objid
         WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
         ORDER BY a.attnum",
        &[&t.oid],
    )? {
        let name: String = r.get(0);
        let generated: String = r.get(4);
        let identity: String = r.get(5);
        let default: Option<String> = r.get(6);
        let notnull: bool = r.get(3);
        let (nn_name, nn_def): (Option<String>, Option<String>) = (r.get(15), r.get(16));
        let nn_later = nn_def.as_deref().is_some_and(|d| d.ends_with("NOT VALID"));
        if generated.is_empty() {
            out.copied.push(ident(&name));
        }
        if nn_later {
            out.not_valid
                .push((nn_name.clone().unwrap_or_default(), nn_def.clone().unwrap_or_default()));
        }
        if local_only && !r.get::<_, bool>(14) {
            // Inherited: INHERITS brings it with the parent's default and NOT NULL; what the
            // child changed follows its CREATE.
            let (parent_notnull, parent_default): (Option<bool>, Option<String>) =
                (r.get(17), r.get(18));
            if notnull && !parent_notnull.unwrap_or(false) && !nn_later {
                out.fixes
                    .push(format!("ALTER COLUMN {} SET NOT NULL", ident(&name)));
            }
            if generated.is_empty() && identity.is_empty() && default != parent_default {
                out.fixes.push(match &default {
                    Some(expr) => format!("ALTER COLUMN {} SET DEFAULT {expr}", ident(&name)),
                    None => format!("ALTER COLUMN {} DROP DEFAULT", ident(&name)),
                });
            }
            continue;
        }
        let mut def = format!("{} {}", ident(&name), r.get::<_, String>(1));
        if let Some(c) = r.get::<_, Option<String>>(2) {
            def += &format!(" COLLATE {c}");
        }
        match (generated.as_str(), default) {
            ("s", Some(expr)) => def += &format!(" GENERATED ALWAYS AS ({expr}) STORED"),
            ("v", Some(expr)) => def += &format!(" GENERATED ALWAYS AS ({expr}) VIRTUAL"),
            ("", Some(expr)) => def += &format!(" DEFAULT {expr}"),
            (g, _) if !g.is_empty() => {
                return Err(Fail::Unsupported(format!(
                    "generated column {name} without an expression"
                )))
            }
            _ => {}
        }
        if notnull && !nn_later {
            // PostgreSQL 18+: the constraint's name, when it is not the one the server
            // would choose, and NO INHERIT.
            if let Some(n) = nn_name.filter(|n| *n != format!("{}_{name}_not_null", t.rel)) {
                def += &format!(" CONSTRAINT {}", ident(&n));
            }
            def += " NOT NULL";
            if nn_def.as_deref().is_some_and(|d| d.ends_with("NO INHERIT")) {
                def += " NO INHERIT";
            }
        }
        if !identity.is_empty() {
            let Some(seq) = r.get::<_, Option<String>>(7) else {
                // PostgreSQL 17+: a partition's identity is its parent's (one sequence); the
                // ATTACH gives it back.
                if t.partition_of.is_some() {
                    out.defs.push(def);
                    continue;
                }
                return Err(Fail::Unsupported(format!(
                    "identity column {name} without its sequence"
                )));
            };
            let how = if identity == "a" {
                "ALWAYS"
            } else {
                "BY DEFAULT"
            };
            // The sequence's type is the column's (no AS here: the server refuses it).
            def += &format!(
                " GENERATED {how} AS IDENTITY (\n        SEQUENCE NAME {seq}\n        {}\n    )",
                sequence_options(&r, 8)
            );
        }
        out.defs.push(def);
    }
    Ok(out)
}

/// Views and materialized views (created empty), each after the views it reads.
fn views(client: &mut Client, ns: &[u32], s: &mut Schema) -> Result<(), Fail> {
    let member = not_member("pg_class");
    let rows = client.query(
        format!(
            "SELECT o.oid, n.nspname::text, o.relname::text, o.relkind = 'm',
                    pg_catalog.pg_get_viewdef(o.oid, false), pg_catalog.array_to_string(o.reloptions, ', ')
             FROM pg_catalog.pg_class o JOIN pg_catalog.pg_namespace n ON n.oid = o.relnamespace
             WHERE o.relnamespace = ANY($1) AND o.relkind IN ('v', 'm') AND {member} ORDER BY o.oid"
        )
        .as_str(),
        &[&ns],
    )?;
    // Which view reads which: the view's rule depends on the relations it names.
    let mut reads: HashMap<u32, HashSet<u32>> = HashMap::new();
    for r in client.query(
        "SELECT DISTINCT rw.ev_class, d.refobjid FROM pg_catalog.pg_depend d
         JOIN pg_catalog.pg_rewrite rw ON rw.oid = d.objid
         WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass
           AND d.refobjid <> rw.ev_class",
        &[],
    )? {
        reads.entry(r.get(0)).or_default().insert(r.get(1));
    }
    let mut pending: BTreeMap<u32, Item> = BTreeMap::new();
    for r in rows {
        let oid: u32 = r.get(0);
        let name = qualified(r.get(1), r.get(2));
        let def: String = r.get(4);
        let with = r
            .get::<_, Option<String>>(5)
            .filter(|o| !o.is_empty())
            .map(|o| format!(" WITH ({o})"))
            .unwrap_or_default();
        let def = def.trim_end().trim_end_matches(';').to_string();
        let it = if r.get::<_, bool>(3) {
            item(
                "materialized view",
                name.clone(),
                format!("CREATE MATERIALIZED VIEW {name}{with} AS\n{def}\nWITH NO DATA"),
            )
        } else {
            item(
                "view",
                name.clone(),
                format!("CREATE VIEW {name}{with} AS\n{def}"),
            )
        };
        pending.insert(oid, it);
    }
    // Kahn's order: a view is written once every view it reads is.
    while !pending.is_empty() {
        let ready: Vec<u32> = pending
            .keys()
            .copied()
            .filter(|v| {
                reads
                    .get(v)
                    .is_none_or(|deps| deps.iter().all(|d| !pending.contains_key(d)))
            })
            .collect();
        if ready.is_empty() {
            let names: Vec<String> = pending.values().map(|i| i.name.clone()).collect();
            return Err(Fail::Unsupported(format!(
                "views that read each other in a circle: {}",
                names.join(", ")
            )));
        }
        for v in ready {
            if let Some(it) = pending.remove(&v) {
                s.before.push(it);
            }
        }
    }
    Ok(())
}

fn sequence_values(client: &mut Client, ns: &[u32], s: &mut Schema) -> Result<(), Fail> {
    let member = not_member("pg_class");
    let seqs = client.query(
        format!(
            "SELECT n.nspname::text, o.relname::text FROM pg_catalog.pg_class o
             JOIN pg_catalog.pg_namespace n ON n.oid = o.relnamespace
             WHERE o.relnamespace = ANY($1) AND o.relkind = 'S' AND {member} ORDER BY o.oid"
        )
        .as_str(),
        &[&ns],
    )?;
    for r in seqs {
        let name = qualified(r.get(0), r.get(1));
        let v = client.query_one(
            format!("SELECT last_value, is_called FROM {name}").as_str(),
            &[],
        )?;
        let (last, called): (i64, bool) = (v.get(0), v.get(1));
        s.after.push(item(
            "sequence value",
            name.clone(),
            format!(
                "SELECT pg_catalog.setval({}, {last}, {called})",
                literal(&name)
            ),
        ));
    }
    Ok(())
}

/// Primary keys, unique and exclusion constraints, after the rows (cheaper): a partition's
/// own, which its parent's made, too; they are attached to the parent's index afterwards.
fn keys(client: &mut Client, ns: &[u32], s: &mut Schema) -> Result<(), Fail> {
    let sql = "SELECT n.nspname::text, t.relname::text, c.conname::text, pg_catalog.pg_get_constraintdef(c.oid),
                      false
         FROM pg_catalog.pg_constraint c JOIN pg_catalog.pg_class t ON t.oid = c.conrelid
         JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
         WHERE t.relnamespace = ANY($1) AND t.relkind IN ('r', 'p', 'm')
           AND c.contype IN ('p', 'u', 'x') AND (c.conislocal OR c.conparentid <> 0)
         ORDER BY t.oid, c.contype, c.conname";
    add_constraints(client, ns, s, "constraint", sql)
}

/// Foreign keys, last: every key and unique index they may lean on exists by then. A
/// partitioned table's reaches its partitions by itself (their copies are not written), and
/// is added without ONLY, which the server refuses there.
fn foreign_keys(client: &mut Client, ns: &[u32], s: &mut Schema) -> Result<(), Fail> {
    let sql = "SELECT n.nspname::text, t.relname::text, c.conname::text, pg_catalog.pg_get_constraintdef(c.oid),
                      t.relkind = 'p'
         FROM pg_catalog.pg_constraint c JOIN pg_catalog.pg_class t ON t.oid = c.conrelid
         JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
         WHERE t.relnamespace = ANY($1) AND t.relkind IN ('r', 'p')
           AND c.contype = 'f' AND c.conislocal AND c.conparentid = 0
         ORDER BY t.oid, c.conname";
    add_constraints(client, ns, s, "foreign key", sql)
}

/// `ALTER TABLE [ONLY] t ADD CONSTRAINT …` for each row of `sql`: (schema, table, name,
/// definition, whether without ONLY).
fn add_constraints(
    client: &mut Client,
    ns: &[u32],
    s: &mut Schema,
    what: &'static str,
    sql: &str,
) -> Result<(), Fail> {
    for r in client.query(sql, &[&ns])? {
        let table = qualified(r.get(0), r.get(1));
        let (name, def): (String, String) = (r.get(2), r.get(3));
        let only = if r.get::<_, bool>(4) { "" } else { "ONLY " };
        s.after
            .push(added_constraint(what, only, &table, &name, &def));
    }
    Ok(())
}

/// `ALTER TABLE [ONLY] table ADD CONSTRAINT name definition`.
fn added_constraint(what: &'static str, only: &str, table: &str, name: &str, def: &str) -> Item {
    item(
        what,
        format!("{name} on {table}"),
        format!(
            "ALTER TABLE {only}{table}\n    ADD CONSTRAINT {} {def}",
            ident(name)
        ),
    )
}

/// Indexes that no constraint made. On a partitioned table, `pg_get_indexdef` writes
/// `ON ONLY`: the partitions' own indexes are attached to it after.
fn indexes(client: &mut Client, ns: &[u32], s: &mut Schema) -> Result<(), Fail> {
    for r in client.query(
        "SELECT n.nspname::text || '.' || ic.relname::text, pg_catalog.pg_get_indexdef(i.indexrelid)
         FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
         JOIN pg_catalog.pg_class t ON t.oid = i.indrelid
         JOIN pg_catalog.pg_namespace n ON n.oid = ic.relnamespace
         WHERE t.relnamespace = ANY($1) AND t.relkind IN ('r', 'p', 'm')
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c WHERE c.conindid = i.indexrelid
                           AND c.contype IN ('p', 'u', 'x'))
         ORDER BY ic.oid",
        &[&ns],
    )? {
        s.after.push(item(
            "index",
            r.get::<_, String>(0),
            r.get::<_, String>(1),
        ));
    }
    Ok(())
}

/// What a table says of its indexes once they exist: the one CLUSTER uses, and its replica
/// identity (logical replication) when not the default.
fn table_settings(client: &mut Client, ns: &[u32], s: &mut Schema) -> Result<(), Fail> {
    for r in client.query(
        "SELECT pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(t.relname),
                t.relreplident::text,
                (SELECT pg_catalog.quote_ident(ic.relname) FROM pg_catalog.pg_index i
                 JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
                 WHERE i.indrelid = t.oid AND i.indisreplident),
                (SELECT pg_catalog.quote_ident(ic.relname) FROM pg_catalog.pg_index i
                 JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
                 WHERE i.indrelid = t.oid AND i.indisclustered)
         FROM pg_catalog.pg_class t JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
         WHERE t.relnamespace = ANY($1) AND t.relkind IN ('r', 'p', 'm') ORDER BY t.oid",
        &[&ns],
    )? {
        let table: String = r.get(0);
        if let Some(index) = r.get::<_, Option<String>>(3) {
            s.after.push(item(
                "cluster",
                table.clone(),
                format!("ALTER TABLE {table} CLUSTER ON {index}"),
            ));
        }
        let identity = match (
            r.get::<_, String>(1).as_str(),
            r.get::<_, Option<String>>(2),
        ) {
            ("d", _) => continue,
            ("n", _) => "NOTHING".to_string(),
            ("f", _) => "FULL".to_string(),
            ("i", Some(index)) => format!("USING INDEX {index}"),
            (other, _) => {
                return Err(Fail::Unsupported(format!(
                    "replica identity '{other}' of {table}"
                )))
            }
        };
        s.after.push(item(
            "replica identity",
            table.clone(),
            format!("ALTER TABLE ONLY {table} REPLICA IDENTITY {identity}"),
        ));
    }
    Ok(())
}

/// Each partition's index (a key's too) attached to its parent's, as the source has it.
fn index_attachments(client: &mut Client, ns: &[u32], s: &mut Schema) -> Result<(), Fail> {
    for r in client.query(
        "SELECT pg_catalog.quote_ident(pn.nspname) || '.' || pg_catalog.quote_ident(p.relname),
                pg_catalog.quote_ident(cn.nspname) || '.' || pg_catalog.quote_ident(c.relname)
         FROM pg_catalog.pg_inherits i
         JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid JOIN pg_catalog.pg_namespace cn ON cn.oid = c.relnamespace
         JOIN pg_catalog.pg_class p ON p.oid = i.inhparent JOIN pg_catalog.pg_namespace pn ON pn.oid = p.relnamespace
         WHERE c.relnamespace = ANY($1) AND c.relkind IN ('i', 'I') AND p.relkind = 'I'
         ORDER BY c.oid",
        &[&ns],
    )? {
        let (parent, child): (String, String) = (r.get(0), r.get(1));
        s.after.push(item(
            "index",
            child.clone(),
            format!("ALTER INDEX {parent} ATTACH PARTITION {child}"),
        ));
    }
    Ok(())
}

fn triggers(client: &mut Client, ns: &[u32], s: &mut Schema) -> Result<(), Fail> {
    for r in client.query(
        "SELECT g.tgname::text || ' on ' || n.nspname::text || '.' || t.relname::text,
                pg_catalog.pg_get_triggerdef(g.oid, false), g.tgenabled::text,
                pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(t.relname),
                pg_catalog.quote_ident(g.tgname),
                (SELECT pg.tgenabled::text FROM pg_catalog.pg_trigger pg WHERE pg.oid = g.tgparentid)
         FROM pg_catalog.pg_trigger g JOIN pg_catalog.pg_class t ON t.oid = g.tgrelid
         JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
         WHERE t.relnamespace = ANY($1) AND NOT g.tgisinternal ORDER BY g.oid",
        &[&ns],
    )? {
        let name: String = r.get(0);
        let enabled: String = r.get(2);
        // A partition's copy of its parent's trigger comes with the parent's; only a state
        // of its own is written.
        let parent_state: Option<String> = r.get(5);
        match &parent_state {
            None => s
                .after
                .push(item("trigger", name.clone(), r.get::<_, String>(1))),
            Some(p) if *p == enabled => continue,
            Some(_) => {}
        }
        let (table, trigger): (String, String) = (r.get(3), r.get(4));
        let state = match enabled.as_str() {
            "O" if parent_state.is_some() => Some("ENABLE TRIGGER"),
            "O" => None,
            "D" => Some("DISABLE TRIGGER"),
            "R" => Some("ENABLE REPLICA TRIGGER"),
            "A" => Some("ENABLE ALWAYS TRIGGER"),
            other => {
                return Err(Fail::Unsupported(format!(
                    "trigger {name} in state '{other}'"
                )))
            }
        };
        if let Some(state) = state {
            s.after.push(item(
                "trigger state",
                name,
                format!("ALTER TABLE {table} {state} {trigger}"),
            ));
        }
    }
    Ok(())
}

/// Rewrite rules (a view's own `_RETURN` is its definition), with their enabled state.
fn rules(client: &mut Client, ns: &[u32], s: &mut Schema) -> Result<(), Fail> {
    for r in client.query(
        "SELECT r.rulename::text || ' on ' || n.nspname::text || '.' || c.relname::text,
                pg_catalog.pg_get_ruledef(r.oid, false), r.ev_enabled::text,
                pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname),
                pg_catalog.quote_ident(r.rulename)
         FROM pg_catalog.pg_rewrite r JOIN pg_catalog.pg_class c ON c.oid = r.ev_class
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relnamespace = ANY($1) AND r.rulename <> '_RETURN' ORDER BY r.oid",
        &[&ns],
    )? {
        let name: String = r.get(0);
        s.after
            .push(item("rule", name.clone(), r.get::<_, String>(1)));
        let state = match r.get::<_, String>(2).as_str() {
            "O" => continue,
            "D" => "DISABLE RULE",
            "R" => "ENABLE REPLICA RULE",
            "A" => "ENABLE ALWAYS RULE",
            other => return Err(Fail::Unsupported(format!("rule {name} in state '{other}'"))),
        };
        let (table, rule): (String, String) = (r.get(3), r.get(4));
        s.after.push(item(
            "rule state",
            name,
            format!("ALTER TABLE {table} {state} {rule}"),
        ));
    }
    Ok(())
}

fn policies(client: &mut Client, ns: &[u32], s: &mut Schema) -> Result<(), Fail> {
    for r in client.query(
        "SELECT p.polname::text, pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(t.relname),
                p.polpermissive, p.polcmd::text,
                (SELECT array_agg(CASE WHEN r = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(r)) END ORDER BY r)
                 FROM unnest(p.polroles) AS r),
                pg_catalog.pg_get_expr(p.polqual, p.polrelid), pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid)
         FROM pg_catalog.pg_policy p JOIN pg_catalog.pg_class t ON t.oid = p.polrelid
         JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
         WHERE t.relnamespace = ANY($1) ORDER BY p.oid",
        &[&ns],
    )? {
        let (name, table): (String, String) = (r.get(0), r.get(1));
        let kind = if r.get::<_, bool>(2) {
            "PERMISSIVE"
        } else {
            "RESTRICTIVE"
        };
        let cmd = match r.get::<_, String>(3).as_str() {
            "r" => "SELECT",
            "a" => "INSERT",
            "w" => "UPDATE",
            "d" => "DELETE",
            _ => "ALL",
        };
        let roles = r.get::<_, Option<Vec<String>>>(4).unwrap_or_default();
        let mut sql = format!(
            "CREATE POLICY {} ON {table} AS {kind} FOR {cmd} TO {}",
            ident(&name),
            if roles.is_empty() {
                "PUBLIC".to_string()
            } else {
                roles.join(", ")
            }
        );
        if let Some(q) = r.get::<_, Option<String>>(5) {
            sql += &format!(" USING ({q})");
        }
        if let Some(q) = r.get::<_, Option<String>>(6) {
            sql += &format!(" WITH CHECK ({q})");
        }
        s.after
            .push(item("policy", format!("{name} on {table}"), sql));
    }
    Ok(())
}

fn refreshes(client: &mut Client, ns: &[u32], s: &mut Schema) -> Result<(), Fail> {
    for r in client.query(
        "SELECT n.nspname::text, o.relname::text FROM pg_catalog.pg_class o
         JOIN pg_catalog.pg_namespace n ON n.oid = o.relnamespace
         WHERE o.relnamespace = ANY($1) AND o.relkind = 'm' AND o.relispopulated ORDER BY o.oid",
        &[&ns],
    )? {
        let name = qualified(r.get(0), r.get(1));
        s.after.push(item(
            "materialized view data",
            name.clone(),
            format!("REFRESH MATERIALIZED VIEW {name}"),
        ));
    }
    Ok(())
}

/// Comments on what the dump writes; a comment on anything else in the schemas stops it.
fn comments(client: &mut Client, ns: &[u32], s: &mut Schema) -> Result<(), Fail> {
    let rows = client.query(
        "SELECT CASE
            WHEN d.classoid = 'pg_class'::regclass AND d.objsubid > 0 THEN
                'COLUMN ' || pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname) || '.'
                || (SELECT pg_catalog.quote_ident(a.attname) FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum = d.objsubid)
            WHEN d.classoid = 'pg_class'::regclass THEN
                CASE c.relkind WHEN 'r' THEN 'TABLE ' WHEN 'p' THEN 'TABLE ' WHEN 'v' THEN 'VIEW '
                     WHEN 'm' THEN 'MATERIALIZED VIEW ' WHEN 'S' THEN 'SEQUENCE ' WHEN 'i' THEN 'INDEX '
                     WHEN 'I' THEN 'INDEX ' END
                || pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname)
            WHEN d.classoid = 'pg_proc'::regclass THEN
                (SELECT CASE p.prokind WHEN 'p' THEN 'PROCEDURE ' WHEN 'a' THEN 'AGGREGATE ' ELSE 'FUNCTION ' END || pg_catalog.quote_ident(pn.nspname) || '.'
                        || pg_catalog.quote_ident(p.proname) || '(' || pg_catalog.pg_get_function_identity_arguments(p.oid) || ')'
                 FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace pn ON pn.oid = p.pronamespace
                 WHERE p.oid = d.objoid AND p.pronamespace = ANY($1))
            WHEN d.classoid = 'pg_type'::regclass THEN
                (SELECT CASE t.typtype WHEN 'd' THEN 'DOMAIN ' ELSE 'TYPE ' END || pg_catalog.quote_ident(tn.nspname) || '.' || pg_catalog.quote_ident(t.typname)
                 FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace tn ON tn.oid = t.typnamespace
                 WHERE t.oid = d.objoid AND t.typnamespace = ANY($1))
            WHEN d.classoid = 'pg_namespace'::regclass THEN
                (SELECT 'SCHEMA ' || pg_catalog.quote_ident(x.nspname) FROM pg_catalog.pg_namespace x
                 WHERE x.oid = d.objoid AND x.oid = ANY($1) AND x.nspname <> 'public')
            WHEN d.classoid = 'pg_constraint'::regclass THEN
                (SELECT 'CONSTRAINT ' || pg_catalog.quote_ident(k.conname) || ' ON '
                        || CASE WHEN k.contypid <> 0 THEN 'DOMAIN ' || pg_catalog.quote_ident(kn.nspname) || '.' || pg_catalog.quote_ident(kt.typname)
                           ELSE pg_catalog.quote_ident(kn2.nspname) || '.' || pg_catalog.quote_ident(kc.relname) END
                 FROM pg_catalog.pg_constraint k
                 LEFT JOIN pg_catalog.pg_type kt ON kt.oid = k.contypid LEFT JOIN pg_catalog.pg_namespace kn ON kn.oid = kt.typnamespace
                 LEFT JOIN pg_catalog.pg_class kc ON kc.oid = k.conrelid LEFT JOIN pg_catalog.pg_namespace kn2 ON kn2.oid = kc.relnamespace
                 WHERE k.oid = d.objoid AND k.connamespace = ANY($1))
            WHEN d.classoid = 'pg_trigger'::regclass THEN
                (SELECT 'TRIGGER ' || pg_catalog.quote_ident(g.tgname) || ' ON ' || pg_catalog.quote_ident(gn.nspname) || '.' || pg_catalog.quote_ident(gc.relname)
                 FROM pg_catalog.pg_trigger g JOIN pg_catalog.pg_class gc ON gc.oid = g.tgrelid JOIN pg_catalog.pg_namespace gn ON gn.oid = gc.relnamespace
                 WHERE g.oid = d.objoid AND gc.relnamespace = ANY($1))
            WHEN d.classoid = 'pg_collation'::regclass THEN
                (SELECT 'COLLATION ' || pg_catalog.quote_ident(xn.nspname) || '.' || pg_catalog.quote_ident(x.collname)
                 FROM pg_catalog.pg_collation x JOIN pg_catalog.pg_namespace xn ON xn.oid = x.collnamespace
                 WHERE x.oid = d.objoid AND x.collnamespace = ANY($1))
            WHEN d.classoid = 'pg_statistic_ext'::regclass THEN
                (SELECT 'STATISTICS ' || pg_catalog.quote_ident(xn.nspname) || '.' || pg_catalog.quote_ident(x.stxname)
                 FROM pg_catalog.pg_statistic_ext x JOIN pg_catalog.pg_namespace xn ON xn.oid = x.stxnamespace
                 WHERE x.oid = d.objoid AND x.stxnamespace = ANY($1))
            WHEN d.classoid = 'pg_operator'::regclass THEN
                (SELECT 'OPERATOR ' || pg_catalog.quote_ident(xn.nspname) || '.' || x.oprname || ' ('
                        || coalesce(pg_catalog.format_type(NULLIF(x.oprleft, 0), NULL), 'NONE') || ', '
                        || coalesce(pg_catalog.format_type(NULLIF(x.oprright, 0), NULL), 'NONE') || ')'
                 FROM pg_catalog.pg_operator x JOIN pg_catalog.pg_namespace xn ON xn.oid = x.oprnamespace
                 WHERE x.oid = d.objoid AND x.oprnamespace = ANY($1))
            WHEN d.classoid = 'pg_ts_dict'::regclass THEN
                (SELECT 'TEXT SEARCH DICTIONARY ' || pg_catalog.quote_ident(xn.nspname) || '.' || pg_catalog.quote_ident(x.dictname)
                 FROM pg_catalog.pg_ts_dict x JOIN pg_catalog.pg_namespace xn ON xn.oid = x.dictnamespace
                 WHERE x.oid = d.objoid AND x.dictnamespace = ANY($1))
            WHEN d.classoid = 'pg_ts_config'::regclass THEN
                (SELECT 'TEXT SEARCH CONFIGURATION ' || pg_catalog.quote_ident(xn.nspname) || '.' || pg_catalog.quote_ident(x.cfgname)
                 FROM pg_catalog.pg_ts_config x JOIN pg_catalog.pg_namespace xn ON xn.oid = x.cfgnamespace
                 WHERE x.oid = d.objoid AND x.cfgnamespace = ANY($1))
            WHEN d.classoid = 'pg_rewrite'::regclass THEN
                (SELECT 'RULE ' || pg_catalog.quote_ident(w.rulename) || ' ON ' || pg_catalog.quote_ident(wn.nspname) || '.' || pg_catalog.quote_ident(wc.relname)
                 FROM pg_catalog.pg_rewrite w JOIN pg_catalog.pg_class wc ON wc.oid = w.ev_class JOIN pg_catalog.pg_namespace wn ON wn.oid = wc.relnamespace
                 WHERE w.oid = d.objoid AND wc.relnamespace = ANY($1))
            WHEN d.classoid = 'pg_policy'::regclass THEN
                (SELECT 'POLICY ' || pg_catalog.quote_ident(p.polname) || ' ON ' || pg_catalog.quote_ident(pn.nspname) || '.' || pg_catalog.quote_ident(pc.relname)
                 FROM pg_catalog.pg_policy p JOIN pg_catalog.pg_class pc ON pc.oid = p.polrelid JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace
                 WHERE p.oid = d.objoid AND pc.relnamespace = ANY($1))
            END,
            d.description, d.classoid::regclass::text, (c.oid IS NOT NULL)
         FROM pg_catalog.pg_description d
         LEFT JOIN pg_catalog.pg_class c ON d.classoid = 'pg_class'::regclass AND c.oid = d.objoid
         LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
         WHERE (c.oid IS NULL OR c.relnamespace = ANY($1))
           -- An extension comments itself and its members (CREATE EXTENSION writes them).
           AND d.classoid <> 'pg_extension'::regclass
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend x WHERE x.classid = d.classoid
                           AND x.objid = d.objoid AND x.deptype = 'e')
         ORDER BY d.classoid, d.objoid, d.objsubid",
        &[&ns],
    )?;
    for r in rows {
        let target: Option<String> = r.get(0);
        let text: String = r.get(1);
        match target {
            Some(t) => s.after.push(item(
                "comment",
                t.clone(),
                format!("COMMENT ON {t} IS {}", literal(&text)),
            )),
            // A comment on a relation of ours whose kind we do not name.
            None if r.get::<_, bool>(3) => {
                return Err(Fail::Unsupported(format!(
                    "comment on an object of kind {}",
                    r.get::<_, String>(2)
                )))
            }
            // Comments on what lives outside the app's schemas (the system's, other schemas').
            None => {}
        }
    }
    Ok(())
}
