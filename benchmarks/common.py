"""Helpers for benchmarks: an isolated data directory per size, child processes for peak
RSS, and the markdown table appended to BENCHMARKS.md."""

from __future__ import annotations

import contextlib
import datetime as dt
import multiprocessing as mp
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def settings_at(path: Path, **overrides):
    """Settings of an isolated benchmark project under ``path`` (nothing global changes)."""
    from ml_assets.core.settings import Settings

    return Settings(data_dir=path, **overrides)


def _child(conn, fn, args):
    started = time.perf_counter()
    result = fn(*args)
    seconds = time.perf_counter() - started
    conn.send((seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, result))


def measure(fn, *args) -> tuple[float, float, object]:
    """Run ``fn(*args)`` in a fresh process: (seconds, peak RSS MiB, result)."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_child, args=(child, fn, args))
    proc.start()
    out = parent.recv()
    proc.join()
    return out


@contextlib.contextmanager
def busy_processes(n: int):
    """``n`` Python loops spinning beside what runs inside (one per core: the cores already busy)."""
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        yield
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


def append_report(title: str, header: list[str], rows: list[list], notes: str = "") -> str:
    lines = [
        f"### {title} ({dt.date.today()}, {os.cpu_count()} cores)",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    text = "\n".join(lines) + ("\n\n" + notes if notes else "") + "\n"
    print(text)
    with open(ROOT / "BENCHMARKS.md", "a") as fh:
        fh.write("\n" + text)
    return text
