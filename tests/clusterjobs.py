"""A job for the cluster instance tests: its one step holds the ``warehouse`` pool for a
moment and writes when it held it, so two concurrent runs show whether the pool held."""

import json
import os
import time

import dagster as dg


@dg.op(pool="warehouse")
def hold_the_pool(context: dg.OpExecutionContext) -> None:
    start = time.time()
    time.sleep(4.0)  # long enough that two runs started together would overlap
    record = {"run": context.run_id, "start": start, "end": time.time(), "pid": os.getpid()}
    with open(os.environ["POOL_LOG"], "a") as log:
        log.write(json.dumps(record) + "\n")


@dg.job
def pooled_job():
    hold_the_pool()


def _record(context: dg.OpExecutionContext, what: str) -> None:
    record = {
        "step": context.op.name,
        "what": what,
        "pid": os.getpid(),
        "worker": os.environ.get("WORKER_NAME"),
    }
    with open(os.environ["STEP_LOG"], "a") as log:
        log.write(json.dumps(record) + "\n")


def _sleeper(index: int, seconds: float):
    @dg.op(name=f"sleep_{index}")
    def sleep_op(context: dg.OpExecutionContext) -> None:
        _record(context, "start")
        time.sleep(seconds)
        _record(context, "end")

    return sleep_op


def _celery():
    from dagster_celery import celery_executor

    return celery_executor


SLEEPERS = [_sleeper(i, 1.5) for i in range(6)]


@dg.job(executor_def=_celery())
def spread_job():
    """Six independent steps: two workers must share them."""
    for op in SLEEPERS:
        op()


@dg.job(executor_def=_celery())
def long_job():
    """One long step, for killing the worker process that runs it."""
    _sleeper(99, 120.0)()


@dg.job(executor_def=_celery())
def mid_job():
    """One step long enough to kill the whole worker under it."""
    _sleeper(50, 12.0)()
