"""``ml-assets init``: a first problem spec drafted from one historical table (a Parquet or CSV
file): its columns and types read from the file, the row's own columns as features, and the
label column moved to a table of its own that the historical import (history.py) fills a fixed
delay after each row. Wherever a choice is needed the draft holds a
``TODO:`` placeholder saying what to choose; ``load_spec`` refuses a spec that still has one."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ml_assets.core.problem.history import read_table
from ml_assets.core.problem.spec import PLACEHOLDER, ProblemSpecError
from ml_assets.core.timestamps import utc_times

FEW_VALUES = 20  # a text column with at most this many values gets them as its contract
WEEKLY_BELOW_ROWS_A_DAY = 1000  # rows a day under which init proposes weekly monitoring chunks


def column_type(series: pd.Series) -> str:
    """The spec's type of a column, from its pandas dtype (a CSV's text timestamps are parsed)."""
    if pd.api.types.is_bool_dtype(series):
        return "bool"
    if pd.api.types.is_integer_dtype(series):
        return "int"
    if pd.api.types.is_float_dtype(series):
        return "float"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "timestamp"
    sample = series.dropna().head(100)
    if len(sample) and all(isinstance(v, str) for v in sample):
        try:
            pd.to_datetime(sample, format="ISO8601")
            return "timestamp"
        except (ValueError, TypeError):
            return "str"
    return "str"


def draft(
    name: str,
    source: Path,
    id_column: str,
    timestamp: str,
    label: str,
    label_delay_days: int | None = None,
) -> dict:
    """The draft spec of ``source``, as the YAML document to write."""
    frame = read_table(source, fix="give the table to draft from (--from)")
    columns = {c: column_type(frame[c]) for c in frame.columns}
    for flag, column in (("--id", id_column), ("--timestamp", timestamp), ("--label", label)):
        if column not in columns:
            raise ProblemSpecError(
                f"{source}: {flag} {column!r} is not a column; its columns: {list(columns)}"
            )
    if columns[timestamp] != "timestamp":
        raise ProblemSpecError(
            f"{source}: --timestamp {timestamp!r} holds {columns[timestamp]}, not timestamps"
        )
    columns[timestamp] = "timestamp"
    keys = [c for c in columns if c.endswith("_id") and c not in (id_column, label)]
    entity_key = keys[0] if keys else f"{PLACEHOLDER} the column that names who or what a row is about"
    # the row's own columns are its features; an id is a key, not a feature
    features = [c for c in columns if c not in (id_column, timestamp, label, *keys[:1])]
    events = {c: t for c, t in columns.items() if c != label}
    delay = (
        label_delay_days
        if label_delay_days is not None
        else f"{PLACEHOLDER} days after a row until its label is known"
    )
    # the partition calendar: the file's first day to its last label's arrival; training waits
    # for the labels (rows as old as the delay), and the demo covers a training window, its
    # labels' delay and a monitored week
    times = utc_times(frame[timestamp])
    first, span = times.min().date(), (times.max().date() - times.min().date()).days + 1
    if label_delay_days is not None:
        settings = {
            "horizon_days": span + label_delay_days,
            "label_delay_max_days": label_delay_days,
            "label_maturity_days": label_delay_days,
            "demo_days": 28 + label_delay_days + 8,
        }
    else:
        settings = {
            "horizon_days": f"{PLACEHOLDER} {span} days of rows + the label delay",
            "label_delay_max_days": f"{PLACEHOLDER} the label delay (days)",
            "label_maturity_days": f"{PLACEHOLDER} the label delay (days): training rows that old",
            "demo_days": f"{PLACEHOLDER} 36 + the label delay (days the demo replays)",
        }
    return {
        "name": name,
        "description": f"{PLACEHOLDER} what is predicted, for whom, and when the answer is known",
        "tables": {
            name: {
                "landing": name,
                "description": f"Rows of {source.name}, one file a day (without {label}).",
                "columns": events,
                "primary_key": id_column,
                "timestamp": timestamp,
                **proposed_contract(frame, events, (id_column, timestamp)),
            },
            f"{name}_labels": {
                "landing": f"{name}_labels",
                "description": f"{label} of earlier rows, landing the day it becomes known.",
                "columns": {
                    id_column: columns[id_column],
                    timestamp: "timestamp",
                    label: columns[label],
                    "known_at": "timestamp",
                },
                "primary_key": id_column,
                "timestamp": "known_at",
            },
        },
        "entities": {"subject": {"key": entity_key}},
        "spine": {"table": name, "entities": ["subject"], "request_columns": features},
        "label": {
            "table": f"{name}_labels",
            "key": id_column,
            "value": label,
            "arrival": "known_at",
            "event_time": timestamp,
            "max_delay_days": label_delay_days
            if label_delay_days is not None
            else f"{PLACEHOLDER} days after which every label is known (at least source.label_delay_days)",
        },
        "request_features": {c: c for c in features if columns[c] != "timestamp"},
        # the levels the file holds (a level it lacks would be unseen, and read as missing)
        "model": {
            "categorical": {
                c: sorted(str(v) for v in frame[c].dropna().unique()) for c in features if columns[c] == "str"
            }
        },
        # a day's CBPE estimate from a few hundred rows is mostly noise: judge the week ending on it
        "monitoring": {"chunk": "week" if len(frame) / span < WEEKLY_BELOW_ROWS_A_DAY else "day"},
        "serving": {"hash_key": id_column},
        # the file, replayed a day at a time: rows on their day, labels after the delay
        "source": {
            "kind": "historical_import",
            "path": str(Path(source).resolve()),
            "label_delay_days": delay,
        },
        "settings": {"start_date": first.isoformat(), **settings},
    }


def proposed_contract(frame: pd.DataFrame, columns: dict[str, str], keys: tuple[str, ...]) -> dict:
    """A contract read off the file, for the user to confirm: the columns that hold empty values
    (nullable), a lower bound of 0 on numbers never negative, an upper bound of 1 on shares
    (numbers within [0, 1]), and the values of a text column with few of them. Observed values
    only: no bound is invented beyond what the file shows."""
    contract: dict[str, dict] = {}
    for column, kind in columns.items():
        if column in keys:
            continue
        values = frame[column].dropna()
        if kind in ("int", "float") and len(values):
            low, high = float(values.min()), float(values.max())
            bounds = ({"ge": 0} if low >= 0 else {}) | ({"le": 1} if low >= 0 and high <= 1 else {})
            if bounds:
                contract[column] = bounds
        elif kind == "str" and 0 < values.nunique() <= FEW_VALUES:
            contract[column] = {"values": sorted(str(v) for v in values.unique())}
    nullable = [c for c in columns if c not in keys and frame[c].isna().any()]
    return ({"nullable": nullable} if nullable else {}) | ({"contract": contract} if contract else {})


def write_draft(spec: dict, path: Path) -> Path:
    """Write the draft, never over an existing spec."""
    import yaml

    if path.exists():
        raise ProblemSpecError(f"{path}: a spec is already there: edit it, or choose another name")
    path.parent.mkdir(parents=True, exist_ok=True)
    header = (
        "# yaml-language-server: $schema=../problem.schema.json\n"
        "# drafted by ml-assets init: fill every TODO, then run ml-assets check\n"
        "# the tables' nullable and contract are read off the file: confirm them (ingest refuses a day\n"
        "# that breaks them, the service a request)\n"
    )
    path.write_text(header + yaml.safe_dump(spec, sort_keys=False, allow_unicode=True))
    return path
