"""Benchmark of the online scoring service (`make bench-serve`).

A served world is built in a temp folder (20k customers, 2k merchants, a champion in MLflow,
the online store loaded for the last day). Then, on loopback only and bounded in count and
time:
- in-process baseline: Feast online read through the feature service + the native booster,
  one transaction at a time (no HTTP), in this process;
- the real service (`ml-assets serve`, one worker) loaded from this process: single
  requests and batches of 100, one at a time (p50/p99), and throughput at 8 concurrent
  keep-alive connections for 10 s; /healthz idle and while full batches (1,000 transactions)
  are posted back to back for 10 s; cold start = process start to /readyz 200;
- with Debian's ``wrk`` (``make bench-tools``; skipped with a line saying so where it is missing):
  single requests at 1 connection (latency without a Python client's own cost), throughput at 8
  connections against one service process and against two replicas sharing one rollout (each
  loaded by a wrk of its own for the same seconds), and the floor: uvicorn answering a constant.
"""

from __future__ import annotations

import http.client
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from benchmarks import wrk
from benchmarks.common import append_report, measure, settings_at

DAYS, SINGLE, BATCHES, CONCURRENCY, SECONDS = 44, 2000, 200, 8, 10
BIG_BATCH, HEALTH_PROBES = 1000, 500  # the service's largest batch (serve_max_batch)


def build_world(root: Path, **overrides):
    """The served world under ``root``: the lake, Feast applied, a champion trained through the
    code location, the online store loaded for the last day; on the engines of ``overrides``'
    profile (the cluster profile needs its MLflow server up)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    import dagster as dg
    from lakehelpers import build_offline

    from ml_assets.core import engines
    from ml_assets.definitions import build_definitions

    s = settings_at(root / "data", rows_per_day=4000, training_window_days=10, validation_days=3, **overrides)
    if not s.lake_dir.exists():
        build_offline(s, DAYS)
    repo = engines.feature_repo(s)
    repo.apply()
    config = {"ops": {"training_set": {"config": {"as_of": str(s.day(DAYS))}}}}
    (root / "dagster").mkdir(exist_ok=True)
    with dg.instance_for_test(temp_dir=str(root / "dagster")) as instance:
        result = (
            build_definitions(s)
            .resolve_job_def("train_and_promote")
            .execute_in_process(instance=instance, run_config=config)
        )
        assert result.success
    for view in repo.specs.FEATURE_VIEWS:
        repo.load_online_day(view.name, s.day(DAYS - 1))
    return s


def sample_transactions(s, n: int) -> list[dict]:
    """``n`` distinct transactions of the world's newest days, newest day first, each moved to
    the newest day at its own time of day (the online store holds that day's features). No
    request repeats another: the customers and merchants that come back are the world's own
    repeats, which is what the service's row cache meets in use."""
    import pandas as pd

    from ml_assets.core import lake
    from ml_assets.serving.process import request_body

    frames, newest, back = [], s.day(DAYS - 1), 0
    while sum(map(len, frames)) < n:
        day = lake.read_partition(s.lake_dir, "raw_transactions", s.day(DAYS - 1 - back))
        frames.append(day.assign(event_timestamp=day["event_timestamp"] + pd.Timedelta(days=back)))
        back += 1
    rows = pd.concat(frames, ignore_index=True).head(n)
    assert (pd.to_datetime(rows["event_timestamp"], utc=True).dt.date == newest).all()
    return [request_body(r) for r in rows.itertuples()]


def _baseline(s, txs: list[dict]) -> dict[str, list[float]]:
    """Online read + booster predict per transaction, in process (no HTTP): through the
    service's reader (what the service runs) and through Feast's get_online_features."""
    import datetime as dt

    from ml_assets.core.features.contract import hour_of_day, model_matrix, online_features
    from ml_assets.core.features.online_read import OnlineFeatureReader
    from ml_assets.core.features.store import FeatureRepo
    from ml_assets.core.model_store import ModelStore
    from ml_assets.core.scoring import ServingModel

    repo = FeatureRepo(s.feature_repo_dir, s.data_dir)
    store, specs = repo.store(), repo.specs
    service = store.get_feature_service(specs.FEATURE_SERVICE)
    reader = OnlineFeatureReader(store, specs, s.serve_feature_cache_rows)  # as the service reads
    model = ServingModel.champion(ModelStore.local(s.mlflow_dir))
    reads = {
        "reader": lambda row: reader.read([row]),
        "feast": lambda row: online_features(store, service, [row], specs),
    }
    times: dict[str, list[float]] = {name: [] for name in reads}
    for t in txs[:SINGLE]:
        for name, read in reads.items():  # interleaved, so both see the same machine
            started = time.perf_counter()
            hour = hour_of_day([dt.datetime.fromisoformat(t["timestamp"])])[0]
            row = {
                "customer_id": t["customer_id"],
                "merchant_id": t["merchant_id"],
                "amount": t["amount"],
                "channel": t["channel"],
                "hour_of_event_timestamp": float(hour),
            }
            model.predict(model_matrix(read(row).values, specs))
            times[name].append(time.perf_counter() - started)
    batches = []
    for chunk in batch_bodies(txs):  # the same batches of 100 the service gets (sequential_latencies)
        started = time.perf_counter()
        hours = hour_of_day([dt.datetime.fromisoformat(t["timestamp"]) for t in chunk])
        rows = [
            {
                "customer_id": t["customer_id"],
                "merchant_id": t["merchant_id"],
                "amount": t["amount"],
                "channel": t["channel"],
                "hour_of_event_timestamp": float(h),
            }
            for t, h in zip(chunk, hours, strict=True)
        ]
        model.predict(model_matrix(reader.read(rows).values, specs))
        batches.append(time.perf_counter() - started)
    times["reader_batch"] = batches
    return {name: ts[len(ts) // 10 :] for name, ts in times.items()}  # first calls warm caches


def _post(conn: http.client.HTTPConnection, path: str, body: dict) -> float:
    payload = json.dumps(body)
    started = time.perf_counter()
    conn.request("POST", path, payload, {"Content-Type": "application/json"})
    response = conn.getresponse()
    response.read()
    assert response.status == 200, response.status
    return time.perf_counter() - started


def _throughput(port: int, txs: list[dict]) -> tuple[float, int]:
    stop_at, counts = time.monotonic() + SECONDS, [0] * CONCURRENCY

    def client(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        n = 0
        while time.monotonic() < stop_at:
            _post(conn, "/v1/score", txs[(i * 997 + n) % len(txs)])
            n += 1
        counts[i] = n

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CONCURRENCY)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / (time.monotonic() - started), sum(counts)


def _ms(values: list[float], q: float) -> str:
    return f"{np.quantile(values, q) * 1000:.2f} ms"


def start_service(s):
    """The real service (`ml-assets serve`, one worker) on a free loopback port, and its cold
    start: process start to /readyz 200."""
    from ml_assets.serving.process import ServiceProcess

    service = ServiceProcess(s)
    try:
        return service, service.wait_ready(timeout=120)
    except BaseException:
        service.stop()
        raise


def sequential_latencies(port: int, txs: list[dict]) -> tuple[list[float], list[float]]:
    """Seconds per request, one at a time: single transactions after a warm-up, then batches of
    100."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for t in txs[:200]:
        _post(conn, "/v1/score", t)  # warm-up
    single = [_post(conn, "/v1/score", t) for t in txs[:SINGLE]]
    batches = [_post(conn, "/v1/score/batch", {"transactions": chunk}) for chunk in batch_bodies(txs)]
    return single, batches


def _get(conn: http.client.HTTPConnection, path: str) -> float:
    started = time.perf_counter()
    conn.request("GET", path)
    response = conn.getresponse()
    response.read()
    assert response.status == 200, response.status
    return time.perf_counter() - started


def healthz_under_batches(port: int, txs: list[dict]) -> tuple[list[float], list[float], int]:
    """/healthz latencies idle, then while one client posts full batches (``BIG_BATCH`` rows)
    back to back for ``SECONDS``; and how many batches went through meanwhile."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    idle = [_get(conn, "/healthz") for _ in range(HEALTH_PROBES)]
    stop_at, done = time.monotonic() + SECONDS, [0]
    chunks = [txs[i : i + BIG_BATCH] for i in range(0, len(txs) - BIG_BATCH + 1, BIG_BATCH)]

    def batches() -> None:
        poster = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while time.monotonic() < stop_at:
            _post(poster, "/v1/score/batch", {"transactions": chunks[done[0] % len(chunks)]})
            done[0] += 1

    thread = threading.Thread(target=batches)
    thread.start()
    loaded = []
    while thread.is_alive():
        loaded.append(_get(conn, "/healthz"))
        time.sleep(0.002)
    thread.join()
    return idle, loaded, done[0]


FLOOR_APP = """
import uvicorn

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b'{"score": 0.5}'})

uvicorn.run(app, host="127.0.0.1", port=%d, log_level="warning", access_log=False)
"""


def http_floor(lua: Path) -> wrk.WrkResult:
    """The HTTP stack alone: uvicorn (the service's server) answering a constant to the same
    POSTs from a raw ASGI app, one connection: what no scoring code can go below."""
    import subprocess

    from ml_assets.serving.process import free_port

    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", FLOOR_APP % port])
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                http.client.HTTPConnection("127.0.0.1", port, timeout=1).request("GET", "/")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        return wrk.run(f"http://127.0.0.1:{port}/v1/score", lua, 1, SECONDS)
    finally:
        server.terminate()
        server.wait()


def with_wrk(s, txs: list[dict], root: Path) -> dict[str, wrk.WrkResult]:
    """Single requests at 1 connection and throughput at ``CONCURRENCY`` through wrk: one
    service process, then two replicas sharing one rollout (as deploy/k8s runs them), each
    loaded by its own wrk at half the connections for the same seconds."""
    from ml_assets.serving.process import ServiceProcess

    lua = wrk.script(txs[:SINGLE], root / "bodies.lua")
    out = {"floor": http_floor(lua)}
    service, _ = start_service(s)
    try:
        wrk.run(f"{service.url}/v1/score", lua, 1, 2)  # warm-up
        out["one"] = wrk.run(f"{service.url}/v1/score", lua, 1, SECONDS)
        out["one_loaded"] = wrk.run(f"{service.url}/v1/score", lua, CONCURRENCY, SECONDS)
    finally:
        service.stop()
    shared = {"ML_ASSETS_ROLLOUT_SHARED": "true"}
    replicas = [ServiceProcess(s, extra_env=shared) for _ in range(2)]
    try:
        for r in replicas:
            r.wait_ready(timeout=120)
            wrk.run(f"{r.url}/v1/score", lua, 1, 2)
        loads = [wrk.start(f"{r.url}/v1/score", lua, CONCURRENCY // 2, SECONDS) for r in replicas]
        both = [wrk.result(p) for p in loads]
    finally:
        for r in replicas:
            r.stop()
    out["two"] = wrk.WrkResult(
        sum(b.requests for b in both),
        max(b.seconds for b in both),
        max(b.p50_ms for b in both),
        max(b.p99_ms for b in both),
        sum(b.failed for b in both),
    )
    return out


def _wrk_rows(got: dict[str, wrk.WrkResult], base: list[float]) -> list[list[str]]:
    base_ms = statistics.median(base) * 1000
    one, floor = got["one"], got["floor"]
    rows = [
        [
            "floor: uvicorn answering a constant to the same POSTs (wrk, 1 connection)",
            f"{floor.p50_ms:.2f} ms",
            f"{floor.p99_ms:.2f} ms",
            f"{floor.rate:,.0f} requests/s",
            f"{floor.p50_ms / base_ms:.2f}x baseline p50",
        ],
        [
            "POST /v1/score, 1 transaction (wrk, 1 connection)",
            f"{one.p50_ms:.2f} ms",
            f"{one.p99_ms:.2f} ms",
            f"{one.rate:,.0f} requests/s",
            f"{one.p50_ms / base_ms:.2f}x baseline p50; less the floor "
            f"{(one.p50_ms - floor.p50_ms) / base_ms:.2f}x",
        ],
    ]
    for key, what in (("one_loaded", "1 service process"), ("two", "2 replicas, one rollout")):
        r = got[key]
        rows.append(
            [
                f"POST /v1/score at {CONCURRENCY} connections, {what} (wrk, {SECONDS} s)",
                f"{r.p50_ms:.2f} ms",
                f"{r.p99_ms:.2f} ms",
                f"{r.rate:,.0f} requests/s ({r.requests:,}; {r.failed} failed)",
                f"{r.rate / got['one_loaded'].rate:.2f}x 1 process" if key == "two" else "1.0",
            ]
        )
    return rows


def batch_bodies(txs: list[dict]) -> list[list[dict]]:
    """``BATCHES`` distinct batches of 100, after the single requests' transactions: no batch
    holds a transaction sent before."""
    return [txs[SINGLE + i * 100 : SINGLE + (i + 1) * 100] for i in range(BATCHES)]


def run() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        s = build_world(Path(tmp))
        txs = sample_transactions(s, SINGLE + BATCHES * 100)
        # in a fresh process with one OpenMP thread, as the service runs (ml_assets/cli.py)
        os.environ["OMP_NUM_THREADS"] = "1"
        try:
            _, _, baselines = measure(_baseline, s, txs)
        finally:
            del os.environ["OMP_NUM_THREADS"]
        base = baselines["reader"]
        service, cold = start_service(s)
        try:
            single, batches = sequential_latencies(service.port, txs)
            rps, n = _throughput(service.port, txs)
            idle, loaded, big = healthz_under_batches(service.port, txs)
        finally:
            service.stop()
        with_wrk_figures = with_wrk(s, txs, Path(tmp)) if wrk.available() else None
    overhead = statistics.median(single) / statistics.median(base)
    rows = [
        [
            "in-process baseline: online-store read (the service's reader) + booster, 1 transaction",
            _ms(base, 0.5),
            _ms(base, 0.99),
            "",
            "1.0",
        ],
        [
            "in-process: Feast get_online_features (feature service) + booster, 1 transaction",
            _ms(baselines["feast"], 0.5),
            _ms(baselines["feast"], 0.99),
            "",
            f"{statistics.median(baselines['feast']) / statistics.median(base):.2f}x baseline p50",
        ],
        [
            "POST /v1/score, 1 transaction, sequential",
            _ms(single, 0.5),
            _ms(single, 0.99),
            "",
            f"{overhead:.2f}x baseline p50",
        ],
        [
            "in-process baseline: online-store read + booster, the same 100 transactions at once",
            _ms(baselines["reader_batch"], 0.5),
            _ms(baselines["reader_batch"], 0.99),
            f"{100 / statistics.median(baselines['reader_batch']):,.0f} transactions/s",
            "1.0",
        ],
        [
            "POST /v1/score/batch, 100 transactions, sequential",
            _ms(batches, 0.5),
            _ms(batches, 0.99),
            f"{100 / statistics.median(batches):,.0f} transactions/s",
            f"{statistics.median(batches) / statistics.median(baselines['reader_batch']):.2f}x "
            "in-process batch p50",
        ],
        [
            f"POST /v1/score at {CONCURRENCY} keep-alive connections, {SECONDS} s",
            "",
            "",
            f"{rps:,.0f} requests/s ({n:,} requests)",
            "",
        ],
        ["GET /healthz, idle", _ms(idle, 0.5), _ms(idle, 0.99), "", "1.0"],
        [
            f"GET /healthz while {BIG_BATCH:,}-transaction batches are posted back to back, {SECONDS} s",
            _ms(loaded, 0.5),
            _ms(loaded, 0.99),
            f"{big * BIG_BATCH / SECONDS:,.0f} transactions/s in {big} batches",
            f"{np.quantile(loaded, 0.99) / np.quantile(idle, 0.99):.1f}x idle p99",
        ],
        ["cold start: process start to /readyz 200", f"{cold:.1f} s", "", "", ""],
    ]
    if with_wrk_figures is None:
        rows.append(["wrk figures: not measured (Debian's wrk is missing: make bench-tools)", "", "", "", ""])
    else:
        rows += _wrk_rows(with_wrk_figures, base)
    append_report(
        "Online scoring service (one uvicorn worker; load from another process on loopback)",
        ["what", "p50", "p99", "throughput", "ratio"],
        rows,
        f"{SINGLE} single requests and {BATCHES} batches after 200 warm-up requests; the client runs "
        "on the same 2 cores as the service, so the concurrent figure is a floor. No batch holds a "
        f"transaction sent before: {BATCHES} distinct batches of 100 from the world's newest days (the "
        "customers and merchants that come back are the world's own repeats, as the service's row cache "
        "meets them).",
    )


if __name__ == "__main__":
    run()
