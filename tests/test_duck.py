"""The process's in-memory DuckDB (core/duck.py): one database per thread setting, a cursor per
query, nothing a closed cursor registered left behind, and a forked child never on its parent's."""

import multiprocessing

import pyarrow as pa
import pytest

from ml_assets.core import duck


def test_cursors_share_one_database_per_thread_setting_and_forget_what_they_registered():
    import duckdb

    with duck.cursor(threads=1) as one:
        assert one.execute("SELECT current_setting('threads')").fetchone() == (1,)
    with duck.cursor() as other:
        other.register("day_table", pa.table({"a": [1, 2, 3]}))
        assert other.execute("SELECT sum(a) FROM day_table").fetchone() == (6,)
    with duck.cursor() as later, pytest.raises(duckdb.CatalogException):
        later.execute("SELECT * FROM day_table")  # the closed cursor's registration went with it
    assert duck._databases[1][1] is not duck._databases[None][1]


def _child_database(queue) -> None:
    import os

    inherited = duck._databases[None][0]  # the parent's, copied by the fork
    with duck.cursor() as con:
        answer = con.execute("SELECT 42").fetchone()[0]
    queue.put((inherited, duck._databases[None][0], os.getpid(), answer))


def test_a_forked_child_opens_its_own_database():
    import os

    with duck.cursor():
        pass
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child_database, args=(queue,))
    child.start()
    inherited, owner, child_pid, answer = queue.get(timeout=60)
    child.join(timeout=60)
    assert inherited == os.getpid()  # the child started with its parent's database in hand
    assert owner == child_pid != os.getpid() and answer == 42  # and queried one of its own
