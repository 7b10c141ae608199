"""The retrain policy, and the sensor evaluated through Dagster on a real instance whose
event log holds estimated-performance materializations."""

import json

import dagster as dg
import pytest

from ml_assets.core.retrain_policy import RetrainPolicy, SensorState, decide

POLICY = RetrainPolicy(threshold=0.9, consecutive_days=3, cooldown_days=7)


def _days(values, start=1):
    return {f"2026-03-{start + i:02d}": v for i, v in enumerate(values)}


def test_fires_only_after_k_consecutive_bad_days():
    assert not decide(_days([0.95, 0.85, 0.85]), None, POLICY).fire
    decision = decide(_days([0.95, 0.85, 0.85, 0.85]), None, POLICY)
    assert decision.alert_day == "2026-03-04" and "under 0.9 for 3 days" in decision.reason
    assert str(decision.as_of()) == "2026-03-05"


def test_a_gap_in_days_does_not_count_as_consecutive():
    estimates = {"2026-03-01": 0.8, "2026-03-02": 0.8, "2026-03-05": 0.8}
    decision = decide(estimates, None, POLICY)
    assert not decision.fire and "not 3 consecutive days" in decision.reason
    # the same three bad days without the gap fire
    assert decide({"2026-03-03": 0.8, "2026-03-04": 0.8, "2026-03-05": 0.8}, None, POLICY).fire


def test_cooldown_blocks_a_second_retrain():
    estimates = _days([0.85] * 10)
    decision = decide(estimates, "2026-03-05", POLICY)
    assert not decision.fire and "cooldown 7" in decision.reason
    assert decide(estimates, "2026-03-03", POLICY).alert_day == "2026-03-10"


def test_sensor_state_round_trips_and_keeps_the_newest_days():
    state = SensorState()
    for i in range(10):
        state.add(f"2026-03-{i + 1:02d}", 0.9 + i / 100, storage_id=100 + i)
    state.keep_newest(4)
    again = SensorState.from_cursor(state.to_cursor())
    assert again == state and list(again.estimates) == [f"2026-03-{d:02d}" for d in (7, 8, 9, 10)]
    assert again.storage_id == 109


def _report(instance, day, auc):
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            asset_key="estimated_performance", partition=day, metadata={"estimated_roc_auc": auc}
        )
    )


@pytest.fixture
def sensor_and_defs(instance, project):
    from ml_assets.definitions import build_definitions

    settings = project.model_copy(
        update={"retrain_auc_threshold": 0.9, "retrain_consecutive_days": 3, "retrain_cooldown_days": 7}
    )
    definitions = build_definitions(settings)
    return definitions.resolve_sensor_def("retrain_on_performance_drop"), definitions


def test_flapping_estimate_launches_at_most_one_retrain_per_cooldown(instance, sensor_and_defs):
    sensor, definitions = sensor_and_defs
    # bad, bad, bad, good, bad, bad, bad, ...: the estimate flaps around the threshold
    pattern = [0.85, 0.85, 0.85, 0.95] * 5
    cursor, fired = None, []
    for i, auc in enumerate(pattern):
        day = f"2026-03-{i + 1:02d}"
        _report(instance, day, auc)
        context = dg.build_sensor_context(
            instance=instance, cursor=cursor, definitions=definitions, resources=definitions.resources
        )
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
    result = sensor.evaluate_tick(
        dg.build_sensor_context(instance=instance, definitions=definitions, resources=definitions.resources)
    )
    assert not result.run_requests and "not under 0.9" in result.skip_message
    again = sensor.evaluate_tick(
        dg.build_sensor_context(
            instance=instance, cursor=result.cursor, definitions=definitions, resources=definitions.resources
        )
    )
    assert json.loads(again.cursor)["storage_id"] == json.loads(result.cursor)["storage_id"]
