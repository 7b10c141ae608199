"""Ingest: what each table must look like, the validation every landing file passes
before it may enter the lake, and the move into the lake (or quarantine). A partition that
fails a check goes to quarantine, so a bad day never reaches the features and the last good
copy of that day stays in place."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shutil
import statistics
from pathlib import Path

import pandas as pd

from ml_assets.core import lake
from ml_assets.core.problem import process_problem
from ml_assets.core.problem.spec import ProblemSpec
from ml_assets.core.settings import Settings


@dataclasses.dataclass(frozen=True)
class TableSpec:
    name: str  # lake table and Dagster asset name
    landing: str  # folder under data/<problem>/landing
    columns: dict[str, str]  # column -> pandas dtype kind: int, float, str, bool, timestamp, date
    keys: tuple[str, ...]  # columns that may never be null
    unique_id: str  # column that identifies a row
    timestamp: str  # column that must fall inside the partition's day
    description: str


def tables_of(spec: ProblemSpec) -> dict[str, TableSpec]:
    """The landing tables a problem spec declares, as ingest validates them."""
    return {
        name: TableSpec(
            name=name,
            landing=table.landing,
            columns=dict(table.columns),
            keys=(table.primary_key, *table.not_null, table.timestamp),
            unique_id=table.primary_key,
            timestamp=table.timestamp,
            description=table.description,
        )
        for name, table in spec.tables.items()
    }


# the process problem's tables, from its spec (problems/<name>/problem.yaml)
TABLES: dict[str, TableSpec] = tables_of(process_problem())

CHECK_NAMES = ("readable", "schema", "null_keys", "unique_ids", "timestamps_in_partition", "row_volume")
REASON_FILE = "reason.json"  # beside every quarantined file: why it was refused


@dataclasses.dataclass(frozen=True)
class VolumeRule:
    """A day's row count against the median of the lake's last ``history_days`` days of the
    table: more than ``max_ratio`` times it, or less than its 1/``max_ratio``, is refused (a
    re-sent month, a truncated export). Tables whose median is under ``min_rows`` are too small
    to judge."""

    max_ratio: float
    history_days: int
    min_rows: int

    @classmethod
    def from_settings(cls, settings: Settings) -> VolumeRule:
        return cls(
            settings.ingest_volume_max_ratio,
            settings.ingest_volume_history_days,
            settings.ingest_volume_min_rows,
        )


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
            CheckOutcome(name, False, skipped) for name in CHECK_NAMES[2:]
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


def check_volume(rows: int, spec: TableSpec, day: dt.date, lake_dir: Path, rule: VolumeRule) -> CheckOutcome:
    earlier = [d for d in lake.existing_partitions(lake_dir, spec.name) if d < str(day)][-rule.history_days :]
    if not earlier:
        return CheckOutcome("row_volume", True, "no earlier day in the lake to compare with")
    usual = statistics.median(lake.partition_rows(lake_dir, spec.name, d) for d in earlier)
    if usual < rule.min_rows:
        return CheckOutcome("row_volume", True, f"{rows} rows; the usual {usual:.0f} is too few to judge")
    if rows > rule.max_ratio * usual or rows < usual / rule.max_ratio:
        return CheckOutcome(
            "row_volume",
            False,
            f"{spec.landing}/date={day} has {rows} rows, the last {len(earlier)} days a median of "
            f"{usual:.0f} (more than {rule.max_ratio:g}x apart): check the export for a re-sent or "
            "cut-off period, then land it again (or raise ML_ASSETS_INGEST_VOLUME_MAX_RATIO if the "
            "volume really moved)",
            rows,
        )
    return CheckOutcome("row_volume", True, f"{rows} rows, the usual {usual:.0f}")


@dataclasses.dataclass(frozen=True)
class IngestOutcome:
    checks: list[CheckOutcome]
    rows: int
    path: Path
    quarantined: bool


def _unreadable(spec: TableSpec, day: dt.date, source: Path, error: Exception) -> list[CheckOutcome]:
    size = source.stat().st_size
    what = (
        "an empty file (0 bytes)"
        if size == 0
        else f"not a readable Parquet file ({type(error).__name__}: {error})"
    )
    message = (
        f"{spec.landing}/date={day} ({source}) is {what}: export the day again as Parquet "
        "(pandas: df.to_parquet) and land it in place of this one"
    )
    return [CheckOutcome("readable", False, message)] + [
        CheckOutcome(name, False, "not checked: the file could not be read") for name in CHECK_NAMES[1:]
    ]


def _quarantine(source: Path, checks: list[CheckOutcome], quarantine_dir: Path, spec: TableSpec, day) -> Path:
    """The landing file as it came (bytes copied: it may not even be Parquet), beside the reasons;
    written to a temp name and renamed, like the lake."""
    target = lake.partition_path(quarantine_dir, spec.name, day)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    shutil.copyfile(source, tmp)
    tmp.replace(target)
    reasons = {c.name: c.message for c in checks if not c.passed}
    (target.parent / REASON_FILE).write_text(json.dumps({"day": str(day), "failed": reasons}, indent=2))
    return target


def ingest_partition(
    spec: TableSpec,
    day: dt.date,
    landing_dir: Path,
    lake_dir: Path,
    quarantine_dir: Path,
    volume: VolumeRule,
) -> IngestOutcome:
    """Validate one landing partition and move it into the lake, or into quarantine with its
    reasons; the lake keeps its last good copy of a refused day."""
    source = lake.partition_path(landing_dir, spec.landing, day)
    try:
        raw = lake.read_partition(landing_dir, spec.landing, day)
    except FileNotFoundError:
        raise  # nothing landed: the day is not there yet, which is no bad file
    except Exception as exc:  # truncated, empty or not Parquet at all: pyarrow's errors vary by case
        checks = _unreadable(spec, day, source, exc)
        return IngestOutcome(
            checks, 0, _quarantine(source, checks, quarantine_dir, spec, day), quarantined=True
        )
    checks = [CheckOutcome("readable", True, "a readable Parquet file")] + validate(raw, spec, day)
    checks.append(check_volume(len(raw), spec, day, lake_dir, volume))
    if all(c.passed for c in checks):
        path = lake.write_partition(normalize(raw, spec), lake_dir, spec.name, day)
        return IngestOutcome(checks, len(raw), path, quarantined=False)
    return IngestOutcome(
        checks, len(raw), _quarantine(source, checks, quarantine_dir, spec, day), quarantined=True
    )


def landed_days(landing_dir: Path) -> list[str]:
    """Days whose exports have all landed (every table's file is there), oldest first."""
    per_table = [set(lake.existing_partitions(landing_dir, spec.landing)) for spec in TABLES.values()]
    return sorted(set.intersection(*per_table))
