#!/usr/bin/env bash
# The exporters' figures (issue 17): export delay p50/p99 (stored -> accepted by the MQTT broker /
# InfluxDB) at a steady rate, the catch-up rate after an outage of both, and the exporter threads'
# CPU per 1,000 readings. The release server with --mqtt (a private Mosquitto) and --influx (a
# private InfluxDB 1.x), the load tool as the Pis (N clients answering a keep-alive of 100 ms with
# one reading each: N x 10 readings a second).
#
# Usage: bench/export.sh [--clients N] [--steady SECONDS] [--outage SECONDS] [--out DIR]
# Defaults: 100 clients (1,000 readings/s), 60 s steady, 60 s outage. Needs mosquitto and influxd.
# The delay of a reading is the time its batch was accepted (the exporter's debug line) minus its
# receive time in the store (the commit comes in between), so it is what a consumer waits for.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

clients=100
steady=60
outage=60
out=
while [ $# -gt 0 ]; do
    case "$1" in
        --clients) clients=$2; shift 2 ;;
        --steady) steady=$2; shift 2 ;;
        --outage) outage=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done
out=${out:-$(mktemp -d /tmp/cliser-export-bench.XXXXXX)}
mkdir -p "$out"
ensure_mosquitto
command -v influxd >/dev/null || die "influxd not found (apt install influxdb)"
build_release cliser-server cliser-load

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

mqtt_port=$(free_port)
start_mosquitto() {
    printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n' "$mqtt_port" > "$out/mosquitto.conf"
    mosquitto -c "$out/mosquitto.conf" >> "$out/mosquitto.log" 2>&1 &
    mosquitto_pid=$!
    pids+=("$mosquitto_pid")
}
influx_port=$(free_port)
start_influxd() {
    cat > "$out/influxdb.conf" <<CONF
reporting-disabled = true
bind-address = "127.0.0.1:$(free_port)"
[meta]
  dir = "$out/influx/meta"
[data]
  dir = "$out/influx/data"
  wal-dir = "$out/influx/wal"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:$influx_port"
  log-enabled = false
[monitor]
  store-enabled = false
CONF
    influxd -config "$out/influxdb.conf" >> "$out/influxd.log" 2>&1 &
    influx_pid=$!
    pids+=("$influx_pid")
    local i
    for ((i = 0; i < 200; i++)); do
        curl -sf -o /dev/null "http://127.0.0.1:$influx_port/ping" && return 0
        sleep 0.1
    done
    die "influxd did not start (see $out/influxd.log)"
}
start_mosquitto
start_influxd
curl -sf -o /dev/null -XPOST "http://127.0.0.1:$influx_port/query" --data-urlencode 'q=CREATE DATABASE cliser'

password=$(head -c 12 /dev/urandom | base64 | tr -dc 'a-zA-Z0-9')
printf '%s\n' "$password" > "$out/password"
RUST_LOG=debug "$BENCH_BIN/cliser-server" --listen 127.0.0.1:0 --console 127.0.0.1:0 --http 127.0.0.1:0 \
    --password-file "$out/password" --data-dir "$out/data" --keepalive 100ms --max-clients $((clients + 64)) \
    --mqtt "mqtt://127.0.0.1:$mqtt_port" --influx "http://127.0.0.1:$influx_port/write?db=cliser" \
    --ready-file "$out/server.ready" > "$out/server.log" 2>&1 &
server_pid=$!
pids+=("$server_pid")
addr=$(wait_for_ready "$out/server.ready" "$server_pid" 20) || die "server did not start (see $out/server.log)"
http=$(wait_for_ready "$out/server.ready" "$server_pid" 5 http)

cpu() { bash "$BENCH_REPO/bench/thread-cpu.sh" "$server_pid" | awk '$1 ~ /^export-/ {print $1, $3}'; }
mark() { date -u +%Y-%m-%dT%H:%M:%S.%3NZ; }

total=$((steady + outage + 90))
say "load: $clients clients for ${total}s (steady ${steady}s, then both far sides down ${outage}s)"
"$BENCH_BIN/cliser-load" --server "$addr" --clients "$clients" --duration "${total}s" --password-file "$out/password" \
    --keepalive 100ms --id-prefix "pi-" \
    > "$out/load.kv" 2> "$out/load.log" &
load_pid=$!
pids+=("$load_pid")
sleep 15   # ramp-up and the first batches
cpu > "$out/cpu-before.txt"
steady_from=$(mark)
sleep "$steady"
steady_to=$(mark)
cpu > "$out/cpu-after.txt"
say "outage: stopping Mosquitto and InfluxDB for ${outage}s"
kill "$mosquitto_pid" "$influx_pid"
wait "$mosquitto_pid" "$influx_pid" 2>/dev/null || true
sleep "$outage"
back_at=$(mark)
start_mosquitto
start_influxd
say "waiting for both exporters to catch up"
for ((i = 0; i < 600; i++)); do
    lag=$(curl -sf "http://$http/api/exporters" | python3 -c 'import json,sys; print(sum(e["lag_readings"] for e in json.load(sys.stdin)["exporters"]))' || echo 1)
    [ "$lag" -lt "$((clients * 10))" ] && break
    sleep 0.5
done
caught_at=$(mark)
kill "$load_pid" 2>/dev/null || true
wait "$load_pid" 2>/dev/null || true

python3 - "$out" "$steady_from" "$steady_to" "$back_at" "$caught_at" "$clients" <<'PY'
import datetime, re, sqlite3, sys
out, steady_from, steady_to, back_at, caught_at, clients = sys.argv[1:7]
def ms(t):
    return int(datetime.datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp() * 1000)
db = sqlite3.connect(f"file:{out}/data/cliser.db?mode=ro", uri=True)
received = dict(db.execute("SELECT id, received_ms FROM readings"))
line = re.compile(r"^(\S+) DEBUG \[cliser_export::runner\] export (\w+): accepted ids (\d+)..=(\d+) \((\d+) readings\)")
delays = {"influx": [], "mqtt": []}
catch = {"influx": [], "mqtt": []}
for l in open(f"{out}/server.log", errors="replace"):
    m = line.match(l)
    if not m:
        continue
    at, name, first, last, n = ms(m[1]), m[2], int(m[3]), int(m[4]), int(m[5])
    if ms(steady_from) <= at <= ms(steady_to):
        delays[name] += [at - received[i] for i in range(first, last + 1) if i in received]
    if at >= ms(back_at):
        catch[name].append((at, n, max(at - received.get(i, at) for i in range(first, last + 1))))
def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p))] if v else float("nan")
cpu = {}
for f, sign in (("cpu-before.txt", -1), ("cpu-after.txt", 1)):
    for l in open(f"{out}/{f}"):
        role, ms_ = l.split()
        cpu[role] = cpu.get(role, 0.0) + sign * float(ms_)
print(f"| exporter | delay p50 | delay p99 | readings in the steady phase | catch-up rate | CPU per 1,000 |")
print("|---|---|---|---|---|---|")
for name in ("mqtt", "influx"):
    d = delays[name]
    # Catch-up: from the first batch after the restart to the first one whose newest reading was
    # under a second old.
    # The first batch marks the start (its own readings went before it); a backlog taken in one
    # batch has no rate to speak of.
    rows = catch[name]
    rate = "one batch"
    done = next((i for i, r in enumerate(rows) if r[2] < 1000), len(rows) - 1) if rows else 0
    if done > 0:
        n = sum(r[1] for r in rows[1 : done + 1])
        rate = f"{n / (max(rows[done][0] - rows[0][0], 1) / 1000):,.0f} readings/s ({n + rows[0][1]} after the outage)"
    threads = [r for r in cpu if r.startswith(f"export-{name}")]
    cpu_ms = sum(cpu[r] for r in threads)
    per_k = cpu_ms / (len(d) / 1000) if d else float("nan")
    print(f"| {name} | {pct(d, 0.5)} ms | {pct(d, 0.99)} ms | {len(d)} | {rate} | {per_k:.1f} ms ({'+'.join(threads)}) |")
PY
say "logs and figures in $out"
