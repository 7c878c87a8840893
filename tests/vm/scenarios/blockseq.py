#!/usr/bin/env python3
# Numbered-block writer and checker for the kill -9 scenario: records each write only once the device acknowledged it.
"""
write DEV LOG STOPFILE: writes block 0, 1, 2, ... (4 KiB each, O_DIRECT|O_DSYNC, so every write
  reaches the target as its own command with FUA or a cache flush) until STOPFILE exists or the
  disk is full; after each write returns, appends its number to LOG and flushes LOG. A write that
  fails is logged as "failed N" and retried a few times, so the run outlives a target restart.
check DEV LOG: every block that LOG lists as acknowledged must read back exactly as written.
"""
import mmap
import os
import sys
import time

BLOCK = 4096


def pattern(run_id, n):
    head = f"targe-kill9 run={run_id} block={n:08d}\n".encode()
    return (head * (BLOCK // len(head) + 1))[:BLOCK]


def write(dev, log_path, stop_path):
    run_id = f"{os.getpid()}-{int(time.time())}"
    fd = os.open(dev, os.O_WRONLY | os.O_DIRECT | os.O_DSYNC)
    size = os.lseek(fd, 0, os.SEEK_END)
    buf = mmap.mmap(-1, BLOCK)  # page-aligned, as O_DIRECT requires
    with open(log_path, "w") as log:
        log.write(f"run {run_id}\n")
        log.flush()
        n = 0
        failures = 0
        while not os.path.exists(stop_path) and (n + 1) * BLOCK <= size:
            buf.seek(0)
            buf.write(pattern(run_id, n))
            try:
                os.pwritev(fd, [buf], n * BLOCK)
            except OSError as e:
                log.write(f"failed {n} {e.strerror}\n")
                log.flush()
                failures += 1
                if failures > 5:
                    return 1
                time.sleep(1)
                continue
            log.write(f"{n}\n")
            log.flush()
            n += 1
    return 0


def check(dev, log_path):
    with open(log_path) as f:
        lines = f.read().split("\n")
    run_id = lines[0].split()[1]
    acked = [int(x) for x in lines[1:] if x.strip().isdigit()]
    if not acked:
        print("no acknowledged block to check")
        return 1
    # one sequential read of the whole written range: per-block reads cost a round trip each
    with open(dev, "rb", buffering=0) as d:
        data = bytearray()
        want = (max(acked) + 1) * BLOCK
        while len(data) < want:
            chunk = d.read(min(1 << 20, want - len(data)))
            if not chunk:
                break
            data += chunk
    bad = [n for n in acked if data[n * BLOCK:(n + 1) * BLOCK] != pattern(run_id, n)]
    print(f"{len(acked)} acknowledged blocks (0..{max(acked)}), {len(bad)} missing or wrong")
    if bad:
        print("first bad blocks: " + " ".join(map(str, bad[:20])))
        return 1
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "write":
        sys.exit(write(sys.argv[2], sys.argv[3], sys.argv[4]))
    if len(sys.argv) == 4 and sys.argv[1] == "check":
        sys.exit(check(sys.argv[2], sys.argv[3]))
    sys.exit(__doc__)
