"""Many rollouts judged in process on a simulated clock, at the default settings: how often the
controller aborts a challenger that is no worse (false aborts), and how a starved step ends.

The paired evidence is real: every transaction of a pool is scored once by both models through
the service's own reader and scorer (per request, as the service scores, with its predict times).
Each simulated rollout then draws requests from that pool at a Poisson rate on a clock of its
own, through the real controller (a dry run: nothing is written to the registry), until the
challenger is promoted, aborted, or ends inconclusive. The clock is simulated so 100 rollouts of
several minutes each take seconds; the statistics judged are the ones the service judges."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np

from ml_assets.core import engines
from ml_assets.core.rollout import RolloutController, RolloutPolicy
from ml_assets.core.settings import Settings


@dataclasses.dataclass(frozen=True)
class PairedPool:
    """Both arms' score of each transaction of a pool, the customer it routes by, and the
    measured predict seconds of each call."""

    champion: np.ndarray
    challenger: np.ndarray
    keys: list
    champion_seconds: np.ndarray
    challenger_seconds: np.ndarray

    def __len__(self) -> int:
        return len(self.champion)


class _Recorder(RolloutController):
    """The real scorer's paired scores, recorded instead of judged."""

    pairs: list

    def observe(self, routing, champion_scores, challenger_scores, canary_requests, champion_s, challenger_s):
        self.pairs.append((float(champion_scores[0]), float(challenger_scores[0]), champion_s, challenger_s))


def paired_pool(s: Settings, challenger: str, transactions: list[dict]) -> PairedPool:
    """Score each transaction alone with the champion and ``challenger`` (every request paired)."""
    from ml_assets.core.model_store import CHALLENGER
    from ml_assets.core.scoring import ServingModel
    from ml_assets.core.serving import HASH_KEY, OnlineScorer

    store = engines.model_store(s)
    policy = dataclasses.replace(RolloutPolicy.from_settings(s), steps=(0.0,), shadow_share=1.0)
    recorder = _Recorder(store, policy, load=None, dry_run=True)
    recorder.pairs = []
    recorder.set_champion(ServingModel.champion(store))
    recorder.start(ServingModel.by_version(store, challenger, CHALLENGER))
    scorer = OnlineScorer(engines.feature_repo(s), recorder, store.model_name)
    for t in transactions:
        scorer.score([{**t, "timestamp": dt.datetime.fromisoformat(t["timestamp"])}])
    champion, other, champion_s, other_s = (np.asarray(c) for c in zip(*recorder.pairs, strict=True))
    return PairedPool(champion, other, [t[HASH_KEY] for t in transactions], champion_s, other_s)


@dataclasses.dataclass(frozen=True)
class SimulatedRollout:
    outcome: str  # promoted | rolled_back | inconclusive | undecided
    requests: int
    seconds: float  # simulated
    reasons: tuple[str, ...]  # the deciding verdict's


def simulate(
    pool: PairedPool,
    controller_for,  # clock -> a RolloutController with the champion set and the rollout started
    rollouts: int,
    requests_per_second: float,
    seed: int = 0,
    max_seconds: float = 3600.0,
) -> list[SimulatedRollout]:
    """``rollouts`` rollouts, each on its own clock and its own draw of requests from ``pool``."""
    out = []
    for r in range(rollouts):
        rng = np.random.default_rng([seed, r])
        now = [0.0]
        controller = controller_for(lambda now=now: now[0])
        version = controller.routing.challenger.version
        sent, next_poll = 0, 1.0
        while controller.routing.challenger is not None and now[0] < max_seconds:
            arrival = now[0] + rng.exponential(1 / requests_per_second)
            while next_poll <= arrival and controller.routing.challenger is not None:
                now[0], next_poll = next_poll, next_poll + 1.0  # the watcher's poll, every second here
                controller.check_progress()
            if controller.routing.challenger is None:
                break
            now[0] = arrival
            i = int(rng.integers(len(pool)))
            routing = controller.routing
            canary = routing.canary(pool.keys[i])
            if canary or routing.shadowed(f"{r}-{sent}"):
                controller.observe(
                    routing,
                    pool.champion[i : i + 1],
                    pool.challenger[i : i + 1],
                    int(canary),
                    float(pool.champion_seconds[i]),
                    float(pool.challenger_seconds[i]),
                )
            sent += 1
        deciding = [v for v in controller.history if v.outcome not in ("hold",)]
        out.append(
            SimulatedRollout(
                controller.ended.get(version, "undecided"),
                sent,
                now[0],
                deciding[-1].reasons if deciding else (),
            )
        )
    return out
