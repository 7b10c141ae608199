"""The feature repo's catalogue in plain Python: entities, feature views, the on-demand
view and the feature service. ``features.py`` turns it into Feast objects; Dagster reads
it to derive one asset per feature view without importing Feast (which costs seconds at
code-location load). Edit features here, in one place."""

from __future__ import annotations

import dataclasses
import datetime as dt

ENTITIES = {"customer": "customer_id", "merchant": "merchant_id"}


@dataclasses.dataclass(frozen=True)
class FeatureViewSpec:
    name: str
    entity: str
    source_table: str  # lake table (and Dagster asset) the view reads
    features: dict[str, str]  # feature -> Feast type name (Float64 | String)
    ttl: dt.timedelta
    description: str


# Numeric features are Float64 on purpose: Feast returns Int64 as float offline and int
# online, which would be training/serving skew.
FEATURE_VIEWS: list[FeatureViewSpec] = [
    FeatureViewSpec(
        name="customer_profile",
        entity="customer",
        source_table="customer_snapshots",
        features={"customer_age_years": "Float64", "account_age_days": "Float64", "credit_limit": "Float64"},
        ttl=dt.timedelta(days=1),
        description="Customer master data, snapshot at the start of each day.",
    ),
    FeatureViewSpec(
        name="customer_activity",
        entity="customer",
        source_table="customer_activity_source",
        features={
            "txn_count_1d": "Float64",
            "txn_count_7d": "Float64",
            "txn_count_30d": "Float64",
            "amount_sum_1d": "Float64",
            "amount_sum_7d": "Float64",
            "amount_sum_30d": "Float64",
            "amount_avg_7d": "Float64",
            "amount_avg_30d": "Float64",
            "amount_max_30d": "Float64",
            "distinct_merchants_7d": "Float64",
            "online_share_30d": "Float64",
            "night_share_30d": "Float64",
        },
        ttl=dt.timedelta(days=1),
        description="Spending of the customer over the 1/7/30 days before the start of each day.",
    ),
    FeatureViewSpec(
        name="merchant_profile",
        entity="merchant",
        source_table="merchant_snapshots",
        features={"merchant_category": "String", "merchant_age_days": "Float64"},
        ttl=dt.timedelta(days=1),
        description="Merchant master data, snapshot at the start of each day.",
    ),
    FeatureViewSpec(
        name="merchant_risk",
        entity="merchant",
        source_table="merchant_risk_source",
        features={
            "merchant_txn_count_30d": "Float64",
            "merchant_chargebacks_30d": "Float64",
            "merchant_fraud_rate_30d": "Float64",
            "merchant_avg_amount_30d": "Float64",
            "merchant_txn_count_1d": "Float64",
            "merchant_txn_count_7d": "Float64",
            "merchant_txn_growth_7d": "Float64",
            "merchant_chargebacks_7d": "Float64",
        },
        ttl=dt.timedelta(days=1),
        description="Merchant chargebacks (30 and 7 days, arrived by the start of a day) and sales velocity "
        "(1, 7 and 30 days).",
    ),
]

# Request-time inputs of a transaction and the on-demand features derived from them.
REQUEST_FIELDS = {"amount": "Float64", "channel": "String", "txn_hour": "Float64"}
ON_DEMAND_VIEW = "transaction_context"
ON_DEMAND_FEATURES = {
    "log_amount": "Float64",
    "amount_to_avg_30d": "Float64",
    "amount_to_max_30d": "Float64",
    "amount_to_avg_7d": "Float64",
    "is_online": "Float64",
    "is_night": "Float64",
}
ON_DEMAND_INPUTS = {"customer_activity": ("amount_avg_30d", "amount_avg_7d", "amount_max_30d")}

FEATURE_SERVICE = "fraud_model_v1"


def feature_refs() -> list[str]:
    """Every feature of the feature service, as ``view:feature`` references."""
    refs = [f"{v.name}:{f}" for v in FEATURE_VIEWS for f in v.features]
    return refs + [f"{ON_DEMAND_VIEW}:{f}" for f in ON_DEMAND_FEATURES]


def model_features() -> list[str]:
    return [r.split(":", 1)[1] for r in feature_refs()]


# Ages in days that grow by one a day for every customer or merchant. Drift monitoring judges
# them as of one fixed day (in effect the opening day): a population that only grows older is
# no drift (measured: raw ages alerted on 118 and 110 of 122 stable days), a wave of new
# accounts is.
AGE_FEATURES = ("account_age_days", "merchant_age_days")

# Levels of categorical features, fixed so training and serving encode them the same way;
# a value outside the list becomes missing (and shows up as "unseen" in monitoring).
CATEGORICAL_FEATURES = {
    "merchant_category": [
        "electronics",
        "fuel",
        "grocery",
        "jewelry",
        "online_retail",
        "pharmacy",
        "restaurant",
        "travel",
    ],
}
