"""Automation: the retrain sensor (driven by CBPE estimates read from the event log, never
recomputed here), the daily cycle started by landed exports, realized performance once the
labels are in, and the daily schedule.

All are off until turned on in the UI, unless ``live_automation`` is set (``make demo``):
then they start with the daemon, and the simulated world's clock (``ml-assets clock``)
drives the loop."""

import dagster as dg

from ml_assets.core.ingest import landed_days
from ml_assets.core.retrain_policy import RetrainPolicy, SensorState, decide
from ml_assets.core.settings import Settings
from ml_assets.defs.automation.jobs import daily_cycle_job, training_job
from ml_assets.defs.partitions import daily_partitions, shape_settings

ESTIMATE = dg.AssetKey("estimated_performance")
METRIC = "estimated_roc_auc"
SENSOR_NAME = "retrain_on_performance_drop"
TRIGGER_TAG = "ml_assets/trigger"
LIVE = dg.DefaultSensorStatus.RUNNING if shape_settings.live_automation else dg.DefaultSensorStatus.STOPPED
IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


@dg.sensor(
    name=SENSOR_NAME,
    job=training_job,
    minimum_interval_seconds=shape_settings.sensor_interval_seconds,
    default_status=LIVE,
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


@dg.sensor(
    name="daily_cycle_on_landing",
    job=daily_cycle_job,
    minimum_interval_seconds=shape_settings.sensor_interval_seconds,
    default_status=LIVE,
    description="Runs the daily cycle of the next day whose exports have all landed, one day at a time, "
    "in order (the lake's features of a day read the days before it).",
)
def daily_cycle_on_landing(
    context: dg.SensorEvaluationContext, settings: dg.ResourceParam[Settings]
) -> dg.SensorResult | dg.SkipReason:
    if context.instance.get_run_records(
        dg.RunsFilter(job_name=daily_cycle_job.name, statuses=IN_FLIGHT), limit=1
    ):
        return dg.SkipReason("a daily cycle is in flight: days run one at a time, in order")
    # the first tick starts after the newest day already ingested (by a replay or by hand)
    done = context.cursor or max(
        context.instance.get_materialized_partitions(dg.AssetKey("raw_transactions")), default=""
    )
    pending = [d for d in landed_days(settings.landing_dir) if d > done]
    if not pending:
        return dg.SkipReason(f"no day landed after {done or 'the start'}")
    day = pending[0]
    if not daily_partitions.has_partition_key(day):
        return dg.SkipReason(f"{day} landed but is outside the calendar (end_date {settings.end_date})")
    request = dg.RunRequest(
        run_key=f"daily-cycle-{day}", partition_key=day, tags={TRIGGER_TAG: "daily_cycle_on_landing"}
    )
    return dg.SensorResult(run_requests=[request], cursor=day)


realized_performance_automation = dg.AutomationConditionSensorDefinition(
    "realized_performance_automation",
    target=dg.AssetSelection.assets("realized_performance"),
    default_status=LIVE,
    minimum_interval_seconds=shape_settings.sensor_interval_seconds,
    description="Materializes a day's realized performance as soon as its label window has landed.",
)


daily_schedule = dg.build_schedule_from_partitioned_job(
    daily_cycle_job,
    name="daily_cycle_schedule",
    hour_of_day=shape_settings.daily_schedule_hour,
    description="Runs the daily cycle for yesterday's partition (in the simulated calendar, use the replay).",
)
