"""When to retrain: a plain function of the recent days' evidence and of the retrains already
tried, and the state a sensor keeps between ticks.

A day is bad when any signal says so, each against a threshold learnt from the scoring model
version's own reference (never a constant tuned to one simulation):
- CBPE (no labels): the estimated ROC AUC under the lower prediction interval
  (``retrain_false_alarm_rate``) of the same estimate over the version's first
  ``baseline_days`` monitored days, and at least ``min_auc_drop`` under their mean (the
  scoreboard's recovery tolerance: a smaller loss is not worth a retrain). Why not its
  validation window: CBPE is calibrated there, so its estimates on those days are in-sample
  and optimistic (measured 0.935 there against 0.922 on the stable days after, same model,
  same data), and that window's realized ROC AUC is label noise (its labels were still
  arriving). Until the baseline is complete the version's CBPE says nothing; the early labels
  still do. The day-by-day estimates come from CBPE as calibrated at training, on the labels
  known then (the decision says it rests on immature labels): the baseline was learnt on that
  calibration. A second calibration, on complete labels, judges complete labels (below);
- early labels: fewer arrived positive labels caught than the reference's age-matched rates allow
  (label_signal.py, ``label_signal_false_alarm_rate``).
Realized performance, once a day's labels are complete (``label_delay_max_days`` later), is the
safety net under both: the champion's realized ROC AUC under the lower confidence bound of its
own CBPE estimate for the same day (NannyML's band, estimate - 3 sampling errors, the sampling
error from the version's reference at that day's size), made again by CBPE calibrated on its
reference's complete labels (complete labels judged against complete labels), and at least
``min_auc_drop`` under that estimate (the loss worth a retrain, as for CBPE's own drops), on
``consecutive_days`` complete days in a row fires too. Such days say the estimates that judged
them were too kind (measured before the second calibration: a seasonal follow-up estimated
0.997 on days that realized 0.76-0.88), so the champion was failing where CBPE looked fine.
It is weeks late by nature, so it never makes a recent day bad; it fires only while the version
that scored those days still serves.
Score drift and multivariate input drift (their thresholds learnt from the version's reference
days held out, monitors.py) are supporting evidence: every decision names the streak's days they
flagged, but they never make a day bad. Inputs move without a loss (a season's shoppers), and a
loss comes without inputs moving (fraud_shift's new fraud looks like honest purchases), so a
drift alone says neither that the champion fails nor that a retrain would help.
Retraining needs ``consecutive_days`` bad days in a row (flap resistance). After a retrain:
- promoted: nothing more for ``cooldown_days`` (the new champion needs days to show itself);
- rejected while the evidence still holds: retry after ``retry_days`` (days of new data and
  labels), at most ``max_retries`` times in a row, then a full cooldown (no retrain storms);
- still running, or its outcome unknown: wait, at most ``cooldown_days``.
A retrain promoted after a shift learnt from its first days only: once the new regime is
``followup_days`` old, a follow-up retrain uses the longer window (the gate keeps the better).

Two diagnoses, two responses. The ranking fell (CBPE down, complete labels under the band, or
fewer frauds caught with the flag rate in its band): retrain. The operating point moved while the
ranking held (for ``consecutive_days`` days in a row the flag rate left the band around the rate
the version's threshold was chosen for, and the median score moved the same way, with or without
fewer frauds caught): re-fit the threshold to that flag rate
(registry/operating_point.py), not the model. Measured why: a score scale that drifted down with
the ranking intact fired retrains the gate kept refusing (BENCHMARKS.md, issue 25). No re-fit while
the newest day's own signals put the ranking in doubt: its CBPE under its threshold, or the early
label window's arrived positives ranked more than the allowed fall under their level (the
version's own first steady days'; before it has them, the lower of its reference's and the level
of the newest version before it with a level of its own). After a
re-fit, the early label signal pools days scored at the old threshold for ``label_window_days``
more days: it is not read as a ranking loss until its window holds new-threshold days only.
A version promoted within ``feature_lookback_days`` of the regime its retrain answered is judged
on its newest day alone until the regime is that old: its features still fill, so its scale keeps
moving, and it ranks worse at the operating point; its re-fit flags ``young_flag_rate_ratio`` times
its validation window's rate (the alert budget) and is re-fitted back to that rate once the regime
is older than the lookback (docs/decisions/operating-point-refit.md)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

from ml_assets.core.problem import problem_spec
from ml_assets.core.settings import Settings


@dataclasses.dataclass(frozen=True)
class RetrainPolicy:
    consecutive_days: int  # K bad days in a row fire
    cooldown_days: int  # after a promoted retrain (or one whose outcome never came)
    retry_days: int  # after a rejected retrain, while the evidence holds
    max_retries: int  # rejected retrains in a row before a full cooldown
    baseline_days: int = 7  # a version's first monitored days: its CBPE baseline
    false_alarm_rate: float = 0.01  # a day of an unchanged model under the CBPE threshold
    min_auc_drop: float = 0.02  # a smaller drop is not worth a retrain, however significant
    followup_days: tuple[int, ...] = ()  # after a promoted shift retrain: retrain again then
    min_flag_rate_change: float = 0.2  # relative: a smaller move of the flag rate is no reason to act
    label_window_days: int = 7  # days the early label signal pools (label_signal_days)
    min_scale_change: float = 0.08  # relative move of the median score that says the scale moved
    refits_threshold: bool = True  # False: the problem's decision policy is a fixed threshold
    recall_min_arrived: int = 200  # arrived positives a re-fit needs to hold recall on them
    realized_baseline_days: int = 14  # a version's first complete days: its realized level
    feature_lookback_days: int = 0  # the most days an aggregate feature reads (0: no young versions)
    # a young version's re-fit flags this multiple of its validation rate (1: that rate)
    young_flag_rate_ratio: float = 1.0

    @classmethod
    def from_settings(cls, s: Settings) -> RetrainPolicy:
        spec = problem_spec(s)
        return cls(
            s.retrain_consecutive_days,
            s.retrain_cooldown_days,
            s.retrain_retry_days,
            s.retrain_max_retries,
            s.retrain_baseline_days,
            s.retrain_false_alarm_rate,
            s.retrain_min_auc_drop,
            tuple(s.retrain_followup_days),
            s.threshold_min_flag_rate_change,
            s.label_signal_days,
            s.threshold_min_scale_change,
            spec.model.decision.refits,
            s.threshold_recall_min_arrived,
            s.retrain_realized_baseline_days,
            spec.feature_lookback_days(s.window_caps),
            min(s.threshold_young_flag_rate_ratio, s.threshold_max_flag_rate_ratio),
        )

    def estimate_threshold(self, baseline: list[float]) -> float | None:
        """The lower one-sided prediction interval of one new day's estimate, from the
        baseline days, and never closer to their mean than ``min_auc_drop`` (None until the
        baseline is complete). Days are not independent (the estimate wanders slowly over
        weeks), so K bad days in a row do not multiply the per-day rate away: the rate itself
        must be small, and a statistically clear but tiny drop is no reason to retrain."""
        from ml_assets.core.stats import prediction_interval_margin

        if len(baseline) < self.baseline_days:
            return None
        interval = prediction_interval_margin(baseline[: self.baseline_days], self.false_alarm_rate)
        if interval is None:
            return None
        mean, margin = interval
        return min(mean - margin, mean - self.min_auc_drop)


@dataclasses.dataclass
class DayEvidence:
    """What the monitoring of one day said (None: that signal had nothing to say)."""

    estimate: float | None = None  # CBPE-estimated ROC AUC
    estimate_threshold: float | None = None  # from the version's baseline (RetrainPolicy)
    version: str | None = None  # the model version that scored the day
    label_z: float | None = None  # early label signal
    label_z_threshold: float | None = None
    score_drift: bool | None = None  # supporting evidence: the score's distribution drifted
    input_drift: bool | None = None  # supporting evidence: multivariate drift of the inputs
    realized: float | None = None  # realized ROC AUC, once the day's labels are complete
    realized_floor: float | None = None  # the lower confidence bound of that day's CBPE estimate
    realized_estimate: float | None = None  # that estimate (CBPE on complete reference labels)
    flag_rate: float | None = None  # share of the day's scored transactions flagged
    scored: float | None = None  # transactions scored that day
    threshold: float | None = None  # the decision threshold the day was scored at
    reference_flag_rate: float | None = None  # the flag rate the version's threshold was chosen for
    median_score: float | None = None  # where the bulk of the day's scores sits
    reference_median_score: float | None = None  # where it sat when the served threshold was chosen
    flag_target: float | None = None  # what the flag rate is held to (set by the policy)
    labels_mixed: bool = False  # the early label window still pools days of an older threshold
    # the ranking on the early label window's arrived positives, and its reference's (label_signal.py)
    label_auc: float | None = None
    label_arrived: float | None = None  # the arrived positives those rest on
    label_reference_auc: float | None = None
    label_auc_sd: float | None = None
    label_auc_baseline: float | None = None  # the version's own first steady days (set by the policy)
    # before it has those: the newest earlier version's own level, and which (set by the policy)
    label_auc_predecessor: float | None = None
    label_auc_predecessor_version: str | None = None
    realized_baseline: float | None = None  # the version's first complete days' mean (set by the policy)
    realized_level_pending: bool = False  # its version has too few complete days for that mean yet
    # which labels the day's CBPE was calibrated on: "immature" (the reference's labels as known at
    # training) or "complete" (fitted again once they were)
    reference_labels: str | None = None

    def cbpe_caveat(self) -> str:
        return " on immature reference labels" if self.reference_labels == "immature" else ""

    def arrived_at_least(self, minimum: float) -> bool:
        """The early label window rests on at least ``minimum`` arrived positives."""
        return self.label_arrived is not None and self.label_arrived >= minimum

    def realized_below(self, min_drop: float = 0.0) -> str | None:
        """Why the day's complete labels say its model was worse than estimated (None: they do
        not): under the estimate's lower bound (beyond chance) and at least ``min_drop`` under the
        estimate itself (a loss worth a retrain, as the CBPE signal asks of its own drops), and
        ``min_drop`` under its version's level (its first complete days' mean; None while the
        version has too few): a model at that level that CBPE overrates is a monitor's error, not
        a ranking lost."""
        if None in (self.realized, self.realized_floor):
            return None
        floor, why = self.realized_floor, f"CBPE lower bound {self.realized_floor:.3f}"
        if self.realized_estimate is not None and self.realized_estimate - min_drop < floor:
            floor = self.realized_estimate - min_drop
            why = f"CBPE estimate {self.realized_estimate:.3f} - {min_drop:.3f}"
        if self.realized >= floor or self.realized_level_pending:
            return None
        if self.realized_baseline is None:
            return f"realized ROC AUC {self.realized:.3f} < {why}"
        if self.realized >= self.realized_baseline - min_drop:
            return None
        return (
            f"realized ROC AUC {self.realized:.3f} < {why} and < the realized baseline "
            f"{self.realized_baseline:.3f} - {min_drop:.3f}"
        )

    def _early_ranking(self, min_drop: float, sds: float) -> tuple[float, str, float] | None:
        """The level the arrived positives' ROC AUC is judged against, whose it is, and the fall
        allowed under it (None: nothing to judge). Before the version has steady days of its own:
        the lower of its reference's and the level of the newest version before it with one
        (measured: a reference after a shift read 0.989 where its version served at 0.96,
        BENCHMARKS.md)."""
        level, of = self.label_auc_baseline, "its first steady days'"
        if level is None:
            level, of = self.label_reference_auc, "the reference's"
            before = self.label_auc_predecessor
            if before is not None and (level is None or before < level):
                level, of = before, f"v{self.label_auc_predecessor_version}'s first steady days'"
        if None in (self.label_auc, level, self.label_auc_sd):
            return None
        return level, of, max(min_drop, sds * self.label_auc_sd)

    def early_ranking_held(self, min_drop: float, sds: float = 2.0) -> str | None:
        """Why the arrived positives say the ranking held: their ROC AUC no more than the larger
        of ``min_drop`` and ``sds`` sd under the version's own first steady days (its baseline),
        or under its reference's or its predecessor's before it has one (None: it fell, or
        nothing to say)."""
        judged = self._early_ranking(min_drop, sds)
        if judged is None or judged[0] - self.label_auc > judged[2]:
            return None
        level, of, allowed = judged
        return (
            f"ROC AUC on the arrived positive labels {self.label_auc:.3f}, {of} {level:.3f} "
            f"(a fall of more than {allowed:.3f} says the ranking fell)"
        )

    def early_ranking_fell(self, min_drop: float, sds: float = 2.0) -> str | None:
        """Why the arrived positives say the ranking fell (None: it held, or nothing to say)."""
        judged = self._early_ranking(min_drop, sds)
        if judged is None or judged[0] - self.label_auc <= judged[2]:
            return None
        level, of, allowed = judged
        return (
            f"ROC AUC on the arrived positive labels {self.label_auc:.3f}, more than {allowed:.3f} "
            f"under {of} {level:.3f}"
        )

    def bad_signals(self) -> dict[str, str]:
        """The signals that call this day bad: name (cbpe, early_labels) -> why, in words."""
        out = {}
        if None not in (self.estimate, self.estimate_threshold) and self.estimate < self.estimate_threshold:
            out["cbpe"] = (
                f"CBPE ROC AUC {self.estimate:.3f} < {self.estimate_threshold:.3f}{self.cbpe_caveat()}"
            )
        if (
            None not in (self.label_z, self.label_z_threshold)
            and self.label_z < self.label_z_threshold
            and not self.labels_mixed
        ):
            out["early_labels"] = f"early labels z {self.label_z:+.2f} < {self.label_z_threshold:+.2f}"
        return out

    def signals(self) -> list[str]:
        """The signals that call this day bad, in words."""
        return list(self.bad_signals().values())

    def supporting(self) -> list[str]:
        """The drift monitors that alerted on this day (they never make it bad on their own)."""
        return [
            name
            for name, alert in (("score drift", self.score_drift), ("input drift", self.input_drift))
            if alert
        ]


RETRAIN, THRESHOLD = "retrain", "threshold"  # the two responses
RANKING, OPERATING_POINT = "ranking", "operating point"  # the two diagnoses


@dataclasses.dataclass
class Attempt:
    alert_day: str
    outcome: str = "pending"  # pending | promoted | rejected (retrain); applied | skipped (threshold)
    since: str | None = None  # first day of the shift it answered
    kind: str = RETRAIN
    version: str | None = None  # a re-fit: the version it re-fitted
    threshold: float | None = None  # a re-fit applied: the threshold it set
    young_since: str | None = None  # a re-fit to a young version's alert budget: its regime's start


@dataclasses.dataclass(frozen=True)
class RetrainDecision:
    alert_day: str | None  # the day that completed the evidence; None means no retrain
    reason: str
    since: str | None = None  # first day of the bad streak: where the new regime may start
    until: str | None = None  # last day of the bad streak (a realized one ends a label delay back)
    follow_up: bool = False  # a planned retrain on a longer window of the new regime
    action: str = RETRAIN  # retrain | threshold (what firing asks for)
    diagnosis: str = ""  # ranking | operating point ("" when it did not fire)
    refit: FlagRateMove | None = None  # with action threshold: what to re-fit, on which days

    @property
    def fire(self) -> bool:
        return self.alert_day is not None

    def as_of(self) -> dt.date:
        """Train with everything known by the end of the alert day."""
        return dt.date.fromisoformat(self.alert_day) + dt.timedelta(days=1)


def _days_between(a: str, b: str) -> int:
    return (dt.date.fromisoformat(b) - dt.date.fromisoformat(a)).days


def _wait(attempts: list[Attempt], newest: str, policy: RetrainPolicy) -> str | None:
    """Why the last retrain still blocks a new one on ``newest`` (None: it does not)."""
    if not attempts:
        return None
    last = attempts[-1]
    since = _days_between(last.alert_day, newest)
    if last.outcome == "rejected":
        rejected_in_a_row = 0
        for a in reversed(attempts):
            if a.outcome != "rejected":
                break
            rejected_in_a_row += 1
        if rejected_in_a_row <= policy.max_retries:
            if since < policy.retry_days:
                return (
                    f"the retrain of {last.alert_day} was rejected {since} day(s) ago; retry "
                    f"{rejected_in_a_row} of {policy.max_retries} after {policy.retry_days} days"
                )
            return None
        reason = f"{rejected_in_a_row} retrains in a row were rejected"
    else:
        reason = {
            "promoted": "the last retrain was promoted",
            "pending": "the last retrain has no outcome yet",
        }[last.outcome]
    if since < policy.cooldown_days:
        return f"{reason} ({last.alert_day}, {since} day(s) ago), cooldown {policy.cooldown_days}"
    return None


@dataclasses.dataclass(frozen=True)
class FlagRateMove:
    """The newest days' flag rate out of the band around its target: what a threshold re-fit
    answers, and on which days."""

    version: str
    first_day: str
    last_day: str
    flag_rate: float  # the days' flag rate, pooled over their transactions
    target: float  # the flag rate the version's threshold was chosen for (or its first served days')
    margin: float  # how far the mean may stray (the larger of chance and min_flag_rate_change)
    median_change: float | None = None  # relative move of the median score (None: no reference)
    # the regime a young version was promoted in (judged on one day, _young_since; None: on K days)
    young_since: str | None = None
    # re-fit to this multiple of the version's validation rate, not to ``target`` (None: the target)
    validation_multiple: float | None = None

    @property
    def budget_since(self) -> str | None:
        """The regime whose young version this re-fit serves at its alert budget (None: not one)."""
        return self.young_since if (self.validation_multiple or 0) > 1 else None

    def refit_to(self) -> str:
        if self.validation_multiple is None:
            return f"{self.target:.3%}"
        if self.validation_multiple == 1:
            return (
                "its validation window's flag rate, or what holds recall on the arrived labels if that "
                "flags more"
            )
        return (
            f"{self.validation_multiple:g}x its validation window's flag rate (the alert budget while "
            "its windows fill: it ranks worse at the operating point until then)"
        )

    @property
    def down(self) -> bool:
        return self.flag_rate < self.target

    def describe(self) -> str:
        return (
            f"v{self.version}'s flag rate {self.flag_rate:.3%} on {self.first_day}..{self.last_day} moved "
            f"{'down' if self.down else 'up'} from its {self.target:.3%} (band +-{self.margin:.3%})"
            + ("" if self.median_change is None else f", its median score {self.median_change:+.0%}")
            + (
                ""
                if self.young_since is None
                else f"; one day judged: promoted within the features' lookback of the regime of "
                f"{self.young_since}, its windows still filling"
            )
        )


def decide(
    evidence: dict[str, DayEvidence],
    attempts: list[Attempt],
    policy: RetrainPolicy,
    baselines: dict[str, dict[str, float]] | None = None,
    flag_baselines: dict[str, dict[str, float]] | None = None,
    auc_baselines: dict[str, dict[str, float]] | None = None,
    realized_baselines: dict[str, dict[str, float]] | None = None,
) -> RetrainDecision:
    """Fires when the newest K days are consecutive calendar days, each bad by at least one
    signal, and the last retrain no longer blocks; or re-fits the threshold when the flag rate
    moved while the ranking held (see the module docstring)."""
    if not evidence:
        return RetrainDecision(None, "no monitored day yet")
    set_thresholds(evidence, policy, {} if baselines is None else baselines)
    flag_baselines = {} if flag_baselines is None else flag_baselines
    set_flag_targets(evidence, policy, flag_baselines)
    set_label_auc_baselines(evidence, policy, {} if auc_baselines is None else auc_baselines)
    set_realized_baselines(evidence, policy, {} if realized_baselines is None else realized_baselines)
    mark_mixed_labels(evidence, attempts, policy)
    days = sorted(evidence)
    retrains = [a for a in attempts if a.kind == RETRAIN]
    follow_up = _follow_up(retrains, days[-1], policy)
    if follow_up:
        return dataclasses.replace(follow_up, diagnosis=RANKING)
    back = _young_budget_ended(evidence, days, attempts, policy) if policy.refits_threshold else None
    if back is not None:
        return RetrainDecision(
            days[-1],
            f"operating point: v{back.version}'s regime started more than {policy.feature_lookback_days} "
            f"days ago (its features' lookback), its alert budget for a young version ends: re-fit the "
            f"threshold to {back.refit_to()}",
            action=THRESHOLD,
            diagnosis=OPERATING_POINT,
            refit=back,
        )
    move = (
        _flag_rate_move(evidence, days, attempts, policy, flag_baselines) if policy.refits_threshold else None
    )
    recent = _recent_streak(evidence, days, retrains, policy)
    streak = days[-policy.consecutive_days :]
    bad = {d: evidence[d].bad_signals() for d in streak}
    bad_streak = len(streak) == policy.consecutive_days and all(bad.values())
    labels_only = bad_streak and not any("cbpe" in signals for signals in bad.values())
    held_refit = ""
    doubt = _ranking_in_doubt(evidence[streak[-1]], bad[streak[-1]], policy)
    if move is not None and doubt:
        # a re-fit answers a ranking that held; on a day whose own signals say it may have fallen
        # it answers the wrong diagnosis (docs/decisions/operating-point-refit.md)
        held_refit = f"{move.describe()}, yet no re-fit while the ranking is in doubt ({doubt}); "
        move = None
    move_bad, move_labels_only = bad_streak, labels_only
    if move is not None and move.young_since is not None:
        # a young version's move is judged on its newest day alone, and so are that day's signals
        move_bad = bool(bad[streak[-1]])
        move_labels_only = move_bad and "cbpe" not in bad[streak[-1]]
        if policy.young_flag_rate_ratio > 1:
            move = dataclasses.replace(move, validation_multiple=policy.young_flag_rate_ratio)
    if move is not None and (not move_bad or (move_labels_only and move.down)):
        caught = "; fewer frauds caught, as a lower flag rate catches fewer" if move_bad else ""
        return RetrainDecision(
            streak[-1],
            f"operating point: {move.describe()}{caught}; the ranking held "
            f"({_latest(evidence, streak[-1])}): re-fit the threshold to {move.refit_to()}, not the model",
            action=THRESHOLD,
            diagnosis=OPERATING_POINT,
            refit=move,
        )
    held = evidence[streak[-1]].early_ranking_held(policy.min_auc_drop) if labels_only else None
    # a re-fit, unlike a retrain, is not held back by a retrain's cooldown
    recall_refit = _recall_refit(evidence, streak, attempts, policy) if held else None
    if recall_refit is not None:
        return RetrainDecision(
            streak[-1],
            f"operating point: fewer frauds caught at the threshold, yet the ranking held ({held}; "
            f"{_latest(evidence, streak[-1])}): re-fit the threshold to catch the reference's share of "
            "them again, not the model",
            action=THRESHOLD,
            diagnosis=OPERATING_POINT,
            refit=recall_refit,
        )
    if recent.fire:
        if not labels_only:
            why = "CBPE fell"
        elif held_refit:
            why = f"fewer frauds caught, and the ranking is in doubt ({doubt})"
        else:
            why = "fewer frauds caught, the flag rate not down out of its band"
        return dataclasses.replace(recent, diagnosis=RANKING, reason=f"ranking: {why}; {recent.reason}")
    realized = _realized_streak(evidence, days, policy)
    if realized is None:
        return dataclasses.replace(recent, reason=held_refit + recent.reason)
    blocked = _wait(retrains, days[-1], policy)
    if blocked:
        return RetrainDecision(None, f"{held_refit}{recent.reason}; {realized.reason} but {blocked}")
    return dataclasses.replace(realized, diagnosis=RANKING, reason=f"ranking: {realized.reason}")


def _ranking_in_doubt(newest: DayEvidence, bad: dict[str, str], policy: RetrainPolicy) -> str | None:
    """What says the newest day's ranking may have fallen: its CBPE under its threshold, or the
    early label window's arrived positives ranked under their level (None: nothing does)."""
    return bad.get("cbpe") or newest.early_ranking_fell(policy.min_auc_drop)


def set_flag_targets(
    evidence: dict[str, DayEvidence], policy: RetrainPolicy, flag_baselines: dict[str, dict[str, float]]
) -> None:
    """Each day's flag-rate target: the flag rate its version's threshold was chosen for (its
    validation window's), known from its first served day. A version registered without it is
    held to the mean flag rate of its first ``baseline_days`` served days, kept in
    ``flag_baselines`` (version -> day -> flag rate); its baseline days get none."""
    for e, baseline in _after_baseline(evidence, "flag_rate", flag_baselines, policy.baseline_days):
        if e.reference_flag_rate is not None:
            e.flag_target = e.reference_flag_rate
        else:
            e.flag_target = None if baseline is None else sum(baseline) / len(baseline)


def set_label_auc_baselines(
    evidence: dict[str, DayEvidence], policy: RetrainPolicy, auc_baselines: dict[str, dict[str, float]]
) -> None:
    """Each day's early-label ROC AUC baseline: the mean over its version's first
    ``baseline_days`` days whose label window held ``recall_min_arrived`` arrived positives, kept
    in ``auc_baselines`` (version -> day -> ROC AUC). Not the reference's alone: after a shift a
    version validates on held-out customers of its own training days, which share its merchants,
    and reads higher there than it serves (docs/decisions/operating-point-refit.md)."""
    steady = {d: e for d, e in evidence.items() if e.arrived_at_least(policy.recall_min_arrived)}
    for e, baseline in _after_baseline(steady, "label_auc", auc_baselines, policy.baseline_days):
        e.label_auc_baseline = None if baseline is None else sum(baseline) / len(baseline)
    for e in evidence.values():
        own = e.label_auc_baseline is not None or e.version is None
        before = (None, None) if own else _served_level_before(e.version, auc_baselines, policy.baseline_days)
        e.label_auc_predecessor_version, e.label_auc_predecessor = before


def _served_level_before(
    version: str, auc_baselines: dict[str, dict[str, float]], days: int
) -> tuple[str | None, float | None]:
    """The newest version registered before ``version`` with a level of its own (its first
    ``days`` steady days' mean ROC AUC on arrived positives), and that level (None, None: none).
    A version the gate promoted over it ranked at least as well on the same held-out rows, so
    it should serve at least at its level; its own reference reads high after a shift."""
    for older in sorted(auc_baselines, key=_version_order, reverse=True):
        values = [v for _, v in sorted(auc_baselines[older].items())]
        if _version_order(older) < _version_order(version) and len(values) >= days:
            return older, sum(values[:days]) / days
    return None, None


def set_realized_baselines(
    evidence: dict[str, DayEvidence], policy: RetrainPolicy, realized_baselines: dict[str, dict[str, float]]
) -> None:
    """Each complete day's realized baseline: its version's level, the mean realized ROC AUC of
    its first ``realized_baseline_days`` complete days (kept in ``realized_baselines``, version ->
    day -> value), the level the scoreboard judges a retrain against. Those first days are judged
    against it too, once it is known; until then a day's realized signal waits
    (``realized_level_pending``). Why: docs/decisions/matured-references.md."""
    n = policy.realized_baseline_days
    judged = list(_after_baseline(evidence, "realized", realized_baselines, n))  # fills the baselines
    for e, baseline in judged:
        if baseline is None:
            own = [v for _, v in sorted(realized_baselines[e.version].items())]
            baseline = own[:n] if len(own) >= n else None
        e.realized_level_pending = baseline is None
        e.realized_baseline = None if baseline is None else sum(baseline) / len(baseline)


def mark_mixed_labels(
    evidence: dict[str, DayEvidence], attempts: list[Attempt], policy: RetrainPolicy
) -> None:
    """Days whose early label signal a threshold re-fit of their version answered: the streak that
    called for it, and the days after it whose label window still pools days scored at the older
    threshold."""
    refits = [a for a in attempts if a.kind == THRESHOLD and a.outcome != "skipped"]
    answered = range(-policy.consecutive_days + 1, policy.label_window_days + 1)
    for day, e in evidence.items():
        e.labels_mixed = any(
            _days_between(r.alert_day, day) in answered and r.version in (None, e.version) for r in refits
        )


def _flag_rate_move(
    evidence: dict[str, DayEvidence],
    days: list[str],
    attempts: list[Attempt],
    policy: RetrainPolicy,
    flag_baselines: dict[str, dict[str, float]],
) -> FlagRateMove | None:
    """The newest K consecutive days of one version, all scored after its last re-fit, each on the
    same side of its target, their flag rate off it by more than chance and by at least
    ``min_flag_rate_change`` of it (None: no such move). Chance: binomial on the days' scored
    transactions when the target is the version's reference rate; else the spread of the served
    baseline days (two-sided prediction interval for the mean of K new days)."""
    version = evidence[days[-1]].version
    young = _young_since(str(version), days[-1], attempts, policy, flag_baselines)
    k = 1 if young else policy.consecutive_days
    newest = days[-k:]
    if len(newest) < k or _days_between(newest[0], newest[-1]) != k - 1:
        return None
    found = [evidence[d] for d in newest]
    target = found[-1].flag_target
    # a day whose monitoring has not run yet (its predictions are in, its CBPE estimate is not:
    # the sensor ticks during the daily cycle) cannot say the ranking held
    if target is None or any(
        e.flag_rate is None or e.estimate is None or e.version != version for e in found
    ):
        return None
    if _awaiting_refit(found, newest[0], attempts, str(version)):
        return None
    chance = _chance_margin(found, target, policy, flag_baselines.get(str(version), {}))
    if chance is None:
        return None
    rate = _pooled(found)
    margin = max(chance, policy.min_flag_rate_change * target)
    same_side = all(e.flag_rate < target for e in found) or all(e.flag_rate > target for e in found)
    if not same_side or abs(rate - target) <= margin:
        return None
    scale = _median_change(found)
    # the bulk of the scores must have moved the same way: when only the top moved, the model
    # stopped flagging fraud it used to flag (measured on fraud_shift: flag rate 1.3% -> 0.5%, median
    # score unchanged), and a lower threshold would answer a ranking loss with false positives.
    # Unless the flag rate fell and the newest day's arrived positives say the ranking held: then the
    # top thinned with no fraud escaping, and the threshold sits off the policy's operating point
    # (measured: BENCHMARKS.md, "the median guard overruled by the arrived labels")
    moved = scale is None or (abs(scale) >= policy.min_scale_change and (scale < 0) == (rate < target))
    if not moved and not (rate < target and _arrived_say_ranking_held(found[-1], policy)):
        return None
    return FlagRateMove(str(version), newest[0], newest[-1], rate, target, margin, scale, young)


def _young_budget_ended(
    evidence: dict[str, DayEvidence], days: list[str], attempts: list[Attempt], policy: RetrainPolicy
) -> FlagRateMove | None:
    """The re-fit back from a young version's alert budget, once the regime it was young in is
    older than the features' lookback (its windows full): to its validation window's flag rate, or
    to what holds recall on the arrived labels if that flags more (on the early label signal's days,
    as a recall re-fit reads them: a version that still ranks worse at the operating point keeps
    its budget; measured on fraud_shift seed 65, BENCHMARKS.md). None: nothing to re-fit back."""
    version = evidence[days[-1]].version
    refits = [a for a in attempts if a.kind == THRESHOLD and a.version == version]
    if version is None or not refits:
        return None
    last = refits[-1]
    if last.outcome != "applied" or last.young_since is None:
        return None
    if _days_between(last.young_since, days[-1]) < policy.feature_lookback_days:
        return None
    window = _label_window(evidence, version, days[-1], policy)
    if not window:
        return None
    found = [evidence[d] for d in window]
    target = found[-1].flag_target if found[-1].flag_target is not None else found[-1].flag_rate
    return FlagRateMove(
        version,
        window[0],
        window[-1],
        _pooled(found),
        target,
        0.0,
        _median_change(found),
        validation_multiple=1.0,
    )


def _arrived_say_ranking_held(newest: DayEvidence, policy: RetrainPolicy) -> bool:
    """Enough arrived positives (``recall_min_arrived``) rank as the version's own level says."""
    return (
        newest.arrived_at_least(policy.recall_min_arrived)
        and newest.early_ranking_held(policy.min_auc_drop) is not None
    )


def _young_since(
    version: str,
    newest: str,
    attempts: list[Attempt],
    policy: RetrainPolicy,
    flag_baselines: dict[str, dict[str, float]],
) -> str | None:
    """The start of the regime ``version`` was promoted in, when it first served within the
    features' lookback of it and ``newest`` still is (None: not young). Such a version learnt on
    windows half filled with the new regime and serves on fuller ones, so its scale keeps moving
    from its validation window's (measured: docs/decisions/operating-point-refit.md); at thousands
    of rows a day one day's flag rate tells that beyond chance, and waiting K days serves them at a
    threshold known to be off."""
    served = flag_baselines.get(version)  # its first served days (they outlive the cursor's days)
    if not served or policy.feature_lookback_days <= 0:
        return None
    first = min(served)
    shifts = [
        a.since
        for a in attempts
        if a.kind == RETRAIN and a.outcome == "promoted" and a.since and a.alert_day < first
    ]
    if not shifts or _days_between(shifts[-1], newest) >= policy.feature_lookback_days:
        return None
    return shifts[-1]


def _recall_refit(
    evidence: dict[str, DayEvidence], streak: list[str], attempts: list[Attempt], policy: RetrainPolicy
) -> FlagRateMove | None:
    """The re-fit an early label streak on a ranking that held asks for: on the days the label
    signal pooled (the re-fit holds recall on their arrived labels, its flag rate capped by the
    alert budget), when it re-fits thresholds, enough positives arrived to hold recall on, and
    no re-fit is pending already."""
    newest = evidence[streak[-1]]
    version, target = newest.version, newest.flag_target
    if not policy.refits_threshold or version is None or target is None:
        return None
    if not newest.arrived_at_least(policy.recall_min_arrived):
        return None
    if any(a.kind == THRESHOLD and a.outcome == "pending" and a.version == str(version) for a in attempts):
        return None
    window = _label_window(evidence, version, streak[-1], policy)
    if not window:
        return None
    found = [evidence[d] for d in window]
    return FlagRateMove(
        str(version), window[0], window[-1], _pooled(found), target, 0.0, _median_change(found)
    )


def _label_window(
    evidence: dict[str, DayEvidence], version: str, newest: str, policy: RetrainPolicy
) -> list[str]:
    """The days of ``version`` the early label signal pooled on ``newest`` (ages
    1..label_window_days) and ``newest`` itself: labels as known on it."""
    return [
        d
        for d in sorted(evidence)
        if evidence[d].version == version
        and 0 <= _days_between(d, newest) <= policy.label_window_days
        and evidence[d].flag_rate is not None
    ]


def _pooled(found: list[DayEvidence]) -> float:
    """The days' flag rate over their transactions (their mean while a count is unknown)."""
    scored = [e.scored for e in found]
    if None in scored or not sum(scored):
        return sum(e.flag_rate for e in found) / len(found)
    return sum(e.flag_rate * n for e, n in zip(found, scored, strict=True)) / sum(scored)


def _median_change(found: list[DayEvidence]) -> float | None:
    """The days' median score against the one their threshold was chosen on (the version's
    validation window, or its standing re-fit's window), relative (None: either unknown)."""
    medians = [e.median_score for e in found]
    reference = found[-1].reference_median_score
    if reference is None or None in medians or reference <= 0:
        return None
    return sum(medians) / len(medians) / reference - 1


def _awaiting_refit(found: list[DayEvidence], first: str, attempts: list[Attempt], version: str) -> bool:
    """Whether the version's last re-fit still has to show: pending, or days scored before it
    (after its alert day, but scored at the older threshold: days land faster than runs end)."""
    refits = [a for a in attempts if a.kind == THRESHOLD and a.version in (None, version)]
    if not refits:
        return False
    last = refits[-1]
    if last.outcome == "pending" or first <= last.alert_day:
        return True
    moved = last.outcome == "applied" and last.threshold is not None
    return moved and any(e.threshold is not None and e.threshold != last.threshold for e in found)


def _chance_margin(
    found: list[DayEvidence], target: float, policy: RetrainPolicy, baseline: dict[str, float]
) -> float | None:
    """How far the days' flag rate may stray from ``target`` by chance, two-sided at the
    policy's false-alarm rate (None: nothing to judge chance by yet)."""
    from ml_assets.core.stats import binomial_margin, prediction_interval_margin

    scored = [e.scored for e in found]
    if found[-1].reference_flag_rate is not None and None not in scored:
        return binomial_margin(target, sum(scored), policy.false_alarm_rate / 2)
    values = [v for _, v in sorted(baseline.items())][: policy.baseline_days]
    interval = prediction_interval_margin(values, policy.false_alarm_rate / 2, new_values=len(found))
    return None if interval is None else interval[1]


def _realized_streak(evidence: dict[str, DayEvidence], days: list[str], policy: RetrainPolicy):
    """The newest ``consecutive_days`` days with complete labels, scored by the version that
    scores the newest day, each realized under its CBPE lower bound (None: no such streak)."""
    champion = evidence[days[-1]].version
    complete = [d for d in days if evidence[d].realized is not None and evidence[d].version == champion]
    newest = complete[-policy.consecutive_days :]
    if (
        champion is None
        or len(newest) < policy.consecutive_days
        or _days_between(newest[0], newest[-1]) != policy.consecutive_days - 1
        or not all(evidence[d].realized_below(policy.min_auc_drop) for d in newest)
    ):
        return None
    because = "; ".join(f"{d}: {evidence[d].realized_below(policy.min_auc_drop)}" for d in newest)
    return RetrainDecision(
        days[-1],
        f"v{champion} realized worse than estimated for {policy.consecutive_days} days with complete "
        f"labels ({because})",
        since=newest[0],
        until=newest[-1],
    )


def _recent_streak(
    evidence: dict[str, DayEvidence], days: list[str], attempts: list[Attempt], policy: RetrainPolicy
) -> RetrainDecision:
    """The newest days' signals (CBPE, early labels): K bad days in a row fire."""
    newest = days[-policy.consecutive_days :]
    if len(newest) < policy.consecutive_days:
        return RetrainDecision(None, f"only {len(newest)} day(s) monitored, {policy.consecutive_days} needed")
    if _days_between(newest[0], newest[-1]) != policy.consecutive_days - 1:
        return RetrainDecision(
            None, f"newest days {newest} are not {policy.consecutive_days} consecutive days"
        )
    said = {d: evidence[d].signals() for d in newest}
    good = [d for d in newest if not said[d]]
    if good:
        return RetrainDecision(
            None,
            f"no signal on {', '.join(good)} (of the last {policy.consecutive_days} days): "
            + _latest(evidence, newest[-1]),
        )
    because = "; ".join(f"{d}: {', '.join(said[d])}{_supported(evidence[d])}" for d in newest)
    blocked = _wait(attempts, newest[-1], policy)
    if blocked:
        return RetrainDecision(None, f"bad for {policy.consecutive_days} days ({because}) but {blocked}")
    streak = newest[0]
    for d in reversed(days[: -policy.consecutive_days]):  # how far back the bad streak goes
        if not evidence[d].signals() or _days_between(d, streak) != 1:
            break
        streak = d
    return RetrainDecision(
        newest[-1], f"bad for {policy.consecutive_days} days: {because}", since=streak, until=newest[-1]
    )


def _follow_up(attempts: list[Attempt], newest: str, policy: RetrainPolicy) -> RetrainDecision | None:
    """A retrain promoted days after a shift learnt from those few days (and their young
    labels): once the new regime is ``followup_days`` old, retrain on the longer window; the
    gate keeps whichever is better. Bounded by the list; none while a retrain is pending, nor
    within ``retry_days`` of the last retrain (a shift retrain promoted at regime age 6 is not
    followed up the next day: measured in the test-size seasonal replay)."""
    if not attempts or attempts[-1].outcome == "pending":
        return None
    if _days_between(attempts[-1].alert_day, newest) < policy.retry_days:
        return None
    answered = [a for a in attempts if a.since and a.outcome == "promoted"]
    if not answered:
        return None
    since = answered[-1].since
    for days in policy.followup_days:
        due = (dt.date.fromisoformat(since) + dt.timedelta(days=days)).isoformat()
        tried = any(a.since == since and a.alert_day >= due for a in attempts)
        if newest >= due and not tried:
            return RetrainDecision(
                newest,
                f"follow-up: the regime that started {since} is {_days_between(since, newest)} days old "
                f"(follow-ups at {list(policy.followup_days)} days); the gate keeps the better model",
                since=since,
                follow_up=True,
            )
    return None


def set_thresholds(
    evidence: dict[str, DayEvidence], policy: RetrainPolicy, baselines: dict[str, dict[str, float]]
) -> None:
    """Each day's CBPE threshold from its version's baseline: the first ``baseline_days`` days
    with an estimate, kept in ``baselines`` (version -> day -> estimate) for as long as the
    version serves; days of the baseline itself get no threshold. The day-by-day estimates all
    come from the version's training calibration, the one the baseline was learnt on
    (docs/decisions/matured-references.md)."""
    thresholds: dict[str, float | None] = {}  # per version, once its baseline is complete
    for e, baseline in _after_baseline(evidence, "estimate", baselines, policy.baseline_days):
        if baseline is not None and e.version not in thresholds:
            thresholds[e.version] = policy.estimate_threshold(baseline)
        e.estimate_threshold = None if baseline is None else thresholds[e.version]


def _after_baseline(
    evidence: dict[str, DayEvidence],
    field: str,
    baselines: dict[str, dict[str, float]],
    days: int,
):
    """(a day's evidence, its baseline's values) per day with a version and a ``field`` value,
    in day order. The first ``days`` such days of a version are its baseline, kept in
    ``baselines`` (version -> day -> value; it outlives the days kept in the cursor); they come
    with None."""
    for day in sorted(evidence):
        e = evidence[day]
        value = getattr(e, field)
        if e.version is None or value is None:
            continue
        baseline = baselines.setdefault(e.version, {})
        if day in baseline or len(baseline) < days:
            baseline[day] = value
            yield e, None
        else:
            yield e, [v for _, v in sorted(baseline.items())][:days]


def _latest(evidence: dict[str, DayEvidence], day: str) -> str:
    e = evidence[day]
    parts = []
    if e.estimate is not None:
        parts.append(
            f"CBPE ROC AUC {e.estimate:.3f} (threshold {_fmt(e.estimate_threshold)}){e.cbpe_caveat()}"
        )
    if e.label_z is not None:
        parts.append(f"early labels z {e.label_z:+.2f} (threshold {_fmt(e.label_z_threshold)})")
    return f"{day}: " + (", ".join(parts) or "no signal had data") + _supported(e)


def _supported(e: DayEvidence) -> str:
    drifts = e.supporting()
    return f" (with {' and '.join(drifts)})" if drifts else ""


def _fmt(v: float | None) -> str:
    return "none" if v is None else f"{v:.3f}"


@dataclasses.dataclass
class SensorState:
    """What the retrain sensor remembers between ticks: the event-log position it has read
    up to per asset, the recent days' evidence, the versions' CBPE baselines, and the retrains
    it requested with their outcomes."""

    positions: dict[str, int] = dataclasses.field(default_factory=dict)  # asset -> storage id
    evidence: dict[str, DayEvidence] = dataclasses.field(default_factory=dict)
    attempts: list[Attempt] = dataclasses.field(default_factory=list)
    baselines: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)
    flag_baselines: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)
    auc_baselines: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)
    realized_baselines: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_cursor(cls, cursor: str | None) -> SensorState:
        if not cursor:
            return cls()
        raw = json.loads(cursor)
        if "evidence" not in raw:  # a cursor written before evidence had several signals
            return cls({"estimated_performance": raw.get("storage_id", 0)})
        return cls(
            raw["positions"],
            {d: DayEvidence(**e) for d, e in raw["evidence"].items()},
            [Attempt(**a) for a in raw["attempts"]],
            raw.get("baselines", {}),
            raw.get("flag_baselines", {}),
            raw.get("auc_baselines", {}),
            raw.get("realized_baselines", {}),
        )

    def to_cursor(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    def decision(self, policy: RetrainPolicy) -> RetrainDecision:
        """``decide`` on what the state holds (its baselines filled in as it goes)."""
        return decide(
            self.evidence,
            self.attempts,
            policy,
            self.baselines,
            self.flag_baselines,
            self.auc_baselines,
            self.realized_baselines,
        )

    def day(self, day: str) -> DayEvidence:
        return self.evidence.setdefault(day, DayEvidence())

    def keep_newest(self, days: int, versions: int = 5) -> None:
        self.evidence = dict(sorted(self.evidence.items())[-days:])
        self.attempts = self.attempts[-days:]
        # the baselines of the newest versions (a version's first days never come back)
        for field in ("baselines", "flag_baselines", "auc_baselines", "realized_baselines"):
            kept = getattr(self, field)
            newest = sorted(kept, key=_version_order)[-versions:]
            setattr(self, field, {v: kept[v] for v in newest})


def _version_order(key: str) -> tuple[int, str]:
    """Registry versions in the order they were registered."""
    return (int(key) if key.isdigit() else -1, key)
