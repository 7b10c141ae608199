"""The parts of a problem spec, each validated on its own: tables and their columns, entities,
the spine, feature views and their aggregates, the label, the model and its decision,
monitoring, serving and the data source. ``spec.ProblemSpec`` puts them together and checks the
references between them."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PositiveInt,
    Tag,
    field_validator,
    model_validator,
)

from ml_assets.core.hyperparameters import Hyperparameters

ColumnType = Literal["int", "float", "str", "bool", "timestamp", "date"]
Identifier = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=63)]
AggregateOp = Literal["count", "sum", "mean", "min", "max", "distinct_count", "share"]
NEEDS_COLUMN = {"sum", "mean", "min", "max", "distinct_count"}


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnContract(StrictModel):
    """What a valid value of a column is, beyond its type and being present: ingest refuses a day
    holding anything else (a blocking check, core/contracts.py), and the service's request model
    answers it with a 422 naming the field."""

    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None
    values: list[str] | None = Field(None, min_length=1, description="a text column's allowed values")
    pattern: str | None = Field(None, description="a regular expression every text value matches whole")

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        import re

        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"not a regular expression ({exc}): e.g. '^[a-z0-9-]+$'") from None
        return pattern


class RowsPerDay(StrictModel):
    """A day's row count that is plausible at all (the relative volume check sits beside it)."""

    min: int = Field(0, ge=0, description="fewer rows in a day's file refuse it (0: an empty day lands)")
    max: PositiveInt | None = Field(None, description="more rows refuse it (a re-sent period)")


class Table(StrictModel):
    """A landing table: one file a day under ``data/<problem>/landing/<landing>``, validated, then kept
    in the lake as ``<name>`` by day."""

    landing: Identifier = Field(description="folder under data/<problem>/landing the day files land in")
    description: str = ""
    columns: dict[Identifier, ColumnType] = Field(min_length=1, description="column -> type")
    primary_key: Identifier = Field(description="the column that identifies a row within a day")
    timestamp: Identifier = Field(description="the column that must fall inside the file's day")
    nullable: list[Identifier] = Field(
        default_factory=list, description="columns that may be empty; every other column must hold a value"
    )
    contract: dict[Identifier, ColumnContract] = Field(
        default_factory=dict,
        description="column -> its valid values (a range, a text column's values or pattern)",
    )
    rows_per_day: RowsPerDay = RowsPerDay()
    bad_rows: float = Field(
        0.0,
        ge=0,
        le=0.01,
        description="the share of a day's rows that may break a value rule (an empty value, a range, the "
        "values, a pattern) and go to quarantine while the others land; 0: any such row refuses the day",
    )


class Entity(StrictModel):
    key: Identifier = Field(description="the join key, a column of the spine and of the tables keyed by it")
    description: str = ""


class Spine(StrictModel):
    """The prediction event: each row of ``table`` is one prediction, at its timestamp, as of
    which every feature is computed (strictly earlier data only)."""

    table: Identifier
    entities: list[Identifier] = Field(min_length=1, description="the entities a prediction is about")
    request_columns: list[Identifier] = Field(
        default_factory=list,
        description="columns a caller sends online besides the id, the timestamp and the entity keys",
    )


class AttributeView(StrictModel):
    """Features read as they are from a snapshot table keyed by an entity."""

    name: Identifier
    entity: Identifier
    table: Identifier
    features: list[Identifier] = Field(min_length=1, description="columns of the table")
    ttl_days: PositiveInt = 1
    description: str = ""

    def feature_names(self) -> list[str]:
        return list(self.features)


class Aggregate(StrictModel):
    """One aggregate over ``windows``: features named ``<name>_<window>d``."""

    name: Identifier
    op: AggregateOp
    column: Identifier | None = Field(
        None, description="the column aggregated (sum, mean, min, max, distinct_count)"
    )
    condition: str | None = Field(None, description="share: the share of rows where this expression holds")
    filter: str | None = Field(None, description="only rows where this expression holds")
    windows: list[PositiveInt] = Field(min_length=1, description="days before the start of the day")
    source: Identifier | None = Field(None, description="a table other than the view's source")
    time: Literal["event", "arrival"] = Field(
        "event",
        description="which time places a row in a window: its event time, or (label table) its arrival",
    )

    def feature_names(self) -> list[str]:
        return [f"{self.name}_{w}d" for w in self.windows]


class Derived(StrictModel):
    """A feature computed from the view's aggregates (an expression over their names)."""

    name: Identifier
    expression: str

    def feature_names(self) -> list[str]:
        return [self.name]


def _kind(value) -> str:
    """Which kind a listed feature is: an ``expression`` makes it derived (one error list per
    mistake, not one per kind it failed to be)."""
    derived = isinstance(value, Derived) or (isinstance(value, dict) and "expression" in value)
    return "derived" if derived else "aggregate"


ViewFeature = Annotated[
    Annotated[Aggregate, Tag("aggregate")] | Annotated[Derived, Tag("derived")], Discriminator(_kind)
]


class AggregateView(StrictModel):
    """Windowed aggregates of an entity, computed as of the start of each day from strictly
    earlier rows, and features derived from them. The view's columns come in the order listed
    (an aggregate may be listed again with other windows)."""

    name: Identifier
    entity: Identifier
    source: Identifier = Field(description="the table aggregated")
    features: list[ViewFeature] = Field(min_length=1)
    ttl_days: PositiveInt = 1
    description: str = ""

    def aggregates(self) -> list[Aggregate]:
        return [f for f in self.features if isinstance(f, Aggregate)]

    def derived(self) -> list[Derived]:
        return [f for f in self.features if isinstance(f, Derived)]

    def feature_names(self) -> list[str]:
        return [name for f in self.features for name in f.feature_names()]


class Label(StrictModel):
    """The target: ``value`` of the row whose ``key`` matches the spine's id, known from
    ``arrival`` (a column) or ``delay_days`` after the event; at most ``max_delay_days``."""

    table: Identifier
    key: Identifier = Field(description="the column holding the spine's id")
    value: Identifier | None = Field(
        None, description="the label column; absent: a row in the table is a positive"
    )
    arrival: Identifier | None = Field(None, description="the column saying when the label became known")
    event_time: Identifier | None = Field(
        None,
        description="the column holding the labelled event's timestamp (delays are measured from it); "
        "needed where the labels are a table of their own",
    )
    delay_days: PositiveInt | None = Field(
        None, description="or: labels are known this many days after the event"
    )
    max_delay_days: PositiveInt = Field(description="after this many days a label is complete")
    missing: Literal["negative", "unknown"] = Field(
        "unknown",
        description="a row whose label has not arrived: negative (the table lists positives only) or unknown "
        "(it waits, and is not trained on)",
    )


class Decision(StrictModel):
    """How a score becomes a decision, chosen on the version's validation window and served the
    same by batch scoring and the online service: flag above the score that keeps the
    false-positive rate at ``value`` (``fixed_fpr``), above a fixed score (``threshold``), or the
    share of events that flags ``value`` events a day (``top_k``)."""

    policy: Literal["fixed_fpr", "threshold", "top_k"] = "fixed_fpr"
    value: float | None = Field(
        None,
        gt=0,
        description="fixed_fpr: the false-positive rate (default: the fixed_fpr setting); threshold: the "
        "score above which an event is flagged; top_k: the events flagged a day",
    )

    @model_validator(mode="after")
    def _value_fits_policy(self) -> Decision:
        v = self.value
        if self.policy == "fixed_fpr" and v is not None and v >= 1:
            raise ValueError(f"a false-positive rate lies in (0, 1), got value: {v}; e.g. value: 0.01")
        if self.policy == "threshold" and (v is None or v >= 1):
            raise ValueError(
                f"policy threshold needs value: the score in (0, 1) above which an event is flagged, "
                f"got {v}; e.g. value: 0.5"
            )
        if self.policy == "top_k" and (v is None or v != int(v)):
            raise ValueError(f"policy top_k needs value: k, the events flagged a day (whole), got {v}")
        return self

    @property
    def refits(self) -> bool:
        """Whether the operating point may be re-fitted (a fixed threshold is the policy itself)."""
        return self.policy != "threshold"


class ModelSpec(StrictModel):
    task: Literal["binary_classification"] = "binary_classification"
    registered_name: Identifier | None = Field(
        None, description="the model's name in the MLflow registry (default: <problem>_model)"
    )
    categorical: dict[Identifier, list[str]] = Field(
        default_factory=dict,
        description="text feature -> its levels, encoded as categories in this order the same way in "
        "training and serving; a value outside them is missing (and counted as unseen by monitoring)",
    )
    hyperparameters: dict[str, float | int | str] = Field(
        default_factory=dict,
        description="LightGBM defaults for this problem (names as in the training asset's config: "
        "n_estimators, learning_rate, num_leaves, min_child_samples, feature_fraction, "
        "scale_pos_weight, seed); a run's config still overrides them",
    )
    decision: Decision = Decision()
    metric: Literal["roc_auc"] = Field(
        "roc_auc",
        description="the primary metric the promotion gate, the quality floor and the retrain sensor "
        "judge: ROC AUC, which CBPE estimates before labels arrive (the schema leaves room for more)",
    )

    @field_validator("hyperparameters")
    @classmethod
    def _known_hyperparameters(cls, value: dict) -> dict:
        known = Hyperparameters.model_fields
        unknown = sorted(set(value) - set(known))
        if unknown:
            raise ValueError(f"unknown hyperparameter(s) {unknown}; known: {', '.join(known)}")
        Hyperparameters(**value)  # a value out of its range names the field
        return value


class Monitoring(StrictModel):
    chunk: Literal["day", "week"] = Field(
        "day",
        description="what one day's monitoring judges: that day, or the week ending on it (a problem "
        "with a few hundred events a day: a day's estimate would be mostly noise)",
    )
    ages: list[Identifier] = Field(
        default_factory=list,
        description="features that grow by one a day for every entity (an account's age): drift is "
        "judged on them as of one fixed day, since a population that only grows older has not drifted",
    )

    @property
    def chunk_days(self) -> int:
        return {"day": 1, "week": 7}[self.chunk]


class Serving(StrictModel):
    hash_key: Identifier = Field(description="the spine column the canary splits traffic by")
    batch_field: Identifier = Field(
        "events",
        description="the batch request's list of events (POST /v1/score/batch {<batch_field>: [...]})",
    )


class SimulatedSource(StrictModel):
    """The landing files come from the project's simulator (card fraud)."""

    kind: Literal["simulator"]


class HistoricalImport(StrictModel):
    """One historical table replayed as daily landing files: each row lands on its own day in the
    spine's table without its label, and the label lands in the label table ``label_delay_days``
    later, with that moment as its arrival."""

    kind: Literal["historical_import"]
    path: str = Field(description="a Parquet or CSV file; a relative path starts at the spec's folder")
    label_delay_days: PositiveInt = Field(description="days after its row until a label is known")


Source = Annotated[SimulatedSource | HistoricalImport, Field(discriminator="kind")]
