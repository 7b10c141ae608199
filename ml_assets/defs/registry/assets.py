"""Registry: the champion/challenger decision as an asset, guarded by a quality floor."""

import dagster as dg

from ml_assets.core.records import ModelVersionRecord, PromotionDecision, TrainingSetRecord
from ml_assets.core.settings import Settings
from ml_assets.defs.keys import PREFIX, inputs, key
from ml_assets.defs.resources import FeastResource, MLflowResource


@dg.asset_check(
    asset=key("model"),
    blocking=True,
    description="The challenger's validation ROC AUC must reach the quality floor (settings) before "
    "promotion may even consider it.",
)
def quality_floor(model: ModelVersionRecord, settings: dg.ResourceParam[Settings]) -> dg.AssetCheckResult:
    floor, auc = settings.quality_floor_auc, model.metrics.roc_auc
    passed = auc >= floor
    return dg.AssetCheckResult(
        passed=passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=f"validation ROC AUC {auc:.4f} {'>=' if passed else '<'} floor {floor:.2f}"
        + ("" if passed else ": the model is not promoted; check the training set and hyperparameters"),
        metadata={"roc_auc": auc, "floor": floor, "model_version": model.version},
    )


@dg.asset(
    key_prefix=PREFIX,
    ins=inputs("model", "training_set"),
    group_name="registry",
    kinds={"mlflow"},
    description="Challenger vs champion on the challenger's held-out window (labels as known at its "
    "as-of date), by the policy in settings, recorded in MLflow. A winner is the entry ticket to the "
    "scoring service's rollout (promotion_path=rollout) or becomes champion at once (direct).",
)
def promotion(
    context: dg.AssetExecutionContext,
    model: ModelVersionRecord,
    training_set: TrainingSetRecord,
    mlflow: MLflowResource,
    feast: FeastResource,
    settings: dg.ResourceParam[Settings],
) -> PromotionDecision:
    from ml_assets.core.registry.promotion import Policy, promote_or_keep
    from ml_assets.core.training.dataset import load_split

    # the held-out rows exactly as the challenger was validated on them (already a model frame)
    holdout = load_split(training_set, "validation")
    decision = promote_or_keep(
        mlflow.store(),
        model.version,
        holdout,
        feast.repo().specs.model_features(),
        Policy.from_settings(settings),
        context.run.run_id,
        settings.promotion_path,
    )
    meta = {
        "decision": "awaiting rollout"
        if decision.awaiting_rollout
        else ("promoted" if decision.promoted else "kept champion"),
        "reason": decision.reason,
        "challenger_version": decision.challenger,
        "previous_champion_version": decision.champion_before or "none",
        "champion_version": decision.champion_after or "none",
        "evaluation_window": decision.window,
    }
    for role, metrics in (
        ("challenger", decision.challenger_metrics),
        ("champion", decision.champion_metrics),
    ):
        meta |= {f"{role}_{k}": float(v) for k, v in (metrics.as_dict() if metrics else {}).items()}
    context.add_output_metadata(meta)
    return decision
