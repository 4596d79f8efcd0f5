//! What a restore does with the objects of the app's database that the dump does not create.
//! By default, as mysqldump's files do, they are left in place, with a warning naming them;
//! `restore --clean` drops them first, so the database ends up exactly as backed up.

use mysql::prelude::Queryable;
use mysql::Conn;

use super::encode::ident;
use super::inventory::{Inventory, Object};
use super::Fail;

/// Every object of `db` the dump does not create, in the order they can be dropped (triggers
/// and events, routines, views, then tables).
fn missing(conn: &mut Conn, db: &str, inv: &Inventory) -> Result<Vec<(Object, String)>, Fail> {
    let mut all: Vec<(Object, String)> = Vec::new();
    let names =
        |conn: &mut Conn, sql: &str| -> Result<Vec<String>, Fail> { Ok(conn.exec(sql, (db,))?) };
    let triggers: Vec<(String, String)> = conn.exec(
        "SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS \
         WHERE TRIGGER_SCHEMA = ? ORDER BY TRIGGER_NAME",
        (db,),
    )?;
    for (trigger, table) in triggers {
        // A table the dump creates is dropped and made again, its triggers with it.
        if !inv.creates(Object::Table, &table) {
            all.push((Object::Trigger, trigger));
        }
    }
    for e in names(
        conn,
        "SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ? \
         ORDER BY EVENT_NAME",
    )? {
        all.push((Object::Event, e));
    }
    let routines: Vec<(String, String)> = conn.exec(
        "SELECT ROUTINE_NAME, ROUTINE_TYPE FROM information_schema.ROUTINES \
         WHERE ROUTINE_SCHEMA = ? AND ROUTINE_TYPE IN ('PROCEDURE', 'FUNCTION') \
         ORDER BY ROUTINE_TYPE, ROUTINE_NAME",
        (db,),
    )?;
    for (name, kind) in routines {
        let kind = if kind == "FUNCTION" {
            Object::Function
        } else {
            Object::Procedure
        };
        all.push((kind, name));
    }
    let tables: Vec<(String, String)> = conn.exec(
        "SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? \
         ORDER BY TABLE_TYPE = 'VIEW' DESC, TABLE_NAME",
        (db,),
    )?;
    for (name, kind) in tables {
        // Base tables, MariaDB's system-versioned tables and sequences alike.
        let kind = if kind == "VIEW" {
            Object::View
        } else {
            Object::Table
        };
        all.push((kind, name));
    }
    all.retain(|(kind, name)| !inv.creates(*kind, name));
    Ok(all)
}

/// "table `a`, table `b`, view `v`".
fn describe(objects: &[(Object, String)]) -> String {
    objects
        .iter()
        .map(|(kind, name)| format!("{} {}", kind.sql().to_lowercase(), ident(name)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Before the load: with `clean`, drops what the dump does not create and returns it described;
/// without, warns about it and drops nothing.
pub(super) fn prepare(
    conn: &mut Conn,
    db: &str,
    inv: &Inventory,
    clean: bool,
    warn: &mut dyn FnMut(String),
) -> Result<Option<String>, Fail> {
    let extra = missing(conn, db, inv)?;
    if extra.is_empty() {
        return Ok(None);
    }
    if !clean {
        warn(format!(
            "left in place, not in the backup: {} (restore --clean drops them first)",
            describe(&extra)
        ));
        return Ok(None);
    }
    // Tables referenced by foreign keys go in any order; the setting is put back afterwards
    // (the dump's own header turns it off again for the load).
    conn.query_drop("SET @db_backup_fk = @@foreign_key_checks, foreign_key_checks = 0")?;
    for (kind, name) in &extra {
        conn.query_drop(format!("DROP {} IF EXISTS {}", kind.sql(), ident(name)))?;
    }
    conn.query_drop("SET foreign_key_checks = @db_backup_fk")?;
    Ok(Some(describe(&extra)))
}
