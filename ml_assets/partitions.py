"""The daily calendar every partitioned asset shares."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from ml_assets.settings import get_settings


def _daily() -> dg.DailyPartitionsDefinition:
    s = get_settings()
    return dg.DailyPartitionsDefinition(
        start_date=s.start_date.isoformat(), end_date=s.end_date.isoformat(), timezone="UTC"
    )


daily_partitions = _daily()


def partition_date(key: str) -> dt.date:
    return dt.date.fromisoformat(key)


def day_index(key: str | dt.date) -> int:
    day = partition_date(key) if isinstance(key, str) else key
    return (day - get_settings().start_date).days
