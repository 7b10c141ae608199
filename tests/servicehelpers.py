"""A served world for the online-service tests: a small lake, a champion in MLflow, the
online store loaded for the last day, and the real service started with `ml-assets serve`
in its own process on a free loopback port."""

from __future__ import annotations

from ml_assets.serving.process import ServiceProcess, free_port, request_body

__all__ = ["SERVED_WORLD", "Service", "free_port", "transaction"]

# the small served world of the service and rollout tests
SERVED_WORLD = {
    "rows_per_day": 2000,
    "n_customers": 2000,
    "n_merchants": 200,
    "training_window_days": 10,
    "validation_days": 3,
}


class Service(ServiceProcess):
    """The service with a fast alias poll, so tests see registry moves within a second."""

    def __init__(self, settings, port: int, extra_env: dict | None = None):
        super().__init__(settings, port, {"ML_ASSETS_SERVE_RELOAD_SECONDS": "0.5", **(extra_env or {})})


def transaction(row, **overrides) -> dict:
    return request_body(row, **overrides)
