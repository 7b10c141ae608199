"""Prometheus metrics of the scoring service (prometheus_client, one registry per app), and
a pure ASGI middleware that counts and times every request. Starlette's BaseHTTPMiddleware
costs several times the throughput on 2 cores, hence plain ASGI.

Importing Feast sets PROMETHEUS_MULTIPROC_DIR (feast/metrics.py), which would switch
prometheus_client to multi-process files if it were imported after Feast; this module is
imported first (Feast only loads in the app's lifespan), so values stay in-process."""

from __future__ import annotations

import os
import re
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

PREFIX = "ml_assets_serving"
# sub-millisecond resolution where single requests land, up to a second for batches
LATENCY_BUCKETS = (
    0.0002,
    0.0004,
    0.0006,
    0.0008,
    0.001,
    0.0015,
    0.002,
    0.003,
    0.005,
    0.0075,
    0.01,
    0.02,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
)
SCORE_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1.0)
KNOWN_PATHS = {
    "/v1/score",
    "/v1/score/batch",
    "/v1/models",
    "/v1/rollout",
    "/v1/rollout/abort",
    "/v1/rollout/promote",
    "/healthz",
    "/readyz",
    "/metrics",
    "/v2",
    "/v2/health/live",
    "/v2/health/ready",
}

# the V2 routes by their template: a model's name in the path is no label of its own
V2_PATH = re.compile(r"^/v2/models/[^/]+(/ready|/infer)?$")


def forget_feast_multiproc_dir() -> None:
    """Once Feast is loaded: its PROMETHEUS_MULTIPROC_DIR came after these metrics were made in
    process, yet prometheus_client warns on every label removal while it is set (a line in the
    service's log at each alias move)."""
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)


def _endpoint(path: str) -> str:
    if path in KNOWN_PATHS:
        return path
    if (v2 := V2_PATH.match(path)) is not None:
        return "/v2/models/{name}" + (v2.group(1) or "")
    return "other"


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            f"{PREFIX}_http_requests_total",
            "HTTP requests by endpoint, method and status",
            ["endpoint", "method", "status"],
            registry=r,
        )
        self.latency = Histogram(
            f"{PREFIX}_http_request_duration_seconds",
            "HTTP request latency by endpoint",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.predictions = Counter(
            f"{PREFIX}_predictions_total",
            "Predictions by model version, arm and decision",
            ["model_version", "arm", "decision"],
            registry=r,
        )
        self.scores = Histogram(
            f"{PREFIX}_prediction_score",
            "Distribution of fraud scores by model version",
            ["model_version"],
            buckets=SCORE_BUCKETS,
            registry=r,
        )
        self.missing = Counter(
            f"{PREFIX}_missing_features_total",
            "Requests scored without a view's online row (unknown entity), by view",
            ["view"],
            registry=r,
        )
        self.stale = Counter(
            f"{PREFIX}_stale_features_total",
            "Requests whose view row was older than the view's TTL, by view",
            ["view"],
            registry=r,
        )
        self.feature_age = Gauge(
            f"{PREFIX}_feature_age_seconds",
            "Age of the newest online row served, at the transaction's time, by view",
            ["view"],
            registry=r,
        )
        self.reloads = Counter(
            f"{PREFIX}_model_reloads_total", "Model swaps after an alias moved", ["alias"], registry=r
        )
        self.model_info = Gauge(
            f"{PREFIX}_model_info",
            "1 for the version that serves an alias",
            ["alias", "model_version"],
            registry=r,
        )
        self.model_loaded = Gauge(
            f"{PREFIX}_model_loaded_timestamp_seconds",
            "When the serving version was loaded",
            ["alias"],
            registry=r,
        )
        self.queue_depth = Gauge(
            f"{PREFIX}_prediction_log_queue_depth", "Predictions waiting to be logged", registry=r
        )
        self.log_written = Counter(
            f"{PREFIX}_prediction_log_written_total", "Predictions written to the log", registry=r
        )
        self.rollout_step = Gauge(
            f"{PREFIX}_rollout_step", "Step of the challenger's rollout (-1: no rollout)", registry=r
        )
        self.rollout_share = Gauge(
            f"{PREFIX}_rollout_traffic_share",
            "Challenger's share: of customers it answers (canary), of requests it scores unseen (shadow)",
            ["mode"],
            registry=r,
        )
        self.rollout_verdicts = Counter(
            f"{PREFIX}_rollout_verdicts_total", "Rollout step verdicts by outcome", ["outcome"], registry=r
        )
        self.rollout_evidence = Gauge(
            f"{PREFIX}_rollout_evidence",
            "The paired numbers of the latest judged rollout window, by name",
            ["name"],
            registry=r,
        )
        self.rollout_aborts = Counter(
            f"{PREFIX}_rollout_aborts_total", "Rollouts aborted (challenger rolled back)", registry=r
        )
        self.rollout_promotions = Counter(
            f"{PREFIX}_rollout_promotions_total", "Rollouts completed (challenger promoted)", registry=r
        )
        self.log_dropped = Counter(
            f"{PREFIX}_prediction_log_dropped_total",
            "Predictions dropped because the log queue was full",
            registry=r,
        )


class MetricsMiddleware:
    """Counts and times each HTTP request by endpoint (unknown paths folded into one label,
    so a client cannot grow the metric's cardinality)."""

    def __init__(self, app, metrics: ServiceMetrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        endpoint = _endpoint(scope["path"])
        status = {"code": 500}
        started = time.perf_counter()

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.metrics.latency.labels(endpoint).observe(time.perf_counter() - started)
            self.metrics.requests.labels(endpoint, scope["method"], str(status["code"])).inc()
