"""A fit's threads: the project's LightGBM training (``train_threads``) and a NannyML data
reconstruction fit (OpenBLAS's threads, through its PCA) on one thread against one per core,
alone and beside busy processes, as the test suite's three workers on two cores find themselves
(`python -m benchmarks.fit_threads`). Wall time and the fit's own CPU time (user + system, all
its threads), each as a ratio to the baseline measured in the same run: one thread per core,
alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from benchmarks.common import busy_processes

# each fit in a fresh process: OpenBLAS reads its thread count as numpy loads
FIT = """
import json, resource, sys, time
import numpy as np, pandas as pd
kind, rows, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(0)
columns = [f"f{i}" for i in range(20)]
frame = pd.DataFrame(rng.normal(size=(rows, 20)), columns=columns)
if kind == "lightgbm":
    from types import SimpleNamespace
    from ml_assets.core.hyperparameters import Hyperparameters
    from ml_assets.core.model import TARGET, train
    frame[TARGET] = (frame["f0"] + frame["f1"] * frame["f2"] + rng.normal(size=rows) > 2.5).astype(int)
    specs = SimpleNamespace(model_features=lambda: columns, CATEGORICAL_FEATURES=())
    fit = lambda: train(frame, Hyperparameters(), specs, threads)
else:  # NannyML's multivariate drift: a PCA fit and its reconstruction on numpy's OpenBLAS
    import ml_assets, nannyml as nml
    frame["timestamp"] = pd.date_range("2026-01-01", periods=rows, freq="min")
    def fit():
        calc = nml.DataReconstructionDriftCalculator(column_names=columns, timestamp_column_name="timestamp",
                                                     chunk_number=14)
        calc.fit(frame).calculate(frame)
before = resource.getrusage(resource.RUSAGE_SELF)
started = time.perf_counter()
fit()
wall = time.perf_counter() - started
after = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps([wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime]))
"""
CASES = [  # kind, rows, what the rows stand for
    ("lightgbm", 14_000, "LightGBM fit, 14k rows (a test-size training set)"),
    ("lightgbm", 210_000, "LightGBM fit, 210k rows (a default-size training set)"),
    ("nannyml", 14_000, "NannyML data reconstruction fit, 14k rows"),
]


def _run(kind: str, rows: int, threads: int, busy: int) -> tuple[float, float]:
    env = dict(os.environ)
    env.pop("OPENBLAS_NUM_THREADS", None)
    if kind == "nannyml" and threads:
        env["OPENBLAS_NUM_THREADS"] = str(threads)
    with busy_processes(busy):
        command = [sys.executable, "-c", FIT, kind, str(rows), str(threads)]
        out = subprocess.check_output(command, env=env, text=True)
    wall, cpu = json.loads(out.strip().splitlines()[-1])
    return wall, cpu


def main() -> None:
    from benchmarks.common import append_report

    busy = os.cpu_count() or 2
    rows = []
    for kind, size, label in CASES:
        results = {}
        for load in (0, busy):
            for threads in (0, 1):
                # the median of three: a single fit moves by tens of percent on these machines
                runs = sorted(_run(kind, size, threads, load) for _ in range(3))
                results[threads, load] = runs[1]
                time.sleep(1)
        base_wall, base_cpu = results[0, 0]
        for (threads, load), (wall, cpu) in results.items():
            rows.append(
                [
                    label,
                    "one per core" if threads == 0 else "1",
                    f"{load} busy processes beside" if load else "alone",
                    f"{wall:.2f} s",
                    f"{wall / base_wall:.2f}x",
                    f"{cpu:.2f} s",
                    f"{cpu / base_cpu:.2f}x",
                ]
            )
    append_report(
        "A fit's threads: one against one per core, alone and beside busy processes",
        ["fit", "threads", "load", "wall", "ratio", "CPU", "ratio"],
        rows,
        "Baseline for each fit: one thread per core, alone (its first row), measured in the same run; "
        "each figure the median of three fresh processes. Busy processes are Python loops, one per core. "
        "LightGBM's threads are `train_threads`; NannyML's are OpenBLAS's (`OPENBLAS_NUM_THREADS`).",
    )


if __name__ == "__main__":
    main()
