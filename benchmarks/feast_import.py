"""The CPU a fresh process spends importing Feast and applying the project's feature repo, with
typeguard's instrumentation of Feast's classes (Feast's default, kept by
ML_ASSETS_FEAST_TYPECHECKS=1) and without it (the project's: ml_assets/feast_import.py), measured
in the same run (`python -m benchmarks.feast_import`)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

CHILD = """
import sys, time
started = time.process_time()
import ml_assets, feast
from feast.infra.online_stores.sqlite import SqliteOnlineStore
imported = time.process_time()
from ml_assets.core import engines
from ml_assets.core.settings import Settings
engines.feature_repo(Settings(data_dir=sys.argv[1])).apply()
print(imported - started, time.process_time() - imported)
"""
RUNS = 5


def _run(keep_checks: bool) -> tuple[float, float]:
    env = {k: v for k, v in os.environ.items() if k != "ML_ASSETS_FEAST_TYPECHECKS"}
    if keep_checks:
        env["ML_ASSETS_FEAST_TYPECHECKS"] = "1"
    with tempfile.TemporaryDirectory() as data_dir:
        out = subprocess.check_output([sys.executable, "-c", CHILD, data_dir], env=env, text=True)
    imported, applied = map(float, out.splitlines()[-1].split())  # Feast prints what it applied
    return imported, applied


def main() -> None:
    from benchmarks.common import append_report

    results = {keep: [] for keep in (True, False)}
    for _ in range(RUNS):  # interleaved: a slow spell of the machine falls on both
        for keep in results:
            results[keep].append(_run(keep))
    medians = {
        keep: tuple(sorted(r[i] for r in runs)[RUNS // 2] for i in range(2)) for keep, runs in results.items()
    }
    base_import, base_apply = medians[True]
    rows = [
        [
            "kept (Feast's default)" if keep else "skipped (the project's)",
            f"{imported:.2f} s",
            f"{imported / base_import:.2f}x",
            f"{applied:.2f} s",
            f"{applied / base_apply:.2f}x",
        ]
        for keep, (imported, applied) in medians.items()
    ]
    append_report(
        "Feast in a fresh process, with and without typeguard's instrumentation",
        [
            "typeguard on Feast's classes",
            "CPU: import Feast",
            "ratio",
            "CPU: apply the feature repo",
            "ratio",
        ],
        rows,
        f"Median of {RUNS} fresh processes each, interleaved; baseline: Feast's default (the first row), "
        "in the same run. CPU time (process_time), not wall time.",
    )


if __name__ == "__main__":
    main()
