"""Champion/challenger: evaluate both on the same labelled window, decide by the policy in
settings, record the decision (MLflow tags on both versions), and roll back.

Aliases only (``champion``, ``challenger``, ``previous_champion``), never stages."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pandas as pd

from ml_assets.core.features.contract import EVENT_TIME
from ml_assets.core.model import TARGET, WEIGHT, evaluate, score, unreported_positives
from ml_assets.core.model_store import CHAMPION, PREVIOUS, ModelStore
from ml_assets.core.records import Metrics, PromotionDecision, Rollback
from ml_assets.core.registry import rollout
from ml_assets.core.settings import Settings


@dataclasses.dataclass(frozen=True)
class Policy:
    min_auc_gain: float
    min_pr_auc_gain: float
    max_calibration_loss: float  # how much worse the ECE may get
    fixed_fpr: float
    calibration_bins: int
    max_positive_weight: float  # the training weights' cap, which floors F in the FPR threshold

    @classmethod
    def from_settings(cls, s: Settings) -> Policy:
        return cls(
            s.promotion_min_auc_gain,
            s.promotion_min_pr_auc_gain,
            s.promotion_max_calibration_loss,
            s.fixed_fpr,
            s.calibration_bins,
            s.max_positive_weight,
        )


def decide(challenger: Metrics, champion: Metrics | None, policy: Policy) -> tuple[bool, str]:
    """Promote or keep, with the reason in words."""
    if champion is None:
        return True, "no champion yet: the first model becomes champion"
    auc_gain = challenger.roc_auc - champion.roc_auc
    pr_gain = challenger.pr_auc - champion.pr_auc
    calib_loss = challenger.ece - champion.ece
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


def evaluate_version(
    store: ModelStore, version: str, frame: pd.DataFrame, features: list[str], policy: Policy
) -> Metrics:
    """A registered version's metrics on a labelled model frame (as saved: never re-encoded)."""
    p = score(store.load_model(version), frame, features)
    # weighted, and the FPR threshold counting the unreported positives, as the challenger was validated
    weights = frame[WEIGHT].to_numpy() if WEIGHT in frame else None
    unreported = unreported_positives(frame, policy.max_positive_weight)
    y = frame[TARGET].to_numpy()
    return evaluate(y, p, policy.fixed_fpr, policy.calibration_bins, weights=weights, unreported=unreported)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def compare(
    store: ModelStore, challenger: str, holdout: pd.DataFrame, features: list[str], policy: Policy
) -> PromotionDecision:
    """Challenger vs the current champion on ``holdout``, decided by the policy; no side effects."""
    window = f"{holdout[EVENT_TIME].min().date()}..{holdout[EVENT_TIME].max().date()}"
    champion = store.alias_version(CHAMPION)
    if champion == challenger:
        return PromotionDecision(
            False, "challenger is already the champion", challenger, champion, champion, window
        )
    ch_metrics = evaluate_version(store, challenger, holdout, features, policy)
    champ_metrics = evaluate_version(store, champion, holdout, features, policy) if champion else None
    promoted, reason = decide(ch_metrics, champ_metrics, policy)
    return PromotionDecision(
        promoted,
        reason,
        challenger,
        champion,
        challenger if promoted else champion,
        window,
        ch_metrics,
        champ_metrics,
    )


def record(store: ModelStore, decision: PromotionDecision, dagster_run_id: str) -> None:
    """The decision and both sets of metrics as tags on both versions."""
    common = {
        "promotion_evaluated_at": _now(),
        "promotion_window": decision.window,
        "promotion_reason": decision.reason,
        "promotion_dagster_run_id": dagster_run_id,
    }
    challenger, champion = decision.challenger, decision.champion_before
    store.tag_version(
        challenger,
        {
            **common,
            "promotion_decision": "promoted" if decision.promoted else "rejected",
            "compared_with_champion": champion or "none",
            **{f"eval_{k}": round(v, 5) for k, v in decision.challenger_metrics.as_dict().items()},
        },
    )
    if champion:
        store.tag_version(
            champion,
            {
                **common,
                f"promotion_decision_vs_{challenger}": "replaced" if decision.promoted else "kept",
                **{
                    f"eval_vs_{challenger}_{k}": round(v, 5)
                    for k, v in decision.champion_metrics.as_dict().items()
                },
            },
        )


def apply(store: ModelStore, decision: PromotionDecision) -> None:
    """Move ``champion`` (and ``previous_champion``) when the challenger won."""
    if decision.promoted:
        if decision.champion_before:
            store.set_alias(PREVIOUS, decision.champion_before)
        store.set_alias(CHAMPION, decision.challenger)


def promote_or_keep(
    store: ModelStore,
    challenger: str,
    holdout: pd.DataFrame,
    features: list[str],
    policy: Policy,
    dagster_run_id: str,
    path: str = "rollout",
) -> PromotionDecision:
    """Compare and record the decision on both versions. A winner then either waits for the
    scoring service's rollout (``path="rollout"``: the offline gate is its entry ticket, the
    champion does not move yet) or becomes champion at once (``"direct"``, and always for the
    first model: there is no champion to roll out against). A loser is refused traffic."""
    decision = compare(store, challenger, holdout, features, policy)
    if decision.challenger_metrics is None:  # no real comparison happened
        return decision
    record(store, decision, dagster_run_id)
    if not decision.promoted:
        rollout.refuse(store, challenger, decision.reason)
    elif path == "rollout" and decision.champion_before is not None:
        rollout.admit(store, challenger, decision.reason)
        return dataclasses.replace(decision, champion_after=decision.champion_before, awaiting_rollout=True)
    else:
        apply(store, decision)
    return decision


def rollback(store: ModelStore, reason: str = "manual rollback") -> Rollback:
    """Move ``champion`` back to ``previous_champion`` (one step) and record it on both."""
    current, previous = store.alias_version(CHAMPION), store.alias_version(PREVIOUS)
    if previous is None:
        raise RuntimeError(
            f"model '{store.model_name}' has no '{PREVIOUS}' alias: there is nothing to roll back to "
            "(a rollback needs at least one promotion after the first champion)"
        )
    store.set_alias(CHAMPION, previous)
    store.delete_alias(PREVIOUS)
    stamp = _now()
    store.tag_version(
        current, {"rolled_back_at": stamp, "rolled_back_reason": reason, "rolled_back_to": previous}
    )
    store.tag_version(previous, {"restored_at": stamp, "restored_from": current, "restored_reason": reason})
    return Rollback(champion=previous, rolled_back_from=current)
