//! Leaving tables' rows out of a SQLite copy (`--exclude-data`): Laravel's cache, sessions and
//! jobs tables, say. Done on the private copy before it is checked and published, never on the
//! app's file.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use crate::error::{Error, Result};

/// Empties each table of `tables` in the copy at `path`, keeping its definition, indexes and
/// triggers, then compacts the file so the rows are gone from it too. The table is dropped and
/// created again from its own SQL rather than emptied with DELETE: a DELETE would fire the
/// table's triggers, which may change other tables of the copy. A name that is not a table is
/// refused.
pub fn exclude_data(path: &Path, tables: &[String]) -> Result<()> {
    let sql = |e: rusqlite::Error| Error::Sqlite {
        path: path.to_path_buf(),
        source: e,
    };
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(sql)?;
    // No cascade into other tables, whatever the schema says.
    conn.execute_batch("PRAGMA foreign_keys = OFF; BEGIN")
        .map_err(sql)?;
    for table in tables {
        // The table first, then its indexes and triggers, as they were created.
        let mut stmt = conn
            .prepare(
                "SELECT type, sql FROM sqlite_schema WHERE tbl_name = ?1 AND sql IS NOT NULL \
                 ORDER BY CASE type WHEN 'table' THEN 0 WHEN 'index' THEN 1 ELSE 2 END, rowid",
            )
            .map_err(sql)?;
        let objects: Vec<(String, String)> = stmt
            .query_map([table], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(|rows| rows.collect())
            .map_err(sql)?;
        drop(stmt);
        if objects.first().map(|(kind, _)| kind.as_str()) != Some("table") {
            return Err(Error::ExcludedUnknown(table.clone()));
        }
        // DROP forgets an AUTOINCREMENT counter: keep it, so new ids never reuse old ones.
        let counter: Option<i64> = conn
            .query_row(
                "SELECT seq FROM sqlite_schema s, sqlite_sequence q \
                 WHERE s.name = 'sqlite_sequence' AND q.name = ?1",
                [table],
                |r| r.get(0),
            )
            .ok();
        conn.execute_batch(&format!("DROP TABLE \"{}\"", table.replace('"', "\"\"")))
            .map_err(sql)?;
        for (_, create) in &objects {
            conn.execute_batch(create).map_err(sql)?;
        }
        if let Some(seq) = counter {
            conn.execute(
                "INSERT INTO sqlite_sequence (name, seq) VALUES (?1, ?2)",
                rusqlite::params![table, seq],
            )
            .map_err(sql)?;
        }
    }
    conn.execute_batch("COMMIT; VACUUM").map_err(sql)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_go_structure_stays_and_triggers_do_not_fire() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("copy.sqlite");
        let c = Connection::open(&db).unwrap();
        c.execute_batch(
            "CREATE TABLE cache (key TEXT PRIMARY KEY, value BLOB);
             CREATE INDEX cache_value ON cache (value);
             CREATE TABLE log (n INTEGER);
             CREATE TRIGGER cache_gone AFTER DELETE ON cache BEGIN INSERT INTO log VALUES (1); END;
             CREATE TABLE jobs (id INTEGER PRIMARY KEY AUTOINCREMENT, payload TEXT);
             INSERT INTO cache VALUES ('a', zeroblob(100000)), ('b', 'x');
             INSERT INTO jobs (payload) VALUES ('j1'), ('j2');
             INSERT INTO log VALUES (0);",
        )
        .unwrap();
        let schema = |c: &Connection| -> Vec<String> {
            let mut s = c
                .prepare("SELECT sql FROM sqlite_schema WHERE sql IS NOT NULL ORDER BY name")
                .unwrap();
            s.query_map([], |r| r.get(0))
                .unwrap()
                .map(|r| r.unwrap())
                .collect()
        };
        let before = schema(&c);
        drop(c);
        let size = std::fs::metadata(&db).unwrap().len();
        exclude_data(&db, &["cache".into(), "jobs".into()]).unwrap();
        let c = Connection::open(&db).unwrap();
        assert_eq!(schema(&c), before);
        let count = |t: &str| -> i64 {
            c.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0))
                .unwrap()
        };
        assert_eq!((count("cache"), count("jobs"), count("log")), (0, 0, 1));
        // The AUTOINCREMENT counter is kept: new ids never reuse old ones.
        let seq: i64 = c
            .query_row(
                "SELECT seq FROM sqlite_sequence WHERE name = 'jobs'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(seq, 2);
        assert!(std::fs::metadata(&db).unwrap().len() < size / 2);
        drop(c);
        assert!(matches!(
            exclude_data(&db, &["sessions".into()]),
            Err(Error::ExcludedUnknown(t)) if t == "sessions"
        ));
    }
}
