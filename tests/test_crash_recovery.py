"""Recovery from crashed work (issue 23): a run whose worker is killed (what an out-of-memory
kill does) fails visibly, the pool slot its step held is free again within a minute, and Dagster
runs it again once; a run whose own step failed is not retried. A real daemon on an instance
made from the project's dagster.yaml: on the dagster.yaml before run monitoring, the slot stayed
claimed by the dead run and every later writer of the pool waited for good."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import psutil
import pytest
from conftest import processes_left

from ml_assets import process_group
from ml_assets.core.settings import PROJECT_ROOT

HERE = Path(__file__).parent
JOBS = str(HERE / "crashjobs.py")
BIN = Path(sys.executable).parent


def _launch(job: str, env: dict, cwd: Path) -> None:
    subprocess.run(
        [str(BIN / "dagster"), "job", "launch", "-f", JOBS, "-j", job],
        cwd=cwd,
        env={**env, "CRASH_LAUNCHER": "1"},  # crashjobs.py: the launcher's own code load never hangs
        check=True,
        capture_output=True,
        timeout=120,
    )


def _until(what: str, predicate, timeout: float, log: Path, daemon: subprocess.Popen):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert daemon.poll() is None, f"the daemon exited: {log.read_text()[-3000:]}"
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"{what}: not within {timeout:.0f} s\n{log.read_text()[-3000:]}")


def _claimed(instance: dg.DagsterInstance, pool: str) -> list:
    return instance.event_log_storage.get_concurrency_info(pool).claimed_slots


@pytest.mark.slow
def test_a_killed_run_frees_its_pool_slot_and_runs_again_and_a_failing_step_does_not(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    # the project's instance config, with its run monitoring's timings shortened so each step of
    # this test takes seconds, not the project's minutes: what is tested is that the daemon frees,
    # fails and retries at all; how long it takes at the project's timings is measured by the fault
    # matrix (`make faults`, RELIABILITY.md)
    config = (PROJECT_ROOT / "dagster.yaml").read_text()
    shortened = {
        "start_timeout_seconds: 180": "start_timeout_seconds: 15",
        "poll_interval_seconds: 15": "poll_interval_seconds: 3",
        "free_slots_after_run_end_seconds: 15": "free_slots_after_run_end_seconds: 3",
    }
    for project_value, test_value in shortened.items():
        assert project_value in config, f"dagster.yaml's run_monitoring has no {project_value!r}"
        config = config.replace(project_value, test_value)
    (home / "dagster.yaml").write_text(config)
    crash_dir = tmp_path / "crash"
    crash_dir.mkdir()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "ML_ASSETS_DAGSTER_DIR": str(home / "storage"),
        "CRASH_DIR": str(crash_dir),
    }
    log = tmp_path / "daemon.log"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAGSTER_HOME", str(home))
        mp.setenv("ML_ASSETS_DAGSTER_DIR", str(home / "storage"))
        with dg.DagsterInstance.get() as instance, open(log, "w") as out:
            daemon = subprocess.Popen(
                [str(BIN / "dagster-daemon"), "run", "-f", JOBS],
                cwd=HERE,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # stopped with its code server and the runs it launched
            )
            step = None
            try:
                # an asset's own failure first: the daemon reads failures in order, so by the time
                # the crashed run's retry has run, a retry of this one would have been launched too
                _launch("failing_job", env, HERE)
                failing = _until(
                    "the failing run ends",
                    lambda: [
                        r for r in instance.get_runs(dg.RunsFilter(job_name="failing_job")) if r.is_finished
                    ],
                    120,
                    log,
                    daemon,
                )[0]
                assert failing.status == dg.DagsterRunStatus.FAILURE
                _until("its slot is freed", lambda: not _claimed(instance, "feast"), 60, log, daemon)

                _launch("crashing_job", env, HERE)
                marker = crash_dir / "first_attempt.pid"
                _until("the step started", marker.exists, 120, log, daemon)
                step = psutil.Process(int(marker.read_text()))
                assert _claimed(instance, "feast"), "the step holds the pool's slot"
                worker = step.parent()  # the run worker: the multiprocess executor's parent
                killed_at = time.monotonic()
                worker.send_signal(signal.SIGKILL)

                first = instance.get_runs(dg.RunsFilter(job_name="crashing_job"))[-1]
                failed = _until(
                    "the killed run is failed",
                    lambda: instance.get_run_by_id(first.run_id).status == dg.DagsterRunStatus.FAILURE,
                    60,
                    log,
                    daemon,
                )
                assert failed
                _until(
                    "the dead run's slot is freed", lambda: not _claimed(instance, "feast"), 60, log, daemon
                )
                print(f"slot freed {time.monotonic() - killed_at:.0f} s after the kill (3 s polls here)")

                retried = _until(
                    "the killed run is run again and succeeds",
                    lambda: [
                        r
                        for r in instance.get_runs(dg.RunsFilter(job_name="crashing_job"))
                        if r.tags.get("dagster/parent_run_id") == first.run_id and r.is_success
                    ],
                    180,
                    log,
                    daemon,
                )
                assert len(retried) == 1
                failing = instance.get_run_by_id(failing.run_id)
                assert failing.tags.get("dagster/will_retry") == "false"
                assert len(instance.get_runs(dg.RunsFilter(job_name="failing_job"))) == 1

                # a run whose worker never gets going (stuck loading the code) is failed after the
                # start timeout, and run again once the cause is gone
                hang = crash_dir / "hang_on_import"
                hang.write_text("")
                _launch("failing_job", env, HERE)  # any job: its worker hangs before it runs a step
                stuck = instance.get_runs(dg.RunsFilter(job_name="failing_job"), limit=1)[0]
                _until(
                    "the stuck run is failed",
                    lambda: instance.get_run_by_id(stuck.run_id).status == dg.DagsterRunStatus.FAILURE,
                    90, log, daemon,
                )  # fmt: skip
                assert (
                    instance.get_run_by_id(stuck.run_id).tags.get("dagster/failure_reason") == "START_TIMEOUT"
                )
                hang.unlink()
            finally:
                if step is not None and step.is_running():
                    step.kill()  # the orphaned step of the killed worker sleeps on
                process_group.stop(daemon, timeout=60)
    # the daemon's code server and the runs it launched stopped with it
    assert processes_left(tmp_path) == []
