"""A problem's labels as known at a moment: its label table, read by arrival (the spec's
``label``). Training, the monitors' matured references and realized performance all read
labels here, so none of them knows a problem's column names."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pandas as pd

from ml_assets.core import lake
from ml_assets.core.problem.spec import ProblemSpec


@dataclasses.dataclass(frozen=True)
class LabelTable:
    """Where a problem's labels land and what their columns are called."""

    table: str  # lake table, one partition per arrival day
    key: str  # the labelled event's id (the spine's primary key)
    event_time: str  # the labelled event's timestamp
    arrival: str  # when the label became known
    value: str | None  # the label; None: a row is a positive
    missing: str  # a row without a label yet: "negative" or "unknown"

    @classmethod
    def of(cls, spec: ProblemSpec) -> LabelTable:
        label = spec.label
        if label.arrival is None or label.event_time is None:
            # a label in the spine's own row, known a fixed delay later: no data source lands that
            # form (an import writes a label table with arrivals), so nothing reads it
            raise NotImplementedError(
                f"{spec.name}: labels are read from a label table by arrival; declare label.arrival and "
                "label.event_time (ml-assets init drafts that form)"
            )
        return cls(label.table, label.key, label.event_time, label.arrival, label.value, label.missing)

    def known_at(
        self, as_of: dt.date, lake_dir: Path, first_day: dt.date, lookback_days: int
    ) -> pd.DataFrame:
        """The labels that had arrived before ``as_of`` (later arrivals unseen), from the
        ``lookback_days`` arrival days before it: columns ``key``, ``event_time``, ``arrival``
        (and ``value``)."""
        days = [as_of - dt.timedelta(days=k) for k in range(1, lookback_days + 1)]
        frames = [
            lake.read_partition(lake_dir, self.table, d)
            for d in days
            if d >= first_day and lake.partition_path(lake_dir, self.table, d).exists()
        ]
        columns = [self.key, self.event_time, self.arrival, *([self.value] if self.value else [])]
        if not frames:
            return pd.DataFrame(
                {
                    self.key: pd.Series(dtype=str),
                    self.event_time: pd.Series(dtype="datetime64[us, UTC]"),
                    self.arrival: pd.Series(dtype="datetime64[us, UTC]"),
                    **({self.value: pd.Series(dtype=bool)} if self.value else {}),
                }
            )
        labels = pd.concat(frames, ignore_index=True)
        return labels.loc[labels[self.arrival] < pd.Timestamp(as_of, tz="UTC"), columns]

    def target(self, ids: pd.Series, labels: pd.DataFrame) -> pd.Series:
        """Each id's label as known in ``labels`` (1 positive, 0 negative), and for an id with
        none: 0 where a missing label means negative, NA where it means not known yet."""
        ids = ids.astype(str)
        known = ids.isin(set(labels[self.key].astype(str)))
        out = ids.isin(self.positive_ids(labels)).astype("Int8")
        return out if self.missing == "negative" else out.where(known, pd.NA)

    def arrived_between(self, lake_dir: Path, day: dt.date, until: dt.date) -> set[str]:
        """Ids of the events whose positive label landed in the arrival days ``(day, until]``."""
        ids: set[str] = set()
        d = day + dt.timedelta(days=1)
        while d <= until:
            if lake.partition_path(lake_dir, self.table, d).exists():
                ids |= self.positive_ids(lake.read_partition(lake_dir, self.table, d))
            d += dt.timedelta(days=1)
        return ids

    def positive_ids(self, labels: pd.DataFrame) -> set[str]:
        if self.value is not None:
            labels = labels[labels[self.value].astype(bool)]
        return set(labels[self.key].astype(str))

    def arrival_days(self, lake_dir: Path) -> list[str]:
        """The arrival days landed in the lake, oldest first."""
        return lake.existing_partitions(lake_dir, self.table)
