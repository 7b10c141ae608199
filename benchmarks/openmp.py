"""LightGBM's OpenMP threads spinning or sleeping when idle (OMP_WAIT_POLICY), alone and beside
other busy processes, as a Dagster run beside the daemon, the service or another test finds
itself (`make bench-openmp`). The project sets PASSIVE (ml_assets/__init__.py); the baseline is
libgomp's default (spinning) measured in the same run, alone."""

from __future__ import annotations

import os
import subprocess
import sys
import time

# the project's model on a training set of a test-size shape: 14 days x 3,000 rows, 20 features
FIT = """
import time, numpy as np, pandas as pd, lightgbm as lgb
from ml_assets.core.model import Hyperparameters
p = Hyperparameters()
rng = np.random.default_rng(0)
X = pd.DataFrame(rng.normal(size=(42_000, 20)), columns=[f"f{i}" for i in range(20)])
y = (X["f0"] + X["f1"] * X["f2"] + rng.normal(size=len(X)) > 2.5).astype(int)
t = time.perf_counter()
model = lgb.LGBMClassifier(
    n_estimators=p.n_estimators, learning_rate=p.learning_rate, num_leaves=p.num_leaves,
    min_child_samples=p.min_child_samples, colsample_bytree=p.feature_fraction, n_jobs=2, verbose=-1,
).fit(X, y)
fit = time.perf_counter() - t
rows = X.to_numpy("float64")[:100]
t = time.perf_counter()
for _ in range(200):
    model.booster_.predict(rows)
print(fit, (time.perf_counter() - t) / 200 * 1000)
"""
SPIN = "while True: pass"


def _run(policy: str, busy: int) -> tuple[float, float]:
    # set here, not by importing the project first: the child must start with this policy
    env = {**os.environ, "OMP_WAIT_POLICY": policy}
    hogs = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(busy)]
    try:
        out = subprocess.check_output([sys.executable, "-c", FIT], env=env, text=True)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    fit, predict = map(float, out.split())
    return fit, predict


def main() -> None:
    from benchmarks.common import append_report

    busy = os.cpu_count() or 2
    results = {}
    for policy in ("ACTIVE", "PASSIVE"):
        for load in (0, busy):
            results[policy, load] = _run(policy, load)
            time.sleep(1)
    base_fit, base_predict = results["ACTIVE", 0]
    rows = [
        [
            f"{'spinning (libgomp default)' if policy == 'ACTIVE' else 'sleeping (the project: PASSIVE)'}",
            f"{load} busy processes beside" if load else "alone",
            f"{fit:.2f} s",
            f"{fit / base_fit:.2f}x",
            f"{predict:.2f} ms",
            f"{predict / base_predict:.2f}x",
        ]
        for (policy, load), (fit, predict) in results.items()
    ]
    append_report(
        "LightGBM on two OpenMP threads: spinning or sleeping when idle",
        ["OMP_WAIT_POLICY", "load", "fit: 42k rows, 300 rounds", "ratio", "predict 100 rows", "ratio"],
        rows,
        "Baseline: spinning, alone (the first row), measured in the same run. Busy processes are "
        "Python loops, one per core.",
    )


if __name__ == "__main__":
    main()
