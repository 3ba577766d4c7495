#!/usr/bin/env bash
# Issue 28 item 4, a fleet back from an outage: PIS simulated Pis reconnect together, each holding
# BACKLOG unacknowledged readings of SENSORS sensors (stamped @<unix_ms> in the past, as the real
# client sends what it read back from its journal), emptied in full lines with `more` as the real
# client does; LIVE other Pis poll as usual meanwhile. Runs the release server (port 0, a temp store)
# on its default SQLite store and on a private PostgreSQL cluster, and prints per store: the time
# until every backlog reading is stored (the ack of the last one: acks follow commits), the
# readings/s every 10 s, the live Pis' poll lateness against the keep-alive (max, p99, how many more
# than half an interval late), the page's /api/nodes response time (asked every second), the
# server's CPU by thread role, PostgreSQL's CPU, the load average; then checks the store: every
# backlog reading there exactly once (rows per client, seq range, no duplicate (node, seq)).
#
# Usage: bench/catch-up.sh [--pis N] [--backlog N] [--sensors N] [--live N] [--keepalive SECONDS]
#                          [--only sqlite|pg] [--max-seconds N] [--out DIR] [--keep-logs]
# Defaults: the issue's fleet, 100 Pis x 69,120 readings (24 h of 8 sensors at 10 s: 6.9 M) and 500
# live Pis at the default 10 s keep-alive, on both stores (a few minutes each). A quick try:
# --pis 10 --backlog 6912 --live 50. Exits 1 if a check failed.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

pis=100
backlog=69120
sensors=8
live=500
keepalive=10
only=
max_seconds=900
out=
keep_logs=
while [ $# -gt 0 ]; do
    case "$1" in
        --pis) pis=$2; shift 2 ;;
        --backlog) backlog=$2; shift 2 ;;
        --sensors) sensors=$2; shift 2 ;;
        --live) live=$2; shift 2 ;;
        --keepalive) keepalive=$2; shift 2 ;;
        --only) only=$2; shift 2 ;;
        --max-seconds) max_seconds=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --keep-logs) keep_logs=1; shift ;;
        -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done
out=${out:-$(mktemp -d /tmp/cliser-catch-up.XXXXXX)}
mkdir -p "$out"
clients=$((pis + live))
total=$((pis * backlog))

build_release cliser-server cliser-load
preflight "$clients" || true

have_pg() {
    command -v initdb >/dev/null && command -v pg_ctl >/dev/null && return 0
    compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null
}
pg_bin() {
    if command -v initdb >/dev/null; then dirname "$(readlink -f "$(command -v initdb)")"; else
        dirname "$(compgen -G '/usr/lib/postgresql/*/bin/initdb' | sort -V | tail -n 1)"
    fi
}
# PostgreSQL refuses to run as root: its programs run as postgres (Debian's package makes it).
as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# A private cluster in $out/pg (fsync on, the defaults otherwise); sets pg_url and pg_data.
pg_dir=
pg_url=
start_pg() {
    have_pg || { say "installing postgresql (Debian)"; apt_install postgresql; }
    local bin port pw
    bin=$(pg_bin)
    pg_dir=$out/pg-cluster
    mkdir -p "$pg_dir/sock"
    pw=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
    echo "$pw" > "$pg_dir/pwfile"
    [ "$(id -u)" = 0 ] && chown -R postgres: "$pg_dir" && chmod 755 "$out"
    as_pg "$bin/initdb" -D "$pg_dir/data" -U cliser --pwfile="$pg_dir/pwfile" -A scram-sha-256 \
        --auth-local=trust -E UTF8 --locale=C > "$pg_dir/initdb.log" 2>&1 || die "initdb failed: $(tail -3 "$pg_dir/initdb.log")"
    rm -f "$pg_dir/pwfile"
    port=$(free_port)
    printf "\nlisten_addresses = '127.0.0.1'\nport = %s\nunix_socket_directories = '%s'\nmax_connections = 100\n" \
        "$port" "$pg_dir/sock" | as_pg tee -a "$pg_dir/data/postgresql.conf" > /dev/null
    as_pg "$bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/pg.log" -w -t 60 start > /dev/null ||
        die "PostgreSQL did not start: $(tail -3 "$pg_dir/pg.log")"
    as_pg "$bin/createdb" -h "$pg_dir/sock" -p "$port" -U cliser cliser || die "createdb failed"
    pg_url=postgres://cliser:$pw@127.0.0.1:$port/cliser
    pg_psql=("$bin/psql" -h "$pg_dir/sock" -p "$port" -U cliser -d cliser -qAtX -F ' ')
}
stop_pg() {
    [ -n "$pg_dir" ] || return 0
    as_pg "$(pg_bin)/pg_ctl" -D "$pg_dir/data" -m fast -w stop > /dev/null 2>&1 || true
    # Gigabytes of readings: kept only with --keep-logs.
    [ -n "$keep_logs" ] || rm -rf "$pg_dir/data"
    pg_dir=
}
# The server and the samplers of a run that stops half-way go with it.
bg_pids=()
cleanup() {
    [ ${#bg_pids[@]} -eq 0 ] || kill "${bg_pids[@]}" 2>/dev/null || true
    stop_pg
}
trap cleanup EXIT

# CPU seconds (utime + stime) of the postmaster and its children (the backends).
pg_cpu_s() {
    [ -n "$pg_dir" ] || { echo 0; return; }
    local pm pids
    pm=$(head -n 1 "$pg_dir/data/postmaster.pid")
    pids="$pm $(ps -o pid= --ppid "$pm" | tr '\n' ' ')"
    for p in $pids; do cat "/proc/$p/stat" 2>/dev/null; done |
        awk -v hz="$(getconf CLK_TCK)" '{s += $14 + $15} END {printf "%.2f", s / hz}'
}

# The store's own count of what it holds, one line per client: `cid rows min_seq max_seq`, then
# `dups N` (duplicate (node, seq) pairs).
store_sql() {
    local per="SELECT n.cid, count(*), min(r.seq), max(r.seq) FROM readings r JOIN nodes n ON n.id = r.node GROUP BY n.cid;"
    local dups="SELECT 'dups', count(*) FROM (SELECT node, seq FROM readings WHERE seq IS NOT NULL GROUP BY node, seq HAVING count(*) > 1) AS d;"
    if [ "$1" = sqlite ]; then
        sqlite3 -readonly -separator ' ' "$2" "$per $dups"
    else
        "${pg_psql[@]}" -c "$per" -c "$dups"
    fi
}

# The sink thread's schedstat (ns on a CPU, ns waiting for one) of the server $spid, and the time
# now (ns): between two of them the rest of the wall time it slept or was blocked (fsync, I/O,
# gathering a group).
sink_sched() {
    local t
    t=$({ grep -lx sink /proc/"$spid"/task/*/comm 2>/dev/null || true; } | sed -n 1p)
    [ -n "$t" ] || { echo "0 0 0"; return; }
    echo "$(cut -d' ' -f1,2 "${t%comm}schedstat") $(date +%s%N)"
}

# The sink's commits so far and their summed time (s), from the page's /metrics.
commits() {
    curl -s --max-time 30 "http://$1/metrics" |
        awk '/^cliser_store_commit_seconds_count/ {n = $2} /^cliser_store_commit_seconds_sum/ {s = $2} END {print n + 0, s + 0}'
}

# run_one sqlite|pg: one catch-up; writes $out/<store>/result.kv.
run_one() {
    local store=$1 work=$out/$1
    mkdir -p "$work"
    local pw=$work/password
    head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$pw"
    echo >> "$pw"
    local store_args=(--data-dir "$work/data")
    [ "$store" = pg ] && store_args=(--data-dir "$work/data" --store "$pg_url")
    say "$store: $pis Pis x $backlog readings + $live live Pis, keep-alive ${keepalive}s (logs in $work)"
    RUST_LOG=info "$BENCH_BIN/cliser-server" --listen 127.0.0.1:0 --http 127.0.0.1:0 --console 127.0.0.1:0 \
        --keepalive "${keepalive}s" --max-clients $((clients + 100)) "${store_args[@]}" \
        --ready-file "$work/ready.json" --password-file "$pw" 2> "$work/server.log" &
    local spid=$!
    bg_pids+=("$spid")
    local addr http
    addr=$(wait_for_ready "$work/ready.json" "$spid" 60) || die "the server did not start: $(tail -3 "$work/server.log")"
    http=$(sed -n 's/.*"http":"\([^"]*\)".*/\1/p' "$work/ready.json")

    # The page, asked every second; the load average every 10 s.
    (
        while :; do
            curl -s -o /dev/null -w '%{http_code} %{time_total}\n' --max-time 30 "http://$http/api/nodes" >> "$work/page.times" || true
            sleep 1
        done
    ) &
    local page_pid=$!
    bg_pids+=("$page_pid")
    (
        while :; do
            echo "$(date +%s) $(cut -d' ' -f1-3 /proc/loadavg)" >> "$work/loadavg.txt"
            sleep 10
        done
    ) &
    local loadavg_pid=$!
    bg_pids+=("$loadavg_pid")

    local load_start pg0 t0
    load_start=$(cut -d' ' -f1-3 /proc/loadavg)
    bash "$BENCH_REPO/bench/thread-cpu.sh" "$spid" > "$work/cpu-before.txt" || true  # a thread that ends while read fails it
    sink_sched > "$work/sink-before.txt"
    commits "$http" > "$work/commits-before.txt"
    pg0=$(pg_cpu_s)
    t0=$(date +%s.%N)
    "$BENCH_BIN/cliser-load" --server "$addr" --clients "$clients" --ramp 1000 --duration "${max_seconds}s" \
        --backlog-clients "$pis" --backlog "$backlog" --sensors "$sensors" --sample-every 10s \
        --password-file "$pw" --id-prefix "pi-" --watch-pid "$spid" --keepalive "${keepalive}s" \
        --stall-timeout "$((3 * keepalive + 10))s" --drain-timeout "$((2 * keepalive + 15))s" \
        --timeline-csv "$work/timeline.csv" > "$work/load.kv" 2> "$work/load.log" &
    local lpid=$!
    bg_pids+=("$lpid")
    # The thread-role CPU when the backlogs are done (the steady phase's end), before the drain
    # closes the connections and their threads take their figures with them.
    local t1=
    while kill -0 "$lpid" 2>/dev/null; do
        if grep -q '] drain:' "$work/load.log" 2>/dev/null; then
            bash "$BENCH_REPO/bench/thread-cpu.sh" "$spid" > "$work/cpu-after.txt" || true
            sink_sched > "$work/sink-after.txt"
            commits "$http" > "$work/commits-after.txt"
            echo "pg_cpu_s=$(awk -v a="$(pg_cpu_s)" -v b="$pg0" 'BEGIN {printf "%.2f", a - b}')" > "$work/pg.kv"
            t1=$(date +%s.%N)
            break
        fi
        sleep 0.5
    done
    wait "$lpid" || true
    local load_end
    load_end=$(cut -d' ' -f1-3 /proc/loadavg)
    kill "$page_pid" "$loadavg_pid" 2>/dev/null || true
    wait "$page_pid" "$loadavg_pid" 2>/dev/null || true
    local alive=yes
    kill -0 "$spid" 2>/dev/null || alive=no
    kill -TERM "$spid" 2>/dev/null || true
    wait "$spid" 2>/dev/null || true

    # What the store holds.
    local db=$work/data/cliser.db
    store_sql "$store" "$db" > "$work/stored.txt" 2> "$work/stored.err" || true
    local f=$work/result.kv
    {
        cat "$work/load.kv"
        [ -f "$work/pg.kv" ] && cat "$work/pg.kv"
        echo "store=$store"
        echo "server_survived=$alive"
        echo "load_start=$load_start"
        echo "load_end=$load_end"
        echo "load_max_1m=$(awk 'BEGIN {m = 0} {if ($2 > m) m = $2} END {print m}' "$work/loadavg.txt" 2>/dev/null)"
        if [ -n "$t1" ]; then
            echo "catch_up_wall_s=$(awk -v a="$t1" -v b="$t0" 'BEGIN {printf "%.1f", a - b}')"
        fi
        # Backlog Pis are pi-0 .. pi-(pis-1): each must hold exactly its backlog, seqs without a gap.
        awk -v pis="$pis" -v n="$backlog" '
            $1 == "dups" {dups = $2; next}
            {c = $1; sub(/^pi-/, "", c); rows += $2}
            c + 0 < pis && c ~ /^[0-9]+$/ {bl += $2; if ($2 == n && $4 - $3 + 1 == n) ok++}
            END {printf "stored_rows=%d\nstored_backlog_rows=%d\nstored_backlog_clients_complete=%d\nstored_dups=%s\n", rows, bl, ok, dups}
        ' "$work/stored.txt"
        # Stored: from the first backlog Pi's registration to the log line of the last backlog
        # reading (the sink logs each reading right after its commit). Its ack reaches the Pi with
        # the next regular poll (the last line has no `more`), up to a keep-alive later.
        awk -v pis="$pis" '
            function sec(ts) { return substr(ts, 12, 2) * 3600 + substr(ts, 15, 2) * 60 + substr(ts, 18, 6) }
            / registered cid=pi-/ && first == "" {c = $0; sub(/.* cid=pi-/, "", c); sub(/ .*/, "", c); if (c + 0 < pis) first = sec($1)}
            / reading cid=pi-/ {n++; c = $5; sub(/^cid=pi-/, "", c); if (c + 0 < pis) last = sec($1)}
            END {d = last - first; if (d < 0) d += 86400; printf "logged=%d\nstored_s=%.3f\n", n, d}
        ' "$work/server.log"
        echo "server_warnings=$(grep -c ' WARN ' "$work/server.log" || true)"
        # The page: every answer's status and time.
        awk '{n++; if ($1 != 200) bad++; print $2 * 1000}' "$work/page.times" | sort -n > "$work/page.ms"
        local pn
        pn=$(wc -l < "$work/page.ms")
        echo "page_requests=$pn"
        echo "page_not_200=$(awk '$1 != 200' "$work/page.times" | wc -l)"
        if [ "$pn" -gt 0 ]; then
            echo "page_p50_ms=$(awk -v n="$pn" 'NR == int((n + 1) / 2) {printf "%.1f", $1}' "$work/page.ms")"
            echo "page_p99_ms=$(awk -v n="$pn" 'BEGIN {r = int(n * 0.99 + 0.999)} NR == r {printf "%.1f", $1}' "$work/page.ms")"
            echo "page_max_ms=$(tail -n 1 "$work/page.ms" | awk '{printf "%.1f", $1}')"
        fi
        # Readings acked (so stored) per 10 s, from the load tool's timeline.
        echo "per_10s=$(awk -F, 'BEGIN {pt = 0; pa = 0} NR == 1 || pa >= total {next}
            $1 - pt >= 9.999 {printf "%s%d", sep, ($2 - pa) / ($1 - pt); sep = " "; pt = $1; pa = $2}
            END {if (pa < total && $1 > pt) printf "%s%d", sep, ($2 - pa) / ($1 - pt)}' total="$total" "$work/timeline.csv" 2>/dev/null)"
    } > "$f"
    # Where the sink's wall time went while the backlogs drained.
    if [ -s "$work/sink-after.txt" ]; then
        read -r c0 w0 t0n < "$work/sink-before.txt"
        read -r c1 w1 t1n < "$work/sink-after.txt"
        awk -v c="$((c1 - c0))" -v w="$((w1 - w0))" -v t="$((t1n - t0n))" 'BEGIN {
            printf "sink_on_cpu_pct=%.1f\nsink_runqueue_pct=%.1f\nsink_blocked_or_asleep_pct=%.1f\n", 100 * c / t, 100 * w / t, 100 * (t - c - w) / t }' >> "$f"
    fi
    if [ -s "$work/commits-after.txt" ]; then
        read -r n0 s0 < "$work/commits-before.txt"
        read -r n1 s1 < "$work/commits-after.txt"
        awk -v n="$((n1 - n0))" -v s0="$s0" -v s1="$s1" -v r="$(kv "$f" backlog_acked)" -v t="$(kv "$f" stored_s)" 'BEGIN {
            if (n > 0) printf "commits=%d\ncommit_ms_mean=%.1f\nreadings_per_commit=%.0f\ncommit_pct_of_wall=%.1f\n", n, 1000 * (s1 - s0) / n, r / n, (t > 0 ? 100 * (s1 - s0) / t : 0) }' >> "$f"
    fi
    # Thread-role CPU during the catch-up, ms per 1,000 backlog readings.
    if [ -s "$work/cpu-after.txt" ]; then
        join <(sort -k1,1 "$work/cpu-before.txt") <(sort -k1,1 "$work/cpu-after.txt") -a 2 -e 0 -o 0,2.2,1.3,2.3 |
            awk -v n="$(kv "$f" backlog_acked)" '{d = $4 - $3; printf "cpu_role_%s=%.0f ms (%.1f ms / 1,000 readings, %d threads)\n", $1, d, d * 1000 / (n > 0 ? n : 1), $2}' >> "$f"
    fi
    if [ -z "$keep_logs" ]; then
        # Millions of `reading` lines: keep the rest.
        grep -v ' reading cid=pi-' "$work/server.log" > "$work/server-other.log" || true
        rm -f "$work/server.log"
        rm -rf "$work/data"
    fi
}

started=$(date -u +%Y-%m-%dT%H:%MZ)
files=()
if [ "$only" != pg ]; then
    run_one sqlite
    files+=("$out/sqlite/result.kv")
fi
if [ "$only" != sqlite ]; then
    start_pg
    run_one pg
    files+=("$out/pg/result.kv")
    stop_pg
fi

passed=0
failed=0
check() {
    local what=$1
    shift
    if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAILED: $what"; fi
}
eq() { [ -n "$1" ] && [ "$1" = "$2" ]; }
echo
echo "$(nproc) cores; $started; $pis Pis x $backlog readings of $sensors sensors = $total, with $live live Pis at a ${keepalive}s keep-alive."
echo
echo "| store | time to store all (to the last ack) | readings/s | live polls: late max / p99 ms, > half an interval | page /api/nodes p50 / p99 / max ms | server CPU % of a core | PostgreSQL CPU s | load average start / end / max |"
echo "|---|---:|---:|---|---|---:|---:|---|"
for f in "${files[@]}"; do
    name=SQLite
    [ "$(kv "$f" store)" = pg ] && name=PostgreSQL
    printf '| %s | %s s (%s s) | %s | %s / %s, %s of %s | %s / %s / %s (%s requests) | %s | %s | %s / %s / %s |\n' "$name" \
        "$(kv "$f" stored_s)" "$(kv "$f" backlog_s)" \
        "$(awk -v n="$total" -v s="$(kv "$f" stored_s)" 'BEGIN {if (s > 0) printf "%.0f", n / s; else print "-"}')" \
        "$(kv "$f" poll_late_max_ms)" "$(kv "$f" poll_late_p99_ms)" "$(kv "$f" polls_late_over_half_interval)" "$(kv "$f" poll_gaps)" \
        "$(kv "$f" page_p50_ms)" "$(kv "$f" page_p99_ms)" "$(kv "$f" page_max_ms)" "$(kv "$f" page_requests)" \
        "$(kv "$f" watch_cpu_pct_of_core_steady)" "$(v=$(kv "$f" pg_cpu_s); echo "${v:--}")" \
        "$(kv "$f" load_start | cut -d' ' -f1)" "$(kv "$f" load_end | cut -d' ' -f1)" "$(kv "$f" load_max_1m)"
done
echo
for f in "${files[@]}"; do
    s=$(kv "$f" store)
    echo "- $s: readings/s per 10 s: $(kv "$f" per_10s)"
    echo "  backlog Pis done (their last ack): first $(kv "$f" backlog_client_done_min_s) s, median $(kv "$f" backlog_client_done_p50_s) s, last $(kv "$f" backlog_s) s; all sent by $(kv "$f" backlog_all_sent_s) s"
    echo "  stored $(kv "$f" stored_backlog_rows) backlog rows ($(kv "$f" stored_backlog_clients_complete) of $pis Pis complete), $(kv "$f" stored_rows) rows in all, $(kv "$f" stored_dups) duplicate (node, seq); $(kv "$f" backlog_readings_per_answer) readings per answer; server warnings $(kv "$f" server_warnings)"
    echo "  the sink's commits: $(kv "$f" commits), $(kv "$f" readings_per_commit) backlog readings each, $(kv "$f" commit_ms_mean) ms each on average, in all $(kv "$f" commit_pct_of_wall) % of the time to store"
    echo "  the sink thread's wall time: on a CPU $(kv "$f" sink_on_cpu_pct) %, waiting for one $(kv "$f" sink_runqueue_pct) %, blocked or asleep (fsync, I/O, gathering) $(kv "$f" sink_blocked_or_asleep_pct) %"
    echo "  server CPU by thread role during the catch-up: $(grep '^cpu_role_' "$f" | sed 's/^cpu_role_//; s/=/ /' | sort -t'(' -k1,1 | tr '\n' ';' | sed 's/;$//; s/;/; /g')"
    check "$s: the load tool reports success" eq "$(kv "$f" result)" ok
    check "$s: every backlog reading acknowledged" eq "$(kv "$f" backlog_acked)" "$total"
    check "$s: every backlog reading in the store" eq "$(kv "$f" stored_backlog_rows)" "$total"
    check "$s: each backlog Pi's readings complete, seqs without a gap" eq "$(kv "$f" stored_backlog_clients_complete)" "$pis"
    check "$s: no duplicate (node, seq)" eq "$(kv "$f" stored_dups)" 0
    rows=$(kv "$f" stored_rows)
    check "$s: live readings stored = acknowledged" eq "$((${rows:-0} - $(v=$(kv "$f" stored_backlog_rows); echo "${v:-0}")))" "$(kv "$f" readings_acked)"
    check "$s: no live poll more than half an interval late" eq "$(kv "$f" polls_late_over_half_interval)" 0
    check "$s: the page answered every request with 200" eq "$(kv "$f" page_not_200)" 0
    check "$s: the server ran to the end" eq "$(kv "$f" server_survived)" yes
done
echo
echo "raw figures and logs: $out"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
