"""Jobs: one per stage of the lifecycle, plus the daily cycle that chains them."""

import dagster as dg

from ml_assets.partitions import daily_partitions

DAILY_GROUPS = ("ingest", "features", "feature_store")

daily_cycle_job = dg.define_asset_job(
    name="daily_cycle",
    selection=dg.AssetSelection.groups(*DAILY_GROUPS) - dg.AssetSelection.assets("feast_apply"),
    partitions_def=daily_partitions,
    description="One day of the production loop: ingest the day's exports, compute features, "
    "load them into the online store.",
)

training_job = dg.define_asset_job(
    name="train_and_promote",
    selection=dg.AssetSelection.assets("training_set", "fraud_model", "promotion"),
    description="Build the training set as of a date, train and register a challenger, promote it if "
    "it beats the champion.",
)

scoring_job = dg.define_asset_job(
    name="score_day",
    selection=dg.AssetSelection.assets("predictions"),
    partitions_def=daily_partitions,
    description="Score one day's transactions with the current champion.",
)

feature_repo_job = dg.define_asset_job(
    name="feast_apply_job",
    selection=dg.AssetSelection.assets("feast_apply"),
    description="Register the Feast repo (run after editing feature_repo/).",
)
