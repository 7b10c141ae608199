"""The project's DuckDB warehouse (``data/warehouse.duckdb``): prediction log and
monitoring tables. One writer at a time (Dagster pool ``warehouse``); each partition is
replaced in one transaction, so a re-run never duplicates and a crash never half-writes."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pandas as pd


@contextlib.contextmanager
def connect(path: Path, read_only: bool = False):
    import duckdb

    if not read_only:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path), read_only=read_only)
    try:
        yield con
    finally:
        con.close()


def replace_partition(path: Path, table: str, frame: pd.DataFrame, where: dict[str, object]) -> int:
    """Delete the rows matching ``where`` and insert ``frame``, atomically."""
    clause = " AND ".join(f"{col} = ?" for col in where)
    with connect(path) as con:
        con.register("incoming", frame)
        con.execute(f"CREATE TABLE IF NOT EXISTS {table} AS SELECT * FROM incoming LIMIT 0")
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(f"DELETE FROM {table} WHERE {clause}", list(where.values()))
            con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM incoming")
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
    return len(frame)


def query(path: Path, sql: str, params: list | None = None) -> pd.DataFrame:
    if not Path(path).exists():
        raise FileNotFoundError(f"{path} does not exist yet: materialize the predictions first")
    with connect(path, read_only=True) as con:
        return con.execute(sql, params or []).df()
