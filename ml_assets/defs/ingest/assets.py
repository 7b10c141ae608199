"""Ingest: one daily-partitioned asset per landing table, validated by blocking checks.
A failing day goes to quarantine; the lake keeps its last good copy."""

import datetime as dt
from pathlib import Path

import dagster as dg

from ml_assets.core.contracts import value_schema
from ml_assets.core.ingest import (
    TABLES,
    CheckOutcome,
    IngestOutcome,
    TableSpec,
    combine_checks,
    ingest_partition,
)
from ml_assets.core.problem.parts import Table
from ml_assets.defs.keys import PREFIX, key
from ml_assets.defs.partitions import daily_partitions, materialized_days, partition_days
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
            for name in spec.checks
        ],
        automation_condition=dg.AutomationCondition.eager(),
        metadata={"dagster/column_schema": column_schema(spec.contract)},  # its contract, in the UI
    )
    def _asset(context: dg.AssetExecutionContext, lake: LakeResource):
        days = partition_days(context)
        outcomes = [
            ingest_partition(
                spec,
                day,
                Path(lake.landing_dir),
                Path(lake.lake_dir),
                Path(lake.quarantine_dir),
                lake.volume_rule(),
            )
            for day in days
        ]
        yield materialized_days(context, [_materialization(out) for out in outcomes])
        by_name = [{c.name: c for c in out.checks} for out in outcomes]
        for name in by_name[0]:
            check = combine_checks([(day, found[name]) for day, found in zip(days, by_name, strict=True)])
            yield dg.AssetCheckResult(
                check_name=name,
                passed=check.passed,
                severity=dg.AssetCheckSeverity.ERROR,
                description=check.message,
                metadata=_check_metadata(check),
            )

    return _asset


def column_schema(table: Table) -> dg.TableSchema:
    """The table's contract as Dagster shows it on the asset (dagster-pandera's conversion, each
    column typed as declared: the types are checks of their own in core/contracts.py)."""
    import warnings

    from dagster_pandera import pandera_schema_to_dagster_type

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)  # dagster-pandera is marked beta
        shown = pandera_schema_to_dagster_type(value_schema(table, dt.date(2000, 1, 1))).metadata["schema"]
    return dg.TableSchema(
        columns=[
            dg.TableColumn(c.name, table.columns[c.name], constraints=c.constraints)
            for c in shown.schema.columns
        ]
    )


def _materialization(out: IngestOutcome) -> dict:
    return {"rows": out.rows, "path": dg.MetadataValue.path(str(out.path)), "quarantined": out.quarantined}


def _check_metadata(check: CheckOutcome) -> dict:
    """The failing rows' count, and each broken rule with example rows (as the UI shows them)."""
    meta: dict = {"failing_rows": check.failing_rows}
    if check.rules:
        lines = ["| column | rule | rows | example row |", "|---|---|---|---|"]
        for r in check.rules:
            example = ", ".join(f"{k}={v}" for k, v in r.examples[0].items()) if r.examples else ""
            lines.append(f"| {r.column} | {r.rule} | {r.rows} | {example.replace('|', '/')} |")
        meta["broken_rules"] = dg.MetadataValue.md("\n".join(lines))
    return meta


ingest_assets = [_ingest_asset(table) for table in TABLES.values()]
