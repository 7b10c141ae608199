"""A clean day's verdict in one pass: every rule of a table's contract answered by a single DuckDB
aggregate over the Arrow table a day's Parquet file reads into, before pandas turns its text into
Python objects.

Why beside pandera (core/contracts.py) and not instead of it: pandera's pandas backend runs a
pass per check over the pandas frame, finding the nulls of every text column again per check and
hashing a million Python strings for the unique id; on a clean day of 1M rows that cost more than
reading the file (BENCHMARKS.md, "Contract validation"). Its ibis backend on DuckDB runs a query
per check, each reading the file again. So this scan decides the common case, a day that keeps its
contract, and any day it cannot call certainly clean goes to pandera, which finds and reports
every failing row as before. The scan only ever says "clean" or "ask pandera": it is conservative
wherever pandas would read a value differently from Arrow (an int column with nulls becomes
float in pandas; a NaN is a null to pandas, not to Arrow), and tests/test_contracts.py holds it
to pandera's verdict on every rule and on generated violations."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING

from ml_assets.core.problem.parts import ColumnContract, Table

if TYPE_CHECKING:
    import pyarrow as pa

    from ml_assets.core.contracts import LabelRule

DAY_NS = 86_400 * 10**9
UTC = {"UTC", "utc", "Etc/UTC", "+00:00", "Z"}


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _type_keeps(kind: str, field: pa.Field, nulls: int) -> bool:
    """The Arrow type reads into a pandas column of the declared kind (pandera's type schema)."""
    import pyarrow as pa

    t = field.type
    if kind == "int":
        return pa.types.is_integer(t) and nulls == 0  # with nulls pandas makes it float
    if kind == "float":
        return pa.types.is_floating(t) or (pa.types.is_integer(t) and nulls == 0)
    if kind == "str":  # a column of nothing but empty values has Arrow's null type
        return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_null(t)
    if kind == "bool":
        return pa.types.is_boolean(t) and nulls == 0  # with nulls pandas makes it object
    if kind == "timestamp":
        return pa.types.is_timestamp(t) and t.tz is not None
    if kind == "date":
        return pa.types.is_date(t) or pa.types.is_timestamp(t)
    return False


@dataclasses.dataclass(frozen=True)
class _Query:
    """One aggregate's select items, its parameters, and what each answer must be."""

    items: list[str] = dataclasses.field(default_factory=list)
    params: list = dataclasses.field(default_factory=list)
    rules: list = dataclasses.field(default_factory=list)  # answer -> kept?

    def add(self, sql: str, kept, *params) -> None:
        self.items.append(sql)
        self.params.extend(params)
        self.rules.append(kept)


def _zero(n) -> bool:
    return n == 0


def _column_rules(q: _Query, column: str, kind: str, rule: ColumnContract, nullable: bool) -> bool:
    """Adds the column's rules to ``q``; False when one is not for this scan (pandera decides)."""
    c = _quoted(column)
    numeric = kind in ("int", "float")
    valued = f"{c} IS NOT NULL AND NOT isnan({c})" if kind == "float" else f"{c} IS NOT NULL"
    if not nullable:
        q.add(f"count(*) FILTER (WHERE {c} IS NULL)", _zero)
        if kind == "float":  # a NaN is an empty value to pandas
            q.add(f"count(*) FILTER (WHERE isnan({c}))", _zero)
    if kind == "float":
        q.add(f"count(*) FILTER (WHERE isinf({c}))", _zero)
    for name, keeps in (
        ("gt", lambda v, b: v > b),
        ("ge", lambda v, b: v >= b),
        ("lt", lambda v, b: v < b),
        ("le", lambda v, b: v <= b),
    ):
        bound = getattr(rule, name)
        if bound is None:
            continue
        if not numeric:
            return False
        edge = "min" if name in ("gt", "ge") else "max"
        q.add(f"{edge}({c}) FILTER (WHERE {valued})", lambda v, b=bound, k=keeps: v is None or k(v, b))
    if rule.values:
        q.add(f"count(*) FILTER (WHERE {valued} AND NOT list_contains(?, {c}))", _zero, list(rule.values))
    if rule.pattern:
        # RE2 here, Python's re in pandera: a pattern RE2 refuses fails the query (pandera decides)
        q.add(f"count(*) FILTER (WHERE {valued} AND NOT regexp_full_match({c}, ?))", _zero, rule.pattern)
    return True


def is_clean(arrow: pa.Table, table: Table, day: dt.date, label: LabelRule | None = None) -> bool:
    """True only when the day certainly keeps every rule of ``table``'s contract (types, empty
    values, the unique key, each column's values, the timestamp on ``day``, a label's timing);
    False means: let pandera find what breaks (it may still find nothing)."""
    import duckdb

    from ml_assets.core import duck

    if not set(table.columns) <= set(arrow.column_names) or table.columns[table.timestamp] != "timestamp":
        return False
    for column, kind in table.columns.items():
        if not _type_keeps(kind, arrow.schema.field(column), arrow.column(column).null_count):
            return False
    q = _Query()
    for column, kind in table.columns.items():
        rule = table.contract.get(column) or ColumnContract()
        if not _column_rules(q, column, kind, rule, column in table.nullable):
            return False
    key = _quoted(table.primary_key)
    q.add(f"count(DISTINCT {key}) = count(*)", bool)  # a null key is counted out: not clean
    stamp = _quoted(table.timestamp)
    start = int(dt.datetime.combine(day, dt.time(), dt.UTC).timestamp()) * 10**9
    in_day = f"epoch_ns({stamp}) >= ? AND epoch_ns({stamp}) < ?"
    q.add(f"count(*) FILTER (WHERE {stamp} IS NOT NULL AND NOT ({in_day}))", _zero, start, start + DAY_NS)
    if label is not None:
        if {table.columns.get(label.arrival), table.columns.get(label.event_time)} != {"timestamp"}:
            return False
        zones = {arrow.schema.field(c).type.tz for c in (label.arrival, label.event_time)}
        if not zones <= UTC:  # pandas counts a label's days in its column's own zone
            return False
        a, e = (f"epoch_ns({_quoted(c)})" for c in (label.arrival, label.event_time))
        timely = f"{a} >= {e} AND {a} // {DAY_NS} - {e} // {DAY_NS} <= ?"
        q.add(f"count(*) FILTER (WHERE NOT coalesce({timely}, false))", _zero, label.max_delay_days)
    con = duck.cursor()
    try:
        con.register("day_table", arrow)
        answers = con.execute(f"SELECT {', '.join(q.items)} FROM day_table", q.params).fetchone()
    except duckdb.Error:
        return False  # a pattern RE2 cannot compile, a type DuckDB reads otherwise: pandera decides
    finally:
        con.close()
    return all(kept(answer) for kept, answer in zip(q.rules, answers, strict=True))
