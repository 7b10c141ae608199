"""The decision threshold of a registered version as a registry event: re-fitted on recent
scored days when the operating point moved while the ranking held, and rolled back like a model.

A version's threshold is set at training (the validation window's score at ``fixed_fpr``).
When the scores' scale drifts while their order holds, a retrain is the wrong answer (the gate
refuses challengers that rank no better); moving the threshold back to the flag rate it was chosen
for is the right one (the policy that asks for it: retrain_policy.py).

The event lives on the version in MLflow: the tag ``decision_threshold`` (what batch scoring and
the online service read), and ``decision_threshold_history``, the events that moved it (JSON,
newest last), so a rollback knows what to restore and the registry UI shows why it moved."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import numpy as np

from ml_assets.core.model import threshold_for_flag_rate
from ml_assets.core.model_store import CHAMPION, ModelStore
from ml_assets.core.records import RecallHold
from ml_assets.core.training.tracking import REFERENCE_FLAG_RATE_TAG
from ml_assets.core.warehouse import PREDICTION_LOG, Warehouse

THRESHOLD_TAG, HISTORY_TAG = "decision_threshold", "decision_threshold_history"
HISTORY_KEPT = 50  # events kept on the version (older ones drop off the front)
REFIT, ROLLBACK = "refit", "rollback"


@dataclasses.dataclass(frozen=True)
class ThresholdEvent:
    version: str
    at: str  # ISO time of the move
    kind: str  # refit | rollback
    previous: float
    threshold: float
    reason: str
    window: str = ""  # the scored days a re-fit read, "start..end"
    rows: int = 0  # transactions in the window
    target_flag_rate: float | None = None
    flag_rate_before: float | None = None  # on the window, at the previous threshold
    flag_rate_after: float | None = None  # on the window, at the new threshold
    # the window's median score: where the bulk of the scores sat when this threshold was chosen,
    # what a later move of the scale is measured from (the version's validation window before)
    median_score: float | None = None
    # a re-fit that held recall on arrived labels (None: it held the flag rate): the recall its
    # version's reference caught them at, on how many, and whether the alert budget capped it
    target_recall: float | None = None
    positives_arrived: int = 0
    capped: bool = False


def _tags(store: ModelStore, version: str) -> dict[str, str]:
    return store.client().get_model_version(store.model_name, str(version)).tags


def _events(tags: dict[str, str]) -> list[ThresholdEvent]:
    return [ThresholdEvent(**e) for e in json.loads(tags.get(HISTORY_TAG, "[]"))]


def history(store: ModelStore, version: str) -> list[ThresholdEvent]:
    return _events(_tags(store, version))


def standing_refit(events: list[ThresholdEvent]) -> ThresholdEvent | None:
    """The newest re-fit no rollback has undone: the one whose threshold serves (None: the
    version serves the threshold it was trained with)."""
    undone = 0
    for event in reversed(events):
        if event.kind == ROLLBACK:
            undone += 1
        elif undone:
            undone -= 1
        else:
            return event
    return None


def reference_median(tags: dict[str, str], trained_median: float | None) -> float | None:
    """The median score the served threshold was chosen on: the standing re-fit's window, else
    the version's validation window (``trained_median``). After a re-fit the policy measures a
    moved scale from there (why: README, operating point; BENCHMARKS.md, currency_switch)."""
    standing = standing_refit(_events(tags))
    if standing is not None and standing.median_score is not None:
        return standing.median_score
    return trained_median


def reference_flag_rate(tags: dict[str, str], trained_rate: float | None) -> float | None:
    """The flag rate the served threshold was chosen for: the standing re-fit's on its window (a
    re-fit that held recall flags what recall asked for), else the validation window's
    (``trained_rate``). The policy holds the flag rate to it."""
    standing = standing_refit(_events(tags))
    if standing is not None and standing.flag_rate_after is not None:
        return standing.flag_rate_after
    return trained_rate


def current_threshold(store: ModelStore, version: str) -> float:
    return float(_tags(store, version)[THRESHOLD_TAG])


def _record(store: ModelStore, event: ThresholdEvent, earlier: list[ThresholdEvent]) -> ThresholdEvent:
    events = [*earlier, event][-HISTORY_KEPT:]
    # the history first: a crash between the two writes leaves the served threshold unchanged
    # and a history whose last event says what was meant (a re-run writes both again)
    store.tag_version(
        event.version,
        {HISTORY_TAG: json.dumps([dataclasses.asdict(e) for e in events])},
    )
    store.tag_version(event.version, {THRESHOLD_TAG: repr(event.threshold)})
    return event


def refit(
    store: ModelStore,
    version: str,
    scores: np.ndarray,
    target_flag_rate: float,
    window: str,
    reason: str,
    now: dt.datetime | None = None,
    hold: RecallHold | None = None,
    max_flag_rate_ratio: float = 2.0,
    validation_multiple: float | None = None,
) -> ThresholdEvent:
    """Move ``version``'s threshold so that ``target_flag_rate`` of ``scores`` (the window's
    scored transactions, as that version scored them) would be flagged, or ``validation_multiple``
    times its validation window's rate when given (a young version's alert budget, and back);
    given a ``hold``, to its threshold (recall held on arrived labels), flagging at most
    ``max_flag_rate_ratio`` times the validation rate, or the rate asked if that flags more.
    Recorded in the registry."""
    scores = np.asarray(scores, dtype="float64")
    tags = _tags(store, version)  # one read: the threshold it replaces and the history it extends
    # the budget is a multiple of the validation window's rate, not of a re-fit's (no creep)
    trained = float(tags.get(REFERENCE_FLAG_RATE_TAG, target_flag_rate))
    if validation_multiple is not None:
        target_flag_rate = min(0.5, validation_multiple * trained, max_flag_rate_ratio * trained)
    threshold, capped = threshold_for_flag_rate(scores, target_flag_rate), False
    if hold is not None:
        budget = threshold_for_flag_rate(scores, min(0.5, max_flag_rate_ratio * trained))
        held, capped = max(hold.threshold, budget), hold.threshold < budget
        threshold = held if validation_multiple is None else min(held, threshold)
    previous = float(tags[THRESHOLD_TAG])
    return _record(
        store,
        ThresholdEvent(
            version=str(version),
            at=(now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds"),
            kind=REFIT,
            previous=previous,
            threshold=threshold,
            reason=reason,
            window=window,
            rows=len(scores),
            target_flag_rate=target_flag_rate,
            flag_rate_before=float((scores > previous).mean()),
            flag_rate_after=float((scores > threshold).mean()),
            median_score=float(np.median(scores)),
            target_recall=None if hold is None else hold.target_recall,
            positives_arrived=0 if hold is None else hold.arrived,
            capped=capped,
        ),
        _events(tags),
    )


def rollback(store: ModelStore, version: str, reason: str = "manual rollback") -> ThresholdEvent:
    """Undo ``version``'s newest re-fit that is not undone yet: its threshold back to what it was."""
    tags = _tags(store, version)
    events = _events(tags)
    standing = standing_refit(events)  # a rollback undoes the newest re-fit not already undone
    if standing is None:
        raise RuntimeError(
            f"version {version} of '{store.model_name}' has no threshold re-fit to roll back: it serves "
            "the threshold it was trained with"
        )
    return _record(
        store,
        ThresholdEvent(
            version=str(version),
            at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            kind=ROLLBACK,
            previous=float(tags[THRESHOLD_TAG]),
            threshold=standing.previous,
            reason=f"{reason} (undoes the re-fit of {standing.at})",
        ),
        events,
    )


@dataclasses.dataclass(frozen=True)
class RefitRequest:
    """A re-fit the retrain policy asked for (or a person, from the UI's launchpad)."""

    version: str
    first_day: dt.date
    last_day: dt.date
    target_flag_rate: float
    reason: str
    # flag this multiple of the version's validation rate instead of ``target_flag_rate`` (a young
    # version's alert budget, and 1.0 back from it; None: the target as given)
    validation_multiple: float | None = None


def window_scores(warehouse: Warehouse, version: str, first: dt.date, last: dt.date) -> np.ndarray:
    """The batch scores ``version`` gave the transactions of ``[first, last]``."""
    frame = warehouse.query(
        f"SELECT score FROM {PREDICTION_LOG} WHERE source = 'batch' AND model_version = ? "
        "AND partition_date BETWEEN ? AND ?",
        [str(version), first, last],
    )
    return frame["score"].to_numpy(dtype="float64")


def refit_champion(
    store: ModelStore,
    warehouse: Warehouse,
    request: RefitRequest,
    refits: bool = True,
    hold: RecallHold | None = None,
    max_flag_rate_ratio: float = 2.0,
) -> ThresholdEvent | str:
    """The re-fit of ``request`` when its version still serves as champion (holding recall when
    given a ``hold``); else why not (a retrain promoted since the diagnosis: the new champion has
    its own operating point; the problem's decision policy is a fixed threshold: ``refits`` False)."""
    if not refits:
        return "skipped: the problem's decision policy is a fixed threshold (spec model.decision)"
    champion = store.alias_version(CHAMPION)
    if champion != str(request.version):
        return f"skipped: the champion is now v{champion}, not v{request.version} the diagnosis was about"
    scores = window_scores(warehouse, request.version, request.first_day, request.last_day)
    return refit(
        store,
        request.version,
        scores,
        request.target_flag_rate,
        f"{request.first_day}..{request.last_day}",
        request.reason,
        hold=hold,
        max_flag_rate_ratio=max_flag_rate_ratio,
        validation_multiple=request.validation_multiple,
    )
