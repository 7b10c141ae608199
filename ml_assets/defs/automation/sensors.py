"""Automation: the retrain sensor (driven by CBPE estimates read from the event log, never
recomputed here) and the daily schedule."""

import dagster as dg

from ml_assets.core.retrain_policy import RetrainPolicy, SensorState, decide
from ml_assets.core.settings import Settings
from ml_assets.defs.automation.jobs import daily_cycle_job, training_job
from ml_assets.defs.partitions import shape_settings

ESTIMATE = dg.AssetKey("estimated_performance")
METRIC = "estimated_roc_auc"
SENSOR_NAME = "retrain_on_performance_drop"
TRIGGER_TAG = "ml_assets/trigger"


@dg.sensor(
    name=SENSOR_NAME,
    job=training_job,
    minimum_interval_seconds=shape_settings.sensor_interval_seconds,
    description="Retrains (training_set -> fraud_model -> promotion) when the estimated ROC AUC stays under "
    "the policy threshold for K consecutive days, at most once per cooldown.",
)
def retrain_on_performance_drop(
    context: dg.SensorEvaluationContext, settings: dg.ResourceParam[Settings]
) -> dg.SensorResult:
    state = SensorState.from_cursor(context.cursor)
    result = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=ESTIMATE, after_storage_id=state.storage_id),
        limit=1000,
        ascending=True,
    )
    for record in result.records:
        meta = record.asset_materialization.metadata
        if record.partition_key and METRIC in meta:
            state.add(record.partition_key, float(meta[METRIC].value), record.storage_id)
        state.storage_id = max(state.storage_id, record.storage_id)
    state.keep_newest(settings.sensor_history_days)

    decision = decide(state.estimates, state.last_retrain, RetrainPolicy.from_settings(settings))
    if not decision.fire:
        return dg.SensorResult(skip_reason=decision.reason, cursor=state.to_cursor())
    state.last_retrain = decision.alert_day
    request = dg.RunRequest(
        run_key=f"retrain-after-{decision.alert_day}",
        run_config={"ops": {"training_set": {"config": {"as_of": decision.as_of().isoformat()}}}},
        tags={
            TRIGGER_TAG: SENSOR_NAME,
            "ml_assets/alert_day": decision.alert_day,
            "ml_assets/reason": decision.reason[:250],
        },
    )
    context.log.info(f"retrain requested: {decision.reason}")
    return dg.SensorResult(run_requests=[request], cursor=state.to_cursor())


daily_schedule = dg.build_schedule_from_partitioned_job(
    daily_cycle_job,
    name="daily_cycle_schedule",
    hour_of_day=shape_settings.daily_schedule_hour,
    description="Runs the daily cycle for yesterday's partition (in the simulated calendar, use the replay).",
)
