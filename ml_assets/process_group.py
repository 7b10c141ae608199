"""Processes started in a session of their own (``start_new_session=True``), so that their
children (gunicorn's or Celery's workers) stop with them."""

from __future__ import annotations

import os
import signal
import subprocess


def stop(process: subprocess.Popen, timeout: float = 30) -> None:
    """A process started in its own group, and its children, stopped (killed after ``timeout``)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
