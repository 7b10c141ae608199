"""Turns tidy monitoring rows into Dagster metadata (floats that chart across partitions,
a markdown summary) and check outcomes."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pandas as pd

MISSING_SLACK = 0.02


def _num(v) -> float:
    return float("nan") if v is None or pd.isna(v) else float(v)


def summarize(tidy: dict[str, pd.DataFrame], report: Path):
    cbpe, drift, quality = tidy["cbpe"], tidy["drift"], tidy["quality"]
    links = {"report": dg.MetadataValue.path(str(report))}

    perf_meta = {"model_version": ", ".join(sorted(set(cbpe["model_version"])))}
    for r in cbpe.itertuples():
        perf_meta[f"estimated_{r.metric}"] = _num(r.value)
        perf_meta[f"estimated_{r.metric}_lower"] = _num(r.lower_bound)
        perf_meta[f"estimated_{r.metric}_upper"] = _num(r.upper_bound)
        perf_meta[f"{r.metric}_lower_threshold"] = _num(r.lower_threshold)
    perf_alerts = cbpe[cbpe["alert"]]
    perf_meta["summary"] = dg.MetadataValue.md(cbpe[["metric", "value", "lower_bound", "upper_bound", "lower_threshold", "alert"]].to_markdown(index=False))
    yield "estimated_performance", {**perf_meta, **links}, {
        "check_name": "estimated_performance_alert", "passed": perf_alerts.empty, "severity": dg.AssetCheckSeverity.WARN,
        "description": "estimate within thresholds" if perf_alerts.empty else
        "estimated " + ", ".join(f"{r.metric}={r.value:.3f} (threshold {_num(r.lower_threshold):.3f})" for r in perf_alerts.itertuples()),
    }

    uni = drift[drift["monitor"] == "univariate"]
    multi = drift[drift["monitor"] == "multivariate"]
    alerts = drift[drift["alert"]]
    drift_meta = {
        "drift_alerts": int(len(alerts)),
        "reconstruction_error": _num(multi["value"].iloc[0]) if len(multi) else float("nan"),
        "score_jensen_shannon": _num(uni.loc[uni["column_name"] == "score", "value"].iloc[0]) if (uni["column_name"] == "score").any() else float("nan"),
        "max_jensen_shannon": _num(uni.loc[uni["metric"] == "jensen_shannon", "value"].max()),
        "summary": dg.MetadataValue.md(uni.sort_values("value", ascending=False).head(10)[["column_name", "metric", "value", "upper_threshold", "alert"]].to_markdown(index=False)),
    }
    yield "feature_drift", {**drift_meta, **links}, {
        "check_name": "drift_alert", "passed": alerts.empty, "severity": dg.AssetCheckSeverity.WARN,
        "description": "no drift alert" if alerts.empty else "drifting: " + ", ".join(
            sorted({(r.column_name or r.monitor) for r in alerts.itertuples()})),
    }

    unseen = quality[(quality["monitor"] == "unseen") & (quality["value"].fillna(0) > 0)]
    # a missing-value alert fails only with a real jump (threshold + slack): thresholds learnt
    # from a few reference days are tight, and a blocking check must not cry wolf
    missing = quality[quality["monitor"] == "missing"]
    missing_alerts = missing[missing["value"] > missing["upper_threshold"].fillna(0) + MISSING_SLACK]
    bad = pd.concat([unseen, missing_alerts])
    quality_meta = {
        "unseen_values": float(unseen["value"].sum()) if len(unseen) else 0.0,
        "missing_value_alerts": int(len(missing_alerts)),
        "max_missing_rate": _num(quality.loc[quality["monitor"] == "missing", "value"].max()),
    }
    yield "data_quality", {**quality_meta, **links}, {
        "check_name": "missing_and_unseen_values", "passed": bad.empty, "severity": dg.AssetCheckSeverity.ERROR,
        "description": "no unseen values, missing rates within thresholds" if bad.empty else "; ".join(
            f"{r.monitor} values in '{r.column_name}': {r.value:.4g} (threshold {_num(r.upper_threshold):.4g}): "
            "check the upstream export and the feature repo" for r in bad.itertuples()),
    }
