"""The executor of every job: Dagster's default (a process per step) in the embedded profile;
in the cluster profile, Celery workers on RabbitMQ (dagster-celery), started by
``ml-assets cluster up`` or by hand on any host that sees the same instance (docs/cluster.md)."""

from __future__ import annotations

import dagster as dg

from ml_assets.core.engines import celery_config
from ml_assets.core.settings import Settings


def executor_for(settings: Settings) -> dg.ExecutorDefinition | None:
    if settings.profile != "cluster":
        return None
    from dagster_celery import celery_executor

    return celery_executor.configured(celery_config(settings), name="celery_cluster")
