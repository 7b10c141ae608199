"""Feast for real on a temp repo copy: apply, materialize, online reads, point-in-time joins."""

import sqlite3

import numpy as np
import pandas as pd
import pytest
from conftest import repo_of
from lakehelpers import build_offline

from ml_assets.core import lake
from ml_assets.core.settings import DEFAULT_PROBLEM

DAYS = 10


@pytest.fixture
def offline(project):
    build_offline(project, DAYS)
    return project, repo_of(project).apply()


def _source(settings, table):
    frames = [
        lake.read_partition(settings.lake_dir, table, d)
        for d in lake.existing_partitions(settings.lake_dir, table)
    ]
    return pd.concat(frames, ignore_index=True)


def test_apply_registers_every_object_of_the_repo(offline):
    settings, applied = offline
    specs = repo_of(settings).specs
    assert applied["FeatureView"] == sorted(v.name for v in specs.FEATURE_VIEWS)
    assert applied["OnDemandFeatureView"] == [specs.ON_DEMAND_VIEW]
    assert applied["Entity"] == sorted(specs.ENTITIES) and applied["deleted"] == []
    store = repo_of(settings).store()
    service = store.get_feature_service(specs.FEATURE_SERVICE)
    assert sorted(p.name for p in service.feature_view_projections) == sorted(
        [v.name for v in specs.FEATURE_VIEWS] + [specs.ON_DEMAND_VIEW]
    )
    for view in store.list_feature_views():
        assert view.ttl is not None and view.ttl.total_seconds() > 0


def _online(repo, features: list[str], customers: list[int]):
    rows = [{"customer_id": c} for c in customers]
    return (
        repo.store().get_online_features(features=features, entity_rows=rows).to_df().set_index("customer_id")
    )


def test_materialized_day_is_what_online_reads_return(offline):
    settings, _ = offline
    repo = repo_of(settings)
    last, previous = settings.day(DAYS - 1), settings.day(DAYS - 2)
    # Feast's own materialize writes exactly the requested day (the reference of the bulk loader)
    repo.materialize_day("customer_activity", previous)
    repo.materialize_day("customer_activity", last)
    expected = lake.read_partition(settings.lake_dir, "customer_activity_source", last).set_index(
        "customer_id"
    )
    customers = expected.index[:25].tolist()
    online = _online(repo, ["customer_activity:txn_count_7d", "customer_activity:amount_avg_30d"], customers)
    np.testing.assert_allclose(
        online.loc[customers, "txn_count_7d"].astype(float), expected.loc[customers, "txn_count_7d"]
    )
    np.testing.assert_allclose(
        online.loc[customers, "amount_avg_30d"].astype(float), expected.loc[customers, "amount_avg_30d"]
    )


def test_point_in_time_join_never_reads_the_future(offline):
    settings, _ = offline
    specs = repo_of(settings).specs
    view = next(v for v in specs.FEATURE_VIEWS if v.name == "customer_activity")
    source = _source(settings, "customer_activity_source")
    rng = np.random.default_rng(0)
    customers = rng.choice(source["customer_id"].unique(), 300)
    day_starts = pd.to_datetime(
        [pd.Timestamp(settings.day(int(i)), tz="UTC") for i in rng.integers(1, DAYS, 300)]
    )
    offsets = pd.to_timedelta(rng.integers(0, 86_400, 300), unit="s")
    # edges: exactly at a feature row's timestamp, and one microsecond before the next one
    offsets = offsets.where(np.arange(300) % 10 != 0, pd.Timedelta(0))
    offsets = offsets.where(np.arange(300) % 10 != 1, pd.Timedelta(days=1) - pd.Timedelta(microseconds=1))
    entities = pd.DataFrame({"customer_id": customers, "event_timestamp": day_starts + offsets})

    got = (
        repo_of(settings)
        .store()
        .get_historical_features(
            entity_df=entities, features=[f"customer_activity:{f}" for f in view.features]
        )
        .to_df()
    )

    # reference: latest source row at or before the entity timestamp, within the TTL
    src = source.sort_values("event_timestamp")
    src["event_timestamp"] = src["event_timestamp"].astype("datetime64[ns, UTC]")
    ents = entities.assign(event_timestamp=entities["event_timestamp"].astype("datetime64[ns, UTC]"))
    expected = pd.merge_asof(
        ents.sort_values("event_timestamp"),
        src.rename(columns={"event_timestamp": "feature_ts"}),
        left_on="event_timestamp",
        right_on="feature_ts",
        by="customer_id",
        direction="backward",
        tolerance=view.ttl,
    )
    assert (
        expected["feature_ts"].dropna() <= expected.loc[expected["feature_ts"].notna(), "event_timestamp"]
    ).all()
    key = ["customer_id", "event_timestamp"]
    got["event_timestamp"] = got["event_timestamp"].astype("datetime64[ns, UTC]")
    merged = expected.merge(got, on=key, suffixes=("_expected", "_feast"), validate="many_to_many")
    assert len(merged) >= len(entities)
    for feature in view.features:
        a, b = merged[f"{feature}_expected"].astype(float), merged[f"{feature}_feast"].astype(float)
        assert ((a.isna() & b.isna()) | np.isclose(a, b)).all(), feature
    # the test has teeth: some rows have features, and a wrong join would differ
    assert merged["txn_count_30d_expected"].notna().mean() > 0.5


def test_apply_deletes_what_the_repo_no_longer_defines(offline, tmp_path):
    """Feast's own planner: a view, an on-demand view and a service dropped from the repo
    are deleted from the registry (a hand-written apply used to leave stale ones)."""
    from conftest import copy_feature_repo

    from ml_assets.core.features.catalogue import load_specs
    from ml_assets.core.features.store import FeatureRepo

    settings, _ = offline
    repo_dir = copy_feature_repo(tmp_path / "edited_repo")
    specs_py = repo_dir / "feature_specs.py"
    text = specs_py.read_text()
    # drop merchant_risk and, with it, nothing else the service needs: a second service goes too
    specs_py.write_text(
        text.replace(
            "FEATURE_VIEWS: list[FeatureViewSpec] = [", "FEATURE_VIEWS: list[FeatureViewSpec] = [  # edited"
        )
        + "\nFEATURE_VIEWS = [v for v in FEATURE_VIEWS if v.name != 'merchant_risk']\n"
    )
    try:
        applied = FeatureRepo(repo_dir, settings.data_dir).apply()
    finally:
        load_specs(settings.feature_repo_dir)  # the project's catalogue back under its module name
    assert "merchant_risk" not in applied["FeatureView"]
    assert "merchant_risk" in applied["deleted"]
    store = FeatureRepo(repo_dir, settings.data_dir).store()
    assert "merchant_risk" not in {v.name for v in store.list_feature_views()}


def test_feature_sources_are_reproducible_to_the_bit(offline):
    """The same lake gives the same aggregates, bit for bit (training sets hash the same)."""
    from ml_assets.core.features.aggregates import aggregate_sources
    from ml_assets.core.problem import card_fraud

    settings, _ = offline
    day = settings.day(DAYS - 1)

    def both():
        sources = aggregate_sources(card_fraud(), settings)
        return [source.compute(settings.lake_dir, day, settings.start_date) for source in sources]

    first, second = both(), both()
    for a, b in zip(first, second, strict=True):
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert len(first[0]) > 0 and len(first[1]) > 0


def test_merchant_velocity_and_recent_chargebacks_are_counted_from_the_lake(offline):
    """The merchant features that react within a day (sales velocity) or a week (chargebacks
    arrived in 7 days), recomputed from the lake's raw partitions with pandas."""
    from ml_assets.core.features.aggregates import aggregate_source
    from ml_assets.core.problem import card_fraud

    settings, _ = offline
    day = settings.day(DAYS - 1)
    start = pd.Timestamp(day, tz="UTC")
    risk = aggregate_source(card_fraud(), settings, "merchant_risk").compute(
        settings.lake_dir, day, settings.start_date
    )
    risk = risk.set_index("merchant_id")
    tx = _source(settings, "raw_transactions")
    tx = tx[tx["event_timestamp"] < start]
    labels = _source(settings, "label_arrivals")
    labels = labels[labels["arrived_at"] < start]
    age = (start - tx["event_timestamp"]).dt.total_seconds() / 86400
    per_merchant = tx.assign(d1=age <= 1, d7=age <= 7).groupby("merchant_id")
    expected_1d = per_merchant["d1"].sum().astype(float)
    expected_7d = per_merchant["d7"].sum().astype(float)
    fresh = labels[labels["arrived_at"] >= start - pd.Timedelta(days=7)]
    expected_cb = fresh.merge(tx, on="transaction_id")["merchant_id"].value_counts().astype(float)
    pd.testing.assert_series_equal(
        risk["merchant_txn_count_1d"], expected_1d.reindex(risk.index), check_names=False
    )
    pd.testing.assert_series_equal(
        risk["merchant_txn_count_7d"], expected_7d.reindex(risk.index), check_names=False
    )
    pd.testing.assert_series_equal(
        risk["merchant_chargebacks_7d"], expected_cb.reindex(risk.index, fill_value=0.0), check_names=False
    )
    growth = (risk["merchant_txn_count_7d"] / 7) / (risk["merchant_txn_count_30d"] / 30)
    pd.testing.assert_series_equal(risk["merchant_txn_growth_7d"], growth, check_names=False)
    assert expected_cb.sum() > 0 and (risk["merchant_txn_count_1d"] > 0).any()


def test_online_read_through_the_feature_service_computes_request_features(offline):
    """What serving reads: the feature service online, the on-demand view included."""
    settings, _ = offline
    repo = repo_of(settings)
    last = settings.day(DAYS - 1)
    repo.materialize_day("customer_activity", last)
    source = lake.read_partition(settings.lake_dir, "customer_activity_source", last)
    customer = int(source["customer_id"].iloc[0])
    row = {
        "customer_id": customer,
        "merchant_id": 1,
        "amount": 99.0,
        "channel": "online",
        "hour_of_event_timestamp": 2.5,
    }
    service = repo.store().get_feature_service(repo.specs.FEATURE_SERVICE)
    online = repo.store().get_online_features(features=service, entity_rows=[row]).to_dict()
    assert online["is_online"] == [1.0] and online["is_night"] == [1.0]
    assert online["log_amount"][0] == pytest.approx(np.log1p(99.0))
    assert online["amount_avg_30d"][0] is not None


def _online_rows(settings, view: str) -> list[tuple]:
    con = sqlite3.connect(settings.feast_dir / "online_store.db")
    try:
        return sorted(
            con.execute(
                "SELECT entity_key, feature_name, value, value_text, event_ts, created_ts "
                f"FROM {DEFAULT_PROBLEM}_{view}"
            ).fetchall()
        )
    finally:
        con.close()


@pytest.mark.parametrize("view", ["customer_activity", "merchant_profile"])
def test_bulk_online_load_writes_exactly_what_feast_materialize_writes(offline, view):
    """Byte for byte: same keys, value bytes, value text and timestamps as Feast's own
    materialize (numbers and strings, with missing values among them)."""
    settings, _ = offline
    repo = repo_of(settings)
    day = settings.day(DAYS - 1)
    repo.materialize_day(view, day)
    by_feast = _online_rows(settings, view)
    con = sqlite3.connect(settings.feast_dir / "online_store.db")
    with con:
        con.execute(f"DELETE FROM {DEFAULT_PROBLEM}_{view}")
    con.close()
    written = repo.load_online_day(view, day)
    bulk = _online_rows(settings, view)
    assert written > 0 and len(bulk) == len(by_feast) > 0
    assert bulk == by_feast
    assert any(r[2] == b"" for r in bulk) or view == "merchant_profile"  # missing values are covered


def test_bulk_online_load_keeps_the_newest_day_when_days_arrive_out_of_order(offline):
    settings, _ = offline
    repo = repo_of(settings)
    last, previous = settings.day(DAYS - 1), settings.day(DAYS - 2)
    repo.load_online_day("customer_activity", last)
    repo.load_online_day("customer_activity", previous)  # a backfill of an older day, after the newest
    expected = lake.read_partition(settings.lake_dir, "customer_activity_source", last).set_index(
        "customer_id"
    )
    customers = expected.index[:50].tolist()
    online = _online(repo, ["customer_activity:amount_sum_30d"], customers)
    np.testing.assert_allclose(
        online.loc[customers, "amount_sum_30d"].astype(float), expected.loc[customers, "amount_sum_30d"]
    )
    older = lake.read_partition(settings.lake_dir, "customer_activity_source", previous).set_index(
        "customer_id"
    )
    changed = [
        c
        for c in customers
        if c in older.index and older.loc[c, "amount_sum_30d"] != expected.loc[c, "amount_sum_30d"]
    ]
    assert changed  # the test has teeth: the older day holds other values for these customers
