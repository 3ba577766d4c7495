#!/usr/bin/env bash
# The README's first command on a fresh clone (issue 23, item 1): seconds from
# `cargo run --release --bin cliser-demo` to the first reading in the demo's log with an empty target
# dir; then a `cargo build --release`, and the demo again, counting what cargo compiles the second
# time (0 when the demo and `cargo build --release` share one build).
#
#   bash bench/first-run.sh            # clones HEAD of this repo into a temp dir; ~10 min on 2 cores
#
# The clone and its target dir are removed at the end. Other builds on the machine slow it: run it
# on a quiet machine.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

work=$(mktemp -d /tmp/cliser-first-run.XXXXXX)
trap 'rm -rf "$work"' EXIT
git clone -q "$BENCH_REPO" "$work/repo"
export CARGO_TARGET_DIR="$work/target"

elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# Runs the demo until its first reading; prints "seconds compiled-units".
demo_until_first_reading() {
    local log=$1 start end pid
    start=$(date +%s.%N)
    (cd "$work/repo" && exec cargo run --release --bin cliser-demo) >"$log" 2>&1 &
    pid=$!
    until grep -q 'reading cid=' "$log"; do
        kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; die "the demo ended before a reading"; }
        sleep 0.2
    done
    end=$(date +%s.%N)
    kill -INT "$pid"
    wait "$pid" || true
    printf '%s %s\n' "$(elapsed "$start" "$end")" "$(grep -c '^ *Compiling ' "$log" || true)"
}

say "1/3 fresh clone, empty target dir: cargo run --release --bin cliser-demo"
read -r first first_units < <(demo_until_first_reading "$work/first.log")
say "2/3 cargo build --release"
start=$(date +%s.%N)
(cd "$work/repo" && cargo build --release) >"$work/build.log" 2>&1
build_s=$(elapsed "$start" "$(date +%s.%N)")
build_units=$(grep -c '^ *Compiling ' "$work/build.log" || true)
say "3/3 cargo run --release --bin cliser-demo again"
read -r again again_units < <(demo_until_first_reading "$work/again.log")

printf '\n| step | seconds | crates compiled |\n|---|---:|---:|\n'
printf '| fresh clone: `cargo run --release --bin cliser-demo` to the first reading | %s | %s |\n' "$first" "$first_units"
printf '| then `cargo build --release` (adds the load tool and the test kit) | %s | %s |\n' "$build_s" "$build_units"
printf '| then `cargo run --release --bin cliser-demo` to the first reading | %s | %s |\n' "$again" "$again_units"
if [ "$again_units" != 0 ]; then
    say "the second run compiled again:"; grep '^ *Compiling ' "$work/again.log" >&2
    exit 1
fi
