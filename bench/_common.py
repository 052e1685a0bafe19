"""Shared benchmark helpers: best-of-N wall time, CPU time, peak memory of a call in a
forked child, and markdown tables with ratios to calipers.

Every bench script runs calipers and its peers on the same input in one process, so ratios
are comparable even on a noisy shared machine.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import platform
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class Timing:
    name: str
    wall_s: float
    cpu_s: float
    peak_mb: float | None = None
    note: str = ""


def best_time(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, float]:
    """Best wall time and the CPU time (all threads) of that run, over ``repeat`` runs."""
    best = (float("inf"), float("inf"))
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        if wall < best[0]:
            best = (wall, cpu)
    return best


def _reset_peak_rss() -> None:
    """A forked child starts with its parent's peak-RSS mark and its parent's freed-but-kept
    heap pages; return those pages to the OS and reset the mark (Linux, glibc) so the peak
    measured below is the child's own."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _child(fn: Callable[[], Any], queue: Any) -> None:
    _reset_peak_rss()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    fn()
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    queue.put((after - before) / 1024.0)


def peak_mb(fn: Callable[[], Any]) -> float | None:
    """Growth of the peak resident set (MB) while ``fn`` runs, measured in a forked child.

    The child inherits the parent's pages, so this is the extra memory the call needed
    (inputs already allocated in the parent are not counted). None where fork is missing.
    """
    if not hasattr(os, "fork"):
        return None
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(fn, queue))
    proc.start()
    proc.join()
    return queue.get() if proc.exitcode == 0 else None


def measure(
    name: str, fn: Callable[[], Any], repeat: int = 3, memory: bool = True, note: str = ""
) -> Timing:
    wall, cpu = best_time(fn, repeat)
    return Timing(name, wall, cpu, peak_mb(fn) if memory else None, note)


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def table(title: str, rows: list[Timing], reference: str) -> str:
    """Markdown table; the ratio column is each row's wall time over ``reference``'s."""
    ref = next(r.wall_s for r in rows if r.name == reference)
    lines = [
        f"### {title}",
        "",
        "| implementation | wall (s) | CPU (s) | peak extra memory (MB) | time / calipers | note |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        mem = "—" if r.peak_mb is None else f"{r.peak_mb:.0f}"
        lines.append(
            f"| {r.name} | {r.wall_s:.4g} | {r.cpu_s:.4g} | {mem} | {r.wall_s / ref:.2f}× | {r.note} |"
        )
    return "\n".join(lines) + "\n"
