"""Realized quality of the two arms of a rollout, from the prediction log once the labels of
the days it served had time to arrive. Paired: only transactions both versions scored (one
answered, the other in shadow) count, so the two numbers come from the same traffic."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import numpy as np

from ml_assets.core.features.contract import EVENT_ID
from ml_assets.core.labels import LabelTable
from ml_assets.core.problem import process_problem
from ml_assets.core.warehouse import PREDICTION_LOG, Warehouse


@dataclasses.dataclass(frozen=True)
class RealizedByArm:
    champion_version: str
    challenger_version: str
    transactions: int  # labelled, scored by both versions
    positives: int
    champion_roc_auc: float
    challenger_roc_auc: float
    days: tuple[str, ...]  # transaction days whose labels are complete


def realized_by_arm(
    warehouse: Warehouse, lake_dir: Path, champion: str, challenger: str, label_delay_days: int
) -> RealizedByArm | None:
    """ROC AUC of each version on the online transactions both scored, over the days whose
    labels are complete; None while there are none (or no fraud among them yet)."""
    from sklearn.metrics import roc_auc_score

    table = LabelTable.of(process_problem())
    arrived = table.arrival_days(lake_dir)
    if not arrived or not warehouse.exists():
        return None
    complete_until = dt.date.fromisoformat(arrived[-1]) - dt.timedelta(days=label_delay_days)
    scored = warehouse.query(
        f'SELECT "{EVENT_ID}", partition_date, model_version, max(score) AS score FROM {PREDICTION_LOG} '
        "WHERE source = 'online' AND model_version IN (?, ?) AND partition_date <= ? "
        f'GROUP BY "{EVENT_ID}", partition_date, model_version',
        [champion, challenger, complete_until],
    )
    if scored.empty:
        return None
    wide = scored.pivot_table(index=[EVENT_ID, "partition_date"], columns="model_version", values="score")
    if champion not in wide or challenger not in wide:
        return None
    wide = wide.dropna(subset=[champion, challenger]).reset_index()
    labels = np.zeros(len(wide), dtype=int)
    for day, rows in wide.groupby("partition_date").groups.items():
        day = dt.date.fromisoformat(str(day)[:10])
        # as realized_day reads them
        fraud = table.arrived_between(lake_dir, day, day + dt.timedelta(days=label_delay_days))
        labels[wide.index.get_indexer(rows)] = wide.loc[rows, EVENT_ID].astype(str).isin(fraud).to_numpy()
    if labels.sum() == 0 or labels.sum() == len(labels):
        return None
    return RealizedByArm(
        champion,
        challenger,
        len(wide),
        int(labels.sum()),
        float(roc_auc_score(labels, wide[champion])),
        float(roc_auc_score(labels, wide[challenger])),
        tuple(sorted({str(d)[:10] for d in wide["partition_date"]})),
    )
