//! Secondary keys and foreign keys built after a table's rows, not row by row: InnoDB builds
//! an index from sorted rows (`ALTER TABLE … ADD KEY`) much faster than it inserts every row
//! into every index as it comes, most of all once the table outgrows the buffer pool (myloader
//! does the same). The table ends up defined exactly as the dump says: the keys are added back
//! in the order `SHOW CREATE TABLE` listed them, before the foreign keys that may lean on them.
//!
//! Only what is sure is moved: a `CREATE TABLE` laid out as `SHOW CREATE TABLE` writes it (one
//! definition per line), with a primary key, loaded with foreign_key_checks off (as dumps
//! load); plain `KEY` lines and `CONSTRAINT … FOREIGN KEY` lines. Unique, full-text and spatial
//! keys stay where they are (a unique key may become the clustered one; a full-text one would
//! rebuild the table).

/// The keys of one table, to add once its rows are in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deferred {
    /// The table as the CREATE statement names it (quoted).
    table: Vec<u8>,
    keys: Vec<Vec<u8>>,
    foreign: Vec<Vec<u8>>,
}

/// The CREATE TABLE without its deferrable keys, and those keys; None when it has none or is
/// not laid out as expected.
pub fn split(create: &[u8]) -> Option<(Vec<u8>, Deferred)> {
    let text = std::str::from_utf8(create).ok()?;
    let mut lines = text.split('\n');
    let head = lines.next()?;
    let name = head.strip_prefix("CREATE TABLE `")?.strip_suffix("` (")?;
    // One quoted name, nothing after it (inside, a backtick is written twice).
    if name.replace("``", "").contains('`') {
        return None;
    }
    let table = format!("`{name}`");
    let body: Vec<&str> = lines.collect();
    let close = body.iter().position(|l| l.starts_with(')'))?;
    let (defs, tail) = body.split_at(close);
    if defs.is_empty() || !defs.iter().all(|l| l.starts_with("  ")) {
        return None;
    }
    // Every definition but the last ends with a comma.
    let last = defs.len() - 1;
    let bare: Vec<&str> = defs
        .iter()
        .enumerate()
        .map(|(i, l)| {
            if i < last {
                l.strip_suffix(',')
            } else {
                Some(*l)
            }
        })
        .collect::<Option<_>>()?;
    if !bare.iter().any(|l| l.starts_with("  PRIMARY KEY (")) {
        return None;
    }
    // A line inside a string or a comment that spans lines is not a definition: lines are
    // only moved when each one closes what it opens, however backslashes read.
    if !bare.iter().all(|l| closed(l, true) && closed(l, false)) {
        return None;
    }
    // An AUTO_INCREMENT column must lead some key from the start: such keys stay.
    let counters: Vec<String> = bare
        .iter()
        .filter(|l| l.contains(" AUTO_INCREMENT") && l.starts_with("  `"))
        .filter_map(|l| l[2..].split("` ").next().map(|name| format!("` ({name}`")))
        .collect();
    let mut kept = Vec::new();
    let mut keys = Vec::new();
    let mut foreign = Vec::new();
    for def in bare {
        let key = def.starts_with("  KEY `") && !counters.iter().any(|c| def.contains(c.as_str()));
        let fk = def.starts_with("  CONSTRAINT `") && def.contains("` FOREIGN KEY (");
        if (key || fk) && !one_definition(def) {
            // What was judged as part of one CREATE must not become more in an ALTER.
            return None;
        }
        if key {
            keys.push(def.trim_start().as_bytes().to_vec());
        } else if fk {
            foreign.push(def.trim_start().as_bytes().to_vec());
        } else {
            kept.push(def);
        }
    }
    if keys.is_empty() && foreign.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    out.push_str(head);
    out.push('\n');
    out.push_str(&kept.join(",\n"));
    for line in tail {
        out.push('\n');
        out.push_str(line);
    }
    let deferred = Deferred {
        table: table.into_bytes(),
        keys,
        foreign,
    };
    Some((out.into_bytes(), deferred))
}

/// Whether `line` closes every string, quoted name and comment it opens, with backslashes
/// escaping in strings or not (the session's sql_mode decides; both must agree).
fn closed(line: &str, backslash: bool) -> bool {
    let b = line.as_bytes();
    let (mut i, mut quote) = (0, None::<u8>);
    while i < b.len() {
        let c = b[i];
        match quote {
            Some(q) if backslash && q != b'`' && c == b'\\' => i += 1,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if matches!(c, b'\'' | b'"' | b'`') => quote = Some(c),
            None if b[i..].starts_with(b"/*") => match line[i + 2..].find("*/") {
                Some(end) => i += end + 3,
                None => return false,
            },
            None => {}
        }
        i += 1;
    }
    quote.is_none()
}

/// Whether `def` is one key definition and nothing more: the checker judged it inside a
/// CREATE TABLE, and in `ALTER TABLE … ADD def` a comma or a semicolon at its top level would
/// add clauses no one judged (`, RENAME TO other_db.t`). Strings and quoted names are passed
/// over; anything whose reading depends on the session (backslashes, double quotes) or that
/// hides text from a plain reading (comments, which `/*!…*/` runs) is not taken.
fn one_definition(def: &str) -> bool {
    let def = def.trim_start();
    let def = def.strip_suffix(" /*!80000 INVISIBLE */").unwrap_or(def);
    if def.contains(['\\', '"', '#']) || def.contains("/*") || def.contains("--") {
        return false;
    }
    let (mut depth, mut quote) = (0i32, None::<char>);
    for c in def.chars() {
        match (quote, c) {
            // A doubled quote inside a string or name closes and reopens it: the same.
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '`' | '\'') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => depth -= 1,
            (None, ',' | ';') if depth == 0 => return false,
            _ => {}
        }
        if depth < 0 {
            return false;
        }
    }
    quote.is_none() && depth == 0
}

impl Deferred {
    /// Whether `stmt` is part of loading this table's rows (the keys wait), as dump tools
    /// write it: its INSERTs, LOCK/UNLOCK TABLES, DISABLE/ENABLE KEYS, and session SETs.
    pub fn covers(&self, stmt: &[u8]) -> bool {
        let t = &self.table[..];
        let starts = |parts: &[&[u8]]| {
            let mut rest = stmt;
            parts.iter().all(|p| match rest.strip_prefix(*p) {
                Some(r) => {
                    rest = r;
                    true
                }
                None => false,
            })
        };
        starts(&[b"INSERT INTO ", t, b" "])
            || starts(&[b"LOCK TABLES ", t, b" WRITE"])
            || starts(&[b"/*!40000 ALTER TABLE ", t, b" DISABLE KEYS */"])
            || starts(&[b"/*!40000 ALTER TABLE ", t, b" ENABLE KEYS */"])
            || stmt == b"UNLOCK TABLES"
            || stmt.starts_with(b"SET ")
            || (stmt.starts_with(b"/*!") && stmt.windows(5).take(12).any(|w| w == b" SET "))
    }

    /// The statements that add the keys back: the keys first (a foreign key uses the index on
    /// its columns if there is one, and would make its own otherwise), then the foreign keys.
    pub fn statements(&self) -> Vec<Vec<u8>> {
        [&self.keys, &self.foreign]
            .into_iter()
            .filter(|defs| !defs.is_empty())
            .map(|defs| {
                let mut s = b"ALTER TABLE ".to_vec();
                s.extend_from_slice(&self.table);
                for (i, d) in defs.iter().enumerate() {
                    s.extend_from_slice(if i == 0 { b" ADD " } else { b", ADD " });
                    s.extend_from_slice(d);
                }
                s
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREATE: &str = "CREATE TABLE `sorties` (\n  `id` bigint(20) unsigned NOT NULL AUTO_INCREMENT,\n  `product_id` bigint(20) unsigned NOT NULL,\n  `note` varchar(20) DEFAULT 'a,b\\n',\n  PRIMARY KEY (`id`),\n  UNIQUE KEY `u` (`note`),\n  KEY `sorties_product_id_foreign` (`product_id`),\n  KEY `sorties_note_index` (`note`(10)) COMMENT 'x, y',\n  FULLTEXT KEY `ft` (`note`),\n  CONSTRAINT `c` CHECK (`product_id` > 0),\n  CONSTRAINT `sorties_product_id_foreign` FOREIGN KEY (`product_id`) REFERENCES `products` (`id`) ON DELETE CASCADE\n) ENGINE=InnoDB AUTO_INCREMENT=5 DEFAULT CHARSET=utf8mb4";

    #[test]
    fn plain_and_foreign_keys_move_after_the_rows_in_their_order() {
        let (create, d) = split(CREATE.as_bytes()).unwrap();
        assert_eq!(
            String::from_utf8(create).unwrap(),
            "CREATE TABLE `sorties` (\n  `id` bigint(20) unsigned NOT NULL AUTO_INCREMENT,\n  `product_id` bigint(20) unsigned NOT NULL,\n  `note` varchar(20) DEFAULT 'a,b\\n',\n  PRIMARY KEY (`id`),\n  UNIQUE KEY `u` (`note`),\n  FULLTEXT KEY `ft` (`note`),\n  CONSTRAINT `c` CHECK (`product_id` > 0)\n) ENGINE=InnoDB AUTO_INCREMENT=5 DEFAULT CHARSET=utf8mb4"
        );
        let s: Vec<String> = d
            .statements()
            .into_iter()
            .map(|s| String::from_utf8(s).unwrap())
            .collect();
        assert_eq!(
            s,
            [
                "ALTER TABLE `sorties` ADD KEY `sorties_product_id_foreign` (`product_id`), ADD KEY `sorties_note_index` (`note`(10)) COMMENT 'x, y'",
                "ALTER TABLE `sorties` ADD CONSTRAINT `sorties_product_id_foreign` FOREIGN KEY (`product_id`) REFERENCES `products` (`id`) ON DELETE CASCADE",
            ]
        );
    }

    #[test]
    fn only_tables_laid_out_as_show_create_table_writes_them() {
        for create in [
            // No primary key: InnoDB would pick a clustered index of its own.
            "CREATE TABLE `t` (\n  `a` int,\n  KEY `k` (`a`)\n) ENGINE=InnoDB",
            // The AUTO_INCREMENT column's only leading key.
            "CREATE TABLE `t` (\n  `a` int NOT NULL,\n  `id` int NOT NULL AUTO_INCREMENT,\n  PRIMARY KEY (`a`,`id`),\n  KEY `k` (`id`)\n) ENGINE=InnoDB",
            // Nothing to move.
            "CREATE TABLE `t` (\n  `a` int,\n  PRIMARY KEY (`a`)\n) ENGINE=InnoDB",
            // Not one definition per line.
            "CREATE TABLE `t` (`a` int, PRIMARY KEY (`a`), KEY `k` (`a`)) ENGINE=InnoDB",
            "CREATE TABLE IF NOT EXISTS `t` (\n  `a` int,\n  PRIMARY KEY (`a`),\n  KEY `k` (`a`)\n)",
            // More than a name where the table's name goes.
            "CREATE TABLE `t` (`x` int), RENAME TO `o`.`t` (\n  `a` int,\n  PRIMARY KEY (`a`),\n  KEY `k` (`a`)\n)",
            "CREATE TABLE `t` `u` (\n  `a` int,\n  PRIMARY KEY (`a`),\n  KEY `k` (`a`)\n)",
            "CREATE TABLE `t` (\n  `a` int,\n  PRIMARY KEY (`a`),\nKEY `k` (`a`)\n)",
            "CREATE TABLE `t` (\n  `a` int\n  PRIMARY KEY (`a`),\n  KEY `k` (`a`)\n)",
        ] {
            assert_eq!(split(create.as_bytes()), None, "{create}");
        }
    }

    /// A hostile file's CREATE TABLE whose key lines would be more than keys in an ALTER: the
    /// table is created as written (the server judges it whole), nothing is split off.
    #[test]
    fn a_key_line_that_would_add_clauses_keeps_its_table_whole() {
        for line in [
            "  KEY `k` (`a`), RENAME TO `other`.`t`",
            "  KEY `k` (`a`); DROP DATABASE `other`",
            "  KEY `k` (`a`) /*!50000 , RENAME TO `other`.`t` */",
            "  KEY `k` (`a`) COMMENT 'x\\', RENAME TO `other`.`t` -- '",
            "  KEY `k` (\"a\"), RENAME TO other.t",
            "  KEY `k` (`a`)) , RENAME TO `other`.`t` ,((`a`",
            "  KEY `k` (`a`) # , RENAME TO x",
            "  CONSTRAINT `c` FOREIGN KEY (`a`) REFERENCES `p` (`id`), RENAME TO `other`.`t`",
        ] {
            let create = format!(
                "CREATE TABLE `t` (\n  `a` int NOT NULL,\n  PRIMARY KEY (`a`),\n{line}\n) ENGINE=InnoDB"
            );
            assert_eq!(split(create.as_bytes()), None, "{line}");
        }
        // Lines inside a string or comment that spans lines are not definitions.
        for body in [
            "  `a` int NOT NULL COMMENT 'x,\n  CONSTRAINT `c` FOREIGN KEY (`a`) REFERENCES `other`.`p` (`id`),\n  y'",
            "  `a` int NOT NULL COMMENT 'x\\',\n  KEY `k` (`a`),\n  y'",
            "  `a` int NOT NULL /* x,\n  KEY `k` (`a`),\n  */",
            "  `a` int NOT NULL COMMENT \"x,\n  KEY `k` (`a`),\n  y\"",
        ] {
            let create = format!(
                "CREATE TABLE `t` (\n{body},\n  PRIMARY KEY (`a`)\n) ENGINE=InnoDB"
            );
            assert_eq!(split(create.as_bytes()), None, "{body}");
        }
        // Commas and quotes inside strings and names are nothing more.
        let create = "CREATE TABLE `t` (\n  `a` int NOT NULL,\n  PRIMARY KEY (`a`),\n  KEY `k,``x` (`a`) COMMENT 'it''s, a key' /*!80000 INVISIBLE */\n) ENGINE=InnoDB";
        let (_, d) = split(create.as_bytes()).unwrap();
        assert_eq!(
            String::from_utf8(d.statements().remove(0)).unwrap(),
            "ALTER TABLE `t` ADD KEY `k,``x` (`a`) COMMENT 'it''s, a key' /*!80000 INVISIBLE */"
        );
    }

    #[test]
    fn the_rows_of_the_table_and_nothing_else_keep_the_keys_waiting() {
        let (_, d) = split(CREATE.as_bytes()).unwrap();
        for stmt in [
            "INSERT INTO `sorties` VALUES (1,2,'x')",
            "LOCK TABLES `sorties` WRITE",
            "/*!40000 ALTER TABLE `sorties` DISABLE KEYS */",
            "/*!40000 ALTER TABLE `sorties` ENABLE KEYS */",
            "UNLOCK TABLES",
            "/*!40101 SET character_set_client = @saved_cs_client */",
            "SET @saved_cs_client = @@character_set_client",
        ] {
            assert!(d.covers(stmt.as_bytes()), "{stmt}");
        }
        for stmt in [
            "INSERT INTO `sorties2` VALUES (1)",
            "LOCK TABLES `other` WRITE",
            "CREATE TABLE `x` (\n  `a` int\n)",
            "DROP TABLE IF EXISTS `sorties`",
            "/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`%`*/ /*!50003 TRIGGER t AFTER INSERT ON `sorties` FOR EACH ROW SET @a = 1 */",
        ] {
            assert!(!d.covers(stmt.as_bytes()), "{stmt}");
        }
    }
}
