//! Exact on every type: each test fills a table with the awkward values of a type family, backs
//! it up with db-backup, loads the file into a fresh database with the server's own stock client
//! (`mariadb`, or MySQL 9.7's `mysql`) and into another with `db-backup restore`, and compares
//! every row of both (as exact text, see `exact_expr`) and CHECKSUM TABLE (the stored bytes)
//! with the source. Every test runs on MariaDB 10.11 and on MySQL 9.7 (`test_on_both!`); the
//! few about one server's own types run on that one.

mod common;

use common::mysql::*;

/// A fresh database holding what `sql` makes, round-tripped; returns the dump's text and copy.
fn check(server: &'static Server, sql: &str) -> (TestDb, String, TestDb) {
    let db = TestDb::on(server);
    db.sql(sql);
    let (dump, copy) = round_trips(&db);
    (db, dump, copy)
}

/// Backs `db` up, loads the file with the stock client into one fresh database and with
/// `db-backup restore` into another, and asserts both hold what `db` holds. Returns the dump's
/// text and the stock client's copy.
fn round_trips(db: &TestDb) -> (String, TestDb) {
    let (_app, file) = backup(db, Via::Tcp);
    let dump = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
    let copy = db.sibling();
    copy.load(&file);
    db.assert_same_as(&copy);
    let ours = db.sibling();
    let out = ours
        .app(Via::Tcp)
        .run(&["restore", file.to_str().unwrap(), "--yes"]);
    common::assert_success(&out);
    db.assert_same_as(&ours);
    (dump, copy)
}

/// `INSERT INTO table VALUES (row), (row), …`
fn insert(table: &str, rows: &[String]) -> String {
    format!("INSERT INTO {table} VALUES\n({});\n", rows.join("),\n("))
}

test_on_both!(integers_at_their_limits);
fn integers_at_their_limits(server: &'static Server) {
    let (_db, _dump, copy) = check(
        server,
        "CREATE TABLE ints (id INT PRIMARY KEY,
           t TINYINT, tu TINYINT UNSIGNED, s SMALLINT, su SMALLINT UNSIGNED,
           m MEDIUMINT, mu MEDIUMINT UNSIGNED, i INT, iu INT UNSIGNED,
           b BIGINT, bu BIGINT UNSIGNED, z INT(6) UNSIGNED ZEROFILL, flag BOOLEAN);
         INSERT INTO ints VALUES
           (1, -128, 0, -32768, 0, -8388608, 0, -2147483648, 0, -9223372036854775808, 0, 0, 0),
           (2, 127, 255, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295,
               9223372036854775807, 18446744073709551615, 4294967295, 1),
           (3, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, 42, 127),
           (4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
         -- A row whose AUTO_INCREMENT key is 0: restored only under NO_AUTO_VALUE_ON_ZERO.
         CREATE TABLE counters (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, v VARCHAR(10));
         SET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO';
         INSERT INTO counters VALUES (0, 'zero'), (1, 'one'), (5, 'five');",
    );
    assert_eq!(copy.sql("SELECT id FROM counters ORDER BY id"), "0\n1\n5\n");
}

test_on_both!(decimals_at_their_limits);
fn decimals_at_their_limits(server: &'static Server) {
    let max = format!("{}.{}", "9".repeat(35), "9".repeat(30));
    let tiny = format!("0.{}1", "0".repeat(29));
    let big = "9".repeat(65);
    check(
        server,
        &format!(
            "CREATE TABLE decs (id INT PRIMARY KEY, d DECIMAL(65,30), d0 DECIMAL(65,0),
           s DECIMAL(5,5), m DECIMAL(10,2), u DECIMAL(12,4) UNSIGNED);
         INSERT INTO decs VALUES
           (1, {max}, {big}, 0.99999, 12345678.90, 99999999.9999),
           (2, -{max}, -{big}, -0.99999, -12345678.90, 0),
           (3, {tiny}, 1, 0.00001, 0.01, 0.0001),
           (4, -{tiny}, -1, -0.00001, -0.01, 1),
           (5, 0, 0, 0, 0, 0),
           (6, NULL, NULL, NULL, NULL, NULL);"
        ),
    );
}

test_on_both!(floats_and_doubles_bit_exact);
/// FLOAT bit-exactness, researched on MariaDB 10.11: a FLOAT column *prints* with 6 significant
/// digits (`SELECT f` shows 16777200 for 16777216, 0.333333 for 0.3333333432674408), so a dump
/// of the text protocol's value is lossy — and mariadb-dump 10.11 does lose them. Any text that
/// designates the float exactly loads back bit-exact: its shortest repr (`0.1`, `1.1754944e-38`),
/// or the 17-digit repr of the float widened to double (`0.10000000149011612`, what
/// `CAST(f AS DOUBLE)` prints), with or without an exponent (checked over 20,000 random bit
/// patterns; the server parses the literal to the nearest double, then rounds to float, and
/// neither step moves a value that is already a float). The comparison reads FLOAT through
/// `CAST(f AS DOUBLE)` and also compares CHECKSUM TABLE, a hash of the stored bytes. DOUBLE
/// prints shortest-round-trip, so it is exact as printed. Row 9 holds -0.0: MariaDB stores it
/// as +0, MySQL keeps the sign (and prints `-0`).
fn floats_and_doubles_bit_exact(server: &'static Server) {
    let mut rows = vec![
        "1, 0.1, 0.1, 1.2346, 1234.567891".to_string(),
        "2, 1.17549435e-38, 2.2250738585072014e-308, -999.9999, -99999999999999.999999".into(),
        // FLT_MAX exactly (3.40282347e+38 is above it as a double: out of range when strict).
        "3, 3.4028234663852886e38, 1.7976931348623157e308, 0, 0".into(),
        "4, -3.4028234663852886e38, -1.7976931348623157e308, 0.0001, 0.000001".into(),
        "5, 16777217, 9007199254740993, 0.5, 0.5".into(), // both round to even on the way in
        "6, 1.4e-45, 4.9e-324, NULL, NULL".into(),        // the smallest subnormals
        "7, 0.333333343267440796e0, 0.30000000000000004, 1, 1".into(),
        "8, 123456.789, 1e23, 2, 2".into(),
        "9, -0e0, -0e0, 3, 3".into(),
        "10, 7.0e-39, -1.5e-300, 4, 4".into(),
        "11, NULL, NULL, NULL, NULL".into(),
    ];
    // Random bit patterns (deterministic), written as the exact double of the value.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut id = 100;
    while rows.len() < 400 {
        let bits = next();
        let f = f32::from_bits(bits as u32);
        let d = f64::from_bits(bits);
        if f.is_finite() && d.is_finite() {
            id += 1;
            rows.push(format!("{id}, {:e}, {d:e}, NULL, NULL", f as f64));
        }
    }
    let (db, _dump, _copy) = check(server, &format!(
        "CREATE TABLE floats (id INT PRIMARY KEY, f FLOAT, d DOUBLE, f74 FLOAT(7,4), d206 DOUBLE(20,6));
         {}",
        insert("floats", &rows)
    ));
    // The source really holds values that print alike as FLOAT (so the test means something).
    assert_eq!(
        db.sql("SELECT f, CAST(f AS DOUBLE) FROM floats WHERE id = 5"),
        "16777200\t16777216\n"
    );
}

test_on_both!(bits);
fn bits(server: &'static Server) {
    check(
        server,
        "CREATE TABLE bits (id INT PRIMARY KEY, b1 BIT(1), b7 BIT(7), b64 BIT(64),
           flag BIT(1) NOT NULL DEFAULT b'1');
         INSERT INTO bits (id, b1, b7, b64) VALUES
           (1, b'0', b'0000000', b'0'),
           (2, b'1', b'1111111', 0xFFFFFFFFFFFFFFFF),
           (3, b'1', b'1010101', 0x8000000000000001),
           (4, NULL, NULL, NULL),
           (5, 0, 0x2A, 0x00000000000000FF);
         INSERT INTO bits VALUES (6, 1, 1, 1, b'0');",
    );
}

/// The text values every string column gets: NUL, both quotes, backslash sequences, CR LF,
/// Ctrl-Z, 4-byte emoji, trailing spaces, client commands, every ASCII byte.
fn nasty_texts() -> Vec<Vec<u8>> {
    vec![
        b"NUL\0byte".to_vec(),
        b"quotes ' and \" and ` and ''".to_vec(),
        b"back\\slash \\n \\0 \\' \\Z %_ \\".to_vec(),
        b"crlf\r\nlf\ncr\r".to_vec(),
        b"ctrl-z \x1a end".to_vec(),
        "emoji 💊📦 é ü 中文 \u{FEFF}bom".as_bytes().to_vec(),
        b"trailing spaces   ".to_vec(),
        b"".to_vec(),
        b"semicolon; -- comment\n/* c */ DELIMITER ;; \\G \\q\n;".to_vec(),
        b"tab\there".to_vec(),
        (1u8..=127).collect(),
    ]
}

test_on_both!(strings_with_every_awkward_character);
fn strings_with_every_awkward_character(server: &'static Server) {
    let mut rows = Vec::new();
    for (i, s) in nasty_texts().iter().enumerate() {
        let v = text(s, "utf8mb4");
        rows.push(format!("{i}, {v}, {v}, {v}, {v}, {v}, {v}"));
    }
    rows.push("100, NULL, NULL, NULL, NULL, NULL, NULL".into());
    // Other character sets: every latin1 byte, BMP text in utf8mb3, utf16 with an emoji.
    let latin1: Vec<u8> = (0u8..=255).collect();
    check(
        server,
        &format!(
            "CREATE TABLE strings (id INT PRIMARY KEY, c CHAR(200), v VARCHAR(300), tt TINYTEXT,
           t TEXT, mt MEDIUMTEXT, lt LONGTEXT) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
         {}
         CREATE TABLE charsets (id INT PRIMARY KEY, l1 VARCHAR(300) CHARACTER SET latin1,
           l1t TEXT CHARACTER SET latin1, u3 VARCHAR(100) CHARACTER SET utf8mb3,
           u16 VARCHAR(100) CHARACTER SET utf16, a VARCHAR(200) CHARACTER SET ascii,
           bin_coll VARCHAR(100) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin);
         INSERT INTO charsets VALUES
           (1, {l}, {l}, {u3}, {u16}, {a}, {b}),
           (2, '', '', '', '', '', ''),
           (3, NULL, NULL, NULL, NULL, NULL, NULL);",
            insert("strings", &rows),
            l = text(&latin1, "latin1"),
            u3 = text("é ü 中文 Ω".as_bytes(), "utf8mb4"),
            u16 = text("utf16 💊 é".as_bytes(), "utf8mb4"),
            a = text(&(0u8..=127).collect::<Vec<u8>>(), "ascii"),
            b = text("Case Sensitive É é".as_bytes(), "utf8mb4"),
        ),
    );
}

test_on_both!(binaries_with_every_byte);
fn binaries_with_every_byte(server: &'static Server) {
    let all: Vec<u8> = (0u8..=255).collect();
    let rev: Vec<u8> = (0u8..=255).rev().collect();
    let mut x: u32 = 12345;
    let noise: Vec<u8> = (0..65535)
        .map(|_| {
            x = x.wrapping_mul(1103515245).wrapping_add(12345);
            (x >> 16) as u8
        })
        .collect();
    let lit = |b: &[u8]| {
        if b.is_empty() {
            "''".to_string()
        } else {
            format!("0x{}", hex(b))
        }
    };
    let row = |id: u32, b16: &[u8], v: &[u8]| {
        let tiny = &v[..v.len().min(255)];
        format!(
            "{id}, {}, {}, {}, {}, {}, {}",
            lit(b16),
            lit(&v[..v.len().min(300)]),
            lit(tiny),
            lit(v),
            lit(v),
            lit(v)
        )
    };
    let nasty = [0x27, 0x5C, 0x22, 0x00, 0x0D, 0x0A, 0x1A, 0x3B, 0x60, 0x25];
    let bad_utf8 = [
        0xC3, 0x28, 0xF0, 0x9F, 0xFF, 0xFE, 0xC0, 0x80, 0xED, 0xA0, 0x80,
    ];
    let mut a41 = vec![0x41];
    a41.extend([0u8; 15]);
    let rows = vec![
        row(1, &all[..16], &all),
        row(2, b"", b""), // BINARY(16) pads '' to 16 zero bytes; the others stay empty
        "3, NULL, NULL, NULL, NULL, NULL, NULL".to_string(),
        row(4, &a41, &nasty),
        row(5, &rev[..16], &rev),
        row(6, &bad_utf8[..], &bad_utf8),
        row(7, &noise[..16], &noise),
    ];
    check(
        server,
        &format!(
            "CREATE TABLE bins (id INT PRIMARY KEY, b16 BINARY(16), vb VARBINARY(300), tb TINYBLOB,
           bl BLOB, mb MEDIUMBLOB, lb LONGBLOB);
         {}",
            insert("bins", &rows)
        ),
    );
}

test_on_both!(temporal_types_with_fractions_negative_times_and_zero_dates);
fn temporal_types_with_fractions_negative_times_and_zero_dates(server: &'static Server) {
    check(
        server,
        "SET SESSION sql_mode = ''; SET SESSION time_zone = '+00:00';
         CREATE TABLE temporal (id INT PRIMARY KEY, d DATE, dt DATETIME, dt3 DATETIME(3),
           dt6 DATETIME(6), t TIME, t6 TIME(6), ts TIMESTAMP NULL DEFAULT NULL,
           ts6 TIMESTAMP(6) NULL DEFAULT NULL, y YEAR,
           upd TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6));
         INSERT INTO temporal VALUES
           (1, '1000-01-01', '1000-01-01 00:00:00', '1000-01-01 00:00:00.001',
               '1000-01-01 00:00:00.000001', '-838:59:59', '-838:59:59.000000',
               '1970-01-01 00:00:01', '1970-01-01 00:00:01.000001', 1901, '2001-02-03 04:05:06.000007'),
           (2, '9999-12-31', '9999-12-31 23:59:59', '9999-12-31 23:59:59.999',
               '9999-12-31 23:59:59.999999', '838:59:59', '838:59:59.999999',
               '2038-01-19 03:14:07', '2038-01-19 03:14:07.999999', 2155, '2038-01-19 03:14:07.999999'),
           (3, '0000-00-00', '0000-00-00 00:00:00', '0000-00-00 00:00:00.000',
               '0000-00-00 00:00:00.000000', '00:00:00', '-00:00:00.000001',
               '0000-00-00 00:00:00', '0000-00-00 00:00:00.000000', 0, '0000-00-00 00:00:00'),
           (4, '2026-00-15', '2026-11-00 10:00:00', '2026-00-00 00:00:00.5',
               '2026-02-00 23:59:59.999999', '100:00:00', '-12:34:56.789',
               '2026-03-29 01:30:00', '2026-10-25 01:30:00.5', 2000, '2026-10-25 00:30:00.25'),
           (5, '0001-01-01', '0001-01-01 00:00:00', '2026-03-29 02:30:00.123',
               '2026-10-25 02:30:00.000001', '-00:00:01', '24:00:00.5',
               NULL, NULL, 1970, '1970-01-01 00:00:01'),
           (6, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '1999-12-31 23:59:59.999999');",
    );
}

test_on_both!(timestamps_keep_their_instant_across_time_zones);
/// The source server runs in Europe/Paris (`Server::odd`): the night summer time ends, 00:30 UTC
/// and 01:30 UTC both print as 02:30 there. The dump must be read and written in UTC (the
/// header's TIME_ZONE='+00:00'), and the copy is loaded by a client whose session is at -08:00:
/// every TIMESTAMP must still be the same instant, every DATETIME the same wall-clock text.
fn timestamps_keep_their_instant_across_time_zones(server: &'static Server) {
    let db = TestDb::on(server.odd());
    db.sql(
        "SET time_zone = '+00:00';
         CREATE TABLE instants (id INT PRIMARY KEY, ts TIMESTAMP(6) NULL DEFAULT NULL,
           dt DATETIME(6) NULL, label VARCHAR(40)) DEFAULT CHARSET=utf8mb4;
         INSERT INTO instants VALUES
           (1, '2026-10-25 00:30:00.123456', '2026-10-25 02:30:00.123456', 'CEST 02:30'),
           (2, '2026-10-25 01:30:00.654321', '2026-10-25 02:30:00.654321', 'CET 02:30'),
           (3, '2026-03-29 00:59:59.999999', '2026-03-29 02:30:00', 'before the gap'),
           (4, '2026-03-29 01:00:00', NULL, 'after the gap'),
           (5, '1970-01-01 00:00:01', NULL, 'min'),
           (6, '2038-01-19 03:14:07.999999', NULL, 'max'),
           (7, NULL, NULL, 'none');",
    );
    let instants =
        |d: &TestDb| d.admin_sql("SELECT id, UNIX_TIMESTAMP(ts), dt FROM instants ORDER BY id");
    let src = instants(&db);
    let first: Vec<&str> = src
        .lines()
        .take(2)
        .map(|l| l.split('\t').nth(1).unwrap())
        .collect();
    assert_ne!(
        first[0], first[1],
        "the two 02:30 instants must differ in the source"
    );

    let (_app, file) = backup(&db, Via::Tcp);
    let copy = TestDb::on(server);
    copy.load_with(&file, &["--init-command=SET time_zone = '-08:00'"]);
    db.assert_same_as(&copy);
    assert_eq!(instants(&copy), src);
    // And back into a server whose own zone is Europe/Paris.
    let back = TestDb::on(server.odd());
    back.load(&file);
    db.assert_same_as(&back);
    assert_eq!(instants(&back), src);
}

test_on_both!(year_enum_and_set);
/// No 4-byte characters in the ENUM/SET *definitions*: MariaDB keeps column metadata in
/// utf8mb3, so SHOW CREATE TABLE and information_schema show such a member as '?', and no dump
/// can bring it back (mariadb-dump loses it too). 4-byte characters in the values are fine.
fn year_enum_and_set(server: &'static Server) {
    check(
        server,
        "SET SESSION sql_mode = '';
         CREATE TABLE choices (id INT PRIMARY KEY, y YEAR,
           e ENUM('a', 'b''quote', 'c\\\\back', 'é', 'Ω中', ' spaced ', 'DEFAULT'),
           s SET('read', 'write', 'exécuter', 'ключ'),
           e2 ENUM('x', 'y') NOT NULL DEFAULT 'y',
           note VARCHAR(20)) DEFAULT CHARSET=utf8mb4;
         INSERT INTO choices (id, y, e, s, note) VALUES
           (1, 1901, 'a', 'read,write', '💊'),
           (2, 2155, 'b''quote', '', NULL),
           (3, 0, 'not a member', 'exécuter,ключ', NULL),
           (4, NULL, NULL, NULL, NULL),
           (5, 2000, 'c\\\\back', 'read,write,exécuter,ключ', NULL),
           (6, 69, 'Ω中', 'write', NULL),
           (7, '0', ' spaced ', NULL, NULL),
           (8, 1999, 'DEFAULT', 'read', NULL);
         INSERT INTO choices VALUES (9, 70, 'é', 'write,read', 'x', NULL);",
    );
}

test_on_both!(json_columns);
fn json_columns(server: &'static Server) {
    let docs = [
        r#"{"name": "Paracétamol 💊", "quote": "it's \"quoted\"", "bs": "C:\\temp\\new", "nul": "\u0000", "n": 1.0e2, "arr": [1, 2.50, null, true],   "spaces" :  1 }"#,
        "[]",
        "null",
        r#""\u00e9 é""#,
        "{}",
        "[[[[[[[[[[1]]]]]]]]]]",
        "12345678901234567890123456789.000",
        "{\"multi\":\n  \"line\"\r\n}",
    ];
    let mut rows: Vec<String> = docs
        .iter()
        .enumerate()
        .map(|(i, d)| {
            format!(
                "{i}, {}, {}",
                text(d.as_bytes(), "utf8mb4"),
                text(d.as_bytes(), "utf8mb4")
            )
        })
        .collect();
    rows.push("100, NULL, '{}'".into());
    // MySQL takes no literal default on a JSON column, only an expression.
    check(
        server,
        &format!(
            "CREATE TABLE docs (id INT PRIMARY KEY, j JSON, meta JSON NOT NULL DEFAULT ('{{}}'));
         {}",
            insert("docs", &rows)
        ),
    );
}

test_on_both!(geometries);
fn geometries(server: &'static Server) {
    check(
        server,
        "CREATE TABLE places (id INT PRIMARY KEY, loc POINT NOT NULL, g GEOMETRY NULL,
           poly POLYGON NULL, ls LINESTRING NULL, mp MULTIPOINT NULL, gc GEOMETRYCOLLECTION NULL,
           SPATIAL INDEX (loc)) ENGINE=InnoDB;
         INSERT INTO places VALUES
           (1, POINT(1.5, -2.25),
               ST_GeomFromText('POLYGON((0 0,10 0,10 10,0 10,0 0),(2 2,3 2,3 3,2 2))', 4326),
               ST_GeomFromText('POLYGON((0 0,1 0,1 1,0 0))'),
               ST_GeomFromText('LINESTRING(0 0,1e-300 1.7976931348623157e308)'),
               ST_GeomFromText('MULTIPOINT(1 1,2 2)'),
               ST_GeomFromText('GEOMETRYCOLLECTION(POINT(1 2),LINESTRING(0 0,1 1))')),
           (2, POINT(0.1, 0.30000000000000004), ST_GeomFromText('POINT(-0.1 1e-320)', 3857),
               NULL, NULL, NULL, NULL),
           (3, POINT(0, 0), NULL, NULL, NULL, NULL, NULL);",
    );
}

test_on_both!(generated_columns_are_recomputed_not_inserted);
fn generated_columns_are_recomputed_not_inserted(server: &'static Server) {
    // MariaDB's own word for STORED, which MySQL does not know.
    let persistent = match server.flavor {
        Flavor::MariaDb => "PERSISTENT",
        Flavor::MySql => "STORED",
    };
    let (_db, dump, _copy) = check(
        server,
        &format!(
            "CREATE TABLE gen (id INT PRIMARY KEY, price DECIMAL(10,2) NOT NULL, qty INT NOT NULL,
           total DECIMAL(12,2) AS (price * qty) STORED,
           label VARCHAR(60) AS (CONCAT('gen-marker-v:', id)) VIRTUAL,
           label_s VARCHAR(60) AS (CONCAT('gen-marker-s:', id)) {persistent},
           INDEX (total), INDEX (label));
         INSERT INTO gen (id, price, qty) VALUES (1, 9.99, 3), (2, 0.5, 1000), (3, 0, 0);"
        ),
    );
    let inserts = statements(&dump, "INSERT INTO `gen`");
    assert!(!inserts.is_empty(), "no INSERT for `gen` in the dump");
    for s in inserts {
        assert!(
            !s.contains("gen-marker") && !s.contains("29.97"),
            "generated values written into an INSERT: {s}"
        );
    }
}

test_on_both!(invisible_columns_keep_their_values);
fn invisible_columns_keep_their_values(server: &'static Server) {
    // SELECT * and INSERT without a column list both skip INVISIBLE columns.
    check(
        server,
        "CREATE TABLE hidden (id INT PRIMARY KEY, name VARCHAR(20),
           secret VARCHAR(20) INVISIBLE, n INT INVISIBLE NOT NULL DEFAULT 7);
         INSERT INTO hidden (id, name, secret, n) VALUES (1, 'a', 'kept', 1), (2, 'b', NULL, 9), (3, 'c', 'x', 0);",
    );
}

test_on_both!(odd_identifiers);
fn odd_identifiers(server: &'static Server) {
    check(
        server,
        "CREATE TABLE `ré``ception stock` (`id` INT PRIMARY KEY, `quantité reçue` INT,
           `select` VARCHAR(10), `a``b` INT, `col.with.dots` INT, `中文` VARCHAR(10), `\"dq\"` INT,
           `trailing$` INT, KEY `index ``odd`` name` (`quantité reçue`));
         CREATE TABLE `t.dot` (`order` INT PRIMARY KEY, `from` INT,
           CONSTRAINT `fk ``odd``` FOREIGN KEY (`from`) REFERENCES `ré``ception stock` (`id`));
         CREATE TABLE `Mixed Case` (`ID` INT PRIMARY KEY);
         CREATE TABLE `123` (`1` INT PRIMARY KEY);
         INSERT INTO `ré``ception stock` VALUES (1, 10, 'from', 2, 3, '中文', 4, 5), (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
         INSERT INTO `t.dot` VALUES (1, 1), (2, 2);
         INSERT INTO `Mixed Case` VALUES (1);
         INSERT INTO `123` VALUES (123);
         CREATE VIEW `vue ``spéciale``` AS SELECT `id`, `a``b` AS `a b`, `select` FROM `ré``ception stock`;
         CREATE TRIGGER `trig ``odd`` name` BEFORE INSERT ON `t.dot` FOR EACH ROW SET NEW.`from` = NEW.`from`;
         CREATE PROCEDURE `proc ``odd`` ()`() SELECT 1 AS `x`;
         CREATE FUNCTION `func ``odd``` (`a b` INT) RETURNS INT DETERMINISTIC RETURN `a b` * 2;",
    );
}

test_on_both!(empty_tables);
fn empty_tables(server: &'static Server) {
    check(
        server,
        "CREATE TABLE empty_plain (id INT PRIMARY KEY);
         CREATE TABLE empty_ai (id INT AUTO_INCREMENT PRIMARY KEY, v TEXT) AUTO_INCREMENT=1000;
         CREATE TABLE empty_no_key (b LONGBLOB);
         CREATE TABLE emptied (id INT AUTO_INCREMENT PRIMARY KEY);
         INSERT INTO emptied VALUES (), (), ();
         DELETE FROM emptied;",
    );
}

test_on_both!(big_tables_are_split_into_inserts_of_about_1_mib);
fn big_tables_are_split_into_inserts_of_about_1_mib(server: &'static Server) {
    let (_db, dump, _copy) = check(
        server,
        &format!(
            "CREATE TABLE big (id INT PRIMARY KEY, payload VARCHAR(200) NOT NULL);
             INSERT INTO big SELECT seq, REPEAT(CHAR(65 + seq % 26), 100 + seq % 100) FROM {};
             -- One row bigger than the cap, full of bytes that need escaping.
             CREATE TABLE huge_row (id INT PRIMARY KEY, b LONGBLOB);
             INSERT INTO huge_row VALUES (1, REPEAT(0x00FF5C270D0A1A22, 1 << 19)), (2, 'small');",
            numbers(25_000)
        ),
    );
    let inserts = statements(&dump, "INSERT INTO `big`");
    let longest = inserts.iter().map(|s| s.len()).max().unwrap_or(0);
    assert!(
        inserts.len() >= 3,
        "~3.7 MB of rows in {} INSERT statement(s)",
        inserts.len()
    );
    assert!(
        longest <= 1_310_720,
        "an INSERT of {longest} bytes: multi-row INSERTs are capped near 1 MiB"
    );
}

test_on_both!(server_with_no_backslash_escapes_and_ansi_quotes);
/// The source server's global sql_mode has NO_BACKSLASH_ESCAPES and ANSI_QUOTES (`Server::odd`),
/// so every session that does not set its own sees `\` as an ordinary character and `"` as an
/// identifier quote; the objects below were created that way and must come back identical —
/// defaults, view text, and the sql_mode a trigger and a function run under — in a normal
/// server and in an equally odd one.
fn server_with_no_backslash_escapes_and_ansi_quotes(server: &'static Server) {
    let db = TestDb::on(server.odd());
    db.sql(
        r#"CREATE TABLE paths (id INT PRIMARY KEY, p VARCHAR(100) DEFAULT 'C:\temp\new',
             q VARCHAR(100) NOT NULL DEFAULT 'it''s') DEFAULT CHARSET=utf8mb4;
           INSERT INTO paths (id, p, q) VALUES (1, 'C:\Users\n\0', 'a'), (2, 'back\\double', 'b'),
             (3, 'tab\t', 'c'), (4, 'quote''s', 'd');
           INSERT INTO paths (id) VALUES (5);
           CREATE TABLE "ansi ""quoted"" table" ("id" INT PRIMARY KEY, "a b" VARCHAR(20) DEFAULT 'x\y')
             DEFAULT CHARSET=utf8mb4;
           INSERT INTO "ansi ""quoted"" table" VALUES (1, 'z\z'), (2, DEFAULT);
           CREATE VIEW "path view" AS SELECT id, CONCAT(p, '\x') AS px FROM paths;
           CREATE TRIGGER paths_bi BEFORE INSERT ON paths FOR EACH ROW SET NEW.q = CONCAT(NEW.q, '\t');
           CREATE FUNCTION bs() RETURNS VARCHAR(10) CHARSET utf8mb4 DETERMINISTIC RETURN 'a\b';"#,
    );
    let (_app, file) = backup(&db, Via::Tcp);
    let behaviour = |d: &TestDb| {
        d.admin_sql("INSERT INTO paths (id) VALUES (10); SELECT HEX(p), HEX(q), HEX(bs()) FROM paths WHERE id = 10; DELETE FROM paths WHERE id = 10;")
    };
    for copy in [TestDb::on(server), TestDb::on(server.odd())] {
        copy.load(&file);
        db.assert_same_as(&copy);
        assert_eq!(behaviour(&copy), behaviour(&db));
    }
}

/// MariaDB's own column types.
#[test]
fn mariadb_only_types() {
    check(
        mariadb(),
        "CREATE TABLE net (id INT PRIMARY KEY, u UUID, i6 INET6, i4 INET4);
         INSERT INTO net VALUES
           (1, '123e4567-e89b-12d3-a456-426655440000', '2001:db8::ff00:42:8329', '192.0.2.1'),
           (2, '00000000-0000-0000-0000-000000000000', '::', '0.0.0.0'),
           (3, 'ffffffff-ffff-ffff-ffff-ffffffffffff', '::ffff:192.0.2.128', '255.255.255.255'),
           (4, NULL, NULL, NULL);",
    );
}

/// MySQL's own: the utf8mb4_0900 collations (its default since 8.0) beside utf8mb4_bin, with
/// values that those collations call equal; a POINT column restricted to SRID 4326 (latitude
/// first) with its spatial index; native JSON with emoji, big and negative-zero numbers.
#[test]
fn mysql_only_types() {
    check(
        mysql(),
        r#"CREATE TABLE native (id INT PRIMARY KEY,
             ai VARCHAR(100) COLLATE utf8mb4_0900_ai_ci, cs VARCHAR(100) COLLATE utf8mb4_0900_as_cs,
             bin VARCHAR(100) COLLATE utf8mb4_bin, pt POINT NOT NULL SRID 4326, doc JSON,
             UNIQUE KEY (bin), SPATIAL INDEX (pt)) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci;
           INSERT INTO native VALUES
             (1, 'Straße', 'Straße', 'Straße', ST_GeomFromText('POINT(48.8566 2.3522)', 4326),
                 '{"emoji": "💊📦", "key 🔑": [1, "é", null], "big": 18446744073709551615,
                   "neg": -9223372036854775808, "f": 0.1, "z": -0.0, "e": 1e308}'),
             (2, 'strasse', 'strasse', 'strasse', ST_SRID(POINT(151.2093, -33.8688), 4326),
                 JSON_OBJECT('nested', JSON_ARRAY(JSON_OBJECT(), JSON_ARRAY()), 'text', 'a\'b"c\\d')),
             (3, 'É', 'É', 'É', ST_GeomFromText('POINT(-90 -180)', 4326), '"just a string 😀"'),
             (4, 'e', 'e', 'e', ST_GeomFromText('POINT(90 180)', 4326), NULL);"#,
    );
}

/// A table made while `sql_generate_invisible_primary_key` is ON (MySQL ≥ 8.0.30) gets a hidden
/// `my_row_id BIGINT UNSIGNED AUTO_INCREMENT INVISIBLE` primary key: its values (with the gap
/// a DELETE leaves) must come back, and the copy must go on numbering after them.
#[test]
fn mysql_generated_invisible_primary_key() {
    let db = TestDb::on(mysql());
    // Setting it needs SESSION_VARIABLES_ADMIN: an admin's (or the server's global) setting.
    db.admin_sql(
        "SET SESSION sql_generate_invisible_primary_key = ON;
         CREATE TABLE gipk (name VARCHAR(20), qty INT);
         INSERT INTO gipk VALUES ('a', 1), ('b', 2), ('c', 3);
         DELETE FROM gipk WHERE name = 'b';
         INSERT INTO gipk VALUES ('d', 4);",
    );
    let keys = |d: &TestDb| d.admin_sql("SELECT my_row_id, name FROM gipk ORDER BY my_row_id");
    assert_eq!(
        keys(&db),
        "1\ta\n3\tc\n4\td\n",
        "the hidden key, with its gap"
    );
    let (_dump, copy) = round_trips(&db);
    assert_eq!(keys(&copy), keys(&db));
    copy.admin_sql("INSERT INTO gipk VALUES ('e', 5)");
    assert_eq!(
        copy.admin_sql("SELECT my_row_id FROM gipk WHERE name = 'e'"),
        "5\n"
    );
}

test_on_both!(default_expressions_are_ordinary_values);
/// Columns whose default is CURRENT_TIMESTAMP or an expression hold ordinary stored values, to
/// be dumped like any other: the defaults were computed when the rows were written, a reload
/// must not compute them again. (Since MySQL 8.0.13, information_schema.COLUMNS.EXTRA says
/// `DEFAULT_GENERATED` for such columns, `DEFAULT_GENERATED on update CURRENT_TIMESTAMP(6)`
/// with ON UPDATE; it is not `VIRTUAL GENERATED` or `STORED GENERATED`.)
fn default_expressions_are_ordinary_values(server: &'static Server) {
    let (db, dump, _copy) = check(
        server,
        "SET SESSION time_zone = '+00:00';
         CREATE TABLE stamped (id INT PRIMARY KEY,
           created TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
           updated DATETIME(6) NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
           uid CHAR(36) NOT NULL DEFAULT (UUID()),
           tags JSON NOT NULL DEFAULT (JSON_ARRAY()),
           day DATE NOT NULL DEFAULT (CURRENT_DATE),
           n INT NOT NULL DEFAULT (6 * 7),
           note VARCHAR(20) NULL) DEFAULT CHARSET=utf8mb4;
         INSERT INTO stamped VALUES
           (1, '2001-02-03 04:05:06', '1999-12-31 23:59:59.999999', 'not-a-uuid-1',
               JSON_ARRAY('💊', 1), '2000-01-01', 1, 'explicit'),
           (2, '2002-02-02 02:02:02', NULL, 'not-a-uuid-2', JSON_OBJECT(), '2000-01-02', 2, NULL);
         INSERT INTO stamped (id, note) VALUES (3, 'defaults'), (4, 'to update');
         UPDATE stamped SET note = 'updated', updated = '2010-10-10 10:10:10.101010' WHERE id = 4;
         UPDATE stamped SET note = 'on update' WHERE id = 2;",
    );
    // The source really holds what the test means: computed defaults and an ON UPDATE stamp.
    let row3 = db.sql("SELECT uid, CAST(tags AS CHAR), n FROM stamped WHERE id = 3");
    assert!(
        regex::Regex::new(
            r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\t\[\]\t42\n$"
        )
        .unwrap()
        .is_match(&row3),
        "{row3}"
    );
    assert_eq!(
        db.sql("SELECT updated IS NOT NULL FROM stamped WHERE id = 2"),
        "1\n"
    );
    let inserts = statements(&dump, "INSERT INTO `stamped`");
    assert!(!inserts.is_empty(), "no INSERT for `stamped` in the dump");
}

test_on_both!(every_insert_names_every_stored_column_in_order);
/// The columns a dump writes, read back from the file: for every table, each INSERT names
/// exactly the columns the server stores values for — every column but the generated ones, as
/// the stock client reads them from information_schema — in the table's order. A column kind
/// left out by mistake (a DEFAULT_GENERATED one, an INVISIBLE one) fails here by name even
/// where its values would happen to come back equal. Also: a table of generated columns only
/// still has rows, written as `()`.
fn every_insert_names_every_stored_column_in_order(server: &'static Server) {
    let (db, dump, _copy) = check(
        server,
        "SET SESSION time_zone = '+00:00';
         CREATE TABLE every_kind (id INT PRIMARY KEY,
           created TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
           updated DATETIME(6) NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
           uid CHAR(36) NOT NULL DEFAULT (UUID()),
           tags JSON NOT NULL DEFAULT (JSON_ARRAY()),
           doubled INT AS (id * 2) VIRTUAL,
           tripled INT AS (id * 3) STORED,
           hidden VARCHAR(10) INVISIBLE,
           hidden_stamp TIMESTAMP NOT NULL INVISIBLE DEFAULT CURRENT_TIMESTAMP,
           hidden_generated INT AS (id + 1) VIRTUAL INVISIBLE,
           counter INT NOT NULL AUTO_INCREMENT UNIQUE,
           note TEXT) DEFAULT CHARSET=utf8mb4;
         INSERT INTO every_kind (id, hidden, note) VALUES (1, 'h', 'a'), (2, NULL, NULL);
         INSERT INTO every_kind (id, created, hidden_stamp) VALUES (3, '2001-01-01 00:00:00', '2002-02-02 00:00:00');
         CREATE TABLE only_generated (one INT AS (1) VIRTUAL, two INT AS (2) STORED);
         INSERT INTO only_generated () VALUES (), (), ();",
    );
    for table in ["every_kind", "only_generated"] {
        let stored: Vec<String> = db
            .admin_sql(&format!(
                "SELECT COLUMN_NAME FROM information_schema.COLUMNS
                   WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{table}'
                     AND COALESCE(GENERATION_EXPRESSION, '') = ''
                   ORDER BY ORDINAL_POSITION"
            ))
            .lines()
            .map(|c| format!("`{c}`"))
            .collect();
        let inserts = statements(&dump, &format!("INSERT INTO `{table}` ("));
        assert!(!inserts.is_empty(), "no INSERT for {table}");
        for insert in inserts {
            let list = insert
                .split_once(" (")
                .and_then(|(_, rest)| rest.split_once(") VALUES "))
                .map(|(list, _)| list)
                .unwrap_or_else(|| panic!("no column list: {insert}"));
            let written: Vec<&str> = list.split(',').filter(|c| !c.is_empty()).collect();
            assert_eq!(written, stored, "the columns of {table}'s INSERT");
        }
    }
    assert_eq!(db.sql("SELECT COUNT(*) FROM only_generated"), "3\n");
}
