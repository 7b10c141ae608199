"""A replay's warm-up (the first days into the lake and the offline feature sources, through
Dagster on a real instance) a run per day against a run per ``warm_up_days_per_run`` days, on
the same landed world and in the same process, alternating: the seconds a day and their ratio.

    .venv/bin/python -m benchmarks.warm_up [days] [rows_per_day]
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import ROOT, append_report, settings_at

ROUNDS = 2


def _instance(home: Path):
    import dagster as dg

    home.mkdir(parents=True)
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    return dg.DagsterInstance.from_config(str(home))


def _ingest(root: Path, landed: Path, days: int, per_run: int, rows: int) -> float:
    """Seconds to ingest ``days`` days of a copy of the landed world, ``per_run`` days a run."""
    import os

    from ml_assets.replay import Replay

    data = root / f"data_{per_run}"
    shutil.copytree(landed, data)
    os.environ["ML_ASSETS_DAGSTER_DIR"] = str(root / f"home_{per_run}" / "storage")  # read by dagster.yaml
    s = settings_at(data, rows_per_day=rows, warm_up_days_per_run=per_run)
    with _instance(root / f"home_{per_run}") as instance:
        r = Replay(s, instance, log=lambda *_: None)
        r.apply_feature_repo()
        started = time.perf_counter()
        r.ingest_days(days)
        seconds = time.perf_counter() - started
    shutil.rmtree(data)
    shutil.rmtree(root / f"home_{per_run}")
    return seconds


def main(days: int = 21, rows: int = 3000) -> None:
    from ml_assets.core.settings import Settings
    from ml_assets.sources import land_days

    per_run = Settings().warm_up_days_per_run
    with tempfile.TemporaryDirectory(dir="/dev/shm" if Path("/dev/shm").is_dir() else None) as tmp:
        root = Path(tmp)
        landed = root / "landed"
        land_days(settings_at(landed, rows_per_day=rows), range(days), overwrite=True)
        times: dict[int, list[float]] = {1: [], per_run: []}
        for _ in range(ROUNDS):
            for n in times:  # alternating, so that a noisy minute hits both
                times[n].append(_ingest(root, landed, days, n, rows))
    one, many = statistics.median(times[1]), statistics.median(times[per_run])
    append_report(
        f"Warm-up: a run per day against a run per {per_run} days "
        f"({days} days of {rows} rows, median of {ROUNDS})",
        ["runs", "s a day", "ratio to a run per day"],
        [
            ["a run per day", f"{one / days:.2f}", "1.00"],
            [f"a run per {per_run} days", f"{many / days:.2f}", f"{many / one:.2f}"],
        ],
    )


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
