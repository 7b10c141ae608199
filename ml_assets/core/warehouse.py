"""The project's DuckDB warehouse: prediction log and monitoring tables. One process at a
time (the resource's pool, and a file lock under it: core/file_lock.py); each partition is
replaced in one transaction, so a re-run never duplicates and a crash never half-writes."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import time
from pathlib import Path

import pandas as pd

PREDICTION_LOG = "prediction_log"
MONITORING_TABLES = {
    "cbpe": "monitoring_estimated_performance",
    "drift": "monitoring_drift",
    "quality": "monitoring_data_quality",
    "realized": "monitoring_realized_performance",
}


OUTSIDE_HOLDER_WAIT_SECONDS = 120.0  # longer than a person's query in a DuckDB session


@dataclasses.dataclass(frozen=True)
class Warehouse:
    path: Path
    # how long to wait for a process outside the platform (a DuckDB CLI, a notebook) that has the
    # file open: it does not take the platform's lock, and DuckDB refuses a writer meanwhile
    outside_wait_s: float = OUTSIDE_HOLDER_WAIT_SECONDS

    @contextlib.contextmanager
    def connect(self, read_only: bool = False):
        from ml_assets.core.file_lock import held

        if not read_only:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # readers too: DuckDB refuses a read-only open while another process holds the file
        lock = Path(f"{self.path}.lock")
        with held(lock, f"the warehouse {self.path}"):
            con = self._open(read_only)
            try:
                yield con
            finally:
                con.close()

    def _open(self, read_only: bool):
        """DuckDB's connection, once no process outside the platform holds the file (bounded)."""
        import duckdb

        deadline, pause = time.monotonic() + self.outside_wait_s, 0.05
        while True:
            try:
                return duckdb.connect(str(self.path), read_only=read_only)
            except duckdb.IOException as error:
                # DuckDB raises its IOException for a held file as for any I/O error: only the
                # message ("Could not set lock on file") tells the two apart
                if "lock" not in str(error).lower():
                    raise
                if time.monotonic() >= deadline:
                    raise RuntimeError(
                        f"the warehouse {self.path} is held by a process outside the platform for more "
                        f"than {self.outside_wait_s:.0f} s ({error}). Close that DuckDB session (the CLI, a "
                        "notebook): DuckDB writes only from a process that has the file alone, and read-only "
                        "opens by several processes exclude any writer. To read it while runs go on, query a "
                        "copy of the file."
                    ) from None
                time.sleep(pause)
                pause = min(1.0, pause * 2)

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

    def exists(self) -> bool:
        return Path(self.path).exists()

    def query(self, sql: str, params: list | None = None) -> pd.DataFrame:
        if not Path(self.path).exists():
            raise FileNotFoundError(f"{self.path} does not exist yet: materialize the predictions first")
        with self.connect(read_only=True) as con:
            return con.execute(sql, params or []).df()


# pandas dtype kind -> Postgres type, for tables created from a frame
_PG_TYPES = {"b": "BOOLEAN", "i": "BIGINT", "u": "BIGINT", "f": "DOUBLE PRECISION", "M": "TIMESTAMP"}


@dataclasses.dataclass(frozen=True)
class PostgresWarehouse:
    """The same tables and the same three operations on Postgres (the cluster profile): a
    DuckDB file cannot be shared between hosts. Queries are written in the SQL both engines
    read (``?`` placeholders, no DuckDB-only clauses); rows go in through COPY."""

    url: str  # SQLAlchemy form (postgresql+psycopg2://...), as in the settings

    @contextlib.contextmanager
    def connect(self, read_only: bool = False):
        import psycopg2

        con = psycopg2.connect(libpq_url(self.url))
        con.set_session(readonly=read_only)
        try:
            with con:  # one transaction: committed on success, rolled back on an error
                yield con
        finally:
            con.close()

    @staticmethod
    def _prepare(cur, table: str, frame: pd.DataFrame) -> None:
        columns = {name: _pg_type(frame[name]) for name in frame.columns}
        spec = ", ".join(f'"{name}" {kind}' for name, kind in columns.items())
        cur.execute(f"CREATE TABLE IF NOT EXISTS {table} ({spec})")
        for name, kind in columns.items():
            cur.execute(f'ALTER TABLE {table} ADD COLUMN IF NOT EXISTS "{name}" {kind}')

    @staticmethod
    def _copy(cur, table: str, frame: pd.DataFrame) -> None:
        import io

        buffer = io.StringIO()
        frame.to_csv(buffer, index=False, header=False, na_rep="\\N", date_format="%Y-%m-%d %H:%M:%S.%f%z")
        buffer.seek(0)
        columns = ", ".join(f'"{c}"' for c in frame.columns)
        cur.copy_expert(f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv, NULL '\\N')", buffer)

    def append(self, table: str, frame: pd.DataFrame) -> int:
        with self.connect() as con, con.cursor() as cur:
            self._prepare(cur, table, frame)
            self._copy(cur, table, frame)
        return len(frame)

    def replace_partition(self, table: str, frame: pd.DataFrame, where: dict[str, object]) -> int:
        clause = " AND ".join(f'"{col}" = %s' for col in where)
        with self.connect() as con, con.cursor() as cur:
            self._prepare(cur, table, frame)
            cur.execute(f"DELETE FROM {table} WHERE {clause}", list(where.values()))
            self._copy(cur, table, frame)
        return len(frame)

    def exists(self) -> bool:
        with self.connect(read_only=True) as con, con.cursor() as cur:
            cur.execute("SELECT 1 FROM information_schema.tables WHERE table_name = %s", [PREDICTION_LOG])
            return cur.fetchone() is not None

    def query(self, sql: str, params: list | None = None) -> pd.DataFrame:
        with self.connect(read_only=True) as con, con.cursor() as cur:
            cur.execute(sql.replace("?", "%s"), params or [])
            names = [d.name for d in cur.description]
            frame = pd.DataFrame(cur.fetchall(), columns=names)
        # Postgres hands back Decimal/datetime objects: give them DuckDB's dtypes
        return frame.infer_objects()


def libpq_url(url: str) -> str:
    """A SQLAlchemy URL (with its driver) as libpq reads it."""
    return url.replace("postgresql+psycopg2://", "postgresql://", 1)


def _pg_type(column: pd.Series) -> str:
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        return "TIMESTAMPTZ"
    if (
        column.dtype == object
        and len(column)
        and all(isinstance(v, dt.date) and not isinstance(v, dt.datetime) for v in column.dropna().head(5))
    ):
        return "DATE"
    return _PG_TYPES.get(column.dtype.kind, "TEXT")
