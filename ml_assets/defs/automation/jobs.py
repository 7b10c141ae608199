"""Jobs: one per stage of the lifecycle, plus the daily cycle that chains them."""

import dagster as dg

from ml_assets.partitions import daily_partitions

FEATURES = dg.AssetSelection.groups("ingest", "features", "feature_store") - dg.AssetSelection.assets("feast_apply")
# what batch scoring and training read: the lake and the offline feature sources (not the online store)
OFFLINE_FEATURES = FEATURES - dg.AssetSelection.groups("feature_store")
SCORING = dg.AssetSelection.assets("predictions", "estimated_performance", "feature_drift", "data_quality")


def _daily_job(name: str, selection: dg.AssetSelection, description: str):
    return dg.define_asset_job(name=name, selection=selection, partitions_def=daily_partitions, description=description)



daily_features_job = _daily_job(
    "daily_features", FEATURES, "Ingest a day's exports, compute its features, load them into the online store."
)
daily_cycle_job = _daily_job(
    "daily_cycle", FEATURES | SCORING,
    "One day of the production loop: ingest -> features -> online store -> predictions with the champion "
    "-> NannyML monitoring.",
)
scoring_job = _daily_job("score_day", SCORING, "Score one day's transactions with the current champion and monitor them.")
realized_job = _daily_job(
    "realized_performance_job", dg.AssetSelection.assets("realized_performance"),
    "Realized performance of a day whose labels have all had time to arrive.",
)

training_job = dg.define_asset_job(
    name="train_and_promote",
    selection=dg.AssetSelection.assets("training_set", "fraud_model", "promotion"),
    description="Build the training set as of a date, train and register a challenger, promote it if "
    "it beats the champion.",
)

feature_repo_job = dg.define_asset_job(
    name="feast_apply_job",
    selection=dg.AssetSelection.assets("feast_apply"),
    description="Register the Feast repo (run after editing feature_repo/).",
)
