//! What a database holds, read from `information_schema` and `SHOW CREATE …`, in load order.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use mysql::prelude::Queryable;
use mysql::{Conn, Row};
use regex::bytes::Regex;

use super::encode::{ident, Encoding};
use super::Fail;

/// A base table and how to dump its rows.
#[derive(Debug, Clone)]
pub struct Table {
    pub name: String,
    pub engine: Option<String>,
    /// Columns whose values are dumped (generated columns are left out: the server recomputes
    /// them), with how each value is written.
    pub columns: Vec<(String, Encoding)>,
    pub triggers: Vec<String>,
}

/// Everything to dump, in the order the file must create it.
#[derive(Debug, Default)]
pub struct Schema {
    pub tables: Vec<Table>,
    /// Views with their column names (for the placeholder).
    pub views: Vec<(String, Vec<String>)>,
    /// (name, "PROCEDURE" | "FUNCTION").
    pub routines: Vec<(String, String)>,
    pub events: Vec<String>,
    /// Objects we cannot dump faithfully and say so (sequences, system-versioned history).
    pub skipped: Vec<String>,
}

/// Reads the schema of `db`; tables come ordered so referenced tables precede referencing ones.
pub fn read(conn: &mut Conn, db: &str) -> Result<Schema, Fail> {
    let mut schema = Schema::default();
    let objects: Vec<(String, String, Option<String>)> = conn.exec(
        "SELECT TABLE_NAME, TABLE_TYPE, ENGINE FROM information_schema.TABLES \
         WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME",
        (db,),
    )?;
    let mut columns: BTreeMap<String, Vec<(String, Encoding)>> = BTreeMap::new();
    let mut all_columns: BTreeMap<String, Vec<String>> = BTreeMap::new();
    // GENERATION_EXPRESSION is the exact fact on both servers (NULL on MariaDB, '' on MySQL for
    // an ordinary column); EXTRA's words must say the same, or we stop rather than guess.
    let rows: Vec<(String, String, String, String, Option<String>)> = conn.exec(
        "SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, EXTRA, GENERATION_EXPRESSION \
         FROM information_schema.COLUMNS \
         WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME, ORDINAL_POSITION",
        (db,),
    )?;
    for (table, column, data_type, extra, expression) in rows {
        all_columns
            .entry(table.clone())
            .or_default()
            .push(column.clone());
        let by_expression = expression.is_some_and(|e| !e.is_empty());
        let by_extra = is_generated(&extra).map_err(|word| Fail::Columns {
            table: table.clone(),
            detail: format!(
                "column {column} has an unknown attribute {word:?} (EXTRA {extra:?}; please report this)"
            ),
        })?;
        if by_expression != by_extra {
            return Err(Fail::Columns {
                table,
                detail: format!(
                    "column {column}: the server's GENERATION_EXPRESSION and EXTRA ({extra:?}) disagree on whether it is generated (please report this)"
                ),
            });
        }
        if !by_expression {
            columns
                .entry(table)
                .or_default()
                .push((column, Encoding::of(&data_type)));
        }
    }
    let mut triggers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let rows: Vec<(String, String)> = conn.exec(
        "SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS \
         WHERE TRIGGER_SCHEMA = ? ORDER BY EVENT_OBJECT_TABLE, ACTION_ORDER",
        (db,),
    )?;
    for (trigger, table) in rows {
        triggers.entry(table).or_default().push(trigger);
    }

    let mut tables = Vec::new();
    for (name, kind, engine) in objects {
        match kind.as_str() {
            "VIEW" => {
                let cols = all_columns.get(&name).cloned().unwrap_or_default();
                schema.views.push((name, cols));
            }
            "BASE TABLE" | "SYSTEM VERSIONED" => {
                if kind == "SYSTEM VERSIONED" {
                    schema
                        .skipped
                        .push(format!("history rows of system-versioned table {name}"));
                }
                tables.push(Table {
                    columns: columns.remove(&name).unwrap_or_default(),
                    triggers: triggers.remove(&name).unwrap_or_default(),
                    name,
                    engine,
                });
            }
            other => schema
                .skipped
                .push(format!("{} {name}", other.to_lowercase())),
        }
    }
    let refs: Vec<(String, String)> = conn.exec(
        "SELECT TABLE_NAME, REFERENCED_TABLE_NAME FROM information_schema.REFERENTIAL_CONSTRAINTS \
         WHERE CONSTRAINT_SCHEMA = ? AND UNIQUE_CONSTRAINT_SCHEMA = ?",
        (db, db),
    )?;
    schema.tables = order_by_references(tables, &refs);
    schema.routines = conn.exec(
        "SELECT ROUTINE_NAME, ROUTINE_TYPE FROM information_schema.ROUTINES \
         WHERE ROUTINE_SCHEMA = ? ORDER BY ROUTINE_TYPE, ROUTINE_NAME",
        (db,),
    )?;
    schema.events = conn.exec(
        "SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ? ORDER BY EVENT_NAME",
        (db,),
    )?;
    Ok(schema)
}

/// Whether a column's `EXTRA` (from information_schema.COLUMNS or SHOW COLUMNS) marks it as
/// generated, read word by word: `VIRTUAL GENERATED`, `STORED GENERATED` (MariaDB 10.1:
/// `VIRTUAL`, `PERSISTENT`) are; `DEFAULT_GENERATED` (MySQL's mark for an expression or
/// CURRENT_TIMESTAMP default), `auto_increment`, `on update …` and `INVISIBLE` are not. An
/// unknown word is returned as the error: a new kind of column must be looked at, not guessed.
pub fn is_generated(extra: &str) -> Result<bool, String> {
    let mut generated = false;
    let mut words = extra
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty());
    while let Some(word) = words.next() {
        match word.to_ascii_uppercase().as_str() {
            "VIRTUAL" | "STORED" | "PERSISTENT" => generated = true,
            "GENERATED" if generated => {}
            "DEFAULT_GENERATED" | "AUTO_INCREMENT" | "INVISIBLE" => {}
            // `on update CURRENT_TIMESTAMP(6)`: the next word is the expression.
            "ON" => match (words.next(), words.next()) {
                (Some(u), Some(_)) if u.eq_ignore_ascii_case("UPDATE") => {}
                _ => return Err(word.to_string()),
            },
            _ => return Err(word.to_string()),
        }
    }
    Ok(generated)
}

/// The guard against a silently dropped column: reads the table's columns again, through
/// `SHOW COLUMNS` (a second query, not the information_schema one the column list came from),
/// and checks that `written` is exactly its non-generated columns, in order.
pub fn check_columns_now(conn: &mut Conn, table: &str, written: &[String]) -> Result<(), Fail> {
    let rows: Vec<Row> = conn.query(format!("SHOW COLUMNS FROM {}", ident(table)))?;
    let text = |r: &Row, i: usize| {
        r.get_opt::<Vec<u8>, usize>(i)
            .and_then(|v| v.ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    };
    let server: Vec<(String, String)> = rows.iter().map(|r| (text(r, 0), text(r, 5))).collect();
    check_columns(written, &server).map_err(|detail| Fail::Columns {
        table: table.to_string(),
        detail: format!(
            "{detail} (was the table altered during the backup? run it again; if this happens again, please report it)"
        ),
    })
}

/// `Err(one line naming the column)` unless `written` is exactly the columns of `server`
/// (name, EXTRA) that are not generated, in the server's order.
pub fn check_columns(written: &[String], server: &[(String, String)]) -> Result<(), String> {
    let mut expected = Vec::new();
    for (name, extra) in server {
        let generated = is_generated(extra).map_err(|w| {
            format!("column {name} has an unknown attribute {w:?} (EXTRA {extra:?})")
        })?;
        if !generated {
            expected.push(name);
        }
    }
    for i in 0..expected.len().max(written.len()) {
        match (expected.get(i), written.get(i)) {
            (Some(e), Some(w)) if *e == w => {}
            (Some(e), _) if !written.contains(e) => {
                return Err(format!("column {e} would be left out of the dump"))
            }
            (_, Some(w)) if !expected.contains(&w) => {
                return Err(format!(
                    "column {w} would be written, but the server does not list it among the table's stored, non-generated columns"
                ))
            }
            (Some(e), _) => {
                return Err(format!("column {e} would be written out of the server's order"))
            }
            // Every expected column is written, and more columns than expected: a repeat.
            (None, w) => {
                let w = w.map_or("", String::as_str);
                return Err(format!("column {w} would be written twice"));
            }
        }
    }
    Ok(())
}

/// Orders tables so that every table comes after the tables it references (a stable
/// topological sort by name); tables in a reference cycle keep name order, which still loads
/// because the dump turns FOREIGN_KEY_CHECKS off.
pub fn order_by_references(tables: Vec<Table>, refs: &[(String, String)]) -> Vec<Table> {
    let names: BTreeSet<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    let mut needs: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (from, to) in refs {
        if from != to && names.contains(from.as_str()) && names.contains(to.as_str()) {
            needs.entry(from.as_str()).or_default().insert(to.as_str());
        }
    }
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut order: Vec<String> = Vec::new();
    while order.len() < names.len() {
        let ready = names.iter().find(|n| {
            !done.contains(**n)
                && needs
                    .get(**n)
                    .is_none_or(|deps| deps.iter().all(|d| done.contains(*d)))
        });
        // In a cycle nothing is ready: take the first remaining name to break it.
        let next = ready
            .or_else(|| names.iter().find(|n| !done.contains(**n)))
            .map(|n| n.to_string());
        let Some(next) = next else { break };
        done.insert(next.clone());
        order.push(next);
    }
    let mut by_name: BTreeMap<String, Table> =
        tables.into_iter().map(|t| (t.name.clone(), t)).collect();
    order
        .into_iter()
        .filter_map(|n| by_name.remove(&n))
        .collect()
}

/// The nth column of the single row a `SHOW CREATE …` returns, as bytes; `None` when the server
/// hides it (it does that instead of failing when a privilege is missing).
pub fn show_create(conn: &mut Conn, query: &str, column: usize) -> Result<Option<Vec<u8>>, Fail> {
    let row: Option<Row> = conn.query_first(query)?;
    Ok(row.and_then(|r| {
        r.get_opt::<Option<Vec<u8>>, usize>(column)
            .and_then(|v| v.ok())
            .flatten()
    }))
}

/// Same, but a text column (sql_mode, time zone).
pub fn show_field(conn: &mut Conn, query: &str, column: usize) -> Result<Option<String>, Fail> {
    Ok(show_create(conn, query, column)?.map(|b| String::from_utf8_lossy(&b).into_owned()))
}

static DEFINER: LazyLock<Regex> = LazyLock::new(|| {
    let part = r"(?:`(?:[^`]|``)*`|'(?:[^'\\]|\\.|'')*'|[^\s@]+)";
    Regex::new(&format!(
        r"(?i)\s*DEFINER\s*=\s*{part}(?:\s*@\s*{part})?\s*"
    ))
    .expect("valid regex")
});

/// Removes the first `DEFINER=user@host` clause, so the app's own user can restore the object
/// (creating an object for another account needs SUPER or SET USER).
pub fn strip_definer(create: &[u8]) -> Vec<u8> {
    // The clause sits before the object keyword, well inside the first few hundred bytes; never
    // touch the body, where the same words could be data.
    let head_len = create.len().min(512);
    let (head, body) = create.split_at(head_len);
    let Some(m) = DEFINER.find(head) else {
        return create.to_vec();
    };
    let mut out = Vec::with_capacity(create.len());
    out.extend_from_slice(&head[..m.start()]);
    out.push(b' ');
    out.extend_from_slice(&head[m.end()..]);
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(name: &str) -> Table {
        Table {
            name: name.into(),
            engine: None,
            columns: vec![],
            triggers: vec![],
        }
    }

    #[test]
    fn referenced_tables_come_first() {
        let tables = vec![
            t("inventaires"),
            t("products"),
            t("receptions"),
            t("sorties"),
        ];
        let refs = vec![
            ("inventaires".to_string(), "products".to_string()),
            ("receptions".to_string(), "products".to_string()),
            ("products".to_string(), "categories_missing".to_string()),
            ("sorties".to_string(), "receptions".to_string()),
        ];
        let names: Vec<_> = order_by_references(tables, &refs)
            .into_iter()
            .map(|t| t.name)
            .collect();
        assert_eq!(names, ["products", "inventaires", "receptions", "sorties"]);
    }

    #[test]
    fn cycles_and_self_references_still_list_every_table() {
        let tables = vec![t("a"), t("b"), t("c")];
        let refs = vec![
            ("a".to_string(), "b".to_string()),
            ("b".to_string(), "a".to_string()),
            ("c".to_string(), "c".to_string()),
        ];
        let names: Vec<_> = order_by_references(tables, &refs)
            .into_iter()
            .map(|t| t.name)
            .collect();
        assert_eq!(names, ["c", "a", "b"]);
    }

    #[test]
    fn extra_is_read_word_by_word() {
        // As MySQL 9.7 and MariaDB 10.11 print them.
        for (extra, generated) in [
            ("", false),
            ("auto_increment", false),
            ("DEFAULT_GENERATED", false),
            ("DEFAULT_GENERATED on update CURRENT_TIMESTAMP", false),
            ("DEFAULT_GENERATED on update CURRENT_TIMESTAMP(6)", false),
            ("on update current_timestamp()", false),
            ("INVISIBLE", false),
            ("auto_increment INVISIBLE", false),
            ("VIRTUAL GENERATED", true),
            ("STORED GENERATED", true),
            ("VIRTUAL GENERATED INVISIBLE", true),
            ("VIRTUAL GENERATED, INVISIBLE", true),
            ("PERSISTENT", true),
            ("VIRTUAL", true),
        ] {
            assert_eq!(is_generated(extra), Ok(generated), "{extra:?}");
        }
        for (extra, word) in [
            ("DEFAULT_GENERATED SOMETHING_NEW", "SOMETHING_NEW"),
            ("GENERATED", "GENERATED"),
            ("on", "on"),
            ("select", "select"),
        ] {
            assert_eq!(is_generated(extra), Err(word.to_string()), "{extra:?}");
        }
    }

    #[test]
    fn the_column_guard_names_the_column() {
        let server = |cols: &[(&str, &str)]| -> Vec<(String, String)> {
            cols.iter()
                .map(|(c, e)| (c.to_string(), e.to_string()))
                .collect()
        };
        let names = |cols: &[&str]| -> Vec<String> { cols.iter().map(|c| c.to_string()).collect() };
        let table = server(&[
            ("my_row_id", "auto_increment INVISIBLE"),
            ("id", ""),
            ("created_at", "DEFAULT_GENERATED"),
            ("total", "STORED GENERATED"),
            (
                "updated_at",
                "DEFAULT_GENERATED on update CURRENT_TIMESTAMP",
            ),
            ("label", "VIRTUAL GENERATED"),
            ("secret", "INVISIBLE"),
        ]);
        let all = ["my_row_id", "id", "created_at", "updated_at", "secret"];
        assert_eq!(check_columns(&names(&all), &table), Ok(()));
        // The bug this guards against: DEFAULT_GENERATED taken for generated.
        let err = check_columns(&names(&["my_row_id", "id", "secret"]), &table).unwrap_err();
        assert_eq!(err, "column created_at would be left out of the dump");
        let err = check_columns(
            &names(&["id", "created_at", "updated_at", "secret"]),
            &table,
        );
        assert_eq!(
            err.unwrap_err(),
            "column my_row_id would be left out of the dump"
        );
        let err = check_columns(
            &names(&["my_row_id", "id", "created_at", "updated_at"]),
            &table,
        );
        assert_eq!(
            err.unwrap_err(),
            "column secret would be left out of the dump"
        );
        let mut with_generated = names(&all);
        with_generated.push("total".into());
        assert!(check_columns(&with_generated, &table)
            .unwrap_err()
            .starts_with("column total would be written, but the server does not list it"));
        let swapped = names(&["my_row_id", "id", "updated_at", "created_at", "secret"]);
        assert_eq!(
            check_columns(&swapped, &table).unwrap_err(),
            "column created_at would be written out of the server's order"
        );
        let mut twice = names(&all);
        twice.push("id".into());
        assert_eq!(
            check_columns(&twice, &table).unwrap_err(),
            "column id would be written twice"
        );
        assert!(check_columns(&names(&["a"]), &server(&[("a", "NEW_KIND")]))
            .unwrap_err()
            .contains("unknown attribute \"NEW_KIND\""));
        assert_eq!(
            check_columns(&[], &server(&[("g", "VIRTUAL GENERATED")])),
            Ok(())
        );
    }

    #[test]
    fn definers_are_removed_from_the_head_only() {
        let cases = [
            (
                "CREATE DEFINER=`root`@`localhost` TRIGGER `t` BEFORE INSERT ON `x` FOR EACH ROW SET @a = 'DEFINER=`a`@`b`'",
                "CREATE TRIGGER `t` BEFORE INSERT ON `x` FOR EACH ROW SET @a = 'DEFINER=`a`@`b`'",
            ),
            (
                "CREATE ALGORITHM=UNDEFINED DEFINER=`app``x`@`%` SQL SECURITY DEFINER VIEW `v` AS select 1",
                "CREATE ALGORITHM=UNDEFINED SQL SECURITY DEFINER VIEW `v` AS select 1",
            ),
            ("CREATE DEFINER=root@localhost PROCEDURE `p`() SELECT 1", "CREATE PROCEDURE `p`() SELECT 1"),
            ("CREATE TABLE `t` (a int)", "CREATE TABLE `t` (a int)"),
        ];
        for (input, want) in cases {
            assert_eq!(
                String::from_utf8(strip_definer(input.as_bytes())).unwrap(),
                want
            );
        }
    }
}
