//! Logging in (issue 9, item 4), on a server of the test's own that it may restart. MySQL 9.7
//! has only `caching_sha2_password` for new accounts: a client that presents the password
//! while the server's cache of it is cold (right after a restart, or FLUSH PRIVILEGES) must
//! send it in clear over a secure transport (Unix socket, TLS), or over plain TCP encrypted
//! with the server's RSA public key, which it first asks for. MariaDB 10.11 uses
//! `mysql_native_password`, a challenge with no cache: the same steps must simply work.

mod common;

use common::mysql::*;

/// Whether the stock client, over plain TCP without TLS and without asking for the server's
/// RSA key, gets in: only with the account in the server's cache (MySQL), always (MariaDB).
fn plain_tcp_login_without_rsa(server: &Server, db: &TestDb) -> Result<(), String> {
    let mut c = server.over_tcp().client(&db.user, &db.password);
    match server.flavor {
        Flavor::MySql => c.arg("--ssl-mode=DISABLED"),
        Flavor::MariaDb => c.arg("--skip-ssl"),
    };
    let out = c.args(["-e", "SELECT 1"]).output().unwrap();
    match out.status.success() {
        true => Ok(()),
        false => Err(String::from_utf8_lossy(&out.stderr).into_owned()),
    }
}

/// Backs up through `env`, loads the file with the stock client and compares it with `db`.
fn backup_round_trip(db: &TestDb, env: &str) {
    let app = common::App::bare(env);
    app.ok(&[]);
    let copy = db.sibling();
    copy.load(&only_backup(&app));
    db.assert_same_as(&copy);
}

test_on_both!(logins_right_after_a_restart_over_tcp_the_socket_and_tls);
fn logins_right_after_a_restart_over_tcp_the_socket_and_tls(server: &'static Server) {
    let mut own = server.throwaway();
    let db = TestDb::on(own.server);
    stock_objects(&db);
    let plugin = db.admin_sql(&format!(
        "SELECT plugin FROM mysql.user WHERE User = '{}'",
        db.user
    ));
    let cached = server.flavor == Flavor::MySql;
    assert_eq!(
        plugin.trim(),
        if cached {
            "caching_sha2_password"
        } else {
            "mysql_native_password"
        }
    );

    // TCP without TLS, cold cache: db-backup must do the RSA key exchange.
    own.restart();
    if cached {
        let err = plain_tcp_login_without_rsa(own.server, &db).unwrap_err();
        assert!(
            err.contains("2061") || err.contains("secure connection"),
            "the cache is cold, so a plain login needs the RSA key: {err}"
        );
    }
    backup_round_trip(&db, &db.env_text(Via::Tcp));
    // That full login filled the cache: now even the stock client gets in without the key.
    plain_tcp_login_without_rsa(own.server, &db).unwrap();

    // A wrong password, cold cache, plain TCP: one clear line.
    own.restart();
    let app = common::App::bare(&db.env_text(Via::Tcp).replace(&db.password, "Wrong-pw-9d2"));
    let old = plant_old_sql_backup(&app);
    let out = app.run(&[]);
    assert_fails(&app, &out, &old, &[&db.user, "wrong user or password"]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("Wrong-pw-9d2"));

    // The Unix socket (a secure transport: the password goes in clear), cold cache.
    own.restart();
    backup_round_trip(&db, &db.env_text(Via::Socket));

    // TLS with the app's MYSQL_ATTR_SSL_CA, cold cache.
    own.restart();
    backup_round_trip(
        &db,
        &format!(
            "{}MYSQL_ATTR_SSL_CA={}\n",
            db.env_text(Via::Tcp),
            tls_ca().display()
        ),
    );
}
