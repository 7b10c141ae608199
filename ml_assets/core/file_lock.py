"""One holder at a time, across processes, for the embedded profile's single-writer files:
the DuckDB warehouse (a second process cannot even open it read-only while one writes) and
Feast's file registry and SQLite online store.

Dagster's pools (limit 1, dagster.yaml) already queue these writers, and they are what the
UI shows; this lock is the guarantee under them. Measured on Dagster 1.13's SQLite storage:
runs that claim a pool's one slot in the same instant can all get it (3 processes claiming
at once, 20 trials: 8 trials gave the slot to two or three of them; the claim reads a free
slot and then writes it, and SQLite ignores the ``FOR UPDATE`` between the two), and CI saw
two Feast writers of a parallel backfill run side by side."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

DEFAULT_TIMEOUT_SECONDS = 600.0  # longer than any one write of the default size (a day's Feast load)


@contextlib.contextmanager
def held(lock_path: Path, what: str, timeout_s: float = DEFAULT_TIMEOUT_SECONDS) -> Iterator[None]:
    """Hold the lock at ``lock_path`` (an OS lock: a holder that dies releases it)."""
    from filelock import FileLock, Timeout

    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(lock_path), timeout=timeout_s)
    try:
        lock.acquire()
    except Timeout:
        raise TimeoutError(
            f"{what}: another process has held {lock_path} for more than {timeout_s:.0f}s. Wait for "
            "its run to finish or stop it; a process that dies releases the lock by itself."
        ) from None
    try:
        yield
    finally:
        lock.release()
