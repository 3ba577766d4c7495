# shellcheck shell=bash
# Sourced by the deploy tests (deploy-test.sh, deb-test.sh, qemu-test.sh, w1-rule-test.sh): their
# "ok N - ..." lines, the summary, polling with a deadline, stopping a process they started. Set before sourcing or after:
#   tmp                   the test's temp dir (may be empty until it is made)
#   fail_logs=(NAME...)   files in $tmp whose last 30 lines `fail` prints
#   on_fail               a function the test may define: `fail` calls it first

passed=0
tmp=""
fail_logs=()

ok() { passed=$((passed + 1)); echo "ok $passed - $*"; }
fail() {
    echo "FAIL - $*"
    if declare -F on_fail >/dev/null; then on_fail; fi
    local f
    for f in "${fail_logs[@]}"; do
        if [ -n "$tmp" ] && [ -s "$tmp/$f" ]; then
            echo "---- $f (tail):"
            tail -n 30 "$tmp/$f"
        fi
    done
    echo "$passed passed, 1 failed"
    exit 1
}
check() { # check DESCRIPTION COMMAND...
    local what=$1
    shift
    if "$@"; then ok "$what"; else fail "$what"; fi
}
wait_for() { # wait_for SECONDS COMMAND...: poll COMMAND until it succeeds or the deadline passes
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.2
    done
}
elapsed() { echo "$((SECONDS - $1)) s"; }
stop_proc() { # stop_proc PID: TERM, then KILL if it lingers; reap it
    local pid=$1
    [ -n "$pid" ] || return 0
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
# The summary of an unexpected error (set -e), once the test has set `trap ... EXIT` for its cleanup.
trap 'echo "FAIL - unexpected error (exit $?) at line $LINENO"; echo "$passed passed, 1 failed"' ERR
