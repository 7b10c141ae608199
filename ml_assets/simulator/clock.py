"""The simulated world's clock: lands the next day's exports every few seconds, as a bank's
nightly exports would land. Dagster notices them with the ``daily_cycle_on_landing`` sensor,
so a user watching the UI sees days arrive, monitoring, a trigger and a retrain."""

from __future__ import annotations

import time
from collections.abc import Callable

from ml_assets.core import lake
from ml_assets.core.ingest import TABLES
from ml_assets.core.settings import Settings
from ml_assets.simulator.landing import simulate_to_landing


def next_day_index(settings: Settings) -> int:
    """The first day (index) whose transactions have not landed."""
    landed = set(lake.existing_partitions(settings.landing_dir, TABLES["raw_transactions"].landing))
    i = 0
    while settings.day(i).isoformat() in landed:
        i += 1
    return i


def run_clock(
    settings: Settings, every_seconds: float, days: int, log: Callable[[str], None] = print
) -> list[str]:
    """Land ``days`` more days, one every ``every_seconds``; returns the dates landed."""
    landed = []
    for n in range(days):
        if n:
            time.sleep(every_seconds)
        i = next_day_index(settings)
        written = simulate_to_landing(settings, range(i, i + 1))
        landed += written
        drift = " (drifted)" if settings.scenario != "stable" and i >= settings.drift_start_day else ""
        log(f"[clock] landed day {i}: {', '.join(written)} ({settings.scenario}{drift})")
    return landed
