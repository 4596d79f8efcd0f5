//! The gate before a MySQL dump is published: the staged file is read back with our own
//! statement splitter and held against what the dump streamed. It must parse to the end, end
//! with the "-- Dump completed" line, create each dumped table exactly once with as many row
//! tuples in its INSERTs as rows were streamed, and create every dumped view, routine, trigger
//! and event — nothing more, nothing less.

use std::path::Path;

use super::inventory::{self, Inventory, Object};
use super::schema::Schema;
use crate::error::{Error, Result};

/// What the dump streamed into the file.
#[derive(Debug, Clone, Default)]
pub struct Streamed {
    /// Every table in dump order, with the rows written.
    pub tables: Vec<(String, u64)>,
    /// Views, routines, triggers and events written.
    pub objects: Vec<(Object, String)>,
}

impl Streamed {
    /// The objects the dump of `schema` writes besides tables; tables are added as they are
    /// written.
    pub(super) fn of(schema: &Schema) -> Streamed {
        let mut objects: Vec<(Object, String)> = Vec::new();
        for (view, _) in &schema.views {
            objects.push((Object::View, view.clone()));
        }
        for (name, kind) in &schema.routines {
            let kind = if kind.eq_ignore_ascii_case("FUNCTION") {
                Object::Function
            } else {
                Object::Procedure
            };
            objects.push((kind, name.clone()));
        }
        for table in &schema.tables {
            for trigger in &table.triggers {
                objects.push((Object::Trigger, trigger.clone()));
            }
        }
        for event in &schema.events {
            objects.push((Object::Event, event.clone()));
        }
        Streamed {
            tables: Vec::new(),
            objects,
        }
    }

    /// A table written with `rows` rows.
    pub(super) fn table(&mut self, name: &str, rows: u64) {
        self.tables.push((name.to_string(), rows));
    }
}

/// What the read-back found, for the report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checked {
    pub statements: u64,
    pub tables: usize,
    pub rows: u64,
}

/// Reads the staged dump back and holds it against what was streamed.
pub fn dump_file(file: &Path, streamed: &Streamed) -> Result<Checked> {
    let failed = |detail: String| Error::CheckFailed(format!("dump read back: {detail}"));
    let inv = inventory::read(file).map_err(|e| failed(e.to_string()))?;
    compare(&inv, streamed).map_err(failed)
}

/// Whether the file holds exactly what was streamed; the first difference otherwise.
pub fn compare(inv: &Inventory, streamed: &Streamed) -> Result<Checked, String> {
    if !inv.completed {
        return Err("it does not end with the \"-- Dump completed\" line".into());
    }
    let mut checked = Checked {
        statements: inv.statements,
        ..Checked::default()
    };
    for (name, rows) in &streamed.tables {
        let entry = inv.tables.get(name).cloned().unwrap_or_default();
        if entry.creates != 1 {
            return Err(format!(
                "table `{name}` is created {} times in the file, once expected",
                entry.creates
            ));
        }
        if entry.rows != *rows {
            return Err(format!(
                "table `{name}` has {} rows in the file, {rows} were dumped",
                entry.rows
            ));
        }
        checked.tables += 1;
        checked.rows += rows;
    }
    if let Some(extra) = inv
        .tables
        .keys()
        .find(|t| !streamed.tables.iter().any(|(n, _)| n == *t))
    {
        return Err(format!(
            "the file writes table `{extra}`, which was not dumped"
        ));
    }
    for (kind, name) in &streamed.objects {
        if !inv.creates(*kind, name) {
            return Err(format!(
                "{} `{name}` is missing from the file",
                kind.sql().to_lowercase()
            ));
        }
    }
    if let Some((kind, name)) = inv.objects.keys().find(|(k, n)| {
        !streamed
            .objects
            .iter()
            .any(|(sk, sn)| sk == k && sn.eq_ignore_ascii_case(n))
    }) {
        return Err(format!(
            "the file creates {} `{name}`, which was not dumped",
            kind.sql().to_lowercase()
        ));
    }
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUMP: &str = "-- db-backup dump\n\
        /*!40101 SET NAMES utf8mb4 */;\n\
        DROP TABLE IF EXISTS `products`;\nCREATE TABLE `products` (`id` int, `name` text);\n\
        LOCK TABLES `products` WRITE;\n\
        INSERT INTO `products` (`id`,`name`) VALUES (1,'a),(b'),(2,'c;d');\n\
        INSERT INTO `products` (`id`,`name`) VALUES (3,'e');\n\
        UNLOCK TABLES;\n\
        DROP TABLE IF EXISTS `empty`;\nCREATE TABLE `empty` (`id` int);\n\
        DROP TRIGGER IF EXISTS `products_ai`;\nDELIMITER ;;\n\
        CREATE TRIGGER `products_ai` AFTER INSERT ON `products` FOR EACH ROW BEGIN SET @n = 1; END ;;\n\
        DELIMITER ;\n\
        DROP VIEW IF EXISTS `v`;\nCREATE VIEW `v` AS SELECT 1 AS `id`;\n\
        DROP VIEW IF EXISTS `v`;\nCREATE ALGORITHM=UNDEFINED SQL SECURITY DEFINER VIEW `v` AS select `id` from `products`;\n\
        \n-- Dump completed\n";

    fn streamed() -> Streamed {
        Streamed {
            tables: vec![("products".into(), 3), ("empty".into(), 0)],
            objects: vec![
                (Object::View, "v".into()),
                (Object::Trigger, "products_ai".into()),
            ],
        }
    }

    /// Checks `text` as a file, as the backup does.
    fn check(text: &str, streamed: &Streamed) -> std::result::Result<Checked, String> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("dump.sql");
        std::fs::write(&file, text).unwrap();
        dump_file(&file, streamed).map_err(|e| e.to_string())
    }

    #[test]
    fn a_good_dump_passes() {
        let checked = check(DUMP, &streamed()).unwrap();
        assert_eq!((checked.tables, checked.rows), (2, 3));
    }

    #[test]
    fn a_dropped_row_fails() {
        let text = DUMP.replace(",(2,'c;d')", "");
        let err = check(&text, &streamed()).unwrap_err();
        assert!(
            err.contains("table `products` has 2 rows in the file, 3 were dumped"),
            "{err}"
        );
    }

    #[test]
    fn a_truncated_file_fails() {
        // Cut inside a string, at a statement's end, and just before the last line.
        for cut in [
            DUMP.find("c;d").unwrap(),
            DUMP.find("UNLOCK").unwrap(),
            DUMP.len() - 10,
        ] {
            let err = check(&DUMP[..cut], &streamed()).unwrap_err();
            assert!(
                err.contains("truncated")
                    || err.contains("ends inside")
                    || err.contains("Dump completed"),
                "{cut}: {err}"
            );
        }
    }

    #[test]
    fn a_missing_table_or_object_fails() {
        let text = DUMP.replace("CREATE TABLE `empty` (`id` int);\n", "");
        let err = check(&text, &streamed()).unwrap_err();
        assert!(err.contains("table `empty` is created 0 times"), "{err}");

        let mut more = streamed();
        more.tables.push(("gone".into(), 0));
        let err = check(DUMP, &more).unwrap_err();
        assert!(err.contains("table `gone` is created 0 times"), "{err}");

        let text = DUMP.replace("CREATE TRIGGER `products_ai`", "CREATE TRIGGER `other_ai`");
        let err = check(&text, &streamed()).unwrap_err();
        assert!(err.contains("trigger `products_ai` is missing"), "{err}");
    }

    #[test]
    fn anything_not_dumped_fails() {
        let mut fewer = streamed();
        fewer.tables.pop();
        let err = check(DUMP, &fewer).unwrap_err();
        assert!(
            err.contains("writes table `empty`, which was not dumped"),
            "{err}"
        );
        let mut fewer = streamed();
        fewer.objects.pop();
        let err = check(DUMP, &fewer).unwrap_err();
        assert!(
            err.contains("creates trigger `products_ai`, which was not dumped"),
            "{err}"
        );
    }

    #[test]
    fn rows_of_a_table_created_twice_fail() {
        let text = DUMP.replace(
            "UNLOCK TABLES;\n",
            "UNLOCK TABLES;\nCREATE TABLE `products` (`id` int);\n",
        );
        let err = check(&text, &streamed()).unwrap_err();
        assert!(err.contains("`products` is created 2 times"), "{err}");
    }
}
