"""Features: DuckDB aggregate sources, ``feast apply``, and one asset per Feast feature
view (derived from the repo's catalogue) that loads each day into the online store.

Feast's registry and SQLite online store take one writer at a time, so every asset that
writes them runs in the ``feast`` concurrency pool (limit 1 in dagster.yaml)."""


import dagster as dg

from ml_assets import lake
from ml_assets.defs.features import aggregates
from ml_assets.defs.features.store import apply_repo, load_specs, materialize_day, repo_fingerprint
from ml_assets.partitions import daily_partitions, partition_date
from ml_assets.settings import get_settings

FEAST_POOL = "feast"
specs = load_specs(get_settings().feature_repo_dir)


def _lookback(days: int) -> dg.TimeWindowPartitionMapping:
    return dg.TimeWindowPartitionMapping(
        start_offset=-days, end_offset=-1, allow_nonexistent_upstream_partitions=True
    )


def _write_source(context: dg.AssetExecutionContext, table: str, frame) -> dg.MaterializeResult:
    path = lake.write_partition(frame, get_settings().lake_dir, table, context.partition_key)
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
    deps=[dg.AssetDep("raw_transactions", partition_mapping=_lookback(aggregates.ACTIVITY_LOOKBACK_DAYS))],
    description="Per customer, spending over the 1/7/30 days before the start of the day (DuckDB).",
)
def customer_activity_source(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    s = get_settings()
    frame = aggregates.customer_activity(s.lake_dir, partition_date(context.partition_key), s.start_date)
    return _write_source(context, "customer_activity_source", frame)


@dg.asset(
    group_name="features",
    partitions_def=daily_partitions,
    kinds={"duckdb", "parquet"},
    deps=[
        dg.AssetDep("raw_transactions", partition_mapping=_lookback(aggregates.RISK_TX_LOOKBACK_DAYS)),
        dg.AssetDep("label_arrivals", partition_mapping=_lookback(aggregates.RISK_LOOKBACK_DAYS)),
    ],
    description="Per merchant, chargeback rate over 30 days from chargebacks arrived by the start of the day (DuckDB).",
)
def merchant_risk_source(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    s = get_settings()
    frame = aggregates.merchant_risk(s.lake_dir, partition_date(context.partition_key), s.start_date)
    return _write_source(context, "merchant_risk_source", frame)


@dg.asset(
    group_name="features",
    kinds={"feast"},
    pool=FEAST_POOL,
    code_version=repo_fingerprint(get_settings().feature_repo_dir),
    description="`feast apply`: registers the entities, views and services of feature_repo/.",
)
def feast_apply() -> dg.MaterializeResult:
    applied = apply_repo()
    return dg.MaterializeResult(metadata={k: ", ".join(v) for k, v in applied.items()})


def _feature_view_asset(view) -> dg.AssetsDefinition:
    @dg.asset(
        name=view.name,
        group_name="feature_store",
        partitions_def=daily_partitions,
        kinds={"feast", "sqlite"},
        pool=FEAST_POOL,
        deps=[view.source_table, feast_apply],
        description=f"Feast feature view `{view.name}` (TTL {view.ttl}), loaded into the online store "
        f"one day at a time. {view.description}",
        metadata={"entity": view.entity, "features": ", ".join(view.features), "ttl": str(view.ttl)},
    )
    def _asset(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        day = partition_date(context.partition_key)
        materialize_day(view.name, day)
        # The SQLite online store overwrites regardless of timestamps: when an older day is
        # (re)loaded after a newer one, reload the newest so online reads stay current.
        done = context.instance.get_materialized_partitions(context.asset_key)
        newest = max(done, default=None)
        if newest is not None and partition_date(newest) > day:
            materialize_day(view.name, partition_date(newest))
        rows = len(lake.read_partition(get_settings().lake_dir, view.source_table, day))
        return dg.MaterializeResult(
            metadata={"rows": rows, "features": ", ".join(view.features), "online_newest_day": newest or str(day)}
        )

    return _asset


feature_view_assets = [_feature_view_asset(v) for v in specs.FEATURE_VIEWS]
