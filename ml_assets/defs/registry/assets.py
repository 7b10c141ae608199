"""Registry: the champion/challenger decision as an asset, guarded by a quality floor."""

import dagster as dg
import pandas as pd

from ml_assets.defs.registry.mlflow_resource import MLflowResource
from ml_assets.settings import get_settings


@dg.asset_check(
    asset="fraud_model",
    blocking=True,
    description="The challenger's validation ROC AUC must reach the quality floor (settings) before "
    "promotion may even consider it.",
)
def quality_floor(fraud_model: dict) -> dg.AssetCheckResult:
    floor = get_settings().quality_floor_auc
    auc = fraud_model["metrics"]["roc_auc"]
    return dg.AssetCheckResult(
        passed=auc >= floor,
        severity=dg.AssetCheckSeverity.ERROR,
        description=f"validation ROC AUC {auc:.4f} {'>=' if auc >= floor else '<'} floor {floor:.2f}"
        + ("" if auc >= floor else ": the model is not promoted; check the training set and hyperparameters"),
        metadata={"roc_auc": auc, "floor": floor, "model_version": fraud_model["version"]},
    )


@dg.asset(
    group_name="registry",
    kinds={"mlflow"},
    description="Challenger vs champion on the challenger's held-out window (labels as known at its "
    "as-of date); promotes by the policy in settings and records the decision in MLflow.",
)
def promotion(context: dg.AssetExecutionContext, fraud_model: dict, training_set: dict, mlflow: MLflowResource) -> dict:
    from ml_assets.defs.registry.promotion import Policy, promote_or_keep
    from ml_assets.defs.training.dataset import to_model_frame

    frame = pd.read_parquet(training_set["path"])
    holdout = to_model_frame(frame[frame["split"] == "validation"].copy())
    window = f"{holdout['event_timestamp'].min().date()}..{holdout['event_timestamp'].max().date()}"
    decision = promote_or_keep(
        mlflow, fraud_model["version"], holdout, Policy.from_settings(get_settings()), window, context.run.run_id
    )
    meta = {
        "decision": "promoted" if decision["promoted"] else "kept champion",
        "reason": decision["reason"],
        "challenger_version": decision["challenger"],
        "previous_champion_version": decision["champion"] or "none",
        "champion_version": decision["champion_after"] or "none",
        "evaluation_window": window,
    }
    for role in ("challenger", "champion"):
        for k, v in (decision.get(f"{role}_metrics") or {}).items():
            meta[f"{role}_{k}"] = float(v)
    context.add_output_metadata(meta)
    return {k: v for k, v in decision.items() if not k.endswith("_metrics")}
