"""Brings a fresh checkout to a state worth looking at: a short replay of the production
loop on the stable scenario (simulated exports, features, a champion in MLflow, a week
of predictions monitored by NannyML, the retrain sensor evaluated each day), all as runs
in the project's Dagster instance. A second call finds it done and returns at once."""

from __future__ import annotations

import dagster as dg

from ml_assets.core.settings import Settings


def is_done(instance: dg.DagsterInstance, settings: Settings, days: int) -> bool:
    last = settings.day(days - 1).isoformat()
    return last in instance.get_materialized_partitions(dg.AssetKey("estimated_performance"))


def bootstrap(settings: Settings, days: int) -> None:
    from ml_assets.defs.resources import create_pool_slots
    from ml_assets.replay import replay

    with dg.DagsterInstance.get() as instance:
        create_pool_slots(instance)  # before the first runs, which would race to create them
        if is_done(instance, settings, days):
            print(
                f"[bootstrap] already done: {days} demo days are materialized (make clean-data to start over)"
            )
            return
    replay(settings, days, fresh=False)
