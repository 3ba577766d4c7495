#!/usr/bin/env bash
# Issue 27's figure: the time one sample of 8 DS18B20s on one bus takes at 9, 10, 11 and 12 bits.
# Runs hal/examples/sensor_sample (release), which needs no hardware:
# - GPIO, simulated: the bit-banged backend on the hal tests' virtual bus (datasheet slot timings and
#   conversion times), on the virtual clock: exact, the same on every machine;
# - w1: the kernel backend on the hal tests' fake sysfs tree with the kernel's conv_time
#   (95/190/375/750 ms) and w1_therm's waits added by the example (a bulk conversion waits the
#   longest conv_time once; a read without one converts that sensor alone), wall clock, median of
#   SAMPLES samples; with therm_bulk_read (as root) and without (one sensor after the other).
# Prints a markdown table, then the machine.
#
# Usage: bench/sensor-sample.sh [--samples N]   (~1 min with the default 3)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

samples=3
while [ $# -gt 0 ]; do
    case "$1" in
        --samples) samples=$2; shift 2 ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done

say "building release: cliser-hal's sensor_sample example"
(cd "$BENCH_REPO" && cargo build --release --quiet -p cliser-hal --example sensor_sample) || die "cargo build failed"
say "running (~$((samples * 15 + 5)) s)"
"$BENCH_TARGET/release/examples/sensor_sample" --samples "$samples" || die "sensor_sample failed"
echo
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo), kernel $(uname -r), $(date -u +%Y-%m-%d); w1 columns: median of $samples samples"
