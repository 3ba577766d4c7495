#!/usr/bin/env bash
# What does the web page cost a first-time visitor? Starts the release server (keep-alive 1 s, the
# page on a loopback port) with two release cliser-pi-clients on simulated sensors, then loads the
# page LOADS times in headless Chromium, each time with a fresh profile (an empty cache), and
# reports, median and max over the loads:
#   - the bytes of the first load, from the Performance API: the navigation (the HTML) plus every
#     resource entry (app.js, app.css, favicon.svg, the sparklines' /api/readings fetch of each
#     node), summed as transferSize (on the wire, headers included) and as encodedBodySize (bodies
#     alone). The live stream /api/events never finishes, so it has no entry and is not counted; its
#     first event, the snapshot, carries what /api/nodes does, whose size is shown beside and added
#     for the check against the limit.
#   - the time from navigation start to the page's `cliser-values-shown` mark (the first
#     temperature rendered), and on the way there to the HTML's response end and DOMContentLoaded.
# The issue's limit: first-load transfer <= 300 KB.
#
# Usage: bench/web-page.sh [--loads N]   (default 10)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

loads=10
while [ $# -gt 0 ]; do
    case "$1" in
        --loads) loads=$2; shift 2 ;;
        -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
        *) die "unknown argument $1" ;;
    esac
done
command -v chromium >/dev/null || command -v chromium-browser >/dev/null ||
    die "chromium not found (Debian: apt-get install chromium)"
command -v curl >/dev/null || die "curl not found"

out=$(mktemp -d /tmp/cliser-web-page.XXXXXX)
build_release cliser-server cliser-pi-client
say "building the page_figures example (release)"
(cd "$BENCH_REPO" && cargo build --release --quiet -p cliser-testkit --example page_figures) ||
    die "cargo build --example page_figures failed"

pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

password=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '%s\n' "$password" > "$out/password"
RUST_LOG=info "$BENCH_BIN/cliser-server" --listen 127.0.0.1:0 --console 127.0.0.1:0 --http 127.0.0.1:0 \
    --keepalive 1s --data-dir "$out/data" --ready-file "$out/ready.json" --password-file "$out/password" \
    2> "$out/server.log" &
spid=$!
pids+=("$spid")
addr=$(wait_for_ready "$out/ready.json" "$spid" 20) || die "server did not start: $(tail -3 "$out/server.log")"
http=$(sed -n 's/.*"http":"\([^"]*\)".*/\1/p' "$out/ready.json")
[ -n "$http" ] || die "the ready file names no http address: $(cat "$out/ready.json")"
for id in pi-attic pi-cellar; do
    mkdir -p "$out/$id"
    CLISER_PASSWORD=$password "$BENCH_BIN/cliser-pi-client" --server "$addr" --id "$id" --sensor sim \
        --interval 1s --state-dir "$out/$id" 2> "$out/$id.log" &
    pids+=("$!")
done
# Both nodes with a temperature on each of their two sensors in /api/nodes (what the page shows).
both_reporting() {
    curl -sf "http://$http/api/nodes" | python3 -c 'import json, sys
nodes = json.load(sys.stdin)["nodes"]
sys.exit(0 if sum(sum(s.get("value") is not None for s in n["sensors"]) >= 2 for n in nodes) >= 2 else 1)' 2>/dev/null
}
for ((i = 0; i < 200; i++)); do
    both_reporting && break
    sleep 0.1
done
[ "$i" -lt 200 ] || die "the two clients' readings did not reach /api/nodes: $(curl -s "http://$http/api/nodes")"

# size_download + size_header of one GET, as curl counts them.
wire_bytes() { curl -sf -o /dev/null -w '%{size_download} %{size_header}' "http://$http$1" | awk '{print $1 + $2}'; }
nodes_bytes=$(wire_bytes /api/nodes)

say "loading http://$http/ $loads times, a fresh Chromium profile each (details in $out/figures.log)"
"$BENCH_TARGET/release/examples/page_figures" "http://$http/" "$loads" 2 > "$out/figures.kv" 2> "$out/figures.log" ||
    die "page_figures failed: $(tail -5 "$out/figures.log")"

kb() { awk -v b="$1" 'BEGIN {printf "%.1f KB", b / 1000}'; }
f=$out/figures.kv
echo
echo "The page on first load: release cliser-server with two simulated Pi clients on loopback, $(kv "$f" loads) loads in $(chromium --version 2>/dev/null | head -1) (headless, a fresh profile each), $(nproc)-core $(uname -m) host."
echo
echo "| figure | median | max |"
echo "|---|---:|---:|"
echo "| first-load transfer (navigation + resources, transferSize) | $(kb "$(kv "$f" transfer_bytes_median)") | $(kb "$(kv "$f" transfer_bytes_max)") |"
echo "| the same, bodies only (encodedBodySize) | $(kb "$(kv "$f" encoded_body_bytes_median)") | $(kb "$(kv "$f" encoded_body_bytes_max)") |"
echo "| navigation start -> HTML received (responseEnd) | $(kv "$f" html_ms_median) ms | $(kv "$f" html_ms_max) ms |"
echo "| navigation start -> DOMContentLoaded | $(kv "$f" dom_ready_ms_median) ms | $(kv "$f" dom_ready_ms_max) ms |"
echo "| navigation start -> cliser-values-shown | $(kv "$f" values_shown_ms_median) ms | $(kv "$f" values_shown_ms_max) ms |"
echo
echo "- counted (bytes on the wire, first load): $(kv "$f" resources)"
echo "- not counted: /api/events (never ends; its snapshot carries what /api/nodes does: $(kb "$nodes_bytes") with headers now)"
total=$(awk -v t="$(kv "$f" transfer_bytes_max)" -v a="$nodes_bytes" 'BEGIN {print t + a}')
verdict=within
[ "$total" -le 300000 ] || verdict=OVER
echo "- the issue's limit, 300 KB: the largest load with the snapshot added is $(kb "$total"): $verdict"
echo
echo "logs: $out"
[ "$verdict" = within ]
