#!/usr/bin/env bash
# What does TLS cost the server? For each size N, in one run: bench/lib.sh's cliser row in clear,
# the same row inside TLS (the server with --listen off --listen-tls, cliser-load --tls-ca), then
# Mosquitto in clear and with a TLS listener carrying the same certificate and key (the publishers
# on it; the one subscriber on a second listener in clear on loopback, as a local consumer like
# cliser's store). The certificates come from `cliser-server gen-tls --name localhost,127.0.0.1`.
# Prints a compact summary (server CPU per 1,000 readings in clear and inside TLS, what TLS adds,
# cliser's handshake p50 / p99 inside TLS), then every row in bench/lib.sh's table and notes.
#
# Usage: bench/tls.sh [--clients N[,N...]] [--duration SECONDS] [--ramp PER_SEC] [--only cliser|mqtt]
#                     [--out DIR]
# Defaults: 1000,5000 clients, 40 s steady phase, ramp 1000 connections/s. --out DIR keeps the raw
# figures and logs (the temp dir, stores and certificates included, is removed on exit).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

clients=1000,5000
duration=40
ramp=1000
only=
keep=
while [ $# -gt 0 ]; do
    case "$1" in
        --clients) clients=$2; shift 2 ;;
        --duration) duration=$2; shift 2 ;;
        --ramp) ramp=$2; shift 2 ;;
        --only) only=$2; shift 2 ;;
        --out) keep=$2; shift 2 ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done
case "$only" in "" | cliser | mqtt) ;; *) die "--only cliser or --only mqtt" ;; esac
root=$(mktemp -d /tmp/cliser-tls.XXXXXX)
started=$(date +%s)

# Any server, broker or subscriber still running (an interrupted run), then the temp dir.
cleanup() {
    local f p
    for f in "$root"/*/*/pids; do
        [ -f "$f" ] || continue
        while read -r p; do
            case "$(cat "/proc/$p/comm" 2>/dev/null)" in
                cliser-server | mosquitto | mosquitto_sub) kill -TERM "$p" 2>/dev/null || true ;;
            esac
        done < "$f"
    done
    if [ -n "$keep" ]; then
        mkdir -p "$keep"
        (cd "$root" && find . -path ./tls -prune -o -path '*/data' -prune -o -type f \
            \( -name '*.kv' -o -name '*.log' -o -name '*.conf' -o -name '*.json' -o -name handshakes.csv \) \
            -exec cp --parents -t "$(realpath "$keep")" {} +) || true
    fi
    rm -rf "$root"
}
trap cleanup EXIT

build_release cliser-server cliser-load
[ "$only" = cliser ] || ensure_mosquitto

tls=$root/tls
"$BENCH_BIN/cliser-server" gen-tls --dir "$tls" --name localhost,127.0.0.1 > "$root/gen-tls.log" ||
    die "gen-tls failed"
# Mosquitto may drop to its own user before it reads the key; the files are throwaway.
chmod 0755 "$root" "$tls"
chmod 0644 "$tls"/*.pem

out=$root/runs
mkdir -p "$out"
files=()
IFS=, read -r -a sizes <<< "$clients"
for n in "${sizes[@]}"; do
    preflight "$n" || say "(continuing: the table will show what happens past the limit)"
    if [ "$only" != mqtt ]; then
        run_cliser "$n" "$duration" "$ramp" "$out"
        BENCH_TLS=$tls run_cliser "$n" "$duration" "$ramp" "$out"
        files+=("$out/cliser-$n.kv" "$out/cliser-tls-$n.kv")
    fi
    if [ "$only" != cliser ]; then
        run_mqtt "$n" "$duration" "$ramp" "$out"
        BENCH_TLS=$tls run_mqtt "$n" "$duration" "$ramp" "$out"
        files+=("$out/mqtt-$n.kv" "$out/mqtt-tls-$n.kv")
    fi
done

# The CPU figure of a row, or - when the row has none (it failed, or did not run).
cpu() { local v=; [ -f "$1" ] && v=$(kv "$1" watch_cpu_s_per_1000_readings); echo "${v:--}"; }
# What B adds to A, in per cent.
adds() {
    if [ "$1" = - ] || [ "$2" = - ]; then echo -; return; fi
    awk -v a="$1" -v b="$2" 'BEGIN {if (a > 0) printf "%+.0f %%", (b / a - 1) * 100; else print "-"}'
}
handshake() {
    if [ -f "$1" ] && [ -n "$(kv "$1" handshake_p99_ms)" ]; then
        echo "$(kv "$1" handshake_p50_ms) / $(kv "$1" handshake_p99_ms) ms"
    else
        echo -
    fi
}
failed_rows() {
    local f bad=
    for f in "$@"; do
        [ -f "$f" ] || continue
        if [ "$(kv "$f" result)" != ok ] || [ "$(kv "$f" server_survived)" != yes ]; then
            bad="$bad $(basename "$f" .kv)"
        fi
    done
    echo "${bad:- none}"
}

echo
echo "Keep-alive / publish interval ${KEEPALIVE:-1} s, one reading each; steady phase ${duration} s; ramp ${ramp}/s; $(nproc) cores; load average at the end $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%Y-%m-%dT%H:%MZ)."
echo
echo "| clients | cliser CPU s / 1,000 readings, clear / TLS | TLS adds (target <= +30 %) | cliser handshake p50 / p99, TLS | Mosquitto CPU s / 1,000, clear / TLS | TLS adds |"
echo "|---:|---|---:|---|---|---:|"
for n in "${sizes[@]}"; do
    cp=$(cpu "$out/cliser-$n.kv") ct=$(cpu "$out/cliser-tls-$n.kv")
    mp=$(cpu "$out/mqtt-$n.kv") mt=$(cpu "$out/mqtt-tls-$n.kv")
    echo "| $n | $cp / $ct | $(adds "$cp" "$ct") | $(handshake "$out/cliser-tls-$n.kv") | $mp / $mt | $(adds "$mp" "$mt") |"
done
echo
echo "Rows that failed (a client failed, a reading went unacked, or the server died):$(failed_rows "${files[@]}")"
echo
print_table "${files[@]}"
echo
print_notes "${files[@]}"
echo
echo "took $(($(date +%s) - started)) s${keep:+; raw figures and logs kept in $keep}"
