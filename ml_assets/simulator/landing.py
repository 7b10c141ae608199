"""Writes the simulator's output as the landing zone that ingestion reads: what a bank
would receive as daily exports. Ground truth (``is_fraud`` of every transaction) is not
exported: labels only exist as chargebacks that arrive later."""

from __future__ import annotations

from collections import OrderedDict

from ml_assets.core import lake
from ml_assets.core.ingest import TABLES
from ml_assets.core.settings import Settings
from ml_assets.simulator.world import TRANSACTION_COLUMNS, Simulator, SimulatorConfig


def simulate_to_landing(settings: Settings, days: range, overwrite: bool = False) -> list[str]:
    """Simulate ``days`` (day indices) into ``data/<problem>/landing``; returns the dates written.
    Days already present are skipped unless ``overwrite``."""
    sim = Simulator(SimulatorConfig.from_settings(settings))
    root = settings.landing_dir
    recent: OrderedDict[int, object] = OrderedDict()  # the label window, kept in memory
    written = []
    first = max(0, days.start - settings.label_delay_max_days)
    for d in range(first, days.stop):
        tx = sim.transactions(d)
        recent[d] = tx
        while len(recent) > settings.label_delay_max_days + 1:
            recent.popitem(last=False)
        if d < days.start:
            continue
        day = sim.date(d)
        if not overwrite and lake.partition_path(root, "transactions", day).exists():
            continue
        lake.write_partition(tx[TRANSACTION_COLUMNS], root, TABLES["raw_transactions"].landing, day)
        lake.write_partition(sim.label_arrivals(d, recent), root, TABLES["label_arrivals"].landing, day)
        lake.write_partition(sim.customer_snapshot(d), root, TABLES["customer_snapshots"].landing, day)
        lake.write_partition(sim.merchant_snapshot(d), root, TABLES["merchant_snapshots"].landing, day)
        written.append(str(day))
    return written
