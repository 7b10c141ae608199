"""LightGBM fraud model: training and the metrics every decision is based on."""

from __future__ import annotations

import dagster as dg
import numpy as np
import pandas as pd

TARGET = "is_fraud"
FIXED_FPR = 0.01  # recall is reported at this false-positive rate; the decision threshold too


class Hyperparameters(dg.Config):
    """LightGBM hyperparameters: the fraud_model asset's config (editable in the launchpad)."""

    n_estimators: int = 300
    learning_rate: float = 0.05
    num_leaves: int = 31
    min_child_samples: int = 50
    feature_fraction: float = 0.8
    # fraud is ~1.5% of rows: weigh positives up, moderately so scores stay usable as
    # probabilities (CBPE calibrates on top)
    scale_pos_weight: float = 3.0
    seed: int = 7


def features() -> list[str]:
    from ml_assets.defs.features.store import load_specs

    return load_specs().model_features()


def train(frame: pd.DataFrame, params: Hyperparameters):
    import lightgbm as lgb

    from ml_assets.defs.features.store import load_specs

    cols = features()
    model = lgb.LGBMClassifier(
        n_estimators=params.n_estimators, learning_rate=params.learning_rate, num_leaves=params.num_leaves,
        min_child_samples=params.min_child_samples, colsample_bytree=params.feature_fraction,
        scale_pos_weight=params.scale_pos_weight, random_state=params.seed, n_jobs=2, verbose=-1,
    )
    categorical = [c for c in cols if c in load_specs().CATEGORICAL_FEATURES]
    model.fit(frame[cols], frame[TARGET], categorical_feature=categorical)
    return model


def score(model, frame: pd.DataFrame) -> np.ndarray:
    return model.predict_proba(frame[features()])[:, 1]


def threshold_at_fpr(y: np.ndarray, p: np.ndarray, fpr: float = FIXED_FPR) -> float:
    """The score above which at most ``fpr`` of honest transactions fall."""
    negatives = np.sort(p[y == 0])
    if negatives.size == 0:
        return 0.5
    return float(negatives[min(negatives.size - 1, int(np.ceil((1 - fpr) * negatives.size)))])


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Weighted gap between predicted and observed fraud rate, over quantile bins of score."""
    edges = np.unique(np.quantile(p, np.linspace(0, 1, bins + 1)))
    idx = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, len(edges) - 2)
    gaps = [abs(p[idx == b].mean() - y[idx == b].mean()) * (idx == b).mean() for b in range(len(edges) - 1) if (idx == b).any()]
    return float(np.sum(gaps))


def evaluate(y: np.ndarray, p: np.ndarray, threshold: float | None = None) -> dict[str, float]:
    from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

    y = np.asarray(y).astype(int)
    if y.min() == y.max():
        raise ValueError(f"evaluation needs both classes, got only is_fraud={y[0]}: widen the window")
    threshold = threshold_at_fpr(y, p) if threshold is None else threshold
    return {
        "roc_auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        f"recall_at_{FIXED_FPR:.0%}_fpr".replace("%", "pct"): float((p[y == 1] > threshold).mean()),
        "log_loss": float(log_loss(y, np.clip(p, 1e-7, 1 - 1e-7))),
        "brier": float(brier_score_loss(y, p)),
        "ece": expected_calibration_error(y, p),
        "positives": int(y.sum()),
        "rows": int(y.size),
    }
