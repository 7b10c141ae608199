"""A problem's historical table replayed as daily landing files (the spec's
``source: historical_import``): each row lands on its own day in the spine's table, without its
label; its label lands in the label table ``label_delay_days`` later, stamped with that moment as
its arrival. So a table holding every answer already becomes what production sees: events as they
happen, labels only once they are known, and every later stage reads them as it reads any
label table (core/labels.py)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pandas as pd

from ml_assets.core import lake
from ml_assets.core.problem.parts import HistoricalImport
from ml_assets.core.problem.spec import ProblemSpec, ProblemSpecError
from ml_assets.core.timestamps import utc_times

_PANDAS_TYPES = {"int": "int64", "float": "float64", "bool": "bool", "str": object}


@dataclasses.dataclass(frozen=True)
class History:
    """The imported table, typed as the spec declares, and the calendar it spans."""

    events: pd.DataFrame  # the spine's columns, sorted by time
    labels: pd.DataFrame  # the label table's columns, arrival = event time + the delay
    first_day: dt.date
    last_day: dt.date  # the last day anything lands (the last label's arrival)

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1


def read_history(spec: ProblemSpec, spec_dir: Path) -> History:
    """The source file as the spec's two tables; a missing column, a type that does not convert
    or a delay the data cannot show is an error naming the field and the fix."""
    source = _import_of(spec)
    path = Path(source.path) if Path(source.path).is_absolute() else Path(spec_dir) / source.path
    raw = read_table(path, fix="source.path: put the file there or fix the path")
    spine = spec.tables[spec.spine.table]
    label = spec.label
    wanted = [*spine.columns, label.value] if label.value else list(spine.columns)
    missing = [c for c in wanted if c not in raw.columns]
    if missing:
        raise ProblemSpecError(
            f"source.path: {path.name} has no column {missing}; its columns: {list(raw.columns)} "
            "(rename them in the file or in the spec's tables)"
        )
    where = f"tables.{spec.spine.table}.columns"
    rows = pd.DataFrame({c: _typed(raw[c], t, f"{where}.{c}") for c, t in spine.columns.items()})
    if label.value:
        rows[label.value] = raw[label.value]
    rows = rows.sort_values(spine.timestamp, kind="stable").reset_index(drop=True)
    first = rows[spine.timestamp].iloc[0].date()
    span = (rows[spine.timestamp].iloc[-1].date() - first).days + 1
    if source.label_delay_days >= span:
        raise ProblemSpecError(
            f"source.label_delay_days: {source.label_delay_days} days is longer than the data "
            f"({span} days from {first}): no label would arrive inside it; choose fewer days"
        )
    table = spec.tables[label.table]
    known = {
        label.key: rows[spine.primary_key],
        label.event_time: rows[spine.timestamp],
        label.arrival: rows[spine.timestamp] + pd.Timedelta(days=source.label_delay_days),
        **({label.value: rows[label.value]} if label.value else {}),
    }
    labels = pd.DataFrame(
        {c: _typed(known[c], t, f"tables.{label.table}.columns.{c}") for c, t in table.columns.items()}
    )
    events = rows[list(spine.columns)]
    return History(events, labels, first, labels[label.arrival].max().date())


def read_table(path: Path, fix: str) -> pd.DataFrame:
    """One historical table, Parquet or CSV (``fix`` says what to do when it is not there)."""
    path = Path(path)
    if not path.exists():
        raise ProblemSpecError(f"{path}: no such file: {fix}")
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".csv":
        return pd.read_csv(path)
    raise ProblemSpecError(f"{path}: read Parquet (.parquet) or CSV (.csv) files only: convert it first")


def land_history(
    spec: ProblemSpec, history: History, landing_dir: Path, days: range | None = None
) -> list[dt.date]:
    """Write the landing files of ``days`` (day indexes from the first; default all): per day,
    the spine's rows of that day and the labels that arrive on it (an empty day lands as an
    empty file with the table's columns). Rewriting a day replaces its files."""
    spine, label = spec.tables[spec.spine.table], spec.label
    calendar = [
        history.first_day + dt.timedelta(days=i) for i in (range(history.days) if days is None else days)
    ]
    tables = (
        (spine.landing, history.events, history.events[spine.timestamp].dt.date),
        (spec.tables[label.table].landing, history.labels, history.labels[label.arrival].dt.date),
    )
    for landing, frame, day_of in tables:
        # one pass over the rows; a day's rows are a slice of it (cost grows with rows, and a
        # day with none is an empty slice, not a scan)
        groups = frame.groupby(day_of, sort=False).indices
        for day in calendar:
            rows = frame.iloc[groups.get(day, [])]
            lake.write_partition(rows.reset_index(drop=True), landing_dir, landing, day)
    return calendar


def _import_of(spec: ProblemSpec) -> HistoricalImport:
    if not isinstance(spec.source, HistoricalImport):
        raise ProblemSpecError(f"source: {spec.name}'s data come from {spec.source.kind}, not an import")
    return spec.source


def _typed(column: pd.Series, kind: str, field: str) -> pd.Series:
    try:
        if kind == "timestamp":
            return utc_times(column).astype("datetime64[us, UTC]")
        if kind == "date":
            return pd.to_datetime(column).dt.date
        if kind == "str":
            return column.astype(object).where(column.notna(), None).map(lambda v: v if v is None else str(v))
        if kind == "int" and column.isna().any():
            return column.astype("Int64")
        return column.astype(_PANDAS_TYPES[kind])
    except (TypeError, ValueError) as exc:
        raise ProblemSpecError(
            f"{field}: its values are not {kind} ({exc}): declare the type they hold"
        ) from None
