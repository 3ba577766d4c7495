#!/usr/bin/env bash
# How fast does the page get its charts from a big store? Fills an SQLite store (the default store)
# with store/examples/fill_store (release; default 5 Pis x 8 sensors every 10 s for 30 days, ending
# now: 10,368,000 readings, through the store's own commit), starts the release server on it
# (`--http 127.0.0.1:0 --retain-raw 0`), and times /api/readings for one sensor with curl over
# loopback, one kept-alive connection per kind of request: 24 h raw (8,640 points), 30 days in
# hourly buckets as the page asks for them (`every=1h`, from the rollups), and 30 days with no
# `every` (more than 10,000 readings, so bucketed automatically). Each kind: WARMUP requests not
# counted (the first is shown apart), then RUNS timed ones on a new connection; prints one table.
#
# Server time = curl's time_starttransfer - time_pretransfer: request sent -> first byte of the
# answer (the server writes its head only once the whole body is built). Total = time_total.
# Server CPU / request = the server's utime + stime over the timed requests / RUNS (the server has
# no Pi connected, so that is the requests' cost; /proc ticks of 10 ms, over the whole batch).
#
# Usage: bench/web-api.sh [--clients N] [--days N] [--runs N] [--warmup N] [--out DIR]
# --out DIR: keep the raw figures and logs there (the temp dir, store included, is removed on exit).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

clients=5
days=30
runs=30
warmup=5
out=
while [ $# -gt 0 ]; do
    case "$1" in
        --clients) clients=$2; shift 2 ;;
        --days) days=$2; shift 2 ;;
        --runs) runs=$2; shift 2 ;;
        --warmup) warmup=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done
[ "$days" -ge 30 ] || die "--days must be at least 30 (the 30-day requests)"
if [ "$warmup" -lt 1 ] || [ "$runs" -lt 1 ]; then die "--warmup and --runs must be at least 1"; fi
command -v curl >/dev/null || die "curl is needed"

work=$(mktemp -d /tmp/cliser-web-api.XXXXXX)
spid=
cleanup() {
    if [ -n "$spid" ]; then
        kill -TERM "$spid" 2>/dev/null || true
        wait "$spid" 2>/dev/null || true
    fi
    if [ -n "$out" ]; then
        mkdir -p "$out"
        cp "$work"/*.kv "$work"/*.log "$work"/*.times "$work"/*.warmup "$work"/*.cpu "$out"/ 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

build_release cliser-server
say "building release: fill_store"
(cd "$BENCH_REPO" && cargo build --release --quiet -p cliser-store --example fill_store) || die "cargo build failed"

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date -u +%Y-%m-%dT%H:%MZ)
say "filling the store: $clients Pis x 8 sensors every 10 s for $days days (log in $work/fill.log)"
mkdir -p "$work/data"
"$BENCH_TARGET/release/examples/fill_store" --store "sqlite:$work/data/cliser.db" --clients "$clients" \
    --days "$days" > "$work/fill.kv" 2> "$work/fill.log" || die "fill failed: $(tail -3 "$work/fill.log")"
end_ms=$(kv "$work/fill.kv" end_ms)
store_bytes=$(du -cb "$work/data" | tail -n 1 | cut -f1)

head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$work/password"
echo >> "$work/password"
RUST_LOG=info "$BENCH_BIN/cliser-server" --listen 127.0.0.1:0 --console 127.0.0.1:0 --http 127.0.0.1:0 \
    --retain-raw 0 --data-dir "$work/data" --ready-file "$work/ready.json" --password-file "$work/password" \
    2> "$work/server.log" &
spid=$!
wait_for_ready "$work/ready.json" "$spid" 60 > /dev/null || die "the server did not start: $(tail -3 "$work/server.log")"
http=$(sed -n 's/.*"http":"\([^"]*\)".*/\1/p' "$work/ready.json")
[ -n "$http" ] || die "no http address in $work/ready.json"

# RFC 3339 (UTC, milliseconds) of Unix milliseconds.
iso() { date -u -d "@$(($1 / 1000))" "+%Y-%m-%dT%H:%M:%S.$(printf '%03d' $(($1 % 1000)))Z"; }
day_ago=$(iso $((end_ms - 86400000)))
month_ago=$(iso $((end_ms - 30 * 86400000)))
until=$(iso "$end_ms")
series="cid=pi-0000&sensor=28-000000000000"
names=(day month_1h month_auto)
declare -A path label
path[day]="/api/readings?$series&since=$day_ago&until=$until"
path[month_1h]="/api/readings?$series&since=$month_ago&until=$until&every=1h"
path[month_auto]="/api/readings?$series&since=$month_ago&until=$until"
label[day]="24 h raw"
label[month_1h]="30 d, every=1h (the page's request)"
label[month_auto]="30 d, no every (auto-bucketed)"

# What an answer holds: "kind points every".
shape() {
    python3 -c 'import json, sys
j = json.load(open(sys.argv[1]))
s = j["series"]
print(j["kind"], sum(len(x["points"]) for x in s), j.get("every") or "-")' "$1"
}

# requests N URL: N requests on one connection; one line each: "status pretransfer_s
# starttransfer_s total_s bytes".
requests() {
    local n=$1 url=$2 args=() i
    for ((i = 0; i < n; i++)); do args+=(-o /dev/null "$url"); done
    curl -s -w '%{http_code} %{time_pretransfer} %{time_starttransfer} %{time_total} %{size_download}\n' "${args[@]}"
}

# The server's CPU (utime + stime, all its threads, ended ones too) in clock ticks.
ticks() { awk '{print $14 + $15}' "/proc/$spid/stat"; }

# time_requests NAME: WARMUP requests (NAME.warmup), then RUNS on another connection (NAME.times),
# with the server's CPU over the timed ones (NAME.cpu, ticks).
time_requests() {
    local name=$1 url="http://$http${path[$1]}" c0
    requests "$warmup" "$url" > "$work/$name.warmup"
    c0=$(ticks)
    requests "$runs" "$url" > "$work/$name.times"
    echo $(($(ticks) - c0)) > "$work/$name.cpu"
}

# stats NAME EXPR: "first median p95 max" in ms of EXPR (awk, over a line of `requests`): the
# first warm-up request, then the timed ones (nearest rank).
stats() {
    local name=$1 expr=$2 first
    first=$(head -n 1 "$work/$name.warmup" | awk "{printf \"%.2f\", ($expr) * 1000}")
    awk "{print ($expr) * 1000}" "$work/$name.times" | sort -g | awk -v first="$first" '
        {v[NR] = $1}
        END {printf "%s %.2f %.2f %.2f\n", first, v[int((NR + 1) / 2)], v[int(0.95 * NR + 0.999999)], v[NR]}'
}

for name in "${names[@]}"; do
    curl -sf -o "$work/$name.json" "http://$http${path[$name]}" || die "GET ${path[$name]} failed"
    say "timing $name: $warmup + $runs requests"
    time_requests "$name"
    bad=$(cat "$work/$name.warmup" "$work/$name.times" | awk '$1 != 200' | wc -l)
    [ "$bad" -eq 0 ] || die "$bad answers to ${path[$name]} were not 200"
done
readings=$(kv "$work/fill.kv" readings)
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

{
    echo "readings=$readings"
    echo "store_bytes=$store_bytes"
    for name in "${names[@]}"; do
        read -r kind points every < <(shape "$work/$name.json")
        read -r sf sm sp sx < <(stats "$name" '$3 - $2')
        read -r tf tm tp tx < <(stats "$name" '$4')
        echo "${name}_kind=$kind"
        echo "${name}_points=$points"
        echo "${name}_every=$every"
        echo "${name}_bytes=$(stat -c %s "$work/$name.json")"
        echo "${name}_server_ms_first=$sf"
        echo "${name}_server_ms_median=$sm"
        echo "${name}_server_ms_p95=$sp"
        echo "${name}_server_ms_max=$sx"
        echo "${name}_total_ms_first=$tf"
        echo "${name}_total_ms_median=$tm"
        echo "${name}_total_ms_p95=$tp"
        echo "${name}_total_ms_max=$tx"
        echo "${name}_server_cpu_ms_per_request=$(awk -v t="$(cat "$work/$name.cpu")" -v hz="$(getconf CLK_TCK)" \
            -v n="$runs" 'BEGIN {printf "%.1f", t / hz * 1000 / n}')"
    done
} > "$work/web-api.kv"

f=$work/web-api.kv
echo
echo "$(nproc) cores (load average $load_before at the start, $load_after at the end); $started; SQLite store of $(awk -v n="$readings" 'BEGIN {printf "%.2fM", n / 1e6}') readings ($clients Pis x 8 sensors every 10 s for $days days, $(awk -v b="$store_bytes" 'BEGIN {printf "%.2f GB", b / 1e9}') on disk); $warmup warm-up requests (the first shown apart), then $runs timed ones on a new connection."
echo
echo "| request (one sensor) | answer | size | server time: first / median / p95 / max | total: median / p95 | server CPU / request | target <= 50 ms (p95) |"
echo "|---|---|---:|---|---|---:|---|"
for name in "${names[@]}"; do
    every=$(kv "$f" "${name}_every")
    answer="$(kv "$f" "${name}_kind"), $(kv "$f" "${name}_points") points"
    [ "$every" != - ] && answer="$answer of $every"
    verdict=met
    awk -v p="$(kv "$f" "${name}_server_ms_p95")" 'BEGIN {exit !(p > 50)}' && verdict=missed
    printf '| %s | %s | %s | %s / %s / %s / %s ms | %s / %s ms | %s ms | %s |\n' "${label[$name]}" "$answer" \
        "$(awk -v b="$(kv "$f" "${name}_bytes")" 'BEGIN {printf "%.1f KB", b / 1000}')" \
        "$(kv "$f" "${name}_server_ms_first")" "$(kv "$f" "${name}_server_ms_median")" \
        "$(kv "$f" "${name}_server_ms_p95")" "$(kv "$f" "${name}_server_ms_max")" \
        "$(kv "$f" "${name}_total_ms_median")" "$(kv "$f" "${name}_total_ms_p95")" \
        "$(kv "$f" "${name}_server_cpu_ms_per_request")" "$verdict"
done
echo
[ -n "$out" ] && echo "raw figures and logs: $out"
exit 0
