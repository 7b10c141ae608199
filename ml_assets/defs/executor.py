"""The executor of every job. In the embedded profile, Dagster's multiprocess executor: a
process per step, forked from a forkserver that imported the heavy libraries once per run. In the
cluster profile, Celery workers on RabbitMQ (dagster-celery), started by ``ml-assets cluster up``
or by hand on any host that sees the same instance (docs/cluster.md)."""

from __future__ import annotations

import dagster as dg

from ml_assets.core.engines import celery_config
from ml_assets.core.settings import Settings

# What every step of the project imports, and the definitions it loads: loaded once per run by the
# forkserver, each step forked from it, instead of imported and built again in each step's fresh
# process, seconds of CPU per step before its first line (BENCHMARKS.md)
PRELOADED = [
    "dagster",
    "ml_assets.definitions",
    "pandas",
    "pyarrow",
    "duckdb",
    "feast",
    "lightgbm",
    "nannyml",
    "mlflow",
    "alembic",  # Dagster's SQL storages import it as each step opens the instance
    "ml_assets.prebuilt",  # last: the definitions, built with the libraries above in place
]


def executor_for(settings: Settings) -> dg.ExecutorDefinition | None:
    if settings.profile != "cluster":
        return dg.multiprocess_executor.configured(
            {"start_method": {"forkserver": {"preload_modules": PRELOADED}}}, name="multiprocess"
        )
    from dagster_celery import celery_executor

    return celery_executor.configured(celery_config(settings), name="celery_cluster")
