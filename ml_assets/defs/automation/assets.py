"""Automation's own response besides a retrain: the champion's decision threshold re-fitted to
the flag rate it was chosen for when the operating point moved while the ranking held."""

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


@dg.asset(
    key_prefix=PREFIX,
    group_name="automation",
    kinds={"mlflow", "duckdb"},
    deps=[key("predictions")],
    pool=WarehouseResource.pool,
    description="The champion's decision threshold, re-fitted on recent scored days so that it flags the "
    "share of transactions it was chosen for again; recorded on the version in MLflow "
    "(decision_threshold and its history), served by batch scoring and the online service, undone by "
    "`make rollback-threshold`.",
)
def decision_threshold(
    config: ThresholdRefitConfig,
    mlflow: MLflowResource,
    warehouse: WarehouseResource,
    settings: dg.ResourceParam[Settings],
) -> dg.MaterializeResult:
    from ml_assets.core.problem import problem_spec
    from ml_assets.core.registry.operating_point import RefitRequest, refit_champion

    request = RefitRequest(
        config.version,
        dt.date.fromisoformat(config.first_day),
        dt.date.fromisoformat(config.last_day),
        config.target_flag_rate,
        config.reason,
    )
    refits = problem_spec(settings).model.decision.refits
    event = refit_champion(mlflow.store(), warehouse.warehouse(), request, refits)
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
            "window": event.window,
            "rows": event.rows,
            "reason": event.reason,
        }
    )
