"""Feast objects built from ``feature_specs``. Source paths are absolute (built from the
data directory), because Feast resolves relative paths against the current directory."""

from __future__ import annotations

import os
from pathlib import Path

import feature_specs as specs
import numpy as np
import pandas as pd
from feast import Entity, FeatureService, FeatureView, Field, FileSource, RequestSource, ValueType
from feast.on_demand_feature_view import on_demand_feature_view
from feast.types import Float64, String

_TYPES = {"Float64": Float64, "String": String}
# ML_ASSETS_DATA_DIR re-roots the data (tests, deployments); default: <checkout>/data
DATA_DIR = Path(os.environ.get("ML_ASSETS_DATA_DIR") or Path(__file__).resolve().parent.parent / "data").resolve()


def _glob(table: str) -> str:
    return str(DATA_DIR / "lake" / table / "date=*" / "part.parquet")


entities = {
    name: Entity(name=name, join_keys=[key], value_type=ValueType.INT64)
    for name, key in specs.ENTITIES.items()
}

feature_views = {
    v.name: FeatureView(
        name=v.name,
        entities=[entities[v.entity]],
        ttl=v.ttl,
        schema=[Field(name=f, dtype=_TYPES[t]) for f, t in v.features.items()],
        source=FileSource(
            name=v.source_table,
            path=_glob(v.source_table),
            timestamp_field="event_timestamp",
        ),
        online=True,
        description=v.description,
    )
    for v in specs.FEATURE_VIEWS
}
customer_profile = feature_views["customer_profile"]
customer_activity = feature_views["customer_activity"]
merchant_profile = feature_views["merchant_profile"]
merchant_risk = feature_views["merchant_risk"]
customer, merchant = entities["customer"], entities["merchant"]

transaction_request = RequestSource(
    name="transaction_request",
    schema=[Field(name=f, dtype=_TYPES[t]) for f, t in specs.REQUEST_FIELDS.items()],
)


@on_demand_feature_view(
    sources=[customer_activity, transaction_request],
    schema=[Field(name=f, dtype=_TYPES[t]) for f, t in specs.ON_DEMAND_FEATURES.items()],
    mode="pandas",
    description="Request-time features of a transaction relative to the customer's habits.",
)
def transaction_context(inputs: pd.DataFrame) -> pd.DataFrame:
    amount = inputs["amount"].astype("float64")
    out = pd.DataFrame(index=inputs.index)
    out["log_amount"] = np.log1p(amount)
    out["amount_to_avg_30d"] = amount / (inputs["amount_avg_30d"].astype("float64") + 1.0)
    out["amount_to_max_30d"] = amount / (inputs["amount_max_30d"].astype("float64") + 1.0)
    out["amount_to_avg_7d"] = amount / (inputs["amount_avg_7d"].astype("float64") + 1.0)
    out["is_online"] = (inputs["channel"] == "online").astype("float64")
    hour = inputs["txn_hour"].astype("float64")
    out["is_night"] = ((hour < 6) | (hour >= 23)).astype("float64")
    return out


fraud_model_v1 = FeatureService(
    name=specs.FEATURE_SERVICE,
    features=[*feature_views.values(), transaction_context],
    description="Every feature the fraud model reads.",
)
