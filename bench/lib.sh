# Shared by the bench scripts (sourced, not run): building, machine checks, starting the release
# server and Mosquitto on loopback, running the load tool, and printing the table.
# shellcheck shell=bash

BENCH_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_TARGET=${CARGO_TARGET_DIR:-$BENCH_REPO/target}
BENCH_BIN=$BENCH_TARGET/release

say() { printf '%s\n' "$*" >&2; }
die() { say "error: $*"; exit 2; }

# Builds the release binaries named (packages of the same name).
build_release() {
    local args=()
    for p in "$@"; do args+=(-p "$p"); done
    say "building release: $*"
    (cd "$BENCH_REPO" && cargo build --release --quiet "${args[@]}") || die "cargo build failed"
}

# apt-get install, once per script, only for what is missing.
apt_updated=
apt_install() {
    [ "$(id -u)" = 0 ] || die "need root to install $* (or install them first)"
    if [ -z "$apt_updated" ]; then
        apt-get update -qq >/dev/null || die "apt-get update failed"
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null || die "apt-get install $* failed"
}

# Mosquitto's version, e.g. 2.0.11 (`mosquitto -h` exits non-zero).
mosquitto_version() { { mosquitto -h 2>/dev/null || true; } | sed -n 's/^mosquitto version //p'; }

ensure_mosquitto() {
    command -v mosquitto >/dev/null && command -v mosquitto_sub >/dev/null && return
    say "installing mosquitto and mosquitto-clients (Debian)"
    apt_install mosquitto mosquitto-clients
}

# A free TCP port on loopback (the kernel picks it; a tiny window for someone else to take it).
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The value of KEY in a key=value file (the last one if repeated); empty if absent.
kv() { sed -n "s/^$2=//p" "$1" | tail -n 1; }

threads_in_use() { ps -eLf --no-headers | wc -l; }

# Raises this shell's open-files limit to the hard limit and checks the machine can hold N clients:
# fds (load tool and server each hold N sockets), pids/threads (the server runs 3 threads per client),
# memory mappings (each connection thread costs 2: its stack and guard page; the server starts them as
# plain pthreads, without the signal stack std maps per thread), and ephemeral ports. Prints what it found; warns, never fails,
# so that a run past a limit shows how the server fails.
preflight() {
    local n=$1
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    local nofile pid_max threads_max maps ports used
    nofile=$(ulimit -n)
    pid_max=$(cat /proc/sys/kernel/pid_max)
    threads_max=$(cat /proc/sys/kernel/threads-max)
    maps=$(cat /proc/sys/vm/max_map_count)
    read -r lo hi < /proc/sys/net/ipv4/ip_local_port_range
    ports=$((hi - lo + 1))
    used=$(threads_in_use)
    local need_threads=$((3 * n + 16)) need_maps=$((6 * n + 2048))
    say "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo), kernel $(uname -r)"
    say "limits for $n clients:"
    say "  open files per process: $nofile (each side needs $((n + 64)))"
    say "  pid_max $pid_max, threads-max $threads_max, threads in use $used: free $((pid_max - used)); the server needs about $need_threads (3 per client)"
    say "  vm.max_map_count $maps per process; the server needs about $need_maps (6 per client: 3 threads x [stack, guard])"
    say "  ephemeral ports: $ports"
    local warn=0
    if [ "$nofile" -lt $((n + 64)) ]; then say "  WARNING: open files limit too low"; warn=1; fi
    if [ $((pid_max - used)) -lt "$need_threads" ]; then say "  WARNING: not enough free pids"; warn=1; fi
    if [ "$maps" -lt "$need_maps" ]; then
        say "  WARNING: the server will run out of memory mappings near $(((maps - 2048) / 6)) clients (it caps --max-clients there and refuses the rest)"
        warn=1
    fi
    if [ "$ports" -lt $((n + 100)) ]; then say "  WARNING: not enough ephemeral ports"; warn=1; fi
    return $warn
}

# Waits (up to $3 seconds) for the server with pid $2 to write its ready file $1 (`--ready-file`,
# written whole through a rename); prints the client address from it (its key $4, default `listen`;
# `listen_tls` for the TLS listener). Fails at once if the server exits first.
wait_for_ready() {
    local file=$1 pid=$2 timeout=$3 key=${4:-listen} i
    for ((i = 0; i < timeout * 20; i++)); do
        if [ -s "$file" ]; then
            sed -n "s/.*\"$key\":\"\\([^\"]*\\)\".*/\\1/p" "$file"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

# Writes every reading in the store of data dir $1 to $2, in the former CSV ledger's columns
# (ts,cid,sensor,temp_c,error,seq, a header line first).
export_store() {
    "$BENCH_BIN/cliser-server" export --format csv --data-dir "$1" > "$2"
}

# Waits until the file $1 stops growing (no change for $2 seconds, at most $3 seconds in all).
wait_quiet() {
    local file=$1 still=$2 max=$3 last=-1 same=0 i size
    for ((i = 0; i < max * 10; i++)); do
        size=$(stat -c %s "$file" 2>/dev/null || echo 0)
        if [ "$size" = "$last" ]; then
            same=$((same + 1))
            [ "$same" -ge $((still * 10)) ] && return 0
        else
            same=0
            last=$size
        fi
        sleep 0.1
    done
}

# run_cliser N STEADY_S RAMP DIR: the release server with a 1 s keep-alive, the load tool against it.
# Writes DIR/cliser-N.kv: the load tool's report plus logged/stored counts and the server's fate.
# The server keeps its readings in the default SQLite store, in DIR/cliser-N/data.
# run_cliser N STEADY RAMP DIR [BASELINE_BIN_DIR]: with a baseline dir, that build of cliser-server
# (an earlier commit; one from before the store keeps readings in its --readings-csv ledger) runs
# instead, as a row of its own.
# With BENCH_TLS set to a directory of `cliser-server gen-tls --name 127.0.0.1` (ca.pem, server.pem,
# server-key.pem), the server listens only inside TLS (--listen off --listen-tls) and the load tool
# speaks TLS to it (--tls-ca): DIR/cliser-tls-N.kv.
run_cliser() {
    local n=$1 steady=$2 ramp=$3 dir=$4 baseline=${5:-}
    local name=cliser-$n server_bin=$BENCH_BIN/cliser-server
    [ -n "$baseline" ] && name=baseline-$n server_bin=$baseline/cliser-server
    local listen=(--listen 127.0.0.1:0) ready_key=listen tls_load=()
    if [ -n "${BENCH_TLS:-}" ]; then
        name=cliser-tls-$n
        listen=(--listen off --listen-tls 127.0.0.1:0 --tls-cert "$BENCH_TLS/server.pem" --tls-key "$BENCH_TLS/server-key.pem")
        ready_key=listen_tls
        tls_load=(--tls-ca "$BENCH_TLS/ca.pem")
    fi
    local work=$dir/$name
    mkdir -p "$work"
    local pw=$work/password
    head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$pw"
    echo >> "$pw"
    say "cliser${BENCH_TLS:+ over TLS}: $n clients, ramp $ramp/s, steady ${steady}s (logs in $work)"
    local store=(--data-dir "$work/data")
    # A baseline from before the store (the CSV ledger) has no --store.
    if [ -n "$baseline" ] && ! "$server_bin" --help 2>/dev/null | grep -q -- '--store'; then
        store=(--readings-csv "$work/readings.csv")
    fi
    RUST_LOG=info "$server_bin" "${listen[@]}" --console 127.0.0.1:0 ${SERVER_HTTP:---http off} --keepalive "${KEEPALIVE:-1}s" \
        --max-clients $((n + 100)) "${store[@]}" --ready-file "$work/ready.json" --password-file "$pw" \
        2> "$work/server.log" &
    local spid=$!
    echo "$spid" > "$work/pids"
    local addr
    addr=$(wait_for_ready "$work/ready.json" "$spid" 20 "$ready_key") ||
        die "the server did not start: $(tail -3 "$work/server.log")"
    local out=$dir/$name.kv
    "$BENCH_BIN/cliser-load" --server "$addr" --clients "$n" --ramp "$ramp" --duration "${steady}s" \
        --password-file "$pw" "${tls_load[@]}" --id-prefix "pi-" --watch-pid "$spid" --keepalive "${KEEPALIVE:-1}s" \
        --handshakes-csv "$work/handshakes.csv" \
        --stall-timeout "$((3 * ${KEEPALIVE:-1} + 10))s" --drain-timeout "$((2 * ${KEEPALIVE:-1} + 15))s" \
        > "$out" 2> "$work/load.log" || true
    local alive=yes
    if kill -0 "$spid" 2>/dev/null; then
        kill -TERM "$spid"
        wait "$spid" 2>/dev/null || true
    else
        alive=no
        wait "$spid" 2>/dev/null || true
    fi
    # Empty figures (so the checks fail) if the store cannot be read; export.log says why.
    local stored="" stored_dups="" csv=""
    if [ -f "$work/readings.csv" ]; then
        cp "$work/readings.csv" "$work/stored.csv"
        csv=yes
    fi
    if [ -n "$csv" ] || export_store "$work/data" "$work/stored.csv" 2> "$work/export.log"; then
        stored=$(tail -n +2 "$work/stored.csv" | wc -l)
        stored_dups=$(tail -n +2 "$work/stored.csv" | cut -d, -f2,6 | sort | uniq -d | wc -l)
    fi
    {
        echo "server_survived=$alive"
        echo "server_fatal=$(grep -m1 -E 'panicked at|fatal|failed to allocate' -A1 "$work/server.log" | tr '\n' ' ' | cut -c1-160)"
        echo "logged=$(grep -c ' reading cid=pi-' "$work/server.log" || true)"
        echo "logged_dups=$(grep -o ' reading cid=pi-[^ ]* .* seq=[0-9]*' "$work/server.log" |
            awk '{print $2, $NF}' | sort | uniq -d | wc -l)"
        echo "stored=$stored"
        echo "stored_dups=$stored_dups"
        echo "server_connections_logged=$(grep -c 'connection from' "$work/server.log" || true)"
        if [ -n "${BENCH_TLS:-}" ]; then
            echo "tls=yes"
            echo "label=cliser-server, TLS (SQLite store)"
        fi
        if [ -n "$baseline" ]; then
            local kind="SQLite store"
            [ -n "$csv" ] && kind="CSV ledger"
            echo "label=cliser-server, baseline, $kind ($(git -C "$baseline" rev-parse --short HEAD 2>/dev/null || echo "$baseline"))"
        fi
    } >> "$out"
}

# run_mqtt N STEADY_S RAMP DIR: Mosquitto on a free loopback port, one subscriber writing every
# message to a file (QoS 1), N load-tool publishers at one QoS 1 message per second each.
# With BENCH_TLS (see run_cliser), the publishers reach the broker on a TLS listener with the same
# certificate and key as cliser's; the subscriber, a local consumer like cliser's store, stays on a
# second listener in clear on loopback: DIR/mqtt-tls-N.kv. With TLS, Mosquitto also gets
# `set_tcp_nodelay true` (cliser's server sets TCP_NODELAY): without it, Nagle holds the CONNACK
# behind the session tickets OpenSSL sends after the handshake until the client's delayed ACK, and
# every TLS handshake takes 40+ ms. In clear the CONNACK is the first write and nothing waits.
run_mqtt() {
    local n=$1 steady=$2 ramp=$3 dir=$4
    local name=mqtt-$n
    [ -n "${BENCH_TLS:-}" ] && name=mqtt-tls-$n
    local work=$dir/$name
    mkdir -p "$work"
    local port sub_port tls_load=() tls_conf=
    port=$(free_port)
    sub_port=$port
    if [ -n "${BENCH_TLS:-}" ]; then
        sub_port=$(free_port)
        tls_load=(--tls-ca "$BENCH_TLS/ca.pem")
        tls_conf=$(printf 'certfile %s\nkeyfile %s\nlistener %s 127.0.0.1\nset_tcp_nodelay true' \
            "$BENCH_TLS/server.pem" "$BENCH_TLS/server-key.pem" "$sub_port")
    fi
    cat > "$work/mosquitto.conf" <<EOF
listener $port 127.0.0.1
$tls_conf
allow_anonymous true
max_connections -1
# One subscriber takes every message: let its queue hold them all rather than drop any.
max_queued_messages 0
max_inflight_messages 0
persistence false
log_dest stderr
log_type error
log_type warning
log_type notice
EOF
    say "mosquitto $(mosquitto_version)${BENCH_TLS:+ over TLS}: $n clients, ramp $ramp/s, steady ${steady}s (logs in $work)"
    mosquitto -c "$work/mosquitto.conf" 2> "$work/mosquitto.log" &
    local mpid=$!
    echo "$mpid" > "$work/pids"
    local i
    for ((i = 0; i < 100; i++)); do
        grep -q "listen socket on port $sub_port" "$work/mosquitto.log" 2>/dev/null && break
        sleep 0.05
    done
    mosquitto_sub -h 127.0.0.1 -p "$sub_port" -q 1 -t 'cliser/#' -v > "$work/messages.txt" 2> "$work/sub.log" &
    local subpid=$!
    echo "$subpid" >> "$work/pids"
    sleep 0.5
    local out=$dir/$name.kv
    "$BENCH_BIN/cliser-load" --protocol mqtt --server "127.0.0.1:$port" "${tls_load[@]}" --clients "$n" --ramp "$ramp" \
        --duration "${steady}s" --interval "${KEEPALIVE:-1}s" --id-prefix "pi-" --topic-prefix "cliser/" \
        --watch-pid "$mpid" --handshakes-csv "$work/handshakes.csv" > "$out" 2> "$work/load.log" || true
    local sent
    sent=$(kv "$out" readings_sent)
    # The subscriber may still be catching up: wait until it has them all or stops growing.
    for ((i = 0; i < 300; i++)); do
        [ "$(wc -l < "$work/messages.txt")" -ge "${sent:-0}" ] && break
        sleep 0.1
    done
    wait_quiet "$work/messages.txt" 1 10
    local sub_ticks
    sub_ticks=$(awk '{print $14 + $15}' "/proc/$subpid/stat" 2>/dev/null || echo 0)
    local alive=yes
    kill -0 "$mpid" 2>/dev/null || alive=no
    kill -INT "$subpid" 2>/dev/null || true
    wait "$subpid" 2>/dev/null || true
    kill -TERM "$mpid" 2>/dev/null || true
    wait "$mpid" 2>/dev/null || true
    {
        echo "server_survived=$alive"
        echo "logged=$(grep -c '^cliser/pi-' "$work/messages.txt" || true)"
        echo "logged_dups=$(grep '^cliser/pi-' "$work/messages.txt" | sort | uniq -d | wc -l)"
        echo "subscriber_cpu_s=$(awk -v t="$sub_ticks" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", t / hz}')"
        if [ -n "${BENCH_TLS:-}" ]; then
            echo "tls=yes"
            echo "label=Mosquitto $(mosquitto_version), TLS listener"
        fi
    } >> "$out"
}

# The table of the .kv files given, as Markdown.
print_table() {
    printf '| system | clients | registered | server peak RSS | RSS / client | server threads | server CPU s / 1,000 readings | readings sent / logged / acked | handshake p50 / p99 | answer -> ack p50 / p99 | load tool CPU (steady) |\n'
    printf '|---|---:|---:|---:|---:|---:|---:|---|---|---|---:|\n'
    local f
    for f in "$@"; do
        local sys
        case "$(kv "$f" protocol)" in
            cliser) sys=$(kv "$f" label || true); sys=${sys:-cliser-server (SQLite store)} ;;
            mqtt) sys=$(kv "$f" label || true); sys=${sys:-Mosquitto $(mosquitto_version)} ;;
            *) sys="?" ;;
        esac
        [ "$(kv "$f" server_survived)" = no ] && sys="$sys (died)"
        local hwm
        hwm=$(kv "$f" watch_hwm_kib)
        printf '| %s | %s | %s | %s | %s | %s | %s | %s / %s / %s | %s / %s ms | %s / %s ms | %s %% |\n' \
            "$sys" "$(kv "$f" clients)" "$(kv "$f" registered)" \
            "$([ -n "$hwm" ] && awk -v k="$hwm" 'BEGIN {printf "%.1f MiB", k / 1024}' || echo -)" \
            "$(v=$(kv "$f" watch_rss_per_client_kib); [ -n "$v" ] && echo "$v KiB" || echo -)" \
            "$(v=$(kv "$f" watch_threads_steady_end); echo "${v:--}")" \
            "$(v=$(kv "$f" watch_cpu_s_per_1000_readings); echo "${v:--}")" \
            "$(kv "$f" readings_sent)" "$(kv "$f" logged)" "$(kv "$f" readings_acked)" \
            "$(kv "$f" handshake_p50_ms)" "$(kv "$f" handshake_p99_ms)" \
            "$(kv "$f" ack_p50_ms)" "$(kv "$f" ack_p99_ms)" \
            "$(kv "$f" load_cpu_pct_of_core_steady)"
    done
}

# One line per row on what else matters: failures, duplicates, late acks, how a dead server died.
print_notes() {
    local f
    for f in "$@"; do
        local line
        local over=
        [ "$(kv "$f" tls)" = yes ] && over=" over TLS"
        line="$(kv "$f" protocol)$over $(kv "$f" clients): failures=$(kv "$f" failures) ($(kv "$f" failure_kinds))"
        line="$line, duplicates logged=$(kv "$f" logged_dups)"
        if [ "$(kv "$f" protocol)" = cliser ]; then
            line="$line, stored=$(kv "$f" stored) (dups $(kv "$f" stored_dups))"
            line="$line, acked on the next poll=$(kv "$f" acked_next_poll) later=$(kv "$f" acked_later)"
            line="$line, longest gap between polls=$(kv "$f" poll_gap_max_ms) ms"
            line="$line, polls more than half an interval late=$(kv "$f" polls_late_over_half_interval)"
        else
            line="$line, subscriber (mosquitto_sub) CPU=$(kv "$f" subscriber_cpu_s) s"
        fi
        line="$line, steady phase $(kv "$f" steady_s) s, server CPU $(kv "$f" watch_cpu_pct_of_core_steady) % of a core"
        [ "$(kv "$f" server_survived)" = no ] && line="$line; the server died: $(kv "$f" server_fatal)"
        echo "- $line"
    done
}
