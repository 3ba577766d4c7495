#!/usr/bin/env bash
# Issue 26's figures for a fleet of servers on one PostgreSQL store. Runs
# server/examples/fleet_bench (release) against a private PostgreSQL cluster it starts itself, with
# real servers, Pi clients and cliser-load, and prints one table:
# - duty failover: the leader killed with -9 -> the survivor leads (its /api/fleet), TRIALS trials;
# - Pi failover: a server killed with -9 -> each of its 3 Pis registered on the other server, and
#   its first reading stored after the kill, TRIALS/2 trials;
# - live lag across servers: a reading committed on A -> its event on B's /api/events, while
#   cliser-load drives A with CLIENTS clients polled every second (CLIENTS readings/s);
# - PostgreSQL's load meanwhile: transactions per second, its processes' CPU; and with CLIENTS Pis
#   registered but polled every 30 s (the fleet's own statements: leases, heartbeats, views).
#
# Usage: bench/fleet.sh [--trials N] [--clients N] [--seconds N] [--only duty|pi|lag|idle] [--out DIR]
set -euo pipefail
source "$(dirname "$0")/lib.sh"

trials=10
clients=1000
seconds=30
only=
out=
while [ $# -gt 0 ]; do
    case "$1" in
        --trials) trials=$2; shift 2 ;;
        --clients) clients=$2; shift 2 ;;
        --only) only=$2; shift 2 ;;
        --seconds) seconds=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done
out=${out:-$(mktemp -d /tmp/cliser-fleet-bench.XXXXXX)}
mkdir -p "$out"

if ! command -v initdb >/dev/null && ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
    say "installing postgresql (Debian)"
    apt_install postgresql
fi
say "building release: fleet_bench, the server, the Pi client, cliser-load"
(cd "$BENCH_REPO" && cargo build --release --quiet -p cliser-server --example fleet_bench &&
    cargo build --release --quiet --bin cliser-server --bin cliser-pi-client --bin cliser-load) || die "cargo build failed"

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date -u +%Y-%m-%dT%H:%MZ)
say "running (log in $out/fleet.log)"
"$BENCH_TARGET/release/examples/fleet_bench" "$trials" "$clients" "$seconds" $only > "$out/fleet.kv" 2> "$out/fleet.log" ||
    die "fleet_bench failed: $(tail -5 "$out/fleet.log")"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
f=$out/fleet.kv
row() {
    [ -n "$(kv "$f" "$2_n")" ] || return 0
    printf '| %s | %s | %s | %s | %s |\n' "$1" "$(kv "$f" "$2_n")" "$(kv "$f" "$2_p50_ms")" "$(kv "$f" "$2_p99_ms")" "$(kv "$f" "$2_max_ms")"
}
echo
echo "$(nproc) cores (load average $load_before at the start, $load_after at the end); $started."
echo
rows=$(
    row "duty failover: leader kill -9 -> survivor leads" duty_failover
    row "Pi failover: server kill -9 -> Pi registered on the other" pi_registered
    row "Pi failover: server kill -9 -> Pi's first reading stored" pi_first_stored
    row "live lag: committed on A -> event on B ($(kv "$f" lag_clients) clients, $(kv "$f" lag_rate) readings/s)" live_lag
)
if [ -n "$rows" ]; then
    echo "| figure | n | p50 ms | p99 ms | max ms |"
    echo "|---|---:|---:|---:|---:|"
    echo "$rows"
    echo
fi
if [ -n "$(kv "$f" pg_xact_per_s)" ]; then
    echo "PostgreSQL during the live-lag run: $(kv "$f" pg_xact_per_s) transactions/s, its processes $(kv "$f" pg_cpu_percent) % of one core."
fi
if [ -n "$(kv "$f" idle_pg_xact_per_s)" ]; then
    echo "PostgreSQL with $(kv "$f" idle_clients) Pis registered, polled every 30 s: $(kv "$f" idle_pg_xact_per_s) transactions/s, its processes $(kv "$f" idle_pg_cpu_percent) % of one core."
fi
echo
echo "raw figures and logs: $out"
