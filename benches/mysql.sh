#!/usr/bin/env bash
# Benchmark (not a test): db-backup's MySQL/MariaDB dump versus the server's own dump tool on a
# ~400 MB stock database (2 million rows) plus ~100 MB of blobs, on throwaway servers of its own:
# MariaDB 10.11 (mariadb-dump, from this machine's packages) then MySQL 9.7 (mysqldump, in the
# Debian sid chroot the tests use, made by scripts/sid-chroot), the same data on each.
# Times the dumps (socket and TCP), their peak RSS and CPU (client and server), the loads of both
# files into fresh databases, and checks that our file reloads to the same CHECKSUM TABLE.
# See benches/README.md ("mysql.sh") for the knobs. Exits 0 unless something crashed: the
# verdicts it prints are informational.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
# shellcheck source=benches/common.sh
source "$HERE/common.sh"

# One server per run of this script: with no BENCH_FLAVOR, it runs itself for each of them.
BENCH_SERVERS=${BENCH_SERVERS:-mariadb mysql}
if [[ -z ${BENCH_FLAVOR:-} ]]; then
    for flavor in $BENCH_SERVERS; do
        BENCH_FLAVOR=$flavor "${BASH_SOURCE[0]}"
    done
    exit 0
fi
[[ $BENCH_FLAVOR == mariadb || $BENCH_FLAVOR == mysql ]] ||
    { echo "mysql.sh: BENCH_FLAVOR must be mariadb or mysql (got '$BENCH_FLAVOR')" >&2; exit 1; }
# The MySQL chroot, where the shared target folder keeps it (the release build below may go to
# another target folder).
MYSQL_ROOT=${BENCH_MYSQL_ROOT:-${CARGO_TARGET_DIR:-$ROOT/target}/test-sid/root}

if [[ $BENCH_FLAVOR == mysql ]]; then
    # Inside the chroot: the server and its clients must see it.
    BENCH_DIR=${BENCH_MYSQL_DIR:-$MYSQL_ROOT/srv/db-backup-bench}
else
    BENCH_DIR=${BENCH_DIR:-/tmp/db-backup-bench-mysql}
fi
BENCH_RUNS=${BENCH_RUNS:-3}
BENCH_LOAD_RUNS=${BENCH_LOAD_RUNS:-2}
BENCH_ROWS=${BENCH_ROWS:-2000000}
BENCH_BLOB_MB=${BENCH_BLOB_MB:-100}
if [[ $BENCH_FLAVOR == mysql ]]; then BENCH_PORT=${BENCH_MYSQL_PORT:-33992}; else BENCH_PORT=${BENCH_PORT:-33991}; fi
BENCH_BUFFER_POOL=${BENCH_BUFFER_POOL:-1G}
BENCH_TCP=${BENCH_TCP:-1}
BENCH_HEX_BLOB=${BENCH_HEX_BLOB:-1}
BENCH_LOAD_NOAC=${BENCH_LOAD_NOAC:-1}
BENCH_IDLE_WAIT=${BENCH_IDLE_WAIT:-120}
BENCH_BIN=${BENCH_BIN:-}
# Another db-backup binary (say, the previous release) whose restore is timed in the same run.
BENCH_BIN_BEFORE=${BENCH_BIN_BEFORE:-}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/bench-target}

DB=stock
USER_NAME=bench
USER_PW=bench-Pw-4711
SCHEMA_VERSION=1


for n in BENCH_RUNS BENCH_LOAD_RUNS BENCH_ROWS BENCH_BLOB_MB BENCH_PORT BENCH_IDLE_WAIT; do
    if ! [[ ${!n} =~ ^[0-9]+$ ]] || ((${!n} == 0)); then
        die "$n must be a positive whole number (got '${!n}')"
    fi
done
((BENCH_ROWS >= 1000)) || die "BENCH_ROWS must be at least 1000"
((BENCH_RUNS >= 3)) || log "warning: BENCH_RUNS=$BENCH_RUNS; medians of fewer than 3 runs are noisy"
if [[ $BENCH_FLAVOR == mysql ]]; then
    ((EUID == 0)) || die "the MySQL 9.7 server runs in a chroot: run as root (or BENCH_SERVERS=mariadb)"
    if [[ ! -x $MYSQL_ROOT/usr/sbin/mysqld ]]; then
        log "making the MySQL 9.7 chroot at $MYSQL_ROOT (scripts/sid-chroot)"
        "$ROOT/scripts/sid-chroot" "$MYSQL_ROOT" || die "no MySQL chroot (see scripts/sid-chroot)"
    fi
    SERVER_NAME=MySQL
    SERVERD=(chroot "$MYSQL_ROOT" /usr/sbin/mysqld)
    CLIENT=(chroot "$MYSQL_ROOT" /usr/bin/mysql)
    DUMPER=(chroot "$MYSQL_ROOT" /usr/bin/mysqldump)
    DUMP_NAME=mysqldump
    CLIENT_NAME=mysql
    RECURSION_VAR=cte_max_recursion_depth
else
    for b in mariadbd mariadb-install-db mariadb mariadb-dump mariadb-admin; do
        command -v "$b" >/dev/null || PATH=$PATH:/usr/sbin:/sbin
        command -v "$b" >/dev/null || die "needs $b (apt-get install -y mariadb-server mariadb-client)"
    done
    SERVER_NAME=MariaDB
    SERVERD=(mariadbd)
    CLIENT=(mariadb)
    DUMPER=(mariadb-dump)
    DUMP_NAME=mariadb-dump
    CLIENT_NAME=mariadb
    RECURSION_VAR=max_recursive_iterations
fi
[[ -x /usr/bin/time ]] || die "needs GNU time for peak RSS (apt-get install -y time)"

# --- the binary -----------------------------------------------------------------------------
build_bin

# --- the server -----------------------------------------------------------------------------
mkdir -p "$BENCH_DIR"
BENCH_DIR=$(cd "$BENCH_DIR" && pwd)
# BENCH_DIR as the server and the stock programs see it.
IN=$BENCH_DIR
if [[ $BENCH_FLAVOR == mysql ]]; then
    root_abs=$(cd "$MYSQL_ROOT" && pwd)
    [[ $BENCH_DIR == "$root_abs"/* ]] || die "BENCH_MYSQL_DIR must be inside the chroot $root_abs"
    IN=/${BENCH_DIR#"$root_abs"/}
fi
DATA=$BENCH_DIR/data
SOCK=$BENCH_DIR/server.sock
PIDFILE=$BENCH_DIR/server.pid
ERRLOG=$BENCH_DIR/error.log
CNF=$BENCH_DIR/client.cnf
RES=$BENCH_DIR/results
OUT=$BENCH_DIR/out
SERVER_PID=

if ((EUID == 0)); then ADMIN_USER=root; else ADMIN_USER=$(id -un); fi
# The admin connects over the socket: MariaDB's root with unix_socket authentication, MySQL's
# with the empty password of --initialize-insecure (a server on 127.0.0.1 that lives here).
admin() { "${CLIENT[@]}" --no-defaults --socket="$IN/server.sock" --user="$ADMIN_USER" --batch --skip-column-names "$@"; }

is_our_server() { # pid
    [[ -r /proc/$1/cmdline ]] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -q -- "--datadir=$IN/data "
}

stop_server() {
    [[ -n $SERVER_PID ]] || return 0
    if is_our_server "$SERVER_PID"; then
        log "stopping ${SERVERD[-1]##*/} (pid $SERVER_PID)"
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 600); do is_our_server "$SERVER_PID" || break; sleep 0.1; done
        if is_our_server "$SERVER_PID"; then kill -KILL "$SERVER_PID" 2>/dev/null || true; fi
    fi
    SERVER_PID=
}
cleanup() {
    local rc=$?
    if [[ -n $SERVER_PID ]] && [[ -S $SOCK ]]; then
        # The load databases are scratch: do not keep them in the cached datadir.
        admin -e "DROP DATABASE IF EXISTS ${DB}_load_ours; DROP DATABASE IF EXISTS ${DB}_load_dump;
                  DROP DATABASE IF EXISTS ${DB}_load_ours_noac;" \
            2>/dev/null || true
    fi
    stop_server
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A server left over by an interrupted run of this script (same datadir) is ours to stop.
if [[ -r $PIDFILE ]]; then
    old=$(cat "$PIDFILE" 2>/dev/null || true)
    if [[ $old =~ ^[0-9]+$ ]] && is_our_server "$old"; then
        log "stopping a leftover server of this datadir (pid $old)"
        SERVER_PID=$old
        stop_server
    fi
fi
if ss -ltn 2>/dev/null | awk '{ print $4 }' | grep -qE "[:.]$BENCH_PORT\$"; then
    die "port $BENCH_PORT is taken: set BENCH_PORT"
fi

if [[ ! -f $DATA/.bench-installed ]]; then
    rm -rf "$DATA"
    if [[ $BENCH_FLAVOR == mysql ]]; then
        # The data folder scripts/sid-chroot initialised (root@localhost, empty password).
        log "copying the chroot's initialised MySQL data folder into $DATA"
        cp -a "$MYSQL_ROOT/srv/initialized" "$DATA" || die "no $MYSQL_ROOT/srv/initialized"
        rm -f "$DATA/auto.cnf"
    else
        log "mariadb-install-db into $DATA"
        install_args=(--no-defaults --datadir="$DATA" --skip-test-db --skip-name-resolve
            --auth-root-authentication-method=socket)
        ((EUID == 0)) && install_args+=(--user=root)
        mariadb-install-db "${install_args[@]}" >"$BENCH_DIR/install.log" 2>&1 ||
            { cat "$BENCH_DIR/install.log" >&2; die "mariadb-install-db failed"; }
    fi
    touch "$DATA/.bench-installed"
fi
mkdir -p "$BENCH_DIR/tmp"
rm -f "$SOCK"

# The same settings on both servers, in each one's own words; binary log off on both.
server_args=(--no-defaults --datadir="$IN/data" --socket="$IN/server.sock" --port="$BENCH_PORT"
    --bind-address=127.0.0.1 --pid-file="$IN/server.pid" --log-error="$IN/error.log"
    --tmpdir="$IN/tmp" --skip-name-resolve --skip-log-bin --event-scheduler=OFF
    --innodb-buffer-pool-size="$BENCH_BUFFER_POOL"
    --innodb-flush-log-at-trx-commit=2 --innodb-doublewrite=0 --max-allowed-packet=256M
    --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci)
if [[ $BENCH_FLAVOR == mysql ]]; then
    server_args+=(--innodb-redo-log-capacity=1G --mysqlx=OFF)
else
    server_args+=(--innodb-log-file-size=512M)
fi
((EUID == 0)) && server_args+=(--user=root)
log "starting ${SERVERD[-1]##*/} on port $BENCH_PORT, socket $SOCK"
setsid "${SERVERD[@]}" "${server_args[@]}" </dev/null >/dev/null 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 600); do
    if [[ -S $SOCK ]] && admin -e "SELECT 1" >/dev/null 2>&1; then break; fi
    is_our_server "$SERVER_PID" || { tail -30 "$ERRLOG" >&2 || true; die "the server exited at start"; }
    sleep 0.1
done
admin -e "SELECT 1" >/dev/null || { tail -30 "$ERRLOG" >&2; die "the server did not answer"; }
SERVER_VERSION=$(admin -e "SELECT VERSION()")

admin <<SQL
CREATE USER IF NOT EXISTS '$USER_NAME'@'localhost' IDENTIFIED BY '$USER_PW';
CREATE USER IF NOT EXISTS '$USER_NAME'@'127.0.0.1' IDENTIFIED BY '$USER_PW';
GRANT ALL PRIVILEGES ON *.* TO '$USER_NAME'@'localhost';
GRANT ALL PRIVILEGES ON *.* TO '$USER_NAME'@'127.0.0.1';
SQL
umask 077
cat >"$CNF" <<CNF
[client]
user=$USER_NAME
password=$USER_PW
socket=$IN/server.sock
default-character-set=utf8mb4
CNF
umask 022
# TCP: the same defaults file, the transport on the command line.
TCP_ARGS=(--protocol=TCP --host=127.0.0.1 --port="$BENCH_PORT")

# --- the data -------------------------------------------------------------------------------

# A FROM-clause source of the whole numbers 1..N in column `seq`.
HAVE_SEQ=$(admin -e "SELECT COUNT(*) FROM information_schema.ENGINES WHERE ENGINE = 'SEQUENCE' AND SUPPORT IN ('YES', 'DEFAULT')")
# MySQL has no sequence engine: the numbers come from a temporary table made once.
nums() {
    if [[ $HAVE_SEQ == 1 ]]; then echo "seq_1_to_$1"; else echo "(SELECT seq FROM bench_nums WHERE seq <= $1) AS nums"; fi
}

PRODUCTS=$((BENCH_ROWS / 100))
RECEPTIONS=$((BENCH_ROWS / 4))
SORTIES=$((BENCH_ROWS / 2))
INVENTAIRES=$((BENCH_ROWS - PRODUCTS - RECEPTIONS - SORTIES))
# Scans of 50..500 KiB (275 KiB on average).
DOCUMENTS=$(((BENCH_BLOB_MB * 1024 + 274) / 275))
STAMP="v$SCHEMA_VERSION rows=$BENCH_ROWS blob_mb=$BENCH_BLOB_MB"
TABLES=(migrations users products receptions sorties inventaires documents)

# Pseudo-random but repeatable: h(x) is a 32-bit hash of x.
PHRASES="'Livraison conforme au bon de commande, cartons intacts, chaîne du froid respectée.',
 'Dispensation au service de pédiatrie sur ordonnance, lot vérifié avant remise.',
 'Écart constaté lors du comptage mensuel, à rapprocher des fiches de stock papier.',
 'Reçu du district sanitaire, quantités partielles, reliquat attendu le mois prochain.',
 'Produit proche de la péremption, à utiliser en priorité (FEFO), signalé au major.',
 'Transfert vers la maternité pour la campagne de vaccination, bordereau signé.',
 'Rupture évitée de justesse, commande urgente passée à la pharmacie régionale.',
 'Casse de deux flacons pendant le transport, procès-verbal joint au dossier « incidents ».'"
DRUGS="'Paracétamol', 'Amoxicilline', 'Artéméther-Luméfantrine', 'Ibuprofène', 'Métronidazole',
 'Cotrimoxazole', 'Quinine', 'Sérum glucosé', 'Oxytocine', 'Fer + acide folique', 'Zinc',
 'Sels de réhydratation orale', 'Ceftriaxone', 'Gentamicine', 'Diazépam', 'Salbutamol'"

gen_sql() {
    cat <<SQL
SET SESSION foreign_key_checks = 0, unique_checks = 0, sql_log_bin = 0;
SET SESSION group_concat_max_len = 1048576, $RECURSION_VAR = 100000000;
SET SESSION sql_mode = 'NO_ENGINE_SUBSTITUTION';
DROP DATABASE IF EXISTS $DB;
CREATE DATABASE $DB CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
USE $DB;
SQL
    if [[ $HAVE_SEQ != 1 ]]; then
        local max=$((SORTIES > 512 ? SORTIES : 512))
        cat <<SQL
CREATE TEMPORARY TABLE bench_nums (seq INT UNSIGNED NOT NULL PRIMARY KEY) ENGINE=InnoDB;
INSERT INTO bench_nums WITH RECURSIVE n(seq) AS (SELECT 1 UNION ALL SELECT seq + 1 FROM n WHERE seq < $max) SELECT seq FROM n;
SQL
    fi
    cat <<SQL
CREATE TABLE migrations (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  migration VARCHAR(255) NOT NULL,
  batch INT NOT NULL
) ENGINE=InnoDB;
INSERT INTO migrations (migration, batch) VALUES
 ('0001_01_01_000000_create_users_table', 1), ('2024_01_10_000001_create_products_table', 1),
 ('2024_01_10_000002_create_receptions_table', 1), ('2024_01_10_000003_create_sorties_table', 1),
 ('2024_01_10_000004_create_inventaires_table', 1), ('2024_03_02_000001_create_documents_table', 2);

CREATE TABLE users (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(255) NOT NULL,
  email VARCHAR(255) NOT NULL UNIQUE,
  password VARCHAR(255) NOT NULL,
  role VARCHAR(32) NOT NULL DEFAULT 'agent',
  remember_token VARCHAR(100) NULL,
  created_at TIMESTAMP NULL, updated_at TIMESTAMP NULL
) ENGINE=InnoDB;
INSERT INTO users (name, email, password, role, created_at, updated_at)
SELECT CONCAT(ELT(1 + seq % 5, 'Aïcha', 'Hélène', 'Désiré', 'Noël', 'Zoé'), ' Agent ', seq),
       CONCAT('agent', seq, '@csps.example'), CONCAT('\$2y\$12\$', SHA2(seq, 256)),
       IF(seq <= 3, 'admin', 'agent'), '2024-01-10 08:00:00', '2024-01-10 08:00:00'
FROM $(nums 25);

CREATE TABLE products (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  code VARCHAR(32) NOT NULL UNIQUE,
  nom VARCHAR(191) NOT NULL,
  forme VARCHAR(64) NULL,
  dosage VARCHAR(64) NULL,
  unite VARCHAR(32) NOT NULL DEFAULT 'boîte',
  categorie VARCHAR(64) NULL,
  prix_unitaire DECIMAL(12,2) NOT NULL DEFAULT 0.00,
  poids_g FLOAT NULL,
  seuil_alerte INT NOT NULL DEFAULT 0,
  stock_actuel INT NOT NULL DEFAULT 0,
  description TEXT NULL,
  created_at TIMESTAMP NULL, updated_at TIMESTAMP NULL,
  KEY products_nom_index (nom)
) ENGINE=InnoDB;
INSERT INTO products (id, code, nom, forme, dosage, unite, categorie, prix_unitaire, poids_g,
                      seuil_alerte, stock_actuel, description, created_at, updated_at)
SELECT seq, CONCAT('PRD-', LPAD(seq, 6, '0')),
       CONCAT(ELT(1 + CRC32(seq) % 16, $DRUGS), ' ', 1 + seq % 997),
       ELT(1 + seq % 6, 'comprimé', 'gélule', 'sirop', 'injectable', 'pommade', 'sachet'),
       CONCAT(ELT(1 + seq % 5, '5', '50', '100', '250', '500'), ' mg'),
       ELT(1 + seq % 3, 'boîte', 'flacon', 'ampoule'),
       ELT(1 + seq % 4, 'Antipaludéens', 'Antibiotiques', 'Antalgiques', 'Solutés'),
       (CRC32(seq * 3) % 2500000) / 100, (CRC32(seq * 5) % 100000) / 7.0,
       10 + seq % 90, CRC32(seq * 11) % 5000,
       IF(seq % 4 = 0, NULL, ELT(1 + seq % 8, $PHRASES)),
       '2024-01-10 08:00:00' + INTERVAL (seq % 400) DAY, '2024-06-01 12:00:00' + INTERVAL (seq % 97) MINUTE
FROM $(nums $PRODUCTS);

CREATE TABLE receptions (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  product_id BIGINT UNSIGNED NOT NULL,
  user_id BIGINT UNSIGNED NULL,
  quantite INT NOT NULL,
  numero_lot VARCHAR(64) NOT NULL,
  date_peremption DATE NULL,
  date_reception DATE NOT NULL,
  fournisseur VARCHAR(191) NULL,
  bon_livraison VARCHAR(64) NULL,
  prix_unitaire DECIMAL(12,2) NULL,
  temperature_c FLOAT NULL,
  notes TEXT NULL,
  created_at TIMESTAMP NULL, updated_at TIMESTAMP NULL,
  KEY receptions_date_reception_index (date_reception),
  CONSTRAINT receptions_product_id_foreign FOREIGN KEY (product_id) REFERENCES products (id) ON DELETE CASCADE,
  CONSTRAINT receptions_user_id_foreign FOREIGN KEY (user_id) REFERENCES users (id)
) ENGINE=InnoDB;
INSERT INTO receptions (product_id, user_id, quantite, numero_lot, date_peremption, date_reception,
                        fournisseur, bon_livraison, prix_unitaire, temperature_c, notes, created_at, updated_at)
SELECT 1 + CRC32(seq) % $PRODUCTS, 1 + seq % 25, 1 + CRC32(seq * 3) % 2000,
       CONCAT('Lot n°', LPAD(CRC32(seq * 7) % 1000000, 6, '0'), '-', ELT(1 + seq % 4, 'Ré', 'Bé', 'Dé', 'Gé')),
       IF(seq % 10 = 0, NULL, '2025-01-01' + INTERVAL (CRC32(seq * 13) % 1500) DAY),
       '2022-01-01' + INTERVAL (seq % 1400) DAY,
       ELT(1 + seq % 5, 'CAMEG', 'Pharmacie régionale', 'District sanitaire de Léo', 'UNICEF', 'Dépôt répartiteur'),
       CONCAT('BL-', LPAD(seq, 8, '0')),
       IF(seq % 13 = 0, NULL, (CRC32(seq * 17) % 5000000) / 100),
       IF(seq % 3 = 0, NULL, 2 + (CRC32(seq * 19) % 600) / 100.0),
       IF(seq % 3 = 0, NULL, ELT(1 + seq % 8, $PHRASES)),
       '2022-01-01 07:30:00' + INTERVAL seq MINUTE, '2022-01-01 07:30:00' + INTERVAL seq MINUTE
FROM $(nums $RECEPTIONS);

CREATE TABLE sorties (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  product_id BIGINT UNSIGNED NOT NULL,
  user_id BIGINT UNSIGNED NULL,
  quantite INT NOT NULL,
  numero_lot VARCHAR(64) NULL,
  date_sortie DATE NOT NULL,
  service VARCHAR(191) NULL,
  motif VARCHAR(191) NULL,
  patient_ref VARCHAR(32) NULL,
  valeur DOUBLE NULL,
  notes TEXT NULL,
  created_at TIMESTAMP NULL, updated_at TIMESTAMP NULL,
  KEY sorties_date_sortie_index (date_sortie),
  CONSTRAINT sorties_product_id_foreign FOREIGN KEY (product_id) REFERENCES products (id) ON DELETE CASCADE,
  CONSTRAINT sorties_user_id_foreign FOREIGN KEY (user_id) REFERENCES users (id)
) ENGINE=InnoDB;
INSERT INTO sorties (product_id, user_id, quantite, numero_lot, date_sortie, service, motif,
                     patient_ref, valeur, notes, created_at, updated_at)
SELECT 1 + CRC32(seq * 23) % $PRODUCTS, 1 + seq % 25, 1 + CRC32(seq * 29) % 60,
       IF(seq % 5 = 0, NULL, CONCAT('Lot n°', LPAD(CRC32(seq * 31) % 1000000, 6, '0'))),
       '2022-01-01' + INTERVAL (seq % 1400) DAY,
       ELT(1 + seq % 6, 'Pédiatrie', 'Maternité', 'Urgences', 'Médecine générale', 'Bloc opératoire', 'Dispensaire'),
       ELT(1 + seq % 4, 'Dispensation', 'Péremption', 'Casse', 'Transfert'),
       CONCAT('PAT-', LPAD(CRC32(seq * 37) % 10000000, 7, '0')),
       IF(seq % 11 = 0, NULL, (CRC32(seq * 41) % 100000000) / 997.0 + 1e-9 * (seq % 1000)),
       IF(seq % 4 <> 0, NULL, ELT(1 + seq % 8, $PHRASES)),
       '2022-01-01 08:00:00' + INTERVAL (seq * 37) SECOND, '2022-01-01 08:00:00' + INTERVAL (seq * 37) SECOND
FROM $(nums $SORTIES);

CREATE TABLE inventaires (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  product_id BIGINT UNSIGNED NOT NULL,
  user_id BIGINT UNSIGNED NULL,
  date_inventaire DATE NOT NULL,
  numero_lot VARCHAR(64) NULL,
  quantite_theorique INT NOT NULL,
  quantite_physique INT NOT NULL,
  ecart INT NOT NULL,
  taux_ecart DOUBLE NULL,
  valide_le DATETIME NULL,
  observations TEXT NULL,
  created_at TIMESTAMP NULL, updated_at TIMESTAMP NULL,
  KEY inventaires_date_inventaire_index (date_inventaire),
  CONSTRAINT inventaires_product_id_foreign FOREIGN KEY (product_id) REFERENCES products (id) ON DELETE CASCADE,
  CONSTRAINT inventaires_user_id_foreign FOREIGN KEY (user_id) REFERENCES users (id)
) ENGINE=InnoDB;
INSERT INTO inventaires (product_id, user_id, date_inventaire, numero_lot, quantite_theorique,
                         quantite_physique, ecart, taux_ecart, valide_le, observations, created_at, updated_at)
SELECT 1 + seq % $PRODUCTS, 1 + seq % 25, '2022-01-31' + INTERVAL (seq % 48) MONTH,
       CONCAT('Lot n°', LPAD(CRC32(seq * 43) % 1000000, 6, '0')),
       t.th, t.th - t.d, t.d, IF(t.th = 0, NULL, t.d / t.th),
       IF(seq % 7 = 0, NULL, '2022-02-01 09:15:00' + INTERVAL (seq * 13) SECOND),
       IF(seq % 2 = 0, NULL, ELT(1 + seq % 8, $PHRASES)),
       '2022-02-01 09:00:00' + INTERVAL (seq * 11) SECOND, '2022-02-01 09:00:00' + INTERVAL (seq * 11) SECOND
FROM (SELECT seq, CAST(CRC32(seq * 47) % 3000 AS SIGNED) AS th, CAST(CRC32(seq * 53) % 21 AS SIGNED) - 10 AS d
      FROM $(nums $INVENTAIRES)) AS t;

CREATE TABLE documents (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  product_id BIGINT UNSIGNED NULL,
  nom_fichier VARCHAR(255) NOT NULL,
  mime VARCHAR(100) NOT NULL,
  taille INT UNSIGNED NOT NULL,
  contenu LONGBLOB NOT NULL,
  created_at TIMESTAMP NULL, updated_at TIMESTAMP NULL,
  CONSTRAINT documents_product_id_foreign FOREIGN KEY (product_id) REFERENCES products (id) ON DELETE SET NULL
) ENGINE=InnoDB;
SQL
    # One statement per scan: each is the concatenation of n random KiB (RANDOM_BYTES gives
    # at most 1 KiB), incompressible like a real JPEG/PDF scan.
    local i kib
    for ((i = 1; i <= DOCUMENTS; i++)); do
        kib=$((50 + (i * 7919) % 451))
        cat <<SQL
INSERT INTO documents (product_id, nom_fichier, mime, taille, contenu, created_at, updated_at)
SELECT $((1 + (i * 131) % PRODUCTS)), 'Bon de réception n°$i (scanné).pdf', 'application/pdf',
       $((kib * 1024)), GROUP_CONCAT(RANDOM_BYTES(1024) SEPARATOR ''), NOW(), NOW()
FROM $(nums $kib);
SQL
    done
    echo "ANALYZE TABLE $(IFS=,; echo "${TABLES[*]}");"
}

db_sizes() { # total MiB of data+indexes: all tables, then without documents
    admin -e "SELECT ROUND(SUM(DATA_LENGTH + INDEX_LENGTH) / 1048576),
                     ROUND(SUM(IF(TABLE_NAME = 'documents', 0, DATA_LENGTH + INDEX_LENGTH)) / 1048576)
              FROM information_schema.TABLES WHERE TABLE_SCHEMA = '$DB'"
}

cached=$(cat "$BENCH_DIR/stamp" 2>/dev/null || true)
have_db=$(admin -e "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '$DB' AND TABLE_NAME = 'documents'")
if [[ $cached == "$STAMP" && $have_db == 1 ]]; then
    log "reusing the cached database ($STAMP)"
else
    rm -f "$BENCH_DIR/stamp"
    log "generating $BENCH_ROWS rows + $DOCUMENTS scans (~$BENCH_BLOB_MB MiB) server-side (sequence engine: $HAVE_SEQ)"
    t0=$(now)
    gen_sql | admin >/dev/null
    log "generated in $(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }') s"
    echo "$STAMP" >"$BENCH_DIR/stamp"
fi
read -r SIZE_ALL SIZE_ROWS < <(db_sizes)
ROWCOUNTS=$(for t in "${TABLES[@]}"; do echo -n "$t=$(admin -e "SELECT COUNT(*) FROM $DB.$t") "; done)
log "database $DB: $SIZE_ALL MiB on disk ($SIZE_ROWS MiB without documents); $ROWCOUNTS"

# --- the apps -------------------------------------------------------------------------------
make_app() { # dir, connection lines...
    local app=$1
    shift
    mkdir -p "$app/storage/app/backups"
    chmod 700 "$app/storage/app/backups"
    printf '#!/usr/bin/env php\n<?php\n// Stand-in for Laravel'"'"'s artisan (benchmark fixture).\n' >"$app/artisan"
    {
        echo "APP_NAME=Stock"
        echo "APP_ENV=production"
        echo "DB_CONNECTION=mysql"
        printf '%s\n' "$@"
        echo "DB_DATABASE=$DB"
        echo "DB_USERNAME=$USER_NAME"
        echo "DB_PASSWORD=$USER_PW"
    } >"$app/.env"
    chmod 600 "$app/.env"
}
APP_SOCK=$BENCH_DIR/app-socket
APP_TCP=$BENCH_DIR/app-tcp
make_app "$APP_SOCK" "DB_SOCKET=$SOCK" "DB_HOST=127.0.0.1" "DB_PORT=$BENCH_PORT"
make_app "$APP_TCP" "DB_HOST=127.0.0.1" "DB_PORT=$BENCH_PORT"
# Issue 5: `db-backup restore` of our dump into a fresh database, against the client loading it.
APP_RESTORE=$BENCH_DIR/app-restore
make_app "$APP_RESTORE" "DB_SOCKET=$SOCK" "DB_HOST=127.0.0.1" "DB_PORT=$BENCH_PORT"
sed -i "s/^DB_DATABASE=.*/DB_DATABASE=${DB}_restore/" "$APP_RESTORE/.env"

# --- timing ---------------------------------------------------------------------------------
rm -rf "$RES" "$OUT"
mkdir -p "$RES" "$OUT"
TICK=$(getconf CLK_TCK)
server_cpu() { awk -v t="$TICK" '{ printf "%.3f\n", ($14 + $15) / t }' "/proc/$SERVER_PID/stat"; }
# CPU seconds the whole machine has spent busy (user, nice, system, irq, softirq, steal).
machine_cpu() { awk -v t="$TICK" '/^cpu / { printf "%.3f\n", ($2 + $3 + $4 + $7 + $8 + $9) / t }' /proc/stat; }

# Other work on the machine (builds, test suites) skews a 2-core benchmark: before each timed
# command, wait up to BENCH_IDLE_WAIT seconds for a second in which the machine is nearly idle.
# The "rest s" column shows how much CPU the rest of the machine used during each run anyway.
wait_quiet() {
    local waited=0 a b busy
    while :; do
        a=$(machine_cpu)
        sleep 1
        b=$(machine_cpu)
        busy=$(awk -v a="$a" -v b="$b" 'BEGIN { print (b - a < 0.15) ? 0 : 1 }')
        ((busy)) || return 0
        ((waited == 0)) && log "machine busy ($(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.0f%%", (b - a) * 100 }') CPU): waiting up to ${BENCH_IDLE_WAIT}s for quiet"
        waited=$((waited + 1))
        if ((waited >= BENCH_IDLE_WAIT)); then
            log "still busy after ${BENCH_IDLE_WAIT}s: timing anyway (see the rest s column)"
            return 0
        fi
    done
}

# timed NAME COMMAND...: runs it with stdin $STDIN and stdout $STDOUT and appends
# "wall user+sys maxrss_kib server_cpu rest_cpu" to $RES/NAME.
STDIN=/dev/null
STDOUT=/dev/null
timed() {
    local name=$1
    shift
    sync
    wait_quiet
    local c0 m0 t0 t1 c1 m1 u s m
    c0=$(server_cpu)
    m0=$(machine_cpu)
    t0=$(now)
    if ! /usr/bin/time -f '%U %S %M' -o "$RES/$name.time" "$@" <"$STDIN" >"$STDOUT"; then
        die "$name failed: $*"
    fi
    t1=$(now)
    c1=$(server_cpu)
    m1=$(machine_cpu)
    read -r u s m <"$RES/$name.time"
    awk -v a="$t0" -v b="$t1" -v u="$u" -v s="$s" -v m="$m" -v c0="$c0" -v c1="$c1" -v m0="$m0" -v m1="$m1" \
        'BEGIN { r = (m1 - m0) - (c1 - c0) - (u + s); if (r < 0) r = 0
                 printf "%.3f %.2f %d %.2f %.2f\n", b - a, u + s, m, c1 - c0, r }' >>"$RES/$name"
}

backups_of() { find "$1/storage/app/backups" -maxdepth 1 -name 'database_backup_*.sql' -print; }
run_dbbackup() { # name app
    rm -f "$2"/storage/app/backups/database_backup_*
    timed "$1" "$BIN" --app-dir "$2" --keep 1 --quiet
    local f
    f=$(backups_of "$2")
    [[ -n $f && $(wc -l <<<"$f") == 1 ]] || die "$1: expected one backup in $2/storage/app/backups"
    mv "$f" "$OUT/$1.sql"
}
run_dump() { # name extra-args...
    local name=$1
    shift
    rm -f "$OUT/$name.sql"
    STDOUT=$OUT/$name.sql timed "$name" "${DUMPER[@]}" --defaults-file="$IN/client.cnf" "$@" \
        --single-transaction --quick "$DB"
    # What a durable copy would cost on top (db-backup fsyncs its file before publishing).
    local t0
    t0=$(now)
    sync "$OUT/$name.sql"
    awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.3f\n", b - a }' >>"$RES/$name.fsync"
}

log "warm-up: CHECKSUM TABLE of every source table (reads all the data into the buffer pool)"
admin -e "CHECKSUM TABLE $(for t in "${TABLES[@]}"; do echo -n "$DB.$t,"; done | sed 's/,$//')" |
    awk '{ sub(/^[^.]*\./, "", $1); print $1, $2 }' >"$RES/checksum.source"
# One untimed run of each tool: page cache for the binaries, the server's caches, file space.
log "warm-up: one untimed run of each tool"
run_dbbackup warm "$APP_SOCK"
run_dump warmdump
rm -f "$RES"/warm* "$OUT"/warm*

DUMPS=(dbb_sock dump_sock)
((BENCH_TCP)) && DUMPS+=(dbb_tcp dump_tcp)
((BENCH_HEX_BLOB)) && DUMPS+=(dump_hex_sock)
for ((r = 1; r <= BENCH_RUNS; r++)); do
    for d in "${DUMPS[@]}"; do
        log "run $r/$BENCH_RUNS: $d"
        case $d in
        dbb_sock) run_dbbackup dbb_sock "$APP_SOCK" ;;
        dbb_tcp) run_dbbackup dbb_tcp "$APP_TCP" ;;
        dump_sock) run_dump dump_sock ;;
        dump_tcp) run_dump dump_tcp "${TCP_ARGS[@]}" ;;
        dump_hex_sock) run_dump dump_hex_sock --hex-blob ;;
        esac
    done
done

# --- loading --------------------------------------------------------------------------------
# Diagnostic variant: our file without its per-table "SET autocommit=0;" (so each INSERT commits
# on its own, as in mariadb-dump's file): shows what one transaction per table costs the loader.
LOADS=(load_ours load_dump restore_ours)
[[ -n $BENCH_BIN_BEFORE ]] && LOADS+=(restore_before)
if ((BENCH_LOAD_NOAC)) && grep -q '^SET autocommit=0;$' "$OUT/dbb_sock.sql"; then
    grep -v '^SET autocommit=0;$' "$OUT/dbb_sock.sql" >"$OUT/dbb_sock_noac.sql"
    LOADS+=(load_ours_noac)
fi
load() { # name file
    local db=${DB}_$1
    admin -e "DROP DATABASE IF EXISTS $db; CREATE DATABASE $db CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
    STDIN=$2 timed "$1" "${CLIENT[@]}" --defaults-file="$IN/client.cnf" "$db"
    [[ $1 == load_ours ]] || admin -e "DROP DATABASE $db"
}
for ((r = 1; r <= BENCH_LOAD_RUNS; r++)); do
    for l in "${LOADS[@]}"; do
        log "load $r/$BENCH_LOAD_RUNS: $l"
        case $l in
        load_ours) load load_ours "$OUT/dbb_sock.sql" ;;
        load_dump) load load_dump "$OUT/dump_sock.sql" ;;
        load_ours_noac) load load_ours_noac "$OUT/dbb_sock_noac.sql" ;;
        restore_ours | restore_before)
            admin -e "DROP DATABASE IF EXISTS ${DB}_restore; CREATE DATABASE ${DB}_restore CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
            rm -f "$APP_RESTORE"/storage/app/backups/database_backup_*
            bin=$BIN
            [[ $l == restore_before ]] && bin=$BENCH_BIN_BEFORE
            timed "$l" "$bin" --app-dir "$APP_RESTORE" restore --yes "$OUT/dbb_sock.sql"
            admin -e "DROP DATABASE ${DB}_restore"
            ;;
        esac
    done
done
log "correctness: CHECKSUM TABLE after loading db-backup's file"
admin -e "CHECKSUM TABLE $(for t in "${TABLES[@]}"; do echo -n "${DB}_load_ours.$t,"; done | sed 's/,$//')" |
    awk '{ sub(/^[^.]*\./, "", $1); print $1, $2 }' >"$RES/checksum.ours"
CHECK_DIFF=$(diff "$RES/checksum.source" "$RES/checksum.ours" || true)
admin -e "DROP DATABASE ${DB}_load_ours"

# --- report ---------------------------------------------------------------------------------
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
col() { awk -v c="$2" '{ print $c }' "$RES/$1" | median; }
colmin() { awk -v c="$2" '{ print $c }' "$RES/$1" | sort -g | head -1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
mib() { awk -v b="$(stat -c %s "$1")" 'BEGIN { printf "%.0f", b / 1048576 }'; }
verdict() { awk -v a="$1" -v op="$2" -v b="$3" 'BEGIN { ok = (op == "<=") ? a <= b : a < b; print ok ? "PASS" : "FAIL" }'; }
label() {
    case $1 in
    dbb_sock) echo "db-backup (socket)" ;;
    dbb_tcp) echo "db-backup (TCP)" ;;
    dump_sock) echo "$DUMP_NAME (socket)" ;;
    dump_tcp) echo "$DUMP_NAME (TCP)" ;;
    dump_hex_sock) echo "$DUMP_NAME --hex-blob (socket)" ;;
    load_ours) echo "db-backup's file" ;;
    load_dump) echo "$DUMP_NAME's file" ;;
    load_ours_noac) echo "ours minus SET autocommit=0 (diag.)" ;;
    restore_ours) echo "db-backup restore of our file" ;;
    restore_before) echo "BENCH_BIN_BEFORE's restore (same)" ;;
    esac
}

echo
printf 'db-backup MySQL benchmark: %s %s, %s MiB on disk (%s MiB without blobs), %s runs each\n' \
    "$SERVER_NAME" "$SERVER_VERSION" "$SIZE_ALL" "$SIZE_ROWS" "$BENCH_RUNS"
printf 'rows: %s\n' "$ROWCOUNTS"
printf '%-36s %8s %7s %7s %8s %8s %8s %6s %7s %8s\n' "dump" "median s" "min s" "vs dump" "+fsync s" "client s" "server s" "rest s" "RSS MiB" "file MiB"
for d in "${DUMPS[@]}"; do
    base=dump_sock
    [[ $d == *tcp ]] && base=dump_tcp
    m=$(col "$d" 1)
    if [[ -f $RES/$d.fsync ]]; then
        fs=$(awk -v a="$m" -v b="$(median <"$RES/$d.fsync")" 'BEGIN { printf "%.3f", a + b }')
    else
        fs="(incl.)"
    fi
    printf '%-36s %8.3f %7.3f %7s %8s %8.2f %8.2f %6.2f %7.1f %8s\n' "$(label "$d")" "$m" "$(colmin "$d" 1)" \
        "$(ratio "$m" "$(col "$base" 1)")" "$fs" "$(col "$d" 2)" "$(col "$d" 4)" "$(col "$d" 5)" \
        "$(awk -v k="$(col "$d" 3)" 'BEGIN { print k / 1024 }')" "$(mib "$OUT/$d.sql")"
done
echo "(client s: user+sys CPU of the dump process; server s: server CPU meanwhile; rest s: CPU of"
echo " everything else on the machine meanwhile (other jobs, kernel writeback); all medians)"
echo
printf '%-36s %8s %7s %7s %8s %8s %6s\n' "load ($CLIENT_NAME DB < file)" "median s" "min s" "ratio" "client s" "server s" "rest s"
L_DUMP=$(col load_dump 1)
for l in "${LOADS[@]}"; do
    m=$(col "$l" 1)
    printf '%-36s %8.3f %7.3f %7s %8.2f %8.2f %6.2f\n' "$(label "$l")" "$m" "$(colmin "$l" 1)" \
        "$(ratio "$m" "$L_DUMP")" "$(col "$l" 2)" "$(col "$l" 4)" "$(col "$l" 5)"
done
echo
M_DBB=$(col dbb_sock 1)
M_DUMP=$(col dump_sock 1)
L_OURS=$(col load_ours 1)
L_RESTORE=$(col restore_ours 1)
RSS=$(awk -v k="$(awk '{ print $3 }' "$RES/dbb_sock" | sort -n | tail -1)" 'BEGIN { printf "%.1f", k / 1024 }')
R=$(ratio "$M_DBB" "$M_DUMP")
printf 'target: db-backup / %s <= 0.70 (socket)   %s  (%.3f s vs %.3f s = %s)\n' "$DUMP_NAME" \
    "$(verdict "$R" "<=" 0.70)" "$M_DBB" "$M_DUMP" "$R"
printf 'target: db-backup peak RSS < 64 MiB                  %s  (max %s MiB over %s runs)\n' \
    "$(verdict "$RSS" "<" 64)" "$RSS" "$BENCH_RUNS"
LR=$(ratio "$L_OURS" "$L_DUMP")
printf 'target: load ours / load %s <= 1.00        %s  (%.3f s vs %.3f s = %s)\n' "$DUMP_NAME" \
    "$(verdict "$LR" "<=" 1.00)" "$L_OURS" "$L_DUMP" "$LR"
RR=$(ratio "$L_RESTORE" "$L_OURS")
printf 'target: db-backup restore / %s client <= 0.70  %s  (%.3f s vs %.3f s = %s, same file)\n' "$CLIENT_NAME" \
    "$(verdict "$RR" "<=" 0.70)" "$L_RESTORE" "$L_OURS" "$RR"
if [[ -z $CHECK_DIFF ]]; then
    printf 'check:  CHECKSUM TABLE of all %s tables after loading our file   PASS\n' "${#TABLES[@]}"
else
    printf 'check:  CHECKSUM TABLE after loading our file   FAIL\n%s\n' "$CHECK_DIFF"
fi
printf 'outputs in %s; raw timings in %s\n' "$OUT" "$RES"
