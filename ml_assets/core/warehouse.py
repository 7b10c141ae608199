"""The project's DuckDB warehouse: prediction log and monitoring tables. One writer at a
time (the resource's pool); each partition is replaced in one transaction, so a re-run
never duplicates and a crash never half-writes."""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path

import pandas as pd

PREDICTION_LOG = "prediction_log"
MONITORING_TABLES = {
    "cbpe": "monitoring_estimated_performance",
    "drift": "monitoring_drift",
    "quality": "monitoring_data_quality",
    "realized": "monitoring_realized_performance",
}


@dataclasses.dataclass(frozen=True)
class Warehouse:
    path: Path

    @contextlib.contextmanager
    def connect(self, read_only: bool = False):
        import duckdb

        if not read_only:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(self.path), read_only=read_only)
        try:
            yield con
        finally:
            con.close()

    @staticmethod
    def _prepare(con, table: str, frame: pd.DataFrame) -> None:
        """Register ``frame`` as ``incoming``; create ``table`` like it, or add the columns it
        lacks (batch and online rows share the prediction log, online rows carry more)."""
        con.register("incoming", frame)
        con.execute(f"CREATE TABLE IF NOT EXISTS {table} AS SELECT * FROM incoming LIMIT 0")
        existing = {row[0] for row in con.execute(f"DESCRIBE {table}").fetchall()}
        for name, kind, *_ in con.execute("DESCRIBE incoming").fetchall():
            if name not in existing:
                con.execute(f'ALTER TABLE {table} ADD COLUMN "{name}" {kind}')

    def append(self, table: str, frame: pd.DataFrame) -> int:
        """Insert ``frame`` (by column name) in one transaction."""
        with self.connect() as con:
            self._prepare(con, table, frame)
            con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM incoming")
        return len(frame)

    def replace_partition(self, table: str, frame: pd.DataFrame, where: dict[str, object]) -> int:
        """Delete the rows matching ``where`` and insert ``frame``, atomically."""
        clause = " AND ".join(f"{col} = ?" for col in where)
        with self.connect() as con:
            self._prepare(con, table, frame)
            con.execute("BEGIN TRANSACTION")
            try:
                con.execute(f"DELETE FROM {table} WHERE {clause}", list(where.values()))
                con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM incoming")
                con.execute("COMMIT")
            except Exception:
                con.execute("ROLLBACK")
                raise
        return len(frame)

    def query(self, sql: str, params: list | None = None) -> pd.DataFrame:
        if not Path(self.path).exists():
            raise FileNotFoundError(f"{self.path} does not exist yet: materialize the predictions first")
        with self.connect(read_only=True) as con:
            return con.execute(sql, params or []).df()
