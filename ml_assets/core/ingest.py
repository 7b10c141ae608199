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

from ml_assets.core import contract_scan, contracts, lake
from ml_assets.core.problem import process_problem
from ml_assets.core.problem.parts import Table
from ml_assets.core.problem.spec import ProblemSpec
from ml_assets.core.settings import Settings


@dataclasses.dataclass(frozen=True)
class TableSpec:
    """A landing table as ingest validates it: the spec's table (its columns and their contract)
    under its lake name, and the label table's rules across tables."""

    name: str  # lake table and Dagster asset name
    contract: Table  # the spec's table: its columns' contract (core/contracts.py)
    problem: str  # whose spec declares it (named in the fixes)
    label: contracts.LabelRule | None = None  # the label table's rules across tables

    @property
    def landing(self) -> str:  # folder under data/<problem>/landing
        return self.contract.landing

    @property
    def columns(self) -> dict[str, str]:  # column -> kind: int, float, str, bool, timestamp, date
        return dict(self.contract.columns)

    @property
    def unique_id(self) -> str:
        return self.contract.primary_key

    @property
    def timestamp(self) -> str:  # the column that must fall inside the partition's day
        return self.contract.timestamp

    @property
    def description(self) -> str:
        return self.contract.description

    @property
    def checks(self) -> tuple[str, ...]:
        """Its blocking checks: one per rule group, then the day's row count."""
        return ("readable", *contracts.groups_of(self.label), "row_volume")


def tables_of(spec: ProblemSpec) -> dict[str, TableSpec]:
    """The landing tables a problem spec declares, as ingest validates them."""
    return {
        name: TableSpec(name, table, spec.name, _label_rule(spec) if name == spec.label.table else None)
        for name, table in spec.tables.items()
    }


def _label_rule(spec: ProblemSpec) -> contracts.LabelRule | None:
    label, spine = spec.label, spec.tables[spec.spine.table]
    if label.arrival is None or label.event_time is None or label.table == spec.spine.table:
        return None  # labels in the event's own row: nothing to match across tables
    return contracts.LabelRule(
        spec.spine.table, spine.primary_key, label.key, label.event_time, label.arrival, label.max_delay_days
    )


# the process problem's tables, from its spec (problems/<name>/problem.yaml)
TABLES: dict[str, TableSpec] = tables_of(process_problem())

REASON_FILE = "reason.json"  # beside every quarantined file: why it was refused
DROPPED_FILE = "dropped_rows.parquet"  # beside it: the rows a table's bad_rows share let go


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
    rules: tuple[contracts.RuleFailure, ...] = ()  # what broke: column, rule, rows, examples


def _spec_file(spec: TableSpec) -> str:
    return f"problems/{spec.problem}/problem.yaml"


def _message(
    dtypes: dict, group: str, found: list[contracts.RuleFailure], spec: TableSpec, day: dt.date, where: str
) -> str:
    """The failures of one rule group in words: the column, how many rows, an example, the fix."""
    parts = []
    for f in found:
        column, kind = f.column, spec.columns.get(f.column, "?")
        example = (
            f" (e.g. {f.examples[0].get(column)!r} in row {f.index[0]})" if f.index and f.examples else ""
        )
        if f.rule == "column_in_dataframe":
            parts.append(f"column '{column}' is missing in {where}: add it to the export ({kind})")
        elif group == contracts.SCHEMA:
            fix = "a timezone-aware UTC timestamp" if kind == "timestamp" else kind
            text = kind == "str" and dtypes[column] == "object"
            has = "values that are not text" if text else f"dtype {dtypes[column]}"
            parts.append(f"column '{column}' has {has} in {where}: export it as {fix}")
        elif group == contracts.NULLS:
            parts.append(
                f"column '{column}' has {f.rows} null values in {where}: repair those rows upstream, or "
                f"declare it in tables.{spec.name}.nullable of {_spec_file(spec)}"
            )
        elif group == contracts.UNIQUE:
            parts.append(
                f"column '{column}' has {f.rows} duplicated values in {where}: deduplicate the export"
            )
        elif group == contracts.IN_DAY:
            parts.append(
                f"column '{column}' has {f.rows} values outside {day} (UTC) in {where}: move those rows to "
                "the partition of their own day"
            )
        elif group == contracts.LABELS:
            parts.append(
                f"{f.rows} labels in {where} break '{f.rule}'{example}: a label must follow its "
                "event, within label.max_delay_days, and name an event that landed; repair the export"
            )
        else:
            parts.append(
                f"column '{column}' has {f.rows} values breaking {f.rule}{example} in {where}: repair them "
                f"upstream, or change tables.{spec.name}.contract.{column} in {_spec_file(spec)}"
            )
    return "; ".join(parts)


PASSED = {
    contracts.SCHEMA: "all {n} columns present with the expected types",
    contracts.NULLS: "no empty value outside the nullable columns",
    contracts.UNIQUE: "'{id}' is unique",
    contracts.VALUES: "every value within its column's contract",
    contracts.IN_DAY: "every '{ts}' falls on {day}",
    contracts.LABELS: "every label after its event, within its maximum delay, of an event the lake holds",
}


def validate(
    df: pd.DataFrame, spec: TableSpec, day: dt.date, lake_dir: Path | None = None, arrow=None
) -> list[CheckOutcome]:
    """Every rule group of the table's contract on a landing partition (core/contracts.py); each
    failing message names the column, the rows and the fix. A label table's events are looked up
    in ``lake_dir``; ``arrow``, the table ``df`` was read from, lets a clean day pass in one scan."""
    where = f"{spec.landing}/date={day}"
    out = []
    # a day the one-pass scan calls clean skips pandera's passes (core/contract_scan.py says why)
    clean = arrow is not None and contract_scan.is_clean(arrow, spec.contract, day, spec.label)
    for group, found in contracts.check_day(df, spec.contract, day, spec.label, lake_dir, clean).items():
        if found is None:
            out.append(CheckOutcome(group, False, "not checked: fix the schema first"))
        elif found:
            rows = len({i for f in found for i in f.index}) or max(f.rows for f in found)
            out.append(
                CheckOutcome(
                    group,
                    False,
                    _message(df.dtypes.astype(str).to_dict(), group, found, spec, day, where),
                    rows,
                    tuple(found),
                )
            )
        else:
            done = PASSED[group].format(n=len(spec.columns), id=spec.unique_id, ts=spec.timestamp, day=day)
            out.append(CheckOutcome(group, True, done))
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
    """The day's row count within the table's declared bounds (``rows_per_day``), and near the
    usual count of its last days in the lake."""
    bounds = spec.contract.rows_per_day
    if rows < bounds.min or (bounds.max is not None and rows > bounds.max):
        return CheckOutcome(
            "row_volume",
            False,
            f"{spec.landing}/date={day} has {rows} rows, outside tables.{spec.name}.rows_per_day "
            f"[{bounds.min}, {bounds.max if bounds.max is not None else 'no limit'}] of {_spec_file(spec)}: "
            "check the export, then land it again",
            rows,
        )
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
        CheckOutcome(name, False, "not checked: the file could not be read") for name in spec.checks[1:]
    ]


def _quarantine(source: Path, checks: list[CheckOutcome], quarantine_dir: Path, spec: TableSpec, day) -> Path:
    """The landing file as it came (bytes copied: it may not even be Parquet), beside the reasons;
    written to a temp name and renamed, like the lake."""
    target = lake.partition_path(quarantine_dir, spec.name, day)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    shutil.copyfile(source, tmp)
    tmp.replace(target)
    _write_reasons(target.parent, spec, day, checks)
    return target


def _write_reasons(folder: Path, spec: TableSpec, day, checks: list[CheckOutcome], dropped: int = 0) -> None:
    """Why a day was refused (or rows of it dropped), for people and programs: each failed
    check's message, and each broken rule with its column, row count and example rows."""
    report = {
        "table": spec.name,
        "day": str(day),
        "failed": {c.name: c.message for c in checks if not c.passed},
        "rules": [
            {
                "check": c.name,
                "column": r.column,
                "rule": r.rule,
                "rows": r.rows,
                "examples": list(r.examples),
            }
            for c in checks
            for r in c.rules
        ],
        "dropped_rows": dropped,
    }
    (folder / REASON_FILE).write_text(json.dumps(report, indent=2))


def _drop_bad_rows(
    checks: list[CheckOutcome], raw: pd.DataFrame, spec: TableSpec, day, quarantine_dir: Path
) -> tuple[list[CheckOutcome], pd.DataFrame]:
    """When only row rules failed (an empty value, a value outside its contract) on at most the
    table's ``bad_rows`` share of the day, those rows go to quarantine with the report and the
    others land; otherwise nothing changes (the day is refused whole)."""
    failed = [c for c in checks if not c.passed]
    bad = {i for c in failed for r in c.rules for i in r.index}
    share = spec.contract.bad_rows
    if not failed or any(c.name not in contracts.ROW_RULES for c in failed) or len(bad) > share * len(raw):
        return checks, raw
    folder = lake.partition_path(quarantine_dir, spec.name, day).parent
    folder.mkdir(parents=True, exist_ok=True)
    raw.iloc[sorted(bad)].to_parquet(folder / DROPPED_FILE, index=False)
    _write_reasons(folder, spec, day, checks, dropped=len(bad))
    kept = [
        dataclasses.replace(
            c,
            passed=True,
            message=f"{len(bad)} of {len(raw)} rows dropped into quarantine (bad_rows allows "
            f"{share:.2%}): {c.message}",
        )
        if not c.passed
        else c
        for c in checks
    ]
    return kept, raw.drop(index=raw.index[sorted(bad)]).reset_index(drop=True)


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
        arrow = lake.read_partition_arrow(landing_dir, spec.landing, day)
        raw = arrow.to_pandas().reset_index(drop=True)
    except FileNotFoundError:
        raise  # nothing landed: the day is not there yet, which is no bad file
    except Exception as exc:  # truncated, empty or not Parquet at all: pyarrow's errors vary by case
        checks = _unreadable(spec, day, source, exc)
        return IngestOutcome(
            checks, 0, _quarantine(source, checks, quarantine_dir, spec, day), quarantined=True
        )
    readable = CheckOutcome("readable", True, "a readable Parquet file")
    checks = [readable, *validate(raw, spec, day, lake_dir, arrow)]
    checks.append(check_volume(len(raw), spec, day, lake_dir, volume))
    checks, raw = _drop_bad_rows(checks, raw, spec, day, quarantine_dir)
    if all(c.passed for c in checks):
        path = lake.write_partition(normalize(raw, spec), lake_dir, spec.name, day)
        return IngestOutcome(checks, len(raw), path, quarantined=False)
    return IngestOutcome(
        checks, len(raw), _quarantine(source, checks, quarantine_dir, spec, day), quarantined=True
    )


def combine_checks(outcomes: list[tuple[dt.date, CheckOutcome]]) -> CheckOutcome:
    """One check over several days (a run ingesting a range of partitions): passed if it passed
    on every day; else the failed days and the first failure's message."""
    (first_day, first), (last_day, _) = outcomes[0], outcomes[-1]
    if len(outcomes) == 1:
        return first
    failed = [(day, c) for day, c in outcomes if not c.passed]
    if not failed:
        return CheckOutcome(
            first.name, True, f"passed on all {len(outcomes)} days, {first_day} to {last_day}"
        )
    day, c = failed[0]
    days = ", ".join(str(d) for d, _ in failed)
    return CheckOutcome(
        first.name,
        False,
        f"failed on {len(failed)} of {len(outcomes)} days ({days}); {day}: {c.message}",
        sum(c.failing_rows for _, c in failed),
        c.rules,
    )


def landed_days(landing_dir: Path) -> list[str]:
    """Days whose exports have all landed (every table's file is there), oldest first."""
    per_table = [set(lake.existing_partitions(landing_dir, spec.landing)) for spec in TABLES.values()]
    return sorted(set.intersection(*per_table))
