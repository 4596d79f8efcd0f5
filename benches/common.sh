# Shared by the benchmarks (sourced, not run): messages, timing, and the release binary.
# Expects ROOT (the checkout) and BENCH_BIN / CARGO_TARGET_DIR set by the caller.

die() { echo "$(basename "$0"): $*" >&2; exit 1; }
log() { echo "[bench] $*" >&2; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", b - a }'; }

# Sets BIN: BENCH_BIN when given, else a release build of this checkout.
build_bin() {
    if [[ -n ${BENCH_BIN:-} ]]; then
        BIN=$BENCH_BIN
    else
        log "building db-backup (release) in $CARGO_TARGET_DIR"
        cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml"
        BIN=$CARGO_TARGET_DIR/release/db-backup
    fi
    [[ -x $BIN ]] || die "no db-backup binary at $BIN"
    # The benches run it from other folders (the app's).
    BIN=$(realpath "$BIN")
}
