#!/usr/bin/env bash
# Soak: the release server and N real release Pi clients (simulated sensors, short intervals) for M
# minutes, then every client stopped. Reports readings sampled vs stored (the server's default SQLite
# store, read back with `cliser-server export`), lost (must be 0), duplicates (must be 0), the
# server's RSS after warm-up and at the end (within the store's memory budget plus the clients'
# cost: SQLite's page caches fill up to --store-memory, then stay), and its threads once the clients have left
# (back to the number at start). The server's RSS is also printed once a minute (`minute N: RSS`).
#   bash scripts/soak.sh [--minutes M] [--clients N] [--interval DURATION] [--keep DIR] [--bin DIR]
#                        [-- SERVER-FLAGS...]
# defaults: 5 minutes, 500 clients, 1s sampling, keep-alive 1s. CI runs --minutes 1 --clients 100.
# --bin DIR: run the release binaries in DIR (e.g. an earlier commit's, for a before/after pair)
# instead of building this checkout's. Flags after `--` go to the server (e.g. --store-memory 32MiB).
set -euo pipefail
cd "$(dirname "$0")/.."

minutes=5 clients=500 interval=1s keep="" bin=""
server_flags=()
while [ $# -gt 0 ]; do
    case "$1" in
        --minutes) minutes=$2; shift 2 ;;
        --clients) clients=$2; shift 2 ;;
        --interval) interval=$2; shift 2 ;;
        --keep) keep=$2; shift 2 ;;
        --bin) bin=$2; shift 2 ;;
        --) shift; server_flags=("$@"); break ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done

if [ -n "$bin" ]; then
    target=$bin
else
    cargo build --release -q -p cliser-server -p cliser-pi-client
    target=${CARGO_TARGET_DIR:-target}/release
fi
dir=${keep:-$(mktemp -d /tmp/cliser-soak.XXXXXX)}
mkdir -p "$dir"
pids=()
server_pid=""
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    [ -n "$server_pid" ] && kill -9 "$server_pid" 2>/dev/null || true
    [ -z "$keep" ] && rm -rf "$dir"
    return 0
}
trap cleanup EXIT

stat_of() { # pid field -> value (VmRSS in KiB, Threads)
    awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}
wait_for() { # seconds description command...
    local deadline=$((SECONDS + $1)) what=$2; shift 2
    until "$@"; do
        if [ $SECONDS -ge $deadline ]; then echo "timed out waiting for $what" >&2; exit 1; fi
        sleep 0.2
    done
}

head -c 18 /dev/urandom | base64 > "$dir/password"
RUST_LOG=info "$target/cliser-server" --listen 127.0.0.1:0 --console 127.0.0.1:0 --http 127.0.0.1:0 \
    --password-file "$dir/password" --keepalive 1s --max-clients $((clients + 100)) \
    --data-dir "$dir/data" --ready-file "$dir/ready.json" ${server_flags[@]+"${server_flags[@]}"} \
    2> "$dir/server.log" &
server_pid=$!
ready_or_dead() { [ -s "$dir/ready.json" ] || ! kill -0 "$server_pid" 2>/dev/null; }
wait_for 20 "the server's ready file" ready_or_dead
[ -s "$dir/ready.json" ] || { echo "the server exited at start:" >&2; tail -5 "$dir/server.log" >&2; exit 1; }
addr=$(sed -n 's/.*"listen":"\([^"]*\)".*/\1/p' "$dir/ready.json")
threads_start=$(stat_of "$server_pid" Threads)
rss_start=$(stat_of "$server_pid" VmRSS)
echo "soak: $clients clients for $minutes min against $addr (dir $dir)"

for i in $(seq 1 "$clients"); do
    # debug: the line per reading the ledger below reads is a debug line of the client.
    CLISER_PASSWORD=$(cat "$dir/password") RUST_LOG=debug "$target/cliser-pi-client" \
        --server "$addr" --id "soak-$i" --sensor sim --interval "$interval" --server-timeout 5s \
        --state-dir "$dir/c$i" 2> "$dir/c$i.log" &
    pids+=($!)
done
registered() { [ "$(grep -c 'registered cid=soak-' "$dir/server.log")" -ge "$clients" ]; }
wait_for 120 "$clients registrations" registered

# The steady phase, minute by minute (RSS in KiB); the warm-up (a fifth of it, at least 10 s) is
# the ramp's memory settling, and what follows it must not grow.
warm=$((minutes * 60 / 5)); [ $warm -lt 10 ] && warm=10
steady_start=$SECONDS rss_warm=""
sleep_until() { local left=$(($1 - SECONDS)); if [ $left -gt 0 ]; then sleep $left; fi; }
for m in $(seq 1 "$minutes"); do
    until_s=$((steady_start + m * 60))
    if [ -z "$rss_warm" ] && [ $((steady_start + warm)) -le "$until_s" ]; then
        sleep_until $((steady_start + warm))
        rss_warm=$(stat_of "$server_pid" VmRSS)
    fi
    sleep_until "$until_s"
    echo "minute $m: RSS $(stat_of "$server_pid" VmRSS) KiB"
done
rss_end=$(stat_of "$server_pid" VmRSS)
threads_busy=$(stat_of "$server_pid" Threads)

# Let the last polls carry what is sampled, then stop every client (SIGTERM: they exit 0).
sleep 3
for p in "${pids[@]}"; do kill -TERM "$p"; done
failed_exits=0
for p in "${pids[@]}"; do wait "$p" || failed_exits=$((failed_exits + 1)); done
pids=()
threads_back() { [ "$(stat_of "$server_pid" Threads)" -eq "$threads_start" ]; }
wait_for 30 "the server's threads to return to $threads_start" threads_back
threads_end=$(stat_of "$server_pid" Threads)

# What the store holds, in the columns ts,cid,sensor,temp_c,error,seq (beside the running server).
"$target/cliser-server" export --format csv --data-dir "$dir/data" > "$dir/stored.csv"
python3 - "$dir" "$clients" <<'PY'
import collections, glob, os, re, sys
d, n = sys.argv[1], int(sys.argv[2])
logged = collections.defaultdict(list)
with open(os.path.join(d, "stored.csv")) as f:
    next(f)
    for line in f:
        p = line.rstrip("\n").split(",")
        if len(p) == 6 and p[5]:
            logged[p[1]].append(int(p[5]))
sampled_total = logged_total = lost = dupes = holes = pending_total = 0
for i in range(1, n + 1):
    cid = f"soak-{i}"
    sampled = [int(m.group(1)) for m in re.finditer(r"reading sensor=\S+ .*seq=(\d+)", open(os.path.join(d, f"c{i}.log")).read())]
    pending = set()
    try:
        for l in open(os.path.join(d, f"c{i}", "backlog.log")):
            if l.startswith("r "):  # journal v1: r <seq> ...
                pending.add(int(l.split()[1]))
    except FileNotFoundError:
        pass
    seqs = logged.get(cid, [])
    distinct = set(seqs)
    dupes += len(seqs) - len(distinct)
    holes += (max(distinct) - len(distinct)) if distinct else 0
    not_logged = [s for s in sampled if s not in distinct]
    lost += sum(1 for s in not_logged if s not in pending)
    pending_total += len(not_logged) - sum(1 for s in not_logged if s not in pending)
    sampled_total += len(sampled)
    logged_total += len(distinct)
print(f"readings sampled {sampled_total}, stored {logged_total}, still in client backlogs {pending_total}, "
      f"lost {lost}, duplicates {dupes}, holes {holes}")
open(os.path.join(d, "verdict"), "w").write(f"{lost} {dupes} {holes}\n")
PY
read -r lost dupes holes < "$dir/verdict"
kill -TERM "$server_pid"
server_exit=0
wait "$server_pid" || server_exit=$?
server_pid=""
log_lines=$(grep -c "reading cid=soak-" "$dir/server.log" || true)
echo "server log reading lines $log_lines"
echo "server RSS: start ${rss_start} KiB, after warm-up ${rss_warm} KiB, end of steady phase ${rss_end} KiB"
echo "server threads: start ${threads_start}, with clients ${threads_busy}, after they left ${threads_end}"
echo "client exits other than 0: $failed_exits"

checks=0 fails=0
check() { checks=$((checks + 1)); if eval "$2"; then echo "ok - $1"; else echo "FAIL - $1"; fails=$((fails + 1)); fi; }
check "no reading lost" "[ $lost -eq 0 ] && [ $holes -eq 0 ]"
check "no reading stored twice" "[ $dupes -eq 0 ]"
# The bound: SQLite's page caches fill up to the store's budget (--store-memory, as the server's
# start line says it; 64 MiB by default) as the database grows, then stay; the rest is the
# per-client cost (thread stacks, mailboxes: about 40 KiB; 48 allowed) and 2 MiB of allocator noise.
budget_kib=$(sed -n 's/.*store memory \([0-9]*\)\(KiB\|MiB\|GiB\):.*/\1 \2/p' "$dir/server.log" | head -1 |
    awk '{ print $2 == "GiB" ? $1 * 1048576 : $2 == "MiB" ? $1 * 1024 : $1 }')
budget_kib=${budget_kib:-65536}
bound=$((rss_start + budget_kib + clients * 48 + 2048))
echo "server RSS bound: start ${rss_start} + store memory ${budget_kib} + ${clients} clients x 48 + 2048 = ${bound} KiB"
check "RSS within the store's memory budget plus the clients' cost" "[ $rss_end -le $bound ]"
check "threads back to their number at start" "[ $threads_end -eq $threads_start ]"
check "every client exited 0" "[ $failed_exits -eq 0 ]"
check "the server stopped cleanly on SIGTERM" "[ $server_exit -eq 0 ]"
echo "soak: $((checks - fails)) passed, $fails failed"
[ $fails -eq 0 ]
