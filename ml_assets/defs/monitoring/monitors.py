"""NannyML monitors of one model version: fitted on the version's labelled validation
window (its *reference*), stored with the version in MLflow, run on each day's predictions.

One chunk per day (``chunk_period="D"``), so every result row is one partition."""

from __future__ import annotations

import pickle
from pathlib import Path

import pandas as pd

MONITORS_ARTIFACT = "monitoring/monitors.pkl"
SCORE, DECISION, TARGET, TS = "score", "decision", "is_fraud", "event_timestamp"
JS_THRESHOLD = 0.15


def monitored_columns() -> tuple[list[str], list[str]]:
    """(continuous, categorical) columns NannyML watches: model inputs as served + score."""
    from ml_assets.defs.features.store import load_specs

    specs = load_specs()
    categorical = [f"{c}_raw" for c in specs.CATEGORICAL_FEATURES]
    continuous = [c for c in specs.model_features() if c not in specs.CATEGORICAL_FEATURES]
    return continuous, categorical


def _naive(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out[TS] = pd.to_datetime(out[TS], utc=True).dt.tz_convert(None)
    for col in monitored_columns()[1]:
        out[col] = out[col].astype("object").where(out[col].notna(), None)
    return out


def fit_monitors(reference: pd.DataFrame, threshold: float) -> dict:
    """Fit every monitor on the reference (validation rows with score and label)."""
    import nannyml as nml
    from nannyml.thresholds import ConstantThreshold

    continuous, categorical = monitored_columns()
    ref = _naive(reference)
    ref[DECISION] = (ref[SCORE] > threshold).astype(int)
    common = {"timestamp_column_name": TS, "chunk_period": "D"}
    perf = {"problem_type": "classification_binary", "y_pred_proba": SCORE, "y_pred": DECISION, "y_true": TARGET,
            "metrics": ["roc_auc", "f1"], **common}
    monitors = {
        "cbpe": nml.CBPE(**perf),
        "realized": nml.PerformanceCalculator(**perf),
        # a fixed Jensen-Shannon threshold: the default (3 std of a week of reference days)
        # alerts on sampling noise every day
        "univariate": nml.UnivariateDriftCalculator(
            column_names=[*continuous, *categorical, SCORE], treat_as_categorical=categorical,
            continuous_methods=["jensen_shannon"], categorical_methods=["chi2"],
            thresholds={"jensen_shannon": ConstantThreshold(upper=JS_THRESHOLD)}, **common),
        "multivariate": nml.DataReconstructionDriftCalculator(column_names=continuous, **common),
        "missing": nml.MissingValuesCalculator(column_names=[*continuous, *categorical], **common),
        "unseen": nml.UnseenValuesCalculator(column_names=categorical, **common),
    }
    for monitor in monitors.values():
        monitor.fit(ref)
    return {"monitors": monitors, "threshold": threshold}


def save(fitted: dict, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(fitted))
    return path


def load(res, version: str, cache_dir: Path) -> dict:
    """The fitted monitors of a model version (downloaded from MLflow once, then cached)."""
    cached = cache_dir / f"{res.model_name}-v{version}.pkl"
    if not cached.exists():
        import mlflow.artifacts

        mv = res.client().get_model_version(res.model_name, str(version))
        res.configure()
        downloaded = mlflow.artifacts.download_artifacts(run_id=mv.run_id, artifact_path=MONITORS_ARTIFACT,
                                                         dst_path=str(cache_dir / f"dl-{version}"))
        cached.parent.mkdir(parents=True, exist_ok=True)
        Path(downloaded).replace(cached)
    return pickle.loads(cached.read_bytes())


def run(fitted: dict, predictions: pd.DataFrame, which=("cbpe", "univariate", "multivariate", "missing", "unseen")) -> dict:
    """Run monitors on predictions (one chunk per day); returns NannyML result objects."""
    analysis = _naive(predictions)
    analysis[DECISION] = analysis[DECISION].astype(int)
    out = {}
    for name in which:
        monitor = fitted["monitors"][name]
        out[name] = monitor.estimate(analysis) if name == "cbpe" else monitor.calculate(analysis)
    return out


def tidy(results: dict) -> pd.DataFrame:
    """One row per chunk (day) x monitor x column x metric, for DuckDB and metadata."""
    rows = []
    for monitor, result in results.items():
        df = result.filter(period="analysis").to_df()
        chunk_cols = [c for c in df.columns if c[0] == "chunk"]
        day = pd.to_datetime(df[chunk_cols[[c[-1] for c in chunk_cols].index("start_date")]]).dt.date
        for col in df.columns:
            if col[0] == "chunk" or col[-1] != "value":
                continue
            base = col[:-1]
            column, method = (base[0], base[1]) if len(base) == 2 else (base[0], "")

            def get(field, base=base, df=df):
                key = (*base, field)
                return df[key] if key in df.columns else pd.Series([None] * len(df))

            for i in range(len(df)):
                rows.append({
                    "partition_date": day.iloc[i], "monitor": monitor,
                    "column_name": column if monitor != "cbpe" and monitor != "realized" else "",
                    "metric": column if monitor in ("cbpe", "realized") else (method or "value"),
                    "value": _f(df[col].iloc[i]),
                    "lower_bound": _f(get("lower_confidence_boundary").iloc[i]),
                    "upper_bound": _f(get("upper_confidence_boundary").iloc[i]),
                    "lower_threshold": _f(get("lower_threshold").iloc[i]),
                    "upper_threshold": _f(get("upper_threshold").iloc[i]),
                    "alert": bool(get("alert").iloc[i]) if get("alert").iloc[i] is not None else False,
                })
    return pd.DataFrame(rows)


def _f(value) -> float | None:
    try:
        return None if value is None or pd.isna(value) else float(value)
    except (TypeError, ValueError):
        return None


def write_report(results: dict, path: Path, title: str) -> Path:
    """One HTML page with NannyML's own plots. plotly.js is written once beside the pages
    (works offline, and a day's page stays small)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    js = path.parent / "plotly.min.js"
    if not js.exists():
        from plotly.offline import get_plotlyjs

        js.write_text(get_plotlyjs())
    parts = [f"<html><head><meta charset='utf-8'><title>{title}</title><script src='plotly.min.js'></script>"
             f"</head><body><h1>{title}</h1>"]
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
