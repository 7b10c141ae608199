"""Automation's own response besides a retrain: the champion's decision threshold re-fitted, when
the operating point moved while the ranking held, to catch the share of arrived frauds its
reference caught (or, before enough labels arrived, to flag the share it was chosen for)."""

import datetime as dt

import dagster as dg

from ml_assets.core.settings import Settings
from ml_assets.defs.keys import PREFIX, key
from ml_assets.defs.resources import MLflowResource, WarehouseResource

REFIT_OUTCOME = "outcome"  # metadata: applied | skipped: why


class ThresholdRefitConfig(dg.Config):
    version: str  # the champion version the diagnosis was about
    first_day: str  # the scored days to re-fit on (ISO dates, inclusive)
    last_day: str
    target_flag_rate: float  # the flag rate to restore: the one the version's threshold was chosen for
    reason: str = "manual re-fit"
    # > 0: flag this multiple of the version's validation-window rate instead of target_flag_rate
    # (a young version's alert budget, and 1.0 back from it once its regime is older than the lookback)
    validation_multiple: float = 0.0
    young_since: str = ""  # the regime whose young version this budget serves (the policy's record)


@dg.asset(
    key_prefix=PREFIX,
    group_name="automation",
    kinds={"mlflow", "duckdb"},
    deps=[key("predictions")],
    pool=WarehouseResource.pool,
    description="The champion's decision threshold, re-fitted on recent scored days so that it catches the "
    "share of arrived positive labels its reference caught (before enough arrived: flags the share of "
    "transactions it was chosen for) again; recorded on the version in MLflow "
    "(decision_threshold and its history), served by batch scoring and the online service, undone by "
    "`make rollback-threshold`.",
)
def decision_threshold(
    config: ThresholdRefitConfig,
    mlflow: MLflowResource,
    warehouse: WarehouseResource,
    settings: dg.ResourceParam[Settings],
) -> dg.MaterializeResult:
    from ml_assets.core.monitoring.daily import recall_hold_of
    from ml_assets.core.problem import problem_spec
    from ml_assets.core.registry.operating_point import RefitRequest, refit_champion

    request = RefitRequest(
        config.version,
        dt.date.fromisoformat(config.first_day),
        dt.date.fromisoformat(config.last_day),
        config.target_flag_rate,
        config.reason,
        config.validation_multiple or None,
    )
    store, wh = mlflow.store(), warehouse.warehouse()
    refits = problem_spec(settings).model.decision.refits
    # recall held on the window's arrived labels where enough arrived; else the flag rate
    hold = (
        recall_hold_of(wh, store, config.version, request.first_day, request.last_day, settings)
        if refits
        else None
    )
    event = refit_champion(store, wh, request, refits, hold, settings.threshold_max_flag_rate_ratio)
    if isinstance(event, str):
        return dg.MaterializeResult(metadata={REFIT_OUTCOME: event, "model_version": config.version})
    return dg.MaterializeResult(
        metadata={
            REFIT_OUTCOME: "applied",
            "model_version": event.version,
            "previous_threshold": event.previous,
            "decision_threshold": event.threshold,
            "target_flag_rate": event.target_flag_rate,
            "flag_rate_before": event.flag_rate_before,
            "flag_rate_after": event.flag_rate_after,
            "held": "flag rate" if event.target_recall is None else "recall on arrived labels",
            "positives_arrived": event.positives_arrived,
            "capped_by_alert_budget": event.capped,
            "window": event.window,
            "rows": event.rows,
            "reason": event.reason,
        }
        | ({} if event.target_recall is None else {"target_recall": event.target_recall})
        | ({"validation_multiple": config.validation_multiple} if config.validation_multiple else {})
    )
