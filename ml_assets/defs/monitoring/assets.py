"""Monitoring: NannyML on each day's predictions, with no labels (CBPE, drift, data
quality) and, once the labels had time to arrive, realized performance."""

import dagster as dg

from ml_assets.defs.registry.mlflow_resource import MLflowResource
from ml_assets.defs.scoring.assets import WAREHOUSE_POOL
from ml_assets.partitions import daily_partitions, partition_date
from ml_assets.settings import get_settings

GROUP, KINDS = "monitoring", {"nannyml", "duckdb"}


def _spec(name: str, description: str) -> dg.AssetSpec:
    return dg.AssetSpec(name, deps=["predictions"], group_name=GROUP, kinds=KINDS, description=description,
                        partitions_def=daily_partitions)


@dg.multi_asset(
    specs=[
        _spec("estimated_performance", "CBPE estimate of ROC AUC and F1 without labels, with confidence bounds "
              "and NannyML's alert thresholds (table monitoring_estimated_performance)."),
        _spec("feature_drift", "Univariate drift per feature and on the score (Jensen-Shannon, chi2) and "
              "multivariate drift (PCA reconstruction error) (table monitoring_drift)."),
        _spec("data_quality", "Missing and unseen values per feature (table monitoring_data_quality)."),
    ],
    check_specs=[
        dg.AssetCheckSpec("estimated_performance_alert", asset="estimated_performance",
                          description="WARN when CBPE's estimate leaves NannyML's thresholds."),
        dg.AssetCheckSpec("drift_alert", asset="feature_drift",
                          description="WARN when any feature, the score or the reconstruction error drifts."),
        dg.AssetCheckSpec("missing_and_unseen_values", asset="data_quality", blocking=True,
                          description="ERROR on unseen categories or a missing-value alert."),
    ],
    partitions_def=daily_partitions,
    pool=WAREHOUSE_POOL,
    can_subset=False,
)
def daily_monitoring(context: dg.AssetExecutionContext, mlflow: MLflowResource):
    from ml_assets.defs.monitoring.daily import monitor_day
    from ml_assets.defs.monitoring.summary import summarize

    s = get_settings()
    day = partition_date(context.partition_key)
    tidy = monitor_day(s, mlflow, day)
    for asset_key, metadata, check in summarize(tidy, s.reports_dir / "daily" / f"{day}.html"):
        yield dg.MaterializeResult(asset_key=asset_key, metadata=metadata)
        yield dg.AssetCheckResult(asset_key=asset_key, **check)


@dg.asset(
    group_name=GROUP,
    kinds=KINDS,
    partitions_def=daily_partitions,
    pool=WAREHOUSE_POOL,
    deps=[
        "predictions",
        "estimated_performance",
        dg.AssetDep("label_arrivals", partition_mapping=dg.TimeWindowPartitionMapping(
            start_offset=1, end_offset=get_settings().label_delay_max_days, allow_nonexistent_upstream_partitions=False)),
    ],
    automation_condition=dg.AutomationCondition.eager(),
    description="Realized ROC AUC and F1 of the day once every chargeback could have arrived "
    "(label_delay_max_days later), and the estimation error estimated - realized.",
)
def realized_performance(context: dg.AssetExecutionContext, mlflow: MLflowResource) -> dg.MaterializeResult:
    from ml_assets.defs.monitoring.daily import realized_day

    rows = realized_day(get_settings(), mlflow, partition_date(context.partition_key))
    meta = {}
    for r in rows.itertuples():
        meta[f"realized_{r.metric}"] = float(r.value)
        if r.estimated == r.estimated:  # not NaN
            meta[f"estimated_{r.metric}"] = float(r.estimated)
            meta[f"estimation_error_{r.metric}"] = float(r.estimation_error)
            meta[f"{r.metric}_within_cbpe_bounds"] = bool(r.within_bounds)
    return dg.MaterializeResult(metadata=meta)


@dg.asset(
    group_name=GROUP,
    kinds={"nannyml", "html"},
    deps=["estimated_performance"],
    description="Rolling HTML report (data/reports/rolling.html): NannyML's CBPE and multivariate drift "
    "plots over the last 30 scored days.",
)
def monitoring_report(mlflow: MLflowResource) -> dg.MaterializeResult:
    from ml_assets.defs.monitoring.daily import rolling_report

    path, day = rolling_report(get_settings(), mlflow)
    return dg.MaterializeResult(metadata={"report": dg.MetadataValue.path(path), "up_to": str(day)})
