"""Card fraud's aggregate sources as they were written by hand before the problem spec: the
oracle tests/test_problem_aggregates.py holds the compiled views equal to, bit for bit.

The row stamped ``D 00:00`` describes the world as known at the start of day ``D``: it
reads only transactions before ``D`` and chargebacks that had arrived before ``D``, so a
transaction on day ``D`` joined point-in-time to it never sees the future.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from ml_assets.core import lake
from ml_assets.core.problem.aggregates import relation, run_sql

# typed empty relations stand in for the lake before its first day, so one query serves both
_NO_TRANSACTIONS = (
    "(SELECT NULL::VARCHAR AS transaction_id, NULL::BIGINT AS customer_id, NULL::BIGINT AS merchant_id, "
    "NULL::DOUBLE AS amount, NULL::VARCHAR AS channel, NULL::TIMESTAMPTZ AS event_timestamp WHERE false)"
)
_NO_LABELS = "(SELECT NULL::VARCHAR AS transaction_id, NULL::TIMESTAMPTZ AS arrived_at WHERE false)"


def customer_activity(lake_dir: Path, day: dt.date, first_day: dt.date, lookback_days: int) -> pd.DataFrame:
    files = lake.window_files(lake_dir, "raw_transactions", day, lookback_days, first_day)
    sql = f"""
    WITH tx AS (
        SELECT customer_id, merchant_id, amount, channel, event_timestamp,
               date_diff('second', event_timestamp, $start) / 86400.0 AS age_days,
               hour(event_timestamp) AS hr
        FROM {relation(files, "files", _NO_TRANSACTIONS)}
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
    return run_sql(sql, {"files": files, "start": pd.Timestamp(day, tz="UTC")})


def merchant_risk(
    lake_dir: Path,
    day: dt.date,
    first_day: dt.date,
    lookback_days: int,
    tx_lookback_days: int,
    smoothing_sales: float,
) -> pd.DataFrame:
    tx_files = lake.window_files(lake_dir, "raw_transactions", day, tx_lookback_days, first_day)
    label_files = lake.window_files(lake_dir, "label_arrivals", day, lookback_days, first_day)
    start = pd.Timestamp(day, tz="UTC")
    labels = relation(label_files, "labels", _NO_LABELS)
    sql = f"""
    WITH tx AS (
        SELECT transaction_id, merchant_id, amount, event_timestamp
        FROM {relation(tx_files, "tx", _NO_TRANSACTIONS)} WHERE event_timestamp < $start
    ),
    cb AS (
        SELECT tx.merchant_id, count(*) AS n,
            count(*) FILTER (WHERE l.arrived_at >= $start - INTERVAL 7 DAY) AS n_7d
        FROM (SELECT transaction_id, arrived_at FROM {labels} WHERE arrived_at < $start) l
        JOIN tx USING (transaction_id) GROUP BY tx.merchant_id
    ),
    recent AS (
        SELECT merchant_id, count(*) AS n, avg(amount) AS avg_amount,
            count(*) FILTER (WHERE event_timestamp >= $start - INTERVAL 1 DAY) AS n_1d,
            count(*) FILTER (WHERE event_timestamp >= $start - INTERVAL 7 DAY) AS n_7d
        FROM tx WHERE event_timestamp >= $window_start GROUP BY merchant_id
    )
    SELECT recent.merchant_id,
        recent.n::DOUBLE AS merchant_txn_count_30d,
        coalesce(cb.n, 0)::DOUBLE AS merchant_chargebacks_30d,
        -- smoothed towards zero so a merchant with few sales is not called risky by chance
        coalesce(cb.n, 0) / (recent.n + $smoothing) AS merchant_fraud_rate_30d,
        recent.avg_amount AS merchant_avg_amount_30d,
        -- velocity: a merchant suddenly busier than its month (fraud moving to it, a bust-out)
        -- shows the day after, where its chargebacks take a week or more to arrive
        recent.n_1d::DOUBLE AS merchant_txn_count_1d,
        recent.n_7d::DOUBLE AS merchant_txn_count_7d,
        (recent.n_7d / 7.0) / (recent.n / $window_days) AS merchant_txn_growth_7d,
        coalesce(cb.n_7d, 0)::DOUBLE AS merchant_chargebacks_7d,
        $start AS event_timestamp
    FROM recent LEFT JOIN cb USING (merchant_id) ORDER BY merchant_id
    """
    return run_sql(
        sql,
        {
            "tx": tx_files,
            "labels": label_files,
            "start": start,
            "smoothing": float(smoothing_sales),
            "window_start": start - pd.Timedelta(days=lookback_days),
            "window_days": float(lookback_days),
        },
    )


def transaction_context_udf(inputs: dict[str, list]) -> dict[str, list]:
    """Card fraud's request-time features as the on-demand function computed them by hand
    before the spec (``txn_hour``: the hour of the transaction with its minutes)."""
    import numpy as np

    amount = np.asarray(inputs["amount"], dtype="float64")  # None -> NaN, as pandas would

    def per_amount(feature: str) -> np.ndarray:
        return amount / (np.asarray(inputs[feature], dtype="float64") + 1.0)

    hour = np.asarray(inputs["txn_hour"], dtype="float64")
    return {
        "log_amount": np.log1p(amount).tolist(),
        "amount_to_avg_30d": per_amount("amount_avg_30d").tolist(),
        "amount_to_max_30d": per_amount("amount_max_30d").tolist(),
        "amount_to_avg_7d": per_amount("amount_avg_7d").tolist(),
        "is_online": [1.0 if channel == "online" else 0.0 for channel in inputs["channel"]],
        "is_night": ((hour < 6) | (hour >= 23)).astype("float64").tolist(),
    }
