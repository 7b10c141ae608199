"""When to retrain: a plain function of the recent estimated ROC AUC per day, and the
state a sensor keeps between ticks."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

from ml_assets.core.settings import Settings


@dataclasses.dataclass(frozen=True)
class RetrainPolicy:
    threshold: float  # estimated ROC AUC under this is a bad day
    consecutive_days: int  # K bad days in a row fire
    cooldown_days: int  # no new retrain within this many days of the last one

    @classmethod
    def from_settings(cls, s: Settings) -> RetrainPolicy:
        return cls(s.retrain_auc_threshold, s.retrain_consecutive_days, s.retrain_cooldown_days)


@dataclasses.dataclass(frozen=True)
class RetrainDecision:
    alert_day: str | None  # the day that completed the evidence; None means no retrain
    reason: str

    @property
    def fire(self) -> bool:
        return self.alert_day is not None

    def as_of(self) -> dt.date:
        """Train with everything known by the end of the alert day."""
        return dt.date.fromisoformat(self.alert_day) + dt.timedelta(days=1)


def decide(estimates: dict[str, float], last_retrain: str | None, policy: RetrainPolicy) -> RetrainDecision:
    """Fires when the newest K days are consecutive calendar days, all estimated under the
    threshold, and the cooldown has passed."""
    if not estimates:
        return RetrainDecision(None, "no estimated performance materialized yet")
    days = sorted(estimates)
    newest = days[-policy.consecutive_days :]
    if len(newest) < policy.consecutive_days:
        return RetrainDecision(None, f"only {len(newest)} day(s) estimated, {policy.consecutive_days} needed")
    dates = [dt.date.fromisoformat(d) for d in newest]
    if (dates[-1] - dates[0]).days != policy.consecutive_days - 1:
        return RetrainDecision(
            None, f"newest estimates {newest} are not {policy.consecutive_days} consecutive days"
        )
    values = ", ".join(f"{d}={estimates[d]:.3f}" for d in newest)
    if any(estimates[d] >= policy.threshold for d in newest):
        return RetrainDecision(
            None,
            f"estimated ROC AUC not under {policy.threshold} for {policy.consecutive_days} days ({values})",
        )
    if last_retrain is not None:
        since = (dates[-1] - dt.date.fromisoformat(last_retrain)).days
        if since < policy.cooldown_days:
            return RetrainDecision(
                None,
                (
                    f"estimated ROC AUC under {policy.threshold} ({values}) but the last retrain "
                    f"was {since} day(s) ago, cooldown {policy.cooldown_days}"
                ),
            )
    return RetrainDecision(
        newest[-1], f"estimated ROC AUC under {policy.threshold} for {policy.consecutive_days} days: {values}"
    )


@dataclasses.dataclass
class SensorState:
    """What the retrain sensor remembers between ticks: the event-log position it has read
    up to, the recent estimates per day, and the day of the last retrain it requested."""

    storage_id: int = 0
    estimates: dict[str, float] = dataclasses.field(default_factory=dict)
    last_retrain: str | None = None

    @classmethod
    def from_cursor(cls, cursor: str | None) -> SensorState:
        return cls(**json.loads(cursor)) if cursor else cls()

    def to_cursor(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    def add(self, day: str, estimate: float, storage_id: int) -> None:
        self.estimates[day] = estimate
        self.storage_id = max(self.storage_id, storage_id)

    def keep_newest(self, days: int) -> None:
        self.estimates = dict(sorted(self.estimates.items())[-days:])
