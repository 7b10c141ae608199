"""A spec's aggregate views compiled to DuckDB SQL, and run on the lake for one day.

A view's row stamped ``D 00:00`` describes its entity as known at the start of day ``D``: its
source's rows strictly before ``D`` within each window, and label rows that had arrived before
``D`` (by arrival time, never event time). Feast computes no windowed aggregates on the DuckDB
offline store, so they are compiled here and registered as plain feature views (issue 26)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pandas as pd

from ml_assets.core import lake
from ml_assets.core.problem.expressions import to_sql
from ml_assets.core.problem.parts import Aggregate, AggregateView, Derived
from ml_assets.core.problem.spec import ProblemSpec
from ml_assets.core.timestamps import utc_times

_DUCKDB_TYPES = {"int": "BIGINT", "float": "DOUBLE", "str": "VARCHAR", "bool": "BOOLEAN"}
_DUCKDB_TYPES |= {"timestamp": "TIMESTAMPTZ", "date": "DATE"}


@dataclasses.dataclass(frozen=True)
class CompiledView:
    """A view's SQL, and which lake tables it reads over how many days before the day."""

    name: str
    sql: str
    reads: dict[str, tuple[str, int]]  # SQL parameter -> (lake table, days before the day)
    empty: dict[str, str]  # SQL parameter -> a typed empty relation, read before the lake's first day


def compile_view(spec: ProblemSpec, view: AggregateView, cap_days: int | None = None) -> CompiledView:
    """``cap_days`` shortens every window longer than it (a short test world's warm-up); the
    features keep the spec's names."""
    source = spec.tables[view.source]
    key = spec.entities[view.entity].key
    events = [a for a in view.aggregates() if a.time == "event"]
    arrivals = [a for a in view.aggregates() if a.time == "arrival"]
    # the spec's checks hold every event-time aggregate to the view's source, and at least one
    widest = max(w for a in events for w in _windows(a, cap_days))
    reads = {"source": (view.source, widest)}
    ctes = [
        f"src AS (SELECT * FROM {{source}} "
        f"WHERE {source.timestamp} < $start AND {source.timestamp} >= $start - INTERVAL {widest} DAY)",
        f"base AS (SELECT {key},\n  "
        + ",\n  ".join(_event_columns(a, source.timestamp, cap_days) for a in events)
        + f"\n  FROM src GROUP BY {key})",
    ]
    # every aggregate under its own name first, then the view's columns in the listed order
    computed = [f"base.{f}" for a in events for f in a.feature_names()]
    joins = ""
    if arrivals:
        label, spine = spec.label, spec.tables[spec.spine.table]
        longest = max(w for a in arrivals for w in _windows(a, cap_days))
        # a label names its event (label.key = the spine's id): the spine's rows reach back the
        # widest arrival window plus the longest a label may take to arrive
        reads |= {
            "labels": (label.table, longest),
            "spine": (spec.spine.table, longest + label.max_delay_days),
        }
        ctes += [
            f"arrived AS (SELECT l.{label.arrival} AS _arrived, s.{key} "
            f"FROM {{labels}} l "
            f"JOIN (SELECT {spine.primary_key}, {key} FROM {{spine}} "
            f"WHERE {spine.timestamp} < $start) s ON l.{label.key} = s.{spine.primary_key} "
            f"WHERE l.{label.arrival} < $start AND l.{label.arrival} >= $start - INTERVAL {longest} DAY)",
            f"labelled AS (SELECT {key},\n  "
            + ",\n  ".join(_event_columns(a, "_arrived", cap_days) for a in arrivals)
            + f"\n  FROM arrived GROUP BY {key})",
        ]
        joins = f" LEFT JOIN labelled USING ({key})"
        computed += [
            f"coalesce(labelled.{f}, 0)::DOUBLE AS {f}" if a.op == "count" else f"labelled.{f}"
            for a in arrivals
            for f in a.feature_names()
        ]
    inner = f"SELECT base.{key}, {', '.join(computed)}\n  FROM base{joins}"
    columns = [
        f"{to_sql(f.expression)} AS {f.name}" if isinstance(f, Derived) else ", ".join(f.feature_names())
        for f in view.features
    ]
    # one clause per line: the SQL is shown in the UI and reviewed as a snapshot
    sql = (
        "WITH "
        + ",\n".join(ctes)
        + f"\nSELECT {key},\n  "
        + ",\n  ".join(columns)
        + f",\n  $start AS event_timestamp\nFROM ({inner})\nORDER BY {key}"
    )
    tables = {param: spec.tables[table].columns for param, (table, _) in reads.items()}
    return CompiledView(view.name, sql, reads, {param: _empty(c) for param, c in tables.items()})


def _event_columns(aggregate: Aggregate, timestamp: str, cap_days: int | None) -> str:
    return ",\n  ".join(
        f"{_aggregate_sql(aggregate, f'{timestamp} >= $start - INTERVAL {w} DAY')} AS {name}"
        for w, name in zip(_windows(aggregate, cap_days), aggregate.feature_names(), strict=True)
    )


def _windows(aggregate: Aggregate, cap_days: int | None) -> list[int]:
    return [min(w, cap_days) if cap_days else w for w in aggregate.windows]


def _aggregate_sql(aggregate: Aggregate, within: str) -> str:
    where = within if aggregate.filter is None else f"{within} AND {to_sql(aggregate.filter)}"
    op, column = aggregate.op, aggregate.column
    if op == "count":
        return f"count(*) FILTER (WHERE {where})::DOUBLE"
    if op == "distinct_count":
        return f"count(DISTINCT {column}) FILTER (WHERE {where})::DOUBLE"
    if op == "share":
        return f"avg(CASE WHEN {to_sql(aggregate.condition)} THEN 1.0 ELSE 0.0 END) FILTER (WHERE {where})"
    if op == "sum":  # no row in the window: nothing was spent, not unknown
        return f"coalesce(sum({column}) FILTER (WHERE {where}), 0)::DOUBLE"
    function = {"mean": "avg", "min": "min", "max": "max"}[op]
    return f"{function}({column}) FILTER (WHERE {where})::DOUBLE"


def _empty(columns: dict[str, str]) -> str:
    return f"(SELECT {', '.join(f'NULL::{_DUCKDB_TYPES[t]} AS {c}' for c, t in columns.items())} WHERE false)"


def relation(files: list[str], param: str, empty: str) -> str:
    """The parameter's parquet files, or the typed empty relation when there are none (before the
    lake's first day; read_parquet takes no empty list): one query serves both."""
    return f"read_parquet(${param})" if files else empty


def compute_view(compiled: CompiledView, lake_dir: Path, day: dt.date, first_day: dt.date) -> pd.DataFrame:
    """The view's rows for ``day`` from the lake's partitions (a missing day inside the calendar
    is an error naming it)."""
    files = {
        param: lake.window_files(lake_dir, table, day, days, first_day)
        for param, (table, days) in compiled.reads.items()
    }
    sql = compiled.sql
    for param, found in files.items():  # str.replace, not format: a spec's literal may hold braces
        sql = sql.replace(f"{{{param}}}", relation(found, param, compiled.empty[param]))
    return run_sql(sql, {**files, "start": pd.Timestamp(day, tz="UTC")})


def run_sql(sql: str, params: dict) -> pd.DataFrame:
    from ml_assets.core import duck

    # one thread: a parallel aggregate adds floats in a varying order, so sums and averages
    # differed in the last bits from run to run (measured: 1e-15 relative), enough to change
    # the training set's content hash and, through LightGBM's bins, a retrained model
    with duck.cursor(threads=1) as con:
        frame = con.execute(sql, {k: v for k, v in params.items() if v != []}).df()
    frame["event_timestamp"] = utc_times(frame["event_timestamp"]).astype("datetime64[us, UTC]")
    return frame
