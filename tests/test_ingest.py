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
            "null_values",
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


def _truncated(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _ten_times(path):
    df = pd.read_parquet(path)
    copies = [df.assign(transaction_id=df["transaction_id"] + f"-{k}") for k in range(10)]
    pd.concat(copies, ignore_index=True).to_parquet(path, index=False)


BAD_FILES = {
    "truncated": (_truncated, "readable", ["not a readable Parquet file", "export the day again"]),
    "empty": (lambda p: p.write_bytes(b""), "readable", ["empty file (0 bytes)", "export the day again"]),
    "wrong_format": (
        lambda p: p.write_text(pd.read_parquet(p).to_csv(index=False)),
        "readable",
        ["not a readable Parquet file"],
    ),
    "wrong_type": (
        lambda p: pd.read_parquet(p).assign(customer_id=lambda d: d["customer_id"].astype(str)).to_parquet(p),
        "schema",
        ["'customer_id'", "export it as int"],
    ),
    "ten_times_the_rows": (_ten_times, "row_volume", ["20000 rows", "median of 2000", "land it again"]),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_bad_landing_file_is_quarantined_with_its_reason_and_later_days_still_run(landed, case):
    """Issue 23: truncated, empty, wrong format, a column of the wrong type, 10x the usual rows.
    Before, an unreadable file raised pyarrow's bare ArrowInvalid: no check, no quarantine."""
    import json

    from ml_assets.core.ingest import REASON_FILE, VolumeRule, ingest_partition

    spec = TABLES["raw_transactions"]
    dirs = (landed.landing_dir, landed.lake_dir, landed.quarantine_dir, VolumeRule.from_settings(landed))
    for i in range(3):  # three good days in the lake: the usual volume, and a last good copy of day 2
        assert not ingest_partition(spec, landed.day(i), *dirs).quarantined
    good = lake.read_partition(landed.lake_dir, spec.name, landed.day(2))

    damage, check, words = BAD_FILES[case]
    damage(lake.partition_path(landed.landing_dir, spec.landing, landed.day(2)))
    out = ingest_partition(spec, landed.day(2), *dirs)

    failed = _failed(out.checks)
    assert out.quarantined and check in failed, failed
    for word in words:
        assert word in failed[check], failed[check]
    reasons = json.loads((out.path.parent / REASON_FILE).read_text())
    assert reasons["failed"][check] == failed[check]
    assert out.path.is_relative_to(landed.quarantine_dir)
    # the lake still serves the last good copy, and the next day goes in
    pd.testing.assert_frame_equal(lake.read_partition(landed.lake_dir, spec.name, landed.day(2)), good)
    from ml_assets.simulator.landing import simulate_to_landing

    simulate_to_landing(landed, range(3, 4))
    assert not ingest_partition(spec, landed.day(3), *dirs).quarantined


def test_an_unreadable_file_fails_the_checks_of_its_asset_not_the_run_with_a_bare_error(landed, instance):
    day = landed.day(1)
    _truncated(lake.partition_path(landed.landing_dir, "transactions", day))
    result = _materialize(landed, instance, str(day), [dg.AssetKey("raw_transactions")])
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not checks["readable"].passed and "export the day again" in checks["readable"].description
    assert not result.success  # the blocking check, not an exception, stopped the run
    assert not [
        e for e in result.all_events if e.is_step_failure and "ArrowInvalid" in str(e.event_specific_data)
    ]
    assert lake.partition_path(landed.quarantine_dir, "raw_transactions", day).exists()


def test_a_run_over_a_range_of_days_ingests_each_as_its_own_partition_and_a_bad_day_fails_its_check(
    landed, instance
):
    """A backfill (or a replay's warm-up) runs several days at once: each day lands in the lake as
    its own partition, with its own rows on its own materialization, and a check fails if it failed
    on any of the days, naming them; the good days are in."""
    from ml_assets.defs.partitions import partition_range_tags

    raw, activity = dg.AssetKey("raw_transactions"), dg.AssetKey("customer_activity_source")
    days = [str(landed.day(i)) for i in range(3)]
    bad = _landing(landed, 1)
    lake.write_partition(pd.concat([bad, bad.head(2)]), landed.landing_dir, "transactions", landed.day(1))
    from ml_assets.definitions import build_definitions

    job = (
        build_definitions(landed)
        .resolve_implicit_global_asset_job_def()
        .get_subset(asset_selection={raw, activity})
    )
    result = job.execute_in_process(
        instance=instance, tags=partition_range_tags(days[0], days[-1]), raise_on_error=False
    )
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not checks["unique_ids"].passed
    assert f"failed on 1 of 3 days ({days[1]}); {days[1]}: column 'transaction_id' has 2 duplicated" in (
        checks["unique_ids"].description
    )
    assert checks["schema"].passed and "all 3 days" in checks["schema"].description
    assert activity not in {e.asset_key for e in result.get_asset_materialization_events()}  # blocked
    records = instance.fetch_materializations(raw, limit=10).records
    by_day = {r.partition_key: r.asset_materialization.metadata for r in records}
    assert sorted(by_day) == days
    assert [by_day[d]["quarantined"].value for d in days] == [False, True, False]
    assert by_day[days[1]]["rows"].value == landed.rows_per_day + 2
    for i in (0, 2):  # the good days are in the lake; the bad one only in quarantine
        assert (
            len(lake.read_partition(landed.lake_dir, "raw_transactions", landed.day(i)))
            == landed.rows_per_day
        )
    assert lake.partition_path(landed.quarantine_dir, "raw_transactions", landed.day(1)).exists()
    with pytest.raises(FileNotFoundError):
        lake.read_partition(landed.lake_dir, "raw_transactions", landed.day(1))

    # fixed, the same range runs again: every day replaced, the features computed for each day
    lake.write_partition(bad, landed.landing_dir, "transactions", landed.day(1))
    again = job.execute_in_process(instance=instance, tags=partition_range_tags(days[0], days[-1]))
    assert all(e.passed for e in again.get_asset_check_evaluations())
    features = {e.partition for e in again.get_asset_materialization_events() if e.asset_key == activity}
    assert features == set(days)
