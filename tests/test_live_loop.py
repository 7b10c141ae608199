"""The loop under a real Dagster daemon (issue 10, part 6): a day lands in the landing zone,
the daemon's ``daily_cycle_on_landing`` sensor runs its daily cycle, and the retrain sensor,
reading the day's estimate, launches the retrain run with its tags. Everything the daemon
launches runs in its own process, on a temporary instance made from the project's
dagster.yaml."""

import contextlib
import copy
import os
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
from conftest import one_location_workspace, processes_left, project_home, settings_for, short_features

from ml_assets import process_group
from ml_assets.core.retrain_policy import RetrainPolicy, decide
from ml_assets.core.settings import PROJECT_ROOT

LOOKBACK = 14  # days behind the activity features: the warm-up is most of the test's own time
WARM = LOOKBACK + 14  # feature lookback + training window
BASELINE = 3  # the champion's first monitored days: its CBPE baseline
DRIFTED = 2  # days landed at once: the retrain does not hang on one day's estimate crossing a line
DONE = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


RETRAIN = "retrain_on_performance_drop"
JOB_OF = {"retrain": "train_and_promote", "threshold": "refit_threshold"}  # the sensor's two responses


def _ticks(instance: dg.DagsterInstance, sensor: str) -> list:
    """The sensor's ticks, newest first."""
    (state,) = [s for s in instance.all_instigator_state() if s.name == sensor]
    return list(instance.get_ticks(state.instigator_origin_id, state.selector_id))


def _until_evaluated(instance, day: str, daemon, log: Path, timeout: float):
    """The first tick of the retrain sensor whose state holds ``day``'s estimate, and that state."""
    from ml_assets.core.retrain_policy import SensorState

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert daemon.poll() is None, f"the daemon exited: {log.read_text()[-3000:]}"
        with contextlib.suppress(ValueError):  # no state yet: the sensor has not ticked
            for tick in reversed(_ticks(instance, RETRAIN)):
                state = SensorState.from_cursor(tick.cursor)
                if tick.cursor and day in state.evidence and state.evidence[day].estimate is not None:
                    return tick, state
        time.sleep(1)
    raise AssertionError(f"the retrain sensor never read {day}: {log.read_text()[-3000:]}")


def _runs_by(instance: dg.DagsterInstance, sensor: str) -> list[dg.DagsterRun]:
    return [r for r in instance.get_runs() if r.tags.get("dagster/sensor_name") == sensor]


def _wait(
    instance, sensor: str, daemon: subprocess.Popen, log: Path, timeout: float, count: int = 1
) -> list[dg.DagsterRun]:
    """The first ``count`` finished runs of ``sensor``, oldest first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert daemon.poll() is None, f"the daemon exited: {log.read_text()[-3000:]}"
        runs = [r for r in reversed(_runs_by(instance, sensor)) if r.status in DONE]
        if len(runs) >= count:
            return runs[:count]
        time.sleep(1)
    raise AssertionError(
        f"no finished run of {sensor} within {timeout:.0f} s; runs: "
        f"{[(r.job_name, r.status, r.tags) for r in instance.get_runs()]}\n{log.read_text()[-3000:]}"
    )


@pytest.mark.slow
def test_the_daemon_runs_a_landed_day_and_the_retrain_its_estimate_calls_for(tmp_path):
    from ml_assets.replay import Replay
    from ml_assets.simulator.clock import run_clock
    from ml_assets.simulator.landing import simulate_to_landing

    home = project_home(tmp_path)
    settings = settings_for(
        tmp_path / "data",
        training_window_days=14,
        **short_features(LOOKBACK),
        validation_days=5,
        label_delay_max_days=10,
        scenario="seasonal",
        drift_start_day=WARM + BASELINE,  # the days the daemon sees have drifted
        # a loose policy (a drifted day under its champion's baseline mean is bad): this test is
        # about who reads and launches what, whichever way the days go (the policy itself is
        # tested in test_sensor and by the replays)
        retrain_baseline_days=BASELINE,
        retrain_false_alarm_rate=0.45,
        retrain_min_auc_drop=0.0,
        retrain_consecutive_days=1,
        sensor_interval_seconds=2,
        live_automation=True,
        promotion_path="direct",
    )
    env = {
        **os.environ,
        **settings.environment(),
        "DAGSTER_HOME": str(home),
        "ML_ASSETS_DAGSTER_DIR": str(home / "storage"),
    }
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAGSTER_HOME", str(home))
        mp.setenv("ML_ASSETS_DAGSTER_DIR", str(home / "storage"))
        with dg.DagsterInstance.get() as instance:
            simulate_to_landing(settings, range(WARM))
            replay = Replay(settings, instance, log=lambda _: None)
            replay.warm_up(WARM)  # the first champion
            for i in range(WARM, WARM + BASELINE):  # its CBPE baseline, in process
                simulate_to_landing(settings, range(i, i + 1))
                assert replay.step(i).sensor == "skip"
            before = len(instance.get_runs())
            run_clock(settings, 0, DRIFTED, log=lambda _: None)  # the world lands the drifted days

            log = tmp_path / "daemon.log"
            with open(log, "w") as out:
                daemon = subprocess.Popen(
                    [
                        str(Path(sys.executable).parent / "dagster-daemon"),
                        "run",
                        "-w",
                        str(one_location_workspace(tmp_path)),
                    ],
                    cwd=PROJECT_ROOT,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # stopped with its code server (a child it starts)
                )
            try:
                days = [settings.day(WARM + BASELINE + n).isoformat() for n in range(DRIFTED)]
                cycles = _wait(instance, "daily_cycle_on_landing", daemon, log, 420, count=DRIFTED)
                # one daily cycle per landed day, in order, each a success
                assert [(c.job_name, c.tags["dagster/partition"]) for c in cycles] == [
                    ("daily_cycle", day) for day in days
                ]
                assert all(c.status == dg.DagsterRunStatus.SUCCESS for c in cycles), cycles
                # the retrain sensor has read both days' monitoring
                tick, state = _until_evaluated(instance, days[-1], daemon, log, timeout=300)
                fired = [t for t in _ticks(instance, RETRAIN) if t.run_ids]
                responses = _wait(instance, RETRAIN, daemon, log, timeout=420) if fired else []
            finally:
                process_group.stop(daemon, timeout=60)
            # the daemon's code server stopped with it (it used to outlive the test)
            assert processes_left(tmp_path) == []
            # the sensor did what its policy says of the evidence it recorded: on the first day the
            # policy fires, the response it calls for (a retrain for a ranking loss, with the bad
            # signal as its reason; a threshold re-fit for a moved operating point); none otherwise
            for day in days:
                assert state.evidence[day].estimate is not None, (day, state.evidence[day])
            policy = RetrainPolicy.from_settings(settings)

            def policy_on(last: str):
                return decide(
                    copy.deepcopy({d: e for d, e in state.evidence.items() if d <= last}), [], policy
                )

            expected = next((d for d in map(policy_on, days) if d.fire), None)
            if expected is not None:
                (response,) = responses
                assert response.tags["ml_assets/alert_day"] == expected.alert_day, (response.tags, expected)
                assert response.job_name == JOB_OF[expected.action]
                assert response.tags["ml_assets/diagnosis"] == expected.diagnosis
                assert response.tags["ml_assets/trigger"] == RETRAIN
                bad = state.evidence[expected.alert_day].bad_signals()
                if expected.action == "retrain" and not expected.follow_up:
                    assert any(part in response.tags["ml_assets/reason"] for part in bad.values()), (
                        response.tags["ml_assets/reason"],
                        bad,
                    )
                else:
                    assert "flag rate" in response.tags["ml_assets/reason"], response.tags
                assert response.status == dg.DagsterRunStatus.SUCCESS, response.status
                print("the sensor answered:", expected.action, expected.reason)
            else:
                assert not responses and not fired
                assert f"no signal on {days[-1]}" in tick.skip_reason, tick.skip_reason
                estimate = state.evidence[days[-1]].estimate
                assert f"CBPE ROC AUC {estimate:.3f}" in tick.skip_reason, (estimate, tick.skip_reason)
            # nothing was launched by hand: the daemon's two sensors started every run, one cycle a
            # day (the retrain sensor may answer each day: one bad day is enough here)
            launched = instance.get_runs()[: len(instance.get_runs()) - before]
            by = [r.tags.get("dagster/sensor_name") for r in launched]
            assert set(by) <= {"daily_cycle_on_landing", RETRAIN}, [(r.job_name, r.tags) for r in launched]
            assert by.count("daily_cycle_on_landing") == DRIFTED and by.count(RETRAIN) >= len(responses)
