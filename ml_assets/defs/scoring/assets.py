"""Scoring: daily batch predictions with the champion into the DuckDB prediction log."""

import dagster as dg

from ml_assets.defs.registry.mlflow_resource import MLflowResource
from ml_assets.defs.training.assets import OFFLINE_FEATURES
from ml_assets.partitions import daily_partitions, partition_date
from ml_assets.settings import get_settings

WAREHOUSE_POOL = "warehouse"


@dg.asset(
    group_name="scoring",
    partitions_def=daily_partitions,
    kinds={"lightgbm", "duckdb"},
    pool=WAREHOUSE_POOL,
    deps=[*OFFLINE_FEATURES, "raw_transactions", "promotion"],
    description="The day's transactions scored by the champion (features from Feast, point in time), "
    "written to `prediction_log` in data/warehouse.duckdb, replacing that day's rows.",
)
def predictions(context: dg.AssetExecutionContext, mlflow: MLflowResource) -> dg.MaterializeResult:
    from ml_assets.defs.scoring.scoring import score_day, write_predictions

    s = get_settings()
    day = partition_date(context.partition_key)
    log = score_day(day, s, mlflow)
    write_predictions(log, day, s)
    return dg.MaterializeResult(
        metadata={
            "rows": len(log),
            "model_version": str(log["model_version"].iloc[0]) if len(log) else "none",
            "flagged_share": float(log["decision"].mean()) if len(log) else 0.0,
            "mean_score": float(log["score"].mean()) if len(log) else 0.0,
        }
    )
