"""The whole loop, replayed day by day on a real Dagster instance (the project's own
dagster.yaml in a temp DAGSTER_HOME), with real Feast, MLflow and NannyML, for the replay
tests (one file per scenario, so they run side by side). Small sizes and short windows keep
each to a few minutes; the defaults run the same code at 10k rows/day."""

import dagster as dg
import pytest
from conftest import project_home, settings_for

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


def replay_in_temp_home(tmp_path_factory, scenario, days, drift_day=None, **overrides):
    from ml_assets.replay import replay

    root = tmp_path_factory.mktemp(scenario)
    home = project_home(root)
    settings = settings_for(
        root / "data",
        scenario=scenario,
        **TEST_SIZES,
        **({"drift_start_day": drift_day} if drift_day is not None else {}),
        **overrides,
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


def policy_again(settings):
    """The retrain policy evaluated again on the replay's event log, day by day (policy_check.py),
    and the days whose decision differs from the one the replay saved."""
    import json

    from ml_assets.policy_check import differs_from_saved, reevaluate
    from ml_assets.replay import world_name

    home = settings.data_dir.parent / "home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAGSTER_HOME", str(home))
        mp.setenv("ML_ASSETS_DAGSTER_DIR", str(home / "storage"))
        with dg.DagsterInstance.get() as instance:
            decisions = reevaluate(instance, settings)
    saved = json.loads((settings.reports_dir / f"replay_{world_name(settings)}_days.json").read_text())
    return decisions, differs_from_saved(decisions, saved)
