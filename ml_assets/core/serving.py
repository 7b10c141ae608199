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

from ml_assets.core.features.contract import model_matrix, raw_columns, txn_hour
from ml_assets.core.features.online_read import OnlineFeatureReader
from ml_assets.core.features.store import FeatureRepo
from ml_assets.core.model_store import CHAMPION, ModelStore
from ml_assets.core.scoring import ServingModel
from ml_assets.core.warehouse import PREDICTION_LOG, Warehouse

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class OnlineScore:
    transaction_id: str
    score: float
    decision: bool
    model_version: str
    arm: str
    feature_age_seconds: dict[str, float | None]  # per view; None when the entity has no row
    missing_views: list[str]  # views with no online row for this entity (scored with missing features)
    stale_views: list[str]  # views whose row is older than the view's TTL at the transaction's time


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
        model = ServingModel.by_alias(self.store, self.alias)
        model.predict(np.zeros((1, self.n_features)))  # warm-up: the first call builds LightGBM's state
        return model

    def poll(self) -> bool:
        """Load the aliased version if it changed; True when it swapped."""
        version = self.store.alias_version(self.alias)
        if version is None or (self.current is not None and version == self.current.version):
            return False
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


class OnlineScorer:
    """Scores transactions as they happen, on the same feature service and the same input
    encoding as training and batch scoring."""

    def __init__(self, repo: FeatureRepo, watcher: ModelWatcher, model_name: str):
        self.specs = repo.specs
        self.reader = OnlineFeatureReader(repo.store(), self.specs)
        self.features = self.specs.model_features()
        self.raw = raw_columns(self.specs)
        self.ttl = {v.name: v.ttl.total_seconds() for v in self.specs.FEATURE_VIEWS}
        self.watcher, self.model_name = watcher, model_name

    def warm_up(self) -> None:
        """One real read and prediction, so the first request pays no first-call costs."""
        now = dt.datetime.now(dt.UTC)
        self.score(
            [
                {
                    "transaction_id": "warm-up",
                    "customer_id": 0,
                    "merchant_id": 0,
                    "amount": 1.0,
                    "channel": "in_store",
                    "timestamp": now,
                }
            ]
        )

    def score(self, transactions: list[dict]) -> tuple[list[OnlineScore], list[dict]]:
        """Scores and prediction-log rows for transactions (dicts with transaction_id,
        customer_id, merchant_id, amount, channel and an aware ``timestamp``)."""
        started = time.perf_counter()
        model = self.watcher.current  # one model for the whole call, even if a swap happens now
        if model is None:
            raise RuntimeError("no model loaded yet")
        when = [t["timestamp"] for t in transactions]
        hours = txn_hour(when)
        rows = [
            {
                "customer_id": t["customer_id"],
                "merchant_id": t["merchant_id"],
                "amount": float(t["amount"]),
                "channel": t["channel"],
                "txn_hour": float(h),
            }
            for t, h in zip(transactions, hours, strict=True)
        ]
        served = self.reader.read(rows)
        matrix = model_matrix(served.values, self.specs)
        scores = model.predict(matrix)
        latency = time.perf_counter() - started
        results, log_rows = [], []
        for i, t in enumerate(transactions):
            at = t["timestamp"].timestamp()
            ages = {v: (at - ts[i] if ts[i] > 0 else None) for v, ts in served.view_timestamps.items()}
            result = OnlineScore(
                transaction_id=t["transaction_id"],
                score=float(scores[i]),
                decision=bool(scores[i] > model.threshold),
                model_version=model.version,
                arm="champion",
                feature_age_seconds=ages,
                missing_views=[v for v, age in ages.items() if age is None],
                stale_views=[v for v, age in ages.items() if age is not None and not 0 <= age < self.ttl[v]],
            )
            results.append(result)
            log_rows.append(
                {
                    "transaction_id": t["transaction_id"],
                    "event_timestamp": t["timestamp"],
                    "score": result.score,
                    "decision": result.decision,
                    "model_name": self.model_name,
                    "model_version": model.version,
                    **{f: matrix[i, j] for j, f in enumerate(self.features)},
                    **{r: served.values[r.removesuffix("_raw")][i] for r in self.raw},
                    "partition_date": t["timestamp"].date(),
                    "source": "online",
                    "arm": result.arm,
                    "latency_seconds": latency,
                }
            )
        return results, log_rows


class PredictionLogWriter:
    """Writes online predictions to the prediction log in batches, on its own thread. The
    queue is bounded: when it is full a prediction is dropped and counted, never blocking a
    request. ``stop`` drains the queue, so a graceful shutdown loses nothing accepted."""

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
        self.retry_seconds = retry_seconds
        self.on_write, self.on_drop = on_write, on_drop
        self.queue: queue.Queue[dict] = queue.Queue(maxsize=capacity)
        self.written = self.dropped = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def offer(self, rows: list[dict]) -> None:
        for row in rows:
            try:
                self.queue.put_nowait(row)
            except queue.Full:
                self.dropped += 1
                if self.on_drop:
                    self.on_drop(1)

    def _take(self, wait: float) -> list[dict]:
        batch: list[dict] = []
        deadline = time.monotonic() + wait
        while len(batch) < self.batch_rows:
            remaining = deadline - time.monotonic()
            try:
                batch.append(
                    self.queue.get(timeout=max(remaining, 0)) if remaining > 0 else self.queue.get_nowait()
                )
            except queue.Empty:
                break
        return batch

    def _write(self, batch: list[dict]) -> None:
        """Append a batch, retrying while the file is busy (DuckDB takes one writer: batch
        scoring or monitoring may hold it); a batch that still fails after ``retry_seconds``
        is dropped and counted rather than blocking the log for good."""
        frame = pd.DataFrame(batch)
        frame["scored_at"] = pd.Timestamp.now(tz="UTC")
        deadline, delay = time.monotonic() + self.retry_seconds, 0.05
        while True:
            try:
                self.warehouse.append(PREDICTION_LOG, frame)
                break
            except Exception as exc:
                if time.monotonic() > deadline:
                    log.error("dropping %d predictions: the log did not accept them (%s)", len(batch), exc)
                    self.dropped += len(batch)
                    if self.on_drop:
                        self.on_drop(len(batch))
                    return
                log.warning("prediction log busy (%s); retrying in %.2f s", type(exc).__name__, delay)
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
        self.written += len(batch)
        if self.on_write:
            self.on_write(len(batch))

    def start(self) -> None:
        def loop():
            while not self._stop.is_set():
                batch = self._take(self.flush_seconds)
                if batch:
                    self._write(batch)
            while batch := self._take(0):  # drain what was accepted before the stop
                self._write(batch)

        self._thread = threading.Thread(target=loop, name="prediction-log", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 60) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=timeout)
