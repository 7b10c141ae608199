"""Brings a fresh checkout to a state worth looking at: simulated exports, the Feast repo
applied, and the daily cycle run for each demo day that is not materialized yet. Runs
in-process on the project's Dagster instance, so every run shows in the UI and heavy
imports are paid once. A second call does nothing that is already done."""

from __future__ import annotations

import time

import dagster as dg

from ml_assets.settings import get_settings


def bootstrap(days: int) -> None:
    from ml_assets.definitions import defs
    from ml_assets.defs.ingest.landing import simulate_to_landing

    settings = get_settings()
    written = simulate_to_landing(settings, range(days))
    print(f"[bootstrap] landing data: {len(written)} new day(s) simulated into {settings.landing_dir}")

    definitions = defs()
    with dg.DagsterInstance.get() as instance:
        apply_job = definitions.resolve_job_def("feast_apply_job")
        # cheap, and picks up any edit of feature_repo/
        apply_job.execute_in_process(instance=instance)
        print("[bootstrap] feast apply done")

        job = definitions.resolve_job_def("daily_cycle")
        done = instance.get_materialized_partitions(dg.AssetKey("merchant_risk"))
        todo = [settings.day(i).isoformat() for i in range(days) if settings.day(i).isoformat() not in done]
        for key in todo:
            started = time.monotonic()
            result = job.execute_in_process(partition_key=key, instance=instance, raise_on_error=False)
            status = "ok" if result.success else "FAILED"
            print(f"[bootstrap] daily_cycle {key}: {status} in {time.monotonic() - started:.1f}s")
            if not result.success:
                raise SystemExit(f"daily_cycle failed for {key}: open the run in the Dagster UI for details")
        print(f"[bootstrap] features ready: {days} day(s); {len(todo)} materialized now")

        from ml_assets.defs.registry.mlflow_resource import CHAMPION, MLflowResource

        if MLflowResource.from_settings(settings).version_by_alias(CHAMPION) is None:
            started = time.monotonic()
            result = definitions.resolve_job_def("train_and_promote").execute_in_process(instance=instance)
            if not result.success:
                raise SystemExit("train_and_promote failed: open the run in the Dagster UI for details")
            print(f"[bootstrap] champion trained and registered in {time.monotonic() - started:.1f}s")
        last = settings.day(days - 1).isoformat()
        if last not in instance.get_materialized_partitions(dg.AssetKey("predictions")):
            result = definitions.resolve_job_def("score_day").execute_in_process(partition_key=last, instance=instance)
            if not result.success:
                raise SystemExit(f"score_day failed for {last}: open the run in the Dagster UI for details")
            print(f"[bootstrap] predictions for {last} written to {settings.warehouse_path}")
