"""Cluster profile: the Dagster instance on Postgres (dagster-postgres). Two runs launched
from two processes share one instance; a pool of limit 1 never lets their steps overlap."""

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from clusterhelpers import cluster_settings, needs, throwaway_databases

from ml_assets.core.settings import PROJECT_ROOT

pytestmark = [needs("postgres"), pytest.mark.cluster]

RUN = """
import dagster as dg, sys
sys.path.insert(0, {tests!r})
from clusterjobs import pooled_job
with dg.DagsterInstance.get() as instance:
    result = dg.execute_job(dg.reconstructable(pooled_job), instance=instance)
    print("RUN", result.run_id, result.success)
"""


@pytest.fixture
def dagster_home(tmp_path):
    from ml_assets.cluster_services import init_instance, render_dagster_yaml

    home = tmp_path / "dagster_home"
    with throwaway_databases(
        cluster_settings(tmp_path / "data"), dagster_url_in_environment=True
    ) as settings:
        render_dagster_yaml(settings, home)
        init_instance(home)  # the schema and the pools' rows once, as `cluster-up` does
        yield settings, home


def _two_concurrent_runs(settings, home: Path, log: Path) -> list[str]:
    env = {**os.environ, "DAGSTER_HOME": str(home), "POOL_LOG": str(log), **settings.environment()}
    env["ML_ASSETS_DAGSTER_POSTGRES_URL"] = settings.database_url("dagster")
    tests = str(Path(__file__).parent)
    env["PYTHONPATH"] = os.pathsep.join([tests, env.get("PYTHONPATH", "")])  # for the step processes
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", RUN.format(tests=tests)], env=env, stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    try:
        outputs = [r.communicate(timeout=180)[0] for r in runs]
    finally:
        for r in runs:
            r.kill()
    assert all(r.returncode == 0 for r in runs), outputs
    finished = [line.split() for out in outputs for line in out.splitlines() if line.startswith("RUN ")]
    assert len(finished) == 2 and all(success == "True" for _, _, success in finished), outputs
    return [run_id for _, run_id, _ in finished]


def _held(log: Path) -> list[dict]:
    held = sorted((json.loads(line) for line in log.read_text().splitlines()), key=lambda r: r["start"])
    assert len(held) == 2 and held[0]["pid"] != held[1]["pid"]
    return held


def test_two_processes_share_the_instance_and_the_pool_holds(dagster_home, tmp_path):
    settings, home = dagster_home
    run_ids = _two_concurrent_runs(settings, home, tmp_path / "pool.jsonl")
    held = _held(tmp_path / "pool.jsonl")
    assert held[0]["end"] <= held[1]["start"], f"the warehouse pool (limit 1) let two steps overlap: {held}"
    # both runs are in the one Postgres instance, seen from this third process
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert {r.run_id for r in instance.get_runs()} == set(run_ids)
        assert instance.event_log_storage.get_concurrency_info("warehouse").slot_count == 1


def test_with_two_slots_the_same_runs_overlap(dagster_home, tmp_path):
    """The check above has teeth: the same two runs do overlap when the pool allows it."""
    settings, home = dagster_home
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.event_log_storage.set_concurrency_slots("warehouse", 2)
    _two_concurrent_runs(settings, home, tmp_path / "pool.jsonl")
    held = _held(tmp_path / "pool.jsonl")
    assert held[0]["end"] > held[1]["start"]


def test_the_rendered_instance_is_the_repo_template(dagster_home):
    import yaml

    _, home = dagster_home
    rendered = yaml.safe_load((home / "dagster.yaml").read_text())
    template = yaml.safe_load((PROJECT_ROOT / "deploy" / "cluster" / "dagster.yaml").read_text())
    assert rendered == template
    # crashed runs never stall the cluster either (issue 23): its instance frees a dead run's
    # slots and retries crashed workers, not failing assets
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_settings["free_slots_after_run_end_seconds"] <= 30
        assert instance.run_retries_enabled and instance.run_retries_max_retries == 2
        assert not instance.run_retries_retry_on_asset_or_op_failure
