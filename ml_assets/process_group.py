"""Processes started in a session of their own (``start_new_session=True``), so that their
children (gunicorn's or Celery's workers, a Dagster daemon's code server) stop with them."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess

LEFTOVER_GRACE_SECONDS = 5.0


def stop(process: subprocess.Popen, timeout: float = 30) -> None:
    """A process started in its own session, and every process of that session, stopped (the
    process killed after ``timeout``, what is left of its session a few seconds later). The
    session, not only the process group: a child may start a group of its own (a Dagster daemon's
    code server does), and the group's signal then misses it."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    # what is left of the session outlived its leader: a few seconds, then killed (measured: a
    # daemon's code server and run workers ignored SIGTERM for the full minute a daemon gets)
    _stop_session(process.pid, min(timeout, LEFTOVER_GRACE_SECONDS))


def _stop_session(sid: int, timeout: float) -> None:
    import psutil

    members = []
    for candidate in psutil.process_iter():
        try:
            if candidate.pid != os.getpid() and os.getsid(candidate.pid) == sid:
                members.append(candidate)
        except (ProcessLookupError, PermissionError):
            continue  # gone meanwhile, or not ours
    for member in members:
        with contextlib.suppress(psutil.NoSuchProcess):
            member.terminate()
    _, alive = psutil.wait_procs(members, timeout=timeout)
    for member in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            member.kill()
    psutil.wait_procs(alive, timeout=timeout)
