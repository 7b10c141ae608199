"""The world of the fault matrix (tests/test_faults.py, `make faults`): a warmed-up project (a
champion, the lake, the offline features) on an instance made from the project's dagster.yaml,
a real daemon launching the runs through the project's workspace, and the means to kill a run's
worker at a chosen step and to compare what a partition holds after a recovery with what a clean
run writes."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pandas as pd
import psutil
from conftest import one_location_workspace

from ml_assets import process_group
from ml_assets.core import lake
from ml_assets.core.settings import PROJECT_ROOT

BIN = Path(sys.executable).parent
LAKE_TABLES = (
    "raw_transactions",
    "label_arrivals",
    "customer_snapshots",
    "merchant_snapshots",
    "customer_activity_source",
    "merchant_risk_source",
)
WAREHOUSE_TABLES = (
    "prediction_log",
    "monitoring_estimated_performance",
    "monitoring_drift",
    "monitoring_data_quality",
    "monitoring_label_signal",
)
ONLINE = {"customer_id": ["customer_activity:txn_count_30d", "customer_profile:credit_limit"]}


@dataclasses.dataclass
class FaultOutcome:
    """One row of the matrix (RELIABILITY.md)."""

    fault: str
    user_sees: str
    seconds_to_recover: float
    rows_lost: int
    rows_duplicated: int
    detail: str = ""


class FaultWorld:
    def __init__(self, settings, home: Path, log: Path):
        self.s, self.home, self.log = settings, home, log
        self.workspace = one_location_workspace(home)
        self.env = {
            **os.environ,
            **settings.environment(),
            "DAGSTER_HOME": str(home),
            "ML_ASSETS_DAGSTER_DIR": str(home / "storage"),
        }
        self.daemon: subprocess.Popen | None = None
        self.offline_features = None  # the job that ingests a day and computes its feature sources

    # --- the daemon and runs ---------------------------------------------------------------
    def start_daemon(self) -> None:
        out = open(self.log, "w")  # noqa: SIM115  (closed with the process)
        self.daemon = subprocess.Popen(
            [str(BIN / "dagster-daemon"), "run", "-w", str(self.workspace)],
            cwd=PROJECT_ROOT,
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # stopped with its code server and the runs it launched
        )

    def stop_daemon(self) -> None:
        if self.daemon is not None:
            process_group.stop(self.daemon, timeout=60)

    def launch(self, job: str, tags: dict | None = None, config: dict | None = None) -> None:
        args = [str(BIN / "dagster"), "job", "launch", "-w", str(self.workspace), "-j", job]
        if tags:
            args += ["--tags", json.dumps(tags)]
        if config:
            path = self.home / f"config-{time.monotonic_ns()}.json"
            path.write_text(json.dumps(config))
            args += ["-c", str(path)]
        done = subprocess.run(
            args, cwd=PROJECT_ROOT, env=self.env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]

    def until(self, what: str, predicate, timeout: float):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.daemon is None or self.daemon.poll() is None, f"the daemon exited: {self.tail()}"
            value = predicate()
            if value:
                return value
            time.sleep(0.25)
        raise AssertionError(f"{what}: not within {timeout:.0f} s\n{self.tail()}")

    def tail(self) -> str:
        return self.log.read_text()[-3000:] if self.log.exists() else ""

    def newest_run(self, instance: dg.DagsterInstance, job: str) -> dg.DagsterRun | None:
        runs = instance.get_runs(dg.RunsFilter(job_name=job), limit=1)
        return runs[0] if runs else None

    def kill_worker_at(self, instance: dg.DagsterInstance, run_id: str, step: str) -> str:
        """SIGKILL the run's worker (what an out-of-memory kill does) as soon as ``step`` starts;
        returns the step that was running when it fell (a fast step may be over by then)."""

        def started():
            for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_START):
                if record.step_key == step:
                    return record
            run = instance.get_run_by_id(run_id)
            assert not run.is_finished, f"{run_id} ended ({run.status}) before {step} started"
            return None

        self.until(f"{step} starts", started, 600)
        # the run worker: the process that started the run (a step's parent is the executor's
        # forkserver, ml_assets/defs/executor.py)
        (run_start,) = instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_START)
        worker = psutil.Process(run_start.dagster_event.pid)
        assert "dagster" in " ".join(worker.cmdline()) or "python" in worker.name(), worker.cmdline()
        worker.send_signal(signal.SIGKILL)
        return step

    def retried_success(self, instance: dg.DagsterInstance, run_id: str) -> dg.DagsterRun:
        def done():
            retries = [
                r
                for r in instance.get_runs(dg.RunsFilter(tags={"dagster/root_run_id": run_id}))
                if r.is_finished
            ]
            return retries[0] if retries else None

        retry = self.until(f"a retry of {run_id} finishes", done, 900)
        assert retry.is_success, f"the retry {retry.run_id} ended {retry.status}"
        return retry

    def pools_free(self, instance: dg.DagsterInstance) -> bool:
        return all(
            not instance.event_log_storage.get_concurrency_info(pool).claimed_slots
            for pool in ("feast", "warehouse")
        )

    # --- what a partition holds ------------------------------------------------------------
    def snapshot(self, day) -> dict:
        from ml_assets.core.warehouse import Warehouse

        out: dict = {"lake": {}, "warehouse": {}, "online": None}
        for table in LAKE_TABLES:
            folder = lake.partition_path(self.s.lake_dir, table, day).parent
            stray = [p.name for p in folder.iterdir() if p.name != lake.PART_FILE] if folder.exists() else []
            frame = lake.read_partition(self.s.lake_dir, table, day)
            out["lake"][table] = (
                len(frame),
                int(pd.util.hash_pandas_object(frame, index=False).sum()),
                stray,
            )
        warehouse = Warehouse(self.s.warehouse_path)
        tables = set(warehouse.query("SELECT table_name FROM information_schema.tables")["table_name"])
        for table in WAREHOUSE_TABLES:  # a table a day did not write yet (the label signal's first day)
            out["warehouse"][table] = (
                warehouse.query(f"SELECT * FROM {table} WHERE partition_date = ?", [day])
                if table in tables
                else pd.DataFrame({"transaction_id": []})
            )
        customers = lake.read_partition(self.s.lake_dir, "raw_transactions", day)["customer_id"].unique()
        from conftest import repo_of

        features = [f for fs in ONLINE.values() for f in fs]
        out["online"] = (
            repo_of(self.s)
            .store()
            .get_online_features(features=features, entity_rows=[{"customer_id": int(c)} for c in customers])
            .to_df()
            .sort_values("customer_id")
            .reset_index(drop=True)
        )
        return out


def compare(after_fault: dict, clean: dict) -> tuple[int, int, list[str]]:
    """Rows the recovered partition lacks and rows it holds twice, against a clean run of the
    same partition; and every other difference, named."""
    lost = duplicated = 0
    differences = []
    for table, (rows, digest, stray) in after_fault["lake"].items():
        clean_rows, clean_digest, _ = clean["lake"][table]
        lost += max(clean_rows - rows, 0)
        duplicated += max(rows - clean_rows, 0)
        if digest != clean_digest:
            differences.append(f"lake {table}: other content")
        if stray:
            differences.append(f"lake {table}: stray files {stray}")
    for table, frame in after_fault["warehouse"].items():
        reference = clean["warehouse"][table]
        key = "transaction_id" if table == "prediction_log" else None
        if key:
            lost += len(set(reference[key]) - set(frame[key]))
            duplicated += int(frame[key].duplicated().sum())
        else:
            lost += max(len(reference) - len(frame), 0)
            duplicated += max(len(frame) - len(reference), 0)
        if table == "prediction_log" and key and len(frame) == len(reference):
            a = frame.sort_values(key)["score"].to_numpy()
            b = reference.sort_values(key)["score"].to_numpy()
            if not (abs(a - b) <= 1e-12).all():
                differences.append("prediction_log: other scores")
    online_a, online_b = after_fault["online"], clean["online"]
    if not online_a.equals(online_b):
        differences.append("online store: other values")
    return lost, duplicated, differences
