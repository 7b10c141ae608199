"""Values outside the problem's data contract, counted per monitoring chunk beside NannyML's
missing and unseen values: the rows ingest let go into quarantine (a table's ``bad_rows`` share)
on the chunk's days, per column of the event table. A day refused whole has no predictions."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd

from ml_assets.core import lake
from ml_assets.core.ingest import REASON_FILE
from ml_assets.core.problem import problem_spec
from ml_assets.core.settings import Settings

MONITOR, METRIC = "contract", "rows_outside_contract"


def dropped_by_column(settings: Settings, first: dt.date, last: dt.date) -> dict[str, int]:
    """Rows of the event table dropped by ingest for breaking a column's rule, ``first``..``last``."""
    spec = problem_spec(settings)
    table = spec.spine.table
    counts = {c: 0 for c in spec.tables[table].columns if c != spec.tables[table].timestamp}
    day = first
    while day <= last:
        report = lake.partition_path(settings.quarantine_dir, table, day).parent / REASON_FILE
        if report.exists():
            found = json.loads(report.read_text())
            if found.get("dropped_rows"):
                for rule in found["rules"]:
                    counts[rule["column"]] = counts.get(rule["column"], 0) + int(rule["rows"])
        day += dt.timedelta(days=1)
    return counts


def contract_rows(
    settings: Settings, day: dt.date, chunk_days: int, model_version: str, rows: int = 0
) -> pd.DataFrame:
    """One tidy monitoring row per column of the event table: the rows its contract refused in
    the chunk ending on ``day`` (whose ``rows`` predictions were monitored)."""
    counts = dropped_by_column(settings, day - dt.timedelta(days=chunk_days - 1), day)
    return pd.DataFrame(
        {
            "partition_date": day,
            "monitor": MONITOR,
            "column_name": list(counts),
            "metric": METRIC,
            "value": [float(v) for v in counts.values()],
            "alert": [v > 0 for v in counts.values()],
            "reference": "the problem spec's contract",
            "model_version": model_version,
            "rows": rows,  # typed as the NannyML rows beside them (an integer column in the warehouse)
            "reference_labels": "",
        }
    )
