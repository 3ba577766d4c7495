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

# Corpora are not committed (fuzz/corpus is ignored): each run seeds client_line with one answer of
# every reading form, so the fuzzer starts from each stamp (`@ms`, `@ms?`, `~age`, none) rather than
# having to find them. fuzz/dict/<target>.dict, when there is one, gives it the tokens as well.
mkdir -p fuzz/corpus/client_line
printf '%s' '100 28-0316a2795aff=23.125@1763800000123#42 28-0316a2795aff=err:crc@1763800010123#43 more' \
    >fuzz/corpus/client_line/seed-at
printf '%s' '100 t=21.5@1763800000123?#7 t=err:crc@1763800000123?#8' >fuzz/corpus/client_line/seed-unsynced
printf '%s' '100 t=21.5~1500#9 t=-0.062~0#10 t=err:missing~60000#11' >fuzz/corpus/client_line/seed-age
printf '%s' '100 t=21.5 t=22#12 t=1@5?#13 t=2~5#14 more' >fuzz/corpus/client_line/seed-mixed

targets=(server_msg client_line line_reader)
passed=0
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t"
    dict=()
    if [[ -f "fuzz/dict/$t.dict" ]]; then
        dict=(-dict="$PWD/fuzz/dict/$t.dict")
    fi
    echo "fuzzing $t for ${seconds}s"
    if cargo +nightly fuzz run "$t" -- -max_total_time="$seconds" -max_len=8192 "${dict[@]}" 2>&1 | tail -n 3; then
        passed=$((passed + 1))
    else
        echo "fuzz target $t FAILED (see fuzz/artifacts/$t/)"
        echo "$passed passed, 1 failed"
        exit 1
    fi
done
echo "fuzz: $passed passed, 0 failed"
