"""A day of monitoring: read the day's predictions, run the monitors of the model version
that scored them, store tidy results in DuckDB, write the HTML report; realized
performance once the labels had time to arrive."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pandas as pd

from ml_assets.core.features.contract import EVENT_ID, EVENT_TIME
from ml_assets.core.labels import LabelTable
from ml_assets.core.model import TARGET
from ml_assets.core.model_store import ModelStore
from ml_assets.core.monitoring import monitors
from ml_assets.core.monitoring.contract import contract_rows
from ml_assets.core.monitoring.fitting import monitors_of
from ml_assets.core.monitoring.label_signal import ArrivalIndex, LabelSignal, label_signal, recall_hold
from ml_assets.core.problem import problem_spec
from ml_assets.core.records import RecallHold
from ml_assets.core.settings import Settings
from ml_assets.core.timestamps import utc_times
from ml_assets.core.training.tracking import load_reference
from ml_assets.core.warehouse import MONITORING_TABLES, PREDICTION_LOG, Warehouse

LABEL_SIGNAL_TABLE = "monitoring_label_signal"

_GROUPS = {
    "cbpe": ["cbpe"],
    "drift": ["univariate", "score_drift", "multivariate"],
    "quality": ["missing", "unseen"],
}


def by_table(rows: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Tidy monitor rows split by the table they belong to."""
    return {
        table: rows[rows["monitor"].isin(names)].reset_index(drop=True) for table, names in _GROUPS.items()
    }


def predictions_of(warehouse: Warehouse, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Batch predictions for ``[start, end]``."""
    return warehouse.query(
        f"SELECT * FROM {PREDICTION_LOG} WHERE source = 'batch' AND partition_date BETWEEN ? AND ? "
        f'ORDER BY "{EVENT_TIME}"',
        [start, end],
    )


def _chunks(
    warehouse: Warehouse,
    store: ModelStore,
    preds: pd.DataFrame,
    day: dt.date,
    settings: Settings,
    labels_through: dt.date,
):
    """(version, its monitors, the predictions its chunk for ``day`` judges) per version that
    scored ``day``: the day's, or the trailing ``chunk_days`` days' ending on it (only the rows
    that version scored: a new champion's first chunks are its days in service so far)."""
    for version, part in preds.groupby("model_version"):
        fitted = monitors_of(store, str(version), settings, labels_through)
        if fitted.chunk_days > 1:
            window = predictions_of(warehouse, day - dt.timedelta(days=fitted.chunk_days - 1), day)
            part = window[window["model_version"] == version].reset_index(drop=True)
        yield str(version), fitted, part


def monitor_day(
    warehouse: Warehouse, store: ModelStore, day: dt.date, settings: Settings
) -> dict[str, pd.DataFrame]:
    """Estimated performance, drift and data quality of one day, per model version."""
    preds = predictions_of(warehouse, day, day)
    if preds.empty:
        raise ValueError(
            f"no predictions for {day} in {PREDICTION_LOG}: materialize predictions for {day} first"
        )
    frames, results_by_version = [], {}
    for version, fitted, part in _chunks(warehouse, store, preds, day, settings, day):
        results_by_version[version] = monitors.run(fitted, part)
        frames.append(
            monitors.tidy(results_by_version[version], fitted.references).assign(
                model_version=str(version), rows=len(part), reference_labels="immature"
            )
        )
    tidy = by_table(pd.concat(frames, ignore_index=True))
    newest = frames[-1].iloc[0]  # the version that scored the day last, and its chunk's rows
    outside = contract_rows(settings, day, fitted.chunk_days, newest["model_version"], int(newest["rows"]))
    tidy["quality"] = pd.concat([tidy["quality"], outside], ignore_index=True)
    for key, frame in tidy.items():
        warehouse.replace_partition(MONITORING_TABLES[key], frame, {"partition_date": day})
    version, results = next(reversed(results_by_version.items()))
    # NannyML's plots of many columns cost seconds to a minute (univariate, missing values):
    # plot the score and the columns that drift most; the tables have everything
    uni = tidy["drift"][(tidy["drift"]["monitor"] == "univariate")].sort_values("value", ascending=False)
    shown = list(uni["column_name"].drop_duplicates()[: settings.report_drift_columns])
    plots = {
        "estimated performance (CBPE)": results["cbpe"],
        "score drift (against the validation window)": results["score_drift"],
        "multivariate drift (PCA reconstruction error)": results["multivariate"],
        "univariate drift: top drifting features": results["univariate"].filter(column_names=shown),
    }
    monitors.write_report(plots, daily_report_path(settings, day), f"Monitoring {day} (model v{version})")
    return tidy


def daily_report_path(settings: Settings, day: dt.date) -> Path:
    return settings.reports_dir / "daily" / f"{day}.html"


def rolling_report(warehouse: Warehouse, store: ModelStore, settings: Settings) -> tuple[Path, dt.date]:
    """NannyML's plots over the last scored days, with the newest day's model monitors."""
    days = settings.rolling_report_days
    newest = warehouse.query(f"SELECT max(partition_date) AS d FROM {PREDICTION_LOG}")["d"].iloc[0]
    if newest is None or pd.isna(newest):
        raise ValueError(f"{PREDICTION_LOG} is empty: materialize predictions first")
    day = pd.Timestamp(newest).date()
    preds = predictions_of(warehouse, day - dt.timedelta(days=days - 1), day)
    version = str(preds["model_version"].iloc[-1])
    fitted = monitors_of(store, version, settings)
    results = monitors.run(fitted, preds, which=("cbpe", "multivariate"))
    path = monitors.write_report(
        results, settings.reports_dir / "rolling.html", f"Last {days} days up to {day} (model v{version})"
    )
    return path, day


def realized_day(warehouse: Warehouse, store: ModelStore, day: dt.date, settings: Settings) -> pd.DataFrame:
    """Realized ROC AUC/F1 of a day (of its chunk) once its labels had time to arrive, the error of the
    estimate made for that day (estimated - realized), and the day estimated again by CBPE
    calibrated on its reference's complete labels (``complete_label_*``): complete labels are
    judged against an estimator that also knew its labels complete (any day a version scored is
    newer than its reference, so the reference's labels are complete by now)."""
    labels = LabelTable.of(problem_spec(settings))
    newest_labels = labels.arrival_days(settings.lake_dir)
    ready = day + dt.timedelta(days=settings.label_delay_max_days)
    if not newest_labels or dt.date.fromisoformat(newest_labels[-1]) < ready:
        raise ValueError(
            f"labels for {day} are not complete until {ready} (label_delay_max_days="
            f"{settings.label_delay_max_days}); materialize {labels.table} through {ready} first"
        )
    frames, again = [], []
    for version, fitted, part in _chunks(
        warehouse, store, predictions_of(warehouse, day, day), day, settings, ready
    ):
        first = utc_times(part[EVENT_TIME]).dt.date.min()
        arrived = labels.arrived_between(settings.lake_dir, first, ready)
        part = part.assign(**{TARGET: part[EVENT_ID].astype(str).isin(arrived).astype(int)})
        cbpe = fitted.complete_or_training("cbpe")
        results = monitors.run(fitted, part, which=("realized", cbpe))
        realized = monitors.tidy({"realized": results["realized"]}).assign(model_version=str(version))
        frames += [realized, _attainable_recall(realized, part, settings)]
        again.append(
            monitors.tidy({"cbpe": results[cbpe]})
            .assign(model_version=str(version), reference_labels=fitted.labels)
            .rename(
                columns={
                    "value": "complete_label_estimate",
                    "lower_bound": "complete_label_lower",
                    "upper_bound": "complete_label_upper",
                }
            )[
                [
                    "metric",
                    "model_version",
                    "complete_label_estimate",
                    "complete_label_lower",
                    "complete_label_upper",
                    "reference_labels",
                ]
            ]
        )
    realized = pd.concat(frames, ignore_index=True).merge(
        pd.concat(again, ignore_index=True), on=["metric", "model_version"], how="left"
    )
    estimated = warehouse.query(
        f"SELECT metric, model_version, value AS estimated, lower_bound AS estimate_lower, "
        f"upper_bound AS estimate_upper FROM {MONITORING_TABLES['cbpe']} WHERE partition_date = ?",
        [day],
    )
    merged = realized.drop(columns=["lower_bound", "upper_bound"]).merge(
        estimated, on=["metric", "model_version"], how="left"
    )
    merged["estimation_error"] = merged["estimated"] - merged["value"]
    merged["within_bounds"] = (merged["value"] >= merged["estimate_lower"]) & (
        merged["value"] <= merged["estimate_upper"]
    )
    warehouse.replace_partition(MONITORING_TABLES["realized"], merged, {"partition_date": day})
    return merged


ATTAINABLE_RECALL = "recall_at_policy_fpr"


def _attainable_recall(realized: pd.DataFrame, part: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """The recall the best threshold at the problem's false-positive rate would have had on the
    day's complete labels, as a row beside the served recall (none where the decision policy is
    not a fixed FPR): what the ranking allowed at the operating point, so a recall lost splits
    into the ranking's share and the threshold's (the replay's scoreboard). NannyML has no
    recall-at-FPR metric, hence computed here."""
    from ml_assets.core.model import recall_at_fpr

    decision = problem_spec(settings).model.decision
    served = realized[realized["metric"] == "recall"]
    best = None
    if decision.policy == "fixed_fpr":
        best = recall_at_fpr(
            part[TARGET].to_numpy(), part[monitors.SCORE].to_numpy(), decision.value or settings.fixed_fpr
        )
    if best is None:
        return served.iloc[:0]
    nan = float("nan")
    return served.assign(
        metric=ATTAINABLE_RECALL,
        value=best,
        lower_bound=nan,
        upper_bound=nan,
        lower_threshold=nan,
        upper_threshold=nan,
        alert=False,
    )


def _arrivals(reference: pd.DataFrame, first: dt.date, day: dt.date, settings: Settings) -> ArrivalIndex:
    """Arrivals of the reference's positives (within ``label_signal_days`` of them) and of the
    days ``first`` to ``day``, as known at the end of ``day``."""
    ref_days = utc_times(reference[EVENT_TIME]).dt.date
    return ArrivalIndex(
        settings.lake_dir,
        [
            (ref_days.min(), min(day, ref_days.max() + dt.timedelta(days=settings.label_signal_days))),
            (first, day),
        ],
    )


def recall_hold_of(
    warehouse: Warehouse, store: ModelStore, version: str, first: dt.date, last: dt.date, settings: Settings
) -> RecallHold | None:
    """The threshold that catches the arrived positives of ``version``'s scored days ``[first,
    last]`` at its reference's rates, labels as known at the end of ``last`` (label_signal.py)."""
    preds = predictions_of(warehouse, first, last)
    preds = preds[preds["model_version"].astype(str) == str(version)]
    if preds.empty:
        return None
    reference = load_reference(store, str(version), settings.monitors_cache_dir)
    return recall_hold(
        preds,
        reference,
        monitors_of(store, str(version), settings).threshold,
        _arrivals(reference, first, last, settings),
        last,
        settings.threshold_recall_min_arrived,
    )


def early_labels_day(
    warehouse: Warehouse, store: ModelStore, day: dt.date, settings: Settings
) -> list[LabelSignal]:
    """The early label signal as known at the end of ``day``, per model version that scored
    the ``label_signal_days`` days before it (label_signal.py); stored in DuckDB."""
    days = settings.label_signal_days
    preds = predictions_of(warehouse, day - dt.timedelta(days=days), day - dt.timedelta(days=1))
    signals = []
    for version, part in preds.groupby("model_version", sort=False):
        fitted = monitors_of(store, str(version), settings)
        reference = load_reference(store, str(version), settings.monitors_cache_dir)
        index = _arrivals(reference, day - dt.timedelta(days=days), day, settings)
        signals.append(
            label_signal(
                part,
                reference,
                fitted.threshold,
                index,
                day,
                days,
                settings.label_signal_false_alarm_rate,
                settings.label_signal_min_arrived,
                str(version),
                monitors.describe_reference(reference, "validation window"),
            )
        )
    # the version that scored the newest day speaks last
    signals.sort(key=lambda s: preds.loc[preds["model_version"] == s.model_version, "partition_date"].max())
    rows = pd.DataFrame([dataclasses.asdict(s) | {"alert": s.alert} for s in signals])
    if not rows.empty:
        # z (and the ROC AUCs) are None while too few positive labels arrived: typed, or DuckDB
        # would make the column NULL
        floats = {c: rows[c].astype("float64") for c in ("z", "auc", "reference_auc", "auc_sd")}
        rows = rows.drop(columns=["day"]).assign(partition_date=day, **floats)
        warehouse.replace_partition(LABEL_SIGNAL_TABLE, rows, {"partition_date": day})
    return signals
