"""A problem's aggregate views, computed for one day from the lake with the SQL its spec
compiles to (core/problem/aggregates.py). The row stamped ``D 00:00`` describes the world as
known at the start of day ``D``: source rows before ``D`` and labels arrived before ``D``, so
an event on day ``D`` joined point-in-time to it never sees the future."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from pathlib import Path

import pandas as pd

from ml_assets.core.problem.aggregates import CompiledView, compile_view, compute_view
from ml_assets.core.problem.spec import ProblemSpec
from ml_assets.core.settings import Settings


@dataclasses.dataclass(frozen=True)
class AggregateSource:
    """One aggregate view as the pipeline runs it: the lake table it writes, the SQL, and what
    that SQL reads."""

    view: str
    table: str  # lake table (and Dagster asset) the view's rows are written to
    compiled: CompiledView
    description: str

    @property
    def code_version(self) -> str:
        """Changes with the SQL, so Dagster marks partitions written by another query as stale."""
        return hashlib.sha256(self.compiled.sql.encode()).hexdigest()[:12]

    @property
    def lake_days(self) -> dict[str, int]:
        """Lake table -> how many days before the day the SQL reads (a table read twice: the
        longer)."""
        out: dict[str, int] = {}
        for table, days in self.compiled.reads.values():
            out[table] = max(days, out.get(table, 0))
        return out

    def compute(self, lake_dir: Path, day: dt.date, first_day: dt.date) -> pd.DataFrame:
        return compute_view(self.compiled, lake_dir, day, first_day)


def aggregate_sources(spec: ProblemSpec, settings: Settings) -> list[AggregateSource]:
    """The spec's aggregate views, each shortened to ``settings.window_caps`` where named there."""
    return [aggregate_source(spec, settings, view.name) for view in spec.aggregate_views]


def aggregate_source(spec: ProblemSpec, settings: Settings, view_name: str) -> AggregateSource:
    view = next(v for v in spec.aggregate_views if v.name == view_name)
    compiled = compile_view(spec, view, settings.window_caps.get(view.name))
    return AggregateSource(view.name, f"{view.name}_source", compiled, view.description)


def warm_up_days(spec: ProblemSpec, settings: Settings) -> int:
    """Days before the aggregates are complete: a training row from earlier would teach the model
    a feature distribution that never occurs again."""
    if settings.feature_warm_up_days is not None:
        return settings.feature_warm_up_days
    widest = [source.compiled.reads["source"][1] for source in aggregate_sources(spec, settings)]
    return max(widest, default=0)
