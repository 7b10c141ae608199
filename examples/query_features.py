"""Query the feature store with the plain Feast SDK, as a data scientist would.

Run after `make dev` has prepared the data (from the repository root):

    .venv/bin/python examples/query_features.py
"""

import datetime as dt
import os
from pathlib import Path

import pandas as pd
from feast import FeatureStore

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("ML_ASSETS_DATA_DIR", str(ROOT / "data" / "card_fraud"))  # where the sources live

store = FeatureStore(repo_path=str(ROOT / "feature_repo"))
service = store.get_feature_service("fraud_model_v1")
transactions = sorted(
    (Path(os.environ["ML_ASSETS_DATA_DIR"]) / "lake" / "raw_transactions").glob("date=*/part.parquet")
)
if not transactions:
    raise SystemExit("no transactions in the lake yet: run `make dev` (or `make bootstrap`) first")

# 1) Point-in-time-correct training rows: a few transactions of the newest day, each joined
#    to the feature values that were known at its own timestamp.
tx = pd.read_parquet(transactions[-1]).head(5)
entity_df = tx[["customer_id", "merchant_id", "event_timestamp", "amount", "channel"]].assign(
    hour_of_event_timestamp=tx["event_timestamp"].dt.hour + tx["event_timestamp"].dt.minute / 60.0,
    channel=tx["channel"].astype(str),
)
historical = store.get_historical_features(entity_df=entity_df, features=service).to_df()
print("get_historical_features (point in time):")
print(historical.T.to_string())

# 2) Online features for a live request: latest values from the online store plus the
#    on-demand features computed from the request itself.
online = store.get_online_features(
    features=service,
    entity_rows=[
        {
            "customer_id": int(r.customer_id),
            "merchant_id": int(r.merchant_id),
            "amount": float(r.amount),
            "channel": str(r.channel),
            "hour_of_event_timestamp": float(dt.datetime.now().hour),
        }
        for r in tx.head(2).itertuples()
    ],
).to_df()
print("\nget_online_features:")
print(online.T.to_string())
