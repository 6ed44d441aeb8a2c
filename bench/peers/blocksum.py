#!/usr/bin/env python3
"""blocksum.py FILE LIST: md5 of every 1 MiB block of FILE, one hex line each, into LIST; prints the
md5 of the whole file (as md5sum does). blocksum.py --diff A B: how many blocks differ, and the
first few offsets (MiB)."""
import hashlib
import sys

if sys.argv[1] == "--diff":
    a = open(sys.argv[2]).read().split()
    b = open(sys.argv[3]).read().split()
    bad = [i for i in range(max(len(a), len(b))) if i >= len(a) or i >= len(b) or a[i] != b[i]]
    print(f"{len(bad)} of {len(a)} MiB blocks differ, first at MiB {', '.join(map(str, bad[:5]))}")
    sys.exit(0)
path, out = sys.argv[1], sys.argv[2]
lines = []
whole = hashlib.md5()
with open(path, "rb", buffering=0) as f:
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    while True:
        n = f.readinto(view)
        if not n:
            break
        while n < len(buf):
            m = f.readinto(view[n:])
            if not m:
                break
            n += m
        lines.append(hashlib.md5(view[:n]).hexdigest())
        whole.update(view[:n])
text = "\n".join(lines) + "\n"
with open(out, "w") as f:
    f.write(text)
print(whole.hexdigest())
