//! Large values (issue 9, item 7): rows of 1, 12 and 40 MiB back up into files that the
//! server's own stock client and `db-backup restore` both load, on MariaDB 10.11 (whose
//! `max_allowed_packet` is 16 MiB by default) and MySQL 9.7 (64 MiB). A row that no statement
//! the server accepts can hold fails the backup with one line naming its table, and nothing is
//! published. Values are compared by length and SHA-256 (and CHECKSUM TABLE), not as hex text:
//! 40 MiB would be 80 MiB of client output.

mod common;

use std::path::Path;

use common::mysql::*;

const MIB: usize = 1 << 20;

/// Every byte value, the ones that need escaping included.
fn every_byte_hex() -> String {
    (0..=255u8).map(|b| format!("{b:02X}")).collect()
}

/// `docs` with a row per size: 1 KiB of random bytes (no two rows alike), then every byte value
/// over and over (raw 0x80-0xFF: not UTF-8), `size` bytes in all. Made by the server itself; a
/// value is at most the session's max_allowed_packet there (REPEAT gives NULL past it).
fn fill(db: &TestDb, sizes: &[usize]) {
    let mut sql = String::from(
        "CREATE TABLE docs (id INT PRIMARY KEY, name VARCHAR(50) NOT NULL, body LONGBLOB) ENGINE=InnoDB;
         CREATE TABLE notes (id INT PRIMARY KEY, body VARBINARY(300));\n",
    );
    for (i, size) in sizes.iter().enumerate() {
        let repeat = (size - 1024) / 256;
        let tail = (size - 1024) % 256;
        sql += &format!(
            "INSERT INTO docs VALUES ({id}, 'doc {id}', CONCAT(RANDOM_BYTES(1024), REPEAT(UNHEX('{all}'), {repeat}), LEFT(UNHEX('{all}'), {tail})));\n",
            id = i + 1,
            all = every_byte_hex(),
        );
    }
    // Small rows around them: batched INSERTs before and after a row that stands alone.
    sql += &format!(
        "INSERT INTO docs SELECT 1000 + seq, CONCAT('small ', seq), RANDOM_BYTES(1 + seq % 300) FROM {};
         INSERT INTO docs VALUES (999, 'empty', ''), (998, 'null', NULL);
         INSERT INTO notes SELECT seq, RANDOM_BYTES(1 + seq % 300) FROM {};",
        numbers(3000),
        numbers(5000)
    );
    db.sql(&sql);
    let lengths = db.sql(&format!(
        "SELECT LENGTH(body) FROM docs WHERE id <= {} ORDER BY id",
        sizes.len()
    ));
    let want: String = sizes.iter().map(|s| format!("{s}\n")).collect();
    assert_eq!(lengths, want, "the large values were made whole");
}

/// What must come back: every row's length and hash, and CHECKSUM TABLE.
fn contents(db: &TestDb) -> String {
    db.admin_sql(
        "SELECT id, name, LENGTH(body), SHA2(body, 256) FROM docs ORDER BY id;
         SELECT COUNT(*), SUM(LENGTH(body)) FROM notes;
         CHECKSUM TABLE docs EXTENDED; CHECKSUM TABLE notes EXTENDED;",
    )
    .replace(&format!("{}.", db.name), "")
}

/// The server's max_allowed_packet, as a new connection gets it.
fn max_packet(server: &Server) -> usize {
    server
        .admin_sql(None, "SELECT @@GLOBAL.max_allowed_packet")
        .trim()
        .parse()
        .unwrap()
}

/// The file loads with the stock client into one fresh database and with `db-backup restore`
/// into another; both hold what `db` holds. Also: no line of the file (each INSERT is one)
/// is as long as the server's max_allowed_packet, and binary values take about their own size.
fn loads_both_ways(db: &TestDb, file: &Path, data_bytes: usize) {
    let want = contents(db);
    let bytes = std::fs::read(file).unwrap();
    let limit = max_packet(db.server);
    let longest = bytes.split(|&b| b == b'\n').map(<[u8]>::len).max().unwrap();
    assert!(
        longest < limit,
        "a line of {longest} bytes: the server takes {limit}"
    );
    assert!(
        bytes.len() < data_bytes + data_bytes / 20 + MIB,
        "{} bytes of file for {data_bytes} bytes of values: binary values must not be hex",
        bytes.len()
    );

    let stock = db.sibling();
    stock.load(file);
    assert_eq!(contents(&stock), want, "loaded by the stock client");

    let restored = db.sibling();
    let app = restored.app(Via::Tcp);
    let out = app.run(&["restore", file.to_str().unwrap(), "--yes"]);
    common::assert_success(&out);
    assert_eq!(contents(&restored), want, "loaded by db-backup restore");
}

test_on_both!(values_of_1_and_12_mib_load_with_the_stock_client_and_restore);
/// The case of the issue: a 12 MiB BLOB (hex would make a 24 MiB statement, past MariaDB's 16).
fn values_of_1_and_12_mib_load_with_the_stock_client_and_restore(server: &'static Server) {
    let db = TestDb::on(server);
    let sizes = [MIB, MIB + 1, 12 * MIB];
    fill(&db, &sizes);
    let (app, file) = backup(&db, Via::Tcp);
    loads_both_ways(&db, &file, sizes.iter().sum::<usize>() + 3 * MIB);

    // verify loads it too, into its scratch database.
    db.admin_sql(&format!(
        "GRANT ALL PRIVILEGES ON `dbbackup\\_verify\\_%`.* TO '{}'@'%'",
        db.user
    ));
    app.ok(&["verify", "--latest"]);
}

test_on_both!(a_40_mib_row_is_backed_up_where_the_server_takes_it_and_refused_where_not);
/// On a server of its own with the flavor's defaults: MySQL takes a 40 MiB statement (64 MiB
/// max_allowed_packet), so the row is backed up and restored; MariaDB does not (16 MiB), so
/// the backup fails naming the table, and succeeds once max_allowed_packet is raised as the
/// message says.
fn a_40_mib_row_is_backed_up_where_the_server_takes_it_and_refused_where_not(
    server: &'static Server,
) {
    let own = server.throwaway();
    let default = max_packet(own.server);
    // Only a session that starts with a larger max_allowed_packet can make the value.
    own.server
        .admin_sql(None, "SET GLOBAL max_allowed_packet = 64 * 1024 * 1024");
    let db = TestDb::on(own.server);
    let sizes = [40 * MIB];
    fill(&db, &sizes);
    own.server
        .admin_sql(None, &format!("SET GLOBAL max_allowed_packet = {default}"));

    let app = db.app(Via::Tcp);
    let fits = 40 * MIB + 4 * MIB < default;
    assert_eq!(
        fits,
        server.flavor == Flavor::MySql,
        "max_allowed_packet defaults to 64 MiB on MySQL 9.7 and to 16 MiB on MariaDB 10.11: {default}"
    );
    if !fits {
        let old = plant_old_sql_backup(&app);
        let out = app.run(&[]);
        assert_fails(
            &app,
            &out,
            &old,
            &[
                "table `docs`",
                "max_allowed_packet",
                "nothing was published",
            ],
        );
        own.server
            .admin_sql(None, "SET GLOBAL max_allowed_packet = 64 * 1024 * 1024");
    }
    let (_app, file) = backup(&db, Via::Tcp);
    loads_both_ways(&db, &file, 40 * MIB + 3 * MIB);
}

test_on_both!(a_statement_longer_than_the_server_takes_stops_the_load_at_its_line);
/// A file made where max_allowed_packet was larger (here: by hand) is refused by restore and
/// verify at the statement's line, in the load's terms: no "dump", nothing "published".
fn a_statement_longer_than_the_server_takes_stops_the_load_at_its_line(server: &'static Server) {
    let db = TestDb::on(server);
    db.sql("CREATE TABLE t (id INT PRIMARY KEY, b LONGBLOB);");
    db.admin_sql(&format!(
        "GRANT ALL PRIVILEGES ON `dbbackup\\_verify\\_%`.* TO '{}'@'%'",
        db.user
    ));
    let (app, file) = backup(&db, Via::Tcp);
    let limit = max_packet(server);
    let text = std::fs::read(&file).unwrap();
    let at = text
        .windows(13)
        .position(|w| w == b"UNLOCK TABLES")
        .unwrap();
    let mut big = text[..at].to_vec();
    big.extend_from_slice(b"INSERT INTO `t` VALUES (1,_binary'");
    big.resize(big.len() + limit, b'x');
    big.extend_from_slice(b"');\n");
    big.extend_from_slice(&text[at..]);
    std::fs::write(&file, &big).unwrap();
    let line = big[..at].iter().filter(|&&b| b == b'\n').count() + 1;
    let name = file.file_name().unwrap().to_str().unwrap().to_string();

    for args in [
        vec!["verify", name.as_str()],
        vec!["restore", &name, "--yes"],
    ] {
        let out = app.run(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        let err = err.lines().last().unwrap();
        for needle in [
            format!("line {line}"),
            "max_allowed_packet".into(),
            name.clone(),
        ] {
            assert!(
                err.contains(&needle),
                "{args:?}: {err:?} should name {needle:?}"
            );
        }
        for wrong in ["dump", "published"] {
            assert!(
                !err.contains(wrong),
                "{args:?}: {err:?} speaks of {wrong:?}"
            );
        }
    }
}

test_on_both!(binary_values_load_where_sql_mode_has_no_backslash_escapes);
/// `_binary'…'` relies on backslash escapes: the file's header sets the session's sql_mode
/// before any data, so it loads the same into a server whose global sql_mode has
/// NO_BACKSLASH_ESCAPES (`Server::odd`), by the stock client (which follows the server's
/// flag) and by `db-backup restore` (whose splitter follows it too), and is made the same from
/// such a server.
fn binary_values_load_where_sql_mode_has_no_backslash_escapes(server: &'static Server) {
    let db = TestDb::on(server.odd());
    fill(&db, &[MIB, 3 * MIB]);
    let (_app, file) = backup(&db, Via::Tcp);
    loads_both_ways(&db, &file, 4 * MIB + 3 * MIB);
}
