"""The early label signal: how many of the positives that have come to light so far the model
had caught, against what its reference showed at the same label age.

Positive labels may arrive over weeks, so a day's realized ROC AUC waits for
``label_delay_max_days``. But the first positives of a day arrive within days, and a model that
misses a new kind of positive shows it there first: the share of arrived positives the model had
flagged (its decision) drops. Which positives arrive early may depend on their kind, so the
comparison is age-matched: an event ``a`` days old is compared with the reference's flagged
share among positives that had arrived within ``a`` days.

For the newest ``days`` scored days before ``day`` (ages 1..days): caught = flagged among the
arrived; expected = sum over arrived positives of p_ref(their age); z = (caught - expected) /
sd, alerting below the normal quantile of ``false_alarm_rate``. The sd counts two noises:
- positives come in episodes (several events of one entity, the spine's first, all flagged or
  all missed together), so the variance is the cluster-robust (sandwich) one, summed per
  episode key; a binomial variance measured 2-3x too small on card fraud and alerted on stable
  days;
- p_ref is itself estimated from a few hundred reference positives: its variance (also per
  episode key) is added, taking the ages as fully correlated (nested sets: the safe side)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from ml_assets.core import lake
from ml_assets.core.features.contract import EPISODE_KEY, EVENT_ID, EVENT_TIME, SPINE
from ml_assets.core.labels import LabelTable
from ml_assets.core.problem import process_problem
from ml_assets.core.records import RecallHold
from ml_assets.core.timestamps import utc_times

LABELS = LabelTable.of(process_problem())


@dataclasses.dataclass(frozen=True)
class LabelSignal:
    day: str  # labels as known at the end of this day
    model_version: str
    days_pooled: int
    arrived: int  # positive labels arrived so far for the pooled days
    caught: int  # of which the model had flagged
    expected: float  # flagged expected at the reference's age-matched rates
    z: float | None  # None: too few arrived positives to say anything
    z_threshold: float
    reference: str
    # the ranking on the same arrived positives: ROC AUC of arrived positives against the window's
    # other events, the reference's likewise at the same label ages, and the sd of their
    # difference (None: too few arrived positives)
    auc: float | None = None
    reference_auc: float | None = None
    auc_sd: float | None = None

    @property
    def alert(self) -> bool:
        return self.z is not None and self.z < self.z_threshold

    def describe(self) -> str:
        if self.z is None:
            return f"early labels: only {self.arrived} positives arrived for the last {self.days_pooled} days"
        ranking = (
            ""
            if None in (self.auc, self.reference_auc)
            else f"; their ROC AUC {self.auc:.3f} against the reference's {self.reference_auc:.3f}"
        )
        return (
            f"early labels: caught {self.caught} of {self.arrived} arrived positive labels, "
            f"{self.expected:.1f} expected at the reference's rates (z {self.z:+.2f}, threshold "
            f"{self.z_threshold:+.2f}; reference {self.reference}){ranking}"
        )


class ArrivalIndex:
    """Arrival day of every positive label that landed in the lake's label partitions of ``ranges``
    (inclusive date pairs), and the episode key of every event of those days."""

    def __init__(self, lake_dir: Path, ranges: list[tuple[dt.date, dt.date]]):
        wanted = sorted(
            {start + dt.timedelta(days=k) for start, end in ranges for k in range((end - start).days + 1)}
        )
        # positive labels only: the signal counts arrived positives the model had flagged
        self.arrival_day = {
            event: d
            for d in wanted
            if lake.partition_path(lake_dir, LABELS.table, d).exists()
            for event in LABELS.positive_ids(lake.read_partition(lake_dir, LABELS.table, d))
        }
        columns = list(dict.fromkeys([EVENT_ID, EPISODE_KEY]))
        keyed = [
            lake.read_partition(lake_dir, SPINE.table, d)[columns]
            for d in wanted
            if lake.partition_path(lake_dir, SPINE.table, d).exists()
        ]
        known = pd.concat(keyed) if keyed else pd.DataFrame(columns=columns)
        self.episode = dict(zip(known[EVENT_ID].astype(str), known[EPISODE_KEY].astype(str), strict=True))

    def ages(self, ids: pd.Series, days: pd.Series) -> pd.Series:
        """Days from each event's day to its positive label's arrival (NaN: none arrived)."""
        arrived = ids.astype(str).map(self.arrival_day)
        return pd.Series(
            [(a - d).days if isinstance(a, dt.date) else np.nan for a, d in zip(arrived, days, strict=True)],
            index=ids.index,
            dtype="float64",
        )

    def episodes(self, ids: pd.Series) -> np.ndarray:
        """The episode key of each event (its own id when unknown: a cluster of one)."""
        ids = ids.astype(str)
        return ids.map(self.episode).fillna(ids).to_numpy()


def _clustered_sum_of_squares(residuals: np.ndarray, clusters: np.ndarray) -> float:
    """Sandwich variance of a sum of residuals whose clusters are independent."""
    if len(residuals) == 0:
        return 0.0
    sums = pd.Series(residuals).groupby(clusters).sum().to_numpy()
    return float((sums**2).sum())


def auc_with_variance(
    positives: np.ndarray, negatives: np.ndarray, clusters: np.ndarray
) -> tuple[float, float]:
    """ROC AUC of ``positives`` over ``negatives`` (scores) and its variance (DeLong's: each
    positive's placement among the negatives, summed per episode ``clusters`` as the caught
    counts are, plus each negative's among the positives)."""
    neg, pos = np.sort(negatives), np.sort(positives)
    placement = (np.searchsorted(neg, positives, "left") + np.searchsorted(neg, positives, "right")) / (
        2 * neg.size
    )
    auc = float(placement.mean())
    above = 1 - (np.searchsorted(pos, negatives, "left") + np.searchsorted(pos, negatives, "right")) / (
        2 * pos.size
    )
    variance = _clustered_sum_of_squares(placement - auc, clusters) / pos.size**2 + above.var() / neg.size
    return auc, float(variance)


def reference_rates(
    reference: pd.DataFrame, threshold: float, index: ArrivalIndex, max_age: int, known_until: dt.date
) -> dict[int, tuple[float, float]]:
    """(p_ref, its variance) for ages 1..max_age: the flagged share of the reference's
    positives that arrived within ``age`` days, over the reference days at least ``age`` days
    before ``known_until`` (younger ones cannot show a full ``age`` yet); NaN where none arrived."""
    days = utc_times(reference[EVENT_TIME]).dt.date
    age = index.ages(reference[EVENT_ID], days).to_numpy()
    old_enough = days.map(lambda d: (known_until - d).days).to_numpy()
    flagged = (reference["score"].to_numpy() > threshold).astype("float64")
    episodes = index.episodes(reference[EVENT_ID])
    rates = {}
    for a in range(1, max_age + 1):
        known = (age <= a) & (old_enough >= a)
        if not known.any():
            rates[a] = (np.nan, np.nan)
            continue
        p = flagged[known].mean()
        rates[a] = (
            float(p),
            _clustered_sum_of_squares(flagged[known] - p, episodes[known]) / known.sum() ** 2,
        )
    return rates


def _arrived_at_reference_rates(
    frame: pd.DataFrame,
    reference: pd.DataFrame,
    threshold: float,
    index: ArrivalIndex,
    day: dt.date,
    max_age: int,
):
    """``frame``'s events 1..``max_age`` days old on ``day``; which of them had a positive label
    arrived by then; the ages of those, and the reference's rate at each age (NaN: none)."""
    tx_days = utc_times(frame[EVENT_TIME]).dt.date
    age_now = tx_days.map(lambda d: (day - d).days)
    window = ((age_now >= 1) & (age_now <= max_age)).to_numpy()
    preds, age_now = frame[window], age_now[window]
    arrived = (index.ages(preds[EVENT_ID], tx_days[window]) <= age_now).to_numpy()
    rates = reference_rates(reference, threshold, index, max_age, day)
    ages = age_now[arrived].to_numpy()
    return preds, arrived, ages, np.array([rates[a][0] for a in ages], dtype="float64"), rates


def label_signal(
    predictions: pd.DataFrame,
    reference: pd.DataFrame,
    threshold: float,
    index: ArrivalIndex,
    day: dt.date,
    days: int,
    false_alarm_rate: float,
    min_arrived: int,
    model_version: str,
    reference_label: str,
) -> LabelSignal:
    """The signal for the ``days`` scored days before ``day`` of one model version
    (``predictions``: the event id and time, and the decision)."""
    from scipy.stats import norm

    preds, arrived, ages, p, rates = _arrived_at_reference_rates(
        predictions, reference, threshold, index, day, days
    )
    usable = ~np.isnan(p)
    flagged = preds["decision"].to_numpy()[arrived][usable].astype("float64")
    ages, p = ages[usable], p[usable]
    episodes = index.episodes(preds[EVENT_ID][arrived][usable])
    n, caught, expected = int(usable.sum()), int(flagged.sum()), float(p.sum())
    # the analysis side, per episode key; the reference side, ages taken as fully correlated
    per_age = pd.Series(ages).value_counts()
    reference_sd = sum(count * np.sqrt(rates[a][1]) for a, count in per_age.items())
    variance = _clustered_sum_of_squares(flagged - p, episodes) + reference_sd**2
    z = (caught - expected) / np.sqrt(variance) if n >= min_arrived and variance > 0 else None
    auc = reference_auc = auc_sd = None
    if z is not None:
        scores = preds["score"].to_numpy(dtype="float64")
        auc, auc_var = auc_with_variance(
            scores[arrived], scores[~arrived], index.episodes(preds[EVENT_ID][arrived])
        )
        ref_days = utc_times(reference[EVENT_TIME]).dt.date
        # the reference's days at the window's label ages (newest 1, then 2, ... up to ``days``):
        # its not-yet-arrived positives then sit among the negatives in the same share as the
        # window's, which otherwise biased the difference (docs/decisions/operating-point-refit.md)
        order = sorted(set(ref_days), reverse=True)
        age = ref_days.map({d: min(days, k + 1) for k, d in enumerate(order)})
        ref_arrived = (index.ages(reference[EVENT_ID], ref_days) <= age).to_numpy()
        ref_scores = reference["score"].to_numpy(dtype="float64")
        if ref_arrived.any() and not ref_arrived.all():
            reference_auc, ref_var = auc_with_variance(
                ref_scores[ref_arrived],
                ref_scores[~ref_arrived],
                index.episodes(reference[EVENT_ID][ref_arrived]),
            )
            auc_sd = float(np.sqrt(auc_var + ref_var))
    return LabelSignal(
        day.isoformat(),
        model_version,
        int(utc_times(preds[EVENT_TIME]).dt.date.nunique()),
        n,
        caught,
        expected,
        None if z is None else float(z),
        float(norm.ppf(false_alarm_rate)),
        reference_label,
        auc,
        reference_auc,
        auc_sd,
    )


def recall_hold(
    window: pd.DataFrame,
    reference: pd.DataFrame,
    threshold: float,
    index: ArrivalIndex,
    day: dt.date,
    min_arrived: int,
) -> RecallHold | None:
    """The threshold at which ``window``'s positives arrived by ``day`` (its events with their
    ``score`` and ``decision``) are caught as often as the reference's rates at ``threshold``
    say, age by age (None: fewer than ``min_arrived`` arrived)."""
    oldest = utc_times(window[EVENT_TIME]).dt.date.min()
    window, arrived, _, p, _ = _arrived_at_reference_rates(
        window, reference, threshold, index, day, (day - oldest).days
    )
    usable = ~np.isnan(p)
    if usable.sum() < min_arrived:
        return None
    scores = np.sort(window["score"].to_numpy(dtype="float64")[arrived][usable])[::-1]
    expected = float(p[usable].sum())
    k = min(int(round(expected)), scores.size)
    # k scores above the threshold: halfway between the k-th and the next (the extremes stay put)
    if k == 0:
        chosen = float(scores[0])
    elif k == scores.size:
        chosen = float(np.nextafter(scores[-1], -np.inf))
    else:
        chosen = float((scores[k - 1] + scores[k]) / 2)
    caught = int(window["decision"].to_numpy()[arrived][usable].astype(bool).sum())
    return RecallHold(chosen, int(usable.sum()), expected, caught)
