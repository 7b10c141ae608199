"""The spec's aggregate views compiled to SQL (core/problem/aggregates.py) against the
hand-written aggregates card fraud ran before the spec (handwritten_aggregates.py, kept here as
the oracle): on the same lake and day, the same rows and the same values, bit for bit; and the
compiled SQL against its reviewed snapshot."""

from pathlib import Path

import handwritten_aggregates as aggregates
import pandas as pd
import pytest
from conftest import settings_for

from ml_assets.core.ingest import TABLES, VolumeRule, ingest_partition
from ml_assets.core.problem.aggregates import compile_view, compute_view
from ml_assets.core.problem.spec import load_spec
from ml_assets.core.settings import PROJECT_ROOT

DAYS = 64  # past merchant_risk's 60 days of transactions behind its chargebacks


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    from ml_assets.simulator.landing import simulate_to_landing

    settings = settings_for(tmp_path_factory.mktemp("aggregates") / "data", rows_per_day=600)
    simulate_to_landing(settings, range(DAYS))
    for i in range(DAYS):
        for name in ("raw_transactions", "label_arrivals"):
            out = ingest_partition(
                TABLES[name],
                settings.day(i),
                settings.landing_dir,
                settings.lake_dir,
                settings.quarantine_dir,
                VolumeRule.from_settings(settings),
            )
            assert not out.quarantined
    return settings


SPEC = PROJECT_ROOT / "problems" / "card_fraud" / "problem.yaml"
SNAPSHOT = Path(__file__).parent / "snapshots" / "card_fraud_aggregates.sql"


@pytest.mark.parametrize("activity_cap", [None, 14])  # the spec's 30 days; a short test world's
@pytest.mark.parametrize("index", [0, 3, 40, DAYS - 1])  # no history, a partial one, full ones
def test_compiled_views_equal_the_hand_written_ones(lake, index, activity_cap):
    s, day = lake, lake.day(index)
    spec = load_spec(SPEC)
    views = {
        v.name: compile_view(spec, v, activity_cap if v.name == "customer_activity" else None)
        for v in spec.aggregate_views
    }
    # the hand-written queries' settings before the spec: 30 days of activity (or a test world's
    # lookback), 30 of chargebacks over 60 of transactions, 20 pseudo-sales
    expected = {
        "customer_activity": aggregates.customer_activity(s.lake_dir, day, s.start_date, activity_cap or 30),
        "merchant_risk": aggregates.merchant_risk(s.lake_dir, day, s.start_date, 30, 60, 20.0),
    }
    for name, want in expected.items():
        got = compute_view(views[name], s.lake_dir, day, s.start_date)
        pd.testing.assert_frame_equal(got, want, check_exact=True, obj=name)  # columns in order too
        if index >= 3:
            assert len(want) > 0, (name, index)  # a comparison of empty frames proves little


def test_request_time_features_equal_the_hand_written_on_demand_function(lake, tmp_path):
    """The spec's request-time expressions, evaluated over ten days' transactions and their
    customers' activity (some customers without any: NaN), both as expressions over the
    timestamp and as the function Feast's on-demand view registers (the hour from its request
    field), against the function written by hand before the spec: the same values, bit for bit,
    with the features in the same order."""
    import sys

    import numpy as np

    from ml_assets.core.features.contract import hour_of_day
    from ml_assets.core.problem.expressions import evaluate

    sys.path.insert(0, str(PROJECT_ROOT / "feature_repo"))
    try:
        import features
    finally:
        sys.path.remove(str(PROJECT_ROOT / "feature_repo"))
    registered = features.build(tmp_path).on_demand_views["request_features"].feature_transformation.udf
    s = lake
    rows = pd.concat(  # the last ten days' transactions, each with its day's activity
        lake_table(s, "raw_transactions", day).merge(
            aggregates.customer_activity(s.lake_dir, day, s.start_date, 30).drop(columns="event_timestamp"),
            on="customer_id",
            how="left",
        )
        for day in (s.day(i) for i in range(DAYS - 10, DAYS))
    )
    assert rows["amount_avg_7d"].isna().any() and rows["amount_avg_7d"].notna().any()
    fetched = ["amount_avg_30d", "amount_avg_7d", "amount_max_30d"]
    inputs = {
        "amount": rows["amount"].tolist(),
        "channel": rows["channel"].tolist(),
        **{f: rows[f].tolist() for f in fetched},
    }
    hours = hour_of_day(rows["event_timestamp"]).tolist()
    want = aggregates.transaction_context_udf({**inputs, "txn_hour": hours})
    got = registered({**inputs, "hour_of_event_timestamp": hours})
    assert list(got) == list(want)
    for feature in want:
        np.testing.assert_array_equal(np.asarray(got[feature]), np.asarray(want[feature]), feature)
    columns = {
        "amount": rows["amount"].to_numpy("float64"),
        "channel": rows["channel"].to_numpy(object),
        "event_timestamp": rows["event_timestamp"].dt.tz_convert(None).to_numpy(),
        **{f: rows[f].to_numpy("float64") for f in fetched},
    }
    spec = load_spec(PROJECT_ROOT / "problems" / "card_fraud" / "problem.yaml")
    assert list(spec.request_features) == list(want)
    for feature, expression in spec.request_features.items():
        np.testing.assert_array_equal(evaluate(expression, columns), np.asarray(want[feature]), feature)


def test_the_compiled_sql_matches_its_reviewed_snapshot():
    """What card fraud's spec compiles to, reviewed as SQL: a change to the compiler or the spec
    shows up here as a diff to read (UPDATE_SNAPSHOTS=1 rewrites the file)."""
    import os

    spec = load_spec(SPEC)
    text = "".join(
        f"-- {v.name}: reads {compiled.reads}\n{compiled.sql}\n\n"
        for v in spec.aggregate_views
        for compiled in [compile_view(spec, v)]
    )
    if os.environ.get("UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(text)
    assert text == SNAPSHOT.read_text()


def lake_table(settings, table, day):
    from ml_assets.core import lake

    return lake.read_partition(settings.lake_dir, table, day)
