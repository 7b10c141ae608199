"""The daily calendar every partitioned asset shares, and the other settings that shape
the code location (which assets exist, partition mappings, sensor and schedule timing).

Those are fixed when the code location loads, so they are read from the environment's
settings once, here; everything a run does reads the ``settings`` resource instead."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from ml_assets.core.settings import Settings

shape_settings = Settings()
daily_partitions = dg.DailyPartitionsDefinition(
    start_date=shape_settings.start_date.isoformat(),
    end_date=shape_settings.end_date.isoformat(),
    timezone="UTC",
)


def partition_day(context: dg.AssetExecutionContext) -> dt.date:
    """The day of the partition being materialized (from Dagster's own time window)."""
    return context.partition_time_window.start.date()


def partition_days(context: dg.AssetExecutionContext) -> list[dt.date]:
    """The days being materialized, oldest first: one, or a range (a run of several partitions:
    a replay's warm-up, a run launched with ``partition_range_tags``)."""
    return [dt.date.fromisoformat(k) for k in context.partition_keys]


def materialized_days(context: dg.AssetExecutionContext, metadata: list[dict]) -> dg.MaterializeResult:
    """The result of a run over ``partition_days``: each day's metadata on its own partition's
    materialization (one day: the result's own)."""
    if len(metadata) == 1:
        return dg.MaterializeResult(metadata=metadata[0])
    for partition, meta in zip(context.partition_keys, metadata, strict=True):
        context.add_asset_metadata(meta, partition_key=partition)
    return dg.MaterializeResult()


def partition_range_tags(first: str, last: str) -> dict[str, str]:
    """The tags that make a run materialize partitions ``first`` to ``last`` (Dagster's documented
    run tags for a range; no public constant holds them)."""
    return {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}


def previous_days(days: int) -> dg.TimeWindowPartitionMapping:
    """The ``days`` partitions before this one (not this one)."""
    return dg.TimeWindowPartitionMapping(
        start_offset=-days, end_offset=-1, allow_nonexistent_upstream_partitions=True
    )


def chunk_days(days: int) -> dg.TimeWindowPartitionMapping | None:
    """The ``days`` partitions ending on this one (a monitoring chunk's days; None: this one)."""
    if days == 1:
        return None
    return dg.TimeWindowPartitionMapping(
        start_offset=1 - days, end_offset=0, allow_nonexistent_upstream_partitions=True
    )
