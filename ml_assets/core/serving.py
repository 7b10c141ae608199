"""Online scoring, without any web framework: the feature service's values from Feast's
online store (online_read.py), the champion's native booster, a watcher that swaps to a new champion
atomically after a warm-up, and a bounded queue that writes online predictions to the same
prediction log as batch scoring, off the request path."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import queue
import threading
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from ml_assets.core.features.contract import (
    EVENT_ID,
    EVENT_TIME,
    HOUR_FIELDS,
    RAW_SUFFIX,
    SPINE,
    model_matrix,
    raw_columns,
    request_hours,
)
from ml_assets.core.features.online_read import OnlineFeatureReader
from ml_assets.core.features.store import FeatureRepo
from ml_assets.core.model_store import CHAMPION, ModelStore
from ml_assets.core.problem import process_problem
from ml_assets.core.problem.spec import REQUEST_TIMESTAMP as TIMESTAMP
from ml_assets.core.registry.operating_point import THRESHOLD_TAG
from ml_assets.core.rollout import CANARY_ARM, CHAMPION_ARM, SHADOW_ARM, RolloutController
from ml_assets.core.scoring import ServingModel
from ml_assets.core.timestamps import utc_times
from ml_assets.core.warehouse import PREDICTION_LOG, Warehouse

log = logging.getLogger(__name__)

# the spine column the canary splits traffic by (a card fraud customer: all of a card's requests
# go to one arm); an event is a dict keyed by the spine's columns, its time under TIMESTAMP
HASH_KEY = process_problem().serving.hash_key


@dataclasses.dataclass(frozen=True)
class OnlineScore:
    event_id: str | int
    score: float
    decision: bool
    model_version: str
    arm: str
    feature_age_seconds: dict[str, float | None]  # per view; None when the entity has no row
    missing_views: list[str]  # views with no online row for this entity (scored with missing features)
    stale_views: list[str]  # views whose row is older than the view's TTL at the transaction's time


def warm(model: ServingModel, n_features: int) -> ServingModel:
    """``model`` after one prediction: the first call builds LightGBM's state."""
    model.predict(np.zeros((1, n_features)))
    return model


class ModelWatcher:
    """Holds the model that serves an alias; ``poll`` swaps to a newly aliased version after
    loading it and running a warm-up prediction, in one reference assignment, so a request
    sees either the old or the new model, whole."""

    def __init__(
        self,
        store: ModelStore,
        n_features: int,
        alias: str = CHAMPION,
        on_swap: Callable[[ServingModel], None] | None = None,
    ):
        self.store, self.alias, self.n_features, self.on_swap = store, alias, n_features, on_swap
        self.current: ServingModel | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _load(self) -> ServingModel:
        return warm(ServingModel.by_alias(self.store, self.alias), self.n_features)

    def poll(self) -> bool:
        """Load the aliased version if it changed, or take its new decision threshold (a re-fit
        or its rollback, registry/operating_point.py) with the booster already loaded; True when
        it swapped."""
        found = self.store.version_by_alias(self.alias)
        if found is None:
            return False
        current = self.current
        if current is not None and str(found.version) == current.version:
            threshold = float(found.tags[THRESHOLD_TAG])
            if threshold == current.threshold:
                return False
            model = dataclasses.replace(current, threshold=threshold)
        else:
            model = self._load()
        self.current = model
        if self.on_swap:
            self.on_swap(model)
        return True

    def start(self, interval_seconds: float, after_poll: Callable[[], None] | None = None) -> None:
        def loop():
            while not self._stop.wait(interval_seconds):
                try:
                    self.poll()
                    if after_poll:
                        after_poll()
                except Exception:  # a failed reload keeps the serving model; the next poll retries
                    log.exception(
                        "reloading the %s model failed; still serving %s",
                        self.alias,
                        self.current.version if self.current else None,
                    )

        self._thread = threading.Thread(target=loop, name=f"watch-{self.alias}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)


class FeaturesUnavailable(RuntimeError):
    """The online store did not answer (down, restarting, unreachable): no request's fault, and
    no bug; the service answers 503 and its readiness says so until a read succeeds again."""


def _unreachable_errors() -> tuple[type[BaseException], ...]:
    import sqlite3

    errors: tuple[type[BaseException], ...] = (OSError, sqlite3.OperationalError)
    try:
        import redis

        errors += (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
    except ImportError:  # the embedded profile needs no Redis client
        pass
    return errors


class OnlineScorer:
    """Scores transactions as they happen, on the same feature service and the same input
    encoding as training and batch scoring, with the arms the rollout controller routes."""

    def __init__(
        self, repo: FeatureRepo, controller: RolloutController, model_name: str, cache_rows: int = 0
    ):
        self.specs = repo.specs
        self.reader = OnlineFeatureReader(repo.store(), self.specs, cache_rows)
        self.features = self.specs.model_features()
        self.raw = raw_columns(self.specs)
        self.raw_sources = [r.removesuffix(RAW_SUFFIX) for r in self.raw]  # the served strings
        self.ttl = {v.name: v.ttl.total_seconds() for v in self.specs.FEATURE_VIEWS}
        self.controller, self.model_name = controller, model_name
        self._unreachable = _unreachable_errors()

    def read(self, rows: list[dict]):
        try:
            return self.reader.read(rows)
        except self._unreachable as exc:
            raise FeaturesUnavailable(
                f"the online feature store is unreachable ({type(exc).__name__}: {exc}); answers resume "
                "by themselves once it is back"
            ) from exc

    def probe(self) -> None:
        """One read of an entity no one has: raises FeaturesUnavailable while the store is down."""
        self.read(
            [{**dict.fromkeys(SPINE.keys, -1), **_placeholder_request(), **dict.fromkeys(HOUR_FIELDS, 0.0)}]
        )

    def warm_up(self) -> None:
        """One real read and prediction, so the first request pays no first-call costs."""
        event = {
            **_placeholder_request(),
            **dict.fromkeys(SPINE.keys, 0),
            EVENT_ID: "warm-up" if SPINE.types[EVENT_ID] == "str" else 0,
            TIMESTAMP: dt.datetime.now(dt.UTC),
        }
        self.score([event], observe=False)

    def score(self, transactions: list[dict], observe: bool = True) -> tuple[list[OnlineScore], LogBatch]:
        """Scores and prediction-log rows for events (dicts with the spine's id, entity keys and
        request columns, and an aware ``timestamp``; card fraud's transactions). During a
        rollout the challenger scores its rows too: it answers the canary customers, and its
        score of the others (or the champion's of the canary ones) is logged as ``shadow``."""
        started = time.perf_counter()
        routing = self.controller.routing  # one routing for the whole call, whatever changes meanwhile
        if routing is None:
            raise RuntimeError("no model loaded yet")
        hours = request_hours([t[TIMESTAMP] for t in transactions])
        rows = [
            {
                **{k: t[k] for k in SPINE.keys},
                **{c: _request_value(t[c], SPINE.types[c]) for c in SPINE.request},
                **{field: float(values[i]) for field, values in hours.items()},
            }
            for i, t in enumerate(transactions)
        ]
        served = self.read(rows)
        matrix = model_matrix(served.values, self.specs)
        champion = routing.champion
        tick = time.perf_counter()
        champion_scores = champion.predict(matrix)
        champion_seconds = time.perf_counter() - tick
        canary = np.zeros(len(transactions), dtype=bool)
        paired = canary
        challenger_scores, challenger_seconds, attempted = None, None, False
        if routing.challenger is not None:
            canary = np.array([routing.canary(t[HASH_KEY]) for t in transactions])
            paired = canary | np.array([routing.shadowed(t[EVENT_ID]) for t in transactions])
            if paired.any():
                attempted, tick = True, time.perf_counter()
                try:
                    challenger_scores = routing.challenger.predict(matrix[paired])
                    challenger_seconds = time.perf_counter() - tick
                except Exception:  # the champion answers instead; the controller counts the error
                    log.exception("challenger %s failed to score", routing.challenger.version)
                    canary, paired, challenger_seconds = canary & False, paired & False, None
            if observe and attempted:
                self.controller.observe(
                    routing,
                    champion_scores[paired],
                    challenger_scores if challenger_scores is not None else np.empty(0),
                    int(canary.sum()),
                    champion_seconds,
                    challenger_seconds,
                )
        other = np.full(len(transactions), np.nan)
        if challenger_scores is not None:
            other[paired] = challenger_scores
        latency = time.perf_counter() - started
        stamps = {v: ts.tolist() for v, ts in served.view_timestamps.items()}
        champion_list, other_list = champion_scores.tolist(), other.tolist()
        canary_list = canary.tolist()
        results = []
        for i, t in enumerate(transactions):
            at = t[TIMESTAMP].timestamp()
            ages = {v: (at - ts[i] if ts[i] > 0 else None) for v, ts in stamps.items()}
            model, score, arm = (
                (routing.challenger, other_list[i], CANARY_ARM)
                if canary_list[i]
                else (champion, champion_list[i], CHAMPION_ARM)
            )
            results.append(
                OnlineScore(
                    event_id=t[EVENT_ID],
                    score=score,
                    decision=score > model.threshold,
                    model_version=model.version,
                    arm=arm,
                    feature_age_seconds=ages,
                    missing_views=[v for v, age in ages.items() if age is None],
                    stale_views=[
                        v for v, age in ages.items() if age is not None and not 0 <= age < self.ttl[v]
                    ],
                )
            )
        answered = self._log_batch(transactions, matrix, served.values, results, latency)
        if not paired.any():
            return results, answered
        # what the other arm said of the same requests, unseen by the clients
        shadowed = [i for i, p in enumerate(paired.tolist()) if p]
        unseen = [
            (champion, champion_list[i]) if canary_list[i] else (routing.challenger, other_list[i])
            for i in shadowed
        ]
        shadow = self._log_batch(
            [transactions[i] for i in shadowed],
            matrix[shadowed],
            {r: [served.values[r][i] for i in shadowed] for r in self.raw_sources},
            [
                OnlineScore(
                    transactions[i][EVENT_ID], sc, sc > m.threshold, m.version, SHADOW_ARM, {}, [], []
                )
                for i, (m, sc) in zip(shadowed, unseen, strict=True)
            ],
            latency,
        )
        return results, LogBatch.concat([answered, shadow])

    def _log_batch(
        self,
        transactions: list[dict],
        matrix: np.ndarray,
        served: dict,
        scores: list[OnlineScore],
        latency: float,
    ) -> LogBatch:
        """Prediction-log rows by column: the features straight from the model's matrix (a dict
        per row cost more than the prediction of a batch; measured, bench-serve)."""
        columns: dict[str, list | np.ndarray] = {
            EVENT_ID: [t[EVENT_ID] for t in transactions],
            EVENT_TIME: [t[TIMESTAMP] for t in transactions],
            "score": [r.score for r in scores],
            "decision": [r.decision for r in scores],
            "model_name": [self.model_name] * len(scores),
            "model_version": [r.model_version for r in scores],
        }
        columns |= {feature: matrix[:, j] for j, feature in enumerate(self.features)}
        columns |= {raw: served[source] for raw, source in zip(self.raw, self.raw_sources, strict=True)}
        columns |= {
            "partition_date": [t[TIMESTAMP].date() for t in transactions],
            "source": ["online"] * len(scores),
            "arm": [r.arm for r in scores],
            "latency_seconds": [latency] * len(scores),
        }
        return LogBatch(columns, len(scores))


@dataclasses.dataclass(frozen=True)
class LogBatch:
    """Rows of the prediction log, by column (a list or an array per column, ``rows`` long)."""

    columns: dict[str, list | np.ndarray]
    rows: int

    @classmethod
    def of_rows(cls, rows: list[dict]) -> LogBatch:
        return cls({name: [row[name] for row in rows] for name in rows[0]} if rows else {}, len(rows))

    def column(self, name: str) -> list:
        values = self.columns[name]
        return values.tolist() if isinstance(values, np.ndarray) else values

    @classmethod
    def concat(cls, batches: list[LogBatch]) -> LogBatch:
        """One batch of many, column by column: a frame per request, then one concat, cost
        the service half its throughput on single requests (measured: bench-serve)."""
        columns: dict[str, list | np.ndarray] = {}
        for name, first in batches[0].columns.items():
            parts = [b.columns[name] for b in batches]
            if isinstance(first, np.ndarray):
                columns[name] = np.concatenate(parts)
            else:
                columns[name] = [value for part in parts for value in part]
        return cls(columns, sum(b.rows for b in batches))


class PredictionLogWriter:
    """Writes online predictions to the prediction log in batches, on its own thread. The
    queue is bounded in rows: a request's rows that do not fit are dropped and counted, never
    blocking a request. ``stop`` drains the queue, so a graceful shutdown loses nothing accepted."""

    def __init__(
        self,
        warehouse: Warehouse,
        capacity: int,
        batch_rows: int,
        flush_seconds: float,
        on_write: Callable[[int], None] | None = None,
        on_drop: Callable[[int], None] | None = None,
        retry_seconds: float = 120.0,
    ):
        self.warehouse, self.batch_rows, self.flush_seconds = warehouse, batch_rows, flush_seconds
        self.capacity, self.retry_seconds = capacity, retry_seconds
        self.on_write, self.on_drop = on_write, on_drop
        self.queue: queue.SimpleQueue[LogBatch] = queue.SimpleQueue()
        self.queued = self.written = self.dropped = 0  # rows
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def offer(self, batch: LogBatch) -> None:
        with self._lock:
            fits = self.queued + batch.rows <= self.capacity
            if fits:
                self.queued += batch.rows
            else:
                self.dropped += batch.rows
        if fits:
            self.queue.put_nowait(batch)
        elif self.on_drop:
            self.on_drop(batch.rows)

    def _take(self) -> list[LogBatch]:
        """Queued batches up to about ``batch_rows`` rows, without waiting."""
        batches, rows = [], 0
        while rows < self.batch_rows:
            try:
                batch = self.queue.get_nowait()
            except queue.Empty:
                break
            batches.append(batch)
            rows += batch.rows
        with self._lock:
            self.queued -= rows
        return batches

    def _write(self, batches: list[LogBatch]) -> None:
        """Append batches, retrying while the file is busy (DuckDB takes one writer: batch
        scoring or monitoring may hold it); rows that still fail after ``retry_seconds`` are
        dropped and counted rather than blocking the log for good."""
        columns = LogBatch.concat(batches).columns
        # typed in one call: pandas inferring aware datetimes one by one held the GIL, and the
        # service's requests wait while this thread holds it (bench-serve's p99, BENCHMARKS.md)
        frame = pd.DataFrame(columns | {EVENT_TIME: utc_times(columns[EVENT_TIME])})
        frame["scored_at"] = pd.Timestamp.now(tz="UTC")
        rows = len(frame)
        deadline, delay = time.monotonic() + self.retry_seconds, 0.05
        while True:
            try:
                self.warehouse.append(PREDICTION_LOG, frame)
                break
            except Exception as exc:
                if time.monotonic() > deadline:
                    log.error("dropping %d predictions: the log did not accept them (%s)", rows, exc)
                    self.dropped += rows
                    if self.on_drop:
                        self.on_drop(rows)
                    return
                log.warning("prediction log busy (%s); retrying in %.2f s", type(exc).__name__, delay)
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
        self.written += rows
        if self.on_write:
            self.on_write(rows)

    def start(self) -> None:
        def loop():
            # the writer wakes on a timer and drains what queued meanwhile: waiting on the queue
            # itself would wake this thread for every request's rows, and each wake-up takes
            # the GIL from the request path (measured: ~10% of the service's samples)
            full = False
            while full or not self._stop.wait(self.flush_seconds):
                batch = self._take()
                full = sum(b.rows for b in batch) >= self.batch_rows  # more waiting: no pause
                if batch:
                    self._write(batch)
            while batch := self._take():  # drain what was accepted before the stop
                self._write(batch)

        self._thread = threading.Thread(target=loop, name="prediction-log", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 60) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=timeout)


def _request_value(value, kind: str):
    """A request column as the request source takes it: text as it is, any other as a number
    (Feast's request fields are Float64 but for text)."""
    return value if kind == "str" or value is None else float(value)


def _placeholder_request() -> dict:
    """A request's columns filled with a value of each one's type (a probe, a warm-up)."""
    return {c: "" if SPINE.types[c] == "str" else 1.0 for c in SPINE.request}
