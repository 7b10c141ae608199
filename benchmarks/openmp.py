"""LightGBM's OpenMP threads spinning or sleeping when idle (OMP_WAIT_POLICY, GOMP_SPINCOUNT),
alone and beside other busy processes, as a Dagster run beside the daemon, the service or another
test finds itself (`make bench-openmp`). The project sets GOMP_SPINCOUNT=1000
(ml_assets/__init__.py); the baseline is libgomp's default (nothing set) measured in the same
run, alone."""

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
POLICIES = {
    "unset": "nothing set (libgomp's default: spin 300k rounds, then sleep)",
    "OMP_WAIT_POLICY=ACTIVE": "OMP_WAIT_POLICY=ACTIVE (spin)",
    "OMP_WAIT_POLICY=PASSIVE": "OMP_WAIT_POLICY=PASSIVE (sleep at once)",
    "GOMP_SPINCOUNT=1000": "GOMP_SPINCOUNT=1000 (spin briefly: the project's)",
}


def _run(policy: str, busy: int) -> tuple[float, float]:
    # set here, not by importing the project first: the child must start with this policy
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    if policy != "unset":
        name, _, value = policy.partition("=")
        env[name] = value
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
    for policy in POLICIES:
        for load in (0, busy):
            # the median of three runs: a single fit moves by tens of percent on these machines
            runs = sorted(_run(policy, load) for _ in range(3))
            results[policy, load] = runs[1]
            time.sleep(1)
    base_fit, base_predict = results["unset", 0]
    rows = [
        [
            POLICIES[policy],
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
        ["libgomp setting", "load", "fit: 42k rows, 300 rounds", "ratio", "predict 100 rows", "ratio"],
        rows,
        "Baseline: libgomp's default, alone (the first row), measured in the same run; each figure the "
        "median of three fits. Busy processes are Python loops, one per core.",
    )


if __name__ == "__main__":
    main()
