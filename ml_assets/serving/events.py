"""The service's request model, compiled from the problem spec: one event to score, with the
spine's id, its entity keys, its request columns (typed, within the columns' contract) and the
time it happened. Its OpenAPI example is made from the same declarations."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    WithJsonSchema,
    create_model,
    field_validator,
)

from ml_assets.core.problem.parts import ColumnContract
from ml_assets.core.problem.spec import REQUEST_TIMESTAMP as TIMESTAMP
from ml_assets.core.problem.spec import ProblemSpec

MAX_ID = 2**53 - 1  # int64 keys in Feast; JSON clients lose integer precision above 2**53
EARLIEST, LATEST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC), dt.datetime(2200, 1, 1, tzinfo=dt.UTC)
# the calendar range said in the schema too (a pattern on the year), so clients see it
TIMESTAMP_SCHEMA = {"type": "string", "format": "date-time", "pattern": "^(19[7-9][0-9]|2[01][0-9][0-9])-"}
ID_CHARS = r"A-Za-z0-9_.:\-"  # an id that is logged and echoed: letters, digits, _ . : -
ID_PATTERN = rf"^[{ID_CHARS}]+$"


def _within_calendar(cls, value: dt.datetime) -> dt.datetime:
    # the feature store, pandas and the prediction log keep nanosecond timestamps
    if not EARLIEST <= value <= LATEST:
        raise ValueError(
            f"must be between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d} (UTC): send the event's real time"
        )
    return value


def _column(kind: str, contract: ColumnContract | None, nullable: bool = False) -> tuple[Any, Any]:
    """A request field as the column's contract declares it (what ingest enforces offline:
    core/contracts.py); a nullable column may be sent as null."""
    annotation, field = _declared(kind, contract or ColumnContract())
    if nullable:
        return annotation | None, field
    return annotation, field


def _declared(kind: str, rule: ColumnContract) -> tuple[Any, Any]:
    if kind == "str":
        if rule.values:
            return Literal[tuple(rule.values)], Field(description=f"one of {', '.join(rule.values)}")
        # pydantic's pattern is a search: anchored, as the contract means the whole value
        pattern = None if rule.pattern is None else f"^(?:{rule.pattern})$"
        return str, Field(max_length=256, pattern=pattern)
    if kind == "bool":
        return bool, Field()
    bounds = {
        name: getattr(rule, name) for name in ("gt", "ge", "lt", "le") if getattr(rule, name) is not None
    }
    return float, Field(allow_inf_nan=False, **bounds)


def _matching(pattern: str):
    """A validator: the whole value matches the contract's ``pattern`` (as ingest checks it)."""
    import re

    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"must match the contract's pattern {pattern}")
        return value

    return check


def event_model(spec: ProblemSpec) -> type[BaseModel]:
    """A pydantic model of one event: a value outside its type or contract is a 422 naming the
    field; an unknown field is refused (a misspelt column would otherwise score as missing)."""
    spine = spec.spine_columns()
    table = spec.tables[spine.table]
    if spine.types[spine.id] == "str":
        declared = (table.contract.get(spine.id) or ColumnContract()).pattern
        # the id is logged and echoed: its own safe shape always, and the contract's where declared
        kind = Annotated[str, AfterValidator(_matching(declared))] if declared else str
        id_field = (
            kind,
            Field(min_length=1, max_length=64, pattern=ID_PATTERN, description="the event's id"),
        )
    else:
        id_field = (int, Field(ge=0, le=MAX_ID, description="the event's id"))
    fields: dict[str, Any] = {spine.id: id_field}
    for key in spine.keys:
        if key != spine.id:
            fields[key] = (int, Field(ge=0, le=MAX_ID))
    for column in spine.request:
        fields[column] = _column(spine.types[column], table.contract.get(column), column in table.nullable)
    fields[TIMESTAMP] = (
        Annotated[AwareDatetime, WithJsonSchema(TIMESTAMP_SCHEMA)],
        Field(description="when the event happened, with a time zone, between 1970 and 2200"),
    )
    return create_model(
        "".join(part.title() for part in spec.name.split("_")) + "Event",
        __config__=ConfigDict(extra="forbid", json_schema_extra={"examples": [example(spec)]}),
        __doc__=spec.description or f"An event of {spec.name} to score, as it happens.",
        __validators__={"_within_calendar": field_validator(TIMESTAMP)(classmethod(_within_calendar))},
        **fields,
    )


def example(spec: ProblemSpec) -> dict:
    """An event that passes the model: each field a plain value its type and contract allow."""
    spine = spec.spine_columns()
    table = spec.tables[spine.table]
    out: dict[str, Any] = {spine.id: "e-000042" if spine.types[spine.id] == "str" else 42}
    out |= {key: 1234 for key in spine.keys if key != spine.id}
    for column in spine.request:
        kind, rule = spine.types[column], table.contract.get(column) or ColumnContract()
        if kind == "str":
            levels = spec.model.categorical.get(column)
            out[column] = rule.values[0] if rule.values else (levels[0] if levels else "text")
        elif kind == "bool":
            out[column] = False
        else:
            low = next((b for b in (rule.gt, rule.ge) if b is not None), 0.0)
            high = next((b for b in (rule.lt, rule.le) if b is not None), low + 100.0)
            out[column] = round(low + min(82.5, (high - low) / 2), 2)
    return out | {TIMESTAMP: "2026-04-30T14:03:00Z"}


def request_body(row, spec: ProblemSpec, **overrides) -> dict:
    """A spine row (a lake row of the event table, as from ``itertuples``) as ``POST /v1/score``
    takes it."""
    spine = spec.spine_columns()
    body: dict[str, Any] = {}
    for column in dict.fromkeys([spine.id, *spine.keys, *spine.request]):
        value, kind = getattr(row, column), spine.types[column]
        body[column] = {"str": str, "int": int, "bool": bool}.get(kind, float)(value)
    return body | {TIMESTAMP: getattr(row, spine.timestamp).isoformat()} | overrides
