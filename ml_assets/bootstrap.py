"""Brings a fresh checkout to a state worth looking at: a short replay of the production
loop on the stable scenario (simulated exports, features, a champion in MLflow, a week
of predictions monitored by NannyML, the retrain sensor evaluated each day), all as runs
in the project's Dagster instance. A second call finds it done and returns at once."""

from __future__ import annotations

import dagster as dg

from ml_assets.core.settings import Settings


def is_done(instance: dg.DagsterInstance, settings: Settings, days: int) -> bool:
    from ml_assets.defs.keys import key

    last = settings.day(days - 1).isoformat()
    return last in instance.get_materialized_partitions(key("estimated_performance"))


def bootstrap(settings: Settings, days: int) -> None:
    from ml_assets.defs.resources import create_pool_slots
    from ml_assets.replay import replay

    with dg.DagsterInstance.get() as instance:
        create_pool_slots(instance)  # before the first runs, which would race to create them
        done = is_done(instance, settings, days)
    if done:
        print(f"[bootstrap] already done: {days} demo days are materialized (make clean-data to start over)")
    else:
        replay(settings, days, fresh=False)
    print(summary(settings), flush=True)


def summary(settings: Settings, ui_port: int = 3000) -> str:
    """Where to look next, once the demo world is there."""
    from ml_assets.replay import world_name

    reports = settings.reports_dir
    return "\n".join(
        [
            "",
            "[bootstrap] ready:",
            f"  Dagster UI          http://127.0.0.1:{ui_port} (starting now: asset lineage, runs, checks)",
            f"  scoring service     make serve -> http://{settings.serve_host}:{settings.serve_port}/docs",
            "  MLflow registry     make mlflow-ui -> http://127.0.0.1:5000",
            f"  monitoring reports  {reports / 'rolling.html'} and {reports / 'daily'}/",
            f"  replay plot         {reports / f'replay_{world_name(settings)}.png'}",
            "",
        ]
    )
