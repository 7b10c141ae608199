"""Automation: the retrain sensor (driven by the monitoring assets' results read from the event
log, never recomputed here), the daily cycle started by landed exports, realized performance once the
labels are in, and the daily schedule.

All are off until turned on in the UI, unless ``live_automation`` is set (``make demo``):
then they start with the daemon, and the simulated world's clock (``ml-assets clock``)
drives the loop."""

import dagster as dg

from ml_assets.core.ingest import landed_days
from ml_assets.core.retrain_policy import (
    RETRAIN,
    THRESHOLD,
    Attempt,
    RetrainDecision,
    RetrainPolicy,
    SensorState,
)
from ml_assets.core.settings import Settings
from ml_assets.defs.automation.assets import REFIT_OUTCOME
from ml_assets.defs.automation.jobs import daily_cycle_job, threshold_job, training_job
from ml_assets.defs.keys import EVENTS, key, keys, op_name
from ml_assets.defs.partitions import daily_partitions, shape_settings

ESTIMATE, LABELS, DRIFT, REALIZED, PROMOTION, PREDICTIONS, THRESHOLD_ASSET = keys(
    "estimated_performance",
    "early_label_signal",
    "feature_drift",
    "realized_performance",
    "promotion",
    "predictions",
    "decision_threshold",
)
SENSOR_NAME = "retrain_on_performance_drop"
TRIGGER_TAG = "ml_assets/trigger"
ALERT_DAY_TAG = "ml_assets/alert_day"
KIND_TAG = "ml_assets/response"  # retrain | threshold
LIVE = dg.DefaultSensorStatus.RUNNING if shape_settings.live_automation else dg.DefaultSensorStatus.STOPPED
IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]
FIELDS = {  # metadata of each monitoring asset -> DayEvidence field
    ESTIMATE: {
        "estimated_roc_auc": "estimate",
        "model_version": "version",
        "reference_labels": "reference_labels",
    },
    LABELS: {
        "early_label_z": "label_z",
        "early_label_z_threshold": "label_z_threshold",
        "early_label_roc_auc": "label_auc",
        "positives_arrived": "label_arrived",
        "early_label_reference_roc_auc": "label_reference_auc",
        "early_label_roc_auc_sd": "label_auc_sd",
    },
    DRIFT: {"score_drift_alert": "score_drift", "multivariate_drift_alert": "input_drift"},
    REALIZED: {
        "realized_roc_auc": "realized",
        "roc_auc_cbpe_lower_bound": "realized_floor",
        "roc_auc_cbpe_estimate": "realized_estimate",
    },
    PREDICTIONS: {
        "flagged_share": "flag_rate",
        "rows": "scored",
        "decision_threshold": "threshold",
        "reference_flag_rate": "reference_flag_rate",
        "median_score": "median_score",
        "reference_median_score": "reference_median_score",
    },
}


def read_evidence(instance: dg.DagsterInstance, state: SensorState) -> None:
    """Every new materialization of the monitoring assets since the cursor, into the state;
    one position per asset (runs write while the sensor reads: one shared position could skip
    an event of one asset written between the reads of the two)."""
    for asset, fields in FIELDS.items():
        name = asset.to_user_string()
        while True:
            result = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=asset, after_storage_id=state.positions.get(name, 0)),
                limit=1000,
                ascending=True,
            )
            for record in result.records:
                meta = record.asset_materialization.metadata
                if record.partition_key:
                    day = state.day(record.partition_key)
                    for field_name, field in fields.items():
                        value = meta[field_name].value if field_name in meta else None
                        if isinstance(value, str | bool):
                            setattr(day, field, value)
                        elif value is not None and value == value:  # NaN: nothing to say
                            setattr(day, field, float(value))
                state.positions[name] = record.storage_id
            if not result.has_more:
                break


def settle_attempts(instance: dg.DagsterInstance, state: SensorState) -> None:
    """The outcome of each request still pending. A retrain: promoted (or admitted to a rollout)
    when its run's promotion says so; rejected when it kept the champion or the quality floor
    stopped it. A threshold re-fit: applied when its run moved the threshold, else skipped."""
    for attempt in state.attempts:
        if attempt.outcome != "pending":
            continue
        runs = [  # runs requested before responses had kinds are retrains
            run
            for run in instance.get_runs(
                dg.RunsFilter(tags={TRIGGER_TAG: SENSOR_NAME, ALERT_DAY_TAG: attempt.alert_day}), limit=5
            )
            if run.tags.get(KIND_TAG, RETRAIN) == attempt.kind
        ]
        if not runs or not runs[0].is_finished:
            continue
        refit = attempt.kind == THRESHOLD
        asset, field = (THRESHOLD_ASSET, REFIT_OUTCOME) if refit else (PROMOTION, "decision")
        metadata = [
            e.asset_materialization.metadata
            for e in instance.all_logs(runs[0].run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
            if e.asset_materialization and e.asset_materialization.asset_key == asset
        ]
        said = {m[field].value for m in metadata if field in m}
        if refit:
            attempt.outcome = "applied" if "applied" in said else "skipped"
            set_to = [m["decision_threshold"].value for m in metadata if "decision_threshold" in m]
            attempt.threshold = float(set_to[-1]) if set_to else None
        else:
            won = bool(said & {"promoted", "awaiting rollout"})
            attempt.outcome = "promoted" if won else "rejected"


def requested_attempts(instance: dg.DagsterInstance) -> list[Attempt]:
    """Every response the sensor requested, from its runs' tags and config, in alert-day order,
    their outcomes pending (``settle_attempts`` reads them): the attempts as the cursor kept them."""
    attempts = []
    runs = instance.get_runs(dg.RunsFilter(tags={TRIGGER_TAG: SENSOR_NAME}))
    for run in sorted(runs, key=lambda r: r.tags[ALERT_DAY_TAG]):
        kind = run.tags.get(KIND_TAG, RETRAIN)
        version = young_since = None
        if kind == THRESHOLD:
            config = run.run_config["ops"][op_name("decision_threshold")]["config"]
            version, young_since = config["version"], config.get("young_since") or None
        since = run.tags.get("ml_assets/bad_since") or None
        attempts.append(
            Attempt(run.tags[ALERT_DAY_TAG], since=since, kind=kind, version=version, young_since=young_since)
        )
    return attempts


@dg.sensor(
    name=SENSOR_NAME,
    jobs=[training_job, threshold_job],
    minimum_interval_seconds=shape_settings.sensor_interval_seconds,
    default_status=LIVE,
    description="Answers a loss with what can fix it. The ranking fell (CBPE or the early label signal under "
    "its threshold from the model's reference on K consecutive days, or K consecutive days whose complete "
    "labels realized under their CBPE lower bound): retrain (training_set -> model -> promotion), "
    "retrying a rejected retrain a bounded number of times, else waiting a cooldown. The operating point "
    "moved while the ranking held (the flag rate off its target and the median score moved, on K days): "
    "re-fit the decision threshold (decision_threshold).",
)
def retrain_on_performance_drop(
    context: dg.SensorEvaluationContext, settings: dg.ResourceParam[Settings]
) -> dg.SensorResult:
    state = SensorState.from_cursor(context.cursor)
    read_evidence(context.instance, state)
    settle_attempts(context.instance, state)
    state.keep_newest(settings.sensor_history_days)

    policy = RetrainPolicy.from_settings(settings)
    decision = state.decision(policy)
    if not decision.fire:
        return dg.SensorResult(skip_reason=decision.reason, cursor=state.to_cursor())
    move = decision.refit
    state.attempts.append(
        Attempt(
            decision.alert_day,
            since=decision.since,
            kind=decision.action,
            version=move.version if move else None,
            young_since=move.budget_since if move else None,
        )
    )
    request = _threshold_request(decision) if decision.action == THRESHOLD else _retrain_request(decision)
    context.log.info(f"{decision.action} requested: {decision.reason}")
    return dg.SensorResult(run_requests=[request], cursor=state.to_cursor())


def _tags(decision: RetrainDecision) -> dict[str, str]:
    return {
        TRIGGER_TAG: SENSOR_NAME,
        ALERT_DAY_TAG: decision.alert_day,
        KIND_TAG: decision.action,
        "ml_assets/diagnosis": decision.diagnosis,
        "ml_assets/reason": decision.reason[:250],
    }


def _retrain_request(decision: RetrainDecision) -> dg.RunRequest:
    return dg.RunRequest(
        run_key=f"retrain-after-{decision.alert_day}",
        job_name=training_job.name,
        run_config={
            "ops": {
                op_name("training_set"): {
                    "config": {"as_of": decision.as_of().isoformat(), "shift_since": decision.since or ""}
                }
            }
        },
        tags=_tags(decision)
        | {
            "ml_assets/bad_since": decision.since or "",
            "ml_assets/bad_until": decision.until or "",
            "ml_assets/follow_up": str(decision.follow_up).lower(),
        },
    )


def _threshold_request(decision: RetrainDecision) -> dg.RunRequest:
    move = decision.refit
    config = {
        "version": move.version,
        "first_day": move.first_day,
        "last_day": move.last_day,
        "target_flag_rate": move.target,
        "reason": decision.reason,
        "validation_multiple": move.validation_multiple or 0.0,
        "young_since": move.budget_since or "",
    }
    return dg.RunRequest(
        run_key=f"threshold-after-{decision.alert_day}",
        job_name=threshold_job.name,
        run_config={"ops": {op_name("decision_threshold"): {"config": config}}},
        tags=_tags(decision),
    )


def _crashed_day(instance: dg.DagsterInstance, day: str) -> str | None:
    """Why the cycle must not move past ``day``, if its newest run crashed (its worker died,
    it never started): later days read its features, so they wait for it. A day whose own
    assets or checks failed (a quarantined export) is not held: its failure is on the day."""
    runs = instance.get_runs(
        dg.RunsFilter(job_name=daily_cycle_job.name, tags={"dagster/partition": day}), limit=1
    )
    if not runs or runs[0].status != dg.DagsterRunStatus.FAILURE:
        return None
    run = runs[0]
    if run.tags.get("dagster/failure_reason") == "STEP_FAILURE":
        return None
    if run.tags.get("dagster/will_retry") == "true":
        return f"the run of {day} ({run.run_id[:8]}) crashed; Dagster runs it again before the next day"
    return (
        f"the run of {day} ({run.run_id[:8]}) crashed and its retries are spent: re-execute it from the "
        "UI (Runs -> Re-execute from failure); later days wait for it, their features read it"
    )


@dg.sensor(
    name="daily_cycle_on_landing",
    job=daily_cycle_job,
    minimum_interval_seconds=shape_settings.sensor_interval_seconds,
    default_status=LIVE,
    description="Runs the daily cycle of the next day whose exports have all landed, one day at a time, "
    "in order (the lake's features of a day read the days before it); never past a day whose run crashed.",
)
def daily_cycle_on_landing(
    context: dg.SensorEvaluationContext, settings: dg.ResourceParam[Settings]
) -> dg.SensorResult | dg.SkipReason:
    if context.instance.get_run_records(
        dg.RunsFilter(job_name=daily_cycle_job.name, statuses=IN_FLIGHT), limit=1
    ):
        return dg.SkipReason("a daily cycle is in flight: days run one at a time, in order")
    # the first tick starts after the newest day already ingested (by a replay or by hand)
    done = context.cursor or max(context.instance.get_materialized_partitions(EVENTS), default="")
    if done and (held := _crashed_day(context.instance, done)):
        return dg.SkipReason(held)
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
    target=dg.AssetSelection.assets(key("realized_performance")),
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
