"""Builds lake + feature sources for a range of days with the plain core functions the
assets call (no Dagster run), for tests that only need offline data."""

from __future__ import annotations

from ml_assets.core import lake
from ml_assets.core.features.aggregates import aggregate_sources
from ml_assets.core.ingest import TABLES, VolumeRule, ingest_partition
from ml_assets.core.problem import card_fraud
from ml_assets.simulator.landing import simulate_to_landing


def build_offline(settings, days: int) -> None:
    simulate_to_landing(settings, range(days))
    for i in range(days):
        day = settings.day(i)
        for spec in TABLES.values():
            out = ingest_partition(
                spec,
                day,
                settings.landing_dir,
                settings.lake_dir,
                settings.quarantine_dir,
                VolumeRule.from_settings(settings),
            )
            assert not out.quarantined, [c.message for c in out.checks if not c.passed]
        for source in aggregate_sources(card_fraud(), settings):
            lake.write_partition(
                source.compute(settings.lake_dir, day, settings.start_date),
                settings.lake_dir,
                source.table,
                day,
            )


def request_rows(transactions) -> list[dict]:
    """Online reader inputs (entity keys and request fields) for a frame of raw transactions."""
    from ml_assets.core.features.contract import hour_of_day

    return [
        {
            "customer_id": int(r.customer_id),
            "merchant_id": int(r.merchant_id),
            "amount": float(r.amount),
            "channel": str(r.channel),
            "hour_of_event_timestamp": float(h),
        }
        for r, h in zip(transactions.itertuples(), hour_of_day(transactions["event_timestamp"]), strict=True)
    ]
