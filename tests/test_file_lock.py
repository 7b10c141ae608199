"""The lock under Dagster's pools (core/file_lock.py): across real processes, one holder at
a time; the warehouse's readers wait for a writer instead of failing on DuckDB's own lock."""

import multiprocessing as mp
import time
from pathlib import Path

import pandas as pd
import pytest

from ml_assets.core.file_lock import held
from ml_assets.core.warehouse import Warehouse

HOLDERS = 4
HOLD_S = 0.3


def _hold(lock_path: str, out: mp.Queue) -> None:
    with held(Path(lock_path), "test"):
        start = time.monotonic()  # CLOCK_MONOTONIC is system-wide: comparable across processes
        time.sleep(HOLD_S)
        out.put((start, time.monotonic()))


def test_processes_that_want_the_lock_at_once_hold_it_one_after_another(tmp_path):
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_hold, args=(str(tmp_path / "w.lock"), out)) for _ in range(HOLDERS)]
    for p in procs:
        p.start()
    spans = sorted(out.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert all(prev_end <= start for (_, prev_end), (start, _) in zip(spans, spans[1:], strict=False)), spans


def _hold_until_released(lock_path: str, holding, release) -> None:
    with held(Path(lock_path), "test"):
        holding.set()
        release.wait(timeout=60)


def test_a_lock_held_too_long_names_the_file_and_the_fix(tmp_path):
    ctx = mp.get_context("spawn")
    holding, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_until_released, args=(str(tmp_path / "w.lock"), holding, release))
    holder.start()
    assert holding.wait(timeout=60)
    try:
        with pytest.raises(TimeoutError, match=r"w\.lock.*finish or stop it"):
            with held(tmp_path / "w.lock", "the test file", timeout_s=0.2):
                pass
    finally:
        release.set()
        holder.join(timeout=60)
    with held(tmp_path / "w.lock", "the test file", timeout_s=5):  # released with its holder
        pass


def test_a_holder_killed_with_sigkill_leaks_no_lock(tmp_path):
    """Issue 23: a run's step killed while writing (an out-of-memory kill) must not leave the
    single-writer files locked for the next run."""
    ctx = mp.get_context("spawn")
    holding, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_until_released, args=(str(tmp_path / "w.lock"), holding, release))
    holder.start()
    assert holding.wait(timeout=60)
    holder.kill()  # SIGKILL: no finally, no release
    holder.join(timeout=60)
    assert holder.exitcode == -9
    with held(tmp_path / "w.lock", "the next writer", timeout_s=2):  # the OS released it with its holder
        pass


def _write_slowly(path: str, started) -> None:
    warehouse = Warehouse(Path(path))
    with warehouse.connect() as con:
        started.set()
        con.execute("CREATE TABLE t AS SELECT 1 AS x")
        time.sleep(1.0)  # a long write, holding DuckDB's process lock on the file


def test_a_warehouse_reader_waits_for_another_process_writing(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    Warehouse(path).append("t0", pd.DataFrame({"x": [0]}))  # the file exists before the writer
    ctx = mp.get_context("spawn")
    started = ctx.Event()
    writer = ctx.Process(target=_write_slowly, args=(str(path), started))
    writer.start()
    assert started.wait(timeout=60)
    # without the lock, DuckDB refuses this open ("Could not set lock on file")
    assert Warehouse(path).query("SELECT x FROM t")["x"].tolist() == [1]
    writer.join(timeout=60)
    assert writer.exitcode == 0


def _outside_session(path, seconds: float):
    """A DuckDB session outside the platform (a person's CLI or notebook): it takes no lock of
    ours, only DuckDB's own on the file, read-only."""
    import subprocess
    import sys

    code = (
        "import duckdb, sys, time; con = duckdb.connect(sys.argv[1], read_only=True); "
        "print('open', flush=True); time.sleep(float(sys.argv[2]))"
    )
    session = subprocess.Popen(
        [sys.executable, "-c", code, str(path), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert session.stdout.readline().strip() == "open"
    return session


def test_a_write_waits_for_a_duckdb_session_outside_the_platform(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    Warehouse(path).append("t", pd.DataFrame({"x": [0]}))
    session = _outside_session(path, 1.5)
    try:
        assert session.poll() is None  # still holding: DuckDB alone would refuse the write now
        Warehouse(path).append("t", pd.DataFrame({"x": [1]}))
    finally:
        session.kill()
        session.wait(timeout=60)
    assert sorted(Warehouse(path).query("SELECT x FROM t")["x"]) == [0, 1]


def test_a_session_held_past_the_wait_fails_the_write_naming_the_fix_and_loses_nothing(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    Warehouse(path).append("t", pd.DataFrame({"x": [0]}))
    session = _outside_session(path, 120)
    try:
        with pytest.raises(RuntimeError, match="outside the platform.*Close that DuckDB session"):
            Warehouse(path, outside_wait_s=0.5).append("t", pd.DataFrame({"x": [1]}))
    finally:
        session.kill()
        session.wait(timeout=60)
    assert Warehouse(path).query("SELECT x FROM t")["x"].tolist() == [0]
