#!/usr/bin/env bash
# The page people open every day, on a big store and on a big fleet (issue 22's figures). In
# headless Chromium, a fresh profile (empty cache) for every load, driven by
# testkit/examples/page_figures.rs:
#   1. a store of 10,368,000 readings (store/examples/fill_store: 5 Pis x 8 sensors every 10 s for
#      30 days ending now, through the store's own commit) under the release server: navigation
#      start -> the first temperature on the page (`cliser-values-shown`), and, in the same page,
#      `CliserChart.open` of pi-0000's 8 sensors for 30 days -> the animation frame after it drew.
#      Targets: values shown <= 500 ms median; the 30-day chart of 8 sensors <= 300 ms median.
#   2. a fleet of 200 Pis x 2 sensors (one reading a minute for a day: 576,000 readings): the first
#      load's transfer (compressed, uPlot included; target <= 150 KB) and navigation -> values shown.
# No Pi is connected: the page shows what the store holds (every node offline), as after a restart.
#
# Usage: bench/web-fleet.sh [--loads N] [--out DIR]     (default 10 loads each)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

loads=10
out=
while [ $# -gt 0 ]; do
    case "$1" in
        --loads) loads=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done
command -v chromium >/dev/null || die "chromium not found (Debian: apt-get install chromium)"
command -v curl >/dev/null || die "curl is needed"

work=$(mktemp -d /tmp/cliser-web-fleet.XXXXXX)
spid=
stop_server() {
    if [ -n "$spid" ]; then
        kill -TERM "$spid" 2>/dev/null || true
        wait "$spid" 2>/dev/null || true
        spid=
    fi
}
cleanup() {
    stop_server
    if [ -n "$out" ]; then
        mkdir -p "$out"
        cp "$work"/*.kv "$work"/*.log "$out"/ 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

build_release cliser-server
say "building release: fill_store, page_figures"
(cd "$BENCH_REPO" && cargo build --release --quiet -p cliser-store --example fill_store &&
    cargo build --release --quiet -p cliser-testkit --example page_figures) || die "cargo build failed"
head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$work/password"
echo >> "$work/password"

# serve NAME: starts the release server on $work/NAME (a filled data dir); sets spid and http.
serve() {
    local name=$1
    RUST_LOG=info "$BENCH_BIN/cliser-server" --listen 127.0.0.1:0 --console 127.0.0.1:0 --http 127.0.0.1:0 \
        --retain-raw 0 --data-dir "$work/$name" --ready-file "$work/$name.ready" \
        --password-file "$work/password" 2> "$work/$name-server.log" &
    spid=$!
    wait_for_ready "$work/$name.ready" "$spid" 120 > /dev/null ||
        die "the server did not start: $(tail -3 "$work/$name-server.log")"
    http=$(sed -n 's/.*"http":"\([^"]*\)".*/\1/p' "$work/$name.ready")
    [ -n "$http" ] || die "no http address in $work/$name.ready"
}

# fill NAME ARGS...: fills $work/NAME/cliser.db with fill_store ARGS.
fill() {
    local name=$1
    shift
    mkdir -p "$work/$name"
    "$BENCH_TARGET/release/examples/fill_store" --store "sqlite:$work/$name/cliser.db" "$@" \
        > "$work/$name-fill.kv" 2> "$work/$name-fill.log" || die "fill failed: $(tail -3 "$work/$name-fill.log")"
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date -u +%Y-%m-%dT%H:%MZ)

say "1/2: filling a 10 M-reading store (5 Pis x 8 sensors every 10 s for 30 days)"
fill big --clients 5 --sensors 8 --days 30 --interval-s 10
big_readings=$(kv "$work/big-fill.kv" readings)
big_bytes=$(du -cb "$work/big" | tail -n 1 | cut -f1)
serve big
say "loading the page $loads times and opening pi-0000's 30-day chart in each"
"$BENCH_TARGET/release/examples/page_figures" "http://$http/" "$loads" 1 --chart pi-0000 \
    > "$work/big.kv" 2> "$work/big-figures.log" || die "page_figures failed: $(tail -5 "$work/big-figures.log")"
stop_server

say "2/2: filling a 200-Pi store (2 sensors each, a reading a minute for a day)"
fill fleet --clients 200 --sensors 2 --days 1 --interval-s 60
fleet_readings=$(kv "$work/fleet-fill.kv" readings)
serve fleet
nodes_bytes=$(curl -sf --compressed -o /dev/null -w '%{size_download}' "http://$http/api/nodes")
"$BENCH_TARGET/release/examples/page_figures" "http://$http/" "$loads" 1 \
    > "$work/fleet.kv" 2> "$work/fleet-figures.log" || die "page_figures failed: $(tail -5 "$work/fleet-figures.log")"
stop_server
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

kb() { awk -v b="$1" 'BEGIN {printf "%.1f KB", b / 1000}'; }
verdict() { awk -v v="$1" -v t="$2" 'BEGIN {print (v <= t) ? "**met**" : "**missed**"}'; }
b=$work/big.kv f=$work/fleet.kv
echo
echo "The page on a big store and a big fleet, $started, release cliser-server on loopback, $loads loads each in"
echo "$(chromium --version 2>/dev/null | head -1) (headless, a fresh profile each), $(nproc)-core $(uname -m) host,"
echo "load average $load_before at the start, $load_after at the end."
echo
echo "| figure | median | max | target |"
echo "|---|---:|---:|---|"
echo "| $big_readings readings ($(kb "$big_bytes")): navigation -> values shown | $(kv "$b" values_shown_ms_median) ms | $(kv "$b" values_shown_ms_max) ms | <= 500 ms: $(verdict "$(kv "$b" values_shown_ms_median)" 500) |"
echo "| the same store: 30-day chart of a node's 8 sensors, open -> drawn | $(kv "$b" chart_ms_median) ms | $(kv "$b" chart_ms_max) ms | <= 300 ms: $(verdict "$(kv "$b" chart_ms_median)" 300) |"
echo "| the same store: first-load transfer (compressed: uPlot and the sparklines' readings included) | $(kb "$(kv "$b" transfer_bytes_median)") | $(kb "$(kv "$b" transfer_bytes_max)") | <= 150 KB: $(verdict "$(kv "$b" transfer_bytes_max)" 150000) |"
echo "| 200 Pis x 2 sensors ($fleet_readings readings): first-load transfer | $(kb "$(kv "$f" transfer_bytes_median)") | $(kb "$(kv "$f" transfer_bytes_max)") | |"
echo "| 200 Pis: navigation -> values shown | $(kv "$f" values_shown_ms_median) ms | $(kv "$f" values_shown_ms_max) ms | |"
echo
echo "- counted in the transfer: $(kv "$b" resources)"
echo "- not counted: /api/events (never ends); its snapshot carries what /api/nodes does: $(kb "$nodes_bytes") compressed for 200 Pis"
