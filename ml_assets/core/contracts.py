"""A landing table's data contract, compiled from its spec into pandera schemas: what ingest
enforces on every day's file, rule group by rule group (one blocking check each), with the
failing rows counted and shown. The service's request model enforces the same declarations
(serving/events.py); tests/test_contracts.py holds the two to the same verdicts.

Two schemas, run in order: the columns and their types first (a value rule on a column of the
wrong type would only report the type again), then the values."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING

import pandas as pd

from ml_assets.core.problem.parts import ColumnContract, Table
from ml_assets.core.timestamps import utc_times

if TYPE_CHECKING:
    import pandera.pandas as pa

SCHEMA, NULLS, UNIQUE, VALUES, IN_DAY = (
    "schema",
    "null_values",
    "unique_ids",
    "values_in_contract",
    "timestamps_in_partition",
)
GROUPS = (SCHEMA, NULLS, UNIQUE, VALUES, IN_DAY)
LABELS = "labels_match_events"  # the label table's rules across tables
ROW_RULES = (NULLS, VALUES, LABELS)  # rules a single row breaks (bad_rows may drop them)
EXAMPLES = 5  # failing rows kept per rule
IN_DAY_RULE = "within its file's day (UTC)"


@dataclasses.dataclass(frozen=True)
class LabelRule:
    """What a label table's rows must agree on with the events they label: a label arrives after
    its event, within ``max_delay_days``, and names an event the event table holds (checked on the
    event days the lake has)."""

    event_table: str
    event_id: str  # the event table's primary key
    key: str  # the label table's column naming the event
    event_time: str  # the label table's column with the event's timestamp
    arrival: str
    max_delay_days: int

    @property
    def timing(self) -> str:
        return f"arrives after its event, within {self.max_delay_days} days"


@dataclasses.dataclass(frozen=True)
class RuleFailure:
    """One rule of one column that rows of a day's file break."""

    group: str
    column: str
    rule: str  # as pandera names it: greater_than(0), isin([...]), not_nullable, ...
    rows: int
    examples: tuple[dict, ...]  # the first failing rows, their values as text
    index: tuple = ()  # the failing rows' positions in the file (empty: the column as a whole)


def groups_of(label: LabelRule | None) -> tuple[str, ...]:
    """A table's rule groups: the label table's rules across tables besides the shared ones."""
    return GROUPS if label is None else (*GROUPS, LABELS)


def _as_text(rows: pd.DataFrame) -> tuple[dict, ...]:
    """Example rows, each value as text (what a report and the UI show)."""
    return tuple({k: str(v) for k, v in r.items()} for r in rows.head(EXAMPLES).to_dict("records"))


def _is_type(kind: str):
    """A column-level check of a declared type (int, float, str, bool, timestamp); a text
    column is also checked value by value (an object column holds anything)."""
    t = pd.api.types
    return {
        "int": t.is_integer_dtype,
        "float": lambda s: t.is_float_dtype(s) or t.is_integer_dtype(s),
        # pandas' own inference (in C) over an object column: every value text, or none at all
        "str": lambda s: (
            (s.dtype == object or isinstance(s.dtype, pd.StringDtype))
            and t.infer_dtype(s, skipna=True) in ("string", "empty")
        ),
        "bool": t.is_bool_dtype,
        "timestamp": lambda s: isinstance(s.dtype, pd.DatetimeTZDtype),
        "date": lambda s: t.is_datetime64_any_dtype(s) or t.is_object_dtype(s),
    }[kind]


def type_schema(table: Table) -> pa.DataFrameSchema:
    """Every declared column present, of its declared type (a timestamp with its time zone)."""
    import pandera.pandas as pa

    return pa.DataFrameSchema(
        {
            column: pa.Column(
                # a dtype check reads the column whole: pandera need not find its nulls first
                checks=pa.Check(_is_type(kind), name=f"type {kind}", ignore_na=False),
                nullable=True,
            )
            for column, kind in table.columns.items()
        },
        name="types",
    )


def _value_checks(kind: str, rule: ColumnContract) -> list[pa.Check]:
    import numpy as np
    import pandera.pandas as pa

    checks = []
    if kind == "float":  # an infinite value is no measurement
        checks.append(pa.Check(lambda s: np.isfinite(s.astype("float64")), name="finite"))
    for name, check in (
        ("gt", pa.Check.greater_than),
        ("ge", pa.Check.greater_than_or_equal_to),
        ("lt", pa.Check.less_than),
        ("le", pa.Check.less_than_or_equal_to),
    ):
        if getattr(rule, name) is not None:
            checks.append(check(getattr(rule, name)))
    if rule.values:
        checks.append(pa.Check.isin(rule.values))
    if rule.pattern:
        checks.append(pa.Check(lambda s, p=rule.pattern: s.str.fullmatch(p), name=f"matches {rule.pattern}"))
    return checks


def value_schema(table: Table, day: dt.date, label: LabelRule | None = None) -> pa.DataFrameSchema:
    """Given the types: no empty value where the column is not ``nullable``, a unique primary key,
    each value within its contract, the timestamp on ``day`` (UTC); for a label table, each label
    after its event and within the label's maximum delay."""
    import pandera.pandas as pa

    start = pd.Timestamp(day, tz="UTC")
    in_day = pa.Check(lambda s: (s >= start) & (s < start + pd.Timedelta(days=1)), name=IN_DAY_RULE)
    columns = {}
    for column, kind in table.columns.items():
        checks = _value_checks(kind, table.contract.get(column) or ColumnContract())
        if column == table.timestamp:
            checks.append(in_day)
        columns[column] = pa.Column(
            checks=checks,
            nullable=column in table.nullable,
            unique=column == table.primary_key,
            report_duplicates="exclude_first",
        )
    checks = []
    if label is not None:
        checks.append(pa.Check(lambda df: _in_time(df, label), name=label.timing))
    return pa.DataFrameSchema(columns, checks=checks, name="values")


def _in_time(df: pd.DataFrame, label: LabelRule) -> pd.Series:
    """Each label after its event, and on a day at most ``max_delay_days`` after the event's day:
    delays count in days, as everything reading labels counts them (a label is complete
    ``label_delay_max_days`` days after its event's day, whatever the hour)."""
    arrival, event = df[label.arrival], df[label.event_time]
    days = arrival.dt.floor("D") - event.dt.floor("D")
    return (arrival >= event) & (days <= pd.Timedelta(days=label.max_delay_days))


def _group(check: str, label: LabelRule | None = None) -> str:
    if label is not None and check == label.timing:
        return LABELS
    if check.startswith("type ") or check == "column_in_dataframe":
        return SCHEMA
    if check == "not_nullable":
        return NULLS
    if check == "field_uniqueness":
        return UNIQUE
    if check == IN_DAY_RULE:
        return IN_DAY
    return VALUES


def failures(
    df: pd.DataFrame, schema: pa.DataFrameSchema, label: LabelRule | None = None
) -> list[RuleFailure]:
    """Every rule ``df`` breaks under ``schema``, from pandera's failure cases (lazy: all at once)."""
    import pandera.errors as pe

    try:
        schema.validate(df, lazy=True)
    except pe.SchemaErrors as exc:
        cases = exc.failure_cases
    else:
        return []
    out = []
    column_of = cases["column"].fillna("").astype(str)
    if label is not None:  # a check of whole rows comes once per column: one failure of the rule
        column_of = column_of.where(cases["check"].astype(str) != label.timing, label.arrival)
    for (column, check), part in cases.groupby([column_of, cases["check"].astype(str)], sort=False):
        index = tuple(int(i) for i in part["index"].dropna().unique())
        if column == "" or column == schema.name:  # a missing column comes as the schema's own case
            column = str(part["failure_case"].iloc[0])
        rows = df.iloc[list(index[:EXAMPLES])] if index else df.iloc[0:0]
        out.append(
            RuleFailure(
                _group(check, label), column, check, len(index) if index else len(df), _as_text(rows), index
            )
        )
    return out


def unknown_events(df: pd.DataFrame, label: LabelRule, lake_dir) -> RuleFailure | None:
    """Labels naming an event the event table does not hold, on the event days the lake has (an
    event day before the lake's first is not judged: an import's first labels are of such days)."""
    from ml_assets.core import lake

    days = utc_times(df[label.event_time]).dt.date
    known = []  # the event ids of each day, matched in one vectorized isin (not a Python set)
    judged = pd.Series(False, index=df.index)
    for day in sorted(days.unique()):
        path = lake.partition_path(lake_dir, label.event_table, day)
        if path.exists():
            known.append(pd.read_parquet(path, columns=[label.event_id])[label.event_id])
            judged |= days == day
    missing = judged & ~df[label.key].isin(pd.concat(known) if known else [])
    if not missing.any():
        return None
    rows = df[missing]
    return RuleFailure(
        LABELS,
        label.key,
        f"names an event of {label.event_table}",
        len(rows),
        _as_text(rows),
        tuple(int(i) for i in rows.index),
    )


def check_day(
    df: pd.DataFrame,
    table: Table,
    day: dt.date,
    label: LabelRule | None = None,
    lake_dir=None,
    clean: bool = False,
) -> dict[str, list[RuleFailure] | None]:
    """The rules a day's file breaks, by group; with a type broken, the value groups are not
    checked (``None``). Rows are named by position in the file. A label table (``label``) also
    gets its rules across tables, the events looked up in ``lake_dir``. ``clean``: the day is
    known to keep every rule within the file (core/contract_scan.py said so), and pandera's
    passes are skipped."""
    df = df.reset_index(drop=True)
    groups = groups_of(label)
    if clean:
        found = []
    else:
        broken = failures(df, type_schema(table))
        if broken:
            return {SCHEMA: broken} | dict.fromkeys(groups[1:])
        found = failures(df, value_schema(table, day, label), label)
    if label is not None and lake_dir is not None:
        unknown = unknown_events(df, label, lake_dir)
        found += [unknown] if unknown else []
    return {SCHEMA: []} | {g: [f for f in found if f.group == g] for g in groups[1:]}
