#!/usr/bin/env bash
# Benchmark (not a test): db-backup on a ~1 GB SQLite database versus the physical floor
# (cp + fsync) and versus the sqlite3 CLI (.backup, then PRAGMA quick_check).
# See benches/README.md for the knobs. Exits 0 unless something crashed: the verdicts it
# prints are informational.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
# shellcheck source=benches/common.sh
source "$HERE/common.sh"

BENCH_DIR=${BENCH_DIR:-/tmp/db-backup-bench}
BENCH_SIZE_MB=${BENCH_SIZE_MB:-1024}
BENCH_SMALL_MB=${BENCH_SMALL_MB:-$((BENCH_SIZE_MB / 4))}
BENCH_RUNS=${BENCH_RUNS:-3}
BENCH_BIN=${BENCH_BIN:-}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/bench-target}

# Rows of `receptions` per MB of database; sorties get 2x, inventaires 1/2x. Calibrated so the
# file (data + indexes) lands within a few percent of the requested size.
ROWS_PER_MB=${BENCH_ROWS_PER_MB:-1340}
PRODUCTS=5000


for n in BENCH_SIZE_MB BENCH_SMALL_MB BENCH_RUNS ROWS_PER_MB; do
    [[ ${!n} =~ ^[1-9][0-9]*$ ]] || die "$n must be a positive whole number (got '${!n}')"
done
((BENCH_RUNS >= 3)) || log "warning: BENCH_RUNS=$BENCH_RUNS; medians of fewer than 3 runs are noisy"
command -v sqlite3 >/dev/null || die "needs the sqlite3 CLI (apt-get install -y sqlite3)"
[[ -x /usr/bin/time ]] || die "needs GNU time for peak RSS (apt-get install -y time)"

# --- the binary -----------------------------------------------------------------------------
build_bin

# --- the database ---------------------------------------------------------------------------

# SQL that creates and fills the stock database; $1 = rows of receptions.
stock_sql() {
    local rec=$1
    local sor=$((rec * 2)) inv=$((rec / 2))
    cat <<SQL
PRAGMA journal_mode=OFF;
PRAGMA synchronous=OFF;
PRAGMA cache_size=-524288;
PRAGMA temp_store=MEMORY;
BEGIN;
CREATE TABLE migrations (id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, migration VARCHAR NOT NULL, batch INTEGER NOT NULL);
CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, name VARCHAR NOT NULL, email VARCHAR NOT NULL, password VARCHAR NOT NULL, role VARCHAR NOT NULL DEFAULT 'agent', remember_token VARCHAR, created_at DATETIME, updated_at DATETIME);
CREATE UNIQUE INDEX users_email_unique ON users (email);
CREATE TABLE products (id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, code VARCHAR NOT NULL, nom VARCHAR NOT NULL, dci VARCHAR, forme VARCHAR, dosage VARCHAR, unite VARCHAR NOT NULL DEFAULT 'boite', categorie VARCHAR, seuil_alerte INTEGER NOT NULL DEFAULT 0, stock_actuel INTEGER NOT NULL DEFAULT 0, description TEXT, created_at DATETIME, updated_at DATETIME);
CREATE TABLE receptions (id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, product_id INTEGER NOT NULL REFERENCES products (id) ON DELETE CASCADE, user_id INTEGER REFERENCES users (id), quantite INTEGER NOT NULL, numero_lot VARCHAR NOT NULL, date_peremption DATE, date_reception DATE NOT NULL, fournisseur VARCHAR, bon_livraison VARCHAR, prix_unitaire NUMERIC, notes TEXT, created_at DATETIME, updated_at DATETIME);
CREATE TABLE sorties (id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, product_id INTEGER NOT NULL REFERENCES products (id) ON DELETE CASCADE, user_id INTEGER REFERENCES users (id), quantite INTEGER NOT NULL, numero_lot VARCHAR, date_sortie DATE NOT NULL, service VARCHAR, motif VARCHAR, patient_ref VARCHAR, notes TEXT, created_at DATETIME, updated_at DATETIME);
CREATE TABLE inventaires (id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, product_id INTEGER NOT NULL REFERENCES products (id) ON DELETE CASCADE, user_id INTEGER REFERENCES users (id), date_inventaire DATE NOT NULL, numero_lot VARCHAR, quantite_theorique INTEGER NOT NULL, quantite_physique INTEGER NOT NULL, ecart INTEGER NOT NULL, observations TEXT, created_at DATETIME, updated_at DATETIME);
INSERT INTO migrations (migration, batch) VALUES
 ('0001_01_01_000000_create_users_table', 1), ('2024_01_10_000001_create_products_table', 1),
 ('2024_01_10_000002_create_receptions_table', 1), ('2024_01_10_000003_create_sorties_table', 1),
 ('2024_01_10_000004_create_inventaires_table', 1);
CREATE TEMP TABLE phrases (i INTEGER PRIMARY KEY, p TEXT NOT NULL);
INSERT INTO phrases VALUES
 (0, 'Livraison conforme au bon de commande, cartons intacts, chaîne du froid respectée. '),
 (1, 'Dispensation au service de pédiatrie sur ordonnance, lot vérifié avant remise. '),
 (2, 'Écart constaté lors du comptage mensuel, à rapprocher des fiches de stock papier. '),
 (3, 'Reçu du district sanitaire, quantités partielles, reliquat attendu le mois prochain. '),
 (4, 'Produit proche de la péremption, à utiliser en priorité (FEFO), signalé au major. '),
 (5, 'Transfert vers la maternité pour la campagne de vaccination, bordereau signé. '),
 (6, 'Rupture évitée de justesse, commande urgente passée à la pharmacie régionale. '),
 (7, 'Casse de deux flacons pendant le transport, procès-verbal joint au dossier. ');
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 25)
INSERT INTO users (name, email, password, role, created_at, updated_at)
SELECT 'Agent ' || i, 'agent' || i || '@csps.example', '\$2y\$12\$' || hex(randomblob(26)),
       CASE WHEN i = 1 THEN 'admin' ELSE 'agent' END,
       datetime(1600000000 + i * 3600, 'unixepoch'), datetime(1600000000 + i * 3600, 'unixepoch')
FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $PRODUCTS)
INSERT INTO products (code, nom, dci, forme, dosage, unite, categorie, seuil_alerte, stock_actuel, description, created_at, updated_at)
SELECT printf('PRD-%06d', i),
       'Produit ' || i || ' ' || substr('ParacétamolAmoxicillineMétronidazoleIbuprofèneArtésunateCotrimoxazole', 1 + i % 50, 12),
       'DCI-' || (i % 900),
       CASE i % 4 WHEN 0 THEN 'comprimé' WHEN 1 THEN 'sirop' WHEN 2 THEN 'injectable' ELSE 'gélule' END,
       (50 * (1 + i % 20)) || ' mg', 'boite', 'Catégorie ' || (i % 12), 10 + i % 90, abs(random()) % 5000,
       (SELECT p FROM phrases WHERE phrases.i = n.i % 8),
       datetime(1600000000 + i * 60, 'unixepoch'), datetime(1600000000 + i * 90, 'unixepoch')
FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $rec)
INSERT INTO receptions (product_id, user_id, quantite, numero_lot, date_peremption, date_reception, fournisseur, bon_livraison, prix_unitaire, notes, created_at, updated_at)
SELECT 1 + abs(random()) % $PRODUCTS, 1 + abs(random()) % 25, 1 + abs(random()) % 1000,
       'LOT-' || hex(randomblob(5)),
       date(1650000000 + abs(random()) % 150000000, 'unixepoch'),
       date(1500000000 + i * 30, 'unixepoch'),
       'Fournisseur ' || (abs(random()) % 40), printf('BL-%08d', i),
       (abs(random()) % 100000) / 100.0,
       substr((SELECT p FROM phrases WHERE phrases.i = abs(random()) % 8) || (SELECT p FROM phrases WHERE phrases.i = abs(random()) % 8), 1 + abs(random()) % 40, 20 + abs(random()) % 100),
       datetime(1500000000 + i * 30, 'unixepoch'), datetime(1500000000 + i * 30 + abs(random()) % 86400, 'unixepoch')
FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $sor)
INSERT INTO sorties (product_id, user_id, quantite, numero_lot, date_sortie, service, motif, patient_ref, notes, created_at, updated_at)
SELECT 1 + abs(random()) % $PRODUCTS, 1 + abs(random()) % 25, 1 + abs(random()) % 60,
       'LOT-' || hex(randomblob(5)),
       date(1500000000 + i * 15, 'unixepoch'),
       CASE abs(random()) % 5 WHEN 0 THEN 'Pédiatrie' WHEN 1 THEN 'Maternité' WHEN 2 THEN 'Médecine générale' WHEN 3 THEN 'Urgences' ELSE 'Dispensaire' END,
       CASE abs(random()) % 4 WHEN 0 THEN 'dispensation' WHEN 1 THEN 'transfert' WHEN 2 THEN 'péremption' ELSE 'casse' END,
       printf('PAT-%07d', abs(random()) % 10000000),
       CASE WHEN abs(random()) % 3 = 0 THEN NULL ELSE substr((SELECT p FROM phrases WHERE phrases.i = abs(random()) % 8), 1 + abs(random()) % 20, 15 + abs(random()) % 60) END,
       datetime(1500000000 + i * 15, 'unixepoch'), datetime(1500000000 + i * 15, 'unixepoch')
FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $inv)
INSERT INTO inventaires (product_id, user_id, date_inventaire, numero_lot, quantite_theorique, quantite_physique, ecart, observations, created_at, updated_at)
SELECT product_id, user_id, d, lot, th, ph, ph - th, obs, d || ' 18:00:00', d || ' 18:00:00'
FROM (SELECT 1 + i % $PRODUCTS AS product_id, 1 + abs(random()) % 25 AS user_id,
             date(1500000000 + (i / $PRODUCTS) * 2592000, 'unixepoch') AS d,
             'LOT-' || hex(randomblob(5)) AS lot, abs(random()) % 3000 AS th,
             abs(random()) % 3000 AS ph,
             substr((SELECT p FROM phrases WHERE phrases.i = abs(random()) % 8), 1, 30 + abs(random()) % 50) AS obs
      FROM n);
CREATE UNIQUE INDEX products_code_unique ON products (code);
CREATE INDEX products_nom_index ON products (nom);
CREATE INDEX receptions_product_id_index ON receptions (product_id);
CREATE INDEX receptions_numero_lot_index ON receptions (numero_lot);
CREATE INDEX receptions_date_reception_index ON receptions (date_reception);
CREATE INDEX receptions_date_peremption_index ON receptions (date_peremption);
CREATE INDEX sorties_product_id_index ON sorties (product_id);
CREATE INDEX sorties_date_sortie_index ON sorties (date_sortie);
CREATE INDEX sorties_numero_lot_index ON sorties (numero_lot);
CREATE INDEX inventaires_product_id_date_inventaire_index ON inventaires (product_id, date_inventaire);
COMMIT;
ANALYZE;
PRAGMA journal_mode=DELETE;
SQL
}

# Lays out a Laravel-shaped app in $1 holding a ~$2 MB stock database, reusing a previous build
# when it is complete and the right size.
make_app() {
    local app=$1 mb=$2
    local db=$app/database/database.sqlite stamp=$app/.bench-stamp
    local want=$((mb * 1024 * 1024))
    if [[ -f $db && -f $stamp && $(cat "$stamp") == "$mb $ROWS_PER_MB" ]]; then
        local have
        have=$(stat -c %s "$db")
        if ((have > want * 85 / 100 && have < want * 115 / 100)); then
            log "reusing $db ($((have / 1048576)) MiB)"
            return
        fi
    fi
    log "building a ~$mb MB stock database in $db"
    rm -rf "$app"
    mkdir -p "$app/database" "$app/storage/app/backups" "$app/config"
    printf '#!/usr/bin/env php\n<?php\n// Stand-in for Laravel'"'"'s artisan (benchmark fixture).\n' >"$app/artisan"
    chmod +x "$app/artisan"
    cat >"$app/.env" <<'ENV'
APP_NAME="Stock CSPS"
APP_ENV=production
APP_DEBUG=false
APP_TIMEZONE=UTC
DB_CONNECTION=sqlite
ENV
    local t0 t1
    t0=$(now)
    stock_sql $((mb * ROWS_PER_MB)) | sqlite3 -bail "$db.building" >/dev/null
    mv "$db.building" "$db"
    t1=$(now)
    echo "$mb $ROWS_PER_MB" >"$stamp"
    BUILD_NOTE+="built $mb MB db in $(elapsed "$t0" "$t1") s ($(($(stat -c %s "$db") / 1048576)) MiB); "
    log "built in $(elapsed "$t0" "$t1") s: $(($(stat -c %s "$db") / 1048576)) MiB"
}

BUILD_NOTE=""
BIG=$BENCH_DIR/app-${BENCH_SIZE_MB}mb
SMALL=$BENCH_DIR/app-${BENCH_SMALL_MB}mb
mkdir -p "$BENCH_DIR"
make_app "$BIG" "$BENCH_SIZE_MB"
[[ $SMALL == "$BIG" ]] || make_app "$SMALL" "$BENCH_SMALL_MB"

# --- timing ---------------------------------------------------------------------------------

OUT=$BENCH_DIR/out            # same filesystem as the databases and the backups folders
RES=$(mktemp -d "$BENCH_DIR/results.XXXXXX")
cleanup() {
    rm -rf "$OUT" "$RES"
    rm -f "$BIG"/storage/app/backups/database_backup_* "$SMALL"/storage/app/backups/database_backup_*
}
trap cleanup EXIT
mkdir -p "$OUT"

# Before every timed command: no outputs left, nothing dirty in flight, the source read once.
prepare() {
    local app=$1
    rm -f "$OUT"/* "$app"/storage/app/backups/database_backup_*
    sync
    cat "$app/database/database.sqlite" >/dev/null
}

# record NAME START END: appends one duration to the results of NAME.
record() { elapsed "$2" "$3" >>"$RES/$1"; }

# One db-backup run on $1, timed as NAME $2, its peak RSS (KiB) appended to $RES/$2.rss and
# its own phase timings (--json phases_ms: snapshot, flush, check, publish) to $RES/$2.phases.
run_db_backup() {
    local app=$1 name=$2 t0 t1
    prepare "$app"
    t0=$(now)
    /usr/bin/time -f '%M' -o "$RES/rss.tmp" "$BIN" --app-dir "$app" --keep 1 --json >"$RES/json.tmp"
    t1=$(now)
    record "$name" "$t0" "$t1"
    cat "$RES/rss.tmp" >>"$RES/$name.rss"
    python3 -c 'import json,sys; p=json.load(open(sys.argv[1]))["phases_ms"]; print(*(p[k]/1000 for k in ("snapshot","flush","check","publish")))' \
        "$RES/json.tmp" >>"$RES/$name.phases"
    compgen -G "$app/storage/app/backups/database_backup_*.sqlite" >/dev/null ||
        die "db-backup left no backup in $app/storage/app/backups"
}

# BENCH_JOURNAL=wal times a source in WAL mode (db-backup then also reads the -wal file; nothing
# writes during the bench, so it is empty); the cached databases are put back in rollback mode.
BENCH_JOURNAL=${BENCH_JOURNAL:-delete}
if [[ $BENCH_JOURNAL == wal ]]; then
    for a in "$BIG" "$SMALL"; do sqlite3 "$a/database/database.sqlite" "PRAGMA journal_mode=WAL" >/dev/null; done
    trap 'for a in "$BIG" "$SMALL"; do sqlite3 "$a/database/database.sqlite" "PRAGMA journal_mode=DELETE" >/dev/null; done' EXIT
fi
SQLITE_Q=$(sqlite3 --version | cut -d' ' -f1)
DB=$BIG/database/database.sqlite
log "timing, $BENCH_RUNS runs each, interleaved (db: $DB)"
for ((r = 1; r <= BENCH_RUNS; r++)); do
    log "run $r/$BENCH_RUNS"
    run_db_backup "$BIG" dbb

    prepare "$BIG"
    t0=$(now)
    cp --reflink=never "$DB" "$OUT/cp.sqlite"
    sync "$OUT/cp.sqlite"
    t1=$(now)
    record cp "$t0" "$t1"

    prepare "$BIG"
    t0=$(now)
    sqlite3 "$DB" ".backup '$OUT/backup.sqlite'"
    t1=$(now)
    qc=$(sqlite3 "$OUT/backup.sqlite" "PRAGMA quick_check")
    t2=$(now)
    [[ $qc == ok ]] || die "quick_check of the sqlite3 .backup copy said: $qc"
    record backup "$t0" "$t1"
    record quick_check "$t1" "$t2"
    record backup_qc "$t0" "$t2"
done
log "peak RSS at $BENCH_SMALL_MB MB"
for ((r = 1; r <= BENCH_RUNS; r++)); do
    run_db_backup "$SMALL" dbb_small
done

# --- report ---------------------------------------------------------------------------------

median() { sort -g "$1" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
median_col() { awk -v c="$2" '{ print $c }' "$1" >"$1.col$2" && median "$1.col$2"; }
max_mib() { sort -n "$1" | tail -1 | awk '{ printf "%.1f", $1 / 1024 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
verdict() { if awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; then echo PASS; else echo FAIL; fi; }

M_CP=$(median "$RES/cp")
M_DBB=$(median "$RES/dbb")
M_BK=$(median "$RES/backup")
M_QC=$(median "$RES/quick_check")
M_BKQC=$(median "$RES/backup_qc")
M_SMALL=$(median "$RES/dbb_small")
SIZE=$(stat -c %s "$DB")
SIZE_SMALL=$(stat -c %s "$SMALL/database/database.sqlite")

echo
printf 'db-backup benchmark: %s MiB stock database (journal mode %s), %s runs each, warm page cache, outputs on %s\n' \
    "$((SIZE / 1048576))" "$BENCH_JOURNAL" "$BENCH_RUNS" "$(df --output=fstype "$OUT" | tail -1)"
[[ -z $BUILD_NOTE ]] || printf '(%s)\n' "${BUILD_NOTE%; }"
printf '%-44s %9s %9s  %s\n' "tool" "median s" "x cp+sync" "all runs"
# row LABEL MEDIAN [FILE]: one line of the table, with every run's value when FILE is given.
row() {
    local runs=""
    [[ -z ${3:-} ]] || runs=$(sort -g "$3" | tr '\n' ' ')
    printf '%-44s %9.3f %9s  %s\n' "$1" "$2" "$(ratio "$2" "$M_CP")" "$runs"
}
row "cp + sync (physical floor)" "$M_CP" "$RES/cp"
row "db-backup --keep 1 --quiet (whole run)" "$M_DBB" "$RES/dbb"
P_SNAP=$(median_col "$RES/dbb.phases" 1)
P_FLUSH=$(median_col "$RES/dbb.phases" 2)
P_CHK=$(median_col "$RES/dbb.phases" 3)
P_PUB=$(median_col "$RES/dbb.phases" 4)
# The durable copy: snapshot, then the fsync (which starts as the snapshot ends), then publish.
awk '{ print $1 + $2 + $4 }' "$RES/dbb.phases" >"$RES/durable"
M_DURABLE=$(median "$RES/durable")
row "  phase: snapshot (consistent copy)" "$P_SNAP" "$RES/dbb.phases.col1"
row "  phase: fsync (alongside the check)" "$P_FLUSH" "$RES/dbb.phases.col2"
row "  phase: quick_check (alongside fsync)" "$P_CHK" "$RES/dbb.phases.col3"
row "  phase: publish (rename + dir fsync)" "$P_PUB" "$RES/dbb.phases.col4"
row "  consistent durable copy (snap+fsync+pub)" "$M_DURABLE" "$RES/durable"
row "sqlite3 $SQLITE_Q .backup" "$M_BK" "$RES/backup"
row "sqlite3 $SQLITE_Q PRAGMA quick_check (alone)" "$M_QC" "$RES/quick_check"
row "sqlite3 .backup + quick_check" "$M_BKQC" "$RES/backup_qc"
echo
printf 'db-backup / (sqlite3 .backup + quick_check): %s\n' "$(ratio "$M_DBB" "$M_BKQC")"
printf 'db-backup peak RSS: %s MiB at %s MiB db (%.3f s), %s MiB at %s MiB db (%.3f s)\n' \
    "$(max_mib "$RES/dbb.rss")" "$((SIZE / 1048576))" "$M_DBB" \
    "$(max_mib "$RES/dbb_small.rss")" "$((SIZE_SMALL / 1048576))" "$M_SMALL"
echo
printf 'target: durable copy <= 1.5x cp+sync              %s  (%.3f s vs %.3f s = %sx; whole run with the check: %sx)\n' \
    "$(verdict "$M_DURABLE" "$(awk -v c="$M_CP" 'BEGIN { print 1.5 * c }')")" "$M_DURABLE" "$M_CP" "$(ratio "$M_DURABLE" "$M_CP")" "$(ratio "$M_DBB" "$M_CP")"
if awk -v a="$M_DBB" -v b="$M_BKQC" 'BEGIN { exit !(a < b) }'; then v=PASS; else v=FAIL; fi
printf 'target: db-backup < sqlite3 .backup + quick_check  %s  (%.3f s vs %.3f s)\n' "$v" "$M_DBB" "$M_BKQC"
