"""NannyML monitors of one model version: fitted on the version's labelled validation
window (its *reference*), stored with the version in MLflow, run on each day's predictions.

One chunk per day, or the trailing week ending on each day for a problem with few events a day
(chunks.py); either way every result row is one partition, dated by its chunk's last day."""

from __future__ import annotations

import dataclasses
import hashlib
import pickle
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd

from ml_assets.core.features.contract import EVENT_TIME, raw_columns
from ml_assets.core.model import TARGET
from ml_assets.core.model_store import ModelStore
from ml_assets.core.timestamps import utc_times

# a version's monitors, named by their own SHA-256 (recorded in the version's tag when stored)
MONITORS_DIR, MONITORS_FILE, MONITORS_HASH_TAG = "monitoring", "monitors-{digest}.pkl", "monitors_sha256"
SCORE, DECISION, TS = "score", "decision", EVENT_TIME
ALL_MONITORS = ("cbpe", "score_drift", "univariate", "multivariate", "missing", "unseen")
PERFORMANCE_MONITORS = ("cbpe", "realized")  # their rows are per metric, not per column
COMPLETE = "_complete"  # suffix of a performance monitor fitted again on complete labels


@dataclasses.dataclass(frozen=True)
class MonitoredColumns:
    continuous: list[str]
    categorical: list[str]  # as served (strings), so unseen values stay visible
    ages: tuple[str, ...] = ()  # judged as of a fixed day (feature_specs.AGE_FEATURES)

    @classmethod
    def of(cls, specs: ModuleType) -> MonitoredColumns:
        return cls(
            [c for c in specs.model_features() if c not in specs.CATEGORICAL_FEATURES],
            raw_columns(specs),
            tuple(specs.AGE_FEATURES),
        )


@dataclasses.dataclass
class FittedMonitors:
    monitors: dict[str, object]
    threshold: float
    columns: MonitoredColumns
    references: dict[str, str] = dataclasses.field(default_factory=dict)  # monitor -> its reference
    # the day the reference's labels were complete when CBPE and realized were fitted on them;
    # None: fitted at training, on the labels known then (the newest days' frauds mostly unreported)
    labels_complete_on: str | None = None
    reference_through: str | None = None  # the reference's newest day (its labels complete after it)
    chunk_days: int = 1  # the days of predictions one chunk holds (the days a partition monitors)

    @property
    def labels(self) -> str:
        """Whether a calibration on complete labels exists yet (``COMPLETE`` monitors)."""
        return "complete" if self.labels_complete_on else "immature"

    def complete_or_training(self, name: str) -> str:
        """``name``'s monitor fitted on complete labels when there is one, else the training one."""
        return f"{name}{COMPLETE}" if f"{name}{COMPLETE}" in self.monitors else name


def _naive(frame: pd.DataFrame, columns: MonitoredColumns) -> pd.DataFrame:
    out = frame.copy()
    out[TS] = utc_times(out[TS]).dt.tz_convert(None)
    # an age on its row's day minus that day's number: the age as of one fixed day, the same for
    # an entity on every day (monitors pickled before ages were declared have none)
    ages = [col for col in getattr(columns, "ages", ()) if col in out]
    if ages:
        day_number = (out[TS].dt.floor("D") - pd.Timestamp(0)).dt.days
        out[ages] = out[ages].sub(day_number, axis=0)
    for col in columns.categorical:
        out[col] = out[col].astype("object").where(out[col].notna(), None)
    return out


def describe_reference(frame: pd.DataFrame, what: str) -> str:
    days = utc_times(frame[TS]).dt.date
    return f"{what} {days.min()}..{days.max()} ({days.nunique()} days)"


def fit_monitors(
    reference: pd.DataFrame,
    threshold: float,
    columns: MonitoredColumns,
    drift_reference: pd.DataFrame,
    false_alarm_rate: float,
    performance_false_alarm_rate: float,
    folds: int = 2,
    chunk_days: int = 1,
) -> FittedMonitors:
    """Fit every monitor: performance and score drift on ``reference`` (the labelled
    validation window with out-of-sample scores), feature drift and data quality on
    ``drift_reference`` (the whole training window, features only: four times as many
    reference days, so a threshold learnt from the spread of the days is not learnt from a
    handful of points).

    Every drift threshold is learnt from the same statistic on the reference's own days, each
    day judged against the reference *without* its block of days (``folds`` blocks;
    thresholds.fit_out_of_sample): a day alerts above those values' one-sided prediction
    interval at ``false_alarm_rate`` (thresholds.PredictionIntervalThreshold; upper side only: a
    distance cannot drift down).
    Every monitor cuts reference and analysis into the same ``chunk_days``-day chunks.
    Jensen-Shannon distance for every feature, categorical ones too: chi2's p-value at 10k rows
    a day flags differences far too small to matter, every day. Continuous columns and the
    score use it with open outer bins (drift_methods.py: a value past the reference's range is
    not a new category)."""
    import nannyml as nml

    from ml_assets.core.monitoring.chunks import chunker
    from ml_assets.core.monitoring.drift_methods import OPEN_JENSEN_SHANNON
    from ml_assets.core.monitoring.thresholds import PredictionIntervalThreshold, fit_out_of_sample

    ref = _naive(reference, columns)
    ref[DECISION] = (ref[SCORE] > threshold).astype(int)
    long_ref = _naive(drift_reference, columns)
    common = {"timestamp_column_name": TS, **chunker(TS, chunk_days)}
    upper = PredictionIntervalThreshold(false_alarm_rate)
    js = {
        "continuous_methods": [OPEN_JENSEN_SHANNON],
        "categorical_methods": ["jensen_shannon"],
        "thresholds": {OPEN_JENSEN_SHANNON: upper, "jensen_shannon": upper},
    }
    continuous, categorical = columns.continuous, columns.categorical
    on_validation = _performance_monitors(performance_false_alarm_rate, chunk_days)
    on_training_window = {
        "missing": nml.MissingValuesCalculator(column_names=[*continuous, *categorical], **common),
        "unseen": nml.UnseenValuesCalculator(column_names=categorical, **common),
    }
    # drift monitors: made afresh for every block of held-out days, so made by a function
    drift_on_validation = {
        "score_drift": lambda: nml.UnivariateDriftCalculator(column_names=[SCORE], **js, **common),
    }
    drift_on_training_window = {
        "univariate": lambda: nml.UnivariateDriftCalculator(
            column_names=[*continuous, *categorical], treat_as_categorical=categorical, **js, **common
        ),
        "multivariate": lambda: nml.DataReconstructionDriftCalculator(
            column_names=continuous, threshold=upper, **common
        ),
    }
    for monitor in on_validation.values():
        monitor.fit(ref)
    for monitor in on_training_window.values():
        monitor.fit(long_ref)
    for name, make in drift_on_validation.items():
        on_validation[name] = fit_out_of_sample(make, ref, TS, folds, upper)
    for name, make in drift_on_training_window.items():
        on_training_window[name] = fit_out_of_sample(make, long_ref, TS, folds, upper)
    references = {name: describe_reference(reference, "validation window") for name in on_validation}
    references |= {
        name: describe_reference(drift_reference, "training window") for name in on_training_window
    }
    for name in [*drift_on_validation, *drift_on_training_window]:
        references[name] += f"; threshold from its days held out in {folds} blocks"
    for name in PERFORMANCE_MONITORS:
        references[name] += ", labels as known at training"
    newest = utc_times(reference[TS]).dt.date.max()
    return FittedMonitors(
        {**on_validation, **on_training_window},
        threshold,
        columns,
        references,
        None,
        newest.isoformat(),
        chunk_days,
    )


def _performance_monitors(false_alarm_rate: float, chunk_days: int) -> dict[str, object]:
    """CBPE and realized performance, unfitted: fitted on the labelled validation window."""
    import nannyml as nml

    from ml_assets.core.monitoring.chunks import chunker
    from ml_assets.core.monitoring.thresholds import PredictionIntervalThreshold

    perf = {
        "problem_type": "classification_binary",
        "y_pred_proba": SCORE,
        "y_pred": DECISION,
        "y_true": TARGET,
        "metrics": ["roc_auc", "f1"],
        "timestamp_column_name": TS,
        **chunker(TS, chunk_days),
    }
    return {
        # NannyML learns CBPE's thresholds from the reference days' realized ROC AUC: a WARN in the
        # UI. The retrain policy does not use them (see retrain_policy.py for its baselines)
        "cbpe": nml.CBPE(
            **perf,
            thresholds={
                m: PredictionIntervalThreshold(false_alarm_rate, side="lower") for m in ("roc_auc", "f1")
            },
        ),
        # recall at the served decision (the log's decision column): the operating point's
        # loss, which ROC AUC cannot show (a threshold re-fit answers it, not a retrain)
        "realized": nml.PerformanceCalculator(**{**perf, "metrics": [*perf["metrics"], "recall"]}),
    }


def with_complete_labels(
    fitted: FittedMonitors, reference: pd.DataFrame, complete_on: str, false_alarm_rate: float
) -> FittedMonitors:
    """``fitted`` with CBPE and realized performance also fitted on ``reference`` carrying its
    complete labels, beside the ones fitted at training (``cbpe_complete``, ``realized_complete``).
    At training the validation window's newest days had most of their frauds unreported, and CBPE
    calibrated on those labels inherits the error. The day-by-day estimates keep the training
    calibration, which their baseline was learnt on: switching mid-service left CBPE without a
    baseline for a week, the week a season began in a test replay. Complete labels are judged
    against the complete-label one (docs/decisions/matured-references.md)."""
    ref = _naive(reference, fitted.columns)
    ref[DECISION] = (ref[SCORE] > fitted.threshold).astype(int)
    refitted = _performance_monitors(false_alarm_rate, fitted.chunk_days)
    for monitor in refitted.values():
        monitor.fit(ref)
    described = describe_reference(reference, "validation window") + f", labels complete on {complete_on}"
    return dataclasses.replace(
        fitted,
        monitors={**fitted.monitors, **{f"{name}{COMPLETE}": m for name, m in refitted.items()}},
        references={**fitted.references, **{f"{name}{COMPLETE}": described for name in refitted}},
        labels_complete_on=complete_on,
    )


def save(fitted: FittedMonitors, folder: Path) -> tuple[Path, str]:
    """The pickle under its own content's name (``monitors-<sha256>.pkl``), and that hash."""
    data = pickle.dumps(fitted)
    found = digest(data)
    path = Path(folder) / MONITORS_FILE.format(digest=found)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path, found


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class TamperedArtifact(RuntimeError):
    """An artifact whose bytes are not the ones recorded when it was stored: never unpickled."""


def load(store: ModelStore, version: str, cache_dir: Path) -> FittedMonitors:
    """The fitted monitors of a model version, downloaded from MLflow once, then cached, and
    unpickled only when their bytes hash to what the version's tag recorded when they were
    stored: a pickle runs code as it loads. The artifact is named by that hash, and the tag moves
    only after it is stored, so a run killed between the two leaves the version on its previous,
    whole monitors (or on none: then they are fitted again)."""
    recorded = store.client().get_model_version(store.model_name, str(version)).tags.get(MONITORS_HASH_TAG)
    if recorded is None:  # never stored, or stored before hashes were recorded: fit them again
        raise FileNotFoundError(
            f"model version {version} has no monitors recorded (tag {MONITORS_HASH_TAG}): materialize "
            "model_monitors for it first"
        )
    name = MONITORS_FILE.format(digest=recorded)
    cached = Path(cache_dir) / f"{store.model_name}-v{version}-{name}"
    if not cached.exists():
        try:
            downloaded = store.download(version, f"{MONITORS_DIR}/{name}", Path(cache_dir) / f"dl-{version}")
        except Exception as exc:
            raise FileNotFoundError(
                f"model version {version} has no {MONITORS_DIR}/{name}: materialize model_monitors for it"
            ) from exc
        downloaded.replace(cached)
    data = cached.read_bytes()
    if (found := digest(data)) != recorded:
        cached.unlink(missing_ok=True)  # the next try downloads them again
        raise TamperedArtifact(
            f"the monitors of model version {version} ({MONITORS_DIR}/{name}) hash to "
            f"{found[:12]}..., not the {recorded[:12]}... recorded when they were stored: refused "
            "unread. If nobody should have changed them, find out who did; then re-fit them "
            "(materialize model_monitors for the version)"
        )
    return pickle.loads(data)


def run(fitted: FittedMonitors, predictions: pd.DataFrame, which=ALL_MONITORS) -> dict:
    """Run monitors on predictions (one chunk per day, each of the fitted ``chunk_days``);
    returns NannyML result objects."""
    analysis = _naive(predictions, fitted.columns)
    analysis[DECISION] = analysis[DECISION].astype(int)
    out = {}
    for name in which:
        monitor = fitted.monitors[name]
        out[name] = monitor.estimate(analysis) if name.startswith("cbpe") else monitor.calculate(analysis)
    return out


def tidy(results: dict, references: dict[str, str] | None = None) -> pd.DataFrame:
    """One row per chunk (dated by its last day) x monitor x column x metric, for DuckDB and
    metadata, read
    through NannyML's own accessors (``keys``, ``values``, bounds, thresholds, alerts), with
    the reference each monitor's thresholds were learnt on."""
    frames = []
    for monitor, result in results.items():
        analysis = result.filter(period="analysis")
        days = pd.to_datetime(pd.Series(analysis.chunk_end_dates)).dt.date.to_numpy()
        for key in analysis.keys():
            # (metric,) for performance; (column, method) for drift; (column,) for quality
            props = key.properties
            per_metric = monitor in PERFORMANCE_MONITORS
            frames.append(
                pd.DataFrame(
                    {
                        "partition_date": days,
                        "monitor": monitor,
                        "column_name": "" if per_metric else props[0],
                        "metric": props[0] if per_metric else (props[1] if len(props) > 1 else "value"),
                        "value": _floats(analysis.values(key), len(days)),
                        "lower_bound": _floats(analysis.lower_confidence_bounds(key), len(days)),
                        "upper_bound": _floats(analysis.upper_confidence_bounds(key), len(days)),
                        "lower_threshold": _floats(analysis.lower_thresholds(key), len(days)),
                        "upper_threshold": _floats(analysis.upper_thresholds(key), len(days)),
                        "alert": pd.Series(analysis.alerts(key)).fillna(False).astype(bool).to_numpy(),
                        "reference": (references or {}).get(monitor, ""),
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


def _floats(series, n: int) -> np.ndarray:
    if series is None:  # e.g. drift methods have no confidence bounds
        return np.full(n, np.nan)
    return pd.to_numeric(pd.Series(series), errors="coerce").astype("float64").to_numpy()


def write_report(results: dict, path: Path, title: str) -> Path:
    """One HTML page with NannyML's own plots. plotly.js is written once beside the pages
    (works offline, and a day's page stays small)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    js = path.parent / "plotly.min.js"
    if not js.exists():
        from plotly.offline import get_plotlyjs

        js.write_text(get_plotlyjs())
    parts = [
        f"<html><head><meta charset='utf-8'><title>{title}</title><script src='plotly.min.js'></script>"
        f"</head><body><h1>{title}</h1>"
    ]
    for name, result in results.items():
        try:
            fig = result.plot()
        except Exception as exc:  # a plot is a nicety: never fail monitoring over it
            parts.append(f"<p>{name}: no plot ({exc})</p>")
            continue
        parts.append(f"<h2>{name}</h2>" + fig.to_html(full_html=False, include_plotlyjs=False))
    parts.append("</body></html>")
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(parts))
    tmp.replace(path)
    return path
