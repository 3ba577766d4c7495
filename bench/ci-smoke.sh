#!/usr/bin/env bash
# The bounded benchmark CI runs: 200 simulated clients for 10 s against the release server (and
# against Mosquitto when it is installed), proving the tooling works and nothing is lost: every
# reading sent is logged once, in the log and in the server's store, and acknowledged; then a small
# fleet back from an outage (bench/catch-up.sh, 5 Pis x 2,000 readings). Prints the
# table and a final `N passed, N failed` line; exits 1 if any check failed.
# Usage: bench/ci-smoke.sh [--clients N] [--duration SECONDS]
set -euo pipefail
source "$(dirname "$0")/lib.sh"

clients=200
duration=10
while [ $# -gt 0 ]; do
    case "$1" in
        --clients) clients=$2; shift 2 ;;
        --duration) duration=$2; shift 2 ;;
        *) die "unknown argument $1" ;;
    esac
done
out=$(mktemp -d /tmp/cliser-smoke.XXXXXX)
started=$(date +%s)

build_release cliser-server cliser-load
preflight "$clients" || true

passed=0
failed=0
check() {
    local what=$1
    shift
    if "$@"; then
        passed=$((passed + 1))
        echo "ok: $what"
    else
        failed=$((failed + 1))
        echo "FAILED: $what"
    fi
}
eq() { [ -n "$1" ] && [ "$1" = "$2" ]; }

run_cliser "$clients" "$duration" "$clients" "$out"
c=$out/cliser-$clients.kv
files=("$c")
sent=$(kv "$c" readings_sent)
echo
check "cliser: the load tool reports success" eq "$(kv "$c" result)" ok
check "cliser: all $clients clients registered" eq "$(kv "$c" registered)" "$clients"
check "cliser: no client failed" eq "$(kv "$c" failures)" 0
check "cliser: about one reading per client per second ($sent)" [ "${sent:-0}" -ge $((clients * (duration - 1))) ]
check "cliser: readings sent = acked" eq "$(kv "$c" readings_acked)" "$sent"
check "cliser: readings sent = logged" eq "$(kv "$c" logged)" "$sent"
check "cliser: readings sent = stored (cliser-server export)" eq "$(kv "$c" stored)" "$sent"
check "cliser: no duplicate in the log" eq "$(kv "$c" logged_dups)" 0
check "cliser: no duplicate (cid, seq) in the store" eq "$(kv "$c" stored_dups)" 0
check "cliser: the server ran to the end" eq "$(kv "$c" server_survived)" yes
check "cliser: the server's /proc figures were sampled" [ -n "$(kv "$c" watch_cpu_s_per_1000_readings)" ]

if command -v mosquitto >/dev/null && command -v mosquitto_sub >/dev/null; then
    run_mqtt "$clients" "$duration" "$clients" "$out"
    m=$out/mqtt-$clients.kv
    files+=("$m")
    sent=$(kv "$m" readings_sent)
    check "mqtt: the load tool reports success" eq "$(kv "$m" result)" ok
    check "mqtt: messages sent = PUBACKed" eq "$(kv "$m" readings_acked)" "$sent"
    check "mqtt: messages sent = written by the subscriber" eq "$(kv "$m" logged)" "$sent"
    check "mqtt: no duplicate written" eq "$(kv "$m" logged_dups)" 0
else
    echo "(mosquitto not installed: the MQTT row is skipped; bench/server-load.sh installs it)"
fi

# A fleet back from an outage, small (issue 28; bench/catch-up.sh runs the full 6.9 M): 5 Pis x
# 2,000 backlog readings and 20 live Pis on SQLite, each backlog reading stored once, the live polls
# on time, the page answering. About 10 s.
if bash "$(dirname "$0")/catch-up.sh" --only sqlite --pis 5 --backlog 2000 --live 20 --keepalive 2 \
    --max-seconds 60 --out "$out/catch-up" > "$out/catch-up.txt" 2>&1; then
    passed=$((passed + 1))
    echo "ok: catch-up: 5 Pis x 2,000 backlog readings stored once while 20 live Pis poll on time"
else
    failed=$((failed + 1))
    echo "FAILED: catch-up (bench/catch-up.sh; its output in $out/catch-up.txt):"
    grep FAILED "$out/catch-up.txt" || tail -5 "$out/catch-up.txt"
fi

echo
print_table "${files[@]}"
echo
print_notes "${files[@]}"
echo
echo "took $(($(date +%s) - started)) s; raw figures and logs: $out"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
