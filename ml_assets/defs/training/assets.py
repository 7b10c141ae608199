"""Training: the point-in-time training set and the LightGBM model registered in MLflow."""

import dagster as dg
from pydantic import Field, create_model
from pydantic.fields import FieldInfo

from ml_assets.core.model import Hyperparameters
from ml_assets.core.problem import process_problem
from ml_assets.core.records import ModelVersionRecord, TrainingSetRecord
from ml_assets.core.settings import Settings
from ml_assets.defs.features.assets import OFFLINE_FEATURE_ASSETS
from ml_assets.defs.keys import EVENTS, LABELS, PREFIX, inputs
from ml_assets.defs.resources import FeastResource, MLflowResource


class TrainingSetConfig(dg.Config):
    as_of: str = Field(
        "",
        description="cut-off date YYYY-MM-DD: labels known before it, features as of each row; "
        "empty means the day after the newest ingested day",
    )
    shift_since: str = Field(
        "",
        description="first day YYYY-MM-DD of a detected shift (the retrain sensor sets it): the days since "
        "weigh at least retrain_shift_weight_share of the training; empty: no shift",
    )


class _HyperparametersConfig(dg.Config, Hyperparameters):
    """LightGBM hyperparameters (the core's Hyperparameters, editable in the launchpad)."""


def _with_problem_defaults(
    base: type[_HyperparametersConfig], defaults: dict[str, float | int | str]
) -> type[_HyperparametersConfig]:
    """``base`` whose defaults are the problem spec's ``model.hyperparameters`` where it sets them:
    the launchpad shows the problem's own defaults, and a run config still overrides them."""
    fields = Hyperparameters.model_fields
    return create_model(
        "HyperparametersConfig",
        __base__=base,
        __doc__=base.__doc__,
        **{
            k: (fields[k].annotation, FieldInfo.merge_field_infos(fields[k], default=v))
            for k, v in defaults.items()
        },
    )


HyperparametersConfig = _with_problem_defaults(
    _HyperparametersConfig, process_problem().model.hyperparameters
)


@dg.asset(
    key_prefix=PREFIX,
    group_name="training",
    kinds={"feast", "parquet"},
    deps=[*OFFLINE_FEATURE_ASSETS, EVENTS, LABELS],
    description="Point-in-time training frame: transactions of the training window, features from the "
    "feature service, labels as known at the as-of date; last days held out for validation.",
)
def training_set(
    context: dg.AssetExecutionContext,
    config: TrainingSetConfig,
    feast: FeastResource,
    settings: dg.ResourceParam[Settings],
) -> TrainingSetRecord:
    from ml_assets.core.training.dataset import build_training_set, resolve_as_of, save_training_set

    repo = feast.repo()
    import datetime as dt

    as_of = resolve_as_of(config.as_of, settings.lake_dir)
    try:
        shift_since = dt.date.fromisoformat(config.shift_since) if config.shift_since else None
    except ValueError as exc:
        raise ValueError(
            f"shift_since={config.shift_since!r} is not a date: use YYYY-MM-DD or leave it empty"
        ) from exc
    frame, window = build_training_set(as_of, settings, repo, shift_since)
    record = save_training_set(frame, as_of, window, settings, repo.specs.FEATURE_SERVICE)
    context.add_output_metadata(
        {
            "rows": record.rows,
            "train_rows": record.train_rows,
            "validation_rows": record.validation_rows,
            "positive_rate": record.positive_rate,
            f"rows_younger_than_{settings.immature_label_days}d": record.immature_rows,
            "window": str(window),
            "as_of": str(as_of),
            "shift_since": config.shift_since or "none",
            "feature_service": record.feature_service,
            "content_hash": record.content_hash,
            "path": dg.MetadataValue.path(record.path),
        }
    )
    return record


@dg.asset(
    key_prefix=PREFIX,
    ins=inputs("training_set"),
    group_name="training",
    kinds={"lightgbm", "mlflow"},
    description="The LightGBM model, logged to MLflow and registered as a new version with alias "
    "`challenger`. The value is a small record; the model lives in the registry.",
)
def model(
    context: dg.AssetExecutionContext,
    config: HyperparametersConfig,
    training_set: TrainingSetRecord,
    mlflow: MLflowResource,
    feast: FeastResource,
    settings: dg.ResourceParam[Settings],
) -> ModelVersionRecord:
    from ml_assets.core.training.tracking import fit, log_and_register

    specs, params = feast.repo().specs, Hyperparameters(**config.model_dump())
    fitted = fit(training_set, params, specs, settings)
    record = log_and_register(mlflow.store(), fitted, params, training_set, context.run.run_id, specs)
    context.add_output_metadata(
        {
            "model_version": record.version,
            "model_uri": record.uri,
            "mlflow_run_id": record.run_id,
            "mlflow_experiment": mlflow.experiment_name,
            "decision_threshold": record.threshold,
            **{f"validation_{k}": float(v) for k, v in record.metrics.as_dict().items()},
            **config.model_dump(include={"n_estimators", "learning_rate", "num_leaves"}),
        }
    )
    return record
