"""The online scoring service for real: `ml-assets serve` in its own process on loopback,
Feast's SQLite online store, the champion from a temp MLflow store, the DuckDB log."""

import concurrent.futures as cf
import contextlib
import json
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import hypothesis
import numpy as np
import pandas as pd
import pytest
import requests
from conftest import repo_of, settings_env, settings_for, store_of
from lakehelpers import build_offline, request_rows
from prometheus_client.parser import text_string_to_metric_families
from servicehelpers import SERVED_WORLD, Service, free_port, transaction

from ml_assets.core import lake
from ml_assets.core.warehouse import Warehouse

DAYS = 44
SIZE = SERVED_WORLD
VIEWS = ["customer_profile", "customer_activity", "merchant_profile", "merchant_risk"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """44 days of lake, a champion (v1) and a second version (v2), online store loaded for
    the last day."""
    from ml_assets.definitions import build_definitions

    root = tmp_path_factory.mktemp("served")
    settings = settings_for(root / "data", **SIZE)
    build_offline(settings, DAYS)
    repo = repo_of(settings)
    repo.apply()
    job = build_definitions(settings).resolve_job_def("train_and_promote")
    (root / "dagster").mkdir()
    with dg.instance_for_test(temp_dir=str(root / "dagster")) as instance:
        for hyper in ({}, {"n_estimators": 60, "num_leaves": 7}):
            config = {"ops": {"training_set": {"config": {"as_of": str(settings.day(DAYS))}}}}
            if hyper:
                config["ops"]["model"] = {"config": hyper}
            assert job.execute_in_process(instance=instance, run_config=config).success
    store = store_of(settings)
    store.set_alias("champion", "1")
    if store.alias_version("challenger") is not None:  # these tests serve the champion alone
        store.delete_alias("challenger")  # (rollouts: test_rollout.py)
    last = settings.day(DAYS - 1)
    for view in VIEWS:
        repo.materialize_day(view, last)
    return settings, last


@pytest.fixture(scope="module")
def service(world):
    settings, _ = world
    svc = Service(settings, free_port())
    svc.ready_seconds = svc.wait_ready()
    yield svc
    svc.stop()


def _day(settings, day):
    return lake.read_partition(settings.lake_dir, "raw_transactions", day)


@pytest.mark.slow
def test_online_scores_equal_batch_scores_on_the_same_features(world, service):
    from ml_assets.core.scoring import score_day

    settings, last = world
    batch = score_day(last, settings, repo_of(settings), store_of(settings)).set_index("transaction_id")
    sample = _day(settings, last).sample(300, random_state=1)
    body = {"transactions": [transaction(r) for r in sample.itertuples()]}
    response = requests.post(f"{service.url}/v1/score/batch", json=body, timeout=30)
    assert response.status_code == 200, response.text
    online = {r["transaction_id"]: r for r in response.json()["results"]}
    assert set(online) == set(sample["transaction_id"])
    diffs = [abs(online[t]["score"] - batch.loc[t, "score"]) for t in online]
    assert max(diffs) <= 1e-9, max(diffs)
    assert all(online[t]["decision"] == bool(batch.loc[t, "decision"]) for t in online)
    assert {r["model_version"] for r in online.values()} == {"1"} and {r["arm"] for r in online.values()} == {
        "champion"
    }
    # the test has teeth: scores vary, so equal scores mean equal inputs
    assert np.std([r["score"] for r in online.values()]) > 0.01


@pytest.mark.slow
def test_the_online_reader_serves_what_feasts_get_online_features_serves(world):
    """The service's reader (online_read.py) against the SDK's full path, value for value:
    known, unknown and half-known entities, request fields that make the on-demand view
    divide by missing values."""
    from ml_assets.core.features.contract import model_matrix, online_features
    from ml_assets.core.features.online_read import OnlineFeatureReader

    settings, last = world
    repo = repo_of(settings)
    store, specs = repo.store(), repo.specs
    sample = _day(settings, last).sample(200, random_state=2)
    rows = request_rows(sample)
    rows += [
        {**rows[0], "customer_id": 10**12},
        {**rows[1], "merchant_id": 10**12},
        {
            **rows[2],
            "customer_id": 10**12,
            "merchant_id": 10**12,
            "channel": "online",
            "hour_of_event_timestamp": 23.5,
        },
    ]
    reader = OnlineFeatureReader(store, specs)
    service = store.get_feature_service(specs.FEATURE_SERVICE)
    for chunk in (rows[:1], rows[-3:], rows):  # one request, and batches
        ours, feasts = reader.read(chunk), online_features(store, service, chunk, specs)
        for feature in specs.model_features():
            assert ours.values[feature] == feasts.values[feature], feature
        for view, stamps in feasts.view_timestamps.items():
            assert np.array_equal(ours.view_timestamps[view], stamps), view
        assert np.array_equal(
            model_matrix(ours.values, specs), model_matrix(feasts.values, specs), equal_nan=True
        )
    served = reader.read(rows).values
    # the comparison has teeth: missing values and NaN-producing inputs are in it, and values vary
    assert served["amount_avg_30d"][-3] is None and served["amount_to_avg_30d"][-3] is None
    assert served["merchant_category"][-2] is None and len(set(served["txn_count_30d"])) > 10


@pytest.mark.slow
def test_the_service_reader_keeps_rows_until_the_store_file_changes(world):
    """The reader's in-memory rows (SqliteRows, cache_rows): a repeated read answers the same
    values as an uncached reader; a load committed by another connection empties them, and the
    next read answers the new values; a cache too small for a batch still answers right."""
    from ml_assets.core.features.online_load import load_day
    from ml_assets.core.features.online_read import OnlineFeatureReader

    settings, last = world
    repo = repo_of(settings)
    store, specs = repo.store(), repo.specs
    rows = request_rows(_day(settings, last).sample(120, random_state=3))
    rows.append({**rows[0], "customer_id": 10**12})  # unknown: kept as unknown
    cached, tiny = OnlineFeatureReader(store, specs, 100_000), OnlineFeatureReader(store, specs, 50)

    def uncached():
        return OnlineFeatureReader(repo.store(), specs).read(rows).values

    before = uncached()
    for _ in range(2):
        assert cached.read(rows).values == before and tiny.read(rows).values == before
    kept = cached.batched._cache
    assert len(kept) >= len({r["customer_id"] for r in rows})  # the second read was answered from it
    source = lake.read_partition(settings.lake_dir, "customer_activity_source", last)
    other = source.assign(txn_count_30d=source["txn_count_30d"] + 1000)
    try:  # the same day loaded again with other counts, by another connection
        load_day(store, "customer_activity", other, last)
        after = uncached()
        changed = [f for f in before if after[f] != before[f]]
        assert "txn_count_30d" in changed, changed  # the load moved values the reader must follow
        assert cached.read(rows).values == after and cached.batched._cache is not kept
    finally:
        repo.load_online_day("customer_activity", last)
    assert cached.read(rows).values == before


@pytest.mark.slow
def test_unknown_entities_are_scored_with_missing_features_and_counted(world, service):
    settings, last = world
    row = next(_day(settings, last).itertuples())
    unknown = transaction(row, transaction_id="unknown-customer", customer_id=10**12)
    response = requests.post(f"{service.url}/v1/score", json=unknown, timeout=10)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["unknown_entity"] and set(body["missing_views"]) == {"customer_profile", "customer_activity"}
    assert body["feature_age_seconds"]["customer_activity"] is None and 0 <= body["score"] <= 1
    metrics = _metrics(service)
    assert metrics[("ml_assets_serving_missing_features_total", (("view", "customer_activity"),))] >= 1


@pytest.mark.slow
def test_stale_features_are_flagged(world, service):
    settings, last = world
    row = next(_day(settings, last).itertuples())
    late = row.event_timestamp + np.timedelta64(3, "D")
    body = requests.post(
        f"{service.url}/v1/score", json=transaction(row, timestamp=late.isoformat()), timeout=10
    ).json()
    assert set(body["stale_views"]) == set(VIEWS)
    fresh = requests.post(f"{service.url}/v1/score", json=transaction(row), timeout=10).json()
    assert fresh["stale_views"] == [] and all(0 <= a < 86_400 for a in fresh["feature_age_seconds"].values())


@pytest.mark.slow
@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount": -5}, "amount"),
        ({"channel": "web"}, "channel"),
        ({"timestamp": "2026-04-01T10:00:00"}, "timestamp"),
        ({"customer_id": "abc"}, "customer_id"),
        ({"extra": 1}, "extra"),
        ({"transaction_id": ""}, "transaction_id"),
    ],
)
def test_bad_input_gets_a_422_naming_the_field(world, service, change, field):
    settings, last = world
    row = next(_day(settings, last).itertuples())
    response = requests.post(f"{service.url}/v1/score", json=transaction(row, **change), timeout=10)
    assert response.status_code == 422
    assert any(e["loc"][-1] == field for e in response.json()["detail"]), response.json()


@pytest.mark.slow
def test_the_fast_path_answers_as_fastapi_answers(world, service):
    """``application/json`` takes the service's fast path (serving/fast_path.py); a ``+json``
    media type, which FastAPI parses the same way, takes FastAPI's route. The same bodies, single
    and batch, valid and not, lenient and borderline, must get the same status and answer."""
    settings, last = world
    row = next(_day(settings, last).itertuples())
    valid = transaction(row)
    bodies = [
        valid,
        {**valid, "customer_id": 10**12},
        {**valid, "customer_id": str(valid["customer_id"])},
        {**valid, "merchant_id": float(valid["merchant_id"])},
        {**valid, "customer_id": True},
        {**valid, "amount": str(valid["amount"])},
        {**valid, "timestamp": 1_777_550_000},
        {**valid, "timestamp": "2026-04-30T16:03:00+02:00"},
        {**valid, "amount": float("nan")},
        {**valid, "extra": 1},
        {k: v for k, v in valid.items() if k != "channel"},
        [valid],
        "not a transaction",
    ]
    second = {**valid, "transaction_id": f"{valid['transaction_id']}.b", "amount": valid["amount"] + 1}
    batches = [
        {"transactions": [valid, second]},
        {"transactions": [valid, {**second, "channel": "web"}]},
        {"transactions": []},
        {"transactions": [valid], "extra": 1},
        {"transactions": valid},
        [valid],
    ]
    cases = [("/v1/score", json.dumps(b)) for b in bodies]
    cases += [("/v1/score", text) for text in ("{", "", '{"amount": 1e400}')]
    cases += [("/v1/score/batch", json.dumps(b)) for b in batches] + [("/v1/score/batch", "[")]
    answered = {"fast": 0, "framework": 0}
    for i, (route, body) in enumerate(cases):
        got = {}
        for path, media in (("fast", "application/json"), ("framework", "application/vnd.test+json")):
            text = body.replace(valid["transaction_id"], f"{valid['transaction_id']}-{path}-{i}")
            response = requests.post(
                f"{service.url}{route}", data=text, headers={"Content-Type": media}, timeout=10
            )
            assert response.status_code < 500, (body, media, response.status_code, response.text)
            # the answers echo the transaction id (and a 422 the input): compare them without it
            got[path] = (response.status_code, json.loads(response.text.replace(f"-{path}-{i}", "")))
            answered[path] += response.status_code == 200
        assert got["fast"] == got["framework"], (route, body)
    assert answered["fast"] >= 6, answered  # the comparison holds for accepted bodies, not only errors


@pytest.mark.slow
def test_batch_size_is_bounded(world, service):
    settings, last = world
    rows = _day(settings, last).head(settings.serve_max_batch + 1)
    body = {"transactions": [transaction(r) for r in rows.itertuples()]}
    response = requests.post(f"{service.url}/v1/score/batch", json=body, timeout=30)
    assert response.status_code == 422 and response.json()["detail"][0]["loc"][-1] == "transactions"


def test_a_body_over_the_limit_gets_a_413_not_a_5xx(service):
    too_big = b'{"transactions": [' + b" " * (2 << 20) + b"]}"
    for path in ("/v1/score", "/v1/score/batch"):  # the fast path's route, and FastAPI's
        response = requests.post(
            f"{service.url}{path}", data=too_big, headers={"content-type": "application/json"}, timeout=30
        )
        assert response.status_code == 413, (path, response.status_code)


def test_admin_endpoints_are_off_without_a_configured_token(service):
    """Issue 23: anyone who reached the service could promote or abort a rollout."""
    for path in ("/v1/rollout/promote", "/v1/rollout/abort"):
        response = requests.post(f"{service.url}{path}", json={"reason": "x"}, timeout=10)
        assert response.status_code == 403, (path, response.status_code)
        assert "ML_ASSETS_SERVE_ADMIN_TOKENS" in response.json()["detail"]


ADMIN_TOKEN, SCORE_TOKEN = "adm-" + "7" * 40, "scr-" + "3" * 40


@pytest.fixture(scope="module")
def guarded(world):
    """A service with an admin token (name: ci) and a scoring token."""
    settings, _ = world
    from pydantic import SecretStr

    guarded = settings.model_copy(  # model_copy does not validate: the secrets as the settings hold them
        update={
            "serve_admin_tokens": {"ci": SecretStr(ADMIN_TOKEN)},
            "serve_score_token": SecretStr(SCORE_TOKEN),
        }
    )
    svc = Service(guarded, free_port())
    svc.wait_ready()
    yield svc
    svc.stop()


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Bearer " + ADMIN_TOKEN[:-1] + "8"}, 401),
        ({"Authorization": "Basic " + ADMIN_TOKEN}, 401),
        ({"Authorization": "Bearer " + SCORE_TOKEN}, 401),  # the scoring token is no admin token
        ({"Authorization": "Bearer " + ADMIN_TOKEN}, 409),  # accepted: no rollout in progress
    ],
)
def test_admin_endpoints_need_the_admin_token(guarded, headers, status):
    for path in ("/v1/rollout/promote", "/v1/rollout/abort"):
        response = requests.post(f"{guarded.url}{path}", json={"reason": "x"}, headers=headers, timeout=10)
        assert response.status_code == status, (path, response.text)
        if status == 401:
            assert response.headers["www-authenticate"] == "Bearer"


def test_scoring_takes_its_token_when_one_is_set_on_both_paths_and_no_token_is_echoed(world, guarded):
    settings, last = world
    tx = transaction(next(_day(settings, last).head(1).itertuples()))
    bearer = {"Authorization": "Bearer " + SCORE_TOKEN}
    assert requests.post(f"{guarded.url}/v1/score", json=tx, timeout=10).status_code == 401
    assert requests.post(f"{guarded.url}/v1/score", json=tx, headers=bearer, timeout=10).status_code == 200
    batch = {"transactions": [tx]}
    assert requests.post(f"{guarded.url}/v1/score/batch", json=batch, timeout=10).status_code == 401
    assert (
        requests.post(f"{guarded.url}/v1/score/batch", json=batch, headers=bearer, timeout=10).status_code
        == 200
    )
    exposed = requests.get(f"{guarded.url}/metrics", timeout=10).text + guarded.read_log()
    assert ADMIN_TOKEN not in exposed and SCORE_TOKEN not in exposed


def _metrics(service) -> dict:
    text = requests.get(f"{service.url}/metrics", timeout=10).text
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


@pytest.mark.slow
def test_metrics_parse_and_count_requests(world, service):
    settings, last = world
    before = _metrics(service).get(
        (
            "ml_assets_serving_http_requests_total",
            (("endpoint", "/v1/score"), ("method", "POST"), ("status", "200")),
        ),
        0,
    )
    row = next(_day(settings, last).itertuples())
    for _ in range(3):
        assert requests.post(f"{service.url}/v1/score", json=transaction(row), timeout=10).status_code == 200
    after = _metrics(service)
    key = (
        "ml_assets_serving_http_requests_total",
        (("endpoint", "/v1/score"), ("method", "POST"), ("status", "200")),
    )
    assert after[key] == before + 3
    assert after[("ml_assets_serving_model_info", (("alias", "champion"), ("model_version", "1")))] == 1
    assert ("ml_assets_serving_feature_age_seconds", (("view", "customer_activity"),)) in after
    assert any(name == "ml_assets_serving_http_request_duration_seconds_bucket" for name, _ in after)


@pytest.mark.slow
def test_each_request_has_an_id_and_the_log_lines_a_time_and_a_level(service):
    given = requests.get(f"{service.url}/healthz", headers={"X-Request-ID": "gw-7f3a.1"}, timeout=10)
    assert given.headers["X-Request-ID"] == "gw-7f3a.1"  # a gateway's id, kept end to end
    for header in ({}, {"X-Request-ID": "two words"}, {"X-Request-ID": "x" * 65}):
        made = requests.get(f"{service.url}/healthz", headers=header, timeout=10).headers["X-Request-ID"]
        assert re.fullmatch(r"[0-9a-f]{32}", made), made  # none sent, or unsafe to log: a new one
    # uvicorn's own lines take the service's format (its default config would print none at all)
    line = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO uvicorn\.error \[-\] Application startup complete"
    assert re.search(line, service.read_log()), service.read_log()


def test_models_endpoint_names_the_serving_version(service):
    models = requests.get(f"{service.url}/v1/models", timeout=10).json()["models"]
    assert [(m["alias"], m["model_version"]) for m in models] == [("champion", "1")]
    assert service.ready_seconds < 90


def _v2_inputs(settings, bodies: list[dict], binary: bool):
    """``/v1`` bodies as V2 tensors of the client's own types, one column per input."""
    import tritonclient.http as v2_client

    from ml_assets.core.problem import problem_spec
    from ml_assets.serving.v2 import inputs_of

    out = []
    kinds = {"BYTES": object, "INT64": np.int64, "FP64": np.float64, "BOOL": np.bool_}
    for tensor in inputs_of(problem_spec(settings)):
        values = np.array([b[tensor.name] for b in bodies], dtype=kinds[tensor.datatype])
        sent = v2_client.InferInput(tensor.name, [len(bodies)], tensor.datatype)
        sent.set_data_from_numpy(values, binary_data=binary)
        out.append(sent)
    return out


def test_the_open_inference_protocol_with_a_third_party_client(world, service):
    """Every V2 route through tritonclient (PyPI), JSON and binary tensors: the same scores as /v1."""
    import tritonclient.http as v2_client
    from tritonclient.utils import InferenceServerException

    from ml_assets.core import engines

    settings, last = world
    name = engines.model_store(settings).model_name
    client = v2_client.InferenceServerClient(url=service.url.removeprefix("http://"))
    assert client.is_server_live() and client.is_server_ready()
    assert client.get_server_metadata()["name"] == "ml-assets"
    assert client.is_model_ready(name) and not client.is_model_ready("no_such_model")
    metadata = client.get_model_metadata(name)
    assert metadata["versions"] == ["1"]
    assert [i["name"] for i in metadata["inputs"]] == list(transaction(_day(settings, last).iloc[0]))
    rows = _day(settings, last).sample(50, random_state=3)
    bodies = [transaction(r) for r in rows.itertuples()]
    by_v1 = requests.post(f"{service.url}/v1/score/batch", json={"transactions": bodies}, timeout=30).json()
    for binary in (False, True):
        answer = client.infer(name, _v2_inputs(settings, bodies, binary), request_id=f"check-{binary}")
        assert answer.get_response()["id"] == f"check-{binary}"
        assert answer.as_numpy("score").tolist() == [r["score"] for r in by_v1["results"]]
        assert answer.as_numpy("decision").tolist() == [r["decision"] for r in by_v1["results"]]
        assert {v.decode() if isinstance(v, bytes) else v for v in answer.as_numpy("model_version")} == {"1"}
    only_scores = client.infer(
        name,
        _v2_inputs(settings, bodies[:2], False),
        outputs=[v2_client.InferRequestedOutput("score", binary_data=False)],
    )
    assert [o["name"] for o in only_scores.get_response()["outputs"]] == ["score"]
    # a client's mistake is a 400 naming the input and the row, never a 5xx
    bad = [*bodies[:3], {**bodies[3], "amount": -5.0}]
    with pytest.raises(InferenceServerException) as refused:
        client.infer(name, _v2_inputs(settings, bad, True))
    assert refused.value.status() == "400" and "input 'amount' row 3" in refused.value.message()
    with pytest.raises(InferenceServerException) as missing:
        client.infer(name, _v2_inputs(settings, bodies[:2], False)[1:])
    assert missing.value.status() == "400" and "inputs missing" in missing.value.message()
    with pytest.raises(InferenceServerException) as unknown:
        client.infer("no_such_model", _v2_inputs(settings, bodies[:2], False))
    assert unknown.value.status() == "404"
    for body in (b"", b"{", b'{"inputs": []}', b'{"inputs": [{"name": "amount"}]}'):
        response = requests.post(f"{service.url}/v2/models/{name}/infer", data=body, timeout=10)
        assert response.status_code == 400 and response.json()["error"], (body, response.text)


@pytest.mark.slow
def test_hot_reload_under_traffic_fails_no_request(world, tmp_path):
    """A second service (its own port): the champion alias moves while 4 clients score."""
    settings, last = world
    store = store_of(settings)
    svc = Service(settings, free_port())
    svc.wait_ready()
    rows = [transaction(r) for r in _day(settings, last).head(50).itertuples()]
    stop_at = time.monotonic() + 8

    def client(i):
        seen, failures, n = [], 0, 0
        while time.monotonic() < stop_at:
            r = requests.post(f"{svc.url}/v1/score", json=rows[n % len(rows)], timeout=10)
            n += 1
            if r.status_code != 200:
                failures += 1
            else:
                seen.append((time.monotonic(), r.json()["model_version"]))
        return seen, failures

    try:
        with cf.ThreadPoolExecutor(4) as pool:
            futures = [pool.submit(client, i) for i in range(4)]
            time.sleep(2)
            store.set_alias("champion", "2")
            results = [f.result() for f in futures]
        failures = sum(f for _, f in results)
        versions = sorted((t, v) for seen, _ in results for t, v in seen)
        assert failures == 0
        assert {v for _, v in versions} == {"1", "2"}, "the swap happened while clients were scoring"
        # once the new version answered, the old one never did again (an atomic swap)
        first_new = next(t for t, v in versions if v == "2")
        assert all(v == "2" for t, v in versions if t > first_new + 0.05)
        models = requests.get(f"{svc.url}/v1/models", timeout=10).json()["models"]
        assert models[0]["model_version"] == "2"
    finally:
        store.set_alias("champion", "1")
        svc.stop()


@pytest.mark.slow
def test_sigterm_under_load_loses_no_accepted_prediction(world):
    settings, last = world
    svc = Service(settings, free_port())
    svc.wait_ready()
    rows = _day(settings, last).head(400)
    accepted = []

    def send(row):
        try:
            r = requests.post(
                f"{svc.url}/v1/score",
                json=transaction(row, transaction_id=f"sigterm-{row.Index}"),
                timeout=30,
            )
            return r.json()["transaction_id"] if r.status_code == 200 else None
        except requests.RequestException:
            return None

    with cf.ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(send, row) for row in rows.itertuples()]
        time.sleep(0.5)
        code = svc.stop()
        accepted = [t for f in futures if (t := f.result()) is not None]
    # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal: -15, not a kill (-9)
    assert code in (0, -signal.SIGTERM), svc.read_log()
    assert len(accepted) > 0
    logged = Warehouse(settings.warehouse_path).query(
        "SELECT transaction_id, source, model_version, arm, latency_seconds FROM prediction_log "
        "WHERE transaction_id LIKE 'sigterm-%'"
    )
    assert set(accepted) <= set(logged["transaction_id"]), "an accepted prediction is missing from the log"
    assert set(logged["source"]) == {"online"} and set(logged["arm"]) == {"champion"}
    assert (logged["latency_seconds"] > 0).all()


# --- Prometheus: rules, config, a real server scraping the service, the dashboard -------------
DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
needs_prometheus = pytest.mark.skipif(
    shutil.which("promtool") is None or shutil.which("prometheus") is None,
    reason="Debian's prometheus package is not installed (make test-tools installs it)",
)


@needs_prometheus
@pytest.mark.parametrize(
    "args",
    [
        ["check", "rules", "alerts.yml"],
        ["check", "config", "prometheus.yml"],
        ["test", "rules", "alerts_test.yml"],
    ],
)
def test_promtool_accepts_the_rules_config_and_rule_tests(args):
    out = subprocess.run(["promtool", *args], cwd=DEPLOY / "prometheus", capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.fixture(scope="module")
def prometheus(service, tmp_path_factory):
    """A real Prometheus on loopback, scraping the service every second with the repo's
    scrape config (its target pointed at the test's port)."""
    import yaml

    root = tmp_path_factory.mktemp("prometheus")
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    config["global"]["scrape_interval"] = "1s"
    config["rule_files"] = [str(DEPLOY / "prometheus" / "alerts.yml")]
    config["scrape_configs"][0]["static_configs"][0]["targets"] = [f"127.0.0.1:{service.port}"]
    (root / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    proc = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={root / 'prometheus.yml'}",
            f"--storage.tsdb.path={root / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60  # ready before any test queries it, whichever runs first
        while True:
            with contextlib.suppress(requests.ConnectionError):
                if requests.get(f"{url}/-/ready", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"Prometheus on {url} did not become ready")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _query(url: str, expr: str) -> dict:
    return requests.get(f"{url}/api/v1/query", params={"query": expr}, timeout=10).json()


@pytest.mark.slow
@needs_prometheus
def test_a_real_prometheus_scrapes_the_service(world, service, prometheus):
    settings, last = world
    row = next(_day(settings, last).itertuples())
    requests.post(f"{service.url}/v1/score", json=transaction(row), timeout=10)
    deadline = time.monotonic() + 60
    up = scored = None
    while time.monotonic() < deadline:
        with contextlib.suppress(requests.RequestException):
            up = _query(prometheus, 'up{job="ml-assets-scoring"}')["data"]["result"]
            scored = _query(prometheus, 'ml_assets_serving_http_requests_total{endpoint="/v1/score"}')[
                "data"
            ]["result"]
            if up and up[0]["value"][1] == "1" and scored:
                break
        time.sleep(1)
    assert up and up[0]["value"][1] == "1", up
    assert scored and float(scored[0]["value"][1]) >= 1


@pytest.mark.slow
@needs_prometheus
def test_dashboard_queries_parse_and_name_only_exported_metrics(service, prometheus):
    dashboard = json.loads((DEPLOY / "grafana" / "scoring_service.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    assert len(exprs) >= 10
    exported = {
        family.name
        for family in text_string_to_metric_families(requests.get(f"{service.url}/metrics", timeout=10).text)
    }
    for expr in exprs:
        answer = _query(prometheus, expr)
        assert answer["status"] == "success", (expr, answer)  # Prometheus's own parser
        for name in re.findall(r"\bml_assets_serving_[a-z_]+", expr):
            base = re.sub(r"_(bucket|sum|count|total|created)$", "", name)
            assert base in exported or name in exported, f"{name} in {expr!r} is not exported"
    rules = yaml_rules()
    for expr in rules:
        for name in re.findall(r"\bml_assets_serving_[a-z_]+", expr):
            assert re.sub(r"_(bucket|sum|count|total)$", "", name) in exported, (
                f"{name} in an alert is not exported"
            )


def yaml_rules() -> list[str]:
    import yaml

    groups = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


# --- property-based: the OpenAPI schema against the running service ---------------------------
@pytest.mark.slow
def test_api_never_answers_a_5xx_and_every_response_matches_the_schema(service):
    """Generated requests, valid and invalid, for every operation of the OpenAPI schema,
    bounded in count, against loopback only. (Schemathesis's strategies driven by Hypothesis
    directly: its pytest plugin 4.32 reads a private pytest attribute that pytest 9 removed.)"""
    import schemathesis

    schema = schemathesis.openapi.from_url(f"{service.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {f"{op.method.upper()} {op.path}" for op in operations} >= {
        "POST /v1/score",
        "POST /v1/score/batch",
    }
    for operation in operations:

        @hypothesis.given(case=operation.as_strategy())
        @hypothesis.settings(
            max_examples=40, deadline=None, database=None, suppress_health_check=list(hypothesis.HealthCheck)
        )
        def check(case):
            case.call_and_validate()

        check()


def _log_row(i: int) -> dict:
    import datetime as dt

    when = dt.datetime(2026, 4, 1, 12, tzinfo=dt.UTC)
    return {
        "transaction_id": f"w-{i}",
        "event_timestamp": when,
        "score": 0.1,
        "decision": False,
        "model_name": "fraud_model",
        "model_version": "1",
        "partition_date": when.date(),
        "source": "online",
        "arm": "champion",
        "latency_seconds": 0.001,
    }


def test_log_writer_counts_drops_when_full_and_outlasts_a_busy_file(tmp_path):
    """The queue is bounded (drops counted, never blocking); while another process holds the
    DuckDB file, writes wait and retry; a stop drains everything accepted."""
    from ml_assets.core.serving import LogBatch, PredictionLogWriter

    warehouse = Warehouse(tmp_path / "warehouse.duckdb")
    full = PredictionLogWriter(warehouse, capacity=5, batch_rows=100, flush_seconds=0.1)
    for rows in ([0, 1, 2], [3, 4, 5], [6, 7]):  # one request's rows fit whole or are dropped whole
        full.offer(LogBatch.of_rows([_log_row(i) for i in rows]))
    assert full.dropped == 3 and full.queued == 5

    warehouse.append("prediction_log", pd.DataFrame([_log_row(-1)]))
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); "
            "print('held', flush=True); time.sleep(3)",
            str(warehouse.path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    writer = PredictionLogWriter(warehouse, capacity=1000, batch_rows=50, flush_seconds=0.1)
    writer.start()
    for start in range(0, 120, 7):  # requests of 7 rows, batched in writes of about 50
        writer.offer(LogBatch.of_rows([_log_row(i) for i in range(start, min(start + 7, 120))]))
    writer.stop()
    holder.wait(timeout=30)
    assert writer.written == 120 and writer.dropped == 0
    logged = warehouse.query("SELECT count(*) AS n FROM prediction_log WHERE transaction_id LIKE 'w-%'")
    assert logged["n"].iloc[0] == 121


@pytest.mark.slow
def test_a_service_without_a_champion_stays_up_and_says_why(tmp_path):
    """`make serve` before `make dev`: live, not ready, and a 503 with the reason, never a crash."""
    svc = Service(settings_for(tmp_path / "empty"), free_port())
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            with contextlib.suppress(requests.ConnectionError):
                if requests.get(f"{svc.url}/healthz", timeout=2).status_code == 200:
                    break
            assert svc.proc.poll() is None, svc.read_log()
            time.sleep(0.3)
        ready = requests.get(f"{svc.url}/readyz", timeout=5)
        assert ready.status_code == 503 and "make dev" in ready.json()["detail"]
        body = {
            "transaction_id": "t",
            "customer_id": 1,
            "merchant_id": 1,
            "amount": 1.0,
            "channel": "online",
            "timestamp": "2026-03-07T10:00:00Z",
        }
        score = requests.post(f"{svc.url}/v1/score", json=body, timeout=5)
        assert score.status_code == 503 and "not ready" in score.json()["detail"]
        assert requests.get(f"{svc.url}/v1/models", timeout=5).json() == {"models": []}
    finally:
        svc.stop()


def _served_threshold(service) -> float:
    return requests.get(f"{service.url}/v1/models", timeout=10).json()["models"][0]["threshold"]


def _wait_for_threshold(service, expected: float, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _served_threshold(service) == pytest.approx(expected, abs=1e-12):
            return
        time.sleep(0.2)
    raise AssertionError(f"the service still serves threshold {_served_threshold(service)}, not {expected}")


@pytest.mark.slow
def test_a_threshold_re_fit_is_served_by_batch_and_online_and_rolls_back(world, service):
    """Issue 25: the champion's threshold re-fitted by the real job (decision_threshold) on three
    scored days, to a flag rate twice the one it serves (as the policy asks when the served rate
    halved): batch scoring of a later day and the online service both flag at the new rate; the
    CLI's rollback restores the trained threshold everywhere."""
    from ml_assets.core.registry.operating_point import history
    from ml_assets.core.scoring import score_day, write_predictions
    from ml_assets.definitions import build_definitions

    settings, last = world
    store, repo, warehouse = store_of(settings), repo_of(settings), Warehouse(settings.warehouse_path)
    window = [last - pd.Timedelta(days=k).to_pytimedelta() for k in (3, 2, 1)]
    for day in window:
        write_predictions(warehouse, score_day(day, settings, repo, store), day)
    trained = float(store.version_by_alias("champion").tags["decision_threshold"])
    before = score_day(last, settings, repo, store)
    target = 2 * float(before["decision"].mean())
    config = {
        "version": "1",
        "first_day": str(window[0]),
        "last_day": str(window[-1]),
        "target_flag_rate": target,
        "reason": "test: served flag rate halved",
    }
    job = build_definitions(settings).resolve_job_def("refit_threshold")
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(
            instance=instance, run_config={"ops": {"decision_threshold": {"config": config}}}
        )
    assert result.success
    meta = result.asset_materializations_for_node("decision_threshold")[0].metadata
    refitted = meta["decision_threshold"].value
    assert meta["outcome"].value == "applied" and refitted < trained
    assert meta["flag_rate_after"].value == pytest.approx(target, abs=2e-3)  # on the window itself
    try:
        # batch: a day outside the re-fit window flags at the target, within sampling noise
        after = score_day(last, settings, repo, store)
        rate, n = float(after["decision"].mean()), len(after)
        assert abs(rate - target) <= 4 * (target * (1 - target) / n) ** 0.5 + 1 / n, (rate, target)
        assert (after["score"].to_numpy() == before["score"].to_numpy()).all()  # same model, same scores
        # online: the service takes the new threshold with the booster it has, and decides as batch does
        _wait_for_threshold(service, refitted)
        rows = _day(settings, last).head(settings.serve_max_batch)
        response = requests.post(
            f"{service.url}/v1/score/batch",
            json={"transactions": [transaction(r) for r in rows.itertuples()]},
            timeout=30,
        )
        online = {r["transaction_id"]: r["decision"] for r in response.json()["results"]}
        expected = after.set_index("transaction_id")["decision"]
        assert all(online[t] == bool(expected[t]) for t in online)
        assert sum(online.values()) > sum(
            bool(before.set_index("transaction_id")["decision"][t]) for t in online
        )
    finally:
        cli = subprocess.run(
            [str(Path(sys.executable).parent / "ml-assets"), "rollback-threshold", "--reason", "test over"],
            env={**settings_env(settings), "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert cli.returncode == 0, cli.stderr[-2000:]
    assert float(store.version_by_alias("champion").tags["decision_threshold"]) == trained
    assert [e.kind for e in history(store, "1")] == ["refit", "rollback"]
    _wait_for_threshold(service, trained)
    # nothing left to undo: a clear error, and the threshold stays
    again = subprocess.run(
        [str(Path(sys.executable).parent / "ml-assets"), "rollback-threshold"],
        env={**settings_env(settings), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode != 0 and "no threshold re-fit to roll back" in again.stderr
    assert float(store.version_by_alias("champion").tags["decision_threshold"]) == trained
