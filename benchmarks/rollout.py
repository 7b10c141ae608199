"""Detection figures of the rollout controller (`make bench-rollout`).

A served world in a temp folder (as benchmarks/serving.py builds it), then:
- the canary split over 20,000 distinct customers at the default share, and its stickiness;
- false rollbacks: the controller judging 10,000 requests in process (the real reader, both
  models, the real controller; registry moves into the temp registry), once with the same
  version on both arms and once with an equally good retrain (same recipe, another seed);
- the rollout scenario through the real HTTP service (ml_assets/rollout_demo.py): requests the
  worse challenger scored before its rollback, failed client requests, and the equal one's
  outcome.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.common import append_report

REQUESTS = 10_000


def _split(share: float) -> tuple[float, float]:
    from ml_assets.core.rollout import Routing

    class _Model:
        version, threshold = "x", 0.5

    routing = Routing(champion=_Model(), challenger=_Model(), share=share, salt="ml-assets:2")
    first = [routing.canary(c) for c in range(20_000)]
    again = [dataclasses.replace(routing).canary(c) for c in range(20_000)]
    return float(np.mean(first)), float(np.mean([a == b for a, b in zip(first, again, strict=True)]))


def run() -> None:
    from benchmarks.serving import build_world
    from ml_assets.core.model_store import CHAMPION, ModelStore
    from ml_assets.core.registry import rollout as registry
    from ml_assets.rollout_demo import judge_in_process, rollout_demo, traffic, train_challenger

    share, sticky = _split(0.05)
    with tempfile.TemporaryDirectory() as tmp:
        s = build_world(Path(tmp))
        store = ModelStore.local(s.mlflow_dir)
        champion = store.alias_version(CHAMPION)
        transactions = traffic(s, 4000)
        same = judge_in_process(s, champion, transactions, REQUESTS)
        equal_version = train_challenger(s, False, 303, "benchmark: equal challenger")
        equal = judge_in_process(s, equal_version, transactions, REQUESTS)
        registry.abort(store, equal_version, "benchmark over", {})  # the demo below starts clean
        results = rollout_demo(s, max_requests=3000, log=lambda *_: None)
    worse, good = results
    rows = [
        ["canary share, 20,000 distinct customers (setting 5%)", f"{share:.2%}", f"stickiness {sticky:.0%}"],
        [
            f"same version on both arms, {same[2]:,} requests in process",
            f"{same[1]} false rollbacks in {same[0]} judged windows of {s.rollout_min_samples}",
            "",
        ],
        [
            f"equally good retrain (another seed), {equal[2]:,} requests in process",
            f"{equal[1]} false rollbacks in {equal[0]} judged windows of {s.rollout_min_samples}",
            "",
        ],
        [
            "worse challenger (shuffled labels) through HTTP",
            f"{worse.outcome} after {worse.challenger_requests} challenger-scored requests",
            f"{worse.failed_requests} failed of {worse.requests} client requests",
        ],
        [
            "equal challenger through HTTP, steps 0 / 5 / 25 / 50% then 100%",
            f"{good.outcome} after {good.challenger_requests} challenger-scored requests",
            f"{good.failed_requests} failed of {good.requests} client requests",
        ],
    ]
    append_report(
        "Rollout detection (controller in the service, paired verdicts)",
        ["what", "result", "also"],
        rows,
        "Default policy (settings `rollout_*`: 100 paired requests a window, rank correlation >= 0.5, "
        "KS <= 0.3, "
        "flag-rate difference <= 0.05), step minimum time 0 for the HTTP scenario. Targets (issue 9): a "
        "clearly worse challenger rolled back within 200 of its own requests with 0 failed client requests; "
        "0 false rollbacks over 10,000 requests with the same version on both arms; canary share within "
        "+-1 point over 20,000 customers, stickiness 100%.",
    )


if __name__ == "__main__":
    run()
