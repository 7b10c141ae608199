"""Jobs: one per stage of the lifecycle, plus the daily cycle that chains them. Partitioned
jobs take their calendar from the assets they select."""

import dagster as dg

from ml_assets.defs.keys import keys

FEATURES = dg.AssetSelection.groups("ingest", "features", "feature_store") - dg.AssetSelection.assets(
    *keys("feast_apply")
)
# the daily features without the online store: what batch scoring and training need each day
INGEST_AND_SOURCES = FEATURES - dg.AssetSelection.groups("feature_store")
SCORING = dg.AssetSelection.assets(
    *keys("predictions", "estimated_performance", "feature_drift", "data_quality", "early_label_signal")
)
TRAINING = dg.AssetSelection.assets(*keys("training_set", "model", "model_monitors", "promotion"))

daily_features_job = dg.define_asset_job(
    "daily_features",
    FEATURES,
    description="Ingest a day's exports, compute its features, load them into the online store.",
)
daily_cycle_job = dg.define_asset_job(
    "daily_cycle",
    FEATURES | SCORING,
    description="One day of the production loop: ingest -> features -> online store -> predictions with the "
    "champion -> NannyML monitoring.",
)
scoring_job = dg.define_asset_job(
    "score_day",
    SCORING,
    description="Score one day's transactions with the current champion and monitor them.",
)
realized_job = dg.define_asset_job(
    "realized_performance_job",
    dg.AssetSelection.assets(*keys("realized_performance")),
    description="Realized performance of a day whose labels have all had time to arrive.",
)
training_job = dg.define_asset_job(
    "train_and_promote",
    TRAINING,
    description="Build the training set as of a date, train and register a challenger, fit its monitors, "
    "promote it if it beats the champion.",
)
feature_repo_job = dg.define_asset_job(
    "feast_apply_job",
    dg.AssetSelection.assets(*keys("feast_apply")),
    description="Register the Feast repo (run after editing feature_repo/).",
)
threshold_job = dg.define_asset_job(
    "refit_threshold",
    dg.AssetSelection.assets(*keys("decision_threshold")),
    description="Re-fit the champion's decision threshold to the flag rate it was chosen for, on recent days "
    "(the retrain sensor's answer when the operating point moved while the ranking held).",
)
