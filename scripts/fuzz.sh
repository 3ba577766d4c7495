#!/usr/bin/env bash
# Runs each cargo-fuzz target for N seconds (default 60): the protocol parser in both directions and
# the server's line reader. Installs cargo-fuzz (and the nightly toolchain) if missing. A crash fails
# the run; libFuzzer leaves the input in fuzz/artifacts/<target>/ — turn it into a regression test
# in protocol/tests/ before fixing.
#   bash scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}

if ! rustup toolchain list | grep -q '^nightly'; then
    rustup toolchain install nightly --profile minimal
fi
if ! command -v cargo-fuzz >/dev/null 2>&1; then
    cargo install cargo-fuzz --version 0.13.2 --locked
fi

targets=(server_msg client_line line_reader)
passed=0
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t"
    echo "fuzzing $t for ${seconds}s"
    if cargo +nightly fuzz run "$t" -- -max_total_time="$seconds" -max_len=8192 2>&1 | tail -n 3; then
        passed=$((passed + 1))
    else
        echo "fuzz target $t FAILED (see fuzz/artifacts/$t/)"
        echo "$passed passed, 1 failed"
        exit 1
    fi
done
echo "fuzz: $passed passed, 0 failed"
