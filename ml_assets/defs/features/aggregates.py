"""Aggregate feature sources computed with DuckDB from the lake.

The row stamped ``D 00:00`` describes the world as known at the start of day ``D``: it
reads only transactions before ``D`` and chargebacks that had arrived before ``D``, so a
transaction on day ``D`` joined point-in-time to it never sees the future.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from ml_assets import lake

ACTIVITY_LOOKBACK_DAYS = 30
RISK_LOOKBACK_DAYS = 30
# chargebacks of the risk window can refer to transactions up to this many days earlier
RISK_TX_LOOKBACK_DAYS = 30 + 30


def _files(lake_dir: Path, table: str, day: dt.date, lookback: int, first_day: dt.date) -> list[str]:
    """Partition files for ``[day - lookback, day)``; a missing day inside the calendar is an error."""
    files = []
    for k in range(lookback, 0, -1):
        d = day - dt.timedelta(days=k)
        if d < first_day:
            continue
        path = lake.partition_path(lake_dir, table, d)
        if not path.exists():
            raise FileNotFoundError(
                f"{table} partition {d} is missing ({path}); it is needed for features of {day}: "
                f"materialize {table} for {d} first"
            )
        files.append(str(path))
    return files


def _connect():
    import duckdb

    return duckdb.connect(config={"threads": 2})


def customer_activity(lake_dir: Path, day: dt.date, first_day: dt.date) -> pd.DataFrame:
    files = _files(lake_dir, "raw_transactions", day, ACTIVITY_LOOKBACK_DAYS, first_day)
    start = pd.Timestamp(day, tz="UTC")
    if not files:
        return _empty_activity(start)
    sql = """
    WITH tx AS (
        SELECT customer_id, merchant_id, amount, channel, event_timestamp,
               date_diff('second', event_timestamp, $start) / 86400.0 AS age_days,
               hour(event_timestamp) AS hr
        FROM read_parquet($files)
        WHERE event_timestamp < $start
    )
    SELECT customer_id,
        count(*) FILTER (WHERE age_days <= 1)::DOUBLE AS txn_count_1d,
        count(*) FILTER (WHERE age_days <= 7)::DOUBLE AS txn_count_7d,
        count(*)::DOUBLE AS txn_count_30d,
        coalesce(sum(amount) FILTER (WHERE age_days <= 1), 0) AS amount_sum_1d,
        coalesce(sum(amount) FILTER (WHERE age_days <= 7), 0) AS amount_sum_7d,
        sum(amount) AS amount_sum_30d,
        avg(amount) FILTER (WHERE age_days <= 7) AS amount_avg_7d,
        avg(amount) AS amount_avg_30d,
        max(amount) AS amount_max_30d,
        count(DISTINCT merchant_id) FILTER (WHERE age_days <= 7)::DOUBLE AS distinct_merchants_7d,
        avg(CASE WHEN channel = 'online' THEN 1.0 ELSE 0.0 END) AS online_share_30d,
        avg(CASE WHEN hr < 6 OR hr >= 23 THEN 1.0 ELSE 0.0 END) AS night_share_30d,
        $start AS event_timestamp
    FROM tx GROUP BY customer_id ORDER BY customer_id
    """
    with _connect() as con:
        return con.execute(sql, {"files": files, "start": start}).df().pipe(_utc)


def merchant_risk(lake_dir: Path, day: dt.date, first_day: dt.date) -> pd.DataFrame:
    tx_files = _files(lake_dir, "raw_transactions", day, RISK_TX_LOOKBACK_DAYS, first_day)
    label_files = _files(lake_dir, "label_arrivals", day, RISK_LOOKBACK_DAYS, first_day)
    start = pd.Timestamp(day, tz="UTC")
    if not tx_files:
        return _empty_risk(start)
    window_start = start - pd.Timedelta(days=RISK_LOOKBACK_DAYS)
    labels = "SELECT transaction_id FROM read_parquet($labels) WHERE arrived_at < $start" if label_files else (
        "SELECT NULL::VARCHAR AS transaction_id WHERE false"
    )
    sql = f"""
    WITH tx AS (SELECT transaction_id, merchant_id, amount, event_timestamp FROM read_parquet($tx) WHERE event_timestamp < $start),
    cb AS (SELECT tx.merchant_id, count(*) AS n FROM ({labels}) l JOIN tx USING (transaction_id) GROUP BY tx.merchant_id),
    recent AS (
        SELECT merchant_id, count(*) AS n, avg(amount) AS avg_amount FROM tx
        WHERE event_timestamp >= $window_start GROUP BY merchant_id
    )
    SELECT recent.merchant_id,
        recent.n::DOUBLE AS merchant_txn_count_30d,
        coalesce(cb.n, 0)::DOUBLE AS merchant_chargebacks_30d,
        -- smoothed towards zero so a merchant with few sales is not called risky by chance
        coalesce(cb.n, 0) / (recent.n + 20.0) AS merchant_fraud_rate_30d,
        recent.avg_amount AS merchant_avg_amount_30d,
        $start AS event_timestamp
    FROM recent LEFT JOIN cb USING (merchant_id) ORDER BY merchant_id
    """
    params = {"tx": tx_files, "start": start, "window_start": window_start}
    if label_files:
        params["labels"] = label_files
    with _connect() as con:
        return con.execute(sql, params).df().pipe(_utc)


def _utc(df: pd.DataFrame) -> pd.DataFrame:
    df["event_timestamp"] = pd.to_datetime(df["event_timestamp"], utc=True).astype("datetime64[us, UTC]")
    return df


def _empty(columns: list[str], key: str) -> pd.DataFrame:
    df = pd.DataFrame({key: pd.Series(dtype="int64"), **{c: pd.Series(dtype="float64") for c in columns}})
    df["event_timestamp"] = pd.Series(dtype="datetime64[us, UTC]")
    return df


def _empty_activity(start):
    return _empty(_spec_features("customer_activity"), "customer_id")


def _empty_risk(start):
    return _empty(_spec_features("merchant_risk"), "merchant_id")


def _spec_features(view: str) -> list[str]:
    from ml_assets.defs.features.store import load_specs

    return list(next(v for v in load_specs().FEATURE_VIEWS if v.name == view).features)
