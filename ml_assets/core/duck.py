"""In-memory DuckDB for one-off queries over files and Arrow tables: one database per process
(and per thread setting), a cursor per query. An ingest or feature day makes several such
queries, and opening a connection costs far more than a small day's query on a cursor
(BENCHMARKS.md, "Contract scan of a small day"): a connection per query was a fixed cost per day."""

from __future__ import annotations

import os
import threading

_lock = threading.Lock()
_databases: dict[int | None, tuple[int, object]] = {}
# a forked child's copies of its parent's databases, never closed there: closing one waits for
# worker threads that did not survive the fork (the child hung: tests/test_duck.py)
_inherited: list = []


def cursor(threads: int | None = None):
    """A new cursor (DuckDB's own connection to the shared database, safe to use from this
    thread) on the process's in-memory database with ``threads`` worker threads (None:
    DuckDB's default). Close it when done: what it registered goes with it."""
    import duckdb

    with _lock:
        pid, con = _databases.get(threads, (None, None))
        if pid != os.getpid():  # a forked child never shares its parent's database
            if con is not None:
                _inherited.append(con)
            con = duckdb.connect(config={"threads": threads} if threads else {})
            _databases[threads] = (os.getpid(), con)
    return con.cursor()
