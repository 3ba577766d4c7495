#!/usr/bin/env bash
# What does the client cost a Pi? Runs the release cliser-pi-client with the simulated sensor at a
# 1 s interval against a release server on loopback (keep-alive 1 s), and reports its memory 30 s
# after start (VmRSS, which counts every resident page of the binary and of libc in full; PSS from
# /proc/<pid>/smaps_rollup, which divides shared pages among the processes mapping them; RssAnon, the
# process's own heap and stacks) and its CPU seconds per 1,000 readings (measured over a window after a 5 s warm-up, from the
# per-thread run times in /proc/<pid>/task/*/schedstat, in nanoseconds); then the same for a Python
# paho-mqtt client publishing one QoS 1 reading a second to Mosquitto (if python3-paho-mqtt can be
# had); then the size of the stripped aarch64 (Raspberry Pi) binary. With --tls, the cliser client
# is measured a second time over TLS (`--server tls://127.0.0.1:PORT --tls-ca`, against the server's
# --listen-tls with certificates from `cliser-server gen-tls`), on this host: the aarch64 binary is
# only weighed, not run. The cliser client runs in its default --durability spill.
#
# Then the SD card's figure (issue 16): two clients, --durability spill and --durability sync, run
# side by side against one server (its default keep-alive), each reading 8 thermometers (a fake w1
# tree) every 10 s, over a healthy link; the bytes each caused to be written to storage
# (write_bytes of /proc/<pid>/io) over --disk-window seconds after a 5 s warm-up, scaled to a day.
# The state dirs are under /tmp: run it where /tmp is a disk, not a tmpfs (tmpfs counts nothing).
#
# With --w1-cpu, the cliser client's CPU and memory are measured a second time reading 8
# thermometers of a fake w1 tree every 1 s (8 readings a second instead of 2; the same w1 backend
# a Pi runs, so each reading also costs its file reads).
#
# Usage: bench/client-footprint.sh [--window SECONDS] [--disk-window SECONDS] [--no-disk] [--no-paho]
#        [--no-aarch64] [--tls] [--w1-cpu]
# Default window 60 s (so 60 readings; RSS is read 30 s after start either way); disk window 600 s.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

window=60
disk_window=600
disk=1
paho=1
aarch64=1
tls=
w1_cpu=
while [ $# -gt 0 ]; do
    case "$1" in
        --window) window=$2; shift 2 ;;
        --disk-window) disk_window=$2; shift 2 ;;
        --no-disk) disk=; shift ;;
        --no-paho) paho=; shift ;;
        --no-aarch64) aarch64=; shift ;;
        --tls) tls=1; shift ;;
        --w1-cpu) w1_cpu=1; shift ;;
        -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
        *) die "unknown argument $1" ;;
    esac
done
[ "$window" -ge 30 ] || die "--window must be at least 30 (RSS is read at 30 s)"
out=$(mktemp -d /tmp/cliser-footprint.XXXXXX)
build_release cliser-server cliser-pi-client

mib() { [ "$1" = - ] && echo - || awk -v b="$1" 'BEGIN {printf "%.2f MiB", b / 1048576}'; }

# CPU nanoseconds of all live threads of a process.
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%d", s}'; }
status_kib() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }

# Proportional set size (each shared page divided by the processes mapping it), from smaps_rollup.
rollup_kib() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/smaps_rollup"; }

# measure PID COUNT_COMMAND: prints "rss_kib anon_kib pss_kib threads cpu_s readings cpu_s_per_1000";
# the readings are counted by COUNT_COMMAND (evaluated) at the window's start and end.
measure() {
    local pid=$1 count=$2
    local c0 r0 rss anon pss threads c1 r1
    sleep 5
    c0=$(cpu_ns "$pid")
    r0=$(eval "$count")
    sleep 25
    rss=$(status_kib "$pid" VmRSS)
    anon=$(status_kib "$pid" RssAnon)
    pss=$(rollup_kib "$pid" Pss)
    threads=$(status_kib "$pid" Threads)
    sleep $((window - 25))
    c1=$(cpu_ns "$pid")
    r1=$(eval "$count")
    awk -v rss="$rss" -v anon="$anon" -v pss="$pss" -v th="$threads" -v c="$((c1 - c0))" -v r="$((r1 - r0))" 'BEGIN {
        printf "%s %s %s %s %.4f %d %s\n", rss, anon, pss, th, c / 1e9, r, (r > 0 ? sprintf("%.4f", c / 1e9 / r * 1000) : "-")
    }'
}

# fake_w1 DIR: a sysfs-like w1 tree of 8 DS18B20s (28-000000000000 .. 28-000000000007) under DIR.
fake_w1() {
    local w1=$1 i id
    mkdir -p "$w1/w1_bus_master1"
    for i in 0 1 2 3 4 5 6 7; do
        id=28-00000000000$i
        echo "$id" >> "$w1/w1_bus_master1/w1_master_slaves"
        mkdir -p "$w1/$id"
        printf '72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=2000%s\n' "$i" > "$w1/$id/w1_slave"
        echo "2000$i" > "$w1/$id/temperature"
    done
}

# --- cliser-pi-client ---
# cliser_client NAME [TLS_DIR] [SENSOR]: the client against its own server (inside TLS with a
# gen-tls dir; a plain connection with an empty one), reading SENSOR (default sim) every 1 s;
# sets c_rss c_anon c_pss c_threads c_cpu c_readings c_per1000.
cliser_client() {
    local work=$out/$1 tls_dir=${2:-} sensor=${3:-sim}
    mkdir -p "$work/state"
    local password
    password=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
    printf '%s\n' "$password" > "$work/password"
    local listen=(--listen 127.0.0.1:0) key=listen scheme='' ca=()
    if [ -n "$tls_dir" ]; then
        listen=(--listen off --listen-tls 127.0.0.1:0 --tls-cert "$tls_dir/server.pem" --tls-key "$tls_dir/server-key.pem")
        key=listen_tls scheme=tls:// ca=(--tls-ca "$tls_dir/ca.pem")
    fi
    RUST_LOG=info "$BENCH_BIN/cliser-server" "${listen[@]}" --console 127.0.0.1:0 --http off --keepalive 1s \
        --data-dir "$work/data" --ready-file "$work/ready.json" --password-file "$work/password" 2> "$work/server.log" &
    local spid=$!
    local addr
    addr=$(wait_for_ready "$work/ready.json" "$spid" 20 "$key") || die "server did not start: $(tail -3 "$work/server.log")"
    say "cliser-pi-client --sensor $sensor --interval 1s against $scheme$addr: ${window}s after a 5 s warm-up"
    CLISER_PASSWORD=$password "$BENCH_BIN/cliser-pi-client" --server "$scheme$addr" "${ca[@]}" --id footprint-1 \
        --sensor "$sensor" --interval 1s --state-dir "$work/state" 2> "$work/client.log" &
    local cpid=$!
    read -r c_rss c_anon c_pss c_threads c_cpu c_readings c_per1000 < <(measure "$cpid" "{ export_store '$work/data' '$work/stored.csv' || : > '$work/stored.csv'; } && grep -c ',footprint-1,' '$work/stored.csv' || true")
    kill -TERM "$cpid"
    wait "$cpid" || true
    kill -TERM "$spid"
    wait "$spid" || true
}
cliser_client cliser
plain_row="$(mib $((c_rss * 1024))) | $(mib $((c_pss * 1024))) | $(mib $((c_anon * 1024))) | $c_threads | $c_cpu | $c_readings | $c_per1000"
tls_row=
if [ -n "$tls" ]; then
    "$BENCH_BIN/cliser-server" gen-tls --dir "$out/tls" --name 127.0.0.1 > "$out/gen-tls.log" || die "gen-tls failed"
    cliser_client cliser-tls "$out/tls"
    tls_row="$(mib $((c_rss * 1024))) | $(mib $((c_pss * 1024))) | $(mib $((c_anon * 1024))) | $c_threads | $c_cpu | $c_readings | $c_per1000"
fi
w1_row=
if [ -n "$w1_cpu" ]; then
    fake_w1 "$out/w1-cpu-tree"
    cliser_client cliser-w1 "" "w1:$out/w1-cpu-tree"
    w1_row="$(mib $((c_rss * 1024))) | $(mib $((c_pss * 1024))) | $(mib $((c_anon * 1024))) | $c_threads | $c_cpu | $c_readings | $c_per1000"
fi

# --- bytes written per day: spill against sync, 8 sensors at 10 s ---
io_write_bytes() { awk '$1 == "write_bytes:" {print $2}' "/proc/$1/io"; }
d_spill=-
d_sync=-
if [ -n "$disk" ]; then
    work=$out/disk
    w1=$work/w1
    fake_w1 "$w1"
    password=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
    printf '%s\n' "$password" > "$work/password"
    RUST_LOG=info "$BENCH_BIN/cliser-server" --listen 127.0.0.1:0 --console 127.0.0.1:0 --http off \
        --data-dir "$work/data" --ready-file "$work/ready.json" --password-file "$work/password" 2> "$work/server.log" &
    dspid=$!
    daddr=$(wait_for_ready "$work/ready.json" "$dspid" 20 listen) || die "server did not start: $(tail -3 "$work/server.log")"
    say "8 sensors every 10 s, --durability spill and sync side by side against $daddr: ${disk_window}s after a 5 s warm-up"
    declare -A dpid
    for mode in spill sync; do
        CLISER_PASSWORD=$password "$BENCH_BIN/cliser-pi-client" --server "$daddr" --id "disk-$mode" --sensor "w1:$w1" \
            --interval 10s --durability "$mode" --state-dir "$work/state-$mode" 2> "$work/client-$mode.log" &
        dpid[$mode]=$!
    done
    sleep 5
    s0=$(io_write_bytes "${dpid[spill]}")
    y0=$(io_write_bytes "${dpid[sync]}")
    sleep "$disk_window"
    s1=$(io_write_bytes "${dpid[spill]}")
    y1=$(io_write_bytes "${dpid[sync]}")
    d_spill=$(( (s1 - s0) * 86400 / disk_window ))
    d_sync=$(( (y1 - y0) * 86400 / disk_window ))
    for mode in spill sync; do kill -TERM "${dpid[$mode]}"; wait "${dpid[$mode]}" || true; done
    kill -TERM "$dspid"
    wait "$dspid" || true
fi

# --- paho-mqtt (Python) against Mosquitto ---
p_row=
if [ -n "$paho" ]; then
    if ! /usr/bin/python3 -c 'import paho.mqtt.client' 2>/dev/null; then
        say "installing python3-paho-mqtt (Debian)"
        apt_install python3-paho-mqtt || true
    fi
    ensure_mosquitto
    if /usr/bin/python3 -c 'import paho.mqtt.client' 2>/dev/null; then
        work=$out/paho
        mkdir -p "$work"
        port=$(free_port)
        printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' "$port" > "$work/mosquitto.conf"
        mosquitto -c "$work/mosquitto.conf" 2> "$work/mosquitto.log" &
        mpid=$!
        sleep 0.5
        mosquitto_sub -h 127.0.0.1 -p "$port" -q 1 -t 'cliser/#' -v > "$work/messages.txt" 2> "$work/sub.log" &
        subpid=$!
        sleep 0.3
        paho_version=$(/usr/bin/python3 -c 'import paho.mqtt; print(paho.mqtt.__version__)')
        say "paho-mqtt $paho_version (Python $(/usr/bin/python3 -c 'import platform; print(platform.python_version())')) publishing at QoS 1 every 1 s"
        /usr/bin/python3 "$(dirname "$0")/paho-client.py" 127.0.0.1 "$port" footprint-1 1 2> "$work/client.log" &
        ppid=$!
        read -r p_rss p_anon p_pss p_threads p_cpu p_readings p_per1000 < <(measure "$ppid" "grep -c '^cliser/footprint-1 ' '$work/messages.txt' || true")
        kill -TERM "$ppid"
        wait "$ppid" || true
        kill -INT "$subpid"
        wait "$subpid" || true
        kill -TERM "$mpid"
        wait "$mpid" || true
        p_row=1
    else
        say "python3-paho-mqtt not available: no paho row"
    fi
fi

# --- the Pi binary ---
a_size=-
a_gpio_size=-
host_size=-
if [ -n "$aarch64" ]; then
    triple="aarch64-unknown-linux-gnu"
    rustup target list --installed 2>/dev/null | grep -qx "$triple" || rustup target add "$triple" >/dev/null
    command -v aarch64-linux-gnu-gcc >/dev/null || { say "installing gcc-aarch64-linux-gnu (Debian)"; apt_install gcc-aarch64-linux-gnu; }
    say "building cliser-pi-client for $triple (as deploy/deploy.sh does: with and without --features gpio)"
    (cd "$BENCH_REPO" && cargo build --release --quiet --target "$triple" -p cliser-pi-client) || die "aarch64 build failed"
    aarch64-linux-gnu-strip -o "$out/cliser-pi-client.aarch64" "$BENCH_TARGET/$triple/release/cliser-pi-client"
    a_size=$(stat -c %s "$out/cliser-pi-client.aarch64")
    (cd "$BENCH_REPO" && cargo build --release --quiet --target "$triple" -p cliser-pi-client --features gpio) ||
        die "aarch64 gpio build failed"
    aarch64-linux-gnu-strip -o "$out/cliser-pi-client-gpio.aarch64" "$BENCH_TARGET/$triple/release/cliser-pi-client"
    a_gpio_size=$(stat -c %s "$out/cliser-pi-client-gpio.aarch64")
fi
strip -o "$out/cliser-pi-client.host" "$BENCH_BIN/cliser-pi-client"
host_size=$(stat -c %s "$out/cliser-pi-client.host")

echo
echo "One client each: cliser-pi-client --sensor sim (two simulated thermometers, so two readings a second), paho one reading a second; RSS 30 s after start; CPU over ${window} s after a 5 s warm-up; $(nproc)-core $(uname -m) host."
echo
echo "| client | RSS after 30 s | PSS | anonymous (RssAnon) | threads | CPU s over the window | readings in the window | CPU s / 1,000 readings |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
echo "| cliser-pi-client (Rust, release), --durability spill | $plain_row |"
if [ -n "$tls_row" ]; then
    echo "| cliser-pi-client (Rust, release), tls:// | $tls_row |"
fi
if [ -n "$w1_row" ]; then
    echo "| cliser-pi-client (Rust, release), --sensor w1: 8 fake thermometers at 1 s | $w1_row |"
fi
if [ -n "$p_row" ]; then
    echo "| paho-mqtt $paho_version (Python) | $(mib $((p_rss * 1024))) | $(mib $((p_pss * 1024))) | $(mib $((p_anon * 1024))) | $p_threads | $p_cpu | $p_readings | $p_per1000 |"
fi
if [ -n "$disk" ]; then
    kib() { awk -v b="$1" 'BEGIN {printf "%.1f KiB", b / 1024}'; }
    echo
    echo "Bytes the client caused to be written to storage (write_bytes of /proc/<pid>/io), 8 sensors every 10 s, healthy link, measured over ${disk_window} s after a 5 s warm-up and scaled to a day:"
    echo
    echo "| --durability | bytes written per day |"
    echo "|---|---:|"
    echo "| spill (default) | $(kib "$d_spill") ($d_spill bytes) |"
    echo "| sync | $(kib "$d_sync") ($d_sync bytes) |"
fi
echo
echo "| binary | stripped size |"
echo "|---|---:|"
echo "| cliser-pi-client, aarch64-unknown-linux-gnu | $(mib "$a_size") ($a_size bytes) |"
echo "| cliser-pi-client --features gpio, aarch64-unknown-linux-gnu (what deploy/deploy.sh ships) | $(mib "$a_gpio_size") ($a_gpio_size bytes) |"
echo "| cliser-pi-client, $(uname -m) host | $(mib "$host_size") ($host_size bytes) |"
echo
echo "logs: $out"
