"""Logs a trained model to MLflow with everything needed to trust it later, and registers
it as a new version with alias ``challenger``."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd

from ml_assets.core.features.contract import EVENT_ID, EVENT_TIME
from ml_assets.core.model import (
    TARGET,
    WEIGHT,
    Hyperparameters,
    booster,
    decision_threshold,
    evaluate,
    score,
    train,
    unreported_positives,
)
from ml_assets.core.model_store import CHALLENGER, ModelStore
from ml_assets.core.problem import problem_spec
from ml_assets.core.records import Lineage, Metrics, ModelVersionRecord, TrainingSetRecord
from ml_assets.core.settings import Settings
from ml_assets.core.training.dataset import SPLIT

# the labelled validation window with the model's scores: the version's reference data,
# which monitoring fits its NannyML monitors on
REFERENCE_ARTIFACT = "reference/validation_scores.parquet"
REFERENCE_FLAG_RATE_TAG, REFERENCE_MEDIAN_TAG = "reference_flag_rate", "reference_median_score"


@dataclasses.dataclass(frozen=True)
class Validation:
    scores: np.ndarray
    threshold: float
    metrics: Metrics


def validate(trained, validation: pd.DataFrame, features: list[str], settings: Settings) -> Validation:
    """Scores on the validation split, the decision threshold its policy chooses, the metrics."""
    p = score(trained, validation, features)
    y = validation[TARGET].to_numpy()
    decision = problem_spec(settings).model.decision
    unreported = unreported_positives(validation, settings.max_positive_weight)
    threshold = decision_threshold(decision, y, p, settings.validation_days, settings.fixed_fpr, unreported)
    weights = validation[WEIGHT].to_numpy() if WEIGHT in validation else None
    return Validation(
        p, threshold, evaluate(y, p, settings.fixed_fpr, settings.calibration_bins, threshold, weights)
    )


@dataclasses.dataclass(frozen=True)
class TrainedModel:
    model: object
    frame: pd.DataFrame  # the whole training set, as saved (train + validation)
    validation: Validation


def fit(
    training_set: TrainingSetRecord, params: Hyperparameters, specs: ModuleType, settings: Settings
) -> TrainedModel:
    """Train on the train split of a saved training set; validate on its validation split."""
    frame = pd.read_parquet(training_set.path)
    trained = train(frame[frame[SPLIT] == "train"], params, specs, settings.train_threads)
    return TrainedModel(
        trained,
        frame,
        validate(trained, frame[frame[SPLIT] == "validation"], specs.model_features(), settings),
    )


def _pip_requirements() -> list[str]:
    # explicit: MLflow otherwise spends ~20 s inferring them
    import importlib.metadata as md

    return [f"{p}=={md.version(p)}" for p in ("lightgbm", "scikit-learn", "pandas", "numpy")]


def _importance_figure(model, columns: list[str]):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    gain = pd.Series(model.booster_.feature_importance("gain"), index=columns).sort_values()
    fig, ax = plt.subplots(figsize=(7, 0.28 * len(columns) + 1))
    gain.plot.barh(ax=ax, color="#4f6fb0")
    ax.set_title("Feature importance (gain)")
    fig.tight_layout()
    return fig


def log_and_register(
    store: ModelStore,
    fitted: TrainedModel,
    params: Hyperparameters,
    training_set: TrainingSetRecord,
    dagster_run_id: str,
    specs: ModuleType,
) -> ModelVersionRecord:
    """One MLflow run (params, metrics, dataset input, importance, reference data, the
    model with signature), a new registered version with alias ``challenger``."""
    import matplotlib.pyplot as plt
    import mlflow.data
    import mlflow.lightgbm
    from mlflow.models import infer_signature

    from ml_assets.core.features.contract import raw_columns

    cols, trained, frame, validation = specs.model_features(), fitted.model, fitted.frame, fitted.validation
    lineage = Lineage.of(training_set)
    val = frame[frame[SPLIT] == "validation"]
    tags = {"dagster_run_id": dagster_run_id, **lineage.tags()}
    with store.start_run(run_name=f"{store.model_name} as_of {lineage.as_of}", tags=tags) as (mlflow, run):
        mlflow.log_params({**params.model_dump(), **lineage.tags()})
        mlflow.log_metrics(
            {f"validation_{k}": float(v) for k, v in validation.metrics.as_dict().items()}
            | {"decision_threshold": validation.threshold}
        )
        dataset = mlflow.data.from_pandas(
            frame[[*cols, TARGET, SPLIT]],
            source=Path(training_set.path).resolve().as_uri(),
            name=f"training_set_{lineage.training_set_hash}",
            targets=TARGET,
        )
        mlflow.log_input(dataset, context="training")
        fig = _importance_figure(trained, cols)
        mlflow.log_figure(fig, "feature_importance.png")
        plt.close(fig)
        reference = val[[EVENT_ID, EVENT_TIME, *cols, *raw_columns(specs), TARGET]].assign(
            score=validation.scores
        )
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / Path(REFERENCE_ARTIFACT).name
            reference.to_parquet(path, index=False)
            mlflow.log_artifact(str(path), str(Path(REFERENCE_ARTIFACT).parent))
        info = mlflow.lightgbm.log_model(
            # the native booster, which MLflow stores in LightGBM's own text format (model.lgb):
            # the classifier would be pickled, and loading a pickle runs whatever it holds
            booster(trained),
            name="model",
            signature=infer_signature(val[cols].head(200), validation.scores[:200]),
            input_example=val[cols].head(3),
            pip_requirements=_pip_requirements(),
            registered_model_name=store.model_name,
        )
        run_id = run.info.run_id
    version = str(info.registered_model_version)
    store.set_alias(CHALLENGER, version)
    # the share of the validation window flagged at the threshold: the flag rate the threshold was
    # chosen for, which the operating-point diagnosis holds the served days to (retrain_policy.py)
    # and the median score: where the bulk of (honest) transactions sits, which tells a moved score
    # scale (the bulk moves) from fraud the model stopped flagging (only the top moves)
    store.tag_version(
        version,
        {
            **tags,
            "decision_threshold": validation.threshold,
            REFERENCE_FLAG_RATE_TAG: float((validation.scores > validation.threshold).mean()),
            REFERENCE_MEDIAN_TAG: float(np.median(validation.scores)),
        },
    )
    return ModelVersionRecord(
        name=store.model_name,
        version=version,
        uri=store.model_uri(version),
        run_id=run_id,
        threshold=validation.threshold,
        metrics=validation.metrics,
        lineage=lineage,
    )


def load_reference(store: ModelStore, version: str, cache_dir: Path) -> pd.DataFrame:
    """The reference data a version was logged with."""
    with tempfile.TemporaryDirectory(dir=_mkdir(cache_dir)) as tmp:
        return pd.read_parquet(store.download(version, REFERENCE_ARTIFACT, Path(tmp)))


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
