"""Features: DuckDB aggregate sources, ``feast apply``, and one asset per Feast feature
view (derived from the repo's catalogue) that loads each day into the online store."""

import datetime as dt
from pathlib import Path

import dagster as dg
import pandas as pd

from ml_assets.core import lake as lake_files
from ml_assets.core.features.aggregates import AggregateSource, aggregate_source, aggregate_sources
from ml_assets.core.features.catalogue import load_specs, repo_fingerprint
from ml_assets.core.problem import problem_spec
from ml_assets.core.settings import Settings
from ml_assets.defs.keys import PREFIX, key
from ml_assets.defs.partitions import (
    daily_partitions,
    materialized_days,
    partition_day,
    partition_days,
    previous_days,
    shape_settings,
)
from ml_assets.defs.resources import FeastResource, LakeResource

specs = load_specs(shape_settings.feature_repo_dir)
S = shape_settings

# What get_historical_features reads (training, batch scoring): the offline sources of every
# feature view under the definitions registered by feast_apply. The feature-view assets are
# the online store, which serving reads.
OFFLINE_FEATURE_ASSETS = [
    key(n) for n in ["feast_apply", *sorted({v.source_table for v in specs.FEATURE_VIEWS})]
]


def _written(frame: pd.DataFrame, path) -> dg.MaterializeResult:
    return dg.MaterializeResult(
        metadata={
            "rows": len(frame),
            "path": dg.MetadataValue.path(str(path)),
            "preview": dg.MetadataValue.md(frame.head(5).to_markdown(index=False)),
        }
    )


def _aggregate_source_asset(source: AggregateSource) -> dg.AssetsDefinition:
    @dg.asset(
        name=source.table,
        key_prefix=PREFIX,
        group_name="features",
        partitions_def=daily_partitions,
        kinds={"duckdb", "parquet"},
        # the compiled SQL's: a changed spec marks the partitions written by the old query stale
        code_version=source.code_version,
        deps=[
            dg.AssetDep(key(table), partition_mapping=previous_days(days))
            for table, days in source.lake_days.items()
        ],
        description=f"{source.description} (DuckDB, compiled from the problem spec's `{source.view}`).",
    )
    def _asset(
        context: dg.AssetExecutionContext, lake: LakeResource, settings: dg.ResourceParam[Settings]
    ) -> dg.MaterializeResult:
        # compiled with the run's settings (a test world's window caps), not the code location's
        run_source = aggregate_source(problem_spec(settings), settings, source.view)
        written = []
        for day in partition_days(context):
            frame = run_source.compute(Path(lake.lake_dir), day, settings.start_date)
            written.append(_written(frame, lake_write(lake, frame, source.table, day)).metadata)
        return materialized_days(context, written)

    return _asset


aggregate_source_assets = [_aggregate_source_asset(x) for x in aggregate_sources(problem_spec(S), S)]


def lake_write(lake: LakeResource, frame: pd.DataFrame, table: str, day: dt.date):
    return lake_files.write_partition(frame, lake.lake_dir, table, day)


@dg.asset(
    key_prefix=PREFIX,
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
        key_prefix=PREFIX,
        group_name="feature_store",
        partitions_def=daily_partitions,
        kinds={"feast", "sqlite"},
        pool=FeastResource.pool,
        deps=[key(view.source_table), feast_apply],
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
