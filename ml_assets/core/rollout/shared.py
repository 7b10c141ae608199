"""One rollout across several service processes: every replica routes by the registry's step and
writes the paired evidence it sees to one shared table; one replica at a time, the holder of a
lease, reads all of it, judges, and moves the registry; the others follow the registry.

Why a lease and a table, not one judging process the replicas report to: nothing new to deploy
or to keep alive, and a replica that dies takes nothing with it (an OS file lock or a Postgres
session lock is released with its holder; the evidence stays in the table for the next leader).
Embedded: a file lock and a SQLite table beside the project's data. Cluster: a Postgres advisory
lock and the same table in the warehouse database (docs/decisions/online-tier.md)."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from pathlib import Path

from ml_assets.core.rollout.verdicts import Window

LEASE_KEY = 7_302_118_429  # the advisory lock's number: "ml-assets rollout", one per database


@dataclasses.dataclass(frozen=True)
class Call:
    """One scoring call's paired evidence, as a replica saw it."""

    champion: list[float]
    challenger: list[float]
    champion_flags: list[bool]
    challenger_flags: list[bool]
    champion_seconds: float
    challenger_seconds: float | None  # None: the challenger raised
    canary_requests: int


class FileLease:
    """The embedded lease: an OS lock on a file, taken without waiting, held until released or
    the process dies."""

    def __init__(self, path: Path):
        from filelock import FileLock

        Path(path).parent.mkdir(parents=True, exist_ok=True)
        # not thread-local: the watcher's thread takes it, the shutdown releases it
        self._lock = FileLock(str(path), timeout=0, thread_local=False)

    def held(self) -> bool:
        from filelock import Timeout

        if self._lock.is_locked:
            return True
        try:
            self._lock.acquire()
        except Timeout:
            return False
        return True

    def release(self) -> None:
        if self._lock.is_locked:
            self._lock.release(force=True)


class PostgresLease:
    """The cluster's lease: a session advisory lock on its own connection; lost with the
    connection (the server releases it), taken again on a later try."""

    def __init__(self, url: str):
        self.url, self._con = url, None

    def held(self) -> bool:
        import psycopg2

        from ml_assets.core.warehouse import libpq_url

        try:
            if self._con is not None:
                with self._con.cursor() as cur:
                    cur.execute("SELECT 1")  # still ours while the session lives
                return True
            con = psycopg2.connect(libpq_url(self.url), connect_timeout=5)
            con.autocommit = True
            with con.cursor() as cur:
                cur.execute("SELECT pg_try_advisory_lock(%s)", [LEASE_KEY])
                taken = cur.fetchone()[0]
            if taken:
                self._con = con
            else:
                con.close()
            return bool(taken)
        except psycopg2.Error:
            self.release()
            return False

    def release(self) -> None:
        if self._con is not None:
            try:
                self._con.close()
            finally:
                self._con = None


class EvidenceStore:
    """The paired evidence of every replica (one row per scoring call) and when each step began,
    in one database every replica reaches (SQLAlchemy: SQLite embedded, Postgres in the cluster)."""

    def __init__(self, url: str):
        import sqlalchemy as sa

        sqlite = url.startswith("sqlite")
        self.engine = sa.create_engine(
            url, pool_pre_ping=True, connect_args={"timeout": 30} if sqlite else {}
        )
        if sqlite:  # replicas write while the leader reads: WAL lets a reader not wait for a writer
            sa.event.listen(self.engine, "connect", lambda con, _: con.execute("PRAGMA journal_mode=WAL"))
        meta = sa.MetaData()
        self.calls = sa.Table(
            "rollout_evidence",
            meta,
            sa.Column("version", sa.String(64), index=True),
            sa.Column("step", sa.Integer),
            sa.Column("replica", sa.String(64)),
            sa.Column("at", sa.Float),
            sa.Column("call", sa.Text),  # the Call as JSON
        )
        self.steps = sa.Table(
            "rollout_steps",
            meta,
            sa.Column("version", sa.String(64), primary_key=True),
            sa.Column("step", sa.Integer, primary_key=True),
            sa.Column("started_at", sa.Float),
        )
        try:
            meta.create_all(self.engine)
        except sa.exc.DatabaseError:  # another replica created them between the check and the create
            meta.create_all(self.engine)

    def append(self, version: str, step: int, replica: str, calls: list[Call]) -> None:
        if not calls:
            return
        now = time.time()
        rows = [
            dict(version=version, step=step, replica=replica, at=now, call=json.dumps(dataclasses.asdict(c)))
            for c in calls
        ]
        with self.engine.begin() as con:
            con.execute(self.calls.insert(), rows)

    def step_started(self, version: str, step: int) -> float:
        """When the step began (the first replica to ask says now; every later one reads that)."""
        import sqlalchemy as sa

        insert = _insert_ignoring_conflict(self.engine.dialect.name, self.steps)
        with self.engine.begin() as con:
            con.execute(insert.values(version=version, step=step, started_at=time.time()))
            return con.execute(
                sa.select(self.steps.c.started_at).where(
                    self.steps.c.version == version, self.steps.c.step == step
                )
            ).scalar_one()

    def window(self, version: str, step: int) -> Window:
        """Every replica's evidence of the step, as one window."""
        import sqlalchemy as sa

        window = Window(self.step_started(version, step))
        with self.engine.connect() as con:
            rows = con.execute(
                sa.select(self.calls.c.call).where(self.calls.c.version == version, self.calls.c.step == step)
            ).scalars()
            for text in rows:
                add(window, Call(**json.loads(text)))
        return window


def _insert_ignoring_conflict(dialect: str, table):
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table).on_conflict_do_nothing()


def add(window: Window, call: Call) -> None:
    """One call's evidence into a window (what the controller's own observe adds)."""
    window.attempts += 1
    window.champion_seconds.append(call.champion_seconds)
    if call.challenger_seconds is None:
        window.errors += 1
        return
    window.challenger_seconds.append(call.challenger_seconds)
    window.champion.extend(call.champion)
    window.challenger.extend(call.challenger)
    window.champion_flags.extend(call.champion_flags)
    window.challenger_flags.extend(call.challenger_flags)
    window.canary_requests += call.canary_requests


class SharedRollout:
    """What a replica needs to take part: the lease, the evidence table, its own name, and the
    calls it saw since its last flush."""

    def __init__(self, lease, evidence: EvidenceStore, replica: str):
        self.lease, self.evidence, self.replica = lease, evidence, replica
        self._pending: list[tuple[str, int, Call]] = []
        self._lock = threading.Lock()

    def record(self, version: str, step: int, call: Call) -> None:
        with self._lock:
            self._pending.append((version, step, call))

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
        by_step: dict[tuple[str, int], list[Call]] = {}
        for version, step, call in pending:
            by_step.setdefault((version, step), []).append(call)
        for (version, step), calls in by_step.items():
            self.evidence.append(version, step, self.replica, calls)


def shared_rollout(settings) -> SharedRollout:
    """The profile's lease and evidence table: a lock file and SQLite beside the project's data,
    or a Postgres advisory lock and the warehouse database."""
    import os
    import socket

    replica = f"{socket.gethostname()}:{os.getpid()}"
    if settings.profile == "cluster":
        url = settings.database_url("warehouse")
        return SharedRollout(PostgresLease(url), EvidenceStore(url), replica)
    folder = Path(settings.data_dir)
    return SharedRollout(
        FileLease(folder / "rollout.lease"),
        EvidenceStore(f"sqlite:///{folder / 'rollout_evidence.sqlite'}"),
        replica,
    )
