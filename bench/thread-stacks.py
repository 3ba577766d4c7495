#!/usr/bin/env python3
"""How deep the stacks of a server's threads of one role have ever gone, and how many pages each keeps.

Usage: bench/thread-stacks.py PID [ROLE ...]   (roles: session tcp_reader tcp_writer by default)

A thread's stack is fresh zeroed memory, so the lowest non-zero byte of its mapping is the deepest the
thread ever wrote. Each thread's stack is found from its stack pointer (/proc/PID/task/TID/syscall),
read from /proc/PID/mem (needs the same user as the server, or root) and its Rss taken from
/proc/PID/smaps. A connection thread's stack keeps 2 pages (8 KiB) only while everything it ever did
stayed above 8,192 bytes below the top (docs/PERFORMANCE.md, "the session's stack back to 2 pages").
"""
import collections
import os
import re
import sys

SPAN = 32 * 1024  # bytes read below the top of each stack


def mappings(pid):
    """(start, end, rss KiB) of every mapping of the process."""
    out, cur = [], None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            m = re.match(r"([0-9a-f]+)-([0-9a-f]+) ", line)
            if m:
                cur = [int(m.group(1), 16), int(m.group(2), 16), 0]
                out.append(cur)
            elif line.startswith("Rss:") and cur:
                cur[2] = int(line.split()[1])
    return out


def report(pid, role, maps, mem):
    deepest, waiting, rss = [], [], collections.Counter()
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                if not f.read().startswith(role):
                    continue
            with open(f"/proc/{pid}/task/{tid}/syscall") as f:
                sp = int(f.read().split()[-2], 16)
        except (OSError, ValueError, IndexError):
            continue  # the thread ended, or is running (no stack pointer to read)
        found = next((m for m in maps if m[0] <= sp < m[1]), None)
        if not found:
            continue
        lo, hi, kib = found
        start = max(lo, hi - SPAN)
        mem.seek(start)
        data = mem.read(hi - start)
        first = next((i for i, b in enumerate(data) if b), len(data))
        deepest.append(hi - start - first)
        waiting.append(hi - sp)
        rss[kib] += 1
    if not deepest:
        print(f"{role}: no threads")
        return
    deepest.sort()
    n = len(deepest)
    pages = ", ".join(f"{kib} KiB in {count}" for kib, count in sorted(rss.items()))
    print(f"{role}: {n} threads; deepest write below the top: min {deepest[0]} median {deepest[n // 2]} "
          f"max {deepest[-1]} B; waiting {min(waiting)}-{max(waiting)} B below the top; resident: {pages}")


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    pid = sys.argv[1]
    roles = sys.argv[2:] or ["session", "tcp_reader", "tcp_writer"]
    maps = mappings(pid)
    with open(f"/proc/{pid}/mem", "rb") as mem:
        for role in roles:
            report(pid, role, maps, mem)


if __name__ == "__main__":
    main()
