"""Feast objects built from ``feature_specs``. Source paths are absolute (built from the
data directory), because Feast resolves relative paths against the current directory.

``build(data_dir)`` makes the objects for any data directory (ml_assets calls it, so no
process-wide state decides where the sources are); the module-level objects below are
the same objects for the default directory, so the plain Feast CLI and SDK work here too.
"""

from __future__ import annotations

import os
import types
from pathlib import Path
from typing import NamedTuple

import feature_specs as specs
import numpy as np
from feast import Entity, FeatureService, FeatureView, Field, FileSource, RequestSource, ValueType
from feast.on_demand_feature_view import OnDemandFeatureView, on_demand_feature_view
from feast.types import Float64, String

_TYPES = {"Float64": Float64, "String": String}


class RepoObjects(NamedTuple):
    entities: dict[str, Entity]
    feature_views: dict[str, FeatureView]
    request_source: RequestSource
    on_demand_views: dict[str, OnDemandFeatureView]
    feature_services: dict[str, FeatureService]


def transaction_context_udf(inputs: dict[str, list]) -> dict[str, list]:
    """Request-time features, on columns (lists) of rows. Python mode, not pandas: an online
    read through the feature service took 7.7 ms a row in pandas mode and 0.9 ms in python
    mode (300 single-row reads, 2 cores); offline it runs once over the whole entity frame."""
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


def _fresh(fn):
    """A copy of ``fn``: Feast's decorator rewrites the function's module to ``__main__`` (for
    dill), which would break reading its source when the repo is built a second time."""
    return types.FunctionType(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)


def build(data_dir: Path) -> RepoObjects:
    data_dir = Path(data_dir).resolve()
    entities = {
        name: Entity(name=name, join_keys=[key], value_type=ValueType.INT64)
        for name, key in specs.ENTITIES.items()
    }
    views = {
        v.name: FeatureView(
            name=v.name,
            entities=[entities[v.entity]],
            ttl=v.ttl,
            schema=[Field(name=f, dtype=_TYPES[t]) for f, t in v.features.items()],
            source=FileSource(
                name=v.source_table,
                path=str(data_dir / "lake" / v.source_table / "date=*" / "part.parquet"),
                timestamp_field="event_timestamp",
            ),
            online=True,
            description=v.description,
        )
        for v in specs.FEATURE_VIEWS
    }
    request = RequestSource(
        name="transaction_request",
        schema=[Field(name=f, dtype=_TYPES[t]) for f, t in specs.REQUEST_FIELDS.items()],
    )
    context = on_demand_feature_view(
        name=specs.ON_DEMAND_VIEW,
        sources=[views[view] for view in specs.ON_DEMAND_INPUTS] + [request],
        schema=[Field(name=f, dtype=_TYPES[t]) for f, t in specs.ON_DEMAND_FEATURES.items()],
        mode="python",
        description="Request-time features of a transaction relative to the customer's habits.",
    )(_fresh(transaction_context_udf))
    service = FeatureService(
        name=specs.FEATURE_SERVICE,
        features=[*views.values(), context],
        description="Every feature the fraud model reads.",
    )
    return RepoObjects(entities, views, request, {context.name: context}, {service.name: service})


# The default data directory (or ML_ASSETS_DATA_DIR): what `feast` run in this folder sees.
# Feast's CLI finds objects among module attributes, so every object is one, by its name.
_default = build(os.environ.get("ML_ASSETS_DATA_DIR") or Path(__file__).resolve().parent.parent / "data")
globals().update(
    {
        **_default.entities,
        **_default.feature_views,
        **_default.on_demand_views,
        **_default.feature_services,
        _default.request_source.name: _default.request_source,
    }
)
