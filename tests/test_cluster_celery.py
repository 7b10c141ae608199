"""Cluster profile: Dagster steps on Celery workers (dagster-celery, RabbitMQ broker), the
instance on Postgres. Two workers share the steps of one run; a worker process killed under a
step fails the run visibly instead of leaving it hanging."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
from clusterhelpers import cluster_settings, needs, throwaway_databases

from ml_assets.core import engines

pytestmark = [needs("postgres", "rabbitmq"), pytest.mark.cluster]
TESTS = str(Path(__file__).parent)

RUN = """
import dagster as dg, json, sys
sys.path.insert(0, {tests!r})
import clusterjobs
with dg.DagsterInstance.get() as instance:
    result = dg.execute_job(
        dg.reconstructable(getattr(clusterjobs, {job!r})), instance=instance,
        run_config={{"execution": {{"config": json.loads({config!r})}}}}, raise_on_error=False,
    )
    print("RUN", result.run_id, result.success)
"""


@pytest.fixture
def workers(tmp_path):
    from ml_assets.cluster_services import (
        init_instance,
        render_celery_yaml,
        render_dagster_yaml,
        start_celery_worker,
    )

    home = tmp_path / "dagster_home"
    procs = []
    with throwaway_databases(
        cluster_settings(tmp_path / "data"), dagster_url_in_environment=True
    ) as settings:
        env = {
            **os.environ,
            **settings.environment(),
            "DAGSTER_HOME": str(home),
            "PYTHONPATH": os.pathsep.join([TESTS, os.environ.get("PYTHONPATH", "")]),
            "STEP_LOG": str(tmp_path / "steps.jsonl"),
        }
        try:
            render_dagster_yaml(settings, home)
            init_instance(home)
            config = render_celery_yaml(settings, tmp_path / "celery.yaml")
            app = _app(settings)
            app.control.purge()  # nothing left on the queue by an earlier run
            names = _worker_names()
            procs += [start_celery_worker(config, name, env, tmp_path / f"{name}.log") for name in names]
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                seen = {n.split("@")[0] for reply in app.control.ping(timeout=1.0) for n in reply}
                if set(names) <= seen:
                    break
            else:
                raise TimeoutError(f"workers not up: {(tmp_path / f'{names[0]}.log').read_text()[-2000:]}")
            yield settings, env, procs
        finally:
            for p in procs:
                try:
                    os.killpg(p.pid, 15)
                except ProcessLookupError:
                    pass
            for p in procs:
                p.wait(30)


def _worker_names() -> list[str]:
    return [f"mla-test-{os.getpid()}-{i}" for i in range(2)]


def _app(settings):
    from celery import Celery

    return Celery(broker=settings.celery_broker_url)


def _run(settings, env, job: str) -> subprocess.Popen:
    code = RUN.format(tests=TESTS, job=job, config=json.dumps(engines.celery_config(settings)))
    return subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)


def _finish(run: subprocess.Popen, timeout: float) -> str:
    """The run's output; a run still going after ``timeout`` is a hang: stopped, then failed."""
    try:
        return run.communicate(timeout=timeout)[0]
    except subprocess.TimeoutExpired:
        run.kill()
        run.communicate()
        pytest.fail(f"the run did not finish within {timeout:.0f} s: it hangs")


def _first_start(env, run: subprocess.Popen) -> dict:
    """The record of the run's one step starting on a worker, once it has."""
    deadline = time.monotonic() + 120
    while not any(r["what"] == "start" for r in _steps(env)):
        assert time.monotonic() < deadline and run.poll() is None, "the step never started"
        time.sleep(0.5)
    (started,) = [r for r in _steps(env) if r["what"] == "start"]
    return started


def _steps(env) -> list[dict]:
    path = Path(env["STEP_LOG"])
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_two_workers_share_the_steps_of_one_run(workers):
    settings, env, _ = workers
    run = _run(settings, env, "spread_job")
    out = _finish(run, 300)
    assert run.returncode == 0 and out.strip().splitlines()[-1].endswith("True"), out
    ended = [r for r in _steps(env) if r["what"] == "end"]
    assert sorted(r["step"] for r in ended) == [f"sleep_{i}" for i in range(6)]
    by_worker = {r["worker"] for r in ended}
    assert by_worker == {n for n in by_worker if n and n.startswith("mla-test-")} and len(by_worker) == 2, (
        ended
    )


def test_a_killed_worker_process_fails_the_run_visibly(workers):
    settings, env, _ = workers
    run = _run(settings, env, "long_job")
    started = _first_start(env, run)
    os.kill(started["pid"], 9)  # the worker's process running the step dies mid-step
    out = _finish(run, 180)
    run_id, success = out.strip().splitlines()[-1].split()[1:]
    assert success == "False"
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        record = instance.get_run_by_id(run_id)
        assert record.status == dg.DagsterRunStatus.FAILURE
        logs = instance.all_logs(run_id)
    messages = " ".join(e.message or "" for e in logs)
    errors = " ".join(
        str(getattr(e.dagster_event.event_specific_data, "error", "")) for e in logs if e.dagster_event
    )
    # visible: the step is reported as lost and the worker's error travels with the failure
    assert "Step sleep_99 finished without success or failure event" in messages, messages[-2000:]
    assert "WorkerLostError" in errors or "exited prematurely" in errors, errors[-2000:]


def test_a_step_on_a_lost_worker_finishes_on_the_other_one(workers):
    """The whole worker dies (its process group killed, as when its host goes): the broker hands
    the unacknowledged step to the surviving worker and the run finishes instead of waiting for
    a result that would never come."""
    settings, env, procs = workers
    run = _run(settings, env, "mid_job")
    first = _first_start(env, run)
    lost = next(p for p, name in zip(procs, _worker_names(), strict=True) if name == first["worker"])
    os.killpg(lost.pid, 9)
    out = _finish(run, 240)
    assert out.strip().splitlines()[-1].endswith("True"), out
    starts = [r for r in _steps(env) if r["what"] == "start"]
    ends = [r for r in _steps(env) if r["what"] == "end"]
    (survivor,) = set(_worker_names()) - {first["worker"]}
    assert [r["worker"] for r in starts] == [first["worker"], survivor], starts
    assert [r["worker"] for r in ends] == [survivor], ends  # the lost worker never finished it
