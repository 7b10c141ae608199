"""Features: DuckDB aggregate sources, ``feast apply``, and one asset per Feast feature
view (derived from the repo's catalogue) that loads each day into the online store."""

import datetime as dt
import hashlib
from pathlib import Path

import dagster as dg
import pandas as pd

from ml_assets.core import lake as lake_files
from ml_assets.core.features import aggregates
from ml_assets.core.features.catalogue import load_specs, repo_fingerprint
from ml_assets.core.settings import Settings
from ml_assets.defs.partitions import daily_partitions, partition_day, previous_days, shape_settings
from ml_assets.defs.resources import FeastResource, LakeResource

specs = load_specs(shape_settings.feature_repo_dir)
S = shape_settings

# What get_historical_features reads (training, batch scoring): the offline sources of every
# feature view under the definitions registered by feast_apply. The feature-view assets are
# the online store, which serving reads.
OFFLINE_FEATURE_ASSETS = ["feast_apply", *sorted({v.source_table for v in specs.FEATURE_VIEWS})]

# The aggregate sources' code version is their SQL's: when a query changes (a new column),
# Dagster marks the partitions written by the old one as stale instead of mixing schemas silently.
AGGREGATES_VERSION = hashlib.sha256(Path(aggregates.__file__).read_bytes()).hexdigest()[:12]


def _written(frame: pd.DataFrame, path) -> dg.MaterializeResult:
    return dg.MaterializeResult(
        metadata={
            "rows": len(frame),
            "path": dg.MetadataValue.path(str(path)),
            "preview": dg.MetadataValue.md(frame.head(5).to_markdown(index=False)),
        }
    )


@dg.asset(
    group_name="features",
    partitions_def=daily_partitions,
    kinds={"duckdb", "parquet"},
    code_version=AGGREGATES_VERSION,
    deps=[dg.AssetDep("raw_transactions", partition_mapping=previous_days(S.activity_lookback_days))],
    description="Per customer, spending over the 1/7/30 days before the start of the day (DuckDB).",
)
def customer_activity_source(
    context: dg.AssetExecutionContext, lake: LakeResource, settings: dg.ResourceParam[Settings]
) -> dg.MaterializeResult:
    day = partition_day(context)
    frame = aggregates.customer_activity(
        Path(lake.lake_dir), day, settings.start_date, settings.activity_lookback_days
    )
    return _written(frame, lake_write(lake, frame, "customer_activity_source", day))


@dg.asset(
    group_name="features",
    partitions_def=daily_partitions,
    kinds={"duckdb", "parquet"},
    code_version=AGGREGATES_VERSION,
    deps=[
        dg.AssetDep("raw_transactions", partition_mapping=previous_days(S.risk_tx_lookback_days)),
        dg.AssetDep("label_arrivals", partition_mapping=previous_days(S.risk_lookback_days)),
    ],
    description="Per merchant, chargebacks over 30 and 7 days (arrived by the start of the day) and sales "
    "velocity over 1, 7 and 30 days (DuckDB).",
)
def merchant_risk_source(
    context: dg.AssetExecutionContext, lake: LakeResource, settings: dg.ResourceParam[Settings]
) -> dg.MaterializeResult:
    day = partition_day(context)
    frame = aggregates.merchant_risk(
        Path(lake.lake_dir),
        day,
        settings.start_date,
        settings.risk_lookback_days,
        settings.risk_tx_lookback_days,
        settings.risk_smoothing_sales,
    )
    return _written(frame, lake_write(lake, frame, "merchant_risk_source", day))


def lake_write(lake: LakeResource, frame: pd.DataFrame, table: str, day: dt.date):
    return lake_files.write_partition(frame, lake.lake_dir, table, day)


@dg.asset(
    group_name="features",
    kinds={"feast"},
    pool=FeastResource.pool,
    code_version=repo_fingerprint(S.feature_repo_dir),
    description="`feast apply`: registers the entities, views and services of feature_repo/ and deletes "
    "what the repo no longer defines.",
)
def feast_apply(feast: FeastResource) -> dg.MaterializeResult:
    applied = feast.repo().apply()
    return dg.MaterializeResult(metadata={kind: ", ".join(names) for kind, names in applied.items()})


def _feature_view_asset(view) -> dg.AssetsDefinition:
    @dg.asset(
        name=view.name,
        group_name="feature_store",
        partitions_def=daily_partitions,
        kinds={"feast", "sqlite"},
        pool=FeastResource.pool,
        deps=[view.source_table, feast_apply],
        description=f"Feast feature view `{view.name}` (TTL {view.ttl}), loaded into the online store "
        f"one day at a time. {view.description}",
        metadata={"entity": view.entity, "features": ", ".join(view.features), "ttl": str(view.ttl)},
    )
    def _asset(context: dg.AssetExecutionContext, feast: FeastResource) -> dg.MaterializeResult:
        # bulk and newest-wins: a backfilled older day never replaces a newer one online
        entities = feast.repo().load_online_day(view.name, partition_day(context))
        return dg.MaterializeResult(metadata={"entities": entities, "features": ", ".join(view.features)})

    return _asset


feature_view_assets = [_feature_view_asset(v) for v in specs.FEATURE_VIEWS]
