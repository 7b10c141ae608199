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

from benchmarks.common import busy_processes

# the project's model on a training set of a test-size shape: 14 days x 3,000 rows, 20 features
FIT = """
# LightGBM first: libgomp reads its settings as it loads, before the project would set its own
import time, numpy as np, pandas as pd, lightgbm
from types import SimpleNamespace
from ml_assets.core.model import TARGET, Hyperparameters, train
rng = np.random.default_rng(0)
columns = [f"f{i}" for i in range(20)]
frame = pd.DataFrame(rng.normal(size=(42_000, 20)), columns=columns)
frame[TARGET] = (frame["f0"] + frame["f1"] * frame["f2"] + rng.normal(size=len(frame)) > 2.5).astype(int)
specs = SimpleNamespace(model_features=lambda: columns, CATEGORICAL_FEATURES=())
t = time.perf_counter()
model = train(frame, Hyperparameters(), specs)  # the project's own training call (two threads)
fit = time.perf_counter() - t
rows = frame[columns].to_numpy("float64")[:100]
t = time.perf_counter()
for _ in range(200):
    model.booster_.predict(rows)
print(fit, (time.perf_counter() - t) / 200 * 1000)
"""
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
    with busy_processes(busy):
        out = subprocess.check_output([sys.executable, "-c", FIT], env=env, text=True)
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
