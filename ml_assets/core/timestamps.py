"""Timestamps read from frames, converted without pandas' cache check: on a column already of
datetimes, ``to_datetime`` first checks whether caching its conversions would pay by boxing up
to 10,000 timestamps, which costs more than the conversion itself (BENCHMARKS.md,
benchmarks/day_chunks.conversion). The result is the same with or without the cache."""

from __future__ import annotations


def utc_times(values):
    """``values`` (a column, an array, a scalar) as UTC datetimes."""
    import pandas as pd

    return pd.to_datetime(values, utc=True, cache=False)


def times(values):
    """``values`` as datetimes, naive ones left naive."""
    import pandas as pd

    return pd.to_datetime(values, cache=False)
