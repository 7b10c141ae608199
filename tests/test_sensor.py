"""The retrain policy, and the sensor evaluated through Dagster on a real instance whose
event log holds estimated-performance materializations."""

import json

import dagster as dg
import pytest

from ml_assets.defs.automation.retrain_policy import RetrainPolicy, decide

POLICY = RetrainPolicy(threshold=0.9, consecutive_days=3, cooldown_days=7)


def _days(values, start=1):
    return {f"2026-03-{start + i:02d}": v for i, v in enumerate(values)}


def test_fires_only_after_k_consecutive_bad_days():
    assert decide(_days([0.95, 0.85, 0.85]), None, POLICY)[0] is None
    day, reason = decide(_days([0.95, 0.85, 0.85, 0.85]), None, POLICY)
    assert day == "2026-03-04" and "under 0.9 for 3 days" in reason


def test_a_gap_in_days_does_not_count_as_consecutive():
    estimates = {"2026-03-01": 0.8, "2026-03-02": 0.8, "2026-03-05": 0.8}
    assert decide(estimates, None, POLICY) == (None, decide(estimates, None, POLICY)[1])
    assert "consecutive" in decide(estimates, None, POLICY)[1]


def test_cooldown_blocks_a_second_retrain():
    estimates = _days([0.85] * 10)
    day, reason = decide(estimates, "2026-03-05", POLICY)
    assert day is None and "cooldown 7" in reason
    assert decide(estimates, "2026-03-03", POLICY)[0] == "2026-03-10"


def _report(instance, day, auc):
    instance.report_runless_asset_event(
        dg.AssetMaterialization(asset_key="estimated_performance", partition=day, metadata={"estimated_roc_auc": auc})
    )


@pytest.fixture
def sensor_and_defs(instance, monkeypatch):
    from ml_assets.definitions import defs
    from ml_assets.settings import get_settings

    for key, value in {"RETRAIN_AUC_THRESHOLD": "0.9", "RETRAIN_CONSECUTIVE_DAYS": "3", "RETRAIN_COOLDOWN_DAYS": "7"}.items():
        monkeypatch.setenv(f"ML_ASSETS_{key}", value)
    get_settings.cache_clear()
    definitions = defs()
    yield definitions.resolve_sensor_def("retrain_on_performance_drop"), definitions
    get_settings.cache_clear()


def test_flapping_estimate_launches_at_most_one_retrain_per_cooldown(instance, sensor_and_defs):
    sensor, definitions = sensor_and_defs
    # bad, bad, bad, good, bad, bad, bad, ...: the estimate flaps around the threshold
    pattern = [0.85, 0.85, 0.85, 0.95] * 5
    cursor, fired = None, []
    for i, auc in enumerate(pattern):
        day = f"2026-03-{i + 1:02d}"
        _report(instance, day, auc)
        context = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=definitions)
        result = sensor.evaluate_tick(context)
        cursor = result.cursor
        for request in result.run_requests:
            fired.append(day)
            assert request.run_key == f"retrain-after-{day}"
            as_of = request.run_config["ops"]["training_set"]["config"]["as_of"]
            assert as_of == f"2026-03-{i + 2:02d}"
            assert request.tags["ml_assets/trigger"] == "retrain_on_performance_drop"
        if not result.run_requests:
            assert result.skip_message
    assert fired == ["2026-03-03", "2026-03-11", "2026-03-19"]
    gaps = [int(b[-2:]) - int(a[-2:]) for a, b in zip(fired, fired[1:], strict=False)]
    assert all(g >= 7 for g in gaps)
    state = json.loads(cursor)
    assert state["storage_id"] > 0 and state["last_retrain"] == "2026-03-19"


def test_sensor_reads_only_new_events_and_stays_quiet_on_good_days(instance, sensor_and_defs):
    sensor, definitions = sensor_and_defs
    for i in range(5):
        _report(instance, f"2026-04-{i + 1:02d}", 0.95)
    result = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=definitions))
    assert not result.run_requests and "not under 0.9" in result.skip_message
    again = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=result.cursor, definitions=definitions))
    assert json.loads(again.cursor)["storage_id"] == json.loads(result.cursor)["storage_id"]
