"""The retrain policy evaluated again, day by day, on an instance's event log: what the retrain
sensor decides on each monitored day with the policy as the code now has it, from the evidence the
sensor read that day (the monitoring assets' materializations) and the responses requested before
it (the sensor's runs, with their outcomes).

Why: a change to the policy is judged on a finished replay in seconds, where a replay at default
size takes half an hour. Exact up to the first day whose decision differs from the live one: after
it, the replay's own responses (a version promoted, a threshold moved) shaped the evidence. A
response's outcome counts from the day after its alert day, as in a replay, whose runs end within
their day; under a daemon a run may still be going then."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt

import dagster as dg

from ml_assets.core.retrain_policy import (
    Attempt,
    RetrainPolicy,
    SensorState,
    set_flag_targets,
    set_label_auc_baselines,
    set_realized_baselines,
    set_thresholds,
)
from ml_assets.core.settings import Settings
from ml_assets.defs.automation import sensors


@dataclasses.dataclass(frozen=True)
class DayDecision:
    day: str
    version: str | None  # the version that scored the day
    fire: bool
    action: str  # retrain | threshold ("" when it did not fire)
    reason: str


def reevaluate(instance: dg.DagsterInstance, settings: Settings) -> list[DayDecision]:
    """The policy's decision on every day with evidence, in day order."""
    everything = SensorState()
    sensors.read_evidence(instance, everything)
    requested = SensorState(attempts=sensors.requested_attempts(instance))
    sensors.settle_attempts(instance, requested)
    policy = RetrainPolicy.from_settings(settings)
    days = sorted(everything.evidence)
    return [_decide_on(day, everything, requested.attempts, policy, settings) for day in days]


def _decide_on(
    day: str, everything: SensorState, attempts: list[Attempt], policy: RetrainPolicy, settings: Settings
) -> DayDecision:
    """The decision as the sensor made it after ``day``'s runs: the days up to it, a day's complete
    labels only once ``label_delay_max_days`` passed, the responses requested before it."""
    complete_through = (
        dt.date.fromisoformat(day) - dt.timedelta(days=settings.label_delay_max_days)
    ).isoformat()
    evidence = {}
    for d in sorted(everything.evidence):
        if d > day:
            break
        e = copy.deepcopy(everything.evidence[d])
        if d > complete_through:
            e.realized = e.realized_floor = e.realized_estimate = None
        evidence[d] = e
    # the baselines are learnt from every day up to ``day`` (the sensor keeps them beyond the days
    # its cursor holds), then the decision reads the days the cursor holds
    state = SensorState(evidence=evidence, attempts=[copy.copy(a) for a in attempts if a.alert_day < day])
    set_thresholds(evidence, policy, state.baselines)
    set_flag_targets(evidence, policy, state.flag_baselines)
    set_label_auc_baselines(evidence, policy, state.auc_baselines)
    set_realized_baselines(evidence, policy, state.realized_baselines)
    state.evidence = dict(sorted(evidence.items())[-settings.sensor_history_days :])
    state.attempts = state.attempts[-settings.sensor_history_days :]
    decision = state.decision(policy)
    action = decision.action if decision.fire else ""
    return DayDecision(day, evidence[day].version, decision.fire, action, decision.reason)


def differs_from_saved(decisions: list[DayDecision], saved: list[dict]) -> list[str]:
    """The days whose decision is not the one a replay saved (its days JSON: each day's reason,
    a request's cut to the 250 characters a run tag holds)."""
    said = {row["day"]: row["reason"] for row in saved}
    return [d.day for d in decisions if d.day in said and d.reason[:250] != said[d.day][:250]]
