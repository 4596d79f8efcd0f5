#!/usr/bin/env bash
# Benchmark (not a test) of PostgreSQL backups and restores, against the reference tools in the
# same run, on a throwaway PostgreSQL 15 cluster of its own: `db-backup backup` against
# `pg_dump -Fp` and `pg_dump -Fc` (wall time, peak RSS, file size; goals: time ≤ 0.8× pg_dump
# -Fp, RSS < 64 MiB), and `db-backup restore` against `psql -f` of the same file and
# `pg_restore` of the -Fc file into an empty database. The data: pgbench's tables at scale
# BENCH_SCALE (20, about 300 MiB) plus a text/jsonb/bytea table. BENCH_RUNS runs each (3),
# medians reported. See benches/README.md. Exits 0 unless something crashed.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
# shellcheck source=benches/common.sh
source "$HERE/common.sh"

BENCH_SCALE=${BENCH_SCALE:-20}
BENCH_RUNS=${BENCH_RUNS:-3}
BENCH_BIN=${BENCH_BIN:-}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/bench-target}
[[ -x $PGBIN/initdb ]] || die "needs PostgreSQL 15 (apt-get install -y postgresql)"
command -v /usr/bin/time >/dev/null || die "needs GNU time (apt-get install -y time)"
build_bin

W=$(mktemp -d /tmp/db-backup-bench-pg.XXXXXX)
chmod 755 "$W"
as_pg() { if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[[ $(id -u) -eq 0 ]] && chown postgres "$W"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
as_pg "$PGBIN/initdb" -D "$W/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
as_pg "$PGBIN/pg_ctl" -D "$W/data" -l "$W/log" -o "-p $PORT -k $W -c listen_addresses=127.0.0.1" -w start >/dev/null
cleanup() { as_pg "$PGBIN/pg_ctl" -D "$W/data" -m fast stop >/dev/null 2>&1 || true; rm -rf "$W"; }
trap cleanup EXIT
export PGHOST=127.0.0.1 PGPORT=$PORT PGUSER=postgres
psql() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }

log "pgbench data at scale $BENCH_SCALE, plus a mixed table"
psql -d postgres -c "CREATE DATABASE stock"
"$PGBIN/pgbench" -q -i -s "$BENCH_SCALE" stock >/dev/null 2>&1
psql -d stock -c "CREATE TABLE mixed (id bigserial PRIMARY KEY, name text, attrs jsonb, photo bytea, at timestamptz DEFAULT now());
  INSERT INTO mixed (name, attrs, photo) SELECT 'item ' || i, jsonb_build_object('i', i, 'tags', jsonb_build_array('a', i % 7)), decode(md5(i::text), 'hex') FROM generate_series(1, 300000) i;" \
  -c "VACUUM ANALYZE"
DB_SIZE=$(psql -d stock -At -c "SELECT pg_size_pretty(pg_database_size('stock'))")

APP=$W/app
mkdir -p "$APP/storage/app/backups" "$APP/config"
touch "$APP/artisan"
printf 'DB_CONNECTION=pgsql\nDB_HOST=127.0.0.1\nDB_PORT=%s\nDB_DATABASE=stock\nDB_USERNAME=postgres\nDB_PASSWORD=\nAPP_TIMEZONE=UTC\n' "$PORT" >"$APP/.env"

# Runs "$@" and prints "seconds peak_rss_kib".
measure() {
    /usr/bin/time -f '%e %M' -o "$W/time" "$@" >/dev/null 2>"$W/stderr" ||
        die "$1 failed: $(tail -3 "$W/stderr")"
    tail -1 "$W/time"
}
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

declare -A T R
for run in $(seq "$BENCH_RUNS"); do
    log "run $run/$BENCH_RUNS"
    rm -f "$APP"/storage/app/backups/*.sql
    read -r t r < <(measure "$BIN" --app-dir "$APP" backup --keep=1)
    T[ours]+="$t "; R[ours]+="$r "
    read -r t r < <(measure "$PGBIN/pg_dump" -Fp -d stock -f "$W/plain.sql")
    T[fp]+="$t "; R[fp]+="$r "
    read -r t r < <(measure "$PGBIN/pg_dump" -Fc -d stock -f "$W/custom.dump")
    T[fc]+="$t "; R[fc]+="$r "
done
OURS_FILE=$(ls "$APP"/storage/app/backups/*.sql)
size() { stat -c %s "$1" | awk '{ printf "%.0f MiB", $1 / 1048576 }'; }

# Restores: into an empty database each time.
for run in $(seq "$BENCH_RUNS"); do
    psql -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS r1" -c "CREATE DATABASE r1"
    sed -i "s/^DB_DATABASE=.*/DB_DATABASE=r1/" "$APP/.env"
    read -r t r < <(measure "$BIN" --app-dir "$APP" restore "$OURS_FILE" --yes)
    T[rours]+="$t "; R[rours]+="$r "
    psql -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS r2" -c "CREATE DATABASE r2"
    read -r t r < <(measure "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -d r2 -f "$OURS_FILE")
    T[rpsql]+="$t "; R[rpsql]+="$r "
    psql -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS r3" -c "CREATE DATABASE r3"
    read -r t r < <(measure "$PGBIN/pg_restore" -d r3 "$W/custom.dump")
    T[rpgr]+="$t "; R[rpgr]+="$r "
    sed -i "s/^DB_DATABASE=.*/DB_DATABASE=stock/" "$APP/.env"
done
m() { tr ' ' '\n' <<<"${1% }" | median; }
mib() { awk -v k="$(m "$1")" 'BEGIN { printf "%.0f MiB", k / 1024 }'; }
ratio() { awk -v a="$(m "$1")" -v b="$(m "$2")" 'BEGIN { printf "%.2f", a / b }'; }
echo "PostgreSQL 15, database $DB_SIZE (pgbench scale $BENCH_SCALE + 300k mixed rows), medians of $BENCH_RUNS"
echo "backup   db-backup        $(m "${T[ours]}") s  peak RSS $(mib "${R[ours]}")  file $(size "$OURS_FILE")"
echo "backup   pg_dump -Fp      $(m "${T[fp]}") s  peak RSS $(mib "${R[fp]}")  file $(size "$W/plain.sql")"
echo "backup   pg_dump -Fc      $(m "${T[fc]}") s  peak RSS $(mib "${R[fc]}")  file $(size "$W/custom.dump")"
echo "         db-backup / pg_dump -Fp: $(ratio "${T[ours]}" "${T[fp]}") (goal ≤ 0.8), RSS goal < 64 MiB"
echo "restore  db-backup        $(m "${T[rours]}") s  peak RSS $(mib "${R[rours]}")  (safety backup of the empty target + one transaction)"
echo "restore  psql -f          $(m "${T[rpsql]}") s  peak RSS $(mib "${R[rpsql]}")"
echo "restore  pg_restore       $(m "${T[rpgr]}") s  peak RSS $(mib "${R[rpgr]}")"
echo "         db-backup / psql -f: $(ratio "${T[rours]}" "${T[rpsql]}"); / pg_restore: $(ratio "${T[rours]}" "${T[rpgr]}")"
