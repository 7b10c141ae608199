"""What a day's monitoring says, as plain records: per monitoring asset, the numbers worth
charting across partitions, a markdown summary, and the verdict of its check."""

from __future__ import annotations

import dataclasses

import pandas as pd


@dataclasses.dataclass(frozen=True)
class Verdict:
    check_name: str
    passed: bool
    blocking: bool  # an ERROR that stops downstream, or a WARN
    description: str


@dataclasses.dataclass(frozen=True)
class AssetSummary:
    asset: str
    numbers: dict[str, float | int | str]
    markdown: str
    verdict: Verdict


def _num(v) -> float:
    return float("nan") if v is None or pd.isna(v) else float(v)


def _performance(cbpe: pd.DataFrame) -> AssetSummary:
    numbers: dict[str, float | int | str] = {"model_version": ", ".join(sorted(set(cbpe["model_version"])))}
    if "reference_labels" in cbpe:  # complete | immature: which calibration made the estimate
        numbers["reference_labels"] = ", ".join(sorted(set(cbpe["reference_labels"])))
    for r in cbpe.itertuples():
        numbers[f"estimated_{r.metric}"] = _num(r.value)
        numbers[f"estimated_{r.metric}_lower"] = _num(r.lower_bound)
        numbers[f"estimated_{r.metric}_upper"] = _num(r.upper_bound)
        numbers[f"{r.metric}_lower_threshold"] = _num(r.lower_threshold)
    alerts = cbpe[cbpe["alert"]]
    return AssetSummary(
        "estimated_performance",
        numbers,
        cbpe[["metric", "value", "lower_bound", "upper_bound", "lower_threshold", "alert"]].to_markdown(
            index=False
        ),
        Verdict(
            "estimated_performance_alert",
            alerts.empty,
            False,
            "estimate within thresholds"
            if alerts.empty
            else "estimated "
            + ", ".join(
                f"{r.metric}={r.value:.3f} (threshold {_num(r.lower_threshold):.3f})"
                for r in alerts.itertuples()
            ),
        ),
    )


def describe_alert(row) -> str:
    """What an alert is: the column (or the monitor), the statistic, the value against its
    threshold, and the reference the threshold was learnt on."""
    what = row.column_name or row.monitor
    return (
        f"{what}: {row.metric} {row.value:.4g} > {_num(row.upper_threshold):.4g} "
        f"(model v{row.model_version}, reference {row.reference or 'unknown'})"
    )


def _drift(drift: pd.DataFrame) -> AssetSummary:
    uni = drift[drift["monitor"] == "univariate"]
    multi = drift[drift["monitor"] == "multivariate"]
    score = drift.loc[drift["monitor"] == "score_drift", "value"]
    alerts = drift[drift["alert"]]
    feature_alerts = alerts[alerts["monitor"] == "univariate"]
    numbers = {
        "drift_alerts": int(len(alerts)),
        "feature_drift_alerts": int(len(feature_alerts)),
        "drifting_features": ", ".join(sorted(feature_alerts["column_name"])),
        "score_drift_alert": bool(alerts["monitor"].eq("score_drift").any()),
        "multivariate_drift_alert": bool(alerts["monitor"].eq("multivariate").any()),
        "reconstruction_error": _num(multi["value"].iloc[0]) if len(multi) else float("nan"),
        "score_jensen_shannon": _num(score.iloc[0]) if len(score) else float("nan"),
        "max_jensen_shannon": _num(uni.loc[uni["metric"].str.startswith("jensen_shannon"), "value"].max()),
    }
    shown = drift[drift["monitor"] != "multivariate"].sort_values("value", ascending=False).head(10)
    return AssetSummary(
        "feature_drift",
        numbers,
        shown[["column_name", "metric", "value", "upper_threshold", "alert", "reference"]].to_markdown(
            index=False
        ),
        Verdict(
            "drift_alert",
            alerts.empty,
            False,
            "no drift alert"
            if alerts.empty
            else "drift: " + "; ".join(describe_alert(r) for r in alerts.itertuples()),
        ),
    )


def _quality(quality: pd.DataFrame, missing_slack: float) -> AssetSummary:
    unseen = quality[(quality["monitor"] == "unseen") & (quality["value"].fillna(0) > 0)]
    # a missing-value alert fails only with a real jump (threshold + slack): thresholds learnt
    # from a few reference days are tight, and a blocking check must not cry wolf
    missing = quality[quality["monitor"] == "missing"]
    missing_alerts = missing[missing["value"] > missing["upper_threshold"].fillna(0) + missing_slack]
    bad = pd.concat([unseen, missing_alerts])
    outside = quality[quality["monitor"] == "contract"]
    numbers = {
        "rows_outside_contract": float(outside["value"].sum()) if len(outside) else 0.0,
        "unseen_values": float(unseen["value"].sum()) if len(unseen) else 0.0,
        "missing_value_alerts": int(len(missing_alerts)),
        "max_missing_rate": _num(missing["value"].max()),
    }
    return AssetSummary(
        "data_quality",
        numbers,
        quality[["monitor", "column_name", "value", "upper_threshold"]].to_markdown(index=False),
        Verdict(
            "missing_and_unseen_values",
            bad.empty,
            True,
            "no unseen values, missing rates within thresholds"
            if bad.empty
            else "; ".join(
                f"{r.monitor} values in '{r.column_name}': {r.value:.4g} "
                f"(threshold {_num(r.upper_threshold):.4g}): "
                "check the upstream export and the feature repo"
                for r in bad.itertuples()
            ),
        ),
    )


def summarize(tidy: dict[str, pd.DataFrame], missing_slack: float) -> list[AssetSummary]:
    return [_performance(tidy["cbpe"]), _drift(tidy["drift"]), _quality(tidy["quality"], missing_slack)]
