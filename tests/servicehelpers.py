"""A served world for the online-service tests: a small lake, a champion in MLflow, the
online store loaded for the last day, and the real service started with `ml-assets serve`
in its own process on a free loopback port."""

from __future__ import annotations

from ml_assets.serving.process import ServiceProcess, free_port

__all__ = ["Service", "free_port", "transaction"]


class Service(ServiceProcess):
    """The service with a fast alias poll, so tests see registry moves within a second."""

    def __init__(self, settings, port: int, extra_env: dict | None = None):
        super().__init__(settings, port, {"ML_ASSETS_SERVE_RELOAD_SECONDS": "0.5", **(extra_env or {})})


def transaction(row, **overrides) -> dict:
    return {
        "transaction_id": str(row.transaction_id),
        "customer_id": int(row.customer_id),
        "merchant_id": int(row.merchant_id),
        "amount": float(row.amount),
        "channel": str(row.channel),
        "timestamp": row.event_timestamp.isoformat(),
        **overrides,
    }
