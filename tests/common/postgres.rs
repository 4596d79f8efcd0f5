//! Our own PostgreSQL test servers: a throwaway cluster (`initdb` + `pg_ctl`) per server
//! version, on a free 127.0.0.1 port with its socket in its folder, password authentication
//! (scram-sha-256) for every user, and TLS with the harness's CA (tests/common/mysql: the same
//! certificate for 127.0.0.1 and localhost) beside plain connections. nextest runs each test in
//! its own process, so a cluster is shared: a file lock makes the first process start it, the
//! next ones find it through its `port` file, and `scripts/test` stops it at the end.
//!
//! Two servers, the same assertions on both (`on_each_pg!`): PostgreSQL 15 from this Debian
//! release (`apt-get install postgresql`, which scripts/test does), in
//! `<target>/test-postgres/15/`; and the newest PostgreSQL Debian has, from sid, which runs in
//! the sid chroot scripts/sid-chroot makes (with MySQL 9.7), in `<root>/srv/postgres-<version>/`.
//! `initdb` refuses to run as root: as root the cluster belongs to the `postgres` user the
//! package creates (in the chroot, the chroot's own), and its programs run as that user
//! (`runuser`). The stock clients of each server are its own version's (psql, pg_dump); the
//! older client of the "loadable by older psql" check is this Debian's 15.
//!
//! Each test gets a database of its own, owned by a user of its own (no CREATEDB unless asked),
//! so tests never see one another's objects.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use super::{App, ClientFile};

const SUPER_PASSWORD: &str = "harness-Pg-super-7";
/// psql for scripts: no psqlrc, quiet, bare values, stop at the first error.
const PSQL_QUIET: [&str; 6] = ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"];
/// What a cluster made by this harness says in its `harness` file: an older one is made again.
const HARNESS: &str = "tls-only role, ssl on; 2";
/// This Debian release's PostgreSQL.
const DEBIAN_BIN: &str = "/usr/lib/postgresql/15/bin";
const MISSING: &str = "PostgreSQL 15 server binaries not found at /usr/lib/postgresql/15/bin: apt-get install postgresql (scripts/test does it)";
const MISSING_NEWEST: &str = "the newest PostgreSQL test server runs in a Debian sid chroot that scripts/test makes (as root, with mmdebstrap: apt-get install mmdebstrap); make it by hand with scripts/sid-chroot";

/// A running cluster.
pub struct Server {
    /// Its programs' folder, as the server sees it (inside its chroot, if any).
    pub bin: PathBuf,
    /// The chroot it runs in (the newest version), or None (this Debian's).
    pub root: Option<PathBuf>,
    pub port: u16,
    /// Its socket's folder, on the host.
    pub socket_dir: PathBuf,
    /// Major version: "15", "18".
    pub version: String,
}

fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR has a parent (the target dir)")
        .to_path_buf()
}

fn is_root() -> bool {
    std::env::var("USER").map(|u| u == "root").unwrap_or(false)
        || Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
            .unwrap_or(false)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The shared PostgreSQL 15 server (this Debian release's).
pub fn pg15() -> &'static Server {
    static S: OnceLock<Server> = OnceLock::new();
    S.get_or_init(|| {
        assert!(Path::new(DEBIAN_BIN).join("postgres").exists(), "{MISSING}");
        start("15".into(), Path::new(DEBIAN_BIN), None)
    })
}

/// The shared newest PostgreSQL server (Debian sid's, in the sid chroot).
pub fn newest() -> &'static Server {
    static S: OnceLock<Server> = OnceLock::new();
    S.get_or_init(|| {
        assert!(
            is_root(),
            "the newest PostgreSQL test server runs in a chroot: run the tests as root"
        );
        let root = super::sid_root(MISSING_NEWEST);
        let version = fs::read_dir(root.join("usr/lib/postgresql"))
            .unwrap_or_else(|e| panic!("no PostgreSQL in the sid chroot ({e}): {MISSING_NEWEST}"))
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .max()
            .unwrap_or_else(|| panic!("no PostgreSQL in the sid chroot: {MISSING_NEWEST}"));
        let bin = PathBuf::from(format!("/usr/lib/postgresql/{version}/bin"));
        start(version.to_string(), &bin, Some(root))
    })
}

/// Makes each `fn name(server: &'static Server)` two tests, `name::pg15` and `name::newest`:
/// the same assertions on this Debian's PostgreSQL 15 and on the newest (Debian sid's).
/// Written just above the function: `on_each_pg!(name);`.
#[macro_export]
macro_rules! on_each_pg {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[test]
            fn pg15() {
                super::$name($crate::common::postgres::pg15())
            }

            #[test]
            fn newest() {
                super::$name($crate::common::postgres::newest())
            }
        }
    )+};
}

/// What the cluster's folder and its programs look like from where the server runs.
struct Place<'a> {
    bin: &'a Path,
    root: Option<&'a Path>,
}

impl Place<'_> {
    /// A host path as the server sees it.
    fn inside(&self, host: &Path) -> PathBuf {
        match self.root {
            Some(root) => Path::new("/").join(host.strip_prefix(root).unwrap()),
            None => host.to_path_buf(),
        }
    }

    /// A command of the server's own programs, as the cluster's owner.
    fn as_owner(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        let mut c = match self.root {
            Some(root) => {
                let mut c = Command::new("chroot");
                c.arg(root).args(["runuser", "-u", "postgres", "--"]);
                c
            }
            None if is_root() => {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]);
                c
            }
            None => return Command::new(program),
        };
        c.arg(program);
        c
    }

    /// Gives a host path to the cluster's owner.
    fn chown(&self, host: &Path) {
        let mut c = match self.root {
            Some(root) => {
                let mut c = Command::new("chroot");
                c.arg(root).arg("chown");
                c
            }
            None if is_root() => Command::new("chown"),
            None => return,
        };
        let ok = c
            .arg("postgres:postgres")
            .arg(self.inside(host))
            .status()
            .unwrap()
            .success();
        assert!(ok, "chown postgres {}", host.display());
    }
}

fn start(version: String, bin: &Path, root: Option<PathBuf>) -> Server {
    let dir = match &root {
        Some(root) => root.join("srv").join(format!("postgres-{version}")),
        None => target_dir().join("test-postgres").join(&version),
    };
    fs::create_dir_all(&dir).unwrap();
    let lock = File::create(dir.join("lock")).unwrap();
    lock.lock().expect("lock the test server's folder");
    let server = |port| Server {
        bin: bin.to_path_buf(),
        root: root.clone(),
        port,
        socket_dir: dir.clone(),
        version: version.clone(),
    };
    if let Some(port) = fs::read_to_string(dir.join("port"))
        .ok()
        .and_then(|p| p.trim().parse().ok())
    {
        let s = server(port);
        let current = fs::read_to_string(dir.join("harness")).ok().as_deref() == Some(HARNESS);
        if current && s.psql_super("postgres", "SELECT 1").status.success() {
            return s;
        }
    }
    let place = Place {
        bin,
        root: root.as_deref(),
    };
    // A fresh cluster: stop what may be left of an old one, then initdb.
    let data = dir.join("data");
    if data.exists() {
        let _ = place
            .as_owner("pg_ctl")
            .arg("-D")
            .arg(place.inside(&data))
            .args(["-m", "immediate", "stop"])
            .output();
        fs::remove_dir_all(&data).unwrap();
    }
    let pw = dir.join("pwfile");
    fs::write(&pw, SUPER_PASSWORD).unwrap();
    place.chown(&dir);
    place.chown(&pw);
    let out = place
        .as_owner("initdb")
        .arg("-D")
        .arg(place.inside(&data))
        .args([
            "-U",
            "postgres",
            "--auth=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        ])
        .arg(format!("--pwfile={}", place.inside(&pw).display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "initdb: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Members of tls_only may connect over TLS only: the TLS test proves TLS was used.
    let hba = data.join("pg_hba.conf");
    let rules = fs::read_to_string(&hba).unwrap();
    fs::write(
        &hba,
        format!("hostnossl all +tls_only 127.0.0.1/32 reject\n{rules}"),
    )
    .unwrap();
    // TLS with the harness's CA: the server's key must belong to its owner, mode 0600.
    let tls = super::mysql::tls_files();
    for name in ["server.pem", "server.key"] {
        let to = dir.join(name);
        fs::copy(tls.join(name), &to).unwrap();
        fs::set_permissions(&to, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        place.chown(&to);
    }
    let port = free_port();
    let inside = |name: &str| place.inside(&dir.join(name)).display().to_string();
    let out = place
        .as_owner("pg_ctl")
        .arg("-D")
        .arg(place.inside(&data))
        .arg("-l")
        .arg(place.inside(&dir.join("log")))
        .arg("-o")
        .arg(format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200 \
             -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
            place.inside(&dir).display(),
            inside("server.pem"),
            inside("server.key"),
        ))
        .args(["-w", "-t", "60", "start"])
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pg_ctl start: {} {}",
        String::from_utf8_lossy(&out.stderr),
        fs::read_to_string(dir.join("log")).unwrap_or_default()
    );
    fs::write(dir.join("port"), format!("{port}\n")).unwrap();
    let s = server(port);
    s.admin_sql("postgres", "CREATE ROLE tls_only NOLOGIN");
    fs::write(dir.join("harness"), HARNESS).unwrap();
    s
}

impl Server {
    /// A client program of the server's version (psql, pg_dump, pg_restore).
    pub fn program(&self, name: &str, user: &str, password: &str) -> Command {
        let mut c = match &self.root {
            Some(root) => {
                let mut c = Command::new("chroot");
                c.arg(root).arg(self.bin.join(name));
                c
            }
            None => Command::new(self.bin.join(name)),
        };
        Self::client_env(&mut c, self.port, user, password);
        c
    }

    /// This Debian's client program (PostgreSQL 15), older than the newest server's: for the
    /// check that a file loads with an older psql too.
    pub fn older_program(&self, name: &str, user: &str, password: &str) -> Command {
        let mut c = Command::new(Path::new(DEBIAN_BIN).join(name));
        Self::client_env(&mut c, self.port, user, password);
        c
    }

    /// A host file as this server's own clients see it (a copy in the chroot for the newest).
    pub fn client_file(&self, file: &Path) -> ClientFile {
        ClientFile::new(self.root.as_deref(), file)
    }

    fn client_env(c: &mut Command, port: u16, user: &str, password: &str) {
        c.env("PGPASSWORD", password)
            .env("PGHOST", "127.0.0.1")
            .env("PGPORT", port.to_string())
            .env("PGUSER", user)
            .env_remove("PGDATABASE")
            .env("PGCONNECT_TIMEOUT", "10")
            // The harness's connections need no TLS; the TLS test asks for it itself.
            .env("PGSSLMODE", "disable");
    }

    fn psql_super(&self, db: &str, sql: &str) -> Output {
        self.program("psql", "postgres", SUPER_PASSWORD)
            .args(PSQL_QUIET)
            .args(["-d", db, "-c", sql])
            .output()
            .unwrap()
    }

    /// Runs SQL as the superuser; panics on failure.
    pub fn admin_sql(&self, db: &str, sql: &str) -> String {
        let out = self.psql_super(db, sql);
        assert!(
            out.status.success(),
            "{sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// A database of one test, owned by a user of its own.
pub struct PgDb {
    pub server: &'static Server,
    pub name: String,
    pub user: String,
    pub password: String,
}

fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}_{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
            % 100_000
    )
}

impl PgDb {
    /// A new empty database owned by a new user; `createdb`: the user may create databases
    /// (verify needs it).
    pub fn new(server: &'static Server, createdb: bool) -> PgDb {
        let user = unique("u");
        let name = unique("db");
        let password = "p@ss:w/rd\"$ ;x".to_string();
        server.admin_sql(
            "postgres",
            &format!(
                "CREATE ROLE {user} LOGIN PASSWORD '{}' {}",
                password.replace('\'', "''"),
                if createdb { "CREATEDB" } else { "NOCREATEDB" }
            ),
        );
        server.admin_sql(
            "postgres",
            &format!("CREATE DATABASE {name} OWNER {user} TEMPLATE template0"),
        );
        // PostgreSQL 15: the public schema belongs to the database owner already.
        PgDb {
            server,
            name,
            user,
            password,
        }
    }

    /// From now on the user may connect over TLS only (pg_hba rejects it otherwise).
    pub fn tls_only(&self) {
        self.server
            .admin_sql("postgres", &format!("GRANT tls_only TO {}", self.user));
    }

    /// Another database for the same user (a restore target).
    pub fn sibling(&self) -> PgDb {
        let name = unique("db");
        self.server.admin_sql(
            "postgres",
            &format!(
                "CREATE DATABASE {name} OWNER {} TEMPLATE template0",
                self.user
            ),
        );
        PgDb {
            server: self.server,
            name,
            user: self.user.clone(),
            password: self.password.clone(),
        }
    }

    pub fn psql(&self) -> Command {
        let mut c = self.server.program("psql", &self.user, &self.password);
        c.args(PSQL_QUIET).args(["-d", &self.name]);
        c
    }

    /// Runs SQL as the database's owner; panics on failure.
    pub fn sql(&self, sql: &str) -> String {
        let out = self.psql().args(["-c", sql]).output().unwrap();
        assert!(
            out.status.success(),
            "{sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs a script file as the database's owner; panics on failure.
    pub fn sql_file(&self, file: &Path) {
        let f = self.server.client_file(file);
        let out = self.psql().arg("-f").arg(&f.path).output().unwrap();
        assert!(
            out.status.success(),
            "psql -f {}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The stock client's load of a file (`psql -v ON_ERROR_STOP=1 -f FILE`).
    pub fn psql_load(&self, file: &Path) -> Output {
        let f = self.server.client_file(file);
        self.psql().arg("-f").arg(&f.path).output().unwrap()
    }

    /// The same load by this Debian's psql 15 (older than the newest server's).
    pub fn older_psql_load(&self, file: &Path) -> Output {
        self.server
            .older_program("psql", &self.user, &self.password)
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &self.name, "-f"])
            .arg(file)
            .output()
            .unwrap()
    }

    /// The `.env` of an app on this database.
    pub fn env_text(&self) -> String {
        format!(
            "DB_CONNECTION=pgsql\nDB_HOST=127.0.0.1\nDB_PORT={}\nDB_DATABASE={}\nDB_USERNAME={}\nDB_PASSWORD='{}'\n",
            self.server.port, self.name, self.user, self.password
        )
    }

    pub fn app(&self) -> App {
        App::bare(&self.env_text())
    }

    /// `pg_dump --schema-only --no-owner --no-acl`, without the lines that differ from run to
    /// run (`\restrict` keys, the version comment).
    pub fn schema(&self) -> Vec<String> {
        let out = self
            .server
            .program("pg_dump", &self.user, &self.password)
            .args(["--schema-only", "--no-owner", "--no-acl", "-d", &self.name])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_dump: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
            .filter(|l| !l.starts_with("-- Dumped "))
            .map(str::to_string)
            .collect()
    }

    /// Every table's own rows (md5 of the ordered rows; an inheritance parent's without its
    /// children's) and every sequence's state.
    pub fn data(&self) -> Vec<String> {
        let tables = self.sql(
            "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
               AND c.relkind IN ('r', 'm') AND c.relispopulated ORDER BY 1",
        );
        let mut out = Vec::new();
        for t in tables.lines().filter(|l| !l.is_empty()) {
            let sum = self.sql(&format!(
                "SELECT count(*) || ' ' || coalesce(md5(string_agg(x::text, E'\\n' ORDER BY x::text)), '-') FROM ONLY {t} x"
            ));
            out.push(format!("{t}: {}", sum.trim()));
        }
        let seqs = self.sql(
            "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'S' ORDER BY 1",
        );
        for s in seqs.lines().filter(|l| !l.is_empty()) {
            let v = self.sql(&format!("SELECT last_value || ' ' || is_called FROM {s}"));
            out.push(format!("{s}: {}", v.trim()));
        }
        out
    }

    /// Asserts that `copy` holds the same schema (text for text) and the same rows.
    pub fn assert_same_as(&self, copy: &PgDb) {
        let (a, b) = (self.schema(), copy.schema());
        if a != b {
            let first = a
                .iter()
                .zip(&b)
                .position(|(x, y)| x != y)
                .unwrap_or(a.len().min(b.len()));
            panic!(
                "schemas differ at line {first}:\n  source: {:?}\n  copy:   {:?}\n(source {} lines, copy {})",
                a.get(first),
                b.get(first),
                a.len(),
                b.len()
            );
        }
        assert_eq!(self.data(), copy.data(), "rows or sequences differ");
    }
}

/// A real-world schema's SQL file (Debian's own packages, unpacked by scripts/pg-samples,
/// which runs here if they are missing): `usr/share/…` inside them.
pub fn sample(path: &str) -> PathBuf {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let tools = std::env::var_os("DB_BACKUP_TOOLS")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                Path::new(&std::env::var_os("HOME").unwrap_or_default())
                    .join(".cache/db-backup/tools")
            });
        let dir = tools.join("pg-samples");
        super::setup_script("scripts/pg-samples", &dir).map(|()| dir.join("root"))
    });
    match dir {
        Ok(d) => d.join(path),
        Err(e) => panic!(
            "{e}; the real-world schemas come from Debian's zabbix-server-pgsql, davical and libawl-php packages (scripts/pg-samples, which scripts/test runs, downloads them with apt-get download)"
        ),
    }
}
