"""A multi-partition backfill through Dagster's CLI and default multiprocess executor, on
an instance configured by the project's own dagster.yaml: several runs at once, Feast
writers serialized (the pool, and the file lock under it), no lock error and no lost rows."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from conftest import project_home, repo_of, settings_env
from lakehelpers import build_offline

from ml_assets.core import lake
from ml_assets.defs.resources import create_pool_slots

DAYS = 3


def _materialize_parallel(settings, home: Path, select: str, keys: list[str]) -> list[tuple]:
    # the CLI's code location reads its settings from the environment, as in production
    env = {
        **os.environ,
        **settings_env(settings),
        "DAGSTER_HOME": str(home),
        "ML_ASSETS_DAGSTER_DIR": str(home / "storage"),
    }
    cli = str(Path(sys.executable).with_name("dagster"))
    procs = [
        subprocess.Popen(
            [
                cli,
                "asset",
                "materialize",
                "-m",
                "ml_assets.definitions",
                "--select",
                select,
                "--partition",
                key,
            ],
            cwd=home,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for key in keys
    ]
    return [(key, p.wait(timeout=600), p.stdout.read()) for key, p in zip(keys, procs, strict=False)]


@pytest.mark.slow
def test_parallel_backfill_has_no_lock_error_and_loses_no_rows(project, tmp_path, monkeypatch):
    home = project_home(tmp_path)
    monkeypatch.setenv("ML_ASSETS_DAGSTER_DIR", str(home / "storage"))  # read by dagster.yaml
    repo_of(project).apply()
    keys = [project.day(i).isoformat() for i in range(DAYS)]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        create_pool_slots(instance)  # the storage and the pools' slots once, as `make bootstrap` does

    # upstream days first (a backfill orders partitions by their dependencies; done
    # in-process here to keep the test short), then every day's Feast views at once: their
    # writes contend for the registry and the online store
    build_offline(project, DAYS)
    select = "customer_activity,merchant_risk"
    for key, code, log in _materialize_parallel(project, home, select, keys):
        assert code == 0, f"{select} {key} failed:\n{log[-3000:]}"
        assert "database is locked" not in log and "LockError" not in log, log[-3000:]

    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs()
        assert len(runs) == DAYS and all(r.is_success for r in runs)
        for view in ("customer_activity", "merchant_risk"):
            assert instance.get_materialized_partitions(dg.AssetKey(view)) == set(keys), view
        # no assertion that the steps' spans never overlap: Dagster's SQLite pool claim can grant
        # the one slot twice (core/file_lock.py), and the file lock under it is the guarantee
        # (tests/test_file_lock.py)

    for i in range(DAYS):
        assert (
            len(lake.read_partition(project.lake_dir, "raw_transactions", project.day(i)))
            == project.rows_per_day
        )

    # the online store holds every customer of the newest day, with the newest values
    newest = lake.read_partition(
        project.lake_dir, "customer_activity_source", project.day(DAYS - 1)
    ).set_index("customer_id")
    online = (
        repo_of(project)
        .store()
        .get_online_features(
            features=["customer_activity:txn_count_30d"],
            entity_rows=[{"customer_id": int(c)} for c in newest.index],
        )
        .to_df()
        .set_index("customer_id")
    )
    assert online["txn_count_30d"].notna().all()
    assert (
        online.loc[newest.index, "txn_count_30d"].astype(float).to_numpy()
        == newest["txn_count_30d"].to_numpy()
    ).all()
