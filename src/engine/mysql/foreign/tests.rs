use super::*;

const RESTORE: Scope = Scope {
    app: "app",
    target: "app",
};
const VERIFY: Scope = Scope {
    app: "app",
    target: "dbbackup_verify_app_1",
};
const MYSQL: Server = Server {
    version: 90704,
    mariadb: false,
};
const MARIADB: Server = Server {
    version: 101119,
    mariadb: true,
};

fn checker(scope: Scope, server: Server) -> Checker {
    Checker::new(
        scope,
        server,
        ["other".to_string(), "app".to_string(), "Mixed".to_string()],
        "STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION",
    )
    .unwrap()
}

fn judge(sql: &str, scope: Scope) -> Verdict {
    checker(scope, MYSQL).judge(sql.as_bytes())
}

fn skipped(sql: &str, scope: Scope) -> String {
    match judge(sql, scope) {
        Verdict::Skip { kind, .. } => kind,
        other => panic!("{sql:?} is not skipped: {other:?}"),
    }
}

fn refused(sql: &str, scope: Scope) -> String {
    for server in [MYSQL, MARIADB] {
        match checker(scope, server).judge(sql.as_bytes()) {
            Verdict::Refuse(_) => {}
            other => panic!("{sql:?} is not refused on {server:?}: {other:?}"),
        }
    }
    match judge(sql, scope) {
        Verdict::Refuse(why) => why,
        _ => unreachable!(),
    }
}

#[test]
fn server_versions_read_as_version_comments_write_them() {
    assert_eq!(Server::from_version("9.7.4"), MYSQL);
    assert_eq!(Server::from_version("10.11.19-MariaDB-0+deb12u1"), MARIADB);
    assert_eq!(Server::from_version("8.0.36-log").version, 80036);
}

#[test]
fn what_stock_dumps_write_for_the_server_is_skipped() {
    for (sql, kind) in [
        // mysqldump 9.7 with GTIDs.
        ("SET @@SESSION.SQL_LOG_BIN= 0", "SET @@SESSION.SQL_LOG_BIN"),
        (
            "SET @@GLOBAL.GTID_PURGED=/*!80000 '+'*/ '883fedf3-ec36-11f1-978e-02fc00000001:1-363'",
            "SET @@GLOBAL.GTID_PURGED",
        ),
        (
            "SET @@SESSION.SQL_LOG_BIN = @MYSQLDUMP_TEMP_LOG_BIN",
            "SET @@SESSION.SQL_LOG_BIN",
        ),
        (
            "CHANGE REPLICATION SOURCE TO SOURCE_LOG_FILE='binlog.000002', SOURCE_LOG_POS=157",
            "CHANGE REPLICATION SOURCE",
        ),
        ("STOP REPLICA", "STOP REPLICA"),
        ("START REPLICA", "START REPLICA"),
        ("RESET BINARY LOGS AND GTIDS", "RESET BINARY LOGS"),
        ("RESET MASTER", "RESET MASTER"),
        ("/*!40000 FLUSH PRIVILEGES */", "FLUSH PRIVILEGES"),
        // mariadb-dump with --master-data --gtid, --dump-slave, --system.
        (
            "SET GLOBAL gtid_slave_pos='0-1-42'",
            "SET GLOBAL GTID_SLAVE_POS",
        ),
        (
            "CHANGE MASTER TO MASTER_USE_GTID=slave_pos",
            "CHANGE MASTER TO",
        ),
        ("STOP ALL SLAVES", "STOP ALL SLAVES"),
        ("CREATE USER IF NOT EXISTS `x`@`%`", "CREATE USER"),
        ("GRANT SELECT, EXECUTE ON *.* TO `x`@`%`", "GRANT"),
        ("SET PASSWORD FOR x = 'y'", "SET PASSWORD"),
        ("SET DEFAULT ROLE ALL TO x", "SET DEFAULT"),
        (
            "SET PERSIST max_connections = 10",
            "SET PERSIST MAX_CONNECTIONS",
        ),
        ("SET @@persist_only.x = 1", "SET @@PERSIST_ONLY.X"),
        (
            "SET GLOBAL TRANSACTION ISOLATION LEVEL READ COMMITTED",
            "SET GLOBAL TRANSACTION",
        ),
        ("SET sql_log_bin = 0", "SET SESSION SQL_LOG_BIN"),
        ("SET @@gtid_next = 'AUTOMATIC'", "SET @@SESSION.GTID_NEXT"),
        ("ALTER INSTANCE ROTATE INNODB MASTER KEY", "ALTER INSTANCE"),
    ] {
        assert_eq!(skipped(sql, VERIFY), kind, "{sql}");
        assert_eq!(skipped(sql, RESTORE), kind, "{sql}");
    }
    // MariaDB-only version comments are read by MariaDB only.
    let mut c = checker(VERIFY, MARIADB);
    assert!(matches!(
        c.judge(b"/*M!100000 SET GLOBAL gtid_slave_pos='0-1-42' */"),
        Verdict::Skip { .. }
    ));
    assert_eq!(
        checker(VERIFY, MYSQL).judge(b"/*M!100000 SET GLOBAL gtid_slave_pos='0-1-42' */"),
        Verdict::Run,
        "a comment to MySQL"
    );
}

#[test]
fn what_dump_tools_write_for_the_database_runs() {
    for sql in [
        "/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */",
        "/*!50503 SET NAMES utf8mb4 */",
        "/*!40101 SET NAMES utf8mb4 COLLATE utf8mb4_0900_ai_ci */",
        "/*!40103 SET TIME_ZONE='+00:00' */",
        "/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */",
        "/*!40014 SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0 */",
        "/*!40111 SET @OLD_SQL_NOTES=@@SQL_NOTES, SQL_NOTES=0 */",
        "/*M!100616 SET @OLD_NOTE_VERBOSITY=@@NOTE_VERBOSITY, NOTE_VERBOSITY=0 */",
        "SET @MYSQLDUMP_TEMP_LOG_BIN = @@SESSION.SQL_LOG_BIN",
        "/*!50003 SET @saved_cs_client      = @@character_set_client */",
        "/*!50003 SET character_set_client  = utf8mb4 */",
        "/*!40101 SET character_set_client = @saved_cs_client */",
        "/*!50003 SET collation_connection  = utf8mb4_0900_ai_ci */",
        "SET autocommit=0",
        "COMMIT",
        "DROP TABLE IF EXISTS `t1`",
        "CREATE TABLE `t1` (`id` int NOT NULL, `c` int GENERATED ALWAYS AS ((`id` + 1)) VIRTUAL, PRIMARY KEY (`id`), CONSTRAINT `k` CHECK ((`id` > 0))) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
        "INSERT INTO `t1` VALUES (1,'USE other; `other`.`t`'),(2,NULL),(-3,_binary 'x\\'y'),(4,0x00ff),(5,X'00'),(6,b'1'),(7,1.5e-3)",
        "INSERT INTO `t1` (`id`, `c`) VALUES (1,2)",
        "REPLACE INTO `t1` VALUES (1,2)",
        "LOCK TABLES `t1` WRITE",
        "/*!40000 ALTER TABLE `t1` DISABLE KEYS */",
        "UNLOCK TABLES",
        "/*!50001 CREATE ALGORITHM=UNDEFINED */\n/*!50013 DEFINER=`root`@`localhost` SQL SECURITY DEFINER */\n/*!50001 VIEW `v` AS select `t1`.`id` AS `id` from `t1` */",
        "CREATE VIEW `v` AS SELECT 1 AS `id`",
        "/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER `tr` BEFORE INSERT ON `t1` FOR EACH ROW SET NEW.id = NEW.id */",
        "CREATE DEFINER=`root`@`localhost` PROCEDURE `p1`()\nBEGIN\n  DECLARE CONTINUE HANDLER FOR NOT FOUND SET @x = 1;\n  SELECT 1;\nEND",
        "CREATE DEFINER=\"root\"@\"localhost\" PROCEDURE \"p1\"()\nSELECT 1",
        "/*!50003 DROP PROCEDURE IF EXISTS `p1` */",
        "/*!50106 DROP EVENT IF EXISTS `e1` */",
        "DO SETVAL(`s1`, 1001, 0)",
        "SELECT SETVAL(`s1`, 1001, 0)",
        "START TRANSACTION",
        "ALTER DATABASE CHARACTER SET utf8mb4",
        "",
    ] {
        for scope in [RESTORE, VERIFY] {
            for server in [MYSQL, MARIADB] {
                assert_eq!(
                    checker(scope, server).judge(sql.as_bytes()),
                    Verdict::Run,
                    "{sql}"
                );
            }
        }
    }
}

#[test]
fn the_app_database_by_name_is_the_load_target() {
    assert_eq!(skipped("USE `app`", RESTORE), "USE");
    assert_eq!(skipped("USE app", VERIFY), "USE");
    assert_eq!(
        skipped(
            "CREATE DATABASE /*!32312 IF NOT EXISTS*/ `app` /*!40100 DEFAULT CHARACTER SET utf8mb4 */",
            VERIFY
        ),
        "CREATE DATABASE"
    );
    assert_eq!(
        judge("INSERT INTO `app`.`t` VALUES (1)", RESTORE),
        Verdict::Run
    );
    assert_eq!(
        judge(
            "ALTER DATABASE `app` CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_ai_ci",
            RESTORE
        ),
        Verdict::Run
    );
    // In a scratch database the name must go: the collation change applies to it.
    assert_eq!(
        judge("ALTER DATABASE `app` CHARACTER SET latin1", VERIFY),
        Verdict::RunAs(b"ALTER DATABASE  CHARACTER SET latin1".to_vec())
    );
    // A verify never touches the live database, wherever it is named.
    for sql in [
        "INSERT INTO `app`.`t` VALUES (1)",
        "UPDATE users, app.users SET users.a = 1",
        "CREATE VIEW v AS SELECT * FROM `app`.`users`",
    ] {
        assert!(
            refused(sql, VERIFY).contains("app's live database"),
            "{sql}"
        );
    }
}

#[test]
fn events_are_created_disabled_during_a_verify() {
    let ours = "/*!50106 CREATE*/ /*!50117 DEFINER=`root`@`localhost`*/ /*!50106 EVENT `e1` ON SCHEDULE EVERY 1 DAY STARTS '2026-01-01 00:00:00' ON COMPLETION PRESERVE ENABLE DO INSERT INTO t VALUES (1) */";
    match judge(ours, VERIFY) {
        Verdict::RunAs(sql) => {
            let sql = String::from_utf8(sql).unwrap();
            assert!(sql.contains("PRESERVE        DISABLE DO INSERT"), "{sql}");
            assert!(!sql.contains("ENABLE"), "{sql}");
        }
        other => panic!("{other:?}"),
    }
    match judge(
        "CREATE EVENT e ON SCHEDULE AT NOW() DISABLE ON SLAVE DO SET @a = 1",
        VERIFY,
    ) {
        Verdict::RunAs(sql) => assert_eq!(
            String::from_utf8(sql).unwrap(),
            "CREATE EVENT e ON SCHEDULE AT NOW()                  DISABLE DO SET @a = 1"
        ),
        other => panic!("{other:?}"),
    }
    match judge("CREATE EVENT e ON SCHEDULE EVERY 1 DAY ENABLE COMMENT 'daily; count' DO SET @a = 1", VERIFY) {
        Verdict::RunAs(sql) => assert_eq!(
            String::from_utf8(sql).unwrap(),
            "CREATE EVENT e ON SCHEDULE EVERY 1 DAY        DISABLE COMMENT 'daily; count' DO SET @a = 1"
        ),
        other => panic!("{other:?}"),
    }
    // A restore puts the app's events back as they were.
    assert_eq!(judge(ours, RESTORE), Verdict::Run);
}

#[test]
fn sql_mode_is_followed_in_lockstep() {
    let mut c = checker(RESTORE, MYSQL);
    let run = |c: &mut Checker, sql: &str| {
        assert!(
            matches!(c.judge(sql.as_bytes()), Verdict::Run),
            "{sql} refused"
        );
        c.mode()
    };
    let plain = Mode::default();
    let nbe = Mode {
        no_backslash_escapes: true,
        ansi_quotes: false,
    };
    assert_eq!(
        run(
            &mut c,
            "/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */"
        ),
        plain
    );
    run(&mut c, "/*!50003 SET @saved_sql_mode = @@sql_mode */");
    assert_eq!(
        run(
            &mut c,
            "/*!50003 SET sql_mode = 'ANSI_QUOTES,NO_BACKSLASH_ESCAPES' */"
        ),
        Mode {
            ansi_quotes: true,
            no_backslash_escapes: true
        }
    );
    // Under ANSI_QUOTES, "x" is a name; without backslash escapes, \ is a plain byte.
    assert_eq!(
        run(&mut c, "INSERT INTO \"t\" VALUES ('a\\')"),
        Mode {
            ansi_quotes: true,
            no_backslash_escapes: true
        }
    );
    assert_eq!(
        run(&mut c, "/*!50003 SET sql_mode = @saved_sql_mode */"),
        plain
    );
    assert_eq!(
        run(&mut c, "SET SESSION sql_mode = 'no_backslash_escapes'"),
        nbe
    );
    assert_eq!(run(&mut c, "/*!40101 SET SQL_MODE=@OLD_SQL_MODE */"), plain);
    // What cannot be known is refused: an expression, an unknown variable, a grammar change.
    for sql in [
        "SET sql_mode = CONCAT('NO_BACKSLASH','_ESCAPES')",
        "SET sql_mode = @never_saved",
        "SET sql_mode = 'ORACLE'",
        "SET sql_mode = DEFAULT",
        "SET @@SESSION.sql_mode = @@GLOBAL.sql_mode",
        "SET NAMES sjis",
        "SET character_set_client = 'gbk'",
    ] {
        let mut c = checker(RESTORE, MYSQL);
        assert!(
            matches!(c.judge(sql.as_bytes()), Verdict::Refuse(_)),
            "{sql} accepted"
        );
    }
}

#[test]
fn version_comments_are_read_as_the_server_reads_them() {
    // 999999 is above any version: the server skips the comment, so what follows runs.
    let why = refused("/*!999999 SELECT */ DROP TABLE other.t", RESTORE);
    assert!(
        why.contains("'other'") || why.contains("either way"),
        "{why}"
    );
    for sql in [
        "/*!99999 SELECT */ DROP TABLE other.t",
        "/*!99999 SELECT */ SET GLOBAL max_connections = 1, sql_notes = 1",
        "/*!99999 SET @a = 1 */ USE other",
        "/*!90800 INSERT INTO t VALUES (1) */ DELETE FROM t",
    ] {
        refused(sql, RESTORE);
    }
    // A version the server has: its content runs, and is judged.
    refused("/*!50000 DROP TABLE other.t */", RESTORE);
    refused("/*! DROP TABLE other.t */", RESTORE);
    // MariaDB reads /*M! … */, MySQL does not.
    assert!(matches!(
        checker(RESTORE, MARIADB).judge(b"/*M!100000 DELETE FROM t */"),
        Verdict::Refuse(_)
    ));
}

#[test]
fn the_adversarial_corpus_is_refused() {
    for sql in [
        // Past the first table or token.
        "UPDATE users, other.t SET users.a = 1",
        "DELETE x FROM users u JOIN other.t x",
        "ALTER TABLE t RENAME other.y",
        "DROP TABLE IF EXISTS a1,a2,a3,a4,a5,a6,a7,a8,a9,a10,a11,a12,a13,a14,a15,a16,a17,a18,a19,a20,a21,a22,a23,a24,a25,a26,a27,a28,a29,a30, other.t",
        "SET @a1=1,@a2=2,@a3=3,@a4=4,@a5=5,@a6=6,@a7=7,@a8=8,@a9=9,@a10=10, GLOBAL max_connections=1",
        // Dynamic SQL and bodies.
        "PREPARE s FROM 'DROP DATABASE other'",
        "EXECUTE s",
        "EXECUTE IMMEDIATE 'CREATE USER x'",
        "SET STATEMENT max_statement_time=1 FOR DROP TABLE other.t",
        "BEGIN NOT ATOMIC DROP TABLE t; END",
        "CREATE PROCEDURE p() BEGIN PREPARE s FROM @q; EXECUTE s; END",
        "CREATE PROCEDURE p() BEGIN DELETE FROM other.t; END",
        "CREATE TRIGGER tr AFTER INSERT ON t FOR EACH ROW INSERT INTO other.t VALUES (1)",
        "CALL p()",
        "CREATE EVENT e ON SCHEDULE EVERY 1 SECOND DO DELETE FROM `other`.`t`",
        "CREATE EVENT e ON SCHEDULE EVERY 1 SECOND DO SET GLOBAL event_scheduler = ON",
        "CREATE VIEW v AS SELECT * FROM other.t",
        "CREATE TABLE m (a int) ENGINE=MERGE UNION=(other.t) INSERT_METHOD=LAST",
        "CREATE TABLE m (a int) ENGINE=MRG_MyISAM UNION=(t1)",
        "CREATE TABLE f (a int) ENGINE=FEDERATED CONNECTION='mysql://u@h/db/t'",
        "LOAD DATA INFILE '/etc/passwd' INTO TABLE t",
        "LOAD DATA LOCAL INFILE 'x' INTO TABLE t",
        "SELECT * FROM t INTO OUTFILE '/var/lib/mysql/app/x.frm'",
        "SELECT 1 INTO DUMPFILE '/tmp/x'",
        "CREATE TABLE d (a int) DATA DIRECTORY = '/tmp'",
        "CREATE TABLE d (a int) INDEX DIRECTORY='/tmp'",
        "XA START 'x'",
        "XA PREPARE 'x'",
        "BACKUP STAGE BLOCK_COMMIT",
        "HANDLER t OPEN",
        "ANALYZE TABLE t PERSISTENT FOR ALL",
        "SELECT 1",
        "CREATE TEMPORARY TABLE t (a int)",
        "CREATE TABLE t AS SELECT * FROM u",
        "INSERT INTO t SELECT * FROM other.t",
        "INSERT INTO t VALUES (1) ON DUPLICATE KEY UPDATE a = 1",
        "INSERT INTO t VALUES ((SELECT 1))",
        "INSERT INTO t VALUES (LOAD_FILE('/etc/passwd'))",
        "SET @a = (SELECT 1)",
        "SET @a = SLEEP(10)",
        "SET time_zone = CONCAT('+', '00:00')",
        "SET max_statement_time = 1",
        "DROP DATABASE app",
        "USE other",
        "use other",
        "CREATE DATABASE other",
        "ALTER DATABASE other CHARACTER SET latin1",
        "RENAME TABLE t1 TO t2",
        "TRUNCATE TABLE t",
        "DELETE FROM t",
        "CREATE TABLE t (a int); DROP TABLE u",
        "CREATE TABLE t (a int, p int COMMENT 'PROCEDURE'); DROP PROCEDURE x",
        "KILL 1",
        "SHUTDOWN",
        "DO SLEEP(1)",
        "SELECT SETVAL(other.s, 1, 0)",
        "CREATE INDEX i ON other.t (a)",
        "LOCK TABLES `t1` WRITE, `other`.`t2` AS x READ",
        "DROP PROCEDURE IF EXISTS `other`.`p`",
        "CREATE TABLE `Mixed`.`t` (a int)",
        "CREATE TABLE `mysql`.`user2` (a int)",
        "CREATE VIEW v AS SELECT * FROM information_schema.PROCESSLIST",
        "CREATE TABLE t (a int) COMMENT 'x' /*!99999 */ ; DROP TABLE other.t",
        "/*!50000 SELECT 1 */",
        "INSERT INTO t VALUES ('unterminated",
    ] {
        for scope in [RESTORE, VERIFY] {
            refused(sql, scope);
        }
    }
}

#[test]
fn quoting_tricks_are_read_as_the_server_reads_them() {
    // Under ANSI_QUOTES, "…" is a name, so the `;` and the backslash are not in a string.
    let mut c = checker(RESTORE, MYSQL);
    assert_eq!(c.judge(b"SET sql_mode='ANSI_QUOTES'"), Verdict::Run);
    assert!(matches!(
        c.judge(b"SELECT 1 AS \"x\\\" ; DROP TABLE other.t; SELECT 1 AS \"\\\""),
        Verdict::Refuse(_)
    ));
    // Backslash escapes: the quote after a backslash is inside the string.
    assert_eq!(
        checker(RESTORE, MYSQL).judge(b"INSERT INTO t VALUES ('a\\' ; DROP TABLE other.t ; ')"),
        Verdict::Run
    );
    // Without them it ends the string, and what follows is code.
    let mut c = checker(RESTORE, MYSQL);
    c.judge(b"SET sql_mode='NO_BACKSLASH_ESCAPES'");
    assert!(matches!(
        c.judge(b"INSERT INTO t VALUES ('a\\'), ((SELECT 1 FROM other.t))"),
        Verdict::Refuse(_)
    ));
}
