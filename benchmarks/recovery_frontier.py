"""How good can a retrain be ``k`` days after a drift? The recovery frontier of a scenario:
a model trained at regime age ``k`` on the 28 days before, with the chargebacks known then
(inverse-propensity weighted, as the pipeline trains) and with every chargeback that will ever
arrive (an oracle no real system has), each scored on the 5 days it would serve (realized
ROC AUC, complete labels).

The gap between the two columns is what the label delay costs; the oracle column is what the
features allow. Features are computed by the pipeline's own aggregates (core/features) straight
from the lake, joined on the day as Feast's point-in-time join does for daily rows, without the
Dagster and MLflow bookkeeping: the numbers are the model's, not the loop's (no holdout, no gate).

    .venv/bin/python -m benchmarks.recovery_frontier fraud_shift --seed 7 --drift-day 75 --ages 1,2,3,4,5
"""

from __future__ import annotations

import argparse
import functools
import tempfile
from pathlib import Path

SERVED_DAYS = 5


def _day_frame(s, sim, specs, i: int):
    """Day ``i``'s transactions with the features known at the start of the day and their
    complete label (a chargeback will arrive)."""
    from ml_assets.core import lake
    from ml_assets.core.features import aggregates
    from ml_assets.core.features.contract import hour_of_day, to_model_frame
    from ml_assets.core.problem import card_fraud

    d = s.day(i)
    sources = aggregates.aggregate_sources(card_fraud(), s)
    views = {x.view: x.compute(s.lake_dir, d, s.start_date) for x in sources}
    activity, risk = views["customer_activity"], views["merchant_risk"]
    customers = lake.read_partition(s.lake_dir, "customer_snapshots", d)
    merchants = lake.read_partition(s.lake_dir, "merchant_snapshots", d)
    tx = sim.transactions(i)
    snapshot = {
        v.source_table: [c for c in v.features if c not in tx.columns]
        for v in specs.FEATURE_VIEWS
        if v.source_table in ("customer_snapshots", "merchant_snapshots")
    }
    f = (
        tx.merge(activity.drop(columns="event_timestamp"), on="customer_id", how="left")
        .merge(risk.drop(columns="event_timestamp"), on="merchant_id", how="left")
        .merge(customers[["customer_id", *snapshot["customer_snapshots"]]], on="customer_id", how="left")
        .merge(merchants[["merchant_id", *snapshot["merchant_snapshots"]]], on="merchant_id", how="left")
    )
    inputs = {
        "amount": f["amount"].tolist(),
        "channel": f["channel"].astype(str).tolist(),
        "hour_of_event_timestamp": hour_of_day(f["event_timestamp"]).tolist(),
    }
    for columns in specs.ON_DEMAND_INPUTS.values():
        inputs |= {c: f[c].tolist() for c in columns}
    f = f.assign(**_on_demand_udf(s.feature_repo_dir)(inputs))
    f["complete"] = f["label_arrival_date"].notna().astype("int8")
    return to_model_frame(f, specs)  # encodes the model's inputs only; "complete" stays as it is


@functools.cache
def _on_demand_udf(repo_dir: Path):
    """The feature repo's on-demand transformation, the very function Feast runs."""
    import importlib.util
    import sys

    sys.path.insert(0, str(repo_dir))  # features.py imports its catalogue as Feast's CLI does
    spec = importlib.util.spec_from_file_location("frontier_features", repo_dir / "features.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return (
        module.build(repo_dir.parent / "data").on_demand_views["request_features"].feature_transformation.udf
    )


def frontier(scenario: str, seed: int, drift_day: int, ages: list[int], root: Path) -> list[str]:
    import numpy as np
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    from ml_assets.core.features.catalogue import load_specs
    from ml_assets.core.ingest import TABLES, VolumeRule, ingest_partition
    from ml_assets.core.labels import LabelTable
    from ml_assets.core.model import TARGET, WEIGHT, Hyperparameters, score, train
    from ml_assets.core.problem import card_fraud
    from ml_assets.core.settings import Settings
    from ml_assets.core.training import dataset
    from ml_assets.simulator.landing import simulate_to_landing
    from ml_assets.simulator.world import Simulator, SimulatorConfig

    s = Settings(data_dir=root, scenario=scenario, seed=seed, drift_start_day=drift_day)
    last = drift_day + max(ages) + SERVED_DAYS
    simulate_to_landing(s, range(last))
    for i in range(last):
        for spec in TABLES.values():
            ingest_partition(
                spec, s.day(i), s.landing_dir, s.lake_dir, s.quarantine_dir, VolumeRule.from_settings(s)
            )
    sim, specs = Simulator(SimulatorConfig.from_settings(s)), load_specs(s.feature_repo_dir)
    first = drift_day - s.training_window_days
    frames = {i: _day_frame(s, sim, specs, i) for i in range(first, last)}
    features = specs.model_features()

    table = LabelTable.of(card_fraud())

    def fit(as_of_index: int, oracle: bool):
        as_of = s.day(as_of_index)
        rows = pd.concat([frames[i] for i in range(as_of_index - s.training_window_days, as_of_index)])
        if oracle:
            rows[TARGET] = rows["complete"]
            cdf = np.ones(s.label_delay_max_days + 2)
        else:
            labels = table.known_at(as_of, s.lake_dir, s.start_date, s.label_lookback_days)
            rows = dataset.attach_labels(rows, labels, table)
            cdf = dataset.arrival_cdf(labels, table, as_of, s.label_delay_max_days)
        shift = s.day(drift_day) if as_of_index > drift_day else None
        rows[WEIGHT] = dataset.training_weights(
            rows, as_of, cdf, shift, s.retrain_shift_weight_share, s.max_positive_weight
        )
        return train(rows, Hyperparameters(), specs)

    lines = [
        f"{scenario}, seed {seed}, drift day {drift_day}, {s.rows_per_day} transactions a day: realized "
        f"ROC AUC of a model trained at regime age k, on the {SERVED_DAYS} days it would serve",
        "| k | labels known then | every label (oracle) |",
        "|---|---|---|",
    ]
    for k in ages:
        cells = []
        for oracle in (False, True):
            model = fit(drift_day + k, oracle)
            aucs = [
                roc_auc_score(frames[i]["complete"], score(model, frames[i], features))
                for i in range(drift_day + k, drift_day + k + SERVED_DAYS)
            ]
            cells.append(f"{np.mean(aucs):.3f} ({min(aucs):.2f}-{max(aucs):.2f})")
        lines.append(f"| {k} | {' | '.join(cells)} |")
        print(lines[-1], flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", choices=["seasonal", "fraud_shift"])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--drift-day", type=int, default=75)
    parser.add_argument("--ages", default="1,2,3,4,5,6,7", help="regime ages k to train at")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="frontier-") as tmp:
        lines = frontier(
            args.scenario, args.seed, args.drift_day, [int(a) for a in args.ages.split(",")], Path(tmp)
        )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
