#!/usr/bin/env bash
# Does watching the page slow the Pis down? Runs the same load twice against the release server
# with its page on loopback (`--http 127.0.0.1:0`): N simulated Pis (cliser-load, bench/lib.sh's
# cliser row: keep-alive 1 s, one reading per poll, a steady phase of D s once all have registered),
# first with no viewer, then with V dashboard viewers, each an open /api/events stream (curl -N) and
# one /api/nodes fetch, opened once every Pi has registered and sent a reading, and kept for the
# steady phase. Prints
# both runs side by side: how late the server's polls came (the load tool's --keepalive measure;
# the target is no poll more than half an interval late) and the server's CPU over the same window
# (from one keep-alive after every Pi registered, D - 2 s - one keep-alive long) with and without
# the viewers.
#
# Usage: bench/web-viewers.sh [--clients N] [--viewers V] [--duration D] [--keepalive SECONDS] [--out DIR]
# Defaults: 500 Pis, 50 viewers, 60 s. --out DIR keeps the raw figures and logs (the temp dir, the
# viewers' streams included, is removed on exit).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

clients=500
viewers=50
duration=60
keep=
while [ $# -gt 0 ]; do
    case "$1" in
        --clients) clients=$2; shift 2 ;;
        --viewers) viewers=$2; shift 2 ;;
        --duration) duration=$2; shift 2 ;;
        --keepalive) KEEPALIVE=$2; shift 2 ;;
        --out) keep=$2; shift 2 ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done
[ "$duration" -ge 10 ] || die "--duration must be at least 10 s"
command -v curl >/dev/null || die "curl is needed"
keepalive=${KEEPALIVE:-1}
# The window starts once every Pi has registered and sent a reading (about one keep-alive after the
# steady phase begins) and ends before the steady phase does.
window=$((duration - 2 - keepalive))
[ "$window" -ge 5 ] || die "--duration must be at least the keep-alive + 7 s"
# The viewers' streams are written to memory when it can, so that their files do not share the
# disk with the store's syncs.
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
    root=$(mktemp -d /dev/shm/cliser-web-viewers.XXXXXX)
else
    root=$(mktemp -d /tmp/cliser-web-viewers.XXXXXX)
fi
driver_pid=
cleanup() {
    local f p
    [ -n "$driver_pid" ] && kill "$driver_pid" 2>/dev/null || true
    # The viewers, then any server still running (an interrupted run).
    for f in "$root"/*/*/viewer.pids; do
        [ -f "$f" ] && while read -r p; do kill "$p" 2>/dev/null || true; done < "$f"
    done
    for f in "$root"/*/cliser-*/ready.json; do
        [ -f "$f" ] || continue
        p=$(sed -n 's/.*"pid":\([0-9]*\).*/\1/p' "$f")
        [ -n "$p" ] && [ "$(cat "/proc/$p/comm" 2>/dev/null)" = cliser-server ] && kill -TERM "$p" 2>/dev/null || true
    done
    if [ -n "$keep" ]; then
        mkdir -p "$keep"
        (cd "$root" && find . -type f \( -name '*.kv' -o -name '*.log' -o -name '*.txt' -o -name '*.times' \
            -o -name '*.exits' \) -exec cp --parents {} "$(realpath "$keep")" \;) || true
    fi
    rm -rf "$root"
}
trap cleanup EXIT

build_release cliser-server cliser-load
preflight "$clients" || true

ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

# drive DIR VIEWERS: waits for the server of run_cliser's work dir DIR and for every Pi to register
# and send its first reading (so every viewer sees the whole fleet), then samples the server's CPU, opens VIEWERS viewers for the window, waits for the window's end
# and samples again; writes DIR/window.kv.
drive() {
    local dir=$1 n=$2 i http pid up=0 t0 t1 c0 c1 p
    for ((i = 0; i < 600; i++)); do [ -s "$dir/ready.json" ] && break; sleep 0.1; done
    http=$(sed -n 's/.*"http":"\([^"]*\)".*/\1/p' "$dir/ready.json")
    pid=$(sed -n 's/.*"pid":\([0-9]*\).*/\1/p' "$dir/ready.json")
    for ((i = 0; i < 1200; i++)); do
        curl -s -o "$dir/metrics.txt" "http://$http/metrics" || true
        up=$(grep -c '^cliser_node_up{.*} 1$' "$dir/metrics.txt" || true)
        [ "$up" -ge "$clients" ] && [ "$(grep -c '^cliser_temperature_celsius{' "$dir/metrics.txt" || true)" -ge "$clients" ] && break
        sleep 0.1
    done
    c0=$(ticks "$pid")
    t0=$(date +%s.%N)
    bash "$BENCH_REPO/bench/thread-cpu.sh" "$pid" > "$dir/threads-start.txt" 2>/dev/null || true
    : > "$dir/viewer.pids"
    for ((i = 1; i <= n; i++)); do
        curl -sN --max-time "$window" -o "$dir/viewer-$i.sse" "http://$http/api/events" &
        echo $! >> "$dir/viewer.pids"
        curl -s -o "$dir/viewer-$i.nodes.json" -w '%{http_code} %{time_total} %{size_download}\n' \
            "http://$http/api/nodes" >> "$dir/nodes.times"
    done
    # Out to the window's end (the streams end there by themselves).
    sleep "$(awk -v t0="$t0" -v now="$(date +%s.%N)" -v w="$window" 'BEGIN {s = t0 + w - now; print (s > 0 ? s : 0)}')"
    c1=$(ticks "$pid")
    t1=$(date +%s.%N)
    bash "$BENCH_REPO/bench/thread-cpu.sh" "$pid" > "$dir/threads-end.txt" 2>/dev/null || true
    : > "$dir/viewer.exits"
    while read -r p; do
        wait "$p" && echo 0 >> "$dir/viewer.exits" || echo $? >> "$dir/viewer.exits"
    done < "$dir/viewer.pids"
    awk -v up="$up" -v c="$((c1 - c0))" -v hz="$(getconf CLK_TCK)" -v t0="$t0" -v t1="$t1" 'BEGIN {
        printf "registered_at_window_start=%d\nwindow_s=%.2f\nwindow_cpu_s=%.2f\nwindow_cpu_pct=%.1f\n",
            up, t1 - t0, c / hz, 100 * c / hz / (t1 - t0) }' > "$dir/window.kv"
}

# CPU seconds of the web's threads (web, web-live, web-accept) between the two samples of DIR.
web_cpu() {
    awk '$1 ~ /^web/ { ms[FILENAME == ARGV[1] ? "a" : "b"] += $3 }
        END { printf "%.2f", (ms["b"] - ms["a"]) / 1000 }' "$1/threads-start.txt" "$1/threads-end.txt"
}

# What the viewers of DIR got: "open_to_the_end min_readings max_readings min_messages
# nodes_median_ms nodes_max_ms nodes_kb".
viewers_got() {
    local dir=$1 f
    local ok
    ok=$(grep -cx 28 "$dir/viewer.exits" || true)
    for f in "$dir"/viewer-*.sse; do
        printf '%s %s\n' "$(grep -o '"seq":' "$f" | wc -l)" "$(grep -c '^event: readings' "$f" || true)"
    done | sort -n | awk -v ok="$ok" '
        NR == 1 {min = $1; mm = $2} {max = $1; if ($2 < mm) mm = $2}
        END {printf "%s %s %s %s", ok, min, max, mm}'
    sort -k2 -g "$dir/nodes.times" | awk '{t[NR] = $2 * 1000; s = $3} END {printf " %.1f %.1f %.1f\n", t[int((NR + 1) / 2)], t[NR], s / 1000}'
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date -u +%Y-%m-%dT%H:%MZ)
export SERVER_HTTP="--http 127.0.0.1:0"
for run in none viewers; do
    n=0
    [ "$run" = viewers ] && n=$viewers
    mkdir -p "$root/$run/cliser-$clients"
    say "run '$run': $clients Pis, $n viewers"
    drive "$root/$run/cliser-$clients" "$n" &
    driver_pid=$!
    run_cliser "$clients" "$duration" 1000 "$root/$run"
    wait "$driver_pid" || true
    driver_pid=
    cat "$root/$run/cliser-$clients/window.kv" >> "$root/$run/cliser-$clients.kv"
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

a=$root/none/cliser-$clients.kv
b=$root/viewers/cliser-$clients.kv
read -r v_ok v_min v_max v_msgs n_med n_max n_kb < <(viewers_got "$root/viewers/cliser-$clients")
half_ms=$((keepalive * 500))
verdict() {
    local over
    over=$(kv "$1" polls_late_over_half_interval)
    if [ -n "$over" ] && [ "$over" = 0 ]; then echo "met"; else echo "**missed** ($over polls)"; fi
}
row() { printf '| %s | %s | %s |\n' "$1" "$2" "$3"; }
both() { row "$1" "$(kv "$a" "$2")$3" "$(kv "$b" "$2")$3"; }

echo
echo "$clients Pis at a ${keepalive} s keep-alive, steady phase ${duration} s; $(nproc) cores (load average $load_before at the start, $load_after at the end); $started."
echo
row "" "no viewer" "$viewers viewers"
echo "|---|---:|---:|"
row "Pis registered / failed" "$(kv "$a" registered) / $(kv "$a" failures)" "$(kv "$b" registered) / $(kv "$b" failures)"
row "readings sent / acked / stored" "$(kv "$a" readings_sent) / $(kv "$a" readings_acked) / $(kv "$a" stored)" \
    "$(kv "$b" readings_sent) / $(kv "$b" readings_acked) / $(kv "$b" stored)"
both "gaps between two polls measured" poll_gaps ""
row "gap between two polls p50 / p99" "$(kv "$a" poll_gap_p50_ms) / $(kv "$a" poll_gap_p99_ms) ms" \
    "$(kv "$b" poll_gap_p50_ms) / $(kv "$b" poll_gap_p99_ms) ms"
row "poll lateness p99 / max" "$(kv "$a" poll_late_p99_ms) / $(kv "$a" poll_late_max_ms) ms" \
    "$(kv "$b" poll_late_p99_ms) / $(kv "$b" poll_late_max_ms) ms"
both "polls more than half an interval (${half_ms} ms) late" polls_late_over_half_interval ""
row "no poll more than half an interval late" "$(verdict "$a")" "$(verdict "$b")"
row "server CPU over the window ($(kv "$b" window_s) s)" \
    "$(kv "$a" window_cpu_pct) % of a core ($(kv "$a" window_cpu_s) s)" "$(kv "$b" window_cpu_pct) % of a core ($(kv "$b" window_cpu_s) s)"
row "of which the web's threads (web, web-live, web-accept)" "$(web_cpu "$root/none/cliser-$clients") s" \
    "$(web_cpu "$root/viewers/cliser-$clients") s"
both "server CPU over the load tool's steady phase" watch_cpu_pct_of_core_steady " % of a core"
both "server peak RSS (VmHWM)" watch_hwm_kib " KiB"
row "viewers: streams open to the end" "-" "$v_ok / $viewers"
row "viewers: readings received, fewest / most (sent in the window: ~$((clients * window / keepalive)))" "-" "$v_min / $v_max"
row "viewers: 'readings' messages received, fewest" "-" "$v_msgs"
row "viewers: /api/nodes once each, median / max / size" "-" "$n_med / $n_max ms / $n_kb KB"
echo
echo "- Lateness = gap between two polls to one Pi - the keep-alive (the server schedules each poll one interval after the last); over the whole load run (ramp, steady phase, drain)."
echo "- Server CPU over the window: utime + stime of the server from /proc/<pid>/stat, from the moment every Pi had registered and sent a reading, for ${window} s (the viewers' streams end there)."
dropped=$(grep -c 'fell .* messages behind' "$root/viewers/cliser-$clients/server.log" || true)
echo "- Viewers the server dropped for falling behind: $dropped."
[ -n "$keep" ] && echo "raw figures and logs: $keep"
exit 0
