#!/usr/bin/env bash
# The server's CPU per stored reading by thread role (issue 28): the release cliser-server with its
# default SQLite store and a 1 s keep-alive, cliser-load with N clients answering each poll with one
# reading; once the steady phase has run for a few seconds, two bench/thread-cpu.sh snapshots WINDOW
# seconds apart and the readings stored between them (the server's `reading cid=` log lines, written
# after each commit). Prints one row per role: CPU ms in the window and µs per stored reading.
#
# Usage: bench/sink-cpu.sh [--clients N] [--window SECONDS] [--settle SECONDS] [--runs N]
#                          [--baseline DIR] [--out DIR] [--no-build] [--only-baseline]
# --baseline DIR: a release cliser-server of an earlier commit, measured in the same run before this
# tree's, run by run (baseline, this tree, baseline, this tree ...).
# --no-build: use the release binaries already in $CARGO_TARGET_DIR/release; --only-baseline: measure
# only the baseline (e.g. while this tree builds).
# LOAD_BIN: the cliser-load to run (default: the one in the release dir).
# Defaults: 2000 clients, 10 s window after 5 s of steady phase, 1 run, results in a new /tmp dir.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

clients=2000
window=10
settle=5
runs=1
baseline=
out=
build=yes
only_baseline=
while [ $# -gt 0 ]; do
    case "$1" in
        --clients) clients=$2; shift 2 ;;
        --window) window=$2; shift 2 ;;
        --settle) settle=$2; shift 2 ;;
        --runs) runs=$2; shift 2 ;;
        --baseline) baseline=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --no-build) build=; shift ;;
        --only-baseline) only_baseline=yes; shift ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done
out=${out:-$(mktemp -d /tmp/cliser-sink-cpu.XXXXXX)}
mkdir -p "$out"
[ -z "$build" ] || build_release cliser-server cliser-load
preflight "$clients" || say "(continuing)"

readings_logged() { grep -c ' reading cid=' "$1" || true; }

# measure NAME SERVER_BIN: one run; prints `role ms us_per_reading` lines to DIR/NAME.roles and
# `readings=`, `load=` to DIR/NAME.kv.
measure() {
    local name=$1 server_bin=$2 work=$out/$1
    rm -rf "$work"
    mkdir -p "$work"
    local pw=$work/password
    head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$pw"
    echo >> "$pw"
    RUST_LOG=info "$server_bin" --listen 127.0.0.1:0 --console 127.0.0.1:0 --http off --keepalive 1s \
        --max-clients $((clients + 100)) --data-dir "$work/data" --ready-file "$work/ready.json" \
        --password-file "$pw" 2> "$work/server.log" &
    local spid=$!
    local addr
    addr=$(wait_for_ready "$work/ready.json" "$spid" 20 listen) ||
        die "the server did not start: $(tail -3 "$work/server.log")"
    "${LOAD_BIN:-$BENCH_BIN/cliser-load}" --server "$addr" --clients "$clients" --ramp 1000 \
        --duration "$((settle + window + 5))s" --password-file "$pw" --id-prefix "pi-" --keepalive 1s \
        --stall-timeout 13s --drain-timeout 17s > "$work/load.kv" 2> "$work/load.log" &
    local lpid=$!
    local i
    for ((i = 0; i < 600; i++)); do
        grep -q 'steady phase begins' "$work/load.log" && break
        kill -0 "$lpid" 2>/dev/null || die "cliser-load ended before its steady phase: $(tail -3 "$work/load.log")"
        sleep 0.1
    done
    grep -q 'steady phase begins' "$work/load.log" || die "no steady phase within 60 s"
    sleep "$settle"
    local n0 n1
    # A snapshot of a few thousand threads takes a moment: the readings are counted right after
    # each, so both windows run from the end of one snapshot to the end of the next.
    bash "$BENCH_REPO/bench/thread-cpu.sh" "$spid" > "$work/cpu0"
    n0=$(readings_logged "$work/server.log")
    sleep "$window"
    bash "$BENCH_REPO/bench/thread-cpu.sh" "$spid" > "$work/cpu1"
    n1=$(readings_logged "$work/server.log")
    local load
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    wait "$lpid" || true
    kill -TERM "$spid"
    wait "$spid" 2>/dev/null || true
    local n=$((n1 - n0))
    {
        echo "readings=$n"
        echo "load=$load"
    } > "$work/run.kv"
    # Roles present in both snapshots; threads that ended between them are not counted.
    join "$work/cpu0" "$work/cpu1" | awk -v n="$n" '{ms = $6 - $3; printf "%s %.1f %.2f\n", $1, ms, ms * 1000 / n}' \
        > "$work/roles"
    say "$name: $n readings stored in ${window} s (load average $load)"
}

names=()
for ((r = 1; r <= runs; r++)); do
    if [ -n "$baseline" ]; then
        measure "baseline-$r" "$baseline/cliser-server"
        names+=("baseline-$r")
    fi
    [ -n "$only_baseline" ] && continue
    measure "this-$r" "$BENCH_BIN/cliser-server"
    names+=("this-$r")
done

echo
echo "$clients clients, keep-alive 1 s, one reading per poll, ${window} s window after ${settle} s of steady phase; $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ)."
echo
printf '| run | readings stored | load average | sink µs/reading | session | tcp_writer | tcp_reader | all roles µs/reading |\n|---|---:|---|---:|---:|---:|---:|---:|\n'
for name in "${names[@]}"; do
    w=$out/$name
    role() { awk -v r="$1" '$1 == r {print $3}' "$w/roles"; }
    printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$name" "$(kv "$w/run.kv" readings)" "$(kv "$w/run.kv" load)" \
        "$(role sink)" "$(role session)" "$(role tcp_writer)" "$(role tcp_reader)" \
        "$(awk '{s += $3} END {printf "%.2f", s}' "$w/roles")"
done
echo
echo "raw figures and logs: $out (NAME/roles: role, CPU ms in the window, µs per stored reading)"
