//! TLS when the app configures it (`MYSQL_ATTR_SSL_CA`, as Laravel's config/database.php reads
//! it): rustls, no OpenSSL in the binary.

mod common;

use common::mysql::*;

/// Runs db-backup on `app` with an older backup planted.
fn run_failing(app: &common::App) -> (std::process::Output, (std::path::PathBuf, Vec<u8>), ()) {
    let old = plant_old_sql_backup(app);
    (app.run(&[]), old, ())
}

fn require_tls(db: &TestDb) {
    db.admin_sql(&format!("ALTER USER '{}'@'%' REQUIRE SSL", db.user));
}

test_on_both!(a_user_that_requires_tls_is_backed_up_over_tls);
fn a_user_that_requires_tls_is_backed_up_over_tls(server: &'static Server) {
    let db = TestDb::on(server);
    stock_objects(&db);
    require_tls(&db);
    let env = format!(
        "{}MYSQL_ATTR_SSL_CA={}\n",
        db.env_text(Via::Tcp),
        tls_ca().display()
    );
    let app = common::App::bare(&env);
    app.ok(&[]);
    let copy = TestDb::on(server);
    copy.load(&only_backup(&app));
    db.assert_same_as(&copy);
}

test_on_both!(without_the_ca_the_server_refuses_and_a_wrong_ca_is_a_tls_error);
fn without_the_ca_the_server_refuses_and_a_wrong_ca_is_a_tls_error(server: &'static Server) {
    let db = TestDb::on(server);
    require_tls(&db);
    // No MYSQL_ATTR_SSL_CA: plain text, which this user may not use.
    let app = db.app(Via::Tcp);
    let (out, old, _) = run_failing(&app);
    assert_fails(&app, &out, &old, &["refused user"]);

    // A CA that did not sign the server's certificate: the connection must not go ahead.
    let other = app.root.path().join("other-ca.pem");
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=not ours",
        ])
        .arg("-keyout")
        .arg(app.root.path().join("other-ca.key"))
        .arg("-out")
        .arg(&other)
        .output()
        .unwrap();
    assert!(made.status.success());
    let env = format!(
        "{}MYSQL_ATTR_SSL_CA={}\n",
        db.env_text(Via::Tcp),
        other.display()
    );
    let app = common::App::bare(&env);
    let (out, old, _) = run_failing(&app);
    assert_fails(&app, &out, &old, &["127.0.0.1"]);
    let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(err.contains("certificate") || err.contains("tls"), "{err}");
}
