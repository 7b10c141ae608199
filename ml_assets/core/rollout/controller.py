"""The controller: routes between the arms, judges each step as its window fills, and
moves the registry (off the request path). See the package's docstring for why it lives in
the service."""

from __future__ import annotations

import collections
import concurrent.futures as cf
import dataclasses
import logging
import threading
import time
from collections.abc import Callable

import numpy as np

from ml_assets.core.model_store import CHAMPION, ModelStore
from ml_assets.core.monitoring.online import RealizedByArm
from ml_assets.core.registry import rollout as registry
from ml_assets.core.rollout.routing import Routing
from ml_assets.core.rollout.shared import Call, SharedRollout, add
from ml_assets.core.rollout.verdicts import RolloutPolicy, StepVerdict, Window, erring, judge
from ml_assets.core.scoring import ServingModel

log = logging.getLogger(__name__)


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
        dry_run: bool = False,  # judge and route in memory only: the registry is never written
        shared: SharedRollout | None = None,  # several replicas, one rollout (shared.py); clock: wall time
    ):
        self.dry_run, self.shared = dry_run, shared
        self.leader = shared is None  # with replicas: whether this one holds the lease (last poll)
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
        self._failed_looks, self._waiting_for_time = 0, False

    # --- who serves ------------------------------------------------------------------------
    def set_champion(self, model: ServingModel) -> None:
        """A new champion from the registry (first load, or an alias moved)."""
        with self._lock:
            if self.routing is None:
                self.routing = Routing(champion=model)
            else:
                self.routing = dataclasses.replace(self.routing, champion=model)
            if self.routing.challenger is not None and self.routing.challenger.version == model.version:
                self.ended.setdefault(model.version, registry.PROMOTED)  # by another replica, or a person
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
            elif current == state.challenger:
                with self._lock:  # another replica judged the step: follow it (never back)
                    if self.routing.challenger is not None and state.step > self.routing.step:
                        self._start(self.routing.challenger, min(state.step, len(self.policy.steps) - 1))
        elif current is not None and (not state.active or state.challenger != current):
            # how it ended, from the version's tags: the alias is gone once a rollout ends
            ended = (state.status if state.challenger == current else None) or registry.status_of(
                self.store, current
            )
            with self._lock:
                self.ended.setdefault(current, ended or "ended elsewhere")
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
        self._failed_looks, self._waiting_for_time = 0, False
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
            call = Call(
                champion_scores.tolist(),
                challenger_scores.tolist(),
                (champion_scores > routing.champion.threshold).tolist(),
                (challenger_scores > routing.challenger.threshold).tolist(),
                champion_seconds,
                challenger_seconds,
                canary_requests,
            )
            add(window, call)
            if self.shared is not None:  # the lease holder judges every replica's evidence
                self.shared.record(routing.challenger.version, routing.step, call)
                return None
            if len(window) < self._next_judgement and not erring(window, self.policy):
                return None
            # looks at sample sizes 10% apart (and 10 pairs at least): a step of many requests
            # gets tens of looks, not one per 10 pairs, so chance alone has fewer tries at a
            # false abort, and a window's judgement costs the request path less
            self._next_judgement = len(window) + max(10, len(window) // 10)
            verdict = self._look(window, routing)
        if self.on_verdict:
            self.on_verdict(verdict)
        return verdict

    def _look(self, window: Window, routing: Routing) -> StepVerdict:
        """Judge the step's window and act on it: advance on a pass, abort on more failing looks
        in a row than the policy's failure limit. Holds the lock."""
        verdict = self._judge(window, routing)
        if verdict.outcome == "fail":
            self._failed_looks += 1
        else:
            self._failed_looks = 0
        # all rules kept on enough evidence, held only by the step's minimum time
        self._waiting_for_time = verdict.outcome == "hold" and verdict.samples >= self.policy.min_samples
        self.history.append(verdict)
        (log.debug if verdict.outcome == "hold" else log.info)(
            "rollout of version %s, step %d (share %.2f): %s on %d paired requests "
            "(rank correlation %.4f, score KS %.4f, flag rate %.4f vs %.4f, error rate %.4f)%s",
            verdict.version,
            verdict.step,
            verdict.share,
            verdict.outcome,
            verdict.samples,
            verdict.rank_correlation,
            verdict.score_ks,
            verdict.flag_rate_champion,
            verdict.flag_rate_challenger,
            verdict.error_rate,
            f": {'; '.join(verdict.reasons)}" if verdict.reasons else "",
        )
        if verdict.outcome == "fail" and self._failed_looks > self.policy.failure_limit:
            self._abort("; ".join(verdict.reasons), verdict.evidence(), "controller")
        elif verdict.outcome == "fail":
            log.info("failing look %d of %d tolerated", self._failed_looks, self.policy.failure_limit + 1)
        elif verdict.outcome == "pass":
            self._advance(verdict)
        return verdict

    def check_progress(self) -> StepVerdict | None:
        """On the watcher's poll: a step whose evidence is in is judged once its minimum time is
        up, even when no request comes to do it (a quiet service still advances); a step without
        a verdict past ``progress_deadline_seconds`` ends the rollout as inconclusive. With
        replicas, the lease holder judges the step on every replica's evidence here."""
        if self.shared is not None:
            return self._judge_shared()
        with self._lock:
            window, routing = self.window, self.routing
            if window is None or routing is None or routing.challenger is None:
                return None
            time_up = self.clock() - window.started >= self.policy.min_step_seconds
            if self._waiting_for_time and time_up:
                verdict = self._look(window, routing)
            else:
                verdict = self._deadline(window, routing)
        if verdict is not None and self.on_verdict:
            self.on_verdict(verdict)
        return verdict

    def _judge_shared(self) -> StepVerdict | None:
        self.shared.flush()
        self.leader = self.shared.lease.held()
        routing = self.routing
        if not self.leader or routing is None or routing.challenger is None:
            return None
        version, step = routing.challenger.version, routing.step
        window = self.shared.evidence.window(version, step)  # outside the lock: a database read
        with self._lock:
            if self.routing is not routing:
                return None  # the rollout moved on meanwhile; the next poll judges the new step
            verdict = self._look(window, routing)
            if verdict.outcome == "hold":
                verdict = self._deadline(window, routing) or verdict
            moved = self.routing
        if moved.challenger is not None and moved.step != step:
            self.shared.evidence.step_started(moved.challenger.version, moved.step)  # the next step's clock
        if self.on_verdict and verdict.outcome != "hold":
            self.on_verdict(verdict)
        return verdict

    def _judge(self, window: Window, routing: Routing) -> StepVerdict:
        challenger = routing.challenger.version
        return judge(window, self.policy, challenger, routing.step, routing.share, self.clock())

    def _deadline(self, window: Window, routing: Routing) -> StepVerdict | None:
        seconds = self.clock() - window.started
        if seconds < self.policy.progress_deadline_seconds:
            return None
        verdict = self._judge(window, routing)
        reason = (
            f"inconclusive: step {verdict.step} ran {seconds:.0f} s, past its progress deadline of "
            f"{self.policy.progress_deadline_seconds:.0f} s, with {len(window)} paired requests (a verdict "
            f"needs {self.policy.min_samples} and {self.policy.min_step_seconds:.0f} s)"
        )
        verdict = dataclasses.replace(verdict, outcome=registry.INCONCLUSIVE, reasons=(reason,))
        self.history.append(verdict)
        self._abort(reason, verdict.evidence(), "controller", registry.INCONCLUSIVE)
        return verdict

    def _advance(self, verdict: StepVerdict) -> None:
        step, version = verdict.step + 1, self.routing.challenger.version
        if step >= len(self.policy.steps):
            self._promote(verdict.evidence(), "controller")
            return
        self._start(self.routing.challenger, step)
        self._move(registry.record_step, self.store, version, step, verdict.evidence())

    def check_realized(self) -> RealizedByArm | None:
        """Realized quality by arm, read from the prediction log and the labels every
        ``realized_check_seconds`` (on the watcher's thread: it reads files); a challenger
        that is clearly worse on labelled traffic is rolled back."""
        routing = self.routing
        if (
            self.realized is None
            or not self.leader
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
    def _abort(self, reason: str, evidence: dict, by: str, status: str = registry.ROLLED_BACK) -> str:
        version = self.routing.challenger.version
        self.ended[version] = status
        self._stop_routing()  # 0% at once; the registry follows
        self._move(registry.abort, self.store, version, reason, evidence, by, status)
        log.warning("rollout of version %s ended %s: %s", version, status, reason)
        if self.on_end:
            self.on_end(status, version)
        return version

    def _promote(self, evidence: dict, by: str) -> str:
        model = dataclasses.replace(self.routing.challenger, alias=CHAMPION)
        self.ended[model.version] = registry.PROMOTED
        self.routing = Routing(champion=model)  # 100% at once; the registry follows
        self.window = None
        self._move(registry.complete, self.store, model.version, evidence, by)
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

    def _move(self, move, *args) -> None:
        """A registry move on the background thread (none in a dry run)."""
        if not self.dry_run:
            self._writes.submit(self._safely, move, *args)

    def _safely(self, move, *args) -> None:
        try:
            move(*args)
        except Exception:  # the in-memory routing already changed; a person can redo it by CLI
            log.exception("the registry move %s failed", move.__name__)

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
                "leader": self.leader,
                "ended": dict(self.ended),
                "verdicts": [v.evidence() for v in list(self.history)[-100:]],
                "realized": dataclasses.asdict(self.last_realized) if self.last_realized else None,
            }
