#!/usr/bin/env bash
# Restore speed, SQLite: `db-backup restore --yes` (check, safety backup, restore) against
# `sqlite3 live '.restore backup'` and `cp` + `sync` of the same file, in the same run,
# interleaved, medians. Target: at most 1.5x sqlite3's .restore.
#
#   BENCH_ROWS=5000000 BENCH_RUNS=3 BENCH_DIR=/tmp/db-backup-restore bash benches/restore.sh
#
# BENCH_ROWS rows of ~170 bytes and an index (5 M rows: a 1.3 GB database). BENCH_BIN picks a
# built binary (else a release build of this checkout).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
# shellcheck source=benches/common.sh
source "$ROOT/benches/common.sh"

BENCH_ROWS=${BENCH_ROWS:-5000000}
BENCH_RUNS=${BENCH_RUNS:-3}
BENCH_DIR=${BENCH_DIR:-/tmp/db-backup-restore}
command -v sqlite3 >/dev/null || die "sqlite3 not found: apt-get install sqlite3"
build_bin

APP=$BENCH_DIR/app
DB=$APP/database/database.sqlite
BACKUPS=$APP/storage/app/backups
rm -rf "$BENCH_DIR"
# Its gigabytes go with the run (made again each time).
trap 'rm -rf "$BENCH_DIR"' EXIT
mkdir -p "$APP/database" "$APP/storage/app"
touch "$APP/artisan"
echo "DB_CONNECTION=sqlite" >"$APP/.env"
log "making a database of $BENCH_ROWS rows"
sqlite3 "$DB" "PRAGMA page_size=4096; CREATE TABLE t(id INTEGER PRIMARY KEY, a TEXT, b BLOB);
  WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < $BENCH_ROWS)
  INSERT INTO t SELECT x, hex(randomblob(40)), randomblob(80) FROM c; CREATE INDEX t_a ON t(a);"
"$BIN" --app-dir "$APP" --quiet
BACKUP=$(ls "$BACKUPS"/database_backup_*.sqlite)
log "database and backup: $(du -h "$BACKUP" | cut -f1)"

declare -a ours theirs copy
for ((r = 1; r <= BENCH_RUNS; r++)); do
    # Safety backups of earlier runs go; the backup restored stays.
    find "$BACKUPS" -name 'database_backup_*' ! -path "$BACKUP" -delete
    sync
    t=$(now); "$BIN" restore "$BACKUP" --yes --app-dir "$APP" >/dev/null; ours+=("$(elapsed "$t" "$(now)")")
    sync
    t=$(now); sqlite3 "$DB" ".restore '$BACKUP'"; theirs+=("$(elapsed "$t" "$(now)")")
    sync
    t=$(now); cp "$BACKUP" "$BENCH_DIR/copy" && sync; copy+=("$(elapsed "$t" "$(now)")")
    rm -f "$BENCH_DIR/copy"
    log "run $r: db-backup ${ours[-1]} s, sqlite3 .restore ${theirs[-1]} s, cp+sync ${copy[-1]} s"
done
median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
m_ours=$(median "${ours[@]}"); m_theirs=$(median "${theirs[@]}"); m_copy=$(median "${copy[@]}")
ratio=$(awk -v a="$m_ours" -v b="$m_theirs" 'BEGIN { printf "%.2f", a / b }')
echo "sqlite restore, $(du -h "$BACKUP" | cut -f1), medians of $BENCH_RUNS:"
echo "  db-backup restore --yes (check + safety backup + restore): $m_ours s"
echo "  sqlite3 .restore: $m_theirs s"
echo "  cp + sync: $m_copy s"
echo "  ratio db-backup / sqlite3 .restore: $ratio (target <= 1.5)"
