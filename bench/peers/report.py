#!/usr/bin/env python3
"""Turns the bench's results.tsv (columns in bench/README.md) into bench/RESULTS.md and a PNG chart
of the ratios (drawn by gnuplot)."""
import argparse
import csv
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass

COLUMNS = ("experiment", "device_mib", "peer", "metric", "run", "value", "unit", "note")
NO_PEER = "-"  # a figure of the workload itself, not of a peer
TIB_MIB = 1024 * 1024

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
# A first-touch pass and the pass that writes the same blocks again, with nothing left to copy.
REWRITE_OF = {"write_seq_first": "write_seq_rewrite", "write_rand_first": "write_rand_rewrite"}

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
# round 2's throughput targets (issue 17), against the raw file and qemu-storage-daemon: (metric, peer, minimum ratio)
ROUND2_TARGETS = [
    ("write_rand_first", "raw", 0.3),
    ("write_rand_first", "qemu", 4.0),
    ("write_seq_first", "raw", 0.45),
    ("read_buffered_untouched", "raw", 0.9),
    ("read_buffered_half", "raw", 0.9),
    ("read_direct_untouched", "raw", 1.0),
    ("read_direct_half", "raw", 1.0),
]
# the "Take pause, memory, command latency" table: (experiment, peer, metric, title)
FIGURES = [
    ("pause", "blksnapfs", "pause_take_ms", "BlkSnapFs: longest 4 KiB O_DIRECT write on 3 `live` files while `snapshot_take` of the 3 (ms)"),
    ("pause", "blksnapfs", "pause_baseline_ms", "BlkSnapFs: longest write of the same writers with no take (ms)"),
    ("pause", "blksnapfs", "take_command_ms", "BlkSnapFs: `blksnap snapshot_take` wall time (ms)"),
    ("pausefs", "blksnapfs", "pause_take_freeze_ms", "BlkSnapFs: the same writers on ext4 over 3 loops over `live`, 32 MiB dirty each, take with freeze (ms)"),
    ("pausefs", "blksnapfs", "pause_take_nofreeze_ms", "BlkSnapFs: the same, `Take:Freeze=false` (ms)"),
    ("pausefs", "blksnapfs", "take_command_freeze_ms", "BlkSnapFs: `blksnap snapshot_take` wall time with freeze (ms)"),
    ("pausefs", "blksnapfs", "take_command_nofreeze_ms", "BlkSnapFs: the same without freeze (ms)"),
    ("engine", "blksnapfs", "take_hold_ms", "engine bench: writes held at take (ms)"),
    ("memory", "blksnapfs", "rss_idle_mib", "BlkSnapFs RSS tracking a sparse 1 TiB file, no snapshot (MiB)"),
    ("memory", "blksnapfs", "rss_taken_mib", "BlkSnapFs RSS, snapshot taken (MiB)"),
    ("memory", "blksnapfs", "rss_mib", "BlkSnapFs RSS, snapshot taken, 1 % of chunks copied (MiB)"),
    ("memory", "blksnapfs", "rss_peak_mib", "BlkSnapFs peak RSS (VmHWM) (MiB)"),
    ("memory", "blksnapfs", "threads", "BlkSnapFs threads"),
    ("memory", "qemu", "rss_mib", "qemu-storage-daemon RSS, same device and writes (MiB)"),
    ("memory", "qemu", "rss_peak_mib", "qemu-storage-daemon peak RSS (MiB)"),
    ("memory", "nbdkit", "rss_mib", "nbdkit + nbdfuse RSS, same writes, no snapshot (MiB)"),
    ("latency", "blksnapfs", "latency_version", "`blksnap version` (ms)"),
    ("latency", "blksnapfs", "latency_snapshot_info", "`blksnap snapshot_info` (ms)"),
]
# the engine bench's throughput: (peer, metric, title, the raw metric it is compared with)
ENGINE_THROUGHPUT = [
    ("raw", "write", "raw file write", None),
    ("blksnapfs", "write_tracked", "tracked write, no snapshot", "write"),
    ("blksnapfs", "write_first", "first-touch COW write", "write"),
    ("blksnapfs", "write_rewrite", "rewrite after COW", "write"),
    ("raw", "read_cold", "raw file read (cold)", None),
    ("blksnapfs", "read_image_untouched", "image read, untouched (cold)", "read_cold"),
    ("blksnapfs", "read_image_copied", "image read, all copied (cold)", "read_cold"),
]


class SchemaError(Exception):
    """A results file that does not have the bench's columns."""


@dataclass(frozen=True)
class Row:
    experiment: str
    device_mib: int
    peer: str
    metric: str
    run: int
    value: float
    unit: str
    note: str


@dataclass(frozen=True)
class TargetRow:
    label: str
    measured: str
    goal: str
    met: bool
    score: float  # measured ÷ goal (goal ÷ measured for an upper bound): 1 or more is met
    note: str


def read_rows(path):
    with open(path, newline="") as f:
        lines = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(lines, [])
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise SchemaError(f"{path}: missing column(s) {', '.join(missing)} (its header: {' '.join(header) or 'none'})")
        return [parse_row(path, number, header, fields) for number, fields in enumerate(lines, start=2) if fields]


def parse_row(path, number, header, fields):
    if len(fields) != len(header):
        raise SchemaError(f"{path}:{number}: {len(fields)} fields, the header has {len(header)}")
    cell = dict(zip(header, fields))
    try:
        return Row(cell["experiment"], int(cell["device_mib"]), cell["peer"], cell["metric"], int(cell["run"]),
                   float(cell["value"]), cell["unit"], cell["note"])
    except ValueError as e:
        raise SchemaError(f"{path}:{number}: {e}") from None


class Results:
    """The rows by (experiment, device_mib, peer, metric), each a {run: value}."""

    def __init__(self, rows):
        self.rows = rows
        self._runs = defaultdict(dict)
        for r in rows:
            self._runs[(r.experiment, r.device_mib, r.peer, r.metric)][r.run] = r.value

    def runs(self, experiment, device_mib, peer, metric):
        return self._runs.get((experiment, device_mib, peer, metric), {})

    def values(self, experiment, device_mib, peer, metric):
        return list(self.runs(experiment, device_mib, peer, metric).values())

    def anywhere(self, experiment, peer, metric):
        """The values of a figure whatever its device size (experiments with one size)."""
        return [v for key, runs in self._runs.items() if (key[0], key[2], key[3]) == (experiment, peer, metric) for v in runs.values()]

    def sizes(self):
        return sorted({r.device_mib for r in self.rows if r.experiment == "throughput"})

    def peers(self):
        present = {r.peer for r in self.rows if r.experiment == "throughput"}
        return [p for p in PEER_NAMES if p in present]

    def throughput_runs(self, size):
        return len({r.run for r in self.rows if r.experiment == "throughput" and r.device_mib == size and r.peer != NO_PEER})

    def mismatches(self):
        return [r for r in self.rows if r.metric.startswith("correct_") and r.value < 1]


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


def plural(n, word):
    return f"{n} {word}{'s' if n != 1 else ''}"


def size_label(mib):
    return f"{mib // 1024} GiB" if mib >= 1024 else f"{mib} MiB"


def ratio_stats(results, size, metric, peer):
    """BlkSnapFs ÷ peer: the ratio of the medians and the per-run ratios."""
    a = results.runs("throughput", size, "blksnapfs", metric)
    b = results.runs("throughput", size, peer, metric)
    if not a or not b:
        return None, []
    r = med(list(a.values())) / med(list(b.values())) if med(list(b.values())) else None
    pairs = [a[k] / b[k] for k in a if k in b and b[k] > 0]
    return r, pairs


def ratio_of_medians(a, b):
    return med(a) / med(b) if a and b and med(b) else None


# ---------------------------------------------------------------- the machine
def machine():
    info = {"nproc": str(os.cpu_count()), "kernel": platform.release(), "cpu": "?"}
    with open("/proc/meminfo") as f:
        info["memory"] = f"{int(f.readline().split()[1]) / 1024 / 1024:.1f} GiB"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
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
            out.append(subprocess.run(cmd, capture_output=True, text=True).stdout.strip().splitlines()[0])
        except Exception:
            pass
    return "; ".join(out)


# ---------------------------------------------------------------- sections
def heading(a):
    m = machine()
    lines = [
        "# BlkSnapFs against its peers",
        "",
        f"Generated by `{a.command.strip()}` (`make bench`) on {a.started}, {a.elapsed} s.",
        "Every figure comes from the same run on the same data; throughput is the median of "
        "the runs (count in each table's title), with the machine's noise as min–max. Ratios are BlkSnapFs ÷ peer "
        "(ratio of the medians; the range is the per-run ratios, runs interleave the peers).",
        "",
        f"Machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory']} memory, kernel {m['kernel']}, "
        f"data under {disk(a.data_dir)}.",
        f"Peers: {tool_versions()}.",
    ]
    if a.build:
        configuration = f"settings changed from the defaults: {a.settings}" if a.settings else "default configuration"
        lines.append(f"BlkSnapFs: {a.build} ({configuration}).")
    return lines + ["", "![ratios](results.png)", ""]


def throughput_targets(results, goals=RATIO_TARGETS):
    rows = []
    for size in results.sizes():
        for metric, peer, goal in goals:
            r, pairs = ratio_stats(results, size, metric, peer)
            if r is None:
                continue
            peer_values = results.values("throughput", size, peer, metric)
            raw = ratio_of_medians(results.values("throughput", size, "raw", metric), peer_values)
            note = f"raw file ÷ peer = {raw:.2f}×" if raw is not None and peer != "raw" else ""
            copy_io = ratio_of_medians(results.values("ceiling", size, NO_PEER, metric), peer_values)
            if copy_io is not None:
                note = f"copy I/O alone ÷ peer = {copy_io:.2f}× (see below)"
            # The same writes once copied: the path's own ceiling, with the copies taken out.
            rewrite = REWRITE_OF.get(metric)
            no_copy = rewrite and ratio_of_medians(results.values("throughput", size, "blksnapfs", rewrite), peer_values)
            if no_copy:
                note += ("; " if note else "") + f"BlkSnapFs's rewrite ÷ peer = {no_copy:.2f}×"
            rows.append(TargetRow(f"{SHORT[metric]} vs {PEER_NAMES[peer]}, {size_label(size)}", f"{r:.2f}× ({span(pairs, 2)})",
                                  f"≥ {goal}×", r >= goal, r / goal, note))
    return rows


def upper_bound(label, values, goal, unit, digits, note, spread=True):
    """A figure that must stay at or below GOAL: its median (and min–max) and score."""
    m = med(values)
    measured = f"{m:.{digits}f} {unit}" + (f" ({span(values, digits)})" if spread else "")
    return TargetRow(label, measured, f"≤ {goal} {unit}", m <= goal, goal / max(m, 1e-3), note)


def other_targets(results):
    rows = []
    pause = results.anywhere("pause", "blksnapfs", "pause_take_ms")
    if pause:
        baseline = med(results.anywhere("pause", "blksnapfs", "pause_baseline_ms"))
        rows.append(upper_bound("take pause (3 devices, under writes)", pause, 10, "ms", 2,
                                f"longest write with no take: {baseline:.1f} ms" if baseline is not None else ""))
    held = results.anywhere("engine", "blksnapfs", "take_hold_ms")
    if held:
        rows.append(upper_bound("writes held at take (engine)", held, 10, "ms", 3, "bench/BlkSnapFs.Bench, in process"))
    rss = results.values("memory", TIB_MIB, "blksnapfs", "rss_mib")
    if rss:
        peak = med(results.values("memory", TIB_MIB, "blksnapfs", "rss_peak_mib"))
        rows.append(upper_bound("daemon RSS, 1 TiB, 1 % copied", rss, 64, "MiB", 1, f"peak {peak:.1f} MiB" if peak is not None else "", spread=False))
    for cmd in ("version", "snapshot_info"):
        latency = results.anywhere("latency", "blksnapfs", f"latency_{cmd}")
        if latency:
            rows.append(upper_bound(f"`blksnap {cmd}` latency", latency, 150, "ms", 1, f"median of {len(latency)}"))
    return rows


def targets_section(targets, title="Targets"):
    lines = [f"## {title}: {sum(1 for t in targets if t.met)} of {len(targets)} met", "",
             "| target | measured (min–max) | goal | | note (the disk's own ceiling for the ratio) |",
             "|---|---|---|---|---|"]
    lines += [f"| {t.label} | {t.measured} | {t.goal} | {'met' if t.met else '**missed**'} | {t.note} |" for t in targets]
    return lines + [""]


def correctness_section(results):
    lines = ["## Correctness: image checksum right after each write burst", "",
             "Snapshot peers: the image must still read as the device did before the snapshot "
             "(checked after the sequential first-touch + rewrite burst, and after the half-chunk burst). "
             "No-snapshot peers (raw, nbdkit+nbdfuse): the device read through the peer must equal the "
             "backing file after the burst.", "",
             "| peer | size | after seq writes | after half writes |",
             "|---|---|---|---|"]
    for size in results.sizes():
        for peer in results.peers():
            cells = [correctness_cell(results.runs("throughput", size, peer, f"correct_{what}"))
                     for what in ("after_seq_writes", "after_half_writes")]
            lines.append(f"| {PEER_NAMES[peer]} | {size} MiB | {cells[0]} | {cells[1]} |")
    lines.append("")
    mismatches = results.mismatches()
    if mismatches:
        lines += ["Mismatches found (per-MiB md5 of the image, read in 1 MiB requests, and `md5sum` of the whole "
                  "image, against the device just before the snapshot):", ""]
        for r in sorted(mismatches, key=lambda r: (r.device_mib, r.peer, r.metric, r.run)):
            what = r.metric[len("correct_"):].replace("_", " ")
            lines.append(f"- {PEER_NAMES.get(r.peer, r.peer)}, {r.device_mib} MiB, {what}, run {r.run}: {r.note}")
        lines.append("")
    return lines


def correctness_cell(runs):
    if not runs:
        return "–"
    bad = sorted(run for run, ok in runs.items() if ok < 1)
    if not bad:
        return f"ok ({len(runs)}/{len(runs)})"
    return f"**MISMATCH** in run(s) {', '.join(map(str, bad))} ({len(runs) - len(bad)}/{len(runs)} ok)"


def throughput_section(results, size):
    peers = results.peers()
    lines = [f"## Throughput, {size} MiB device (MiB/s, median and min–max of {plural(results.throughput_runs(size), 'run')})", ""]
    rand = med(results.values("throughput", size, NO_PEER, "rand_io_mib"))
    if rand:
        lines += [f"Random writes: {rand:.0f} MiB of 4 KiB writes per pass (the same offsets in both passes).", ""]
    copy_io_lines = []
    for metric, what in (("write_rand_first", "random 4 KiB"), ("write_seq_first", "sequential 1 MiB")):
        alone = results.values("ceiling", size, NO_PEER, metric)
        if alone:
            raw = ratio_of_medians(alone, results.values("throughput", size, "raw", metric))
            scale = f", {raw:.2f}× the raw file" if raw is not None else ""
            copy_io_lines += [f"Copy I/O alone, for the {what} first touch: {fmt(med(alone))} MiB/s ({span(alone)}){scale}.", ""]
    if copy_io_lines:
        lines += copy_io_lines + ["That is fio doing at once, from a page cache just dropped and with no waiting between them, only the "
                  "I/O a copy-before-write first touch cannot avoid: reading what the writes overwrite (random: O_DIRECT "
                  "4 KiB reads of the blocks, 16 in flight; sequential: buffered 256 KiB reads, as the daemon reads the "
                  "original), storing it sequentially, and the writes themselves (O_DIRECT, as the raw file's). It is "
                  "the scale for the first-touch ratios; it is not a strict bound.", ""]
    others = [p for p in peers if p != "blksnapfs"]
    lines.append("| workload | " + " | ".join(PEER_NAMES[p] for p in peers) + " | " +
                 " | ".join(f"÷ {PEER_NAMES[p]}" for p in others) + " |")
    lines.append("|---" * (1 + len(peers) + len(others)) + "|")
    for metric, title in THROUGHPUT:
        cells = []
        for peer in peers:
            v = results.values("throughput", size, peer, metric)
            cells.append(f"{fmt(med(v))} ({span(v)})" if v else "–")
        for peer in others:
            r, pairs = ratio_stats(results, size, metric, peer)
            cells.append(f"{r:.2f}× ({span(pairs, 2)})" if r is not None else "–")
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    return lines + [""]


def figures_section(results):
    lines = ["## Take pause, memory, command latency", "",
             "| figure | median | min–max | runs |",
             "|---|---|---|---|"]
    for experiment, peer, metric, title in FIGURES:
        values = results.anywhere(experiment, peer, metric)
        if values:
            lines.append(f"| {title} | {fmt(med(values), 3 if metric == 'take_hold_ms' else 2)} | "
                         f"{span(values, 3 if metric == 'take_hold_ms' else 2)} | {len(values)} |")
    return lines + [""]


def engine_section(results):
    engine = [r for r in results.rows if r.experiment == "engine" and r.unit == "MiB/s"]
    if not engine:
        return []
    size = engine[0].device_mib
    lines = [f"Engine bench (`bench/BlkSnapFs.Bench`, {size} MiB, in process, no FUSE; MiB/s, median and min–max "
             f"of {plural(len({r.run for r in engine}), 'run')}):", "",
             "| workload | MiB/s | ÷ raw file |",
             "|---|---|---|"]
    for peer, metric, title, raw_metric in ENGINE_THROUGHPUT:
        v = results.values("engine", size, peer, metric)
        if not v:
            continue
        ratio = ratio_of_medians(v, results.values("engine", size, "raw", raw_metric)) if raw_metric else None
        lines.append(f"| {title} | {fmt(med(v))} ({span(v)}) | {f'{ratio:.2f}×' if ratio is not None else ''} |")
    lines.append("")
    memory = {r.metric: r.value for r in results.rows if r.experiment == "engine" and r.device_mib == TIB_MIB}
    if memory:
        lines += [f"In process, a sparse 1 TiB device, snapshot taken, {memory['chunks_copied']:.0f} chunks of "
                  f"{memory['chunk_bytes']:.0f} bytes copied: managed heap +{memory['managed_heap_mib']:.1f} MiB, "
                  f"process RSS {memory['rss_mib']:.1f} MiB (tracking blocks {memory['tracking_blocks']:.0f}, "
                  f"block size {memory['tracking_block_bytes']:.0f}).", ""]
    return lines


def method_section():
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "method.md")) as f:
        return ["## How each figure is taken", "", f.read().strip(), ""]


def report(a, results, targets):
    lines = heading(a) + targets_section(targets)
    round2 = throughput_targets(results, ROUND2_TARGETS)
    if round2:
        lines += targets_section(round2, "Round 2 targets (issue 17)")
    lines += correctness_section(results)
    for size in results.sizes():
        lines += throughput_section(results, size)
    lines += figures_section(results) + engine_section(results) + method_section()
    return "\n".join(lines)


# ---------------------------------------------------------------- the chart
def chart(results, targets, path):
    others = [p for p in results.peers() if p != "blksnapfs"]
    if not any(ratio_stats(results, size, metric, p)[0] for size in results.sizes() for metric, _ in THROUGHPUT for p in others):
        # BlkSnapFs or its peers measured alone (--peers): gnuplot refuses a plot with nothing in it.
        print(f"report.py: no ratio of BlkSnapFs to a peer, so no chart ({path} not written)", file=sys.stderr)
        if os.path.exists(path):
            os.remove(path)  # an earlier run's chart would not be this report's
        return
    tmp = tempfile.mkdtemp()
    # one panel per size: BlkSnapFs / peer for every throughput figure, then the targets
    blocks = []
    for size in results.sizes():
        fn = os.path.join(tmp, f"ratios-{size}.dat")
        with open(fn, "w") as f:
            f.write("metric " + " ".join(f'"{PEER_NAMES[p]}"' for p in others) + "\n")
            for metric, _ in THROUGHPUT:
                row = []
                for p in others:
                    r, _ = ratio_stats(results, size, metric, p)
                    row.append(f"{r:.3f}" if r else "NaN")
                f.write(f'"{SHORT[metric]}" ' + " ".join(row) + "\n")
        blocks.append((size, fn))
    tfn = os.path.join(tmp, "targets.dat")
    with open(tfn, "w") as f:
        for i, t in enumerate(targets):
            f.write(f'{i} {min(t.score, 40):.4f} {1 if t.met else 0} {t.score:.4f}\n')
    n = len(blocks) + 1
    height = 420 * len(blocks) + max(360, 26 * len(targets) + 120)
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
        f"set yrange [-1:{len(targets)}]", "set xrange [0.05:256]", "set ytics ()", "unset key",
    ]
    ytics = ", ".join(f'"{t.label.replace(chr(96), "").replace(chr(34), "").replace("%", "%%")}" {i}' for i, t in enumerate(targets))
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


def arguments():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tsv", required=True)
    ap.add_argument("--results", required=True)
    ap.add_argument("--chart", required=True)
    ap.add_argument("--command", default="")
    ap.add_argument("--started", default="")
    ap.add_argument("--elapsed", default="")
    ap.add_argument("--data-dir", default="/var/tmp")
    ap.add_argument("--build", default="")
    ap.add_argument("--settings", default="")
    return ap.parse_args()


def main():
    a = arguments()
    try:
        results = Results(read_rows(a.tsv))
    except SchemaError as e:
        sys.exit(f"report.py: {e}")
    targets = throughput_targets(results) + other_targets(results)
    with open(a.results, "w") as f:
        f.write(report(a, results, targets))
    chart(results, targets, a.chart)


if __name__ == "__main__":
    main()
