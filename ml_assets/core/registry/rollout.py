"""A rollout's state lives in the registry, on the challenger version's tags, so any process
(the service, the CLI, a person in the MLflow UI) sees the same thing and a restarted
service resumes where it was. The offline gate (promotion.py) writes the entry ticket;
completing a rollout moves ``champion`` and ``previous_champion``; an abort tags the version
rolled back and removes the ``challenger`` alias. Aliases only, never stages."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

from ml_assets.core.model_store import CHALLENGER, CHAMPION, PREVIOUS, ModelStore

GATE, STATUS, STEP = "offline_gate", "rollout_status", "rollout_step"
PENDING, IN_PROGRESS, PROMOTED, ROLLED_BACK = "pending", "in_progress", "promoted", "rolled_back"
INCONCLUSIVE = "inconclusive"  # a step ran out of time without the evidence for a verdict


@dataclasses.dataclass(frozen=True)
class RolloutState:
    """What the registry says of the current rollout."""

    champion: str | None
    challenger: str | None
    gate: str | None  # passed | rejected | None (never judged offline)
    status: str | None  # pending | in_progress | promoted | rolled_back | None
    step: int
    reason: str | None

    @property
    def active(self) -> bool:
        """The challenger may receive traffic: it passed the offline gate and is not finished."""
        return (
            self.challenger is not None
            and self.challenger != self.champion
            and self.gate == "passed"
            and self.status in (PENDING, IN_PROGRESS)
        )


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def read_state(store: ModelStore) -> RolloutState:
    champion = store.alias_version(CHAMPION)
    found = store.version_by_alias(CHALLENGER)
    if found is None:
        return RolloutState(champion, None, None, None, 0, None)
    tags = found.tags
    return RolloutState(
        champion,
        str(found.version),
        tags.get(GATE),
        tags.get(STATUS),
        int(tags.get(STEP, 0)),
        tags.get("rollout_reason"),
    )


def status_of(store: ModelStore, version: str) -> str | None:
    """How a version's rollout stands, from its own tags (its alias may be gone already)."""
    return store.client().get_model_version(store.model_name, str(version)).tags.get(STATUS)


def admit(store: ModelStore, version: str, reason: str) -> None:
    """The offline gate passed: the version may start a rollout (it serves nothing yet)."""
    store.tag_version(version, {GATE: "passed", STATUS: PENDING, STEP: 0, "offline_gate_reason": reason})


def refuse(store: ModelStore, version: str, reason: str) -> None:
    """The offline gate failed: the version never receives traffic."""
    store.tag_version(version, {GATE: "rejected", "offline_gate_reason": reason})


def record_step(store: ModelStore, version: str, step: int, evidence: dict) -> None:
    """A step passed: the rollout continues at ``step`` (what a restarted service resumes)."""
    store.tag_version(
        version,
        {STATUS: IN_PROGRESS, STEP: step, f"rollout_step_{step - 1}_evidence": json.dumps(evidence)},
    )


def complete(store: ModelStore, version: str, evidence: dict, by: str = "controller") -> str | None:
    """The challenger becomes champion; the champion before it becomes previous_champion.
    Returns the champion before."""
    before = store.alias_version(CHAMPION)
    if before is not None and before != version:
        store.set_alias(PREVIOUS, before)
    store.set_alias(CHAMPION, version)
    store.tag_version(
        version,
        {
            STATUS: PROMOTED,
            "rollout_promoted_at": _now(),
            "rollout_promoted_by": by,
            "rollout_evidence": json.dumps(evidence),
            "rollout_replaced": before or "none",
        },
    )
    if store.alias_version(CHALLENGER) == version:
        store.delete_alias(CHALLENGER)
    return before


def abort(
    store: ModelStore,
    version: str,
    reason: str,
    evidence: dict,
    by: str = "controller",
    status: str = ROLLED_BACK,
) -> None:
    """The challenger is rolled back (or its rollout ended ``INCONCLUSIVE``): tagged with the
    reason and the numbers, and no alias routes to it any more; the champion never moved."""
    store.tag_version(
        version,
        {
            STATUS: status,
            "rollout_reason": reason,
            "rollout_rolled_back_at": _now(),
            "rollout_rolled_back_by": by,
            "rollout_evidence": json.dumps(evidence),
        },
    )
    if store.alias_version(CHALLENGER) == version:
        store.delete_alias(CHALLENGER)
