"""The whole loop, replayed day by day on a real Dagster instance (the project's own
dagster.yaml in a temp DAGSTER_HOME), with real Feast, MLflow and NannyML. Small sizes and
short windows keep it to a few minutes; the defaults run the same code at 10k rows/day."""

import datetime as dt
import shutil

import dagster as dg
import pytest
from conftest import settings_for, store_of

from ml_assets.core.settings import PROJECT_ROOT
from ml_assets.core.warehouse import Warehouse

TEST_SIZES = {
    "rows_per_day": 3000,
    "n_customers": 3000,
    "n_merchants": 300,
    "training_window_days": 14,
    "validation_days": 5,
    "label_delay_max_days": 10,
    "retrain_consecutive_days": 3,
    "retrain_cooldown_days": 7,
}
WARM = 30 + 14  # feature lookback + training window


def _replay(tmp_path_factory, scenario, days, drift_day=None):
    from ml_assets.replay import replay

    root = tmp_path_factory.mktemp(scenario)
    home = root / "home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    settings = settings_for(
        root / "data",
        scenario=scenario,
        **TEST_SIZES,
        **({"drift_start_day": drift_day} if drift_day is not None else {}),
    )
    # the instance is Dagster's: found through DAGSTER_HOME, as the CLI finds it
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAGSTER_HOME", str(home))
        mp.setenv("ML_ASSETS_DAGSTER_DIR", str(home / "storage"))
        rows = replay(settings, days)
        with dg.DagsterInstance.get() as instance:
            runs = instance.get_runs()
            sensor_runs = [
                r for r in runs if r.tags.get("dagster/sensor_name") == "retrain_on_performance_drop"
            ]
    return settings, rows, runs, sensor_runs


@pytest.fixture(scope="module")
def stable(tmp_path_factory):
    return _replay(tmp_path_factory, "stable", WARM + 10 + 8)


@pytest.mark.slow
def test_stable_replay_never_retrains_and_cbpe_bounds_hold(stable):
    settings, rows, runs, sensor_runs = stable
    assert all(r.sensor == "skip" for r in rows) and not sensor_runs
    assert len({r.champion for r in rows}) == 1
    realized = [r for r in rows if r.realized_auc is not None]
    assert len(realized) >= 7
    within = Warehouse(settings.warehouse_path).query(
        "SELECT within_bounds FROM monitoring_realized_performance WHERE metric = 'roc_auc'"
    )
    assert within["within_bounds"].mean() >= 0.75, within
    # every run of the replay is in the instance, and all succeeded
    assert runs and all(r.is_success for r in runs)


@pytest.mark.slow
def test_drift_thresholds_learnt_out_of_sample_alert_less_than_in_sample_ones(stable):
    """The replay's feature-drift alerts against those of NannyML's own Jensen-Shannon with
    thresholds learnt in-sample (each reference day against a reference holding it), fitted on
    the same reference (the champion's training window) and run on the same scored days."""
    import glob

    import nannyml as nml
    import pandas as pd

    from ml_assets.core.monitoring import monitors
    from ml_assets.core.monitoring.thresholds import PredictionIntervalThreshold

    settings, rows, _, _ = stable
    warehouse = Warehouse(settings.warehouse_path)
    ours = warehouse.query(
        "SELECT column_name, count(*) FILTER (WHERE alert) AS alerts FROM monitoring_drift "
        "WHERE monitor = 'univariate' GROUP BY column_name"
    ).set_index("column_name")["alerts"]
    (training_set,) = glob.glob(str(settings.training_sets_dir / "*" / "*.parquet"))
    fitted = monitors.load(store_of(settings), rows[0].champion, settings.monitors_cache_dir)
    columns = fitted.columns
    upper = PredictionIntervalThreshold(settings.drift_false_alarm_rate)
    in_sample = nml.UnivariateDriftCalculator(
        column_names=[*columns.continuous, *columns.categorical],
        treat_as_categorical=columns.categorical,
        continuous_methods=["jensen_shannon"],
        categorical_methods=["jensen_shannon"],
        thresholds={"jensen_shannon": upper},
        timestamp_column_name=monitors.TS,
        chunk_period="D",
    ).fit(monitors._naive(pd.read_parquet(training_set), columns))
    scored = monitors._naive(warehouse.query("SELECT * FROM prediction_log"), columns)
    result = in_sample.calculate(scored).filter(period="analysis")
    theirs = pd.Series(
        {key.properties[0]: int(pd.Series(result.alerts(key)).astype(bool).sum()) for key in result.keys()}
    )
    assert len(ours) == len(theirs) > 20 and set(ours.index) == set(theirs.index)
    assert ours.sum() < theirs.sum(), pd.DataFrame({"ours": ours, "in_sample": theirs})
    assert ours.max() <= theirs.max(), pd.DataFrame({"ours": ours, "in_sample": theirs})


@pytest.mark.slow
def test_monitoring_tables_hold_one_row_per_partition_and_metric(stable):
    settings, rows, _, _ = stable
    for table, key in [
        ("monitoring_estimated_performance", "metric"),
        ("monitoring_drift", "column_name, metric"),
    ]:
        dupes = Warehouse(settings.warehouse_path).query(
            f"SELECT partition_date, {key}, count(*) n FROM {table} GROUP BY ALL HAVING n > 1"
        )
        assert dupes.empty, dupes
    days = Warehouse(settings.warehouse_path).query(
        "SELECT count(DISTINCT partition_date) n FROM monitoring_estimated_performance"
    )
    assert days["n"].iloc[0] == len(rows)
    assert (settings.reports_dir / "daily" / f"{rows[-1].day}.html").exists()
    assert (settings.reports_dir / "rolling.html").exists() and (
        settings.reports_dir / "replay_stable.png"
    ).exists()


@pytest.mark.slow
def test_unseen_category_fails_the_blocking_data_quality_check(stable):
    from ml_assets.core.monitoring import monitors
    from ml_assets.core.monitoring.checks import summarize
    from ml_assets.core.monitoring.daily import by_table, predictions_of

    settings, rows, _, _ = stable
    day = dt.date.fromisoformat(rows[-1].day)
    preds = predictions_of(Warehouse(settings.warehouse_path), day, day)
    fitted = monitors.load(store_of(settings), rows[-1].champion, settings.monitors_cache_dir)

    def verdicts(frame):
        tidy = by_table(monitors.tidy(monitors.run(fitted, frame)).assign(model_version=rows[-1].champion))
        return {s.asset: s.verdict for s in summarize(tidy, settings.missing_rate_slack)}

    assert verdicts(preds)["data_quality"].passed  # the real day is clean
    preds.loc[preds.index[:40], "merchant_category_raw"] = "crypto_atm"
    bad = verdicts(preds)["data_quality"]
    assert not bad.passed and bad.blocking
    assert "merchant_category_raw" in bad.description


@pytest.mark.slow
def test_seasonal_replay_drops_fires_retrains_and_recovers(tmp_path_factory):
    drift = WARM + 8  # after the champion's CBPE baseline (its first 7 monitored days)
    settings, rows, runs, sensor_runs = _replay(tmp_path_factory, "seasonal", drift + 24, drift_day=drift)
    by_day = {r.day: r for r in rows}
    before = [r.estimated_auc for r in rows if r.day < settings.day(drift).isoformat()]
    assert min(before) >= 0.9
    # the season's inputs are new: the drift monitors alert on each of its first days
    first_days = [r for r in rows if r.day >= settings.day(drift).isoformat()][:3]
    assert all(r.drift_alerts > 0 for r in first_days), [(r.day, r.drift_alerts) for r in first_days]
    fired = [r.day for r in rows if r.sensor == "FIRED"]
    assert fired, [(r.day, r.estimated_auc) for r in rows]
    first = (settings.day(0).__class__.fromisoformat(fired[0]) - settings.day(drift)).days
    assert 0 <= first <= 6, fired  # within a few days of the shift
    # the runs were launched by the sensor and are in the instance
    assert sorted(r.tags["ml_assets/alert_day"] for r in sensor_runs) == fired
    for run in sensor_runs:  # a run fails only when the quality floor blocked its challenger
        assert run.is_success or by_day[run.tags["ml_assets/alert_day"]].retrain.endswith("(quality floor)")
    # a promotion happens only with a better challenger: every retrain says which, and the
    # champion changes exactly when one was promoted
    promoted = [r for r in rows if r.retrain.endswith("promoted")]
    assert promoted, [(r.day, r.retrain) for r in rows if r.retrain]
    assert by_day[rows[-1].day].champion != rows[0].champion
    # after the first promoted retrain, realized performance recovers (CBPE estimates of two
    # versions are not compared: each is calibrated on its own reference)
    shift, promo = settings.day(drift).isoformat(), promoted[0].day
    drifted = [r for r in rows if shift <= r.day <= promo]
    recovered = [r for r in rows if r.day > promo]

    def mean(values):
        values = [v for v in values if v is not None]
        assert values
        return sum(values) / len(values)

    assert mean(r.realized_auc for r in recovered) > mean(r.realized_auc for r in drifted) + 0.05
    # bounded retrains (the exact rules are tested in test_sensor): never two within
    # retry_days, never more than 1 + max_retries rejected in a row
    tried = [(dt.date.fromisoformat(r.day), "rejected" in r.retrain) for r in rows if r.sensor == "FIRED"]
    assert all(
        (b[0] - a[0]).days >= settings.retrain_retry_days for a, b in zip(tried, tried[1:], strict=False)
    )
    in_a_row = 0
    for _, rejected in tried:
        in_a_row = in_a_row + 1 if rejected else 0
        assert in_a_row <= 1 + settings.retrain_max_retries, tried
    # the scoreboard of this replay says the same
    from ml_assets.scoreboard import score

    board = score(rows, "seasonal", settings.day(drift))
    assert board.detection_delay_days == first and board.false_triggers == 0
    assert board.retrains_promoted == len(promoted) and board.retrains_fired == len(fired)
    assert board.auc_lost > 0


@pytest.mark.slow
def test_fraud_shift_replay_is_seen_by_the_early_labels_retrained_and_recovers(tmp_path_factory):
    drift = WARM + 8  # after the champion's CBPE baseline (its first 7 monitored days)
    settings, rows, _, sensor_runs = _replay(tmp_path_factory, "fraud_shift", drift + 24, drift_day=drift)
    shift = settings.day(drift).isoformat()
    fired = [r.day for r in rows if r.sensor == "FIRED"]
    assert fired and fired[0] >= shift, [(r.day, r.bad_by) for r in rows]  # nothing before the drift
    assert sorted(r.tags["ml_assets/alert_day"] for r in sensor_runs) == fired
    # concept drift: the scores barely move, so CBPE sees little; the early label signal sees
    # that fewer of the arriving chargebacks had been caught. It alone completes K bad days in a
    # row before CBPE alone would (CBPE may call a day bad here and there, without a streak)
    k = settings.retrain_consecutive_days

    def first_streak(signal):
        bad = [dt.date.fromisoformat(r.day) for r in rows if signal in r.bad_by]
        for i in range(k - 1, len(bad)):
            if (bad[i] - bad[i - k + 1]).days == k - 1:
                return bad[i].isoformat()
        return None

    by_labels, by_cbpe = first_streak("early_labels"), first_streak("cbpe")
    seen = [(r.day, r.bad_by) for r in rows if r.bad_by]
    assert by_labels is not None and by_labels >= shift, seen
    assert by_cbpe is None or by_labels < by_cbpe, seen
    # a promoted retrain; the champion's realized ROC AUC after it beats the drifted days'
    promoted = [r for r in rows if r.retrain.endswith("promoted")]
    assert promoted, [(r.day, r.retrain) for r in rows if r.retrain]
    drifted = [r.realized_auc for r in rows if shift <= r.day <= promoted[0].day and r.realized_auc]
    recovered = [r.realized_auc for r in rows if r.day > promoted[0].day and r.realized_auc]
    assert drifted and recovered
    assert sum(recovered) / len(recovered) > sum(drifted) / len(drifted) + 0.03
