"""Monitoring: NannyML monitors fitted per model version, then each day's predictions
monitored with no labels (CBPE, drift, data quality) and, once the labels had time to
arrive, realized performance."""

import dagster as dg

from ml_assets.core.monitoring.checks import AssetSummary
from ml_assets.core.problem import process_problem
from ml_assets.core.records import ModelVersionRecord
from ml_assets.core.settings import Settings
from ml_assets.defs.keys import LABELS, PREFIX, inputs, key
from ml_assets.defs.partitions import (
    chunk_days,
    daily_partitions,
    partition_day,
    previous_days,
    shape_settings,
)
from ml_assets.defs.resources import FeastResource, MLflowResource, WarehouseResource

GROUP, KINDS = "monitoring", {"nannyml", "duckdb"}
# the scored days one day's monitoring reads: that day, or the week ending on it
CHUNK = dg.AssetDep(key("predictions"), partition_mapping=chunk_days(process_problem().monitoring.chunk_days))


@dg.asset(
    key_prefix=PREFIX,
    ins=inputs("model"),
    group_name=GROUP,
    kinds={"nannyml", "mlflow"},
    description="NannyML monitors (CBPE, realized performance, univariate and multivariate drift, missing "
    "and "
    "unseen values) fitted on the model version's labelled validation window, stored with the version in "
    "MLflow, so each day is monitored by the estimator of the model that scored it.",
)
def model_monitors(
    model: ModelVersionRecord,
    mlflow: MLflowResource,
    feast: FeastResource,
    settings: dg.ResourceParam[Settings],
) -> dg.MaterializeResult:
    from ml_assets.core.monitoring.fitting import fit_and_store

    path = fit_and_store(mlflow.store(), model, feast.repo().specs, settings)
    return dg.MaterializeResult(metadata={"model_version": model.version, "artifact": path})


def _spec(name: str, description: str) -> dg.AssetSpec:
    return dg.AssetSpec(
        key(name),
        deps=[CHUNK, key("model_monitors")],
        group_name=GROUP,
        kinds=KINDS,
        description=description,
        partitions_def=daily_partitions,
    )


def _check_spec(name: str, asset: str, blocking: bool, description: str) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(name, asset=key(asset), blocking=blocking, description=description)


@dg.multi_asset(
    specs=[
        _spec(
            "estimated_performance",
            "CBPE estimate of ROC AUC and F1 without labels, with confidence bounds "
            "and NannyML's alert thresholds (table monitoring_estimated_performance).",
        ),
        _spec(
            "feature_drift",
            "Univariate drift per feature and on the score (Jensen-Shannon, chi2) and "
            "multivariate drift (PCA reconstruction error) (table monitoring_drift).",
        ),
        _spec("data_quality", "Missing and unseen values per feature (table monitoring_data_quality)."),
    ],
    check_specs=[
        _check_spec(
            "estimated_performance_alert",
            "estimated_performance",
            False,
            "WARN when CBPE's estimate leaves NannyML's thresholds.",
        ),
        _check_spec(
            "drift_alert",
            "feature_drift",
            False,
            "WARN when any feature, the score or the reconstruction error drifts.",
        ),
        _check_spec(
            "missing_and_unseen_values",
            "data_quality",
            True,
            "ERROR on unseen categories or a missing-value rate well above its threshold.",
        ),
    ],
    partitions_def=daily_partitions,
    pool=WarehouseResource.pool,
    can_subset=False,
)
def daily_monitoring(
    context: dg.AssetExecutionContext,
    mlflow: MLflowResource,
    warehouse: WarehouseResource,
    settings: dg.ResourceParam[Settings],
):
    from ml_assets.core.monitoring.checks import summarize
    from ml_assets.core.monitoring.daily import daily_report_path, monitor_day

    day = partition_day(context)
    tidy = monitor_day(warehouse.warehouse(), mlflow.store(), day, settings)
    report = dg.MetadataValue.path(str(daily_report_path(settings, day)))
    for summary in summarize(tidy, settings.missing_rate_slack):
        yield dg.MaterializeResult(
            asset_key=key(summary.asset), metadata=_metadata(summary) | {"report": report}
        )
        yield _check_result(summary)


def _metadata(summary: AssetSummary) -> dict:
    return {**summary.numbers, "summary": dg.MetadataValue.md(summary.markdown)}


def _check_result(summary: AssetSummary) -> dg.AssetCheckResult:
    verdict = summary.verdict
    severity = dg.AssetCheckSeverity.ERROR if verdict.blocking else dg.AssetCheckSeverity.WARN
    return dg.AssetCheckResult(
        asset_key=key(summary.asset),
        check_name=verdict.check_name,
        passed=verdict.passed,
        severity=severity,
        description=verdict.description,
    )


@dg.asset(
    key_prefix=PREFIX,
    group_name=GROUP,
    kinds=KINDS,
    partitions_def=daily_partitions,
    pool=WarehouseResource.pool,
    deps=[
        CHUNK,
        key("estimated_performance"),
        dg.AssetDep(
            LABELS,
            partition_mapping=dg.TimeWindowPartitionMapping(
                start_offset=1,
                end_offset=shape_settings.label_delay_max_days,
                allow_nonexistent_upstream_partitions=False,
            ),
        ),
    ],
    automation_condition=dg.AutomationCondition.eager(),
    description="Realized ROC AUC, F1 and recall of the day once every label could have arrived "
    "(label_delay_max_days later), the recall the best threshold at a fixed-FPR policy's rate "
    "would have had, the estimation error estimated - realized, and the day estimated again by CBPE "
    "calibrated on its reference's complete labels (the retrain sensor's floor).",
)
def realized_performance(
    context: dg.AssetExecutionContext,
    mlflow: MLflowResource,
    warehouse: WarehouseResource,
    settings: dg.ResourceParam[Settings],
) -> dg.MaterializeResult:
    from ml_assets.core.monitoring.daily import realized_day

    rows = realized_day(warehouse.warehouse(), mlflow.store(), partition_day(context), settings)
    meta = {}
    for r in rows.itertuples():
        meta["model_version"] = str(r.model_version)
        meta[f"realized_{r.metric}"] = float(r.value)
        if r.estimated == r.estimated:  # not NaN: the day was estimated
            meta[f"estimated_{r.metric}"] = float(r.estimated)
            meta[f"estimation_error_{r.metric}"] = float(r.estimation_error)
            meta[f"{r.metric}_within_cbpe_bounds"] = bool(r.within_bounds)
        if r.complete_label_lower == r.complete_label_lower:
            # the retrain sensor's floor: CBPE calibrated on complete labels, as the day's are
            meta[f"{r.metric}_cbpe_lower_bound"] = float(r.complete_label_lower)
            meta[f"{r.metric}_cbpe_estimate"] = float(r.complete_label_estimate)
            meta["cbpe_reference_labels"] = str(r.reference_labels)
    return dg.MaterializeResult(metadata=meta)


@dg.asset(
    key_prefix=PREFIX,
    group_name=GROUP,
    kinds={"duckdb"},
    partitions_def=daily_partitions,
    pool=WarehouseResource.pool,
    deps=[
        dg.AssetDep(key("predictions"), partition_mapping=previous_days(shape_settings.label_signal_days)),
        LABELS,
        key("model_monitors"),
    ],
    description="Early label signal as known at the end of the day: the share of the positive labels "
    "arrived so far (for the last label_signal_days scored days) that the model had flagged, against its "
    "reference at the same label age (table monitoring_label_signal). Sees a new kind of positive "
    "weeks before realized performance can.",
)
def early_label_signal(
    context: dg.AssetExecutionContext,
    mlflow: MLflowResource,
    warehouse: WarehouseResource,
    settings: dg.ResourceParam[Settings],
) -> dg.MaterializeResult:
    from ml_assets.core.monitoring.daily import early_labels_day

    signals = early_labels_day(warehouse.warehouse(), mlflow.store(), partition_day(context), settings)
    if not signals:
        return dg.MaterializeResult(metadata={"summary": "no scored days before this one"})
    newest = signals[-1]
    meta = {
        "model_version": newest.model_version,
        "positives_arrived": newest.arrived,
        "positives_caught": newest.caught,
        "positives_caught_expected": newest.expected,
        "early_label_z_threshold": newest.z_threshold,
        "early_label_alert": newest.alert,
        "summary": dg.MetadataValue.md("\n\n".join(f"v{s.model_version}: {s.describe()}" for s in signals)),
    }
    if newest.z is not None:
        meta["early_label_z"] = newest.z
    if newest.auc_sd is not None:  # the ranking on the same labels: held, or a retrain's business
        meta |= {
            "early_label_roc_auc": newest.auc,
            "early_label_reference_roc_auc": newest.reference_auc,
            "early_label_roc_auc_sd": newest.auc_sd,
        }
    return dg.MaterializeResult(metadata=meta)


@dg.asset(
    key_prefix=PREFIX,
    group_name=GROUP,
    kinds={"nannyml", "html"},
    deps=[key("estimated_performance")],
    description="Rolling HTML report (data/<problem>/reports/rolling.html): NannyML's CBPE and "
    "multivariate drift plots over the last scored days.",
)
def monitoring_report(
    mlflow: MLflowResource, warehouse: WarehouseResource, settings: dg.ResourceParam[Settings]
) -> dg.MaterializeResult:
    from ml_assets.core.monitoring.daily import rolling_report

    path, day = rolling_report(warehouse.warehouse(), mlflow.store(), settings)
    return dg.MaterializeResult(metadata={"report": dg.MetadataValue.path(str(path)), "up_to": str(day)})
