"""A step's verdict from paired evidence: both arms' scores of the same requests, their
flags, the challenger's errors and predict times. Pure functions of a window and the policy."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np

from ml_assets.core.settings import Settings


@dataclasses.dataclass(frozen=True)
class RolloutPolicy:
    steps: tuple[float, ...]
    shadow_share: float
    salt: str
    min_samples: int
    min_step_seconds: float
    progress_deadline_seconds: float
    failure_limit: int
    min_rank_correlation: float
    max_score_ks: float
    max_decision_rate_diff: float
    decision_rate_z: float
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
            s.rollout_progress_deadline_seconds,
            s.rollout_failure_limit,
            s.rollout_min_rank_correlation,
            s.rollout_max_score_ks,
            s.rollout_max_decision_rate_diff,
            s.rollout_decision_rate_z,
            s.rollout_max_error_rate,
            s.rollout_max_latency_ratio,
            s.rollout_latency_slack_seconds,
            s.rollout_max_auc_loss,
            s.rollout_min_labelled_positives,
            s.rollout_realized_check_seconds,
        )


@dataclasses.dataclass(frozen=True)
class StepVerdict:
    version: str  # the challenger judged
    step: int
    share: float
    outcome: str  # hold | pass | fail | inconclusive (its step's progress deadline passed)
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
    median_champion_seconds: float
    median_challenger_seconds: float
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


def erring(window: Window, policy: RolloutPolicy) -> bool:
    """Too many challenger errors, judged on errors alone: a challenger that keeps raising
    never builds a paired window (the rate over the attempts, and enough errors to mean it)."""
    return window.errors > policy.max_error_rate * max(window.attempts, policy.min_samples)


def judge(
    window: Window, policy: RolloutPolicy, version: str, step: int, share: float, now: float
) -> StepVerdict:
    """Hold (too little evidence or time), pass, or fail, with the numbers and the reasons."""
    champion, challenger = np.asarray(window.champion), np.asarray(window.challenger)
    n, seconds = len(champion), now - window.started
    enough = n >= policy.min_samples
    error_rate = window.errors / window.attempts if window.attempts else 0.0
    failing = erring(window, policy)
    rho = rank_correlation(champion, challenger) if enough else float("nan")
    ks = ks_distance(champion, challenger) if enough else float("nan")
    champion_flags = np.asarray(window.champion_flags, dtype=bool)
    challenger_flags = np.asarray(window.challenger_flags, dtype=bool)
    flags = (float(champion_flags.mean()), float(challenger_flags.mean())) if n else (0.0, 0.0)
    times = [
        np.quantile(s, (0.5, 0.99)) if s else (0.0, 0.0)
        for s in (window.champion_seconds, window.challenger_seconds)
    ]
    median, p99 = [float(t[0]) for t in times], [float(t[1]) for t in times]
    reasons = []
    if failing:
        reasons.append(f"error rate {error_rate:.3f} > {policy.max_error_rate}")
    if not enough and not failing:
        reasons.append(f"{n} paired requests < {policy.min_samples}: hold")
    elif enough:
        if rho < policy.min_rank_correlation:
            reasons.append(f"rank correlation {rho:.3f} < {policy.min_rank_correlation}")
        if ks > policy.max_score_ks:
            reasons.append(f"score KS {ks:.3f} > {policy.max_score_ks}")
        # the flag-rate gap must be both material (the tolerance) and clear on the paired
        # decisions (McNemar: of the requests the arms decided differently, too many one way);
        # on 100 requests a 47% flag rate moves by 5 points from sampling alone
        champion_only = int(np.sum(champion_flags & ~challenger_flags))
        challenger_only = int(np.sum(challenger_flags & ~champion_flags))
        discordant = champion_only + challenger_only
        z = abs(challenger_only - champion_only) / np.sqrt(discordant) if discordant else 0.0
        if abs(flags[1] - flags[0]) > policy.max_decision_rate_diff and z >= policy.decision_rate_z:
            reasons.append(
                f"flag rate {flags[1]:.3f} vs champion {flags[0]:.3f} "
                f"(> {policy.max_decision_rate_diff} apart, paired z {z:.1f})"
            )
        # slower at p99 *and* at the median: in a window of 100, p99 is one request, and one
        # pause (a collection, a registry write on another thread) must not roll a model back
        # (it did: 1 false rollback in 6 windows of the same model on both arms)
        slack, ratio = policy.latency_slack_seconds, policy.max_latency_ratio
        if p99[1] > ratio * p99[0] + slack and median[1] > ratio * median[0]:
            reasons.append(
                f"predict p99 {p99[1] * 1e3:.2f} ms, median {median[1] * 1e3:.2f} ms vs champion "
                f"{p99[0] * 1e3:.2f} / {median[0] * 1e3:.2f} ms"
            )
    if failing:
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
        *median,
        dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
    )
