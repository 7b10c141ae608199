"""Jobs for the crash-recovery tests (tests/test_crash_recovery.py), run by a real daemon on an
instance made from the project's dagster.yaml.

``crashing_job``'s step holds the ``feast`` pool; its first attempt writes its pid and waits to
be killed, a retry finds the marker and succeeds at once. ``failing_job``'s step raises: an
asset's own failure, which must not be retried."""

import os
import time
from pathlib import Path

import dagster as dg

# a run worker that hangs while loading the code (an import that never returns): its run never
# leaves STARTING. The daemon's code server loaded this module before the marker was written; the
# CLI that launches the run (`dagster job launch`, which loads it in a code server of its own) is
# told apart by its environment, and does not hang
hangs = (Path(os.environ.get("CRASH_DIR", "/nonexistent")) / "hang_on_import").exists()
if hangs and "CRASH_LAUNCHER" not in os.environ:
    time.sleep(90)


@dg.op(pool="feast")
def hold_feast_pool(context: dg.OpExecutionContext) -> None:
    marker = Path(os.environ["CRASH_DIR"]) / "first_attempt.pid"
    if marker.exists():
        context.log.info("a retry: the first attempt's worker was killed")
        return
    marker.write_text(str(os.getpid()))
    time.sleep(120)  # the test kills this step's run worker long before


@dg.op(pool="feast")
def fail_in_step() -> None:
    raise ValueError("an asset's own error: retrying would only repeat it")


@dg.job
def crashing_job():
    hold_feast_pool()


@dg.job
def failing_job():
    fail_in_step()


@dg.op
def first_step() -> int:
    (Path(os.environ["CRASH_DIR"]) / "first_step.started").write_text(str(os.getpid()))
    time.sleep(float(os.environ.get("FIRST_STEP_SECONDS", "6")))  # the test restarts Postgres meanwhile
    return 1


@dg.op
def second_step(value: int) -> int:
    return value + 1


@dg.job
def two_step_job():
    second_step(first_step())


defs = dg.Definitions(jobs=[crashing_job, failing_job, two_step_job])
