#!/usr/bin/env bash
# Benchmark (not a test): db-backup's copy to an S3 disk versus `rclone copyto`, in the same
# run, to the same single-node Garage: the ~1 GB SQLite backup of benches/sqlite.sh's stock
# app and a MariaDB dump. Prints medians, the ratio to rclone and db-backup's peak RSS.
# See benches/README.md. Exits 0 unless something crashed: the verdicts are informational.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
# shellcheck source=benches/common.sh
source "$HERE/common.sh"

BENCH_DIR=${BENCH_DIR:-/tmp/db-backup-bench}
BENCH_SIZE_MB=${BENCH_SIZE_MB:-1024}
BENCH_RUNS=${BENCH_RUNS:-3}
BENCH_BIN=${BENCH_BIN:-}
# A MariaDB dump (db-backup's or mariadb-dump's .sql). Default: the one benches/mysql.sh left,
# else a SQL text dump of the stock database made here (`sqlite3 .dump`), which stands in for
# it (same kind of bytes: INSERT statements).
BENCH_SQL=${BENCH_SQL:-}
GARAGE=${DB_BACKUP_TEST_GARAGE:-${DB_BACKUP_TOOLS:-$HOME/.cache/db-backup/tools}/bin/garage}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/bench-target}
ROWS_PER_MB=${BENCH_ROWS_PER_MB:-1340}
PRODUCTS=5000


[[ $BENCH_RUNS =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive whole number"
[[ -x $GARAGE ]] || die "no Garage at $GARAGE: scripts/test builds it (cargo install garage --version 2.5.0 --locked --root ~/.cache/db-backup/tools)"
command -v rclone >/dev/null || die "needs rclone (apt-get install -y rclone)"
command -v sqlite3 >/dev/null || die "needs the sqlite3 CLI (apt-get install -y sqlite3)"
[[ -x /usr/bin/time ]] || die "needs GNU time for peak RSS (apt-get install -y time)"
command -v jq >/dev/null || die "needs jq (apt-get install -y jq)"

# The stock database and its Laravel-shaped app: the very builder of benches/sqlite.sh (its
# stock_sql and make_app functions), so both benches share one cached database.
eval "$(sed -n -e '/^stock_sql() {/,/^}$/p' -e '/^make_app() {/,/^}$/p' "$HERE/sqlite.sh")"
BUILD_NOTE=""
APP=$BENCH_DIR/app-${BENCH_SIZE_MB}mb
mkdir -p "$BENCH_DIR"
make_app "$APP" "$BENCH_SIZE_MB"
chmod 700 "$APP/storage/app/backups"

build_bin

# --- the dump -------------------------------------------------------------------------------
if [[ -z $BENCH_SQL ]]; then
    found=$(ls -1 /tmp/db-backup-bench-mysql/out/*.sql 2>/dev/null | head -1 || true)
    if [[ -n $found ]]; then
        BENCH_SQL=$found
        SQL_NOTE="MariaDB dump from benches/mysql.sh"
    else
        BENCH_SQL=$BENCH_DIR/stock-dump.sql
        SQL_NOTE="SQL text dump of the stock database (sqlite3 .dump; set BENCH_SQL for a MariaDB one)"
        if [[ ! -s $BENCH_SQL ]]; then
            log "writing $BENCH_SQL"
            sqlite3 "$APP/database/database.sqlite" .dump >"$BENCH_SQL.tmp"
            mv "$BENCH_SQL.tmp" "$BENCH_SQL"
        fi
    fi
else
    SQL_NOTE="BENCH_SQL"
fi
[[ -s $BENCH_SQL ]] || die "no dump at $BENCH_SQL"

# --- a Garage of our own --------------------------------------------------------------------
G=$BENCH_DIR/garage
rm -rf "$G"
mkdir -p "$G"
chmod 700 "$G"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
S3_PORT=$(free_port)
RPC_PORT=$(free_port)
cat >"$G/garage.toml" <<TOML
metadata_dir = "$G/meta"
data_dir = "$G/data"
db_engine = "lmdb"
replication_factor = 1
compression_level = "none"
rpc_bind_addr = "127.0.0.1:$RPC_PORT"
rpc_public_addr = "127.0.0.1:$RPC_PORT"
rpc_secret = "$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$S3_PORT"
TOML
chmod 600 "$G/garage.toml"
garage() { RUST_LOG=warn "$GARAGE" -c "$G/garage.toml" "$@"; }
setsid "$GARAGE" -c "$G/garage.toml" server </dev/null >"$G/garage.log" 2>&1 &
GARAGE_PID=$!
RES=$(mktemp -d "$BENCH_DIR/results.XXXXXX")
cleanup() {
    kill "$GARAGE_PID" 2>/dev/null || true
    wait "$GARAGE_PID" 2>/dev/null || true
    rm -rf "$RES" "$G"
    rm -f "$APP"/storage/app/backups/database_backup_*
}
trap cleanup EXIT
for _ in $(seq 100); do garage status >/dev/null 2>&1 && break; sleep 0.2; done
garage status >/dev/null || { cat "$G/garage.log" >&2; die "garage did not start"; }
NODE=$(garage node id -q | cut -d@ -f1)
garage layout assign -z dc1 -c 10G "$NODE" >/dev/null
garage layout apply --version 1 >/dev/null
KEYOUT=$(garage key create bench)
KEY_ID=$(awk '/Key ID:/ {print $3}' <<<"$KEYOUT")
SECRET=$(awk '/Secret key:/ {print $3}' <<<"$KEYOUT")
garage bucket create bench >/dev/null
garage bucket allow --read --write --owner bench --key "$KEY_ID" >/dev/null
ENDPOINT=http://127.0.0.1:$S3_PORT

# The app copies to disk s3 of its config/filesystems.php; secrets through the environment.
cat >"$APP/config/filesystems.php" <<'PHP'
<?php
return [
    'disks' => [
        's3' => [
            'driver' => 's3',
            'key' => env('AWS_ACCESS_KEY_ID'),
            'secret' => env('AWS_SECRET_ACCESS_KEY'),
            'region' => env('AWS_DEFAULT_REGION'),
            'bucket' => env('AWS_BUCKET'),
            'endpoint' => env('AWS_ENDPOINT'),
            'use_path_style_endpoint' => env('AWS_USE_PATH_STYLE_ENDPOINT', false),
            'root' => 'db',
        ],
    ],
];
PHP
s3env=(AWS_ACCESS_KEY_ID="$KEY_ID" AWS_SECRET_ACCESS_KEY="$SECRET" AWS_DEFAULT_REGION=garage
    AWS_BUCKET=bench AWS_ENDPOINT="$ENDPOINT" AWS_USE_PATH_STYLE_ENDPOINT=true DB_BACKUP_DISKS=s3
    # Copies are sealed with a key derived from the app's APP_KEY.
    APP_KEY=base64:YmVuY2gtYmVuY2gtYmVuY2gtYmVuY2gtYmVuY2gtYmVuY2g=)
# rclone 1.60 refuses to start with AWS_CA_BUNDLE set and a plain-http endpoint.
rclone_() {
    env -u AWS_CA_BUNDLE RCLONE_CONFIG=/dev/null RCLONE_CONFIG_S3_TYPE=s3 \
        RCLONE_CONFIG_S3_PROVIDER=Other RCLONE_CONFIG_S3_ENV_AUTH=false \
        RCLONE_CONFIG_S3_ACCESS_KEY_ID="$KEY_ID" RCLONE_CONFIG_S3_SECRET_ACCESS_KEY="$SECRET" \
        RCLONE_CONFIG_S3_ENDPOINT="$ENDPOINT" RCLONE_CONFIG_S3_REGION=garage \
        RCLONE_CONFIG_S3_FORCE_PATH_STYLE=true rclone "$@"
}
empty_bucket() { rclone_ purge s3:bench/db >/dev/null 2>&1 || true; rclone_ purge s3:bench/rc >/dev/null 2>&1 || true; }

SQL_NAME=database_backup_2000-01-01_000000.sql
SQL_BYTES=$(stat -c %s "$BENCH_SQL")
log "SQLite db $(($(stat -c %s "$APP/database/database.sqlite") / 1048576)) MiB, dump $((SQL_BYTES / 1048576)) MiB ($SQL_NOTE)"

# One round: db-backup (local backup, then the copies: the new .sqlite and, as a catch-up, the
# planted dump), its per-copy times from --json; then rclone copyto of the same two files.
for run in $(seq "$BENCH_RUNS"); do
    empty_bucket
    rm -f "$APP"/storage/app/backups/database_backup_*
    cp "$BENCH_SQL" "$APP/storage/app/backups/$SQL_NAME"
    sync
    cat "$APP/database/database.sqlite" "$BENCH_SQL" >/dev/null
    /usr/bin/time -f %M -o "$RES/rss.$run" env "${s3env[@]}" \
        "$BIN" --app-dir "$APP" --keep 2 --json >"$RES/json.$run"
    jq -r '.copies[0].error // empty' "$RES/json.$run" | grep . && die "copy failed"
    SQLITE_NAME=$(jq -r '.copies[0].copied[0].name' "$RES/json.$run")
    jq -r '.copies[0].copied[] | "\(.name) \(.duration_ms)"' "$RES/json.$run" >"$RES/ours.$run"
    BACKUP=$APP/storage/app/backups/$SQLITE_NAME
    for f in "$BACKUP" "$APP/storage/app/backups/$SQL_NAME"; do
        t0=$(now)
        rclone_ copyto "$f" "s3:bench/rc/$(basename "$f")"
        t1=$(now)
        echo "$(basename "$f") $(elapsed "$t0" "$t1")" >>"$RES/rclone.$run"
    done
    SQLITE_BYTES=$(stat -c %s "$BACKUP")
    log "run $run: $(tr '\n' ' ' <"$RES/ours.$run")| rclone: $(tr '\n' ' ' <"$RES/rclone.$run")| rss $(cat "$RES/rss.$run") KiB"
done

median() { sort -n | awk '{a[NR]=$1} END { if (NR % 2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2 }'; }
ours() { cat "$RES"/ours.* | awk -v p="$1" '$1 ~ p { printf "%.3f\n", $2 / 1000 }' | median; }
theirs() { cat "$RES"/rclone.* | awk -v p="$1" '$1 ~ p { print $2 }' | median; }
OURS_DB=$(ours '[.]sqlite$')
OURS_SQL=$(ours '[.]sql$')
RC_DB=$(theirs '[.]sqlite$')
RC_SQL=$(theirs '[.]sql$')
RSS=$(cat "$RES"/rss.* | sort -n | tail -1)

echo
echo "== db-backup copy to S3 (Garage, loopback) vs rclone copyto, medians of $BENCH_RUNS =="
printf '%-28s %10s %10s %8s\n' "file" "db-backup" "rclone" "ratio"
row() { awk -v n="$1" -v a="$2" -v b="$3" -v s="$4" 'BEGIN { printf "%-28s %9.2fs %9.2fs %7.2fx   (%.0f MiB, %.0f MiB/s ours)\n", n, a, b, a / b, s / 1048576, s / 1048576 / a }'; }
row "SQLite backup" "$OURS_DB" "$RC_DB" "$SQLITE_BYTES"
row "dump (.sql)" "$OURS_SQL" "$RC_SQL" "$SQL_BYTES"
echo "db-backup peak RSS (whole run: local backup + both copies): $((RSS / 1024)) MiB"
awk -v a="$OURS_DB" -v b="$RC_DB" 'BEGIN { print (a <= 1.1 * b ? "PASS" : "FAIL") ": SQLite upload <= 1.1x rclone" }'
awk -v a="$OURS_SQL" -v b="$RC_SQL" 'BEGIN { print (a <= 1.1 * b ? "PASS" : "FAIL") ": dump upload <= 1.1x rclone" }'
awk -v r="$RSS" 'BEGIN { print (r < 65536 ? "PASS" : "FAIL") ": peak RSS < 64 MiB" }'
echo "dump: $SQL_NOTE"

# With zstd and age on: one more round per run, the copies streamed through both transforms
# (compressed and encrypted into a private temporary file, then uploaded).
age-keygen -o "$RES/age.key" 2>/dev/null
RECIPIENT=$(age-keygen -y "$RES/age.key")
for run in $(seq "$BENCH_RUNS"); do
    empty_bucket
    rm -f "$APP"/storage/app/backups/database_backup_*
    cp "$BENCH_SQL" "$APP/storage/app/backups/$SQL_NAME"
    sync
    /usr/bin/time -f %M -o "$RES/trss.$run" env "${s3env[@]}" DB_BACKUP_COMPRESS=zstd \
        DB_BACKUP_AGE_RECIPIENTS="$RECIPIENT" "$BIN" --app-dir "$APP" --keep 2 --json >"$RES/tjson.$run"
    jq -r '.copies[0].error // empty' "$RES/tjson.$run" | grep . && die "copy failed"
    jq -r '.copies[0].copied[] | "\(.name) \(.duration_ms) \(.size_bytes)"' "$RES/tjson.$run" >"$RES/tours.$run"
    log "zstd+age run $run: $(tr '\n' ' ' <"$RES/tours.$run")| rss $(cat "$RES/trss.$run") KiB"
done
tmed() { cat "$RES"/tours.* | awk -v p="$1" '$1 ~ p { printf "%.3f\n", $2 / 1000 }' | median; }
tsize() { cat "$RES"/tours.* | awk -v p="$1" '$1 ~ p { print $3 }' | head -1; }
T_DB=$(tmed '[.]sqlite[.]zst[.]age$')
T_SQL=$(tmed '[.]sql[.]zst[.]age$')
TRSS=$(cat "$RES"/trss.* | sort -n | tail -1)
echo
echo "== with DB_BACKUP_COMPRESS=zstd and an age recipient, medians of $BENCH_RUNS =="
trow() { awk -v n="$1" -v t="$2" -v s="$3" -v z="$4" 'BEGIN { printf "%-28s %9.2fs  %6.0f MiB/s of backup  size ratio %.3f (%.0f -> %.0f MiB)\n", n, t, s / 1048576 / t, z / s, s / 1048576, z / 1048576 }'; }
trow "SQLite backup" "$T_DB" "$SQLITE_BYTES" "$(tsize '[.]sqlite[.]zst[.]age$')"
trow "dump (.sql)" "$T_SQL" "$SQL_BYTES" "$(tsize '[.]sql[.]zst[.]age$')"
echo "db-backup peak RSS with transforms: $((TRSS / 1024)) MiB"
[[ -z $BUILD_NOTE ]] || echo "note: $BUILD_NOTE"
