"""A problem spec: one declarative file per prediction problem (``problems/<name>/problem.yaml``)
naming what the lifecycle needs to know of it: the landing tables, the prediction event (the
spine), the entities, the features as data (attribute views, windowed aggregates, request-time
expressions), the label and when it arrives, the model, monitoring and serving.

``ProblemSpec`` validates a spec on its own: field by field (pydantic), then every reference
across fields, collecting every mistake with the field's path and the fix. ``load_spec`` adds
the file's name. The JSON schema for editors is ``ProblemSpec.model_json_schema()``
(``problems/problem.schema.json``, kept equal by a test)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    Field,
    ValidationError,
    model_validator,
)

from ml_assets.core.problem.expressions import hour_field, hours_read, names_in
from ml_assets.core.problem.parts import (
    NEEDS_COLUMN,
    Aggregate,
    AggregateView,
    AttributeView,
    ColumnType,
    Derived,
    Entity,
    HistoricalImport,
    Identifier,
    Label,
    ModelSpec,
    Monitoring,
    Serving,
    Source,
    Spine,
    StrictModel,
    Table,
)


@dataclasses.dataclass(frozen=True)
class SpineColumns:
    """The prediction event's table and the roles of its columns."""

    table: str
    id: str
    keys: list[str]  # entity keys, in the spine's order
    timestamp: str
    request: list[str]  # what a caller sends online
    types: dict[str, str]


class ProblemSpec(StrictModel):
    name: Identifier
    description: str = ""
    tables: dict[Identifier, Table] = Field(min_length=1)
    entities: dict[Identifier, Entity] = Field(min_length=1)
    spine: Spine
    label: Label
    attribute_views: list[AttributeView] = Field(default_factory=list)
    aggregate_views: list[AggregateView] = Field(default_factory=list)
    request_features: dict[Identifier, str] = Field(
        default_factory=dict,
        description="feature -> expression over the spine's columns (what a request carries) and fetched "
        "features",
    )
    model: ModelSpec = ModelSpec()
    monitoring: Monitoring = Monitoring()
    serving: Serving
    source: Source = Field(description="where the landing files come from")
    settings: dict[str, Any] = Field(
        default_factory=dict,
        description="this problem's settings over the defaults (any field of ml_assets' Settings: calendar, "
        "sizes, windows, thresholds); ML_ASSETS_* environment variables still win",
    )

    @property
    def registered_model_name(self) -> str:
        return self.model.registered_name or f"{self.name}_model"

    def feature_views(self) -> list[AttributeView | AggregateView]:
        """The views in the feature service's order: by entity, in the spine's order; an entity's
        attribute views before its aggregates, each kind as listed."""
        order = {entity: i for i, entity in enumerate(self.spine.entities)}
        views = [*self.attribute_views, *self.aggregate_views]
        return sorted(views, key=lambda v: (order.get(v.entity, len(order)), isinstance(v, AggregateView)))

    def feature_lookback_days(self, caps: dict[str, int] | None = None) -> int:
        """The most days before a day that any aggregate feature reads (``caps``: a view's windows
        shortened, Settings.window_caps); 0 without aggregates."""
        caps = caps or {}
        return max(
            (
                min(w, caps.get(view.name, w))
                for view in self.aggregate_views
                for aggregate in view.aggregates()
                for w in aggregate.windows
            ),
            default=0,
        )

    def spine_columns(self) -> SpineColumns:
        table = self.tables[self.spine.table]
        return SpineColumns(
            table=self.spine.table,
            id=table.primary_key,
            keys=[self.entities[e].key for e in self.spine.entities],
            timestamp=table.timestamp,
            request=list(self.spine.request_columns),
            types=dict(table.columns),
        )

    def request_fields(self) -> dict[str, ColumnType]:
        """What the request-time features read from the request, with their types: the spine's
        request columns, and the hour of each timestamp an expression takes ``hour()`` of (a
        field of its own, computed where the request is built)."""
        columns = self.tables[self.spine.table].columns
        return {c: columns[c] for c in self.spine.request_columns} | dict.fromkeys(
            self.hour_fields(), "float"
        )

    def hour_fields(self) -> dict[str, str]:
        """Request field -> the timestamp column whose hour it carries."""
        hours = sorted({c for e in self.request_features.values() for c in hours_read(e)})
        return {hour_field(c): c for c in hours}

    def request_inputs_by_view(self) -> dict[str, list[str]]:
        """The fetched features the request-time expressions read, by view (in the views' order)."""
        read = {n for e in self.request_features.values() for n in names_in(e)}
        return {
            v.name: [f for f in v.feature_names() if f in read]
            for v in self.feature_views()
            if read & set(v.feature_names())
        }

    def feature_types(self) -> dict[str, Literal["float", "str"]]:
        """Every feature's type as the model receives it: text where it is a text column passed as
        it is (an attribute's, or a request column's, as a bare expression), else a number."""
        out: dict[str, Literal["float", "str"]] = {}
        for view in self.feature_views():
            # (an unknown table is reported by the reference checks; its features read as numbers)
            table = self.tables.get(view.table) if isinstance(view, AttributeView) else None
            columns = table.columns if table is not None else {}
            out |= {f: "str" if columns.get(f) == "str" else "float" for f in view.feature_names()}
        spine = self.tables[self.spine.table].columns if self.spine.table in self.tables else {}
        for feature, expression in self.request_features.items():
            out[feature] = "str" if spine.get(expression.strip()) == "str" else "float"
        return out

    def fetched_features(self) -> list[str]:
        """The features read from the feature store, view by view."""
        return [f for v in self.feature_views() for f in v.feature_names()]

    def feature_names(self) -> list[str]:
        return self.fetched_features() + list(self.request_features)

    @model_validator(mode="after")
    def _references(self) -> ProblemSpec:
        problems = list(_reference_problems(self))
        if problems:
            raise ValueError("\n".join(f"{where}: {what}" for where, what in problems))
        return self


def _reference_problems(spec: ProblemSpec):
    """(field path, what is wrong and the fix) for every reference across fields that fails."""
    yield from _settings_problems(spec.settings)
    tables = spec.tables
    for name, table in tables.items():
        for field in ("primary_key", "timestamp"):
            if getattr(table, field) not in table.columns:
                yield (
                    f"tables.{name}.{field}",
                    f"{getattr(table, field)!r} is not one of its columns {sorted(table.columns)}",
                )
        if table.columns.get(table.timestamp) not in (None, "timestamp"):
            yield (
                f"tables.{name}.timestamp",
                f"{table.timestamp!r} is {table.columns[table.timestamp]}: declare it timestamp",
            )
        for column in table.nullable:
            if column not in table.columns:
                yield f"tables.{name}.nullable", f"{column!r} is not one of its columns"
            elif column in (table.primary_key, table.timestamp):
                yield f"tables.{name}.nullable", f"{column!r} identifies or dates a row: it is never empty"
        if table.rows_per_day.max is not None and table.rows_per_day.max < table.rows_per_day.min:
            yield f"tables.{name}.rows_per_day", "max is under min"
        for column, rule in table.contract.items():
            kind, where = table.columns.get(column), f"tables.{name}.contract.{column}"
            bounded = any(b is not None for b in (rule.gt, rule.ge, rule.lt, rule.le))
            if kind is None:
                yield where, f"{column!r} is not one of its columns"
            elif bounded and kind not in ("int", "float"):
                yield where, f"{column!r} is {kind}: a range bounds numbers only"
            elif rule.values is not None and kind != "str":
                yield where, f"{column!r} is {kind}: values lists a text column's values only"
            elif rule.pattern is not None and kind != "str":
                yield where, f"{column!r} is {kind}: a pattern matches text only"

    spine = tables.get(spec.spine.table)
    if spine is None:
        yield (
            "spine.table",
            f"{spec.spine.table!r} is not a table: declare it under tables ({sorted(tables)})",
        )
        return  # everything else is read against the spine
    for entity in spec.spine.entities:
        if entity not in spec.entities:
            yield (
                "spine.entities",
                f"{entity!r} is not an entity: declare it under entities ({sorted(spec.entities)})",
            )
        elif spec.entities[entity].key not in spine.columns:
            yield (
                "spine.entities",
                f"{entity!r}'s key {spec.entities[entity].key!r} is not a column of {spec.spine.table!r}",
            )
    for column in spec.spine.request_columns:
        if column not in spine.columns:
            yield (
                "spine.request_columns",
                f"{column!r} is not a column of the spine table {spec.spine.table!r}",
            )

    label = spec.label
    label_table = tables.get(label.table)
    if label_table is None:
        yield "label.table", f"{label.table!r} is not a table: declare it under tables"
    else:
        for field in ("key", "value", "arrival", "event_time"):
            column = getattr(label, field)
            if column is not None and column not in label_table.columns:
                yield f"label.{field}", f"{column!r} is not a column of {label.table!r}"
        if label.table != spec.spine.table and label.event_time is None:
            yield (
                "label.event_time",
                f"name the column of {label.table!r} holding the labelled event's timestamp "
                "(a label's delay is measured from it)",
            )
        if (label.arrival is None) == (label.delay_days is None):
            yield "label", "give exactly one of arrival (a column) or delay_days (a fixed delay)"
        if label.value is None and label.missing != "negative":
            yield (
                "label.missing",
                "without label.value a row in the table is a positive: set missing: negative",
            )
        if label.delay_days is not None and label.delay_days > label.max_delay_days:
            yield "label.delay_days", f"{label.delay_days} is over max_delay_days ({label.max_delay_days})"

    yield from _source_problems(spec)
    features = set(spec.feature_names())
    for i, age in enumerate(spec.monitoring.ages):
        if age not in features:
            yield f"monitoring.ages[{i}]", f"{age!r} is not one of the problem's features"

    for i, view in enumerate(spec.attribute_views):
        where = f"attribute_views[{i}] ({view.name})"
        yield from _entity_problems(spec, where, view.entity, view.table)
        table = tables.get(view.table)
        for feature in view.features if table else ():
            if feature not in table.columns:
                yield f"{where}.features", f"{feature!r} is not a column of {view.table!r}"

    for i, view in enumerate(spec.aggregate_views):
        where = f"aggregate_views[{i}] ({view.name})"
        yield from _entity_problems(spec, where, view.entity, view.source)
        if not any(a.source in (None, view.source) and a.time == "event" for a in view.aggregates()):
            yield (
                f"{where}.features",
                f"no aggregate of the view's own source {view.source!r}: its rows are the {view.entity}s "
                "seen there, so give it at least one (a count will do)",
            )
        own = {n for a in view.aggregates() for n in a.feature_names()}
        for j, feature in enumerate(view.features):
            at = f"{where}.features[{j}] ({feature.name})"
            if isinstance(feature, Derived):
                yield from _expression_problems(f"{at}.expression", feature.expression, own)
            else:
                yield from _aggregate_problems(spec, at, view, feature)

    readable = set(spine.columns) | set(spec.fetched_features())
    if spec.label.table == spec.spine.table and spec.label.value is not None:
        readable.discard(spec.label.value)  # the label is in the row, but never known when it is scored
    for feature, expression in spec.request_features.items():
        yield from _expression_problems(f"request_features.{feature}", expression, readable)

    names = spec.feature_names()
    for duplicate in sorted({n for n in names if names.count(n) > 1}):
        yield "features", f"{duplicate!r} is declared more than once: give each feature one name"
    types = spec.feature_types()
    for column, levels in spec.model.categorical.items():
        if column not in names:
            yield f"model.categorical.{column}", f"{column!r} is not a feature of this spec"
        elif types[column] != "str":
            yield f"model.categorical.{column}", f"{column!r} is a number: list text features only"
        if not levels or len(set(levels)) != len(levels):
            yield f"model.categorical.{column}", "list its levels, each once"
    for column, kind in types.items():
        if kind == "str" and column not in spec.model.categorical:
            yield "model.categorical", f"{column!r} is text: list its levels here (the model reads numbers)"
    if spec.serving.hash_key not in spine.columns:
        yield "serving.hash_key", f"{spec.serving.hash_key!r} is not a column of the spine table"


def _entity_problems(spec: ProblemSpec, where: str, entity: str, table_name: str):
    table = spec.tables.get(table_name)
    if table is None:
        yield where, f"{table_name!r} is not a table: declare it under tables"
    if entity not in spec.entities:
        yield f"{where}.entity", f"{entity!r} is not an entity: declare it under entities"
    elif entity not in spec.spine.entities:
        yield (
            f"{where}.entity",
            f"{entity!r} is not one of the spine's entities {spec.spine.entities}: a prediction could not "
            "fetch it; add it to spine.entities",
        )
    elif table is not None and spec.entities[entity].key not in table.columns:
        via_label = table_name == spec.label.table
        if not via_label:  # a label row reaches the entity through the spine's id (below)
            yield (
                f"{where}.entity",
                f"{entity!r}'s key {spec.entities[entity].key!r} is not a column of {table_name!r}",
            )


def _aggregate_problems(spec: ProblemSpec, where: str, view: AggregateView, aggregate: Aggregate):
    source_name = aggregate.source or view.source
    source = spec.tables.get(source_name)
    if source is None:
        yield f"{where}.source", f"{source_name!r} is not a table: declare it under tables"
        return
    if source_name not in (view.source, spec.label.table):
        yield (
            f"{where}.source",
            f"a view aggregates its own source ({view.source!r}) and the labels ({spec.label.table!r}); "
            f"aggregate {source_name!r} in a view of its own",
        )
    if aggregate.op in NEEDS_COLUMN and aggregate.column is None:
        yield f"{where}.column", f"{aggregate.op} needs a column of {source_name!r}"
    if aggregate.column is not None and aggregate.column not in source.columns:
        yield f"{where}.column", f"{aggregate.column!r} is not a column of {source_name!r}"
    if aggregate.op == "share" and aggregate.condition is None:
        yield f"{where}.condition", "share needs a condition (the share of rows where it holds)"
    for field in ("condition", "filter"):
        expression = getattr(aggregate, field)
        if expression is not None:
            yield from _expression_problems(f"{where}.{field}", expression, set(source.columns))
    is_label = source_name == spec.label.table
    if is_label and aggregate.time != "arrival":
        yield (
            f"{where}.time",
            f"{source_name!r} holds the labels: aggregating it by event time reads labels before they "
            "arrived (a leak); set time: arrival",
        )
    if is_label and spec.label.arrival is None:
        yield f"{where}.time", "the label has no arrival column to aggregate by: declare label.arrival"
    if aggregate.time == "arrival" and not is_label:
        yield (
            f"{where}.time",
            f"arrival time is the label table's ({spec.label.table!r}); {source_name!r} is aggregated "
            "by event: drop time: arrival",
        )
    if is_label and spec.entities.get(view.entity) and spec.entities[view.entity].key not in source.columns:
        spine = spec.tables[spec.spine.table]
        if spec.entities[view.entity].key not in spine.columns:
            yield (
                f"{where}.source",
                f"{view.entity!r} cannot be reached from {source_name!r} through the spine",
            )


def _expression_problems(where: str, expression: str, readable: set[str]):
    try:
        names = names_in(expression)
    except ValueError as exc:
        yield where, str(exc)
        return
    for name in sorted(names - readable):
        yield where, f"{name!r} is not something this expression can read ({sorted(readable)})"


def _settings_problems(declared: dict[str, Any]):
    from ml_assets.core.settings import Settings

    for name in sorted(
        set(declared) - set(Settings.model_fields) | (set(declared) & {"problem", "data_dir"})
    ):
        yield f"settings.{name}", "not a setting a problem sets: see ml_assets/core/settings.py for the names"
    try:
        Settings(**{k: v for k, v in declared.items() if k in Settings.model_fields})
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"])
            yield f"settings.{where}", error["msg"]


# every problem's events say when they happened under this name in a request (the service's
# model, the scorer), whatever the spine's timestamp column is called
REQUEST_TIMESTAMP = "timestamp"
PLACEHOLDER = "TODO:"  # a choice ml-assets init left to the user


def _source_problems(spec: ProblemSpec):
    source, label = spec.source, spec.label
    if not isinstance(source, HistoricalImport):
        return
    if label.table == spec.spine.table or label.arrival is None or label.event_time is None:
        yield (
            "label",
            "an imported table's labels land in a table of their own: declare label.table (its columns: "
            "the row's id, the row's timestamp, the label and its arrival) with label.arrival and "
            "label.event_time",
        )
    else:
        if label.delay_days is not None:
            yield "label.delay_days", "an import releases labels after source.label_delay_days: remove this"
        produced = {label.key, label.event_time, label.arrival, label.value} - {None}
        extra = sorted(set(spec.tables[label.table].columns) - produced)
        if extra:
            yield (
                f"tables.{label.table}.columns",
                f"an import writes only {sorted(produced)} to the label table: remove {extra}",
            )
    if source.label_delay_days > label.max_delay_days:
        yield (
            "source.label_delay_days",
            f"{source.label_delay_days} is over label.max_delay_days ({label.max_delay_days})",
        )


def placeholders(raw, path: str = "") -> list[str]:
    """The fields of a raw spec still holding a ``TODO:`` placeholder, with what to choose."""
    if isinstance(raw, dict):
        return [p for k, v in raw.items() for p in placeholders(v, f"{path}.{k}" if path else str(k))]
    if isinstance(raw, list):
        return [p for i, v in enumerate(raw) for p in placeholders(v, f"{path}.{i}")]
    if isinstance(raw, str) and raw.startswith(PLACEHOLDER):
        return [f"{path}: {raw.removeprefix(PLACEHOLDER).strip()} (a placeholder left by ml-assets init)"]
    return []


class ProblemSpecError(ValueError):
    """A spec that does not validate: every mistake, each with the file, the field and the fix."""


def load_spec(path: Path) -> ProblemSpec:
    import yaml

    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ProblemSpecError(f"{path}: no such file: create it (ml-assets init) or fix the path") from None
    except yaml.YAMLError as exc:
        raise ProblemSpecError(f"{path}: not YAML ({exc})") from None
    left = placeholders(raw)
    if left:
        raise ProblemSpecError("\n".join(f"{path}: {line}" for line in left))
    try:
        return ProblemSpec.model_validate(raw)
    except ValidationError as exc:
        raise ProblemSpecError("\n".join(_lines(path, exc))) from None


def _lines(path: Path, exc: ValidationError) -> list[str]:
    out = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        if where:
            out.append(f"{path}: {where}: {message}")
        else:  # cross-field problems come as one message, a line each
            out += [f"{path}: {line}" for line in message.splitlines()]
    return out
