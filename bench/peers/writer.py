#!/usr/bin/env python3
"""Take-pause probe: 4 KiB O_DIRECT writes to FILE in a tight loop for SECONDS, at random offsets in its
first 4 MiB. Prints one line per write: start_ns end_ns (CLOCK_REALTIME, as bash's
$EPOCHREALTIME), then a last line: count N.
Creates OUT.ready once the file is open and the loop starts."""
import mmap
import os
import random
import sys
import time

path, seconds, out = sys.argv[1], float(sys.argv[2]), sys.argv[3]
fd = os.open(path, os.O_WRONLY | os.O_DIRECT)
buf = mmap.mmap(-1, 4096)
buf.write(os.urandom(4096))
open(out + ".ready", "w").close()
rng = random.Random(1)
slow = []
count = 0
end = time.time_ns() + int(seconds * 1e9)
now = time.time_ns
while True:
    t0 = now()
    if t0 >= end:
        break
    os.pwritev(fd, [buf], rng.randrange(1024) * 4096)
    t1 = now()
    count += 1
    slow.append((t0, t1))
os.close(fd)
with open(out, "w") as f:
    for t0, t1 in slow:
        f.write(f"{t0} {t1}\n")
    f.write(f"count {count}\n")
