"""Scoring: daily batch predictions with the champion into the DuckDB prediction log."""

import dagster as dg

from ml_assets.core.settings import Settings
from ml_assets.defs.features.assets import OFFLINE_FEATURE_ASSETS
from ml_assets.defs.keys import EVENTS, PREFIX, key
from ml_assets.defs.partitions import daily_partitions, partition_day
from ml_assets.defs.resources import FeastResource, MLflowResource, WarehouseResource


@dg.asset(
    key_prefix=PREFIX,
    group_name="scoring",
    partitions_def=daily_partitions,
    kinds={"lightgbm", "duckdb"},
    pool=WarehouseResource.pool,
    deps=[*OFFLINE_FEATURE_ASSETS, EVENTS, key("promotion")],
    description="The day's transactions scored by the champion (features from Feast, point in time), "
    "written to `prediction_log` in data/<problem>/warehouse.duckdb, replacing that day's rows.",
)
def predictions(
    context: dg.AssetExecutionContext,
    mlflow: MLflowResource,
    feast: FeastResource,
    warehouse: WarehouseResource,
    settings: dg.ResourceParam[Settings],
) -> dg.MaterializeResult:
    from ml_assets.core.scoring import ServingModel, score_day, write_predictions

    day = partition_day(context)
    champion = ServingModel.champion(mlflow.store())
    log = score_day(day, settings, feast.repo(), mlflow.store(), champion)
    write_predictions(warehouse.warehouse(), log, day)
    return dg.MaterializeResult(
        metadata={
            "rows": len(log),
            "model_version": str(log["model_version"].iloc[0]) if len(log) else "none",
            "flagged_share": float(log["decision"].mean()) if len(log) else 0.0,
            "mean_score": float(log["score"].mean()) if len(log) else 0.0,
            "median_score": float(log["score"].median()) if len(log) else 0.0,
            "decision_threshold": champion.threshold,
            # the flag rate its threshold was chosen for and its median score on the same days
            # (absent for versions registered before they were tagged)
            **{
                name: value
                for name, value in (
                    ("reference_flag_rate", champion.reference_flag_rate),
                    ("reference_median_score", champion.reference_median_score),
                )
                if value is not None
            },
        }
    )
