//! Our own test servers: found running, or started. Two flavors, two kinds each.
//!
//! **MariaDB** 10.11 runs from this machine's Debian packages (`mariadb-install-db` into
//! `<target>/test-mariadb/<kind>/data`). **MySQL** 9.7 is not in this Debian release: it runs
//! inside a Debian sid chroot at `<target>/test-sid/root`, made once by scripts/sid-chroot
//! (scripts/test runs it before the tests; the first test that finds it missing runs it too),
//! from the data folder initialised there, copied to `root/srv/<kind>/data`. It runs as MySQL
//! 8+ does by default — binary log on, caching_sha2_password — with GTIDs on
//! (`gtid_mode=ON`), and `log_bin_trust_function_creators=ON` so that the app's account may
//! create (and restore) triggers and functions while the binary log is on, as it must be
//! allowed to on any MySQL whose apps have them.
//!
//! Each server gets a private socket in its folder, a free 127.0.0.1 port and TLS with the
//! harness's CA. nextest runs every test in its own process, so a server is shared: a file
//! lock (`<folder>/lock`) makes the processes start it once, the next ones find it through its
//! `pid`/`port`/`ready` files and a handshake on its socket, and it keeps running for later
//! tests and later runs. `scripts/test` stops them at the end.
//!
//! Kinds: `main` (ordinary settings, utf8mb4; MySQL keeps its own default collation,
//! utf8mb4_0900_ai_ci), `odd` (global `sql_mode` with ANSI_QUOTES and NO_BACKSLASH_ESCAPES,
//! `time_zone` Europe/Paris, latin1 server charset) and `socket` (no TCP at all:
//! `--skip-networking`, reachable only through its Unix socket); MariaDB also has `binlog`
//! (binary log on, so GTIDs, as MySQL's servers all have: for mariadb-dump's `--master-data`).
//!
//! A `throwaway` server belongs to one test alone (see [`Throwaway`]): the flavor's default
//! settings, a fresh data folder of its own, stopped and deleted when the test drops it. It is
//! for what a shared server must not see: global settings changed, a restart.

use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::{closed_port, run_sql, Flavor, Server};

const MISSING_MARIADB: &str =
    "MariaDB server binaries not found: apt-get install mariadb-server mariadb-client (scripts/test does it), or set DB_BACKUP_TEST_MARIADB_URL";
const MISSING_MYSQL: &str = "the MySQL 9.7 test server runs in a Debian sid chroot that scripts/test makes (as root, with mmdebstrap: apt-get install mmdebstrap); make it by hand with scripts/sid-chroot";

/// Root password of our own servers (they listen on 127.0.0.1 only and live in target/).
const ROOT_PASSWORD: &str = "harness-Root-pw-7";
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// What "ready" says for a server this harness can reuse: a server started by an older
/// harness is restarted rather than reused.
const READY_MARK: &str = "harness-3";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Main,
    Odd,
    SocketOnly,
    Throwaway,
    /// MariaDB with its binary log on, so with GTIDs (MySQL's servers all have them).
    Binlog,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Main => "main",
            Kind::Odd => "odd",
            Kind::SocketOnly => "socket",
            Kind::Throwaway => "throwaway",
            Kind::Binlog => "binlog",
        }
    }

    fn args(self, flavor: Flavor) -> &'static [&'static str] {
        match (self, flavor) {
            (Kind::Main, Flavor::MariaDb) => &[
                "--character-set-server=utf8mb4",
                "--collation-server=utf8mb4_unicode_ci",
                "--innodb-buffer-pool-size=128M",
            ],
            (Kind::Main | Kind::Throwaway, Flavor::MySql) => &["--innodb-buffer-pool-size=128M"],
            // The flavor's defaults otherwise (max_allowed_packet 16 MiB, MySQL's 64 MiB).
            (Kind::Throwaway, Flavor::MariaDb) => &[
                "--character-set-server=utf8mb4",
                "--collation-server=utf8mb4_unicode_ci",
                "--innodb-buffer-pool-size=128M",
            ],
            (Kind::Binlog, _) => &[
                "--character-set-server=utf8mb4",
                "--collation-server=utf8mb4_unicode_ci",
                "--innodb-buffer-pool-size=32M",
            ],
            (Kind::SocketOnly, _) => &["--skip-networking", "--innodb-buffer-pool-size=32M"],
            (Kind::Odd, _) => &[
                "--character-set-server=latin1",
                "--collation-server=latin1_swedish_ci",
                "--sql-mode=ANSI_QUOTES,NO_BACKSLASH_ESCAPES,STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION",
                "--innodb-buffer-pool-size=32M",
            ],
        }
    }
}

/// The shared server of this flavor: the one its `DB_BACKUP_TEST_<FLAVOR>_URL` names, else ours.
pub(super) fn main(flavor: Flavor) -> Server {
    let var = format!("DB_BACKUP_TEST_{}_URL", flavor.name().to_uppercase());
    match std::env::var(&var) {
        Ok(url) if !url.is_empty() => external(flavor, &var, &url),
        _ => own(flavor, Kind::Main),
    }
}

/// Our own server of this flavor with hostile settings.
pub(super) fn odd(flavor: Flavor) -> &'static Server {
    static MARIADB: OnceLock<Server> = OnceLock::new();
    static MYSQL: OnceLock<Server> = OnceLock::new();
    let cell = match flavor {
        Flavor::MariaDb => &MARIADB,
        Flavor::MySql => &MYSQL,
    };
    cell.get_or_init(|| own(flavor, Kind::Odd))
}

/// Our own server of this flavor that listens on its Unix socket only, never on TCP.
pub(super) fn socket_only(flavor: Flavor) -> &'static Server {
    static MARIADB: OnceLock<Server> = OnceLock::new();
    static MYSQL: OnceLock<Server> = OnceLock::new();
    let cell = match flavor {
        Flavor::MariaDb => &MARIADB,
        Flavor::MySql => &MYSQL,
    };
    cell.get_or_init(|| own(flavor, Kind::SocketOnly))
}

/// A server for one test alone: the flavor's default settings on fresh data, its own port
/// and socket. Stopped and its folder deleted when dropped. Its `server` is leaked, so that
/// `TestDb::on` takes it as it takes the shared ones (one test per process: a few bytes).
pub struct Throwaway {
    pub server: &'static Server,
    place: Place,
    child: Option<Child>,
}

impl Throwaway {
    pub(super) fn start(flavor: Flavor) -> Throwaway {
        if flavor == Flavor::MariaDb {
            for name in ["mariadbd", "mariadb-install-db", "mariadb"] {
                bin(name);
            }
        }
        let mut place = Place::new(flavor, Kind::Throwaway);
        // Unique, so that tests running at the same time each have their own.
        let id = format!("{}-{:08x}", std::process::id(), rand::random::<u32>());
        place.dir = place.dir.with_file_name(format!("throwaway-{id}"));
        fresh_folder(&place);
        let (child, port) = start_on_free_port(&place);
        let make = |password: &str| place.server(port, password);
        set_root_password(&make(""));
        // For scripts/test, which stops and deletes what a killed test left running.
        fs::write(place.dir.join("pid"), format!("{}\n", child.id())).unwrap();
        Throwaway {
            server: Box::leak(Box::new(make(ROOT_PASSWORD))),
            place,
            child: Some(child),
        }
    }

    /// Stops the server cleanly and starts it again on the same data, port and socket: every
    /// cache is cold, as after a reboot.
    pub fn restart(&mut self) {
        self.stop();
        let mut child = start(&self.place, self.server.port);
        if let Err(log) = wait_ready(&mut child, &self.place) {
            panic!("{} did not start again: {log}", self.place.daemon());
        }
        fs::write(self.place.dir.join("pid"), format!("{}\n", child.id())).unwrap();
        self.child = Some(child);
    }

    /// SIGTERM (a clean shutdown), then SIGKILL after 60 s.
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        unsafe {
            libc::kill(child.id() as i32, libc::SIGTERM);
        }
        let start = Instant::now();
        while matches!(child.try_wait(), Ok(None)) {
            if start.elapsed() > Duration::from_secs(60) {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Throwaway {
    fn drop(&mut self) {
        self.stop();
        if let Some(socket) = &self.server.socket {
            if socket.is_symlink() {
                let _ = fs::remove_file(socket);
            }
        }
        let _ = fs::remove_dir_all(&self.place.dir);
    }
}

/// Our own server of this flavor with the binary log and GTIDs on: MySQL's main one, or a
/// MariaDB started with `--log-bin` (which the other MariaDB servers run without).
pub(super) fn binlog(flavor: Flavor) -> &'static Server {
    static MARIADB: OnceLock<Server> = OnceLock::new();
    match flavor {
        Flavor::MySql => super::mysql(),
        Flavor::MariaDb => MARIADB.get_or_init(|| own(flavor, Kind::Binlog)),
    }
}

/// `mysql://user:password@host:port` (password percent-decoded).
fn external(flavor: Flavor, var: &str, url: &str) -> Server {
    let re =
        regex::Regex::new(r"^(?:mysql|mariadb)://([^:@/]+)(?::([^@/]*))?@([^:/]+)(?::(\d+))?/?$")
            .unwrap();
    let c = re
        .captures(url)
        .unwrap_or_else(|| panic!("{var}={url:?}: expected mysql://user:password@host:port"));
    let socket_var = var.replace("_URL", "_SOCKET");
    let server = Server {
        flavor,
        label: "external",
        host: c[3].to_string(),
        port: c.get(4).map_or(3306, |p| p.as_str().parse().unwrap()),
        socket: std::env::var_os(&socket_var).map(PathBuf::from),
        user: percent_decode(&c[1]),
        password: c
            .get(2)
            .map_or(String::new(), |p| percent_decode(p.as_str())),
        // The stock clients still come from our packages or chroot.
        root: (flavor == Flavor::MySql).then(|| super::super::sid_root(MISSING_MYSQL)),
        client_socket: None,
    };
    server.admin_sql(None, "SELECT 1");
    server
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 3 <= b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

/// The target folder, where our servers live.
fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR has a parent (the target dir)")
        .to_path_buf()
}

/// Where our MariaDB servers live: `<target>/test-mariadb/`.
fn harness_dir() -> PathBuf {
    target_dir().join("test-mariadb")
}

pub(super) fn tls_ca() -> PathBuf {
    tls_files().join("ca.pem")
}

/// A CA, and a server certificate for 127.0.0.1/localhost that it signed, made once with the
/// `openssl` command; every test server speaks TLS with it (and plain text too).
pub(super) fn tls_files() -> PathBuf {
    let dir = target_dir().join("test-tls");
    if dir.join("server.pem").exists() {
        return dir;
    }
    let tmp = target_dir().join(format!("test-tls.{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp).unwrap();
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(&tmp)
            .output()
            .expect("openssl is needed for the TLS test server: apt-get install openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    fs::write(
        tmp.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "3650",
        "-subj",
        "/CN=db-backup test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "3650",
        "-out",
        "server.pem",
        "-extfile",
        "server.ext",
    ]);
    // Another process may have won the race: either set of files is as good.
    if fs::rename(&tmp, &dir).is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    dir
}

/// Where one of our servers lives, seen from the host and from the server.
struct Place {
    flavor: Flavor,
    kind: Kind,
    /// Its folder on the host: data, tmp, tls, socket, error.log, lock, pid, port, ready.
    dir: PathBuf,
    /// MySQL: the chroot it runs in.
    root: Option<PathBuf>,
}

impl Place {
    fn new(flavor: Flavor, kind: Kind) -> Place {
        let (dir, root) = match flavor {
            Flavor::MariaDb => (harness_dir().join(kind.name()), None),
            Flavor::MySql => {
                assert!(
                    is_root(),
                    "the MySQL test server runs in a chroot: run the tests as root"
                );
                let root = super::super::sid_root(MISSING_MYSQL);
                (root.join("srv").join(kind.name()), Some(root))
            }
        };
        Place {
            flavor,
            kind,
            dir,
            root,
        }
    }

    /// A path in its folder as the server and its stock programs see it.
    /// The server of this place on `port`, as root with `password`.
    fn server(&self, port: u16, password: &str) -> Server {
        Server {
            flavor: self.flavor,
            label: self.kind.name(),
            host: "127.0.0.1".into(),
            port,
            socket: Some(app_socket(&self.dir.join("mysqld.sock"))),
            user: "root".into(),
            password: password.into(),
            root: self.root.clone(),
            client_socket: Some(self.inside("mysqld.sock")),
        }
    }

    fn inside(&self, name: &str) -> PathBuf {
        match &self.root {
            Some(root) => Path::new("/")
                .join(self.dir.strip_prefix(root).unwrap())
                .join(name),
            None => self.dir.join(name),
        }
    }

    fn daemon(&self) -> &'static str {
        match self.flavor {
            Flavor::MariaDb => "mariadbd",
            Flavor::MySql => "mysqld",
        }
    }

    /// True when `pid` is this place's server (the pid may belong to something else by now).
    fn is_ours(&self, pid: u32) -> bool {
        let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
            return false;
        };
        let cmdline = String::from_utf8_lossy(&cmdline);
        let data = self.inside("data").display().to_string();
        // A chrooted server names its folder as seen from inside: its root says whose it is.
        let same_root = match &self.root {
            Some(root) => {
                fs::read_link(format!("/proc/{pid}/root")).ok() == root.canonicalize().ok()
            }
            None => true,
        };
        same_root && cmdline.contains(self.daemon()) && cmdline.contains(&data)
    }
}

/// Finds our own server of this flavor and kind, or starts it; the file lock serialises the
/// test processes, so only the first one starts it.
fn own(flavor: Flavor, kind: Kind) -> Server {
    if flavor == Flavor::MariaDb {
        for name in ["mariadbd", "mariadb-install-db", "mariadb"] {
            bin(name);
        }
    }
    let place = Place::new(flavor, kind);
    let dir = &place.dir;
    fs::create_dir_all(dir).unwrap();
    let lock = File::create(dir.join("lock")).unwrap();
    lock.lock().expect("lock the test server's folder");

    let make = |port, password: &str| place.server(port, password);
    if let Some(port) = running(&place) {
        return make(port, ROOT_PASSWORD);
    }

    stop_stale(&place);
    fresh_folder(&place);
    let (child, port) = start_on_free_port(&place);

    set_root_password(&make(port, ""));
    let server = make(port, ROOT_PASSWORD);
    if kind == Kind::Odd {
        paris(&server);
    }

    fs::write(dir.join("pid"), format!("{}\n", child.id())).unwrap();
    fs::write(dir.join("port"), format!("{port}\n")).unwrap();
    fs::write(dir.join("ready"), READY_MARK).unwrap();
    // The server outlives this test process on purpose (its own session, stdio not ours).
    drop(child);
    drop(lock);
    server
}

/// Its folder made anew: empty tmp, the TLS files, fresh data.
fn fresh_folder(place: &Place) {
    let dir = &place.dir;
    for sub in ["data", "tmp", "tls"] {
        let _ = fs::remove_dir_all(dir.join(sub));
    }
    let _ = fs::remove_file(dir.join("mysqld.sock"));
    fs::create_dir_all(dir.join("tmp")).unwrap();
    fs::create_dir_all(dir.join("tls")).unwrap();
    for f in ["ca.pem", "server.pem", "server.key"] {
        fs::copy(tls_files().join(f), dir.join("tls").join(f)).unwrap();
    }
    make_data(place);
}

/// Starts the server on a free port (another one if that port was taken meanwhile) and waits
/// until it answers.
fn start_on_free_port(place: &Place) -> (Child, u16) {
    let mut tries = 0;
    loop {
        tries += 1;
        let port = closed_port();
        let mut child = start(place, port);
        match wait_ready(&mut child, place) {
            Ok(()) => return (child, port),
            Err(log) if tries < 4 && log.contains("Bind on TCP/IP port") => continue,
            Err(log) => panic!(
                "{} did not start (port {port}); error log:\n{log}",
                place.daemon()
            ),
        }
    }
}

/// A fresh data folder: `mariadb-install-db`, or a copy of the one initialised in the chroot.
fn make_data(place: &Place) {
    let data = place.dir.join("data");
    let out = match &place.root {
        Some(root) => {
            // `cp -a` keeps what mysqld --initialize made exactly; the copy gets its own
            // server UUID (auto.cnf), so that its GTIDs are its own.
            let out = Command::new("cp")
                .arg("-a")
                .arg(root.join("srv/initialized"))
                .arg(&data)
                .output()
                .expect("run cp");
            let _ = fs::remove_file(data.join("auto.cnf"));
            out
        }
        None => {
            let mut install = Command::new(bin("mariadb-install-db"));
            install
                .arg("--no-defaults")
                .arg("--auth-root-authentication-method=normal")
                .arg("--skip-test-db")
                .arg("--skip-name-resolve")
                .arg(format!("--datadir={}", data.display()));
            if is_root() {
                install.arg("--user=root");
            }
            install.output().expect("run mariadb-install-db")
        }
    };
    assert!(
        out.status.success(),
        "making the data folder {} failed ({}): {}{}",
        data.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn start(place: &Place, port: u16) -> Child {
    let log = place.dir.join("error.log");
    let _ = fs::remove_file(&log);
    let p = |name: &str| place.inside(name).display().to_string();
    let mut cmd = match &place.root {
        Some(root) => {
            let mut c = Command::new("chroot");
            c.arg(root).arg("/usr/sbin/mysqld");
            c
        }
        None => Command::new(bin("mariadbd")),
    };
    cmd.arg("--no-defaults")
        .arg(format!("--datadir={}", p("data")))
        .arg(format!("--socket={}", p("mysqld.sock")))
        .arg(format!("--port={port}"))
        .arg("--bind-address=127.0.0.1")
        .arg(format!("--pid-file={}", p("server.pid")))
        .arg(format!("--log-error={}", p("error.log")))
        .arg(format!("--tmpdir={}", p("tmp")))
        .arg("--skip-name-resolve")
        .arg("--event-scheduler=OFF")
        .arg("--max-connections=300")
        // A throwaway server: durability is not what the tests measure.
        .arg("--innodb-flush-log-at-trx-commit=0")
        .arg("--innodb-doublewrite=OFF")
        .arg(format!("--ssl-ca={}", p("tls/ca.pem")))
        .arg(format!("--ssl-cert={}", p("tls/server.pem")))
        .arg(format!("--ssl-key={}", p("tls/server.key")))
        .args(place.kind.args(place.flavor));
    match place.flavor {
        Flavor::MariaDb if place.kind == Kind::Binlog => cmd.args([
            "--server-id=1",
            "--log-bin=binlog",
            "--log-bin-trust-function-creators=ON",
            "--sync-binlog=0",
        ]),
        Flavor::MariaDb => cmd.arg("--skip-log-bin"),
        // MySQL's defaults (binary log on) plus GTIDs, as the later mysqldump tests need.
        Flavor::MySql => cmd.args([
            "--mysqlx=OFF",
            "--server-id=1",
            "--log-bin=binlog",
            "--gtid-mode=ON",
            "--enforce-gtid-consistency=ON",
            "--log-bin-trust-function-creators=ON",
            "--sync-binlog=0",
            "--performance-schema=OFF",
        ]),
    };
    if is_root() {
        cmd.arg("--user=root");
    }
    cmd.current_dir(&place.dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // Its own session: nextest's process-group handling of this test must not reach it.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    cmd.spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", place.daemon()))
}

/// The root account gets a password; MariaDB's also loses its network twins and the anonymous
/// users (MySQL's `--initialize-insecure` makes only root@localhost).
fn set_root_password(root: &Server) {
    let sql = match root.flavor {
        Flavor::MariaDb => format!(
            "DELETE FROM mysql.global_priv WHERE User = '' OR (User = 'root' AND Host <> 'localhost');
             FLUSH PRIVILEGES;
             ALTER USER 'root'@'localhost' IDENTIFIED BY '{ROOT_PASSWORD}';"
        ),
        Flavor::MySql => format!("ALTER USER 'root'@'localhost' IDENTIFIED BY '{ROOT_PASSWORD}';"),
    };
    run_sql(root.client("root", ""), None, &sql);
}

/// Loads the Europe/Paris zone (with the flavor's own tzinfo-to-sql) and makes it global.
/// A zone with DST: a dump read in the server's zone instead of UTC cannot tell apart the two
/// instants that both print as 02:30 on the night summer time ends.
fn paris(server: &Server) {
    let zone = "/usr/share/zoneinfo/Europe/Paris";
    let tool = match server.flavor {
        Flavor::MariaDb => "mariadb-tzinfo-to-sql",
        Flavor::MySql => "mysql_tzinfo_to_sql",
    };
    let mut cmd = match server.flavor {
        Flavor::MariaDb => {
            assert!(
                Path::new(zone).exists(),
                "{zone} missing: apt-get install tzdata"
            );
            Command::new(bin(tool))
        }
        Flavor::MySql => server.command(tool),
    };
    let tz = cmd.arg(zone).arg("Europe/Paris").output().expect(tool);
    assert!(
        tz.status.success(),
        "{tool}: {}",
        String::from_utf8_lossy(&tz.stderr)
    );
    run_sql(
        server.admin(),
        Some("mysql"),
        &String::from_utf8_lossy(&tz.stdout),
    );
    server.admin_sql(None, "SET GLOBAL time_zone = 'Europe/Paris';");
}

/// Waits until the server greets on its socket; Err(error log) if it exits or takes too long.
fn wait_ready(child: &mut Child, place: &Place) -> Result<(), String> {
    let start = Instant::now();
    let log = || fs::read_to_string(place.dir.join("error.log")).unwrap_or_default();
    loop {
        if answers(&place.dir.join("mysqld.sock")) {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("{} exited ({status})\n{}", place.daemon(), log()));
        }
        if start.elapsed() > READY_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("not ready after {READY_TIMEOUT:?}\n{}", log()));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Our server of this place, if it is up and set up: its port.
fn running(place: &Place) -> Option<u16> {
    if fs::read_to_string(place.dir.join("ready")).ok()?.trim() != READY_MARK {
        return None;
    }
    let pid = read_number(&place.dir.join("pid"))?;
    let port = read_number(&place.dir.join("port"))?;
    (place.is_ours(pid as u32) && answers(&place.dir.join("mysqld.sock"))).then_some(port as u16)
}

/// Kills what is left of a previous server of this place (crashed set-up, stuck shutdown).
fn stop_stale(place: &Place) {
    let _ = fs::remove_file(place.dir.join("ready"));
    if let Some(pid) = read_number(&place.dir.join("pid")) {
        let pid = pid as u32;
        if place.is_ours(pid) {
            unsafe {
                libc::kill(pid as i32, libc::SIGKILL);
            }
            let start = Instant::now();
            while place.is_ours(pid) && start.elapsed() < Duration::from_secs(20) {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
    let _ = fs::remove_file(place.dir.join("pid"));
    let _ = fs::remove_file(place.dir.join("port"));
}

/// True when a server greets on this socket (protocol version 10 handshake).
fn answers(socket: &Path) -> bool {
    let Ok(mut s) = UnixStream::connect(socket) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut head = [0u8; 5];
    s.read_exact(&mut head).is_ok() && head[4] == 10
}

/// The socket path the app is given: the real one, or a short symlink to it when the real one
/// is too long for sun_path (the server's folder is deep inside the target folder).
fn app_socket(real: &Path) -> PathBuf {
    if real.as_os_str().len() < 100 {
        return real.to_path_buf();
    }
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    real.hash(&mut h);
    let link = std::env::temp_dir().join(format!("db-backup-test-{:x}.sock", h.finish()));
    if fs::read_link(&link).ok().as_deref() != Some(real) {
        // Made aside and renamed over: other test processes may be doing the same.
        let tmp = link.with_extension(format!("{}", std::process::id()));
        let _ = fs::remove_file(&tmp);
        std::os::unix::fs::symlink(real, &tmp).unwrap();
        fs::rename(&tmp, &link).unwrap();
    }
    link
}

fn read_number(path: &Path) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn is_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

/// A MariaDB program: on PATH, or in the sbin folders that are often not on PATH.
pub(super) fn bin(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let extra = ["/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin"];
    std::env::split_paths(&path)
        .chain(extra.iter().map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| {
            p.metadata()
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
        .unwrap_or_else(|| panic!("{MISSING_MARIADB} ({name} is not on PATH nor in /usr/sbin)"))
}
