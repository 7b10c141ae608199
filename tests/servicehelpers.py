"""A served world for the online-service tests: a small lake, a champion in MLflow, the
online store loaded for the last day, and the real service started with `ml-assets serve`
in its own process on a free loopback port."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
from conftest import settings_env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    def __init__(self, settings, port: int, extra_env: dict | None = None):
        self.settings, self.port = settings, port
        self.url = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            **settings_env(settings),
            "ML_ASSETS_SERVE_PORT": str(port),
            "ML_ASSETS_SERVE_RELOAD_SECONDS": "0.5",
            **(extra_env or {}),
        }
        cli = str(Path(sys.executable).with_name("ml-assets"))
        Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
        self.log = open(Path(settings.data_dir) / f"serve-{port}.log", "w")  # noqa: SIM115
        self.proc = subprocess.Popen([cli, "serve"], env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 90) -> float:
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
        return (Path(self.settings.data_dir) / f"serve-{self.port}.log").read_text()[-4000:]

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


def transaction(row, **overrides) -> dict:
    return {
        "transaction_id": str(row.transaction_id),
        "customer_id": int(row.customer_id),
        "merchant_id": int(row.merchant_id),
        "amount": float(row.amount),
        "channel": str(row.channel),
        "timestamp": row.event_timestamp.isoformat(),
        **overrides,
    }
