"""Validating a day against its contract, as a ratio to reading it: card fraud's transactions
table at 1M rows (a day of a big team), read from Parquet as ingest reads it (the Arrow table,
then pandas), then checked as ingest checks it: the one-pass scan over the Arrow table
(core/contract_scan.py), pandera only where the scan cannot call the day clean. Also timed: the
pandera schemas alone (what a day that breaks a rule costs before its report). All in this run,
best of three (`make bench-contracts`). A small day's scan is timed too, with what a DuckDB
connection per query would add to it (core/duck.py), both measured here."""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.common import append_report

DAY = dt.date(2026, 3, 1)


def _day(rows: int, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    start = pd.Timestamp(DAY, tz="UTC")
    return pd.DataFrame(
        {
            "transaction_id": [f"t-{i}" for i in range(rows)],
            "customer_id": rng.integers(0, 200_000, rows),
            "merchant_id": rng.integers(0, 20_000, rows),
            "amount": np.round(rng.lognormal(3, 1, rows), 2) + 0.5,
            "channel": rng.choice(["in_store", "online"], rows),
            "merchant_category": rng.choice(["grocery", "travel", "fuel", "electronics"], rows),
            "event_timestamp": start + pd.to_timedelta(np.sort(rng.integers(0, 86_399, rows)), "s"),
        }
    )


def _best(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def main(rows: int = 1_000_000) -> None:
    import pyarrow.parquet as pq

    from ml_assets.core import contract_scan
    from ml_assets.core.contracts import check_day
    from ml_assets.core.problem import named

    table = named("card_fraud").tables["raw_transactions"]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "part.parquet"
        _day(rows).to_parquet(path, index=False)
        arrow = pq.read_table(path, use_pandas_metadata=True)
        frame = arrow.to_pandas()
        assert contract_scan.is_clean(arrow, table, DAY)  # the timing is of a day that keeps its contract
        assert not any(check_day(frame, table, DAY).values())  # and pandera agrees
        read = _best(lambda: pd.read_parquet(path))
        check = _best(lambda: check_day(frame, table, DAY, clean=contract_scan.is_clean(arrow, table, DAY)))
        pandera = _best(lambda: check_day(frame, table, DAY))
    columns = ["rows", "read Parquet (s)", "validate (s)", "validate / read"]
    append_report(
        "Contract validation of a day, as a ratio to reading it",
        [*columns, "pandera alone (s)", "pandera / read"],
        [
            [
                f"{rows:,}",
                f"{read:.2f}",
                f"{check:.3f}",
                f"{check / read:.2f}x",
                f"{pandera:.2f}",
                f"{pandera / read:.2f}x",
            ]
        ],
        "card fraud's transactions table, 7 columns: validate = the one-pass DuckDB scan over the "
        "day's Arrow table (types, non-empty values, a unique id, amount's range, channel's values, "
        "the timestamp's day), as ingest runs it; pandera alone = its type schema then its value "
        "schema on the pandas frame, the path of a day that breaks a rule.",
    )


def small_day(rows: int = 400, repeat: int = 200) -> None:
    """A few hundred rows a day over years: the scan's fixed cost against reading the day, and
    the cost of the DuckDB connection it no longer opens per query."""
    import duckdb
    import pyarrow.parquet as pq

    from ml_assets.core import contract_scan, duck
    from ml_assets.core.problem import named

    table = named("card_fraud").tables["raw_transactions"]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "part.parquet"
        _day(rows).to_parquet(path, index=False)
        arrow = pq.read_table(path, use_pandas_metadata=True)
        assert contract_scan.is_clean(arrow, table, DAY)

        def each(fn) -> float:
            return _best(lambda: [fn() for _ in range(repeat)]) / repeat

        read = each(lambda: pd.read_parquet(path))
        scan = each(lambda: contract_scan.is_clean(arrow, table, DAY))
        connect = each(lambda: duckdb.connect().close())
        cursor = each(lambda: duck.cursor().close())
    append_report(
        "Contract scan of a small day, and a DuckDB connection per query",
        ["rows", "read Parquet (ms)", "scan (ms)", "scan / read"]
        + ["connect (ms)", "cursor (ms)", "connect / scan"],
        [
            [
                f"{rows:,}",
                f"{read * 1e3:.2f}",
                f"{scan * 1e3:.2f}",
                f"{scan / read:.2f}x",
                f"{connect * 1e3:.2f}",
                f"{cursor * 1e3:.3f}",
                f"{connect / scan:.2f}x",
            ]
        ],
        f"mean of {repeat} calls, best of three: the scan runs on a cursor of the process's one "
        "in-memory database (core/duck.py); `connect` is what it opened per query before.",
    )


if __name__ == "__main__":
    main()
    small_day()
