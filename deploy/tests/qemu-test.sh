#!/usr/bin/env bash
# The real aarch64 cliser-pi-client, built the way deploy.sh builds it without cross (plain cargo and
# Debian's aarch64-linux-gnu-gcc), checked with `file`, and run under qemu-aarch64 against the real
# x86_64 cliser-server on loopback, reading a fake w1 sysfs tree: its temperatures must show up in
# the server's log and, each reading once, in its store. Installs what it lacks
# (gcc-aarch64-linux-gnu, qemu-user, file, the rust target).
#
#   bash deploy/tests/qemu-test.sh     (a few minutes on a cold target dir; prints "N passed, 0 failed")
#
# Honours CARGO_TARGET_DIR (default: the workspace's target/).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=deploy/tests/harness.sh
. "$here/harness.sh"
ws=$(cd "$here/../.." && pwd)
triple=aarch64-unknown-linux-gnu
sysroot=/usr/aarch64-linux-gnu
sensor_id=28-0316a2795aff

fail_logs=(server.log client.log probe.out)
server_pid=""
client_pid=""

cleanup() {
    stop_proc "$client_pid"
    stop_proc "$server_pid"
    if [ -n "$tmp" ]; then rm -rf "$tmp"; fi
}
trap cleanup EXIT

# Predicates for check.
is_arm64_elf() { [[ $1 == "ELF 64-bit LSB"* && $1 == *"ARM aarch64"* && $1 != *relocatable* ]]; }
has_pi_interpreter() { [[ $1 == *"interpreter /lib/ld-linux-aarch64.so.1"* ]]; }
version_le() { [ "$(printf '%s\n' "$1" "$2" | sort -V | tail -n 1)" = "$2" ]; }
mentions_all() { # mentions_all TEXT WORD...
    local text=$1 w
    shift
    for w in "$@"; do [[ $text == *"$w"* ]] || return 1; done
}
is_loopback_addr() { [[ $1 =~ ^127\.0\.0\.1:[0-9]+$ ]]; }
absent_from() { ! grep -qF -e "$1" "${@:2}"; } # absent_from STRING FILE...

# ---- what it needs ------------------------------------------------------------------------------
missing=()
command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || missing+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
command -v qemu-aarch64 >/dev/null 2>&1 || missing+=(qemu-user)
command -v file >/dev/null 2>&1 || missing+=(file)
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    [ "$(id -u)" -eq 0 ] || fail "need root to apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if command -v rustup >/dev/null 2>&1 && ! rustup target list --installed | grep -qx "$triple"; then
    rustup target add "$triple"
fi

tmp=$(mktemp -d /tmp/cliser-qemu-test.XXXXXX)
tdir=${CARGO_TARGET_DIR:-$ws/target}

# ---- build ----------------------------------------------------------------------------------------
t0=$SECONDS
client=$(CLISER_BUILDER=cargo "$ws/deploy/deploy.sh" --build-only) || fail "deploy.sh --build-only (plain cargo) failed"
check "built cliser-pi-client for $triple with deploy.sh --build-only, plain cargo path ($(elapsed "$t0"))" test -x "$client"

t0=$SECONDS
(cd "$ws" && cargo build -p cliser-server) || fail "cargo build -p cliser-server failed"
server=$tdir/debug/cliser-server
check "built cliser-server for the host ($(elapsed "$t0"))" test -x "$server"

# ---- what was built -------------------------------------------------------------------------------
kind=$(file -b "$client")
echo "   file: $kind"
check "file: an ELF 64-bit LSB executable for ARM aarch64" is_arm64_elf "$kind"
check "file: its interpreter is /lib/ld-linux-aarch64.so.1 (as on Raspberry Pi OS)" has_pi_interpreter "$kind"
# Raspberry Pi OS bookworm, the oldest a Pi 5 runs, has glibc 2.36.
glibc_max=$(aarch64-linux-gnu-objdump -T "$client" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -n 1)
check "needs glibc $glibc_max, no newer than bookworm's 2.36" version_le "$glibc_max" 2.36

qemu=(qemu-aarch64 -L "$sysroot")
help=$("${qemu[@]}" "$client" --help 2>&1) || fail "qemu-aarch64 cliser-pi-client --help failed: $help"
check "runs under qemu-aarch64: --help lists --server, --sensor and probe" mentions_all "$help" --server --sensor probe

# ---- a fake w1 sysfs tree, as the kernel's w1-gpio overlay makes it -------------------------------
w1=$tmp/w1
mkdir -p "$w1/$sensor_id" "$w1/w1_bus_master1"
printf '72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\n' >"$w1/$sensor_id/w1_slave"
printf '23125\n' >"$w1/$sensor_id/temperature"

rc=0
"${qemu[@]}" "$client" probe --sensor "w1:$w1" >"$tmp/probe.out" 2>&1 || rc=$?
check "probe under qemu exits 0 (exit $rc)" test "$rc" -eq 0
check "probe under qemu finds $sensor_id at 23.125" mentions_all "$(cat "$tmp/probe.out")" "$sensor_id" 23.125

# ---- the x86_64 server on a loopback port the kernel picks ---------------------------------------
password=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
(umask 077 && printf '%s\n' "$password" >"$tmp/password")
RUST_LOG=info "$server" --listen 127.0.0.1:0 --console 127.0.0.1:0 --http off --keepalive 1s \
    --password-file "$tmp/password" --data-dir "$tmp/data" --ready-file "$tmp/ready.json" 2>"$tmp/server.log" &
server_pid=$!
server_up() { [ -s "$tmp/ready.json" ] || ! kill -0 "$server_pid" 2>/dev/null; }
wait_for 20 server_up || fail "the server wrote no ready file within 20 s"
kill -0 "$server_pid" 2>/dev/null || fail "the server exited"
addr=$(sed -n 's/.*"listen":"\([^"]*\)".*/\1/p' "$tmp/ready.json")
check "server listening on $addr (port 0, read back from its --ready-file)" is_loopback_addr "$addr"

# ---- the aarch64 client under qemu -----------------------------------------------------------------
t0=$SECONDS
CLISER_PASSWORD=$password RUST_LOG=info "${qemu[@]}" "$client" --server "$addr" --id qemu-pi \
    --sensor "w1:$w1" --interval 1s --state-dir "$tmp/state" 2>"$tmp/client.log" &
client_pid=$!
want="reading cid=qemu-pi sensor=$sensor_id temp_c=23.125 "
reading_logged() { grep -qF "$want" "$tmp/server.log" || ! kill -0 "$client_pid" 2>/dev/null; }
wait_for 60 reading_logged || fail "no '$want' in the server log within 60 s"
kill -0 "$client_pid" 2>/dev/null || fail "the client under qemu exited"
check "server log: $(grep -F "$want" "$tmp/server.log" | head -n 1 | sed 's/^.*reading cid/reading cid/') ($(elapsed "$t0"))" true
check "the client registered as qemu-pi" grep -q 'registered cid=qemu-pi' "$tmp/server.log"
check "the password is in neither log" absent_from "$password" "$tmp/server.log" "$tmp/client.log"

# systemctl stop sends SIGTERM: the client must end promptly.
kill -TERM "$client_pid"
stopped() { ! kill -0 "$client_pid" 2>/dev/null; }
wait_for 15 stopped || fail "the client did not stop within 15 s of SIGTERM"
rc=0
wait "$client_pid" || rc=$?
client_pid=""
check "the client stops on SIGTERM (exit $rc)" test "$rc" -eq 0

# ---- the store: every reading the server logged, each once ----------------------------------------
# The server stopped first, so nothing is committed between the export and the count of log lines.
kill -TERM "$server_pid"
rc=0
wait "$server_pid" || rc=$?
server_pid=""
check "the server stops on SIGTERM (exit $rc)" test "$rc" -eq 0
"$server" export --format csv --data-dir "$tmp/data" >"$tmp/stored.csv" 2>"$tmp/export.log" ||
    fail "cliser-server export failed: $(cat "$tmp/export.log")"
stored=$(grep -c ",qemu-pi,$sensor_id,23.125,," "$tmp/stored.csv" || true)
logged=$(grep -cF "reading cid=qemu-pi sensor=$sensor_id " "$tmp/server.log" || true)
stored_as_logged() { [ "$stored" -ge 1 ] && [ "$stored" -eq "$logged" ]; }
check "the store holds what the log shows: $stored readings of qemu-pi at 23.125, $logged logged" stored_as_logged
dups=$(tail -n +2 "$tmp/stored.csv" | cut -d, -f2,6 | sort | uniq -d | wc -l)
check "no (cid, seq) stored twice ($dups)" test "$dups" -eq 0

echo "$passed passed, 0 failed"
