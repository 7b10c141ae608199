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

feature_repo_job = dg.define_asset_job(
    name="feast_apply_job",
    selection=dg.AssetSelection.assets("feast_apply"),
    description="Register the Feast repo (run after editing feature_repo/).",
)
