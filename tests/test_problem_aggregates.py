"""The spec's aggregate views compiled to SQL (core/problem/aggregates.py) against the
hand-written aggregates that card fraud runs today (core/features/aggregates.py): on the same
lake and day, the same rows and the same values, bit for bit."""

import pandas as pd
import pytest
from conftest import settings_for

from ml_assets.core.features import aggregates
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


@pytest.fixture(scope="module")
def views():
    spec = load_spec(PROJECT_ROOT / "problems" / "card_fraud" / "problem.yaml")
    return {v.name: compile_view(spec, v) for v in spec.aggregate_views}


@pytest.mark.parametrize("index", [0, 3, 40, DAYS - 1])  # no history, a partial one, full ones
def test_compiled_views_equal_the_hand_written_ones(lake, views, index):
    s, day = lake, lake.day(index)
    # the spec's windows are the defaults' (30 days of activity and of chargebacks, 20 pseudo-sales)
    assert (s.activity_lookback_days, s.risk_lookback_days, s.risk_smoothing_sales) == (30, 30, 20.0)
    expected = {
        "customer_activity": aggregates.customer_activity(s.lake_dir, day, s.start_date, 30),
        "merchant_risk": aggregates.merchant_risk(
            s.lake_dir, day, s.start_date, 30, s.risk_tx_lookback_days, s.risk_smoothing_sales
        ),
    }
    for name, want in expected.items():
        got = compute_view(views[name], s.lake_dir, day, s.start_date)
        pd.testing.assert_frame_equal(got, want, check_exact=True, obj=name)  # columns in order too
        if index >= 3:
            assert len(want) > 0, (name, index)  # a comparison of empty frames proves little
