#!/usr/bin/env bash
# Prints one process's CPU time by thread role, summed over its live threads from
# /proc/<pid>/task/*/schedstat (nanoseconds on CPU): `role threads cpu_ms context_switches`. A role
# is the thread name without its `-<n>` suffix (tcp_reader-17 -> tcp_reader).
# Usage: bench/thread-cpu.sh PID
set -euo pipefail
pid=${1:?usage: thread-cpu.sh PID}
cd "/proc/$pid/task"
# Threads may end while we read: their files vanish, and awk's complaints are dropped.
{ awk '{print "comm", FILENAME, $1}' ./*/comm
  awk '{print "ns", FILENAME, $1}' ./*/schedstat
  awk '/ctxt_switches/ {print "sw", FILENAME, $2}' ./*/status
} 2>/dev/null | awk '
    {split($2, p, "/"); t = p[2]}
    $1 == "comm" {role[t] = $3; sub(/-[0-9]+$/, "", role[t])}
    $1 == "ns" {ns[t] = $3}
    $1 == "sw" {sw[t] += $3}
    END {
        for (t in role) {n[role[t]]++; cpu[role[t]] += ns[t]; cs[role[t]] += sw[t]}
        for (r in n) printf "%s %d %.1f %d\n", r, n[r], cpu[r] / 1e6, cs[r]
    }' | sort
