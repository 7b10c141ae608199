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
KNOWN_SHARE = "label_known_share"  # per row, the share of its day's positives known at as_of


def train(frame: pd.DataFrame, params: Hyperparameters, specs: ModuleType, threads: int = 0):
    """A fitted classifier on ``threads`` OpenMP threads (0: one per logical core)."""
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
        n_jobs=threads or -1,  # -1: a thread per logical core (LightGBM counts physical ones for None)
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


def threshold_at_fpr(y: np.ndarray, p: np.ndarray, fpr: float, unreported: np.ndarray | None = None) -> float:
    """The score above which at most ``fpr`` of honest transactions fall.

    With ``unreported``, labels arrive late: a row without a positive label may be a positive
    not reported yet, and those sit at the top of the scores, so the unlabelled rows' top share
    is mostly them and the threshold lands too high (BENCHMARKS.md, "The threshold on immature
    labels"). ``unreported[i]`` is how many not-yet-reported positives known positive ``i``
    stands for (1/F - 1, F the share of its day's positives known: ``dataset.label_known_share``),
    0 for the other rows, NaN for a row of a day none of whose positives is known yet (it says
    nothing: left out). Each is taken out of the unlabelled rows at that positive's score
    (reporting delay independent of the score), which leaves an estimate of the honest rows'
    scores to take the quantile of."""
    y, p = np.asarray(y), np.asarray(p)
    if unreported is not None:
        unreported = np.asarray(unreported, dtype="float64")
        known = ~np.isnan(unreported)
        if (y[known] == 0).any():
            y, p, unreported = y[known], p[known], unreported[known]
        else:  # no day with a positive known: nothing to count
            unreported = None
    if unreported is None or not np.any(unreported[y == 1] > 0):
        negatives = np.sort(p[y == 0])
        if negatives.size == 0:
            return 0.5
        return float(negatives[min(negatives.size - 1, int(np.ceil((1 - fpr) * negatives.size)))])
    order = np.argsort(-p, kind="stable")  # highest score first
    mass = np.where(y == 1, -unreported, 1.0)[order]
    honest = mass.sum()
    if honest <= 0:
        return threshold_at_fpr(y, p, fpr)
    # honest mass at or over each score, from the top; an estimate, kept from falling where the
    # known positives cluster
    above = np.maximum.accumulate(np.cumsum(mass).clip(min=0.0))
    # the rows whose honest mass at or over them fits in ``fpr`` are flagged; the threshold is the
    # score of the first row after them
    flagged = int(np.searchsorted(above, fpr * honest, side="right"))
    return float(p[order][min(len(p) - 1, flagged)])


def unreported_positives(frame: pd.DataFrame, max_positive_weight: float) -> np.ndarray | None:
    """Per known positive of a training set's rows, the positives of its day not reported yet that
    it stands for (1/F - 1, F floored as the training weights cap 1/F at ``max_positive_weight``);
    NaN on a day with no positive known yet (F = 0); None where the set has no F: built before F
    was kept, or of a problem whose rows without a label are left out rather than counted negative
    (``threshold_at_fpr``)."""
    if KNOWN_SHARE not in frame:
        return None
    share = frame[KNOWN_SHARE].to_numpy("float64")
    known = np.maximum(share, 1.0 / max_positive_weight)
    stands_for = np.where(frame[TARGET].to_numpy() == 1, 1.0 / known - 1.0, 0.0)
    return np.where(share > 0, stands_for, np.nan)


def threshold_for_flag_rate(scores: np.ndarray, target_flag_rate: float) -> float:
    """The threshold above which ``target_flag_rate`` of ``scores`` lie (decision: score > it)."""
    if not 0 < target_flag_rate < 1:
        raise ValueError(f"target_flag_rate must be in (0, 1), got {target_flag_rate}")
    if len(scores) == 0:
        raise ValueError("no scores to re-fit the threshold on: score the window's days first")
    return float(np.quantile(np.asarray(scores, dtype="float64"), 1 - target_flag_rate))


def decision_threshold(
    decision: Decision,
    y: np.ndarray,
    p: np.ndarray,
    days: int,
    fixed_fpr: float,
    unreported: np.ndarray | None = None,
) -> float:
    """The threshold a version serves with, chosen on its validation window (labels ``y``, scores
    ``p``, ``days`` long) by the problem's decision policy (spec ``model.decision``); a fixed FPR
    counts the positives not reported yet (``unreported``: ``threshold_at_fpr``)."""
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
    return threshold_at_fpr(y, p, decision.value or fixed_fpr, unreported)


def recall_at_fpr(y: np.ndarray, p: np.ndarray, fpr: float) -> float | None:
    """The recall of the best threshold that keeps the false-positive rate at ``fpr`` on these
    labels: what the ranking allowed at that operating point, whatever threshold served (None:
    no positive or no negative)."""
    y, p = np.asarray(y), np.asarray(p)
    if not (y == 1).any() or not (y == 0).any():
        return None
    return float((p[y == 1] > threshold_at_fpr(y, p, fpr)).mean())


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
    unreported: np.ndarray | None = None,
) -> Metrics:
    """Metrics of scores ``p`` against labels ``y``; with ``weights`` (a training set's: young
    rows without a positive label count for what is known of them), the ranking and calibration
    metrics are weighted, so a window whose positives are still arriving is judged on what its
    labels can say. The decision threshold and recall stay unweighted (they concern flagged
    rows and known fraud); without a threshold, the one at ``fixed_fpr`` counts the positives not
    reported yet (``unreported``: ``threshold_at_fpr``)."""
    from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

    y = np.asarray(y).astype(int)
    if y.min() == y.max():
        raise ValueError(f"evaluation needs both classes, got only {TARGET}={y[0]}: widen the window")
    threshold = threshold_at_fpr(y, p, fixed_fpr, unreported) if threshold is None else threshold
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
