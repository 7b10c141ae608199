import dagster as dg
import pandas as pd
import pytest

from ml_assets.core import lake
from ml_assets.core.ingest import TABLES, validate


@pytest.fixture
def landed(project):
    from ml_assets.simulator.landing import simulate_to_landing

    simulate_to_landing(project, range(3))
    return project


def _landing(settings, day_index=2):
    spec = TABLES["raw_transactions"]
    return lake.read_partition(settings.landing_dir, spec.landing, settings.day(day_index))


def _failed(outcomes):
    return {o.name: o.message for o in outcomes if not o.passed}


def test_clean_landing_passes_every_check(landed):
    day = landed.day(2)
    for spec in TABLES.values():
        df = lake.read_partition(landed.landing_dir, spec.landing, day)
        assert _failed(validate(df, spec, day)) == {}, spec.name


@pytest.mark.parametrize(
    ("corrupt", "check", "words"),
    [
        (lambda df: df.drop(columns=["amount"]), "schema", ["'amount'", "missing", "add it"]),
        (
            lambda df: df.assign(amount=df["amount"].astype(str)),
            "schema",
            ["'amount'", "dtype", "export it as float"],
        ),
        (
            lambda df: df.assign(event_timestamp=df["event_timestamp"].dt.tz_localize(None)),
            "schema",
            ["'event_timestamp'", "UTC"],
        ),
        (
            lambda df: df.assign(customer_id=df["customer_id"].astype("Int64").mask(df.index < 3)),
            "null_keys",
            ["'customer_id'", "3 null", "repair"],
        ),
        (
            lambda df: pd.concat([df, df.head(4)]),
            "unique_ids",
            ["'transaction_id'", "4 duplicated", "deduplicate"],
        ),
        (
            lambda df: df.assign(
                event_timestamp=df["event_timestamp"].where(
                    df.index > 1, df["event_timestamp"] + pd.Timedelta(days=1)
                )
            ),
            "timestamps_in_partition",
            ["'event_timestamp'", "2 values outside", "partition of their own day"],
        ),
    ],
)
def test_each_bad_input_fails_its_check_with_the_column_and_the_fix(landed, corrupt, check, words):
    spec = TABLES["raw_transactions"]
    failed = _failed(validate(corrupt(_landing(landed)), spec, landed.day(2)))
    assert check in failed
    for word in words:
        assert word in failed[check]


def _materialize(settings, instance, key, selection):
    from ml_assets.definitions import build_definitions

    job = (
        build_definitions(settings)
        .resolve_implicit_global_asset_job_def()
        .get_subset(asset_selection=set(selection))
    )
    return job.execute_in_process(instance=instance, partition_key=key, raise_on_error=False)


def test_ingest_is_idempotent_and_replaces_the_partition(landed, instance):
    key = dg.AssetKey("raw_transactions")
    day = landed.day(1)
    for _ in range(2):
        assert _materialize(landed, instance, str(day), [key]).success
    files = list((landed.lake_dir / "raw_transactions" / f"date={day}").iterdir())
    assert [f.name for f in files] == ["part.parquet"]  # no temp files, no second copy
    stored = lake.read_partition(landed.lake_dir, "raw_transactions", day)
    assert len(stored) == landed.rows_per_day and stored["transaction_id"].is_unique


def test_bad_day_is_quarantined_and_blocks_the_features(landed, instance):
    day = landed.day(1)
    raw, activity = dg.AssetKey("raw_transactions"), dg.AssetKey("customer_activity_source")
    assert _materialize(landed, instance, str(day), [raw]).success
    good = lake.read_partition(landed.lake_dir, "raw_transactions", day)

    bad = _landing(landed, 1)
    lake.write_partition(pd.concat([bad, bad.head(2)]), landed.landing_dir, "transactions", day)
    result = _materialize(landed, instance, str(day), [raw, activity])

    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not checks["unique_ids"].passed and "2 duplicated" in checks["unique_ids"].description
    assert checks["schema"].passed
    # the blocking check stopped the run before the features
    assert activity not in {e.asset_key for e in result.get_asset_materialization_events()}
    assert not result.success
    # the last good copy is still what the lake serves; the bad export sits in quarantine
    pd.testing.assert_frame_equal(lake.read_partition(landed.lake_dir, "raw_transactions", day), good)
    assert lake.partition_path(landed.data_dir / "quarantine", "raw_transactions", day).exists()
