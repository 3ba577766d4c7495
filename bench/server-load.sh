#!/usr/bin/env bash
# How many Pis can one server take? Runs the release cliser-server and then Mosquitto on loopback,
# each under the same load from cliser-load (N clients, one reading per second each: cliser clients
# answer a 1 s keep-alive with one reading, MQTT clients publish one QoS 1 message a second to a
# broker whose one subscriber writes every message to a file), and prints one table with both rows.
#
# Usage: bench/server-load.sh [--clients N[,N...]] [--duration SECONDS] [--ramp PER_SEC] [--out DIR]
#                             [--only cliser|mqtt] [--keepalive SECONDS] [--baseline DIR]
# --baseline DIR: also run the cliser-server in DIR (a release build of an earlier commit, e.g. the
# last one with the CSV ledger: git worktree add /tmp/base <commit> && cargo build --release there,
# then --baseline /tmp/base/target/release) in the same run, as a row of its own.
# Defaults: 10000 clients, 60 s steady phase, ramp 1000 connections/s, results in a new /tmp dir.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

clients=10000
duration=60
ramp=1000
out=
only=
baseline=
while [ $# -gt 0 ]; do
    case "$1" in
        --clients) clients=$2; shift 2 ;;
        --duration) duration=$2; shift 2 ;;
        --ramp) ramp=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --only) only=$2; shift 2 ;;
        --keepalive) KEEPALIVE=$2; shift 2 ;;
        --baseline) baseline=$2; shift 2 ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done
out=${out:-$(mktemp -d /tmp/cliser-bench.XXXXXX)}
mkdir -p "$out"

build_release cliser-server cliser-load
[ "$only" = cliser ] || ensure_mosquitto

files=()
IFS=, read -r -a sizes <<< "$clients"
# The machine's load beside each row (other work on the same cores shows in the CPU figures).
loads=()
for n in "${sizes[@]}"; do
    preflight "$n" || say "(continuing: the table will show what happens past the limit)"
    loads+=("$n clients, start: $(cut -d' ' -f1-3 /proc/loadavg)")
    if [ "$only" != mqtt ] && [ -n "$baseline" ]; then
        run_cliser "$n" "$duration" "$ramp" "$out" "$baseline"
        files+=("$out/baseline-$n.kv")
    fi
    if [ "$only" != mqtt ]; then
        run_cliser "$n" "$duration" "$ramp" "$out"
        files+=("$out/cliser-$n.kv")
    fi
    if [ "$only" != cliser ]; then
        run_mqtt "$n" "$duration" "$ramp" "$out"
        files+=("$out/mqtt-$n.kv")
    fi
done

echo
echo "Keep-alive / publish interval ${KEEPALIVE:-1} s, one reading each; steady phase ${duration} s; ramp ${ramp}/s; $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ)."
echo
print_table "${files[@]}"
echo
print_notes "${files[@]}"
echo
echo "load average (1, 5, 15 min): ${loads[*]/%/;} end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "raw figures and logs: $out"
