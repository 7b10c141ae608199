"""When to retrain: a plain function of the recent estimated ROC AUC per day."""

from __future__ import annotations

import dataclasses
import datetime as dt


@dataclasses.dataclass(frozen=True)
class RetrainPolicy:
    threshold: float  # estimated ROC AUC under this is a bad day
    consecutive_days: int  # K bad days in a row fire
    cooldown_days: int  # no new retrain within this many days of the last one

    @classmethod
    def from_settings(cls, s) -> RetrainPolicy:
        return cls(s.retrain_auc_threshold, s.retrain_consecutive_days, s.retrain_cooldown_days)


def decide(estimates: dict[str, float], last_retrain: str | None, policy: RetrainPolicy) -> tuple[str | None, str]:
    """(alert day or None, reason). Fires when the newest K days are consecutive calendar
    days, all estimated under the threshold, and the cooldown has passed."""
    if not estimates:
        return None, "no estimated performance materialized yet"
    days = sorted(estimates)
    newest = days[-policy.consecutive_days:]
    if len(newest) < policy.consecutive_days:
        return None, f"only {len(newest)} day(s) estimated, {policy.consecutive_days} needed"
    dates = [dt.date.fromisoformat(d) for d in newest]
    if (dates[-1] - dates[0]).days != policy.consecutive_days - 1:
        return None, f"newest estimates {newest} are not {policy.consecutive_days} consecutive days"
    values = ", ".join(f"{d}={estimates[d]:.3f}" for d in newest)
    if any(estimates[d] >= policy.threshold for d in newest):
        return None, f"estimated ROC AUC not under {policy.threshold} for {policy.consecutive_days} days ({values})"
    if last_retrain is not None:
        since = (dates[-1] - dt.date.fromisoformat(last_retrain)).days
        if since < policy.cooldown_days:
            return None, (f"estimated ROC AUC under {policy.threshold} ({values}) but the last retrain was "
                          f"{since} day(s) ago, cooldown {policy.cooldown_days}")
    return newest[-1], f"estimated ROC AUC under {policy.threshold} for {policy.consecutive_days} days: {values}"
