"""Progressive delivery: the canary split, the verdicts, and whole rollouts through the real
service (`ml-assets serve` on loopback, the real MLflow registry re-read after every move)."""

import collections
import dataclasses
import json
import re
import time

import dagster as dg
import numpy as np
import pytest
import requests
from conftest import repo_of, settings_for, store_of
from lakehelpers import build_offline
from servicehelpers import SERVED_WORLD, Service, free_port, transaction

from ml_assets.core import lake
from ml_assets.core.registry import rollout as registry
from ml_assets.core.rollout import RolloutPolicy, Routing, Window, bucket, judge
from ml_assets.core.settings import Settings

DAYS = 44
SIZE = SERVED_WORLD
POLICY = RolloutPolicy.from_settings(Settings())


# --- routing and verdicts, no service ---------------------------------------------------------
class _Model:
    def __init__(self, version):
        self.version, self.threshold = version, 0.5


def test_canary_share_within_one_point_over_20000_customers_and_sticky():
    routing = Routing(champion=_Model("1"), challenger=_Model("2"), share=0.05, salt="s:2")
    customers = range(20_000)
    arms = [routing.canary(c) for c in customers]
    assert abs(np.mean(arms) - 0.05) <= 0.01
    # sticky: the same customer meets the same arm on every request, in any process (no hash seed)
    again = Routing(champion=_Model("1"), challenger=_Model("2"), share=0.05, salt="s:2")
    assert arms == [again.canary(c) for c in customers]
    # a larger step keeps every canary customer in the canary (shares grow, customers stay)
    wider = dataclasses.replace(routing, share=0.25)
    assert all(wider.canary(c) for c, a in zip(customers, arms, strict=True) if a)
    assert abs(np.mean([wider.canary(c) for c in customers]) - 0.25) <= 0.01
    # the next rollout (another version, another salt) meets other customers: no stale routing
    following = dataclasses.replace(routing, salt="s:3")
    overlap = np.mean([following.canary(c) for c, a in zip(customers, arms, strict=True) if a])
    assert overlap < 0.15
    # no challenger, no canary and no shadow
    alone = Routing(champion=_Model("1"))
    assert not any(alone.canary(c) or alone.shadowed(str(c)) for c in range(1000))


def test_bucket_is_uniform():
    values = np.array([bucket(i, "x") for i in range(20_000)])
    assert values.min() >= 0 and values.max() < 1
    assert np.histogram(values, bins=10, range=(0, 1))[0].min() > 1_800


def _window(champion, challenger, threshold=0.5, started=0.0):
    w = Window(started)
    w.champion, w.challenger = list(champion), list(challenger)
    w.champion_flags = [c > threshold for c in champion]
    w.challenger_flags = [c > threshold for c in challenger]
    w.attempts = len(champion)
    w.champion_seconds = w.challenger_seconds = [0.0005] * len(champion)
    return w


def test_verdict_holds_on_too_little_evidence_or_time_and_judges_paired_scores():
    rng = np.random.default_rng(0)
    policy = dataclasses.replace(POLICY, min_samples=100, min_step_seconds=60)
    scores = rng.beta(0.5, 8, 400)
    # fewer paired requests than the minimum: hold, never pass, even when identical
    assert judge(_window(scores[:99], scores[:99]), policy, "2", 0, 0.0, now=1000).outcome == "hold"
    # enough requests, identical scores, but the step is younger than its minimum: hold
    young = judge(_window(scores, scores), policy, "2", 0, 0.0, now=10)
    assert young.outcome == "hold" and "60 s" in young.reasons[0]
    same = judge(_window(scores, scores), policy, "2", 0, 0.0, now=61)
    assert same.outcome == "pass" and same.rank_correlation == pytest.approx(1) and same.score_ks == 0
    # a model that agrees on the ranking up to noise passes
    close = np.clip(scores * rng.normal(1, 0.1, len(scores)), 0, 1)
    assert judge(_window(scores, close), policy, "2", 0, 0.0, now=61).outcome == "pass"
    # a model unrelated to the champion fails, on the same requests, at once
    unrelated = rng.permutation(scores)
    verdict = judge(_window(scores, unrelated), policy, "2", 0, 0.0, now=1)
    assert verdict.outcome == "fail" and any("rank correlation" in r for r in verdict.reasons)
    # a model that flags far more transactions fails on the decision rate
    eager = judge(_window(scores, scores, threshold=0.5), policy, "2", 0, 0.0, now=61)
    assert eager.outcome == "pass"
    w = _window(scores, scores)
    w.challenger_flags = [c > 0.02 for c in scores]
    assert any("flag rate" in r for r in judge(w, policy, "2", 0, 0.0, now=61).reasons)
    # a 7-point gap on 100 requests that split 9 to 2 on their disagreements is noise (z 2.1)
    noisy = _window(scores[:100], scores[:100])
    noisy.champion_flags = [True] * 47 + [False] * 53
    noisy.challenger_flags = [True] * 38 + [False] * 9 + [True] * 2 + [False] * 51
    assert not any("flag rate" in r for r in judge(noisy, policy, "2", 0, 0.0, now=61).reasons)
    # one pause in a window is not a slow model; a model slow on every request is
    paused = _window(scores, scores)
    paused.challenger_seconds = [0.0005] * 399 + [0.05]
    assert judge(paused, policy, "2", 0, 0.0, now=61).outcome == "pass"
    slow = _window(scores, scores)
    slow.challenger_seconds = [0.005] * 400
    assert any("predict p99" in r for r in judge(slow, policy, "2", 0, 0.0, now=61).reasons)
    # a challenger that keeps raising fails on errors alone (it builds no paired window)
    broken = Window(0.0)
    broken.attempts, broken.errors = 50, 50
    assert judge(broken, policy, "2", 0, 0.0, now=1).outcome == "fail"


def test_the_embedded_lease_has_one_holder_and_the_evidence_table_every_replica(tmp_path):
    """core/rollout/shared.py on the embedded profile: a file lock, a SQLite table."""
    from ml_assets.core.rollout.shared import Call, shared_rollout

    settings = Settings(data_dir=tmp_path)
    first, second = shared_rollout(settings), shared_rollout(settings)  # two replicas' views
    assert first.lease.held() and not second.lease.held() and first.lease.held()
    first.lease.release()  # or its process dies: the OS releases the lock
    assert second.lease.held() and not first.lease.held()
    call = Call([0.1, 0.2], [0.15, 0.1], [False, True], [False, False], 0.001, None, 1)
    for replica in (first, second):
        replica.record("7", 2, call)
        replica.flush()
    window = second.evidence.window("7", 2)
    # a call whose challenger raised counts as an attempt and an error, with no pairs
    assert (len(window), window.attempts, window.errors) == (0, 2, 2)
    assert first.evidence.step_started("7", 2) == window.started
    assert first.evidence.window("7", 3).attempts == 0  # a step's evidence is its own


# --- whole rollouts through the service -----------------------------------------------------------
@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """44 days of lake, a champion (v1), the online store loaded for the last day."""
    from ml_assets.definitions import build_definitions

    root = tmp_path_factory.mktemp("rollout")
    settings = settings_for(root / "data", **SIZE)
    build_offline(settings, DAYS)
    repo = repo_of(settings)
    repo.apply()
    (root / "dagster").mkdir()
    with dg.instance_for_test(temp_dir=str(root / "dagster")) as instance:
        config = {"ops": {"training_set": {"config": {"as_of": str(settings.day(DAYS))}}}}
        result = (
            build_definitions(settings)
            .resolve_job_def("train_and_promote")
            .execute_in_process(instance=instance, run_config=config)
        )
        assert result.success
    last = settings.day(DAYS - 1)
    for view in repo.specs.FEATURE_VIEWS:
        repo.load_online_day(view.name, last)
    assert store_of(settings).alias_version("champion") == "1"
    rows = lake.read_partition(settings.lake_dir, "raw_transactions", last)
    return settings, [transaction(r) for r in rows.itertuples()]


@pytest.fixture
def service(world):
    """A service judging steps as soon as a window is full (no minimum step time)."""
    settings, _ = world
    svc = Service(
        settings,
        free_port(),
        {"ML_ASSETS_ROLLOUT_MIN_STEP_SECONDS": "0", "ML_ASSETS_SERVE_ADMIN_TOKENS": json.dumps(ADMIN)},
    )
    svc.wait_ready()
    yield svc
    svc.stop()


ADMIN = {"release-bot": "rb-" + "5" * 40}  # the admin endpoints' token of this module's service


def _tags_once(store, version, tag, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tags = store.client().get_model_version("fraud_model", version).tags
        if tag in tags:
            return tags
        time.sleep(0.2)
    raise TimeoutError(f"version {version} has no tag {tag} after {timeout} s: {tags}")


def _wait_rollout(url, version, timeout=20):
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        status = requests.get(f"{url}/v1/rollout", timeout=10).json()
        if status["challenger"] == version:
            return status
        time.sleep(0.2)
    raise TimeoutError(f"the service did not start the rollout of {version}: {status}")


def _eventually(read, done, timeout=30):
    """``read()`` again until ``done`` says yes of what it returned (bounded): the service ends a
    rollout and reloads the champion on its own poll, and a loaded machine delays it."""
    started = time.monotonic()
    while not done(value := read()) and time.monotonic() - started < timeout:
        time.sleep(0.2)
    return value


def _post(url, tx):
    return requests.post(f"{url}/v1/score", json=tx, timeout=10)


def _challenger(world, shuffle, seed):
    from ml_assets.rollout_demo import train_challenger

    settings, _ = world
    return train_challenger(settings, shuffle, seed, "test")


@pytest.mark.slow
def test_a_worse_challenger_is_rolled_back_in_its_first_window_and_no_request_fails(world, service):
    from ml_assets.rollout_demo import drive

    settings, txs = world
    store = store_of(settings)
    champion = store.alias_version("champion")
    bad = _challenger(world, shuffle=True, seed=11)
    _wait_rollout(service.url, bad)
    sent, failed, status = drive(service.url, bad, txs, 1000, lambda *_: None)
    assert failed == 0 and status["ended"].get(bad) == "rolled_back", status
    verdicts = [v for v in status["verdicts"] if v["version"] == bad]
    assert (
        verdicts[-1]["outcome"] == "fail"
        and sum(v["samples"] for v in verdicts if v["outcome"] != "hold") <= 200
    )
    assert sent <= 300
    # answered by the champion throughout; the registry, re-read, says who serves and why
    assert {_post(service.url, tx).json()["model_version"] for tx in txs[:50]} == {champion}
    tags = _eventually(
        lambda: store.client().get_model_version("fraud_model", bad).tags,
        lambda t: t.get("rollout_status") == "rolled_back",
    )
    assert tags["rollout_status"] == "rolled_back" and "rank correlation" in tags["rollout_reason"]
    assert store.alias_version("champion") == champion and store.alias_version("challenger") is None
    metrics = requests.get(f"{service.url}/metrics", timeout=10).text
    assert "ml_assets_serving_rollout_aborts_total 1.0" in metrics
    # the decision in the service's log, at INFO, with the id of the request that completed it
    logged = rf"INFO ml_assets\.core\.rollout\.controller \[[0-9a-f]{{32}}\] rollout of version {bad}, "
    logged += r"step 0 \(share [0-9.]+\): fail on \d+ paired requests"
    assert re.search(logged, service.read_log()), service.read_log()


@pytest.mark.slow
def test_the_same_model_on_both_arms_is_never_rolled_back(world):
    """2,000 real requests in process (reader, scorer, controller; the registry untouched),
    judged in 20 fresh windows: identical scores must never fail a window, whatever the
    timers say."""
    from ml_assets.rollout_demo import judge_in_process

    settings, txs = world
    champion = store_of(settings).alias_version("champion")
    before = store_of(settings).client().get_model_version("fraud_model", champion).tags
    judged, failed, sent = judge_in_process(settings, champion, txs, 2000)
    assert (judged, failed, sent) == (20, 0, 2000)
    assert store_of(settings).client().get_model_version("fraud_model", champion).tags == before  # a dry run


def _simulated(settings, challenger: str, **policy):
    """A controller factory for rollout_simulation: the world's champion against ``challenger``,
    at the default policy (as ``policy`` overrides), a dry run on the given clock."""
    from ml_assets.core import engines
    from ml_assets.core.model_store import CHALLENGER
    from ml_assets.core.rollout import RolloutController
    from ml_assets.core.scoring import ServingModel

    store = engines.model_store(settings)
    champion, other = ServingModel.champion(store), ServingModel.by_version(store, challenger, CHALLENGER)
    rules = dataclasses.replace(RolloutPolicy.from_settings(settings), **policy)

    def controller_for(clock):
        controller = RolloutController(store, rules, load=None, clock=clock, dry_run=True)
        controller.set_champion(champion)
        controller.start(other)
        return controller

    return controller_for


@pytest.mark.scenario  # a statistic of 200 rollouts: `make scenarios` (CI runs it after `make test`)
def test_no_false_abort_in_100_rollouts_each_at_the_default_settings(world):
    """The same model on both arms, then an equally good retrain (the champion's recipe and data,
    another seed): 100 whole rollouts of each at the default policy (60 s steps, looks at sample
    sizes 10% apart), on a simulated clock at 20 requests/s: every one promoted, none aborted."""
    from ml_assets.rollout_simulation import paired_pool, simulate

    settings, txs = world
    champion = store_of(settings).alias_version("champion")
    assert RolloutPolicy.from_settings(settings) == RolloutPolicy.from_settings(Settings())  # the defaults
    equal = _challenger(world, shuffle=False, seed=303)
    try:
        outcomes = {}
        for name, version in (("same model", champion), ("equal retrain", equal)):
            pool = paired_pool(settings, version, txs)
            runs = simulate(pool, _simulated(settings, version), rollouts=100, requests_per_second=20, seed=7)
            outcomes[name] = collections.Counter(r.outcome for r in runs)
            print(name, outcomes[name], [r.reasons for r in runs if r.outcome != "promoted"][:5])
        assert outcomes == {"same model": {"promoted": 100}, "equal retrain": {"promoted": 100}}, outcomes
    finally:
        registry.abort(store_of(settings), equal, "test over", {})


@pytest.mark.slow
def test_a_starved_step_ends_inconclusive_at_its_deadline_and_the_registry_says_so(world):
    """Too few requests for a verdict: at the progress deadline the challenger stops serving and
    the registry tags it inconclusive (not rolled back: nothing says it is worse)."""
    from ml_assets.core import engines
    from ml_assets.core.model_store import CHALLENGER
    from ml_assets.core.rollout import RolloutController
    from ml_assets.core.scoring import ServingModel
    from ml_assets.rollout_simulation import paired_pool, simulate

    settings, txs = world
    equal = _challenger(world, shuffle=False, seed=304)
    pool = paired_pool(settings, equal, txs[:200])
    (starved,) = simulate(pool, _simulated(settings, equal), rollouts=1, requests_per_second=0.1, seed=1)
    assert starved.outcome == "inconclusive" and 600 <= starved.seconds < 602, starved
    assert "past its progress deadline of 600 s" in starved.reasons[0]
    # the same end through the registry: the alias goes, the status says why
    store = engines.model_store(settings)
    now = [0.0]
    policy = RolloutPolicy.from_settings(settings)
    controller = RolloutController(store, policy, load=None, clock=lambda: now[0])
    controller.set_champion(ServingModel.champion(store))
    controller.start(ServingModel.by_version(store, equal, CHALLENGER))
    assert controller.check_progress() is None  # within its deadline: nothing happens
    now[0] = 601.0
    assert controller.check_progress().outcome == "inconclusive" and controller.routing.challenger is None
    controller.close()  # the registry move lands
    tags = store.client().get_model_version(store.model_name, equal).tags
    assert tags["rollout_status"] == "inconclusive" and "progress deadline" in tags["rollout_reason"]
    assert store.alias_version("challenger") is None


@pytest.mark.slow
def test_shadow_never_changes_a_response_and_a_restart_resumes_the_step(world):
    settings, txs = world
    store = store_of(settings)
    champion = store.alias_version("champion")
    # a long shadow step: the window never fills, so the rollout holds at step 0
    held = {"ML_ASSETS_ROLLOUT_MIN_SAMPLES": "100000"}
    svc = Service(settings, free_port(), held)
    svc.wait_ready()
    try:
        before = [_post(svc.url, tx).json() for tx in txs[:200]]
        equal = _challenger(world, shuffle=False, seed=12)
        assert _wait_rollout(svc.url, equal)["step"] == 0
        during = [_post(svc.url, tx).json() for tx in txs[:200]]
        assert [(r["score"], r["model_version"], r["arm"]) for r in during] == [
            (r["score"], r["model_version"], r["arm"]) for r in before
        ]
        assert requests.get(f"{svc.url}/v1/rollout", timeout=10).json()["window_samples"] >= 200
    finally:
        svc.stop()
    # the shadow scores reached the log, named by version and arm, beside the answers
    from ml_assets.core.warehouse import Warehouse

    arms = Warehouse(settings.warehouse_path).query(
        "SELECT arm, model_version, count(*) AS n FROM prediction_log WHERE source = 'online' "
        "AND transaction_id = ? GROUP BY ALL",
        [txs[0]["transaction_id"]],
    )
    assert {(r.arm, r.model_version) for r in arms.itertuples()} >= {
        ("champion", champion),
        ("shadow", equal),
    }
    # the registry says step 2: a restarted service resumes there (a fresh window, same routing)
    registry.record_step(store, equal, 2, {"test": True})
    svc = Service(settings, free_port(), held)
    svc.wait_ready()
    try:
        status = _wait_rollout(svc.url, equal)
        assert status["step"] == 2 and status["share"] == settings.rollout_steps[2]
        arms = {_post(svc.url, tx).json()["arm"] for tx in txs[:300]}
        assert arms == {"champion", "canary"}
        # a person aborts from the CLI (the registry); the service stops routing within a poll
        from ml_assets.cli import main

        main(["rollout", "abort", "--reason", "operator test"], settings=settings)
        deadline = time.monotonic() + 10
        while (
            requests.get(f"{svc.url}/v1/rollout", timeout=10).json()["challenger"]
            and time.monotonic() < deadline
        ):
            time.sleep(0.2)
        answers = [_post(svc.url, tx).json() for tx in txs[:300]]
        assert {(r["arm"], r["model_version"]) for r in answers} == {("champion", champion)}
        tags = store.client().get_model_version("fraud_model", equal).tags
        assert tags["rollout_status"] == "rolled_back" and tags["rollout_reason"] == "operator test"
    finally:
        svc.stop()


@pytest.mark.slow
def test_back_to_back_rollouts_promote_and_leave_no_stale_routing(world, service):
    from ml_assets.rollout_demo import drive

    settings, txs = world
    store = store_of(settings)
    first_champion = store.alias_version("champion")
    try:
        good = _challenger(world, shuffle=False, seed=13)
        _wait_rollout(service.url, good)
        sent, failed, status = drive(service.url, good, txs, 3000, lambda *_: None)
        assert failed == 0 and status["ended"].get(good) == "promoted", status
        steps = [v["step"] for v in status["verdicts"] if v["version"] == good and v["outcome"] == "pass"]
        assert steps == list(range(len(settings.rollout_steps)))
        _eventually(lambda: store.alias_version("champion"), lambda v: v == good)
        assert (
            store.alias_version("champion") == good
            and store.alias_version("previous_champion") == first_champion
        )
        # the promotion's record follows the alias move, a tag at a time; rollout_replaced is its last
        tags = _tags_once(store, good, "rollout_replaced")
        assert tags["rollout_status"] == "promoted" and "rank_correlation" in tags["rollout_evidence"]
        models = _eventually(
            lambda: requests.get(f"{service.url}/v1/models", timeout=10).json()["models"],
            lambda ms: [m["model_version"] for m in ms] == [good],
        )
        assert [(m["alias"], m["model_version"]) for m in models] == [("champion", good)]
        # the next challenger starts over in shadow: nobody is routed by the last rollout's split
        # (50 requests: fewer than a window, so the first step cannot have passed yet)
        following = _challenger(world, shuffle=False, seed=14)
        status = _wait_rollout(service.url, following)
        assert status["step"] == 0 and status["share"] == 0.0
        answers = [_post(service.url, tx).json() for tx in txs[:50]]
        assert {(r["arm"], r["model_version"]) for r in answers} == {("champion", good)}
        admin = {"Authorization": f"Bearer {ADMIN['release-bot']}"}
        no_token = requests.post(f"{service.url}/v1/rollout/abort", json={"reason": "test over"}, timeout=10)
        assert no_token.status_code == 401
        assert requests.get(f"{service.url}/v1/rollout", timeout=10).json()["challenger"] == following
        requests.post(
            f"{service.url}/v1/rollout/abort", json={"reason": "test over"}, headers=admin, timeout=10
        ).raise_for_status()
        assert requests.get(f"{service.url}/v1/rollout", timeout=10).json()["challenger"] is None
        tags = _tags_once(store, following, "rollout_rolled_back_by")  # the move lands on its own thread
        assert tags["rollout_rolled_back_by"] == "operator:release-bot"  # who acted; the token nowhere
        assert ADMIN["release-bot"] not in json.dumps(tags)
        assert (
            requests.post(f"{service.url}/v1/rollout/promote", headers=admin, timeout=10).status_code == 409
        )
    finally:
        store.set_alias("champion", first_champion)


def test_realized_quality_by_arm_rolls_back_a_challenger_worse_on_labelled_traffic(tmp_path):
    """The log holds both arms' scores of the same online transactions; once the labels of
    their days are complete, a challenger clearly worse on them is rolled back."""
    import datetime as dt

    import pandas as pd

    from ml_assets.core.model_store import ModelStore
    from ml_assets.core.monitoring.online import realized_by_arm
    from ml_assets.core.rollout import RolloutController
    from ml_assets.core.warehouse import PREDICTION_LOG, Warehouse

    rng = np.random.default_rng(3)
    warehouse, lake_dir = Warehouse(tmp_path / "w.duckdb"), tmp_path / "lake"
    day, delay = dt.date(2026, 3, 1), 3
    fraud = rng.random(2000) < 0.05
    ids = [f"t{i}" for i in range(2000)]
    good = np.clip(0.5 * fraud + rng.random(2000) * 0.6, 0, 1)  # ranks the frauds first, mostly
    bad = rng.random(2000)  # knows nothing
    rows = pd.concat(
        [
            pd.DataFrame({"transaction_id": ids, "model_version": v, "score": s, "arm": a})
            for v, s, a in (("1", good, "champion"), ("2", bad, "shadow"))
        ]
    ).assign(partition_date=day, source="online")
    warehouse.append(PREDICTION_LOG, rows)
    arrived = pd.DataFrame({"transaction_id": np.array(ids)[fraud]})
    arrived = arrived.assign(
        transaction_timestamp=pd.Timestamp(day, tz="UTC"),
        is_fraud=True,
        arrived_at=pd.Timestamp(day, tz="UTC"),
    )
    # labels not complete yet (the newest arrivals are from day + 1): no verdict from realized quality
    lake.write_partition(arrived, lake_dir, "label_arrivals", day + dt.timedelta(days=1))
    assert realized_by_arm(warehouse, lake_dir, "1", "2", delay) is None
    lake.write_partition(arrived.head(0), lake_dir, "label_arrivals", day + dt.timedelta(days=delay))
    found = realized_by_arm(warehouse, lake_dir, "1", "2", delay)
    assert found.transactions == 2000 and found.positives == int(fraud.sum())
    assert found.champion_roc_auc > 0.8 and abs(found.challenger_roc_auc - 0.5) < 0.1

    store = ModelStore.local(tmp_path / "mlflow")
    policy = dataclasses.replace(POLICY, realized_check_seconds=0.0)
    controller = RolloutController(
        store, policy, load=None, realized=lambda a, b: realized_by_arm(warehouse, lake_dir, a, b, delay)
    )
    controller.set_champion(_Model("1"))
    controller.start(_Model("2"), step=2)
    assert controller.check_realized() == found
    assert controller.routing.challenger is None and controller.ended == {"2": "rolled_back"}
    # the same challenger with the champion's own scores passes: nothing is rolled back
    controller.start(_Model("1"), step=0)
    again = controller.check_realized()
    assert again.challenger_roc_auc == again.champion_roc_auc and controller.routing.challenger is not None
    controller.close()


def _counter(url: str, name: str) -> float:
    text = requests.get(f"{url}/metrics", timeout=10).text
    return float(re.search(rf"^{name} (\S+)$", text, re.M).group(1))


def _until_ended(services, version: str, txs, max_requests: int = 4000) -> list[dict]:
    """Requests alternated between the replicas until every one says the rollout ended."""
    for sent in range(max_requests):
        response = _post(services[sent % len(services)].url, txs[sent % len(txs)])
        assert response.status_code == 200, response.text
        if sent % 40 == 39:
            statuses = [requests.get(f"{s.url}/v1/rollout", timeout=10).json() for s in services]
            if all(version in st["ended"] for st in statuses):
                return statuses
    raise TimeoutError(f"the rollout of {version} did not end on every replica: {statuses}")


@pytest.mark.slow
def test_two_replicas_serve_one_rollout_and_a_killed_leader_is_replaced(world):
    """Two service processes on one registry (ML_ASSETS_ROLLOUT_SHARED), a client alternating
    between them: one judgement per rollout whichever replica saw the requests, the same arm for
    the same customer on both, and the other replica takes over when the leader dies mid-step."""
    settings, txs = world
    store = store_of(settings)
    first_champion = store.alias_version("champion")
    env = {"ML_ASSETS_ROLLOUT_SHARED": "true", "ML_ASSETS_ROLLOUT_MIN_STEP_SECONDS": "0"}
    replicas = [Service(settings, free_port(), env), Service(settings, free_port(), env)]
    try:
        for svc in replicas:
            svc.wait_ready()
        # a worse challenger: rolled back once, by one replica, and both route nothing to it
        bad = _challenger(world, shuffle=True, seed=21)
        for svc in replicas:
            _wait_rollout(svc.url, bad)
        statuses = _until_ended(replicas, bad, txs)
        assert [st["ended"][bad] for st in statuses] == ["rolled_back"] * 2
        assert all(st["challenger"] is None and st["share"] == 0.0 for st in statuses)
        assert sum(_counter(s.url, "ml_assets_serving_rollout_aborts_total") for s in replicas) == 1
        assert sum(st["leader"] for st in statuses) == 1
        assert _tags_once(store, bad, "rollout_rolled_back_by")["rollout_status"] == "rolled_back"
        # an equal one: the same arm for the same customer on both replicas, promoted once
        equal = _challenger(world, shuffle=False, seed=22)
        for svc in replicas:
            _wait_rollout(svc.url, equal)
        for sent in range(4000):  # to a canary step on both
            _post(replicas[sent % 2].url, txs[sent % len(txs)])
            steps = [requests.get(f"{s.url}/v1/rollout", timeout=10).json()["step"] for s in replicas]
            if sent % 20 == 19 and all(step is not None and step >= 1 for step in steps):
                break

        def steps() -> list:
            return [requests.get(f"{s.url}/v1/rollout", timeout=10).json()["step"] for s in replicas]

        # one transaction to both replicas, while both stood at the same step of the rollout: once
        # it has ended, the follower answers with the old champion until its next poll (by design)
        pairs = []
        for tx in txs[:400]:
            before = steps()
            arms = [(r["arm"], r["model_version"]) for r in (_post(s.url, tx).json() for s in replicas)]
            if before == steps() and len(set(before)) == 1 and before[0] is not None:
                pairs.append(arms)
        assert all(a == b for a, b in pairs), pairs
        assert len(pairs) >= 100 and any(a == ("canary", equal) for a, _ in pairs), pairs
        statuses = _until_ended(replicas, equal, txs)
        assert [st["ended"][equal] for st in statuses] == ["promoted"] * 2
        assert sum(_counter(s.url, "ml_assets_serving_rollout_promotions_total") for s in replicas) == 1
        time.sleep(1.5)  # the follower loads the new champion on its next poll
        for svc in replicas:
            models = requests.get(f"{svc.url}/v1/models", timeout=10).json()["models"]
            assert [(m["alias"], m["model_version"]) for m in models] == [("champion", equal)]
        # the leader killed mid-step: the other replica takes the lease and completes the rollout
        following = _challenger(world, shuffle=False, seed=23)
        for svc in replicas:
            _wait_rollout(svc.url, following)
        for sent in range(4000):
            _post(replicas[sent % 2].url, txs[sent % len(txs)])
            status = [requests.get(f"{s.url}/v1/rollout", timeout=10).json() for s in replicas]
            if sent % 10 == 9 and all(st["step"] == 1 for st in status):
                break
        leader = next(i for i, st in enumerate(status) if st["leader"])
        replicas[leader].proc.kill()
        replicas[leader].proc.wait()
        survivor = replicas[1 - leader]
        (final,) = _until_ended([survivor], following, txs)
        assert final["ended"][following] == "promoted" and final["leader"], final
        assert _tags_once(store, following, "rollout_promoted_by")["rollout_status"] == "promoted"
        assert store.alias_version("champion") == following
    finally:
        for svc in replicas:
            svc.stop()
        store.set_alias("champion", first_champion)
        if store.alias_version("challenger") is not None:
            store.delete_alias("challenger")
