#!/usr/bin/env bash
# Benchmark (not a test) of continuous backup, `db-backup replicate`: with a writer of
# BENCH_RATE transactions per second (500) for BENCH_SECS seconds (30), in the same run:
# the writer's p99 commit latency without and with replicate (target: at most 1.1×), pooled
# over BENCH_ROUNDS (8) alternating rounds of BENCH_SECS each way, with a bootstrap interval
# over the rounds, each round's first
# BENCH_WARM seconds (5) written but not counted, on both sides (the ratio with them counted is
# printed too, and every commit is kept in latencies.json beside result.json); the RPO to
# the backups folder (target p99 ≤ 2 s) and to S3 (a Garage of its own; target p99 ≤ 5 s), the
# -wal's largest size, and the S3 requests per hour counted by Garage itself (PutObject,
# ListObjectsV2…), while writing and while idle (BENCH_IDLE seconds, 60). Then `restore --at`
# of the end against a plain restore of the chain's backup (target: at most 2×).
# See benches/README.md. Exits 0 unless something crashed: the verdicts are informational.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
# shellcheck source=benches/common.sh
source "$HERE/common.sh"

BENCH_DIR=${BENCH_DIR:-/tmp/db-backup-bench-replicate}
BENCH_RATE=${BENCH_RATE:-500}
BENCH_SECS=${BENCH_SECS:-30}
BENCH_IDLE=${BENCH_IDLE:-60}
BENCH_ROUNDS=${BENCH_ROUNDS:-8}
BENCH_WARM=${BENCH_WARM:-5}
BENCH_SIZE_MB=${BENCH_SIZE_MB:-256}
BENCH_BIN=${BENCH_BIN:-}
GARAGE=${DB_BACKUP_TEST_GARAGE:-${DB_BACKUP_TOOLS:-$HOME/.cache/db-backup/tools}/bin/garage}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/bench-target}

[[ -x $GARAGE ]] || die "no Garage at $GARAGE: scripts/test builds it"
command -v rclone >/dev/null || die "needs rclone (apt-get install -y rclone)"
command -v python3 >/dev/null || die "needs python3"
command -v sqlite3 >/dev/null || die "needs the sqlite3 CLI (apt-get install -y sqlite3)"
build_bin

# --- a Garage of our own, with its metrics (the request counts are the server's) ----------
rm -rf "$BENCH_DIR"
mkdir -p "$BENCH_DIR"
# The S3 server keeps its data in memory (/dev/shm): a real S3 is another machine, and a
# Garage writing to this disk would slow the app's commits, not db-backup.
G=$(mktemp -d /dev/shm/db-backup-bench-garage.XXXXXX)
mkdir -p "$G"
chmod 700 "$G"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
S3_PORT=$(free_port)
RPC_PORT=$(free_port)
ADMIN_PORT=$(free_port)
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

[admin]
api_bind_addr = "127.0.0.1:$ADMIN_PORT"
TOML
chmod 600 "$G/garage.toml"
garage() { RUST_LOG=warn "$GARAGE" -c "$G/garage.toml" "$@"; }
setsid nice -n 19 "$GARAGE" -c "$G/garage.toml" server </dev/null >"$G/garage.log" 2>&1 &
GARAGE_PID=$!
# With autogroups (the kernel's default), nice only orders the tasks of one session, and
# sessions share the CPU equally: Garage, a session of its own, would take half the cores from
# the app whatever its nice. Its session's nice is set instead (it stands in for another machine).
for _ in $(seq 50); do [[ -e /proc/$GARAGE_PID/autogroup ]] && break; sleep 0.02; done
[[ ${BENCH_GARAGE_GROUP_NICE:-19} == none ]] || echo "${BENCH_GARAGE_GROUP_NICE:-19}" >"/proc/$GARAGE_PID/autogroup" 2>/dev/null || true
cleanup() {
    kill "$GARAGE_PID" 2>/dev/null || true
    wait "$GARAGE_PID" 2>/dev/null || true
    rm -rf "$G"
    # The app and its backups (made again each run); result.json stays.
    rm -rf "${APP:-/nonexistent}"
}
trap cleanup EXIT
for _ in $(seq 100); do garage status >/dev/null 2>&1 && break; sleep 0.2; done
NODE=$(garage node id -q | cut -d@ -f1)
garage layout assign -z dc1 -c 10G "$NODE" >/dev/null
garage layout apply --version 1 >/dev/null
KEYOUT=$(garage key create bench)
KEY_ID=$(awk '/Key ID:/ {print $3}' <<<"$KEYOUT")
SECRET=$(awk '/Secret key:/ {print $3}' <<<"$KEYOUT")
garage bucket create bench >/dev/null
garage bucket allow --read --write --owner bench --key "$KEY_ID" >/dev/null
ENDPOINT=http://127.0.0.1:$S3_PORT

# --- the app: a stock database of BENCH_SIZE_MB in WAL mode ---------------------------------
APP=$BENCH_DIR/app
mkdir -p "$APP/database" "$APP/config" "$APP/storage/app"
touch "$APP/artisan"
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
# BENCH_LOCAL=1: the backups folder alone (no S3 disk): what the shipping to S3 costs the app
# on this machine is then left out of the latency (the S3 RPO is then not measured).
DISKS_LINE='DB_BACKUP_DISKS=s3\n'
[[ ${BENCH_LOCAL:-0} == 1 ]] && DISKS_LINE=''
printf 'DB_CONNECTION=sqlite\nAPP_TIMEZONE=UTC\nAPP_KEY=base64:YmVuY2gtYmVuY2gtYmVuY2gtYmVuY2gtYmVuY2gtYmVuY2g=\n%bDB_BACKUP_COMPRESS=zstd\n' "$DISKS_LINE" >"$APP/.env"
log "building a ${BENCH_SIZE_MB} MiB stock database"
sqlite3 "$APP/database/database.sqlite" <<SQL
PRAGMA journal_mode=OFF;
CREATE TABLE stocks (product_id INTEGER PRIMARY KEY, stock INTEGER NOT NULL);
CREATE TABLE mouvements (id INTEGER PRIMARY KEY, product_id INTEGER NOT NULL, quantity INTEGER NOT NULL, pad BLOB);
CREATE INDEX mouvements_product ON mouvements(product_id);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500) INSERT INTO stocks SELECT i, 0 FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $((BENCH_SIZE_MB * 3000)))
  INSERT INTO mouvements(product_id, quantity, pad) SELECT i % 500 + 1, 1, randomblob(300) FROM n;
PRAGMA journal_mode=WAL;
SQL
mkdir -p "$APP/storage/app/backups"
chmod 700 "$APP/storage/app/backups"
cp "$APP/database/database.sqlite" "$BENCH_DIR/pristine.sqlite"

BUCKET_ENV=$(python3 -c 'import json,sys; print(json.dumps(dict(zip(sys.argv[1::2], sys.argv[2::2]))))' \
    AWS_ACCESS_KEY_ID "$KEY_ID" AWS_SECRET_ACCESS_KEY "$SECRET" AWS_DEFAULT_REGION garage \
    AWS_BUCKET bench AWS_ENDPOINT "$ENDPOINT" AWS_USE_PATH_STYLE_ENDPOINT true \
    RCLONE_CONFIG /dev/null RCLONE_CONFIG_S3_TYPE s3 RCLONE_CONFIG_S3_PROVIDER Other \
    RCLONE_CONFIG_S3_ENV_AUTH false RCLONE_CONFIG_S3_ACCESS_KEY_ID "$KEY_ID" \
    RCLONE_CONFIG_S3_SECRET_ACCESS_KEY "$SECRET" RCLONE_CONFIG_S3_ENDPOINT "$ENDPOINT" \
    RCLONE_CONFIG_S3_REGION garage RCLONE_CONFIG_S3_FORCE_PATH_STYLE true)

log "writer at $BENCH_RATE tx/s for $BENCH_SECS s without, then with replicate; then $BENCH_IDLE s idle"
python3 "$HERE/replicate.py" "$APP" "$BIN" "$BENCH_RATE" "$BENCH_SECS" "$BENCH_IDLE" \
    "http://127.0.0.1:$ADMIN_PORT/metrics" "$BUCKET_ENV" "$BENCH_ROUNDS" "$BENCH_DIR/pristine.sqlite" "$BENCH_WARM" | tee "$BENCH_DIR/result.json"

# --- restore --at the end, against a plain restore of the chain's backup --------------------
cd "$APP"
# The newest backup: the last replicate session's chain starts from it when the app restarted
# its -wal while replicate was stopped between rounds (else the first one's chain goes on).
SNAP=$(ls storage/app/backups/database_backup_*.sqlite | tail -1)
AT=$(date -u -d '+1 min' +%Y-%m-%dT%H:%M:%SZ)
sync
t0=$(now); AT_OUT=$("$BIN" restore --at "$AT" --yes 2>&1); t1=$(now)
sync
t2=$(now); "$BIN" restore "$SNAP" --yes >/dev/null 2>&1; t3=$(now)
AT_S=$(elapsed "$t0" "$t1")
PLAIN_S=$(elapsed "$t2" "$t3")
APPLIED=$(grep -o '+ [0-9]* transaction(s)' <<<"$AT_OUT" | head -1)
BASE=$(grep -o 'restored database_backup_[0-9_-]*\.sqlite' <<<"$AT_OUT" | head -1)
echo "restore --at (${BASE#restored } $APPLIED): ${AT_S} s; plain restore of $(basename "$SNAP"): ${PLAIN_S} s; ratio $(awk -v a="$AT_S" -v b="$PLAIN_S" 'BEGIN { printf "%.2f", a / b }') (target ≤ 2)"
