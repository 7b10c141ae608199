-- customer_activity: reads {'source': ('raw_transactions', 30)}
WITH src AS (SELECT * FROM {source} WHERE event_timestamp < $start AND event_timestamp >= $start - INTERVAL 30 DAY),
base AS (SELECT customer_id,
  count(*) FILTER (WHERE event_timestamp >= $start - INTERVAL 1 DAY)::DOUBLE AS txn_count_1d,
  count(*) FILTER (WHERE event_timestamp >= $start - INTERVAL 7 DAY)::DOUBLE AS txn_count_7d,
  count(*) FILTER (WHERE event_timestamp >= $start - INTERVAL 30 DAY)::DOUBLE AS txn_count_30d,
  coalesce(sum(amount) FILTER (WHERE event_timestamp >= $start - INTERVAL 1 DAY), 0)::DOUBLE AS amount_sum_1d,
  coalesce(sum(amount) FILTER (WHERE event_timestamp >= $start - INTERVAL 7 DAY), 0)::DOUBLE AS amount_sum_7d,
  coalesce(sum(amount) FILTER (WHERE event_timestamp >= $start - INTERVAL 30 DAY), 0)::DOUBLE AS amount_sum_30d,
  avg(amount) FILTER (WHERE event_timestamp >= $start - INTERVAL 7 DAY)::DOUBLE AS amount_avg_7d,
  avg(amount) FILTER (WHERE event_timestamp >= $start - INTERVAL 30 DAY)::DOUBLE AS amount_avg_30d,
  max(amount) FILTER (WHERE event_timestamp >= $start - INTERVAL 30 DAY)::DOUBLE AS amount_max_30d,
  count(DISTINCT merchant_id) FILTER (WHERE event_timestamp >= $start - INTERVAL 7 DAY)::DOUBLE AS distinct_merchants_7d,
  avg(CASE WHEN (channel = 'online') THEN 1.0 ELSE 0.0 END) FILTER (WHERE event_timestamp >= $start - INTERVAL 30 DAY) AS online_share_30d,
  avg(CASE WHEN (((hour(event_timestamp) + minute(event_timestamp) / 60.0) < 6) OR ((hour(event_timestamp) + minute(event_timestamp) / 60.0) >= 23)) THEN 1.0 ELSE 0.0 END) FILTER (WHERE event_timestamp >= $start - INTERVAL 30 DAY) AS night_share_30d
  FROM src GROUP BY customer_id)
SELECT customer_id,
  txn_count_1d, txn_count_7d, txn_count_30d,
  amount_sum_1d, amount_sum_7d, amount_sum_30d,
  amount_avg_7d, amount_avg_30d,
  amount_max_30d,
  distinct_merchants_7d,
  online_share_30d,
  night_share_30d,
  $start AS event_timestamp
FROM (SELECT base.customer_id, base.txn_count_1d, base.txn_count_7d, base.txn_count_30d, base.amount_sum_1d, base.amount_sum_7d, base.amount_sum_30d, base.amount_avg_7d, base.amount_avg_30d, base.amount_max_30d, base.distinct_merchants_7d, base.online_share_30d, base.night_share_30d
  FROM base)
ORDER BY customer_id

-- merchant_risk: reads {'source': ('raw_transactions', 30), 'labels': ('label_arrivals', 30), 'spine': ('raw_transactions', 51)}
WITH src AS (SELECT * FROM {source} WHERE event_timestamp < $start AND event_timestamp >= $start - INTERVAL 30 DAY),
base AS (SELECT merchant_id,
  count(*) FILTER (WHERE event_timestamp >= $start - INTERVAL 30 DAY)::DOUBLE AS merchant_txn_count_30d,
  avg(amount) FILTER (WHERE event_timestamp >= $start - INTERVAL 30 DAY)::DOUBLE AS merchant_avg_amount_30d,
  count(*) FILTER (WHERE event_timestamp >= $start - INTERVAL 1 DAY)::DOUBLE AS merchant_txn_count_1d,
  count(*) FILTER (WHERE event_timestamp >= $start - INTERVAL 7 DAY)::DOUBLE AS merchant_txn_count_7d
  FROM src GROUP BY merchant_id),
arrived AS (SELECT l.arrived_at AS _arrived, s.merchant_id FROM {labels} l JOIN (SELECT transaction_id, merchant_id FROM {spine} WHERE event_timestamp < $start) s ON l.transaction_id = s.transaction_id WHERE l.arrived_at < $start AND l.arrived_at >= $start - INTERVAL 30 DAY),
labelled AS (SELECT merchant_id,
  count(*) FILTER (WHERE _arrived >= $start - INTERVAL 30 DAY)::DOUBLE AS merchant_chargebacks_30d,
  count(*) FILTER (WHERE _arrived >= $start - INTERVAL 7 DAY)::DOUBLE AS merchant_chargebacks_7d
  FROM arrived GROUP BY merchant_id)
SELECT merchant_id,
  merchant_txn_count_30d,
  merchant_chargebacks_30d,
  (merchant_chargebacks_30d / (merchant_txn_count_30d + 20)) AS merchant_fraud_rate_30d,
  merchant_avg_amount_30d,
  merchant_txn_count_1d, merchant_txn_count_7d,
  ((merchant_txn_count_7d / 7) / (merchant_txn_count_30d / 30)) AS merchant_txn_growth_7d,
  merchant_chargebacks_7d,
  $start AS event_timestamp
FROM (SELECT base.merchant_id, base.merchant_txn_count_30d, base.merchant_avg_amount_30d, base.merchant_txn_count_1d, base.merchant_txn_count_7d, coalesce(labelled.merchant_chargebacks_30d, 0)::DOUBLE AS merchant_chargebacks_30d, coalesce(labelled.merchant_chargebacks_7d, 0)::DOUBLE AS merchant_chargebacks_7d
  FROM base LEFT JOIN labelled USING (merchant_id))
ORDER BY merchant_id

