"""Logs a trained model to MLflow with everything needed to trust it later, and registers
it as a new version with alias ``challenger``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ml_assets.defs.registry.mlflow_resource import CHALLENGER, MLflowResource
from ml_assets.defs.training import model as fraud


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
    res: MLflowResource,
    trained,
    frame: pd.DataFrame,
    params: fraud.Hyperparameters,
    lineage: dict[str, str],
    dagster_run_id: str,
    training_set_path: Path,
) -> dict:
    """Returns the model record: name, version, uri, run id, threshold, validation metrics."""
    import mlflow.data
    import mlflow.lightgbm
    from mlflow.models import infer_signature

    cols = fraud.features()
    val = frame[frame["split"] == "validation"]
    p_val = fraud.score(trained, val)
    threshold = fraud.threshold_at_fpr(val[fraud.TARGET].to_numpy(), p_val)
    metrics = fraud.evaluate(val[fraud.TARGET].to_numpy(), p_val, threshold)

    with res.start_run(dagster_run_id, run_name=f"fraud_model as_of {lineage['as_of']}", tags=lineage) as (mlflow, run):
        mlflow.log_params({**params.model_dump(), **lineage})
        mlflow.log_metrics({f"validation_{k}": v for k, v in metrics.items()} | {"decision_threshold": threshold})
        dataset = mlflow.data.from_pandas(frame[[*cols, fraud.TARGET, "split"]], source=Path(training_set_path).resolve().as_uri(),
                                          name=f"training_set_{lineage['training_set_hash']}", targets=fraud.TARGET)
        mlflow.log_input(dataset, context="training")
        fig = _importance_figure(trained, cols)
        mlflow.log_figure(fig, "feature_importance.png")
        # the labelled validation window with the model's scores: NannyML's reference data
        raw = [c for c in val.columns if c.endswith("_raw")]
        reference = val[["transaction_id", "event_timestamp", *cols, *raw, fraud.TARGET]].assign(score=p_val)
        mlflow.log_text(reference.to_csv(index=False), "reference/validation_scores.csv")
        # NannyML monitors fitted on that reference travel with the version, so each day is
        # monitored by the estimator of the model that scored it
        import tempfile

        from ml_assets.defs.monitoring import monitors

        with tempfile.TemporaryDirectory() as tmp:
            fitted = monitors.fit_monitors(reference, threshold)
            mlflow.log_artifact(str(monitors.save(fitted, Path(tmp) / "monitors.pkl")), "monitoring")
        info = mlflow.lightgbm.log_model(
            trained, name="model", signature=infer_signature(val[cols].head(200), p_val[:200]),
            input_example=val[cols].head(3), pip_requirements=_pip_requirements(),
            registered_model_name=res.model_name,
        )
        run_id = run.info.run_id
    version = str(info.registered_model_version)
    client = res.client()
    client.set_registered_model_alias(res.model_name, CHALLENGER, version)
    for key, value in {**lineage, "decision_threshold": threshold, "dagster_run_id": dagster_run_id}.items():
        client.set_model_version_tag(res.model_name, version, key, str(value))
    import matplotlib.pyplot as plt

    plt.close(fig)
    return {
        "name": res.model_name, "version": version, "uri": res.model_uri(version), "run_id": run_id,
        "threshold": threshold, "metrics": metrics, **lineage,
    }
