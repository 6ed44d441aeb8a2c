#!/usr/bin/env python3
"""Turns the bench's results.tsv (size, peer, metric, run, value, unit) into bench/RESULTS.md and a
PNG chart of the ratios (drawn by gnuplot)."""
import argparse
import os
import platform
import statistics
import subprocess
import tempfile
from collections import defaultdict

PEER_NAMES = {
    "raw": "raw file",
    "blksnapfs": "BlkSnapFs",
    "qemu": "qemu-storage-daemon",
    "nbdkit": "nbdkit+nbdfuse",
}
THROUGHPUT = [
    ("read_buffered_untouched", "image read, buffered, untouched"),
    ("read_direct_untouched", "image read, O_DIRECT, untouched"),
    ("read_buffered_half", "image read, buffered, half copied"),
    ("read_direct_half", "image read, O_DIRECT, half copied"),
    ("write_seq_first", "live write seq 1 MiB, first touch"),
    ("write_seq_rewrite", "live write seq 1 MiB, rewrite"),
    ("write_rand_first", "live write rand 4 KiB qd16, first touch"),
    ("write_rand_rewrite", "live write rand 4 KiB qd16, rewrite"),
    ("write_half_first", "live write every other MiB, first touch"),
]
SHORT = {
    "read_buffered_untouched": "read buf",
    "read_direct_untouched": "read direct",
    "read_buffered_half": "read buf ½",
    "read_direct_half": "read direct ½",
    "write_seq_first": "seq COW",
    "write_seq_rewrite": "seq rewrite",
    "write_rand_first": "rand COW",
    "write_rand_rewrite": "rand rewrite",
    "write_half_first": "half COW",
}
# (metric, peer, minimum ratio BlkSnapFs/peer)
RATIO_TARGETS = [
    ("read_buffered_untouched", "qemu", 4.0),
    ("read_buffered_half", "qemu", 4.0),
    ("read_buffered_untouched", "nbdkit", 1.2),
    ("read_buffered_half", "nbdkit", 1.2),
    ("read_direct_untouched", "raw", 0.5),
    ("read_direct_half", "raw", 0.5),
    ("write_seq_first", "qemu", 3.0),
    ("write_rand_first", "qemu", 3.0),
    ("write_seq_rewrite", "nbdkit", 1.2),
    ("write_rand_rewrite", "nbdkit", 1.2),
]


def load(path):
    data = defaultdict(dict)  # (size, peer, metric) -> {run: value}
    units = {}
    details = []
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 6:
                continue
            size, peer, metric, run, value, unit = parts
            if metric.startswith("detail_"):
                details.append((size, peer, metric[len("detail_"):], run, unit))
                continue
            try:
                data[(size, peer, metric)][run] = float(value)
            except ValueError:
                continue
            units[metric] = unit
    return data, details


def med(values):
    return statistics.median(values) if values else None


def fmt(v, digits=1):
    if v is None:
        return "–"
    if abs(v) >= 100:
        return f"{v:.0f}"
    return f"{v:.{digits}f}"


def span(values, digits=1):
    if not values:
        return "–"
    return f"{fmt(min(values), digits)}–{fmt(max(values), digits)}"


def ratio_stats(data, size, metric, peer):
    a = data.get((size, "blksnapfs", metric), {})
    b = data.get((size, peer, metric), {})
    if not a or not b:
        return None, []
    r = med(list(a.values())) / med(list(b.values())) if med(list(b.values())) else None
    pairs = [a[k] / b[k] for k in a if k in b and b[k] > 0]
    return r, pairs


def ratio_stats_peer(data, size, metric, a_peer, b_peer):
    a = list(data.get((size, a_peer, metric), {}).values())
    b = list(data.get((size, b_peer, metric), {}).values())
    if not a or not b or not med(b):
        return None, []
    return med(a) / med(b), []


def machine():
    info = {}
    info["nproc"] = str(os.cpu_count())
    with open("/proc/meminfo") as f:
        info["memory"] = f"{int(f.readline().split()[1]) / 1024 / 1024:.1f} GiB"
    info["kernel"] = platform.release()
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    info["cpu"] = cpu
    return info


def disk(data_dir):
    try:
        src = subprocess.run(["findmnt", "-no", "SOURCE,FSTYPE", "-T", data_dir], capture_output=True, text=True).stdout.split()
        dev = os.path.basename(src[0])
        blk = subprocess.run(["lsblk", "-dno", "SIZE,ROTA,MODEL", "/dev/" + dev], capture_output=True, text=True).stdout.strip()
        return f"{data_dir} on /dev/{dev} ({src[1]}; lsblk size/rotational/model: {blk or '?'}; virtual disk)"
    except Exception:
        return data_dir


def tool_versions():
    out = []
    for cmd in (["qemu-storage-daemon", "--version"], ["nbdkit", "--version"], ["nbdfuse", "--version"], ["fio", "--version"]):
        try:
            line = subprocess.run(cmd, capture_output=True, text=True).stdout.strip().splitlines()[0]
            out.append(line)
        except Exception:
            pass
    return "; ".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tsv", required=True)
    ap.add_argument("--results", required=True)
    ap.add_argument("--chart", required=True)
    ap.add_argument("--command", default="")
    ap.add_argument("--started", default="")
    ap.add_argument("--elapsed", default="")
    ap.add_argument("--runs", default="")
    ap.add_argument("--data-dir", default="/var/tmp")
    ap.add_argument("--engine-output", default="")
    ap.add_argument("--build", default="")
    ap.add_argument("--settings", default="")
    a = ap.parse_args()
    data, details = load(a.tsv)
    sizes = sorted({k[0] for k in data if k[0].isdigit()}, key=int)
    peers = [p for p in PEER_NAMES if any(k[1] == p and k[0] in sizes for k in data)]
    m = machine()
    L = []
    L.append("# BlkSnapFs against its peers")
    L.append("")
    L.append(f"Generated by `{a.command.strip()}` (`make bench`) on {a.started}, {a.elapsed} s.")
    L.append("Every figure comes from the same run on the same data; throughput is the median of "
             f"the runs (count in each table's title), with the machine's noise as min–max. Ratios are BlkSnapFs ÷ peer "
             "(ratio of the medians; the range is the per-run ratios, runs interleave the peers).")
    L.append("")
    L.append(f"Machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory']} memory, kernel {m['kernel']}, "
             f"data under {disk(a.data_dir)}.")
    L.append(f"Peers: {tool_versions()}.")
    if a.build:
        configuration = (f"settings changed from the defaults: {a.settings}" if a.settings
                         else "default configuration: 4 FUSE workers, chunks 2^18 B and up")
        L.append(f"BlkSnapFs: {a.build} ({configuration}).")
    L.append("")
    L.append("![ratios](results.png)")
    L.append("")

    # targets
    target_rows = []   # (label, figure text, target text, met, score for chart)
    for size in sizes:
        for metric, peer, t in RATIO_TARGETS:
            r, pairs = ratio_stats(data, size, metric, peer)
            if r is None:
                continue
            label = f"{SHORT[metric]} vs {PEER_NAMES[peer]}, {int(size) // 1024 if int(size) >= 1024 else size}{' GiB' if int(size) >= 1024 else ' MiB'}"
            ceiling, _ = ratio_stats_peer(data, size, metric, "raw", peer)
            note = f"raw file ÷ peer = {ceiling:.2f}×" if ceiling is not None and peer != "raw" else ""
            chunk_io, _ = ratio_stats_peer(data, size, metric, "ceiling", peer)
            if chunk_io is not None:
                note = f"chunk I/O alone ÷ peer = {chunk_io:.2f}× (see below)"
            target_rows.append((label, f"{r:.2f}× ({span(pairs, 2)})", f"≥ {t}×", r >= t, r / t, note))

    def single(size, peer, metric):
        v = list(data.get((size, peer, metric), {}).values())
        return med(v), v

    p, pv = single("3x256", "blksnapfs", "pause_take_ms")
    if p is not None:
        b, _ = single("3x256", "blksnapfs", "pause_baseline_ms")
        target_rows.append(("take pause (3 devices, under writes)", f"{p:.2f} ms ({span(pv, 2)})", "≤ 10 ms", p <= 10, 10 / max(p, 1e-3), f"longest write with no take: {b:.1f} ms" if b is not None else ""))
    e = data.get(("engine", "blksnapfs", "engine_held_ms"), {})
    if e:
        target_rows.append(("writes held at take (engine)", f"{e['1']:.3f} ms ({e.get('2', 0):.3f}–{e.get('3', 0):.3f})", "≤ 10 ms", e["1"] <= 10, 10 / max(e["1"], 1e-3), "bench/BlkSnapFs.Bench, in process"))
    r, rv = single("1T", "blksnapfs", "rss_mib")
    if r is not None:
        pk, _ = single("1T", "blksnapfs", "rss_peak_mib")
        target_rows.append(("daemon RSS, 1 TiB, 1 % copied", f"{r:.1f} MiB", "≤ 64 MiB", r <= 64, 64 / r, f"peak {pk:.1f} MiB" if pk is not None else ""))
    for cmd in ("version", "snapshot_info"):
        c, cv = single("cmd", "blksnapfs", f"latency_{cmd}")
        if c is not None:
            target_rows.append((f"`blksnap {cmd}` latency", f"{c:.1f} ms ({span(cv)})", "≤ 150 ms", c <= 150, 150 / c, "median of 20"))

    met = sum(1 for t in target_rows if t[3])
    L.append(f"## Targets: {met} of {len(target_rows)} met")
    L.append("")
    L.append("| target | measured (min–max) | goal | | note (the disk's own ceiling for the ratio) |")
    L.append("|---|---|---|---|---|")
    for label, fig, goal, ok, _, note in target_rows:
        L.append(f"| {label} | {fig} | {goal} | {'met' if ok else '**missed**'} | {note} |")
    L.append("")

    # correctness
    L.append("## Correctness: image checksum right after each write burst")
    L.append("")
    L.append("Snapshot peers: the image must still read as the device did before the snapshot "
             "(checked after the sequential first-touch + rewrite burst, and after the half-chunk burst). "
             "No-snapshot peers (raw, nbdkit+nbdfuse): the device read through the peer must equal the "
             "backing file after the burst.")
    L.append("")
    L.append("| peer | size | after seq writes | after half writes |")
    L.append("|---|---|---|---|")
    for size in sizes:
        for peer in peers:
            cells = []
            for what in ("after_seq_writes", "after_half_writes"):
                v = data.get((size, peer, f"correct_{what}"), {})
                if not v:
                    cells.append("–")
                else:
                    bad = [k for k, x in v.items() if x < 1]
                    cells.append(f"ok ({len(v)}/{len(v)})" if not bad else f"**MISMATCH** in run(s) {', '.join(sorted(bad))} ({len(v) - len(bad)}/{len(v)} ok)")
            L.append(f"| {PEER_NAMES[peer]} | {size} MiB | {cells[0]} | {cells[1]} |")
    L.append("")
    if details:
        L.append("Mismatches found (per-MiB md5 of the image, read in 1 MiB requests, and `md5sum` of the whole "
                 "image, against the device just before the snapshot):")
        L.append("")
        for size, peer, what, run, text in sorted(details):
            L.append(f"- {PEER_NAMES.get(peer, peer)}, {size} MiB, {what.replace('_', ' ')}, run {run}: {text}")
        L.append("")

    # throughput tables
    for size in sizes:
        rand = data.get((size, "all", "rand_io_mib"), {}).get("0")
        nruns = len({r for k, v in data.items() if k[0] == size and k[1] != "all" for r in v})
        L.append(f"## Throughput, {size} MiB device (MiB/s, median and min–max of {nruns} run{'s' if nruns != 1 else ''})")
        L.append("")
        if rand:
            L.append(f"Random writes: {rand:.0f} MiB of 4 KiB writes per pass (the same offsets in both passes).")
            L.append("")
        chunk_io = list(data.get((size, "ceiling", "write_rand_first"), {}).values())
        copied = list(data.get((size, "ceiling", "copy_mib"), {}).values())
        if chunk_io and copied:
            L.append(f"Chunk I/O alone, for the random first touch: {fmt(med(chunk_io))} MiB/s ({span(chunk_io)}). That is fio "
                     f"doing at once, with no waiting between them, only the I/O that BlkSnapFs's chunk size makes "
                     f"unavoidable: random O_DIRECT reads, 16 in flight, of the {med(copied):.0f} MiB of chunks the writes "
                     f"touch, their sequential store, and the 4 KiB writes. It gives the scale of what copying whole "
                     f"chunks costs on this machine; it is not a strict bound (buffered reads can beat its O_DIRECT ones).")
            L.append("")
        hdr = "| workload | " + " | ".join(PEER_NAMES[p] for p in peers) + " | " + \
            " | ".join(f"÷ {PEER_NAMES[p]}" for p in peers if p != "blksnapfs") + " |"
        L.append(hdr)
        L.append("|---" * (1 + len(peers) + len(peers) - 1) + "|")
        for metric, title in THROUGHPUT:
            cells = []
            for peer in peers:
                v = list(data.get((size, peer, metric), {}).values())
                cells.append(f"{fmt(med(v))} ({span(v)})" if v else "–")
            for peer in peers:
                if peer == "blksnapfs":
                    continue
                r, pairs = ratio_stats(data, size, metric, peer)
                cells.append(f"{r:.2f}× ({span(pairs, 2)})" if r is not None else "–")
            L.append(f"| {title} | " + " | ".join(cells) + " |")
        L.append("")

    # other figures
    L.append("## Take pause, memory, command latency")
    L.append("")
    L.append("| figure | median | min–max | runs |")
    L.append("|---|---|---|---|")
    others = [
        ("3x256", "blksnapfs", "pause_take_ms", "BlkSnapFs: longest 4 KiB O_DIRECT write on 3 `live` files while `snapshot_take` of the 3 (ms)"),
        ("3x256", "blksnapfs", "pause_baseline_ms", "BlkSnapFs: longest write of the same writers with no take (ms)"),
        ("3x256", "blksnapfs", "take_command_ms", "BlkSnapFs: `blksnap snapshot_take` wall time (ms)"),
        ("3x256fs", "blksnapfs", "pause_take_freeze_ms", "BlkSnapFs: the same writers on ext4 over 3 loops over `live`, 32 MiB dirty each, take with freeze (ms)"),
        ("3x256fs", "blksnapfs", "pause_take_nofreeze_ms", "BlkSnapFs: the same, `Take:Freeze=false` (ms)"),
        ("3x256fs", "blksnapfs", "take_command_freeze_ms", "BlkSnapFs: `blksnap snapshot_take` wall time with freeze (ms)"),
        ("3x256fs", "blksnapfs", "take_command_nofreeze_ms", "BlkSnapFs: the same without freeze (ms)"),
        ("engine", "blksnapfs", "engine_held_ms", "engine bench: writes held at take (ms; its own median, min, max)"),
        ("1T", "blksnapfs", "rss_idle_mib", "BlkSnapFs RSS tracking a sparse 1 TiB file, no snapshot (MiB)"),
        ("1T", "blksnapfs", "rss_taken_mib", "BlkSnapFs RSS, snapshot taken (MiB)"),
        ("1T", "blksnapfs", "rss_mib", "BlkSnapFs RSS, snapshot taken, 1 % of chunks copied (MiB)"),
        ("1T", "blksnapfs", "rss_peak_mib", "BlkSnapFs peak RSS (VmHWM) (MiB)"),
        ("1T", "blksnapfs", "threads", "BlkSnapFs threads"),
        ("1T", "qemu", "rss_mib", "qemu-storage-daemon RSS, same device and writes (MiB)"),
        ("1T", "qemu", "rss_peak_mib", "qemu-storage-daemon peak RSS (MiB)"),
        ("1T", "nbdkit", "rss_mib", "nbdkit + nbdfuse RSS, same writes, no snapshot (MiB)"),
        ("cmd", "blksnapfs", "latency_version", "`blksnap version` (ms)"),
        ("cmd", "blksnapfs", "latency_snapshot_info", "`blksnap snapshot_info` (ms)"),
    ]
    for size, peer, metric, title in others:
        v = data.get((size, peer, metric), {})
        if not v:
            continue
        vals = list(v.values())
        if metric == "engine_held_ms":
            L.append(f"| {title} | {fmt(v['1'], 3)} | {fmt(v.get('2'), 3)}–{fmt(v.get('3'), 3)} | |")
        else:
            L.append(f"| {title} | {fmt(med(vals), 2)} | {span(vals, 2)} | {len(vals)} |")
    L.append("")
    if a.engine_output and os.path.exists(a.engine_output):
        L.append("Engine bench output (`bench/BlkSnapFs.Bench`, 256 MiB, in process, no FUSE):")
        L.append("")
        L.append("```")
        text = open(a.engine_output).read().splitlines()
        start = next((i for i, t in enumerate(text) if t.startswith("engine bench")), 0)
        L.append("\n".join(text[start:]).strip())
        L.append("```")
        L.append("")
    L.append("## How each figure is taken")
    L.append("")
    L.append(open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "method.md")).read().strip())
    L.append("")
    with open(a.results, "w") as f:
        f.write("\n".join(L))

    chart(data, sizes, peers, target_rows, a.chart)


def chart(data, sizes, peers, target_rows, path):
    tmp = tempfile.mkdtemp()
    others = [p for p in peers if p != "blksnapfs"]
    # panel 1: BlkSnapFs / peer for every throughput figure of the largest size and the smallest
    blocks = []
    for size in sizes:
        fn = os.path.join(tmp, f"ratios-{size}.dat")
        with open(fn, "w") as f:
            f.write("metric " + " ".join(f'"{PEER_NAMES[p]}"' for p in others) + "\n")
            for metric, _ in THROUGHPUT:
                row = []
                for p in others:
                    r, _ = ratio_stats(data, size, metric, p)
                    row.append(f"{r:.3f}" if r else "NaN")
                f.write(f'"{SHORT[metric]}" ' + " ".join(row) + "\n")
        blocks.append((size, fn))
    tfn = os.path.join(tmp, "targets.dat")
    with open(tfn, "w") as f:
        for i, (label, fig, goal, ok, score, _) in enumerate(target_rows):
            f.write(f'{i} {min(score, 40):.4f} {1 if ok else 0} {score:.4f}\n')
    n = len(blocks) + 1
    height = 420 * len(blocks) + max(360, 26 * len(target_rows) + 120)
    gp = [
        f'set terminal pngcairo noenhanced size 1400,{height} font "DejaVu Sans,11"',
        f'set output "{path}"',
        f"set multiplot layout {n},1",
        "set style data histograms",
        "set style histogram clustered gap 1",
        "set style fill solid 0.85 border -1",
        "set boxwidth 0.9",
        "set logscale y 2",
        "set grid ytics",
        "set key outside right top",
        "set ylabel \"BlkSnapFs ÷ peer (MiB/s ratio, log scale)\"",
        "set xtics rotate by -20",
        "set yrange [0.05:64]",
    ]
    for size, fn in blocks:
        gp.append(f'set title "Throughput ratios, {size} MiB device (above 1 = BlkSnapFs faster)"')
        cols = " , ".join(f'"{fn}" using {i + 2}:xtic(1) title columnheader({i + 2}) lc {i + 1}' for i in range(len(others)))
        gp.append(f"plot {cols}, 1 with lines lc rgb 'black' dt 2 notitle")
    gp += [
        "unset logscale y", "set logscale x 2", "unset style", "set style fill solid 0.85 border -1",
        'set title "Targets: measured ÷ goal (for ≤ goals: goal ÷ measured); right of the dashed line = met"',
        "set ylabel ''", "set xlabel 'score (log scale)'", "unset xtics", "set xtics",
        f"set yrange [-1:{len(target_rows)}]", "set xrange [0.05:256]", "set ytics ()", "unset key",
    ]
    ytics = ", ".join(f'"{r[0].replace(chr(96), "").replace(chr(34), "").replace("%", "%%")}" {i}' for i, r in enumerate(target_rows))
    gp.append(f"set ytics ({ytics})")
    gp.append("set arrow from 1, graph 0 to 1, graph 1 nohead dt 2 lc rgb 'black'")
    gp.append(f'plot "{tfn}" using (sqrt($2*0.05)):1:(0.05):($2):($1-0.35):($1+0.35):($3 > 0.5 ? 0x2ca02c : 0xd62728) '
              "with boxxyerror lc rgb variable notitle, "
              f'"{tfn}" using ($2*1.08):1:(sprintf("%.2f", $4)) with labels left notitle')
    gp.append("unset multiplot")
    script = os.path.join(tmp, "chart.gp")
    with open(script, "w") as f:
        f.write("\n".join(gp) + "\n")
    subprocess.run(["gnuplot", script], check=True)


if __name__ == "__main__":
    main()
