"""Progressive delivery of the challenger, inside the scoring service.

Arms: ``champion`` answers; the ``challenger`` scores in *shadow* (unseen by the client) and,
at canary steps, *answers* for a stable share of customers (a salted hash of the customer
id, so a customer meets one arm for the whole rollout). Both models score the same request
on the same feature vector, so every comparison is paired: one extra predict (~0.1 ms).

The controller lives in the service, not in a Dagster sensor, because its evidence is
per request: it judges a step the moment a window holds enough paired requests (a broken
challenger is out within ``rollout_min_samples`` of its own requests, not at the next sensor
tick minutes later), and an abort changes routing in memory at once, before the registry
write lands. Its state lives in the registry (registry/rollout.py), so the CLI, the MLflow
UI and a restarted service all see the same rollout; a restart resumes at the recorded step
with a fresh window (the evidence of a half-finished window is not kept).

One service process holds the controller: with several replicas it would move out to a
process of its own that reads the prediction log."""

from __future__ import annotations

import collections
import concurrent.futures as cf
import dataclasses
import datetime as dt
import hashlib
import logging
import threading
import time
from collections.abc import Callable

import numpy as np

from ml_assets.core.model_store import CHAMPION, ModelStore
from ml_assets.core.monitoring.online import RealizedByArm
from ml_assets.core.registry import rollout as registry
from ml_assets.core.scoring import ServingModel
from ml_assets.core.settings import Settings

log = logging.getLogger(__name__)

CHAMPION_ARM, CANARY_ARM, SHADOW_ARM = "champion", "canary", "shadow"


def bucket(key: int | str, salt: str) -> float:
    """A stable number in [0, 1) for ``key`` under ``salt`` (BLAKE2b: uniform, and the same in
    every process and Python version, unlike ``hash``)."""
    digest = hashlib.blake2b(f"{salt}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


@dataclasses.dataclass(frozen=True)
class RolloutPolicy:
    steps: tuple[float, ...]
    shadow_share: float
    salt: str
    min_samples: int
    min_step_seconds: float
    min_rank_correlation: float
    max_score_ks: float
    max_decision_rate_diff: float
    max_error_rate: float
    max_latency_ratio: float
    latency_slack_seconds: float
    max_auc_loss: float
    min_labelled_positives: int
    realized_check_seconds: float

    @classmethod
    def from_settings(cls, s: Settings) -> RolloutPolicy:
        return cls(
            s.rollout_steps,
            s.rollout_shadow_share,
            s.rollout_salt,
            s.rollout_min_samples,
            s.rollout_min_step_seconds,
            s.rollout_min_rank_correlation,
            s.rollout_max_score_ks,
            s.rollout_max_decision_rate_diff,
            s.rollout_max_error_rate,
            s.rollout_max_latency_ratio,
            s.rollout_latency_slack_seconds,
            s.rollout_max_auc_loss,
            s.rollout_min_labelled_positives,
            s.rollout_realized_check_seconds,
        )


@dataclasses.dataclass(frozen=True)
class Routing:
    """Who serves, read once per request (replaced whole, never changed in place)."""

    champion: ServingModel
    challenger: ServingModel | None = None
    share: float = 0.0  # of customers the challenger answers
    shadow_share: float = 0.0  # of requests the challenger also scores unseen
    salt: str = ""
    step: int = 0

    def canary(self, customer_id: int) -> bool:
        return self.challenger is not None and bucket(customer_id, self.salt) < self.share

    def shadowed(self, transaction_id: str) -> bool:
        return (
            self.challenger is not None and bucket(transaction_id, self.salt + ":shadow") < self.shadow_share
        )


@dataclasses.dataclass(frozen=True)
class StepVerdict:
    version: str  # the challenger judged
    step: int
    share: float
    outcome: str  # hold | pass | fail
    reasons: tuple[str, ...]
    samples: int  # paired requests (both arms scored)
    canary_requests: int  # answered by the challenger
    seconds: float
    rank_correlation: float
    score_ks: float
    flag_rate_champion: float
    flag_rate_challenger: float
    error_rate: float
    p99_champion_seconds: float
    p99_challenger_seconds: float
    at: str

    def evidence(self) -> dict:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in dataclasses.asdict(self).items()}


class Window:
    """The paired evidence of one step."""

    def __init__(self, started: float):
        self.started = started
        self.champion, self.challenger = [], []  # scores on the same requests
        self.champion_flags, self.challenger_flags = [], []
        self.champion_seconds, self.challenger_seconds = [], []  # predict time per call
        self.attempts = self.errors = self.canary_requests = 0

    def __len__(self) -> int:
        return len(self.champion)


def _ranks(x: np.ndarray) -> np.ndarray:
    ranks = np.empty(len(x))
    ranks[np.argsort(x, kind="stable")] = np.arange(len(x))
    return ranks


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rho; 0 when either arm gives every request the same score."""
    if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(np.corrcoef(_ranks(a), _ranks(b))[0, 1])


def ks_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic: the largest gap between the two score CDFs."""
    a, b = np.sort(a), np.sort(b)
    points = np.concatenate([a, b])
    gap = np.searchsorted(a, points, side="right") / len(a) - np.searchsorted(b, points, side="right") / len(
        b
    )
    return float(np.max(np.abs(gap)))


def judge(
    window: Window, policy: RolloutPolicy, version: str, step: int, share: float, now: float
) -> StepVerdict:
    """Hold (too little evidence or time), pass, or fail, with the numbers and the reasons."""
    champion, challenger = np.asarray(window.champion), np.asarray(window.challenger)
    n, seconds = len(champion), now - window.started
    enough = n >= policy.min_samples
    error_rate = window.errors / window.attempts if window.attempts else 0.0
    # a challenger that keeps raising never builds a paired window: errors alone can fail it
    erring = error_rate > policy.max_error_rate and window.errors > policy.max_error_rate * policy.min_samples
    rho = rank_correlation(champion, challenger) if enough else float("nan")
    ks = ks_distance(champion, challenger) if enough else float("nan")
    flags = (
        (float(np.mean(window.champion_flags)), float(np.mean(window.challenger_flags))) if n else (0.0, 0.0)
    )
    p99 = [
        float(np.quantile(s, 0.99)) if s else 0.0
        for s in (window.champion_seconds, window.challenger_seconds)
    ]
    reasons = []
    if erring:
        reasons.append(f"error rate {error_rate:.3f} > {policy.max_error_rate}")
    if not enough and not erring:
        reasons.append(f"{n} paired requests < {policy.min_samples}: hold")
    elif enough:
        if rho < policy.min_rank_correlation:
            reasons.append(f"rank correlation {rho:.3f} < {policy.min_rank_correlation}")
        if ks > policy.max_score_ks:
            reasons.append(f"score KS {ks:.3f} > {policy.max_score_ks}")
        if abs(flags[1] - flags[0]) > policy.max_decision_rate_diff:
            reasons.append(
                f"flag rate {flags[1]:.3f} vs champion {flags[0]:.3f} "
                f"(> {policy.max_decision_rate_diff} apart)"
            )
        if p99[1] > policy.max_latency_ratio * p99[0] + policy.latency_slack_seconds:
            reasons.append(f"p99 predict {p99[1] * 1e3:.2f} ms vs champion {p99[0] * 1e3:.2f} ms")
    if erring:
        outcome = "fail"
    elif not enough:
        outcome = "hold"
    elif reasons:
        outcome = "fail"
    elif seconds < policy.min_step_seconds:
        outcome, reasons = "hold", [f"step has run {seconds:.0f} s < {policy.min_step_seconds:.0f} s"]
    else:
        outcome = "pass"
    return StepVerdict(
        version,
        step,
        share,
        outcome,
        tuple(reasons),
        n,
        window.canary_requests,
        seconds,
        rho,
        ks,
        *flags,
        error_rate,
        *p99,
        dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
    )


class RolloutController:
    """Routes requests between the arms, judges each step, and moves the registry.

    ``observe`` runs on the request path (the event loop); ``sync`` on the watcher's thread
    (it loads a newly admitted challenger, or drops one a person aborted or promoted from
    the CLI). Registry writes go to a background thread, so no request waits for MLflow."""

    def __init__(
        self,
        store: ModelStore,
        policy: RolloutPolicy,
        load: Callable[[str], ServingModel],
        on_verdict: Callable[[StepVerdict], None] | None = None,
        on_end: Callable[[str, str], None] | None = None,  # (outcome, version)
        realized: Callable[[str, str], RealizedByArm | None] | None = None,  # (champion, challenger)
        clock: Callable[[], float] = time.monotonic,
    ):
        self.store, self.policy, self.load, self.clock = store, policy, load, clock
        self.realized, self.last_realized = realized, None
        self._next_realized = 0.0
        self.on_verdict, self.on_end = on_verdict, on_end
        self.routing: Routing | None = None
        self.window: Window | None = None
        self.history: collections.deque[StepVerdict] = collections.deque(maxlen=500)
        self.ended: dict[str, str] = {}  # version -> promoted | rolled_back (this process's memory)
        self._lock = threading.RLock()
        self._writes = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="rollout-registry")
        self._next_judgement = 0

    # --- who serves ------------------------------------------------------------------------
    def set_champion(self, model: ServingModel) -> None:
        """A new champion from the registry (first load, or an alias moved)."""
        with self._lock:
            if self.routing is None:
                self.routing = Routing(champion=model)
            else:
                self.routing = dataclasses.replace(self.routing, champion=model)
            if self.routing.challenger is not None and self.routing.challenger.version == model.version:
                self._stop_routing()

    def sync(self) -> None:
        """Follow the registry: start (or resume) an admitted challenger's rollout, or drop a
        challenger that is no longer active there."""
        state = registry.read_state(self.store)
        with self._lock:
            current = self.routing.challenger.version if self.routing and self.routing.challenger else None
        if state.active and state.challenger not in self.ended:
            if current != state.challenger and self.routing is not None:
                model = self.load(state.challenger)  # outside the lock: a load takes a while
                self.start(model, state.step)
        elif current is not None and (not state.active or state.challenger != current):
            with self._lock:
                self.ended.setdefault(current, state.status or "ended elsewhere")
                self._stop_routing()

    def start(self, model: ServingModel, step: int = 0) -> None:
        """Route to ``model`` as the challenger from ``step`` on (the registry's step on a resume)."""
        with self._lock:
            self._start(model, min(step, len(self.policy.steps) - 1))

    def _start(self, model: ServingModel, step: int) -> None:
        salt = f"{self.policy.salt}:{model.version}"  # a new rollout meets new customers
        self.routing = dataclasses.replace(
            self.routing,
            challenger=model,
            share=self.policy.steps[step],
            shadow_share=self.policy.shadow_share,
            salt=salt,
            step=step,
        )
        self.window, self._next_judgement = Window(self.clock()), self.policy.min_samples
        log.info(
            "rollout of version %s at step %d (share %.2f)", model.version, step, self.policy.steps[step]
        )

    def _stop_routing(self) -> None:
        self.routing = dataclasses.replace(self.routing, challenger=None, share=0.0, shadow_share=0.0)
        self.window = None

    # --- evidence ----------------------------------------------------------------------------
    def observe(
        self,
        routing: Routing,
        champion_scores: np.ndarray,
        challenger_scores: np.ndarray,
        canary_requests: int,
        champion_seconds: float,
        challenger_seconds: float | None,  # None: the challenger raised
    ) -> StepVerdict | None:
        """Add one request's paired scores (the rows both arms scored) and judge the step when
        the window has grown enough."""
        with self._lock:
            window = self.window
            if window is None or self.routing is None or routing.challenger is not self.routing.challenger:
                return None  # the rollout ended or moved on while this request ran
            window.attempts += 1
            window.champion_seconds.append(champion_seconds)
            if challenger_seconds is None:
                window.errors += 1
            else:
                window.challenger_seconds.append(challenger_seconds)
                window.champion.extend(champion_scores.tolist())
                window.challenger.extend(challenger_scores.tolist())
                window.champion_flags.extend((champion_scores > routing.champion.threshold).tolist())
                window.challenger_flags.extend((challenger_scores > routing.challenger.threshold).tolist())
                window.canary_requests += canary_requests
            failing = window.errors > self.policy.max_error_rate * max(
                window.attempts, self.policy.min_samples
            )
            if len(window) < self._next_judgement and not failing:
                return None
            self._next_judgement = len(window) + max(10, self.policy.min_samples // 10)
            verdict = judge(
                window, self.policy, routing.challenger.version, routing.step, routing.share, self.clock()
            )
            self.history.append(verdict)
            if verdict.outcome == "fail":
                self._abort(
                    verdict.reasons[0] if len(verdict.reasons) == 1 else "; ".join(verdict.reasons),
                    verdict.evidence(),
                    "controller",
                )
            elif verdict.outcome == "pass":
                self._advance(verdict)
        if self.on_verdict:
            self.on_verdict(verdict)
        return verdict

    def _advance(self, verdict: StepVerdict) -> None:
        step, version = verdict.step + 1, self.routing.challenger.version
        if step >= len(self.policy.steps):
            self._promote(verdict.evidence(), "controller")
            return
        self._start(self.routing.challenger, step)
        self._writes.submit(self._safely, registry.record_step, self.store, version, step, verdict.evidence())

    def check_realized(self) -> RealizedByArm | None:
        """Realized quality by arm, read from the prediction log and the labels every
        ``realized_check_seconds`` (on the watcher's thread: it reads files); a challenger
        that is clearly worse on labelled traffic is rolled back."""
        routing = self.routing
        if (
            self.realized is None
            or routing is None
            or routing.challenger is None
            or self.clock() < self._next_realized
        ):
            return None
        self._next_realized = self.clock() + self.policy.realized_check_seconds
        found = self.realized(routing.champion.version, routing.challenger.version)
        self.last_realized = found
        if (
            found is not None
            and found.positives >= self.policy.min_labelled_positives
            and found.challenger_roc_auc < found.champion_roc_auc - self.policy.max_auc_loss
        ):
            with self._lock:
                if self.routing is not None and self.routing.challenger is routing.challenger:
                    self._abort(
                        f"realized ROC AUC {found.challenger_roc_auc:.4f} vs champion "
                        f"{found.champion_roc_auc:.4f} on {found.transactions} labelled transactions "
                        f"({found.positives} frauds)",
                        dataclasses.asdict(found),
                        "controller",
                    )
        return found

    # --- registry moves ------------------------------------------------------------------------
    def _abort(self, reason: str, evidence: dict, by: str) -> str:
        version = self.routing.challenger.version
        self.ended[version] = registry.ROLLED_BACK
        self._stop_routing()  # 0% at once; the registry follows
        self._writes.submit(self._safely, registry.abort, self.store, version, reason, evidence, by)
        log.warning("rollout of version %s aborted: %s", version, reason)
        if self.on_end:
            self.on_end(registry.ROLLED_BACK, version)
        return version

    def _promote(self, evidence: dict, by: str) -> str:
        model = dataclasses.replace(self.routing.challenger, alias=CHAMPION)
        self.ended[model.version] = registry.PROMOTED
        self.routing = Routing(champion=model)  # 100% at once; the registry follows
        self.window = None
        self._writes.submit(self._safely, registry.complete, self.store, model.version, evidence, by)
        log.info("rollout of version %s complete: champion", model.version)
        if self.on_end:
            self.on_end(registry.PROMOTED, model.version)
        return model.version

    def abort(self, reason: str, by: str = "operator") -> str | None:
        """A person stops the rollout: the challenger serves nothing from now on."""
        with self._lock:
            if self.routing is None or self.routing.challenger is None:
                return None
            return self._abort(reason, {"history": [v.evidence() for v in list(self.history)[-5:]]}, by)

    def promote(self, by: str = "operator") -> str | None:
        """A person completes the rollout now: the challenger becomes champion."""
        with self._lock:
            if self.routing is None or self.routing.challenger is None:
                return None
            return self._promote({"history": [v.evidence() for v in list(self.history)[-5:]]}, by)

    def _safely(self, move, *args) -> None:
        try:
            move(*args)
        except Exception:  # the in-memory routing already changed; a person can redo it by CLI
            log.exception("the registry move %s failed", move.__name__)

    def flush(self, timeout: float = 30) -> None:
        """Wait for pending registry writes (tests, shutdown)."""
        self._writes.submit(lambda: None).result(timeout=timeout)

    def close(self) -> None:
        self._writes.shutdown(wait=True)

    def status(self) -> dict:
        with self._lock:
            r = self.routing
            return {
                "champion": r.champion.version if r else None,
                "challenger": r.challenger.version if r and r.challenger else None,
                "step": r.step if r and r.challenger else None,
                "steps": list(self.policy.steps),
                "share": r.share if r else 0.0,
                "shadow_share": r.shadow_share if r else 0.0,
                "window_samples": len(self.window) if self.window else 0,
                "ended": dict(self.ended),
                "verdicts": [v.evidence() for v in list(self.history)[-100:]],
                "realized": dataclasses.asdict(self.last_realized) if self.last_realized else None,
            }
