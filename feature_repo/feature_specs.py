"""The feature repo's catalogue in plain Python: entities, feature views, the on-demand
view and the feature service. ``features.py`` turns it into Feast objects; Dagster reads
it to derive one asset per feature view without importing Feast (which costs seconds at
code-location load). All of it comes from the process problem's spec
(problems/<name>/problem.yaml)."""

from __future__ import annotations

import dataclasses
import datetime as dt

from ml_assets.core.problem import process_problem
from ml_assets.core.problem.spec import AttributeView


@dataclasses.dataclass(frozen=True)
class FeatureViewSpec:
    name: str
    entity: str
    source_table: str  # lake table (and Dagster asset) the view reads
    features: dict[str, str]  # feature -> Feast type name (Float64 | String)
    ttl: dt.timedelta
    description: str
    timestamp_field: str = "event_timestamp"  # the source's time column (a snapshot table's own)


# Numeric features are Float64 on purpose: Feast returns Int64 as float offline and int
# online, which would be training/serving skew.
_FEAST_TYPES = {"str": "String", "int": "Float64", "float": "Float64", "bool": "Float64"}


def _views(spec) -> list[FeatureViewSpec]:
    """The spec's feature views: an attribute view reads its snapshot table, an aggregate view
    the table its compiled aggregates are written to (``<view>_source``)."""
    out = []
    for view in spec.feature_views():
        if isinstance(view, AttributeView):
            table = spec.tables[view.table]
            source, types = view.table, {f: _FEAST_TYPES[table.columns[f]] for f in view.features}
            stamp = table.timestamp
        else:  # the compiled aggregates are stamped event_timestamp (problem/aggregates.py)
            source, types = f"{view.name}_source", dict.fromkeys(view.feature_names(), "Float64")
            stamp = "event_timestamp"
        ttl = dt.timedelta(days=view.ttl_days)
        out.append(FeatureViewSpec(view.name, view.entity, source, types, ttl, view.description, stamp))
    return out


_SPEC = process_problem()  # problems/<name>/problem.yaml
ENTITIES = {name: _SPEC.entities[name].key for name in _SPEC.spine.entities}
FEATURE_VIEWS: list[FeatureViewSpec] = _views(_SPEC)

# What a request carries for the request-time features (its columns, and the hour of a
# timestamp an expression reads), the on-demand view computing them, and the fetched features
# they read, by view
REQUEST_FIELDS = {field: _FEAST_TYPES[kind] for field, kind in _SPEC.request_fields().items()}
ON_DEMAND_VIEW = "request_features"
ON_DEMAND_FEATURES = {f: _FEAST_TYPES[_SPEC.feature_types()[f]] for f in _SPEC.request_features}
ON_DEMAND_INPUTS = _SPEC.request_inputs_by_view()
REQUEST_EXPRESSIONS = dict(_SPEC.request_features)

FEATURE_SERVICE = f"{_SPEC.registered_model_name}_v1"


def feature_refs() -> list[str]:
    """Every feature of the feature service, as ``view:feature`` references."""
    refs = [f"{v.name}:{f}" for v in FEATURE_VIEWS for f in v.features]
    return refs + [f"{ON_DEMAND_VIEW}:{f}" for f in ON_DEMAND_FEATURES]


def model_features() -> list[str]:
    return [r.split(":", 1)[1] for r in feature_refs()]


# Features that grow by one a day for every entity: drift monitoring judges them as of one fixed
# day (the spec's monitoring.ages)
AGE_FEATURES = tuple(_SPEC.monitoring.ages)

# Levels of categorical features (the spec's model.categorical), fixed so training and serving
# encode them the same way; a value outside the list becomes missing (and shows up as "unseen" in
# monitoring).
CATEGORICAL_FEATURES = {name: list(levels) for name, levels in _SPEC.model.categorical.items()}
