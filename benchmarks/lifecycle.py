"""Benchmarks of training, scoring and monitoring.

- training-set build + train + log/register (MLflow, incl. NannyML fit) at 100k and 1M rows
- batch scoring rows/s through the pipeline vs bare LightGBM predict_proba on the same rows
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

from benchmarks.common import append_report, measure, use_data_dir

WINDOW = 10  # training days; the simulator runs 30 more before them so features are warm


def _settings(rows: int) -> dict:
    return {"rows_per_day": rows // WINDOW, "training_window_days": WINDOW, "validation_days": 2,
            "n_customers": 20_000, "n_merchants": 2_000}


def prepare(data_dir: str, settings: dict) -> None:
    use_data_dir(Path(data_dir), **settings)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from lakehelpers import build_offline

    from ml_assets.defs.features.store import apply_repo
    from ml_assets.settings import get_settings

    s = get_settings()
    build_offline(s, 30 + WINDOW + 1)
    apply_repo(s)


def train_pipeline(data_dir: str, settings: dict) -> dict:
    use_data_dir(Path(data_dir), **settings)
    from ml_assets.defs.registry.mlflow_resource import MLflowResource
    from ml_assets.defs.training import model as fraud
    from ml_assets.defs.training.dataset import build_training_set
    from ml_assets.defs.training.tracking import log_and_register
    from ml_assets.settings import get_settings

    s = get_settings()
    as_of = s.day(30 + WINDOW)
    t0 = time.perf_counter()
    frame, window = build_training_set(as_of, s)
    path = Path(data_dir) / "ts.parquet"
    frame.to_parquet(path)
    t1 = time.perf_counter()
    params = fraud.Hyperparameters()
    trained = fraud.train(frame[frame["split"] == "train"], params)
    t2 = time.perf_counter()
    res = MLflowResource.from_settings(s)
    record = log_and_register(res, trained, frame, params, {"as_of": str(as_of), "feature_service": "fraud_model_v1",
                              "training_set_hash": "bench", "training_window": str(window)}, "bench", path)
    res.client().set_registered_model_alias(res.model_name, "champion", record["version"])
    t3 = time.perf_counter()
    return {"rows": len(frame), "build": t1 - t0, "train": t2 - t1, "log": t3 - t2}


def scoring(data_dir: str, settings: dict) -> dict:
    use_data_dir(Path(data_dir), **settings)
    from ml_assets.defs.registry.mlflow_resource import MLflowResource
    from ml_assets.defs.registry.promotion import load_model
    from ml_assets.defs.scoring.scoring import champion, score_day, write_predictions
    from ml_assets.defs.training import model as fraud
    from ml_assets.settings import get_settings

    s = get_settings()
    res = MLflowResource.from_settings(s)
    day = s.day(30 + WINDOW)
    t0 = time.perf_counter()
    log = score_day(day, s, res)  # cold: pays the feast/mlflow/lightgbm imports
    write_predictions(log, day, s)
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    log = score_day(day, s, res)  # warm: feature store, model load, PIT join, DuckDB write
    write_predictions(log, day, s)
    pipeline = time.perf_counter() - t0
    model = load_model(res, str(champion(res).version))
    t0 = time.perf_counter()
    model.predict_proba(log[fraud.features()])
    bare = time.perf_counter() - t0
    return {"rows": len(log), "pipeline": pipeline, "cold": cold, "bare": bare}


def monitoring(data_dir: str, settings: dict, rows: int) -> dict:
    use_data_dir(Path(data_dir), **settings)
    import pandas as pd

    from ml_assets.defs.monitoring import monitors
    from ml_assets.defs.monitoring.daily import predictions_of
    from ml_assets.defs.registry.mlflow_resource import MLflowResource
    from ml_assets.settings import get_settings

    s = get_settings()
    day = s.day(30 + WINDOW)
    base = predictions_of(s, day, day)
    reps = max(1, rows // len(base))
    preds = pd.concat([base] * reps, ignore_index=True).head(rows)
    res = MLflowResource.from_settings(s)
    fitted = monitors.load(res, str(base["model_version"].iloc[0]), s.data_dir / "monitors")
    t0 = time.perf_counter()
    monitors.tidy(monitors.run(fitted, preds))
    return {"rows": len(preds), "seconds": time.perf_counter() - t0}


def sensor_tick(n_days: int = 365) -> dict:
    import dagster as dg

    from ml_assets.definitions import defs

    definitions = defs()
    sensor = definitions.resolve_sensor_def("retrain_on_performance_drop")
    with tempfile.TemporaryDirectory() as tmp, dg.instance_for_test(temp_dir=tmp) as instance:
        start = dt.date(2026, 1, 1)
        for i in range(n_days):
            instance.report_runless_asset_event(dg.AssetMaterialization(
                "estimated_performance", partition=str(start + dt.timedelta(days=i)), metadata={"estimated_roc_auc": 0.95}))
        t0 = time.perf_counter()
        first = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=definitions))
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=first.cursor, definitions=definitions))
        warm = time.perf_counter() - t0
    return {"events": n_days, "cold": cold, "warm": warm}


def main(sizes=(100_000, 1_000_000), only: str | None = None) -> None:
    rows = []
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            settings = _settings(n)
            measure(prepare, tmp, settings)
            sec, rss, r = measure(train_pipeline, tmp, settings)
            if only != "scoring":
                rows.append([f"training, {r['rows']:,} rows", f"set {r['build']:.1f} s + train {r['train']:.1f} s + "
                             f"log/register {r['log']:.1f} s", f"{sec:.1f} s", f"{rss:,.0f} MiB", ""])
            sec, rss, r = measure(scoring, tmp, settings)
            rows.append([f"batch scoring, {r['rows']:,} rows", f"{r['rows'] / r['pipeline']:,.0f} rows/s warm (Feast PIT + "
                         f"model load + DuckDB; cold with imports {r['cold']:.1f} s) vs bare predict_proba "
                         f"{r['rows'] / r['bare']:,.0f} rows/s", f"{r['pipeline']:.2f} s", f"{rss:,.0f} MiB",
                         f"{r['pipeline'] / r['bare']:.0f}x bare predict"])
            for m in (100_000, 1_000_000) if n == sizes[0] and only != "scoring" else ():
                sec, rss, r = measure(monitoring, tmp, settings, m)
                rows.append([f"monitoring one partition, {r['rows']:,} predictions",
                             "CBPE + univariate + PCA + missing + unseen", f"{r['seconds']:.1f} s", f"{rss:,.0f} MiB", ""])
    if only == "scoring":
        append_report("Batch scoring (re-measured warm and cold)", ["what", "how", "time", "peak RSS", "ratio"], rows)
        return
    sec, rss, r = measure(sensor_tick)
    rows.append([f"sensor tick, {r['events']} estimate events", f"cold cursor {r['cold'] * 1000:.0f} ms, "
                 f"warm cursor {r['warm'] * 1000:.0f} ms", "", f"{rss:,.0f} MiB", ""])
    append_report("Training, scoring, monitoring", ["what", "how", "time", "peak RSS", "ratio"], rows,
                  "Each line runs in a fresh process (imports included in peak RSS, not in the times).")


if __name__ == "__main__":
    main(only=sys.argv[1] if len(sys.argv) > 1 else None)
