"""The scoring service as a child process (`ml-assets serve`) on a loopback port: what the
rollout demo, the benchmarks and the tests drive over real HTTP."""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from ml_assets.core.settings import Settings


def request_body(row, **overrides) -> dict:
    """An event row of this process's problem (its lake spine table, as from ``itertuples``) as
    the service's ``POST /v1/score`` takes it."""
    from ml_assets.serving import events

    return events.request_body(row, _process_spec(), **overrides)


@functools.cache
def _process_spec():
    """The process's problem, read once: a body is built per request (Settings() costs ms)."""
    from ml_assets.core.problem import process_problem

    return process_problem()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServiceProcess:
    def __init__(self, settings: Settings, port: int | None = None, extra_env: dict | None = None):
        self.settings, self.port = settings, port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            **settings.environment(),
            "ML_ASSETS_SERVE_HOST": "127.0.0.1",
            "ML_ASSETS_SERVE_PORT": str(self.port),
            **(extra_env or {}),
        }
        cli = str(Path(sys.executable).with_name("ml-assets"))
        Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
        self.log_path = Path(settings.data_dir) / f"serve-{self.port}.log"
        self.log = open(self.log_path, "w")  # noqa: SIM115  (closed in stop)
        self.proc = subprocess.Popen([cli, "serve"], env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 90) -> float:
        import requests

        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the service exited with {self.proc.returncode}: {self.read_log()}")
            with contextlib.suppress(requests.ConnectionError):
                if requests.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return time.monotonic() - started
            time.sleep(0.2)
        raise TimeoutError(f"not ready after {timeout} s: {self.read_log()}")

    def read_log(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text()[-4000:]

    def stop(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def __enter__(self) -> ServiceProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
