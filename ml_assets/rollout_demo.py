"""The rollout scenario (`ml-assets rollout-demo`, after `make dev`): two challengers rolled
out against the champion through the real scoring service, on real HTTP traffic.

1. A clearly worse challenger: the champion's recipe trained on the same training set with
   its labels shuffled. Offline it would never pass the gate, so the demo admits it past the
   gate on purpose (tagged so in MLflow), to show the live guard catching what slipped
   through; the controller must roll it back.
2. An equally good challenger: the same recipe and data with another seed, also admitted by
   the demo (a same-recipe retrain rarely clears the gate's minimum gain). The controller
   must walk every step and promote it; the old champion becomes previous_champion
   (`make rollback` returns to it).

Traffic is the newest lake day's transactions (their features are in the online store),
posted one at a time on loopback, bounded in count. The plot shows each judged window's
paired numbers per arm and the decisions."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ml_assets.core import engines
from ml_assets.core.settings import Settings


@dataclasses.dataclass(frozen=True)
class ScenarioResult:
    name: str
    version: str
    outcome: str  # rolled_back | promoted | undecided
    requests: int  # client requests sent during the rollout
    challenger_requests: int  # requests the challenger scored (shadow or canary) until the decision
    failed_requests: int
    verdicts: list[dict]
    champion_after: str | None


def _champion_training_set(s: Settings, store) -> Path:
    """The training set the champion was trained on (its lineage tags name it)."""
    from ml_assets.core.model_store import CHAMPION

    tags = store.version_by_alias(CHAMPION).tags
    path = s.training_sets_dir / f"as_of={tags['as_of']}" / f"{tags['training_set_hash']}.parquet"
    if not path.exists():
        raise RuntimeError(f"the champion's training set {path} is gone: run `make dev` first")
    return path


def train_challenger(s: Settings, shuffle_labels: bool, seed: int, reason: str) -> str:
    """A new registered version (alias ``challenger``) from the champion's training set,
    admitted to a rollout by the demo (the tag says so)."""
    from ml_assets.core.model import TARGET, Hyperparameters, train
    from ml_assets.core.monitoring.fitting import fit_and_store
    from ml_assets.core.registry import rollout
    from ml_assets.core.training.dataset import SPLIT, save_training_set, training_window
    from ml_assets.core.training.tracking import TrainedModel, log_and_register, validate

    repo, store = engines.feature_repo(s), engines.model_store(s)
    specs = repo.specs
    source = _champion_training_set(s, store)
    frame = pd.read_parquet(source)
    if shuffle_labels:
        rng = np.random.default_rng(seed)
        train_rows = frame[SPLIT] == "train"
        frame.loc[train_rows, TARGET] = rng.permutation(frame.loc[train_rows, TARGET].to_numpy())
    as_of = dt.date.fromisoformat(source.parent.name.removeprefix("as_of="))
    record = save_training_set(frame, as_of, training_window(as_of, s), s, specs.FEATURE_SERVICE)
    params = Hyperparameters(seed=seed)
    model = train(frame[frame[SPLIT] == "train"], params, specs, s.train_threads)
    fitted = TrainedModel(
        model, frame, validate(model, frame[frame[SPLIT] == "validation"], specs.model_features(), s)
    )
    registered = log_and_register(store, fitted, params, record, "rollout-demo", specs)
    # its monitors at registration, as train_and_promote fits them: a rolled-out version may become
    # champion, and the next daily cycle monitors the days it scores
    fit_and_store(store, registered, specs, s)
    version = registered.version
    rollout.admit(store, version, f"rollout demo: {reason} (admitted past the offline gate on purpose)")
    store.tag_version(version, {"rollout_demo": reason})
    return version


def traffic(s: Settings, n: int) -> list[dict]:
    """Up to ``n`` transactions sampled from the newest lake day, as the service takes them."""
    from ml_assets.core import lake
    from ml_assets.serving.process import request_body

    days = lake.existing_partitions(s.lake_dir, "raw_transactions")
    if not days:
        raise RuntimeError(f"no transactions in {s.lake_dir}: run `make dev` first")
    day = lake.read_partition(s.lake_dir, "raw_transactions", days[-1])
    # a sample of the whole day in time order (the first rows of a day are its riskiest hours)
    frame = day.sample(min(n, len(day)), random_state=0).sort_values("event_timestamp")
    return [request_body(r) for r in frame.itertuples()]


def judge_in_process(
    s: Settings, challenger: str, transactions: list[dict], requests: int
) -> tuple[int, int, int]:
    """A dry-run rollout of ``challenger`` on ``requests`` transactions through the real reader
    and scorer in this process, every request paired, judged in fresh windows of
    ``rollout_min_samples`` at a 5% canary (as many steps as it takes: it never completes).
    Returns (windows judged, windows failed, requests sent): the false-rollback measure."""
    from ml_assets.core.model_store import CHALLENGER
    from ml_assets.core.rollout import RolloutController, RolloutPolicy
    from ml_assets.core.scoring import ServingModel
    from ml_assets.core.serving import OnlineScorer

    store = engines.model_store(s)
    policy = dataclasses.replace(
        RolloutPolicy.from_settings(s), min_step_seconds=0.0, steps=(0.05,) * requests
    )
    controller = RolloutController(store, policy, load=None, dry_run=True)
    controller.set_champion(ServingModel.champion(store))
    controller.start(ServingModel.by_version(store, challenger, CHALLENGER))
    scorer = OnlineScorer(engines.feature_repo(s), controller, store.model_name)
    sent = 0
    while sent < requests and controller.routing.challenger is not None:
        t = transactions[sent % len(transactions)]
        scorer.score([{**t, "timestamp": dt.datetime.fromisoformat(t["timestamp"])}])
        sent += 1
    judged = [v for v in controller.history if v.outcome != "hold"]
    controller.close()
    return len(judged), sum(v.outcome == "fail" for v in judged), sent


def drive(url: str, version: str, transactions: list[dict], max_requests: int, log) -> tuple[int, int, dict]:
    """Post transactions until the rollout of ``version`` ends (or ``max_requests``); returns
    (requests sent, failed requests, the final rollout status)."""
    import requests

    session, sent, failed = requests.Session(), 0, 0
    status: dict = {}
    while sent < max_requests:
        body = transactions[sent % len(transactions)]
        try:
            if session.post(f"{url}/v1/score", json=body, timeout=10).status_code != 200:
                failed += 1
        except requests.RequestException:
            failed += 1
        sent += 1
        if sent % 25 == 0:
            status = session.get(f"{url}/v1/rollout", timeout=10).json()
            if version in status["ended"]:
                break
            if sent % 500 == 0:
                log(f"[rollout-demo]   {sent} requests, step {status['step']}, share {status['share']}")
    return sent, failed, session.get(f"{url}/v1/rollout", timeout=10).json()


def run_scenario(s: Settings, url: str, name: str, version: str, transactions, max_requests: int, log):
    from ml_assets.core.model_store import CHAMPION

    sent, failed, status = drive(url, version, transactions, max_requests, log)
    verdicts = [v for v in status["verdicts"] if v["version"] == version]
    ended = status["ended"].get(version, "undecided")
    deciding = [v for v in verdicts if v["outcome"] in ("pass", "fail")]
    scored = sum(v["samples"] for v in deciding) if deciding else 0
    time.sleep(1.5)  # the registry write lands off the request path
    result = ScenarioResult(
        name,
        version,
        ended,
        sent,
        scored,
        failed,
        verdicts,
        engines.model_store(s).alias_version(CHAMPION),
    )
    log(
        f"[rollout-demo] {name}: version {version} {ended} after {sent} requests "
        f"({scored} scored by the challenger in judged windows), {failed} failed; "
        f"champion {result.champion_after}"
    )
    return result


def plot(results: list[ScenarioResult], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(6.5 * len(results), 4.2), squeeze=False)
    for ax, r in zip(axes[0], results, strict=True):
        judged = [v for v in r.verdicts if v["outcome"] in ("pass", "fail")]
        x = np.cumsum([v["samples"] for v in judged])
        ax.plot(x, [v["rank_correlation"] for v in judged], "o-", label="rank correlation (paired)")
        ax.plot(x, [v["score_ks"] for v in judged], "s-", label="score KS distance")
        ax.plot(x, [v["flag_rate_champion"] for v in judged], "^--", label="flag rate, champion")
        ax.plot(x, [v["flag_rate_challenger"] for v in judged], "v--", label="flag rate, challenger")
        for xi, v in zip(x, judged, strict=True):
            color = "#2a2" if v["outcome"] == "pass" else "#c22"
            ax.axvline(xi, color=color, alpha=0.3)
            ax.annotate(
                f"step {v['step']} ({v['share']:.0%}) {v['outcome']}",
                (xi, 1.02),
                rotation=90,
                fontsize=7,
                ha="right",
                va="top",
                xycoords=("data", "axes fraction"),
                color=color,
            )
        ax.set_title(f"{r.name}: v{r.version} {r.outcome}")
        ax.set_xlabel("challenger-scored requests (cumulative, judged windows)")
        ax.set_ylim(-0.05, 1.05)
        ax.legend(fontsize=7, loc="center right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def rollout_demo(s: Settings, max_requests: int = 3000, log=None) -> list[ScenarioResult]:
    from ml_assets.core.model_store import CHAMPION
    from ml_assets.serving.process import ServiceProcess

    log = log or functools.partial(print, flush=True)
    if engines.model_store(s).alias_version(CHAMPION) is None:
        raise RuntimeError("no champion in the registry: run `make dev` first")
    # steps judged as soon as a window is full: the demo lasts seconds, not the hour a real rollout takes
    demo = s.model_copy(update={"rollout_min_step_seconds": 0.0})
    transactions = traffic(s, 2000)
    results = []
    with ServiceProcess(demo, extra_env={"ML_ASSETS_SERVE_RELOAD_SECONDS": "0.5"}) as service:
        service.wait_ready()
        log(f"[rollout-demo] service ready at {service.url}")
        for name, shuffle, seed in (
            ("worse challenger (shuffled labels)", True, 101),
            ("equal challenger (another seed)", False, 202),
        ):
            version = train_challenger(s, shuffle, seed, name)
            log(f"[rollout-demo] {name}: registered version {version}; the service picks it up")
            results.append(run_scenario(s, service.url, name, version, transactions, max_requests, log))
    png = s.reports_dir / "rollout_demo.png"
    plot(results, png)
    log(f"[rollout-demo] plot: {png}")
    return results
