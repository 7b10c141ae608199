"""Cluster faults (issue 23): the Dagster instance's Postgres restarted, or down for a while,
between two steps of a run. Measured: dagster-postgres retries the refused connections, and the
run finishes with every event stored, the same as a run without the fault. A Postgres server of
the test's own (initdb on a temp folder, a free port), so stopping it disturbs no one."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from ml_assets.serving.process import free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")
HERE = Path(__file__).parent
pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(
        not (PG_BIN / "initdb").exists() or shutil.which("runuser") is None or os.geteuid() != 0,
        reason="needs Debian's PostgreSQL 15 binaries and root (initdb runs as the postgres user)",
    ),
]


class OwnPostgres:
    def __init__(self, root: Path):
        self.root, self.port = root, free_port()
        (root / "sock").mkdir(parents=True)
        shutil.chown(root, "postgres")
        shutil.chown(root / "sock", "postgres")
        self._pg("initdb", "-D", str(root / "data"), "-U", "root", "--auth=trust", "-E", "UTF8")
        self.start()
        subprocess.run(
            ["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "root", "-d", "postgres",
             "-c", "CREATE DATABASE dagster"],
            check=True, capture_output=True,
        )  # fmt: skip
        self.url = f"postgresql+psycopg2://root@127.0.0.1:{self.port}/dagster"

    def _pg(self, tool: str, *args: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", str(PG_BIN / tool), *args], check=True, capture_output=True
        )

    def _ctl(self, action: str, *extra: str) -> None:
        options = f"-p {self.port} -k {self.root / 'sock'} -c listen_addresses=127.0.0.1"
        self._pg("pg_ctl", "-D", str(self.root / "data"), "-l", str(self.root / "log"), "-w", *extra,
                 "-o", options, action)  # fmt: skip

    def start(self) -> None:
        self._ctl("start")

    def stop(self) -> None:
        self._ctl("stop", "-m", "fast")

    def restart(self) -> None:
        self._ctl("restart", "-m", "fast")


@pytest.fixture
def postgres():
    import tempfile

    # under /tmp, not pytest's folder: the postgres user cannot enter root's 0700 test folders
    root = Path(tempfile.mkdtemp(prefix="mla-pg-"))
    shutil.chown(root, "postgres")
    server = OwnPostgres(root / "pg")
    try:
        yield server
    finally:
        subprocess.run(
                ["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "-D", str(server.root / "data"),
                 "-m", "immediate", "stop"],
                capture_output=True,
        )  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)


def _run_two_steps(home: Path, crash: Path, fault=None) -> list[str]:
    """The event types of one run of ``two_step_job``, ``fault`` done while its first step runs."""
    for marker in crash.glob("*"):
        marker.unlink()
    env = {**os.environ, "DAGSTER_HOME": str(home), "CRASH_DIR": str(crash), "FIRST_STEP_SECONDS": "3"}
    run = subprocess.Popen(
        [str(Path(sys.executable).with_name("dagster")), "job", "execute", "-f", str(HERE / "crashjobs.py"),
         "-j", "two_step_job"],
        cwd=HERE, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not (crash / "first_step.started").exists():
        assert run.poll() is None and time.monotonic() < deadline, run.stdout.read()[-3000:]
        time.sleep(0.1)
    if fault:
        fault()
    out, _ = run.communicate(timeout=300)
    assert run.returncode == 0, out[-3000:]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        newest = instance.get_runs(limit=1)[0]
        assert newest.status == dg.DagsterRunStatus.SUCCESS, newest.status
        return [e.dagster_event.event_type_value for e in instance.all_logs(newest.run_id) if e.dagster_event]


def _down_for(postgres: OwnPostgres, seconds: float):
    def fault():
        postgres.stop()
        time.sleep(seconds)
        postgres.start()

    return fault


def test_a_run_outlives_its_postgres_restarting_between_two_steps(postgres, tmp_path):
    home, crash = tmp_path / "home", tmp_path / "crash"
    home.mkdir()
    crash.mkdir()
    (home / "dagster.yaml").write_text(
        f"storage:\n  postgres:\n    postgres_url: {postgres.url}\ntelemetry:\n  enabled: false\n"
    )
    clean = _run_two_steps(home, crash)
    assert clean.count("STEP_SUCCESS") == 2
    assert _run_two_steps(home, crash, postgres.restart) == clean  # every event stored, in order
    assert _run_two_steps(home, crash, _down_for(postgres, 8)) == clean  # down for 8 s: the same
