"""Jobs: one per stage of the lifecycle, plus the daily cycle that chains them."""

import dagster as dg

from ml_assets.partitions import daily_partitions

FEATURES = dg.AssetSelection.groups("ingest", "features", "feature_store") - dg.AssetSelection.assets("feast_apply")
SCORING = dg.AssetSelection.assets("predictions", "estimated_performance", "feature_drift", "data_quality")

daily_features_job = dg.define_asset_job(
    name="daily_features",
    selection=FEATURES,
    partitions_def=daily_partitions,
    description="Ingest a day's exports, compute its features, load them into the online store.",
)

daily_cycle_job = dg.define_asset_job(
    name="daily_cycle",
    selection=FEATURES | SCORING,
    partitions_def=daily_partitions,
    description="One day of the production loop: ingest -> features -> online store -> predictions "
    "with the champion -> NannyML monitoring.",
)

training_job = dg.define_asset_job(
    name="train_and_promote",
    selection=dg.AssetSelection.assets("training_set", "fraud_model", "promotion"),
    description="Build the training set as of a date, train and register a challenger, promote it if "
    "it beats the champion.",
)

scoring_job = dg.define_asset_job(
    name="score_day",
    selection=SCORING,
    partitions_def=daily_partitions,
    description="Score one day's transactions with the current champion and monitor them.",
)

realized_job = dg.define_asset_job(
    name="realized_performance_job",
    selection=dg.AssetSelection.assets("realized_performance"),
    partitions_def=daily_partitions,
    description="Realized performance of a day whose labels have all had time to arrive.",
)

feature_repo_job = dg.define_asset_job(
    name="feast_apply_job",
    selection=dg.AssetSelection.assets("feast_apply"),
    description="Register the Feast repo (run after editing feature_repo/).",
)
