"""Champion/challenger: evaluate both on the same labelled window, decide by the policy in
settings, record the decision (metadata + MLflow tags on both versions), and roll back.

Aliases only (``champion``, ``challenger``, ``previous_champion``), never stages."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pandas as pd

from ml_assets.defs.registry.mlflow_resource import CHAMPION, PREVIOUS, MLflowResource
from ml_assets.defs.training import model as fraud


@dataclasses.dataclass(frozen=True)
class Policy:
    min_auc_gain: float
    min_pr_auc_gain: float
    max_calibration_loss: float  # how much worse the ECE may get

    @classmethod
    def from_settings(cls, s) -> Policy:
        return cls(s.promotion_min_auc_gain, s.promotion_min_pr_auc_gain, s.promotion_max_calibration_loss)


def decide(challenger: dict, champion: dict | None, policy: Policy) -> tuple[bool, str]:
    """Promote or keep, with the reason in words."""
    if champion is None:
        return True, "no champion yet: the first model becomes champion"
    auc_gain = challenger["roc_auc"] - champion["roc_auc"]
    pr_gain = challenger["pr_auc"] - champion["pr_auc"]
    calib_loss = challenger["ece"] - champion["ece"]
    failures = []
    if auc_gain < policy.min_auc_gain:
        failures.append(f"ROC AUC gain {auc_gain:+.4f} < {policy.min_auc_gain:+.4f}")
    if pr_gain < policy.min_pr_auc_gain:
        failures.append(f"PR AUC gain {pr_gain:+.4f} < {policy.min_pr_auc_gain:+.4f}")
    if calib_loss > policy.max_calibration_loss:
        failures.append(f"calibration error worse by {calib_loss:.4f} > {policy.max_calibration_loss:.4f}")
    if failures:
        return False, "keep champion: " + "; ".join(failures)
    return True, f"promote: ROC AUC {auc_gain:+.4f}, PR AUC {pr_gain:+.4f}, ECE {calib_loss:+.4f}"


def load_model(res: MLflowResource, version: str):
    import mlflow.lightgbm

    res.configure()
    return mlflow.lightgbm.load_model(res.model_uri(version))


def evaluate_version(res: MLflowResource, version: str, frame: pd.DataFrame) -> dict:
    trained = load_model(res, version)
    return fraud.evaluate(frame[fraud.TARGET].to_numpy(), fraud.score(trained, frame))


def record(res: MLflowResource, version: str, tags: dict) -> None:
    client = res.client()
    for key, value in tags.items():
        client.set_model_version_tag(res.model_name, version, key, str(value))


def promote_or_keep(res: MLflowResource, challenger_version: str, eval_frame: pd.DataFrame, policy: Policy,
                    window: str, dagster_run_id: str) -> dict:
    champion = res.version_by_alias(CHAMPION)
    champion_version = str(champion.version) if champion is not None else None
    if champion_version == challenger_version:
        return {"promoted": False, "reason": "challenger is already the champion", "challenger": challenger_version,
                "champion": champion_version}
    ch_metrics = evaluate_version(res, challenger_version, eval_frame)
    champ_metrics = evaluate_version(res, champion_version, eval_frame) if champion_version else None
    promoted, reason = decide(ch_metrics, champ_metrics, policy)
    stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    common = {"promotion_evaluated_at": stamp, "promotion_window": window, "promotion_reason": reason,
              "promotion_dagster_run_id": dagster_run_id}
    record(res, challenger_version, {**common, "promotion_decision": "promoted" if promoted else "rejected",
                                     "compared_with_champion": champion_version or "none",
                                     **{f"eval_{k}": round(v, 5) for k, v in ch_metrics.items()}})
    if champion_version:
        record(res, champion_version, {**common, "promotion_decision_vs_" + challenger_version: "kept" if not promoted else "replaced",
                                       **{f"eval_vs_{challenger_version}_{k}": round(v, 5) for k, v in champ_metrics.items()}})
    client = res.client()
    if promoted:
        if champion_version:
            client.set_registered_model_alias(res.model_name, PREVIOUS, champion_version)
        client.set_registered_model_alias(res.model_name, CHAMPION, challenger_version)
    return {"promoted": promoted, "reason": reason, "challenger": challenger_version, "champion": champion_version,
            "challenger_metrics": ch_metrics, "champion_metrics": champ_metrics,
            "champion_after": challenger_version if promoted else champion_version}


def rollback(res: MLflowResource, reason: str = "manual rollback") -> dict:
    """Move ``champion`` back to ``previous_champion`` (one step) and record it on both."""
    current, previous = res.version_by_alias(CHAMPION), res.version_by_alias(PREVIOUS)
    if previous is None:
        raise RuntimeError(
            f"model '{res.model_name}' has no '{PREVIOUS}' alias: there is nothing to roll back to "
            "(a rollback needs at least one promotion after the first champion)"
        )
    client = res.client()
    current_v, previous_v = str(current.version), str(previous.version)
    client.set_registered_model_alias(res.model_name, CHAMPION, previous_v)
    client.delete_registered_model_alias(res.model_name, PREVIOUS)
    stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    record(res, current_v, {"rolled_back_at": stamp, "rolled_back_reason": reason, "rolled_back_to": previous_v})
    record(res, previous_v, {"restored_at": stamp, "restored_from": current_v, "restored_reason": reason})
    return {"champion": previous_v, "rolled_back_from": current_v}
