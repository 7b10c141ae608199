"""A drift calculator fitted and run on day chunks: NannyML's own (``chunk_period="D"``) against
the project's DailyChunker (core/monitoring/chunks.py), the same calculator on the same frame,
alternating, best of three, in this run (`python -m benchmarks.day_chunks`). The reference is
held out in blocks as the monitors' thresholds are learnt (thresholds.held_out_values), so a fit
cuts the reference into chunks once per block. Then a column's conversion alone."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from benchmarks.common import append_report

TS = "timestamp"


def _frame(days: int, rows: int, columns: int, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2026-03-01")
    n = days * rows
    frame = pd.DataFrame({f"x{i}": rng.normal(0, 1, n) for i in range(columns)})
    frame[TS] = start + pd.to_timedelta(np.sort(rng.integers(0, days * 86_400, n)), "s")
    return frame


def _fit_held_out(make, frame: pd.DataFrame, folds: int) -> None:
    from ml_assets.core.monitoring.thresholds import held_out_values

    make().fit(frame)
    held_out_values(make, frame, TS, folds)


def main(days: int = 14, rows: int = 3000, columns: int = 12, folds: int = 7) -> None:
    import nannyml as nml

    from ml_assets.core.monitoring.chunks import DailyChunker

    frame = _frame(days, rows, columns)
    names = [c for c in frame.columns if c != TS]

    def calculator(**chunking):
        return lambda: nml.UnivariateDriftCalculator(
            column_names=names, timestamp_column_name=TS, continuous_methods=["jensen_shannon"], **chunking
        )

    makes = {"NannyML's": calculator(chunk_period="D"), "DailyChunker": calculator(chunker=DailyChunker(TS))}
    times: dict[str, list[float]] = {name: [] for name in makes}
    for _ in range(3):
        for name, make in makes.items():
            started = time.perf_counter()
            _fit_held_out(make, frame, folds)
            times[name].append(time.perf_counter() - started)
    theirs, ours = min(times["NannyML's"]), min(times["DailyChunker"])
    append_report(
        "Drift fitted on day chunks: NannyML's period chunker against DailyChunker",
        ["days x rows", "columns", "held-out blocks", "NannyML's (s)", "DailyChunker (s)", "ratio"],
        [[f"{days} x {rows:,}", columns, folds, f"{theirs:.2f}", f"{ours:.2f}", f"{ours / theirs:.2f}x"]],
        "Jensen-Shannon on every column, fitted on the whole reference then once per held-out block, "
        "as the monitors' thresholds are learnt; best of three, alternating. The difference is pandas' "
        "to_datetime on a column already of datetimes (chunks.py says why).",
    )


def conversion(rows=(3_000, 30_000), repeat: int = 20) -> None:
    """``pd.to_datetime(column, utc=True)`` on a column already of UTC datetimes, with and
    without its cache check (core/timestamps.py), best of ``repeat``."""
    from ml_assets.core.timestamps import utc_times

    table = []
    for n in rows:
        column = _frame(1, n, 1)[TS].dt.tz_localize("UTC")
        cached = min(_timed(lambda c=column: pd.to_datetime(c, utc=True)) for _ in range(repeat))
        ours = min(_timed(lambda c=column: utc_times(c)) for _ in range(repeat))
        table.append([f"{n:,}", f"{cached * 1000:.2f}", f"{ours * 1000:.3f}", f"{ours / cached:.3f}x"])
    append_report(
        "A column of datetimes through pd.to_datetime, with and without its cache check",
        ["rows", "to_datetime (ms)", "utc_times (ms)", "ratio"],
        table,
        "Same result; the cache check boxes up to 10,000 timestamps before deciding.",
    )


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
    conversion()
