"""Ingest: one daily-partitioned asset per landing table, validated by blocking checks.
A failing day goes to quarantine; the lake keeps its last good copy."""

from pathlib import Path

import dagster as dg

from ml_assets.core.ingest import CHECK_NAMES, TABLES, TableSpec, ingest_partition
from ml_assets.defs.keys import PREFIX, key
from ml_assets.defs.partitions import daily_partitions, partition_day
from ml_assets.defs.resources import LakeResource


def _ingest_asset(spec: TableSpec) -> dg.AssetsDefinition:
    @dg.asset(
        name=spec.name,
        key_prefix=PREFIX,
        group_name="ingest",
        description=spec.description,
        partitions_def=daily_partitions,
        kinds={"parquet", "python"},
        check_specs=[
            dg.AssetCheckSpec(
                name, asset=key(spec.name), blocking=True, description=f"{name} of the landing file"
            )
            for name in CHECK_NAMES
        ],
        automation_condition=dg.AutomationCondition.eager(),
    )
    def _asset(context: dg.AssetExecutionContext, lake: LakeResource):
        out = ingest_partition(
            spec,
            partition_day(context),
            Path(lake.landing_dir),
            Path(lake.lake_dir),
            Path(lake.quarantine_dir),
            lake.volume_rule(),
        )
        yield dg.MaterializeResult(
            metadata={
                "rows": out.rows,
                "path": dg.MetadataValue.path(str(out.path)),
                "quarantined": out.quarantined,
            }
        )
        for check in out.checks:
            yield dg.AssetCheckResult(
                check_name=check.name,
                passed=check.passed,
                severity=dg.AssetCheckSeverity.ERROR,
                description=check.message,
                metadata={"failing_rows": check.failing_rows},
            )

    return _asset


ingest_assets = [_ingest_asset(table) for table in TABLES.values()]
