"""Automation: the retrain sensor (driven by CBPE estimates read from the event log, never
recomputed here) and the daily schedule."""

import datetime as dt
import json

import dagster as dg

from ml_assets.defs.automation.jobs import daily_cycle_job, training_job
from ml_assets.defs.automation.retrain_policy import RetrainPolicy, decide
from ml_assets.settings import get_settings

ESTIMATE = dg.AssetKey("estimated_performance")
METRIC = "estimated_roc_auc"
KEEP_DAYS = 60  # estimates kept in the cursor
SENSOR_NAME = "retrain_on_performance_drop"


def _state(cursor: str | None) -> dict:
    return json.loads(cursor) if cursor else {"storage_id": 0, "estimates": {}, "last_retrain": None}


@dg.sensor(
    name=SENSOR_NAME,
    job=training_job,
    minimum_interval_seconds=60,
    description="Retrains (training_set -> fraud_model -> promotion) when the estimated ROC AUC stays under "
    "the policy threshold for K consecutive days, at most once per cooldown.",
)
def retrain_on_performance_drop(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    state = _state(context.cursor)
    result = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=ESTIMATE, after_storage_id=state["storage_id"]), limit=1000, ascending=True
    )
    for record in result.records:
        meta = record.asset_materialization.metadata
        if record.partition_key and METRIC in meta:
            state["estimates"][record.partition_key] = float(meta[METRIC].value)
        state["storage_id"] = max(state["storage_id"], record.storage_id)
    state["estimates"] = dict(sorted(state["estimates"].items())[-KEEP_DAYS:])

    alert_day, reason = decide(state["estimates"], state["last_retrain"], RetrainPolicy.from_settings(get_settings()))
    if alert_day is None:
        return dg.SensorResult(skip_reason=reason, cursor=json.dumps(state))
    state["last_retrain"] = alert_day
    as_of = dt.date.fromisoformat(alert_day) + dt.timedelta(days=1)
    request = dg.RunRequest(
        run_key=f"retrain-after-{alert_day}",
        run_config={"ops": {"training_set": {"config": {"as_of": as_of.isoformat()}}}},
        tags={"ml_assets/trigger": SENSOR_NAME, "ml_assets/alert_day": alert_day, "ml_assets/reason": reason[:250]},
    )
    context.log.info(f"retrain requested: {reason}")
    return dg.SensorResult(run_requests=[request], cursor=json.dumps(state))


daily_schedule = dg.build_schedule_from_partitioned_job(
    daily_cycle_job, name="daily_cycle_schedule", hour_of_day=1,
    description="Runs the daily cycle for yesterday's partition (in the simulated calendar, use the replay).",
)
