"""Typed records that pass between the stages (and between Dagster assets): small,
frozen and picklable. The heavy things they describe live elsewhere: a training set in
Parquet, a model in the MLflow registry."""

from __future__ import annotations

import dataclasses
import datetime as dt


@dataclasses.dataclass(frozen=True)
class Window:
    """A range of days, ``start`` inclusive, ``end`` exclusive."""

    start: dt.date
    end: dt.date

    def days(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=i) for i in range((self.end - self.start).days)]

    def __str__(self) -> str:
        return f"{self.start}..{self.end - dt.timedelta(days=1)}"


@dataclasses.dataclass(frozen=True)
class Metrics:
    """Classification quality of scores against labels, as every decision reads it."""

    roc_auc: float
    pr_auc: float
    recall_at_fixed_fpr: float
    log_loss: float
    brier: float
    ece: float
    positives: int
    rows: int

    def as_dict(self) -> dict[str, float]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class TrainingSetRecord:
    """A saved point-in-time training frame (``path``) and what it was built from."""

    path: str
    content_hash: str
    as_of: dt.date
    window: Window
    feature_service: str
    rows: int
    train_rows: int
    validation_rows: int
    positive_rate: float
    immature_rows: int  # labels of these rows may still change: labels arrive after as_of


@dataclasses.dataclass(frozen=True)
class Lineage:
    """Where a model version came from; written as MLflow tags on its run and version."""

    as_of: dt.date
    feature_service: str
    training_set_hash: str
    training_window: Window

    @classmethod
    def of(cls, training_set: TrainingSetRecord) -> Lineage:
        return cls(
            training_set.as_of, training_set.feature_service, training_set.content_hash, training_set.window
        )

    def tags(self) -> dict[str, str]:
        return {
            "as_of": str(self.as_of),
            "feature_service": self.feature_service,
            "training_set_hash": self.training_set_hash,
            "training_window": str(self.training_window),
        }


@dataclasses.dataclass(frozen=True)
class ModelVersionRecord:
    """A registered model version: the model itself stays in the registry."""

    name: str
    version: str
    uri: str
    run_id: str
    threshold: float  # scores above it are flagged (fixed FPR on the validation window)
    metrics: Metrics  # on the validation split of its training set
    lineage: Lineage


@dataclasses.dataclass(frozen=True)
class PromotionDecision:
    """Challenger vs champion on one labelled window, and what the registry did."""

    promoted: bool
    reason: str
    challenger: str
    champion_before: str | None
    champion_after: str | None
    window: str
    challenger_metrics: Metrics | None = None
    champion_metrics: Metrics | None = None
    awaiting_rollout: bool = False  # passed the offline gate; the scoring service rolls it out


@dataclasses.dataclass(frozen=True)
class Rollback:
    champion: str
    rolled_back_from: str


@dataclasses.dataclass(frozen=True)
class RecallHold:
    """The threshold at which a window's arrived positive labels would be caught at its version's
    reference rates (age-matched, as the early label signal compares them): recall held without
    waiting for complete labels."""

    threshold: float
    arrived: int  # positive labels arrived for the window's days
    expected: float  # of which the reference's rates catch this many
    caught: int  # of which the served threshold caught

    @property
    def target_recall(self) -> float:
        return self.expected / self.arrived
