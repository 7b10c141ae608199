"""Partitioned Parquet on local disk: ``<root>/<table>/date=YYYY-MM-DD/part.parquet``.

A partition is one file, written to a temporary name in the same folder and renamed into
place (``os.replace`` is atomic on one filesystem), so a re-run replaces a day whole and a
crash never leaves half a file where readers look.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from pathlib import Path

import pandas as pd

PART_FILE = "part.parquet"


def partition_path(root: Path, table: str, day: dt.date | str) -> Path:
    return Path(root) / table / f"date={day}" / PART_FILE


def table_glob(root: Path, table: str) -> str:
    """Glob over every partition of a table (Feast and DuckDB want a glob, not a folder)."""
    return str(Path(root).resolve() / table / "date=*" / PART_FILE)


def write_partition(df: pd.DataFrame, root: Path, table: str, day: dt.date | str) -> Path:
    target = partition_path(root, table, day)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{PART_FILE}.{uuid.uuid4().hex}.tmp")
    try:
        df.to_parquet(tmp, index=False)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _existing(root: Path, table: str, day: dt.date | str) -> Path:
    path = partition_path(root, table, day)
    if not path.exists():
        raise FileNotFoundError(
            f"partition {table}/date={day} is missing at {path}: materialize it first "
            f"(or generate landing data with `ml-assets simulate`)"
        )
    return path


def read_partition(root: Path, table: str, day: dt.date | str) -> pd.DataFrame:
    return pd.read_parquet(_existing(root, table, day))


def read_partition_arrow(root: Path, table: str, day: dt.date | str):
    """The partition as an Arrow table, the first half of pandas' read (``.to_pandas()`` is the
    second): what ingest's contract scan reads before pandas builds Python objects."""
    import pyarrow.parquet as pq

    return pq.read_table(_existing(root, table, day), use_pandas_metadata=True)


def partition_rows(root: Path, table: str, day: dt.date | str) -> int:
    """Row count from the Parquet footer, without reading the data."""
    import pyarrow.parquet as pq

    return pq.ParquetFile(partition_path(root, table, day)).metadata.num_rows


def existing_partitions(root: Path, table: str) -> list[str]:
    folder = Path(root) / table
    if not folder.exists():
        return []
    return sorted(p.parent.name.removeprefix("date=") for p in folder.glob(f"date=*/{PART_FILE}"))


def window_files(lake_dir: Path, table: str, day: dt.date, lookback: int, first_day: dt.date) -> list[str]:
    """Partition files for ``[day - lookback, day)``; a missing day inside the calendar is an error."""
    files = []
    for k in range(lookback, 0, -1):
        d = day - dt.timedelta(days=k)
        if d < first_day:
            continue
        path = partition_path(lake_dir, table, d)
        if not path.exists():
            raise FileNotFoundError(
                f"{table} partition {d} is missing ({path}); it is needed for features of {day}: "
                f"materialize {table} for {d} first"
            )
        files.append(str(path))
    return files
