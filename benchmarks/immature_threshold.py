"""The fixed-FPR decision threshold chosen on a validation window whose labels are still arriving:
as the labels are known at training (what versions served before), counting each known positive
for the positives of its day not reported yet (``model.threshold_at_fpr``), and on the truth (the
simulator's). Each served on the 14 days after training, judged on the truth: FPR, recall, flag
rate. The training set, the model and the validation are the training asset's own code.

    .venv/bin/python -m benchmarks.immature_threshold [seed ...]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from benchmarks.common import append_report, settings_at

DAYS, AS_OF = 64, 50  # 36 warm-up days, a 14-day window (its last 7 validating), 14 served days


def _served(s, repo, model, features, thresholds: dict[str, float]) -> list[list]:
    import numpy as np
    import pandas as pd

    from ml_assets.core.features.contract import entity_frame, historical_features
    from ml_assets.core.model import score
    from ml_assets.simulator.world import Simulator, SimulatorConfig

    days = [s.day(i) for i in range(AS_OF, DAYS)]
    frame = historical_features(repo, entity_frame(s.lake_dir, days))
    sim = Simulator(SimulatorConfig.from_settings(s))
    truth = pd.concat([sim.transactions(i)[["transaction_id", "is_fraud"]] for i in range(AS_OF, DAYS)])
    frame = frame.merge(truth, on="transaction_id", validate="one_to_one")
    p, fraud = score(model, frame, features), frame["is_fraud"].to_numpy(bool)
    return [
        [
            name,
            f"{t:.4f}",
            f"{np.mean(p[~fraud] > t):.2%}",
            f"{np.mean(p[fraud] > t):.3f}",
            f"{np.mean(p > t):.2%}",
        ]
        for name, t in thresholds.items()
    ]


def run(seed: int) -> tuple[float, list[list]]:
    import numpy as np
    import pandas as pd

    from ml_assets.core import engines
    from ml_assets.core.hyperparameters import Hyperparameters
    from ml_assets.core.model import TARGET, score, threshold_at_fpr, train, unreported_positives
    from ml_assets.core.training.dataset import SPLIT, build_training_set
    from ml_assets.simulator.world import Simulator, SimulatorConfig

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from lakehelpers import build_offline

    s = settings_at(
        Path(tempfile.mkdtemp(prefix="threshold-")),
        seed=seed,
        rows_per_day=4000,
        n_customers=4000,
        n_merchants=400,
        training_window_days=14,
    )
    build_offline(s, DAYS)
    repo = engines.feature_repo(s)
    repo.apply()
    frame, _ = build_training_set(s.day(AS_OF), s, repo)
    specs, features = repo.specs, repo.specs.model_features()
    model = train(frame[frame[SPLIT] == "train"], Hyperparameters(), specs)
    validation = frame[frame[SPLIT] == "validation"]
    sim = Simulator(SimulatorConfig.from_settings(s))
    truth = pd.concat(
        [
            sim.transactions(i)[["transaction_id", "is_fraud"]]
            for i in range(AS_OF - s.training_window_days, AS_OF)
        ]
    )
    fraud = validation[["transaction_id"]].merge(truth, on="transaction_id", how="left")["is_fraud"]
    y, p = validation[TARGET].to_numpy(), score(model, validation, features)
    known = y.sum() / fraud.sum()
    thresholds = {
        "labels as known at training (before)": threshold_at_fpr(y, p, s.fixed_fpr),
        "unreported positives counted (after)": threshold_at_fpr(
            y, p, s.fixed_fpr, unreported_positives(validation, s.max_positive_weight)
        ),
        "the truth (every label in)": threshold_at_fpr(fraud.to_numpy(np.int64), p, s.fixed_fpr),
    }
    return known, _served(s, repo, model, features, thresholds)


def main(seeds: list[int]) -> None:
    rows = []
    for seed in seeds:
        known, served = run(seed)
        rows += [[seed, f"{known:.0%}", *row] for row in served]
    append_report(
        "The threshold on immature labels: FPR asked 1%, served on the 14 days after training",
        [
            "seed",
            "validation positives known",
            "threshold chosen on",
            "threshold",
            "served FPR",
            "served recall",
            "flag rate",
        ],
        rows,
        "4,000 rows a day, labels up to 21 days late; a 14-day training window ending on day 50, its "
        "last 7 days validating; the served days judged on the simulator's truth. `python -m "
        "benchmarks.immature_threshold`.",
    )


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [7, 11])
