"""The recovery scoreboard of a replay: how fast the loop saw a drift and how fast the
serving model was good again, from the replay's day rows.

- detection delay: days from the drift's first day to the sensor's first trigger on or after it;
- time to recover: days from the drift's first day to the first day from which the serving
  champion's realized ROC AUC stays within ``tolerance`` of its pre-drift level for
  ``settle_days`` observed days (realized values exist only once a day's labels are complete,
  so the last ``label_delay_max_days`` of a replay cannot show a recovery: then it is None);
- realized ROC AUC lost: the area (AUC x days) below the pre-drift level from the drift on;
- retrains fired / promoted / rejected;
- unneeded retrains: fired on a streak (the days the sensor named; a streak of complete labels
  ends a label delay before its trigger) whose realized ROC AUC, once known, was within
  ``tolerance`` of the serving champion's own level (the mean of its first ``reference_days``
  realized days, before the drift when it served before it); a streak without realized values
  yet is not judged. A planned follow-up of a new regime (a retrain on its longer window, which
  the gate keeps only if better) is fired on no streak: counted apart, never as unneeded;
- false triggers over the whole run: every trigger before the drift (on the stable scenario,
  every trigger), and the unneeded ones after it;
- threshold re-fits (the operating-point response), and the operating point's loss: recall at
  the served decisions, on complete labels, below its pre-drift level (recall x days);
- recall recovery of each re-fit after the drift: days from the re-fit to the first day from
  which the mean realized recall of ``settle_days`` observed days is within
  ``recall_tolerance`` of its pre-drift level (a mean, because one day's recall rests on a few
  dozen frauds; judged only while the re-fitted threshold served, from the day after the re-fit,
  so 1 is its first served day, up to the next promotion or re-fit: "never" when no such window
  came in that span by the last day with complete labels; a re-fit replaced before
  ``settle_days`` observed days is counted as replaced, one followed by fewer than
  ``settle_days`` days with complete labels as pending);
- the threshold's share of that loss: recall at the served decisions below what the ranking
  allowed, the recall of the best threshold at the policy's false-positive rate on the same labels
  (capped at the pre-drift level), recall x days; and each re-fit's days to recall within
  ``recall_tolerance`` of that, judged as above. A version that ranks worse than the pre-drift one
  at the operating point cannot get its recall back by any threshold at that false-positive rate
  (measured: BENCHMARKS.md, "What a threshold can get back").
The pre-drift levels are the mean realized ROC AUC and recall of the ``reference_days`` before
the drift."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path


@dataclasses.dataclass(frozen=True)
class Scoreboard:
    scenario: str
    days: int
    drift_start: str | None
    pre_drift_auc: float | None
    detection_delay_days: int | None
    time_to_recover_days: int | None
    auc_lost: float | None  # AUC x days below the pre-drift level
    retrains_fired: int
    retrains_promoted: int
    retrains_rejected: int
    false_triggers: int
    # feature-drift alerts of the most alerting feature per 30 monitored days, before the drift
    feature_alerts_per_month: float | None = None
    retrains_unneeded: int = 0
    threshold_refits: int = 0
    pre_drift_recall: float | None = None
    recall_lost: float | None = None  # recall x days below the pre-drift level
    retrains_follow_up: int = 0  # of the retrains fired, the planned follow-ups of a new regime
    # per threshold re-fit after the drift, in order: days until recall was back (None: never, by
    # the last day with complete labels); the re-fits after those are pending (too few such days)
    recall_recovery_days: tuple[int | None, ...] = ()
    recall_recovery_pending: int = 0
    # re-fits whose threshold a promotion or another re-fit replaced before they could be judged
    recall_recovery_replaced: int = 0
    recall_lost_to_threshold: float | None = None  # recall x days below what the ranking allowed
    # per re-fit judged: days until recall was within the tolerance of what the ranking allowed
    recall_recovery_reachable_days: tuple[int | None, ...] = ()

    def _recoveries(self, days: tuple[int | None, ...]) -> str:
        return (
            ", ".join(
                ["never" if d is None else str(d) for d in days]
                + [REPLACED] * self.recall_recovery_replaced
                + [PENDING] * self.recall_recovery_pending
            )
            or "-"
        )

    def row(self) -> list[str]:
        def fmt(v, spec="") -> str:
            return "-" if v is None else format(v, spec)

        return [
            self.scenario,
            fmt(self.drift_start),
            fmt(self.pre_drift_auc, ".3f"),
            fmt(self.detection_delay_days),
            fmt(self.time_to_recover_days),
            fmt(self.auc_lost, ".2f"),
            f"{self.retrains_fired} / {self.retrains_promoted} / {self.retrains_rejected}",
            str(self.retrains_follow_up),
            str(self.retrains_unneeded),
            str(self.false_triggers),
            str(self.threshold_refits),
            fmt(self.pre_drift_recall, ".3f"),
            fmt(self.recall_lost, ".2f"),
            self._recoveries(self.recall_recovery_days),
            fmt(self.recall_lost_to_threshold, ".2f"),
            self._recoveries(self.recall_recovery_reachable_days),
            fmt(self.feature_alerts_per_month, ".1f"),
        ]


HEADER = [
    "scenario",
    "drift starts",
    "pre-drift realized ROC AUC",
    "detection delay (days)",
    "time to recover (days)",
    "realized ROC AUC lost (AUC x days)",
    "retrains fired / promoted / rejected",
    "of which planned follow-ups",
    "unneeded retrains (fired on a streak)",
    "false triggers (whole run)",
    "threshold re-fits",
    "pre-drift recall at the threshold",
    "recall lost (recall x days)",
    "days to recall within 0.05 after each re-fit",
    "recall lost to the threshold (recall x days under the best threshold at the policy's FPR)",
    "days to recall within 0.05 of the best threshold's after each re-fit",
    "feature-drift alerts, most alerting feature (per 30 days before the drift)",
]


def score(
    rows,
    scenario: str,
    drift_start: dt.date | None,
    reference_days: int = 14,
    tolerance: float = 0.02,
    settle_days: int = 3,
    recall_tolerance: float = 0.05,
) -> Scoreboard:
    """The scoreboard of replay ``rows`` (objects with day, realized_auc, realized_recall, sensor,
    retrain and drifting_features, a comma-separated list)."""
    days = [(dt.date.fromisoformat(r.day), r) for r in rows]
    alerts = feature_alerts_per_month([r for d, r in days if drift_start is None or d < drift_start])
    fired = [d for d, r in days if r.sensor == "FIRED"]
    unneeded = unneeded_retrains(days, drift_start, reference_days, tolerance)
    refits = sum(r.sensor == "REFIT" for _, r in days)
    follow_ups = sum(r.sensor == "FIRED" and getattr(r, "follow_up", False) for _, r in days)
    promoted = sum(r.retrain.endswith("promoted") for _, r in days)
    rejected = sum("rejected" in r.retrain for _, r in days)
    if drift_start is None:
        return Scoreboard(
            scenario,
            len(days),
            None,
            None,
            None,
            None,
            None,
            len(fired),
            promoted,
            rejected,
            len(fired),
            alerts,
            len(unneeded),
            refits,
            retrains_follow_up=follow_ups,
        )
    pre = _pre_drift([(d, r.realized_auc) for d, r in days], drift_start, reference_days)
    recall = [(d, getattr(r, "realized_recall", None)) for d, r in days]
    pre_recall = _pre_drift(recall, drift_start, reference_days)
    recall_lost, recall_recovery, pending, replaced = None, (), 0, 0
    lost_to_threshold, reachable_recovery = None, ()
    if pre_recall is not None:
        recall_lost = sum(max(0.0, pre_recall - v) for d, v in recall if v is not None and d >= drift_start)
        refit_days = [d for d, r in days if r.sensor == "REFIT" and d >= drift_start]
        floors = dict.fromkeys((d for d, _ in recall), pre_recall - recall_tolerance)
        outcomes = [_refit_recovery(days, recall, refit, floors, settle_days) for refit in refit_days]
        recall_recovery = tuple(o for o in outcomes if o not in (PENDING, REPLACED))
        pending, replaced = outcomes.count(PENDING), outcomes.count(REPLACED)
        # what the ranking allowed at the operating point, never above the pre-drift level
        reachable = {
            d: min(pre_recall, r.attainable_recall)
            for d, r in days
            if getattr(r, "attainable_recall", None) is not None
        }
        if reachable:
            after = [(d, v) for d, v in recall if v is not None and d >= drift_start and d in reachable]
            lost_to_threshold = sum(max(0.0, reachable[d] - v) for d, v in after)
            floors = {d: level - recall_tolerance for d, level in reachable.items()}
            judged = [_refit_recovery(days, recall, refit, floors, settle_days) for refit in refit_days]
            reachable_recovery = tuple(o for o in judged if o not in (PENDING, REPLACED))
    detection = next(((d - drift_start).days for d in fired if d >= drift_start), None)
    after = [(d, r.realized_auc) for d, r in days if d >= drift_start and r.realized_auc is not None]
    recovered, lost = None, None
    if pre is not None:
        lost = sum(max(0.0, pre - auc) for _, auc in after)
        for i in range(len(after) - settle_days + 1):
            if all(auc >= pre - tolerance for _, auc in after[i : i + settle_days]):
                recovered = (after[i][0] - drift_start).days
                break
    return Scoreboard(
        scenario,
        len(days),
        drift_start.isoformat(),
        pre,
        detection,
        recovered,
        lost,
        len(fired),
        promoted,
        rejected,
        sum(d < drift_start for d in fired) + sum(d >= drift_start for d in unneeded),
        alerts,
        len(unneeded),
        refits,
        pre_recall,
        recall_lost,
        retrains_follow_up=follow_ups,
        recall_recovery_days=recall_recovery,
        recall_recovery_pending=pending,
        recall_recovery_replaced=replaced,
        recall_lost_to_threshold=lost_to_threshold,
        recall_recovery_reachable_days=reachable_recovery,
    )


PENDING, REPLACED = "labels pending", "replaced"


def _refit_recovery(
    days, recall, refit: dt.date, floors: dict[dt.date, float], settle_days: int
) -> int | None | str:
    """A re-fit's days to recall within its day's floor, judged only while its threshold served: from
    the day after it (the re-fit day itself was scored at the threshold it replaced) up to the day
    of the next promotion or re-fit (served the day after). REPLACED: that came before
    ``settle_days`` observed days, so the re-fit was never judged on its own; PENDING: too few
    days with complete labels yet; None: never within its span."""
    end = next(
        (d for d, r in days if d > refit and (_applied_refit(r) or r.retrain.endswith("promoted"))), None
    )
    span = [(d, v) for d, v in recall if d > refit and (end is None or d <= end)]
    recovered = _recovery_days(span, refit, floors, settle_days)
    if recovered is not None or sum(v is not None for _, v in span) >= settle_days:
        return recovered
    labelled = end is not None and all(v is not None for _, v in span)
    return REPLACED if labelled else PENDING


def _applied_refit(row) -> bool:
    return row.sensor == "REFIT" and "->" in row.retrain  # "threshold 0.41 -> 0.33 (...)" (replay.py)


def _recovery_days(values, since: dt.date, floors: dict[dt.date, float], settle_days: int) -> int | None:
    """Days from ``since`` to the first day on or after it from which the mean of ``settle_days``
    observed values ((day, value or None) pairs) is at least the mean of those days' ``floors``
    (days without one are not observed) (None: not seen)."""
    observed = [(d, v, floors[d]) for d, v in values if v is not None and d >= since and d in floors]
    for i in range(len(observed) - settle_days + 1):
        window = observed[i : i + settle_days]
        if sum(v for _, v, _ in window) >= sum(f for _, _, f in window):
            return (observed[i][0] - since).days
    return None


def _pre_drift(values, drift_start: dt.date, reference_days: int) -> float | None:
    """The mean of ``values`` ((day, value or None) pairs) over the ``reference_days`` before the
    drift (None: no value there)."""
    before = [
        v
        for d, v in values
        if v is not None and drift_start - dt.timedelta(days=reference_days) <= d < drift_start
    ]
    return sum(before) / len(before) if before else None


def unneeded_retrains(days, drift_start: dt.date | None, reference_days: int, tolerance: float) -> list:
    """The trigger days whose streak (``_streak``) was, by its realized ROC AUC, within
    ``tolerance`` of the serving champion's own level."""
    first_served: dict[str, dt.date] = {}
    for d, r in days:
        first_served.setdefault(r.champion, d)
    levels: dict[str, list[float]] = {}  # each version's first realized days
    for d, r in days:
        served_before_drift = drift_start is not None and first_served[r.champion] < drift_start
        if r.realized_auc is None or (served_before_drift and d >= drift_start):
            continue
        values = levels.setdefault(r.champion, [])
        if len(values) < reference_days:
            values.append(r.realized_auc)
    out = []
    for i, (d, r) in enumerate(days):
        if r.sensor != "FIRED" or getattr(r, "follow_up", False) or not levels.get(r.champion):
            continue
        streak = _streak(days, i)
        realized = [x.realized_auc for x in streak if x.realized_auc is not None]
        level = sum(levels[r.champion]) / len(levels[r.champion])
        if realized and sum(realized) / len(realized) >= level - tolerance:
            out.append(d)
    return out


def _streak(days, i: int) -> list:
    """The rows of the bad streak trigger ``i`` answered: the days its sensor named (a streak of
    complete labels ends a label delay before its trigger); without them, the trigger day and
    the bad days in a row before it."""
    d, r = days[i]
    if r.bad_since:
        first = dt.date.fromisoformat(r.bad_since)
        last = dt.date.fromisoformat(r.bad_until) if r.bad_until else d
        return [x for day, x in days if first <= day <= last]
    streak = [r]
    for _, earlier in reversed(days[:i]):
        if not earlier.bad_by:
            break
        streak.append(earlier)
    return streak


def feature_alerts_per_month(rows) -> float | None:
    """Drift alerts of the most alerting feature, per 30 of ``rows``' days."""
    if not rows:
        return None
    counts: dict[str, int] = {}
    for r in rows:
        for feature in filter(None, (f.strip() for f in r.drifting_features.split(","))):
            counts[feature] = counts.get(feature, 0) + 1
    return max(counts.values(), default=0) * 30 / len(rows)


def save(board: Scoreboard, reports_dir: Path) -> Path:
    path = Path(reports_dir) / f"scoreboard_{board.scenario}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dataclasses.asdict(board), indent=2) + "\n")
    return path


def table(boards: list[Scoreboard]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(b.row()) + " |" for b in boards]
    return "\n".join(lines)


def load(path: Path) -> Scoreboard:
    fields = json.loads(Path(path).read_text())
    for name in ("recall_recovery_days", "recall_recovery_reachable_days"):
        fields[name] = tuple(fields.get(name, ()))  # JSON has lists
    return Scoreboard(**fields)


def append_report(boards: list[Scoreboard], path: Path, days: int, seed: int, drift_day: int) -> None:
    """The boards as a table appended to BENCHMARKS.md, dated, with what was run."""
    import os

    text = (
        f"\n### Recovery scoreboard ({dt.date.today()}, {os.cpu_count()} cores)\n\n{table(boards)}\n\n"
        f"`make scoreboard`: {days} days a scenario, seed {seed}, drift from day {drift_day}; plots in "
        "docs/scoreboard/. Time to recover needs realized ROC AUC, which exists once a day's labels are "
        "complete (label_delay_max_days), so the last days of a replay cannot show one.\n"
    )
    print(text)
    with open(path, "a") as fh:
        fh.write(text)
