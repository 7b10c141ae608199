"""Ingest: what each table must look like, the validation every landing file passes
before it may enter the lake, and the move into the lake (or quarantine). A partition that
fails a check goes to quarantine, so a bad day never reaches the features and the last good
copy of that day stays in place."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pandas as pd

from ml_assets.core import lake


@dataclasses.dataclass(frozen=True)
class TableSpec:
    name: str  # lake table and Dagster asset name
    landing: str  # folder under data/landing
    columns: dict[str, str]  # column -> pandas dtype kind: int, float, str, bool, timestamp, date
    keys: tuple[str, ...]  # columns that may never be null
    unique_id: str  # column that identifies a row
    timestamp: str  # column that must fall inside the partition's day
    description: str


TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in [
        TableSpec(
            name="raw_transactions",
            landing="transactions",
            columns={
                "transaction_id": "str",
                "customer_id": "int",
                "merchant_id": "int",
                "amount": "float",
                "channel": "str",
                "merchant_category": "str",
                "event_timestamp": "timestamp",
            },
            keys=("transaction_id", "customer_id", "merchant_id", "event_timestamp"),
            unique_id="transaction_id",
            timestamp="event_timestamp",
            description="Card transactions of one day, as exported by the card processor.",
        ),
        TableSpec(
            name="label_arrivals",
            landing="labels",
            columns={
                "transaction_id": "str",
                "transaction_timestamp": "timestamp",
                "is_fraud": "bool",
                "arrived_at": "timestamp",
            },
            keys=("transaction_id", "arrived_at"),
            unique_id="transaction_id",
            timestamp="arrived_at",
            description="Chargebacks (confirmed fraud) that arrived on one day, for earlier transactions.",
        ),
        TableSpec(
            name="customer_snapshots",
            landing="customers",
            columns={
                "customer_id": "int",
                "customer_age_years": "float",
                "account_age_days": "float",
                "credit_limit": "float",
                "event_timestamp": "timestamp",
            },
            keys=("customer_id", "event_timestamp"),
            unique_id="customer_id",
            timestamp="event_timestamp",
            description="Daily snapshot of customer master data.",
        ),
        TableSpec(
            name="merchant_snapshots",
            landing="merchants",
            columns={
                "merchant_id": "int",
                "merchant_category": "str",
                "merchant_age_days": "float",
                "event_timestamp": "timestamp",
            },
            keys=("merchant_id", "event_timestamp"),
            unique_id="merchant_id",
            timestamp="event_timestamp",
            description="Daily snapshot of merchant master data.",
        ),
    ]
}

CHECK_NAMES = ("schema", "null_keys", "unique_ids", "timestamps_in_partition")


@dataclasses.dataclass(frozen=True)
class CheckOutcome:
    name: str
    passed: bool
    message: str
    failing_rows: int = 0


def _dtype_ok(series: pd.Series, kind: str) -> bool:
    t = pd.api.types
    return {
        "int": t.is_integer_dtype,
        "float": lambda s: t.is_float_dtype(s) or t.is_integer_dtype(s),
        "str": lambda s: t.is_string_dtype(s) or t.is_object_dtype(s),
        "bool": t.is_bool_dtype,
        "timestamp": lambda s: isinstance(s.dtype, pd.DatetimeTZDtype),
    }[kind](series)


def validate(df: pd.DataFrame, spec: TableSpec, day: dt.date) -> list[CheckOutcome]:
    """Run every check of a landing partition; each failing message names the column
    and the fix."""
    where = f"{spec.landing}/date={day}"
    problems = []
    for col, kind in spec.columns.items():
        if col not in df.columns:
            problems.append(f"column '{col}' is missing in {where}: add it to the export ({kind})")
        elif not _dtype_ok(df[col], kind):
            fix = "a timezone-aware UTC timestamp" if kind == "timestamp" else kind
            problems.append(f"column '{col}' has dtype {df[col].dtype} in {where}: export it as {fix}")
    if problems:
        skipped = "not checked: fix the schema first"
        return [CheckOutcome("schema", False, "; ".join(problems))] + [
            CheckOutcome(name, False, skipped) for name in CHECK_NAMES[1:]
        ]
    out = [CheckOutcome("schema", True, f"all {len(spec.columns)} columns present with the expected types")]

    nulls = {c: int(df[c].isna().sum()) for c in spec.keys}
    bad = {c: n for c, n in nulls.items() if n}
    out.append(
        CheckOutcome(
            "null_keys",
            not bad,
            "; ".join(
                f"column '{c}' has {n} null values in {where}: drop or repair those rows upstream"
                for c, n in bad.items()
            )
            or "no null keys",
            sum(bad.values()),
        )
    )

    dupes = int(df[spec.unique_id].duplicated().sum())
    out.append(
        CheckOutcome(
            "unique_ids",
            dupes == 0,
            f"column '{spec.unique_id}' has {dupes} duplicated values in {where}: deduplicate the export"
            if dupes
            else f"'{spec.unique_id}' is unique",
            dupes,
        )
    )

    start = pd.Timestamp(day, tz="UTC")
    ts = df[spec.timestamp]
    outside = int(((ts < start) | (ts >= start + pd.Timedelta(days=1))).sum())
    out.append(
        CheckOutcome(
            "timestamps_in_partition",
            outside == 0,
            f"column '{spec.timestamp}' has {outside} values outside {day} (UTC) in {where}: "
            f"move those rows to the partition of their own day"
            if outside
            else f"every '{spec.timestamp}' falls on {day}",
            outside,
        )
    )
    return out


def normalize(df: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    """Keep the declared columns in the declared order with canonical dtypes."""
    casts = {"int": "int64", "float": "float64", "str": "string", "bool": "bool"}
    out = df[list(spec.columns)].copy()
    for col, kind in spec.columns.items():
        if kind in casts:
            out[col] = out[col].astype(casts[kind])
        elif kind == "timestamp":
            out[col] = out[col].dt.tz_convert("UTC").astype("datetime64[us, UTC]")
    return out.sort_values([spec.timestamp, spec.unique_id], kind="stable").reset_index(drop=True)


@dataclasses.dataclass(frozen=True)
class IngestOutcome:
    checks: list[CheckOutcome]
    rows: int
    path: Path
    quarantined: bool


def ingest_partition(
    spec: TableSpec, day: dt.date, landing_dir: Path, lake_dir: Path, quarantine_dir: Path
) -> IngestOutcome:
    """Validate one landing partition and move it into the lake, or into quarantine."""
    raw = lake.read_partition(landing_dir, spec.landing, day)
    checks = validate(raw, spec, day)
    if all(c.passed for c in checks):
        path = lake.write_partition(normalize(raw, spec), lake_dir, spec.name, day)
        return IngestOutcome(checks, len(raw), path, quarantined=False)
    path = lake.write_partition(raw, quarantine_dir, spec.name, day)
    return IngestOutcome(checks, len(raw), path, quarantined=True)


def landed_days(landing_dir: Path) -> list[str]:
    """Days whose exports have all landed (every table's file is there), oldest first."""
    per_table = [set(lake.existing_partitions(landing_dir, spec.landing)) for spec in TABLES.values()]
    return sorted(set.intersection(*per_table))
