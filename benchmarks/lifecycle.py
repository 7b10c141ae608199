"""Benchmarks of training, scoring and monitoring.

- training-set build + train + log/register (MLflow) + monitor fitting at 100k and 1M rows
- batch scoring rows/s through the pipeline vs the bare LightGBM booster on the same rows
- NannyML monitoring of one partition of 100k and 1M predictions (time, peak RSS)
- retrain sensor tick time over a year of estimate events

    .venv/bin/python -m benchmarks.lifecycle
"""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import append_report, measure, settings_at

WINDOW = 10  # training days; the simulator runs 30 more before them so features are warm


def _settings(path: Path, rows: int):
    return settings_at(
        path,
        rows_per_day=rows // WINDOW,
        training_window_days=WINDOW,
        validation_days=2,
        n_customers=20_000,
        n_merchants=2_000,
    )


def _parts(s):
    from ml_assets.core.features.store import FeatureRepo
    from ml_assets.core.model_store import ModelStore

    return FeatureRepo(s.feature_repo_dir, s.data_dir), ModelStore.local(s.mlflow_dir)


def prepare(s) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from lakehelpers import build_offline

    build_offline(s, 30 + WINDOW + 1)
    _parts(s)[0].apply()


def train_pipeline(s) -> dict:
    from ml_assets.core.model import Hyperparameters
    from ml_assets.core.model_store import CHAMPION
    from ml_assets.core.monitoring.fitting import fit_and_store
    from ml_assets.core.training.dataset import build_training_set, save_training_set
    from ml_assets.core.training.tracking import fit, log_and_register

    repo, store = _parts(s)
    as_of = s.day(30 + WINDOW)
    t0 = time.perf_counter()
    frame, window = build_training_set(as_of, s, repo)
    record = save_training_set(frame, as_of, window, s, repo.specs.FEATURE_SERVICE)
    t1 = time.perf_counter()
    params = Hyperparameters()
    fitted = fit(record, params, repo.specs, s)
    t2 = time.perf_counter()
    version = log_and_register(store, fitted, params, record, "bench", repo.specs)
    t3 = time.perf_counter()
    fit_and_store(store, version, repo.specs, s)
    store.set_alias(CHAMPION, version.version)
    t4 = time.perf_counter()
    return {"rows": record.rows, "build": t1 - t0, "train": t2 - t1, "log": t3 - t2, "monitors": t4 - t3}


def scoring(s) -> dict:
    from ml_assets.core.scoring import ServingModel, score_day, write_predictions
    from ml_assets.core.warehouse import Warehouse

    repo, store = _parts(s)
    warehouse, day = Warehouse(s.warehouse_path), s.day(30 + WINDOW)
    t0 = time.perf_counter()
    log = score_day(day, s, repo, store)  # cold: pays the feast/mlflow/lightgbm imports
    write_predictions(warehouse, log, day)
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    log = score_day(day, s, repo, store)  # warm: feature store, model load, PIT join, DuckDB write
    write_predictions(warehouse, log, day)
    pipeline = time.perf_counter() - t0
    model = ServingModel.champion(store)
    t0 = time.perf_counter()
    model.predict(log[repo.specs.model_features()].to_numpy("float64"))
    bare = time.perf_counter() - t0
    return {"rows": len(log), "pipeline": pipeline, "cold": cold, "bare": bare}


def monitoring(s, rows: int) -> dict:
    import pandas as pd

    from ml_assets.core.monitoring import monitors
    from ml_assets.core.monitoring.daily import predictions_of
    from ml_assets.core.warehouse import Warehouse

    _, store = _parts(s)
    day = s.day(30 + WINDOW)
    base = predictions_of(Warehouse(s.warehouse_path), day, day)
    reps = max(1, rows // len(base))
    preds = pd.concat([base] * reps, ignore_index=True).head(rows)
    fitted = monitors.load(store, str(base["model_version"].iloc[0]), s.monitors_cache_dir)
    t0 = time.perf_counter()
    monitors.tidy(monitors.run(fitted, preds))
    return {"rows": len(preds), "seconds": time.perf_counter() - t0}


def sensor_tick(n_days: int = 365) -> dict:
    import dagster as dg

    from ml_assets.definitions import build_definitions

    definitions = build_definitions()
    sensor = definitions.resolve_sensor_def("retrain_on_performance_drop")

    def tick(instance, cursor=None):
        context = dg.build_sensor_context(
            instance=instance, cursor=cursor, definitions=definitions, resources=definitions.resources
        )
        return sensor.evaluate_tick(context)

    with tempfile.TemporaryDirectory() as tmp, dg.instance_for_test(temp_dir=tmp) as instance:
        start = dt.date(2026, 1, 1)
        for i in range(n_days):
            event = dg.AssetMaterialization(
                "estimated_performance",
                partition=str(start + dt.timedelta(days=i)),
                metadata={"estimated_roc_auc": 0.95},
            )
            instance.report_runless_asset_event(event)
        t0 = time.perf_counter()
        first = tick(instance)
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        tick(instance, first.cursor)
        warm = time.perf_counter() - t0
    return {"events": n_days, "cold": cold, "warm": warm}


def main(sizes=(100_000, 1_000_000), only: str | None = None) -> None:
    rows = []
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            s = _settings(Path(tmp), n)
            measure(prepare, s)
            sec, rss, r = measure(train_pipeline, s)
            if only != "scoring":
                how = (
                    f"set {r['build']:.1f} s + train {r['train']:.1f} s + log/register {r['log']:.1f} s "
                    f"+ monitors {r['monitors']:.1f} s"
                )
                rows.append([f"training, {r['rows']:,} rows", how, f"{sec:.1f} s", f"{rss:,.0f} MiB", ""])
            sec, rss, r = measure(scoring, s)
            how = (
                f"{r['rows'] / r['pipeline']:,.0f} rows/s warm (Feast PIT + model load + DuckDB; cold with "
                f"imports {r['cold']:.1f} s) vs the bare booster {r['rows'] / r['bare']:,.0f} rows/s"
            )
            rows.append(
                [
                    f"batch scoring, {r['rows']:,} rows",
                    how,
                    f"{r['pipeline']:.2f} s",
                    f"{rss:,.0f} MiB",
                    f"{r['pipeline'] / r['bare']:.0f}x bare predict",
                ]
            )
            for m in (100_000, 1_000_000) if n == sizes[0] and only != "scoring" else ():
                sec, rss, r = measure(monitoring, s, m)
                rows.append(
                    [
                        f"monitoring one partition, {r['rows']:,} predictions",
                        "CBPE + univariate + PCA + missing + unseen",
                        f"{r['seconds']:.1f} s",
                        f"{rss:,.0f} MiB",
                        "",
                    ]
                )
    header = ["what", "how", "time", "peak RSS", "ratio"]
    if only == "scoring":
        append_report("Batch scoring (re-measured warm and cold)", header, rows)
        return
    sec, rss, r = measure(sensor_tick)
    how = f"cold cursor {r['cold'] * 1000:.0f} ms, warm cursor {r['warm'] * 1000:.0f} ms"
    rows.append([f"sensor tick, {r['events']} estimate events", how, "", f"{rss:,.0f} MiB", ""])
    append_report(
        "Training, scoring, monitoring",
        header,
        rows,
        "Each line runs in a fresh process (imports included in peak RSS, not in the times).",
    )


if __name__ == "__main__":
    main(only=sys.argv[1] if len(sys.argv) > 1 else None)
