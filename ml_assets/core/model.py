"""The LightGBM fraud model: hyperparameters, training, scoring, and the metrics every
decision is based on."""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ml_assets.core.hyperparameters import Hyperparameters
from ml_assets.core.records import Metrics

if TYPE_CHECKING:
    from ml_assets.core.problem.parts import Decision

TARGET = "target"  # the training and reference frames' label column, whatever the problem calls it
WEIGHT = "sample_weight"  # a training set's per-row weight (dataset.training_weights)


def train(frame: pd.DataFrame, params: Hyperparameters, specs: ModuleType):
    import lightgbm as lgb

    cols = specs.model_features()
    model = lgb.LGBMClassifier(
        n_estimators=params.n_estimators,
        learning_rate=params.learning_rate,
        num_leaves=params.num_leaves,
        min_child_samples=params.min_child_samples,
        colsample_bytree=params.feature_fraction,
        scale_pos_weight=params.scale_pos_weight,
        random_state=params.seed,
        n_jobs=2,
        verbose=-1,
    )
    categorical = [c for c in cols if c in specs.CATEGORICAL_FEATURES]
    weights = frame[WEIGHT] if WEIGHT in frame else None  # training sets before weights had none
    model.fit(frame[cols], frame[TARGET], sample_weight=weights, categorical_feature=categorical)
    return model


def booster(model):
    """The native LightGBM booster behind a fitted model (what every prediction goes through)."""
    return getattr(model, "booster_", model)


def score_matrix(model, matrix: np.ndarray) -> np.ndarray:
    """Fraud probabilities for model inputs (rows x features, float64). The native booster:
    the same numbers as the classifier's predict_proba, at a fraction of the per-call cost
    (a 1-row DataFrame alone costs more than the prediction)."""
    return booster(model).predict(matrix)


def score(model, frame: pd.DataFrame, features: list[str]) -> np.ndarray:
    return score_matrix(model, frame[features].to_numpy("float64"))


def threshold_at_fpr(y: np.ndarray, p: np.ndarray, fpr: float) -> float:
    """The score above which at most ``fpr`` of honest transactions fall."""
    negatives = np.sort(p[y == 0])
    if negatives.size == 0:
        return 0.5
    return float(negatives[min(negatives.size - 1, int(np.ceil((1 - fpr) * negatives.size)))])


def threshold_for_flag_rate(scores: np.ndarray, target_flag_rate: float) -> float:
    """The threshold above which ``target_flag_rate`` of ``scores`` lie (decision: score > it)."""
    if not 0 < target_flag_rate < 1:
        raise ValueError(f"target_flag_rate must be in (0, 1), got {target_flag_rate}")
    if len(scores) == 0:
        raise ValueError("no scores to re-fit the threshold on: score the window's days first")
    return float(np.quantile(np.asarray(scores, dtype="float64"), 1 - target_flag_rate))


def decision_threshold(
    decision: Decision, y: np.ndarray, p: np.ndarray, days: int, fixed_fpr: float
) -> float:
    """The threshold a version serves with, chosen on its validation window (labels ``y``, scores
    ``p``, ``days`` long) by the problem's decision policy (spec ``model.decision``)."""
    if decision.policy == "threshold":
        return float(decision.value)
    if decision.policy == "top_k":
        per_day = len(p) / days
        if decision.value >= per_day:
            raise ValueError(
                f"model.decision top_k={decision.value:g} flags every event: the validation window holds "
                f"{per_day:.0f} a day; lower model.decision.value"
            )
        return threshold_for_flag_rate(p, decision.value / per_day)
    return threshold_at_fpr(y, p, decision.value or fixed_fpr)


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int, w: np.ndarray | None = None) -> float:
    """Weighted gap between predicted and observed fraud rate, over quantile bins of score
    (rows weighted by ``w`` when given)."""
    w = np.ones_like(p, dtype="float64") if w is None else np.asarray(w, dtype="float64")
    edges = np.unique(np.quantile(p, np.linspace(0, 1, bins + 1)))
    idx = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, len(edges) - 2)
    gaps = [
        abs(np.average(p[m], weights=w[m]) - np.average(y[m], weights=w[m])) * w[m].sum() / w.sum()
        for m in (idx == b for b in range(len(edges) - 1))
        if m.any() and w[m].sum() > 0
    ]
    return float(np.sum(gaps))


def evaluate(
    y: np.ndarray,
    p: np.ndarray,
    fixed_fpr: float,
    calibration_bins: int,
    threshold: float | None = None,
    weights: np.ndarray | None = None,
) -> Metrics:
    """Metrics of scores ``p`` against labels ``y``; with ``weights`` (a training set's: young
    rows without a positive label count for what is known of them), the ranking and calibration
    metrics are weighted, so a window whose positives are still arriving is judged on what its
    labels can say. The decision threshold and recall stay unweighted (they concern flagged
    rows and known fraud)."""
    from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

    y = np.asarray(y).astype(int)
    if y.min() == y.max():
        raise ValueError(f"evaluation needs both classes, got only {TARGET}={y[0]}: widen the window")
    threshold = threshold_at_fpr(y, p, fixed_fpr) if threshold is None else threshold
    return Metrics(
        roc_auc=float(roc_auc_score(y, p, sample_weight=weights)),
        pr_auc=float(average_precision_score(y, p, sample_weight=weights)),
        recall_at_fixed_fpr=float((p[y == 1] > threshold).mean()),
        log_loss=float(log_loss(y, np.clip(p, 1e-7, 1 - 1e-7), sample_weight=weights)),
        brier=float(brier_score_loss(y, p, sample_weight=weights)),
        ece=expected_calibration_error(y, p, calibration_bins, weights),
        positives=int(y.sum()),
        rows=int(y.size),
    )
