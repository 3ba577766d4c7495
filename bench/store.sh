#!/usr/bin/env bash
# How fast is the readings store? Runs store/examples/store_bench (release) against SQLite in a temp
# dir and against a private PostgreSQL cluster (fsync on; started by the example, or --pg-url), and
# prints one table: commit throughput in groups of 512 (1,000 clients x 8 sensors) on a fresh
# database and on one of 10 million readings or more, bytes on disk per million readings, and the
# latency of 24 h of one sensor at 10 s (8,640 rows) and of 30 days of hourly buckets (720).
#
# Usage: bench/store.sh [--only sqlite|pg] [--pg-url URL] [--out DIR] [--runs N] [--quick]
# --quick: a small database (about 150,000 readings), to try the script; its figures mean little.
# Takes several minutes per backend (the fill). Figures and logs stay in --out (default a new /tmp
# dir); the SQLite database is removed at the end.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

only=
pg_url=
out=
runs=30
size=()
while [ $# -gt 0 ]; do
    case "$1" in
        --only) only=$2; shift 2 ;;
        --pg-url) pg_url=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --runs) runs=$2; shift 2 ;;
        --quick) size=(--throughput 51200 --history-days 1 --hot-clients 1); shift ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done
out=${out:-$(mktemp -d /tmp/cliser-store-bench.XXXXXX)}
mkdir -p "$out"

say "building release: store_bench"
(cd "$BENCH_REPO" && cargo build --release --quiet -p cliser-store --example store_bench) || die "cargo build failed"
bin=$BENCH_TARGET/release/examples/store_bench

have_pg() {
    command -v initdb >/dev/null && command -v pg_ctl >/dev/null && return 0
    compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date -u +%Y-%m-%dT%H:%MZ)
files=()
if [ "$only" != pg ]; then
    say "sqlite: running (log in $out/sqlite.log)"
    mkdir -p "$out/sqlite"
    "$bin" --backend sqlite --dir "$out/sqlite" --runs "$runs" "${size[@]}" > "$out/sqlite.kv" 2> "$out/sqlite.log" ||
        die "sqlite run failed: $(tail -3 "$out/sqlite.log")"
    rm -f "$out/sqlite/bench.db" "$out/sqlite/bench.db-wal" "$out/sqlite/bench.db-shm"
    files+=("$out/sqlite.kv")
fi
if [ "$only" != sqlite ]; then
    if [ -z "$pg_url" ] && ! have_pg; then
        say "installing postgresql (Debian)"
        apt_install postgresql
    fi
    say "pg: running (log in $out/pg.log)"
    args=(--backend pg --runs "$runs" "${size[@]}")
    [ -n "$pg_url" ] && args+=(--pg-url "$pg_url")
    "$bin" "${args[@]}" > "$out/pg.kv" 2> "$out/pg.log" || die "pg run failed: $(tail -3 "$out/pg.log")"
    files+=("$out/pg.kv")
fi
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

mib() { awk -v b="$1" 'BEGIN {printf "%.0f MB", b / 1e6}'; }
k() { awk -v n="$1" 'BEGIN {printf "%.1fk", n / 1000}'; }
echo
echo "$(nproc) cores (shared with other work: load average $load_before at the start, $load_after at the end); $started."
echo
printf '| store | commits/s, fresh | commits/s, %s readings | fill/s (groups of 480-8,000) | bytes / 1M readings: raw / all | 24 h of one sensor (%s rows): first / median / max | 30 d hourly (%s buckets): first / median / max |\n' \
    "$(kv "${files[0]}" readings_total | awk '{printf "%.1fM", $1 / 1e6}')" "$(kv "${files[0]}" q24h_rows)" "$(kv "${files[0]}" q30d_buckets)"
printf '|---|---:|---:|---:|---|---|---|\n'
for f in "${files[@]}"; do
    name=$(kv "$f" backend)
    [ "$name" = pg ] && name="PostgreSQL $(kv "$f" server_version)"
    [ "$name" = sqlite ] && name="SQLite $(kv "$f" sqlite_version)"
    row() {
        local tag=$1 label=$2
        printf '| %s | %s | %s | %s | %s / %s | %s / %s / %s ms | %s / %s / %s ms |\n' "$label" \
            "$(k "$(kv "$f" commit_per_s_fresh)")" "$(k "$(kv "$f" commit_per_s_full)")" "$(k "$(kv "$f" fill_per_s)")" \
            "$(mib "$(kv "$f" fleet_bytes_per_million_raw)")" "$(mib "$(kv "$f" fleet_bytes_per_million_all)")" \
            "$(kv "$f" "${tag}q24h_ms_first")" "$(kv "$f" "${tag}q24h_ms_median")" "$(kv "$f" "${tag}q24h_ms_max")" \
            "$(kv "$f" "${tag}q30d_ms_first")" "$(kv "$f" "${tag}q30d_ms_median")" "$(kv "$f" "${tag}q30d_ms_max")"
    }
    row "" "$name"
    if [ -n "$(kv "$f" vacuumed_q24h_ms_median)" ]; then
        row vacuumed_ "$name, after VACUUM"
    fi
done
echo
echo "- commits/s: readings per second committed in groups of 512 (64 clients' 8 sensors), each commit durable (SQLite WAL + synchronous=FULL; PostgreSQL fsync on)."
echo "- bytes / 1M: measured after the throughput run (a fleet at 10 s); raw = the readings table and its indexes, all = every table."
for f in "${files[@]}"; do
    echo "- $(kv "$f" backend): $(kv "$f" readings_total) readings at the end, $(mib "$(kv "$f" bytes_all)") on disk in all ($(grep '^size_' "$f" | sed 's/^size_//' | awk -F= '{printf "%s %.0f MB, ", $1, $2 / 1e6}' | sed 's/, $//'))."
done
echo
echo "raw figures and logs: $out"
