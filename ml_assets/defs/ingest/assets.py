"""Ingest: one daily-partitioned asset per landing table, validated by blocking checks.

A partition that fails a check is written to ``data/quarantine`` instead of the lake, so
a bad day never reaches the features and the last good copy of that day stays in place.
"""


import dagster as dg

from ml_assets import lake
from ml_assets.defs.ingest.tables import CHECK_NAMES, TABLES, TableSpec, normalize, validate
from ml_assets.partitions import daily_partitions, partition_date
from ml_assets.settings import get_settings


def ingest_partition(spec: TableSpec, day) -> tuple[list, dict]:
    """Validate one landing partition and move it into the lake (or quarantine)."""
    s = get_settings()
    raw = lake.read_partition(s.landing_dir, spec.landing, day)
    outcomes = validate(raw, spec, day)
    if all(o.passed for o in outcomes):
        path = lake.write_partition(normalize(raw, spec), s.lake_dir, spec.name, day)
        return outcomes, {"rows": len(raw), "path": str(path), "quarantined": False}
    path = lake.write_partition(raw, s.data_dir / "quarantine", spec.name, day)
    return outcomes, {"rows": len(raw), "path": str(path), "quarantined": True}


def _ingest_asset(spec: TableSpec) -> dg.AssetsDefinition:
    @dg.asset(
        name=spec.name,
        group_name="ingest",
        description=spec.description,
        partitions_def=daily_partitions,
        kinds={"parquet", "python"},
        check_specs=[
            dg.AssetCheckSpec(name, asset=spec.name, blocking=True, description=f"{name} of the landing file")
            for name in CHECK_NAMES
        ],
        automation_condition=dg.AutomationCondition.eager(),
    )
    def _asset(context: dg.AssetExecutionContext):
        outcomes, meta = ingest_partition(spec, partition_date(context.partition_key))
        yield dg.MaterializeResult(metadata={**meta, "path": dg.MetadataValue.path(meta["path"])})
        for o in outcomes:
            yield dg.AssetCheckResult(
                check_name=o.name,
                passed=o.passed,
                severity=dg.AssetCheckSeverity.ERROR,
                description=o.message,
                metadata={"failing_rows": o.failing_rows},
            )

    return _asset


raw_transactions, label_arrivals, customer_snapshots, merchant_snapshots = (
    _ingest_asset(TABLES[name])
    for name in ("raw_transactions", "label_arrivals", "customer_snapshots", "merchant_snapshots")
)
