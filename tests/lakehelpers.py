"""Builds lake + feature sources for a range of days with the plain functions the assets
call (no Dagster run), for tests that only need offline data."""

from __future__ import annotations

from ml_assets import lake
from ml_assets.defs.features import aggregates
from ml_assets.defs.ingest.assets import ingest_partition
from ml_assets.defs.ingest.landing import simulate_to_landing
from ml_assets.defs.ingest.tables import TABLES


def build_offline(settings, days: int) -> None:
    simulate_to_landing(settings, range(days))
    for i in range(days):
        day = settings.day(i)
        for spec in TABLES.values():
            outcomes, meta = ingest_partition(spec, day)
            assert not meta["quarantined"], [o.message for o in outcomes if not o.passed]
        lake.write_partition(
            aggregates.customer_activity(settings.lake_dir, day, settings.start_date),
            settings.lake_dir, "customer_activity_source", day,
        )
        lake.write_partition(
            aggregates.merchant_risk(settings.lake_dir, day, settings.start_date),
            settings.lake_dir, "merchant_risk_source", day,
        )
