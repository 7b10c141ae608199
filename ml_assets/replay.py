"""Replays the production loop day by day on the project's Dagster instance: ingest ->
features -> predictions -> monitoring each day, the real retrain sensor evaluated after
each day and whatever it requests launched, realized performance once labels matured.

Runs in-process (heavy imports paid once). Every run lands in the instance, so the UI
shows the whole history; runs the sensor requested carry its name like daemon launches do.
Each day runs the whole daily cycle, the online store included (bulk-loaded, so serving
always has the newest day); the warm-up days only build the offline features that batch
scoring and training read."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pandas as pd

from ml_assets import scoreboard
from ml_assets.core import engines
from ml_assets.core.features import aggregates
from ml_assets.core.problem import problem_spec
from ml_assets.core.retrain_policy import DayEvidence, SensorState
from ml_assets.core.settings import PROJECT_ROOT, Settings
from ml_assets.defs.keys import key, op_name
from ml_assets.defs.partitions import partition_range_tags

GENERATED = (
    "landing",
    "lake",
    "quarantine",
    "feast",
    "mlflow",
    "warehouse.duckdb",
    "reports",
    "monitors",
    "training_sets",
)


@dataclasses.dataclass
class DayRow:
    day: str
    champion: str
    estimated_auc: float | None = None
    realized_auc: float | None = None
    drift_alerts: int = 0
    sensor: str = ""
    retrain: str = ""
    drifting_features: str = ""  # comma-separated, from the drift check
    estimate_threshold: float | None = None  # the retrain policy's CBPE threshold (version baseline)
    label_z: float | None = None  # the early label signal
    bad_by: str = ""  # the signals that called the day bad (cbpe, early_labels), comma-separated
    flag_rate: float | None = None  # share of the day's transactions flagged (batch)
    threshold: float | None = None  # the decision threshold the day was scored at
    realized_recall: float | None = None  # recall at the served decisions, once labels are complete
    # the recall the best threshold at the policy's false-positive rate would have had (same labels)
    attainable_recall: float | None = None
    follow_up: bool = False  # the retrain was a planned follow-up of a new regime, not fired on a streak
    # the bad streak a retrain answered (sensor tags): what the scoreboard judges it on
    bad_since: str = ""
    bad_until: str = ""
    reason: str = ""  # the retrain sensor's words for its decision on the day (a skip's, or a request's)


def _wipe(settings: Settings) -> None:
    for name in GENERATED:
        path = settings.data_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def world_name(s: Settings) -> str:
    """What a replay replays: the simulator's scenario, or the problem's imported history."""
    return s.scenario if problem_spec(s).source.kind == "simulator" else s.problem


def _meta(result, name: str) -> dict:
    for event in result.get_asset_materialization_events():
        if event.asset_key == key(name):
            return {k: v.value for k, v in event.materialization.metadata.items()}
    return {}


class Replay:
    def __init__(self, settings: Settings, instance: dg.DagsterInstance, log=print):
        from ml_assets.definitions import build_definitions
        from ml_assets.defs.automation.jobs import INGEST_AND_SOURCES

        # days pass here without live traffic, so there is nothing to roll out on: a challenger
        # that wins offline becomes champion at once (the service's rollout is a live affair)
        settings = settings.model_copy(update={"promotion_path": "direct"})
        self.s, self.instance, self.log = settings, instance, log
        self.defs = build_definitions(settings)

        graph = self.defs.resolve_asset_graph()
        self.day_job = self.defs.resolve_job_def("daily_cycle")
        # warm-up: the lake and the offline feature sources, not the online store
        self.offline_features_job = self.defs.resolve_job_def("daily_features").get_subset(
            asset_selection=INGEST_AND_SOURCES.resolve(graph)
        )
        self.training_job = self.defs.resolve_job_def("train_and_promote")
        self.threshold_job = self.defs.resolve_job_def("refit_threshold")
        self.realized_job = self.defs.resolve_job_def("realized_performance_job")
        self.sensor = self.defs.resolve_sensor_def("retrain_on_performance_drop")
        self.cursor: str | None = None
        self.rows: list[DayRow] = []
        self.retrains: list[tuple[str, bool]] = []

    def _run(self, job, run_config: dict | None = None, blocked_by: str | None = None, **kwargs):
        """Run a job in-process; a failure raises unless it is the blocking check ``blocked_by``
        doing its job (then the caller reads the outcome from the result)."""
        # the runs' full logs are in the instance (UI); the terminal gets errors only
        quiet = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
        result = job.execute_in_process(
            instance=self.instance, raise_on_error=False, run_config={**(run_config or {}), **quiet}, **kwargs
        )
        blocked = any(
            c.check_name == blocked_by and not c.passed for c in result.get_asset_check_evaluations()
        )
        if not result.success and not blocked:
            errors = [
                f"{e.step_key}: {_root_cause(e.event_specific_data.error)}"
                for e in result.all_events
                if e.is_step_failure and e.event_specific_data and e.event_specific_data.error
            ]
            raise RuntimeError(
                f"{job.name} {kwargs.get('partition_key', '')} failed ({'; '.join(errors)[-2000:]}): "
                f"see run {result.run_id} in the Dagster UI"
            )
        return result

    def champion(self) -> str:
        from ml_assets.core.model_store import CHAMPION

        return engines.model_store(self.s).alias_version(CHAMPION) or "-"

    def ingest_days(self, days: int, on_day: Callable[[str], None] | None = None) -> None:
        """The first ``days`` days into the lake and the offline feature sources: a run per
        ``warm_up_days_per_run`` days (a run over a range of partitions), each day still its own
        partition. A run per day paid Dagster's run and check events once a day."""
        step = self.s.warm_up_days_per_run
        for first in range(0, days, step):
            chunk = [self.s.day(i).isoformat() for i in range(first, min(first + step, days))]
            self._run(self.offline_features_job, tags=partition_range_tags(chunk[0], chunk[-1]))
            for day in chunk if on_day is not None else ():
                on_day(day)

    def apply_feature_repo(self) -> None:
        """``feast apply``, as its asset does (the feature definitions before any day)."""
        self._run(self.defs.resolve_job_def("feast_apply_job"))

    def warm_up(self, days: int, on_day: Callable[[str], None] | None = None) -> None:
        self.apply_feature_repo()
        self.ingest_days(days, on_day)
        result = self._run(
            self.training_job,
            run_config={
                "ops": {op_name("training_set"): {"config": {"as_of": self.s.day(days).isoformat()}}}
            },
        )
        self.log(
            f"[replay] warm-up: {days} days ingested, first champion v{self.champion()} "
            f"(validation ROC AUC {_meta(result, 'model').get('validation_roc_auc', float('nan')):.3f})"
        )

    def step(self, index: int) -> DayRow:
        key = self.s.day(index).isoformat()
        result = self._run(self.day_job, partition_key=key)
        perf, drift = _meta(result, "estimated_performance"), _meta(result, "feature_drift")
        labels, scored = _meta(result, "early_label_signal"), _meta(result, "predictions")
        row = DayRow(
            key,
            self.champion(),
            perf.get("estimated_roc_auc"),
            drift_alerts=int(drift.get("drift_alerts", 0)),
            drifting_features=str(drift.get("drifting_features", "")),
            label_z=labels.get("early_label_z"),
            flag_rate=scored.get("flagged_share"),
            threshold=scored.get("decision_threshold"),
        )

        context = dg.build_sensor_context(
            instance=self.instance, cursor=self.cursor, definitions=self.defs, resources=self.defs.resources
        )
        evaluation = self.sensor.evaluate_tick(context)
        self.cursor = evaluation.cursor
        row.reason = evaluation.skip_message or "; ".join(
            rq.tags.get("ml_assets/reason", "") for rq in evaluation.run_requests
        )
        # the threshold the policy judged the day by (from the version's CBPE baseline)
        judged = SensorState.from_cursor(self.cursor).evidence.get(key, DayEvidence())
        row.estimate_threshold = judged.estimate_threshold
        row.bad_by = ",".join(judged.bad_signals())
        if evaluation.run_requests:
            for request in evaluation.run_requests:
                tags = {**request.tags, "dagster/sensor_name": self.sensor.name}
                if request.run_key:
                    tags["dagster/run_key"] = request.run_key
                if request.job_name == self.threshold_job.name:
                    refit = _meta(
                        self._run(self.threshold_job, run_config=request.run_config, tags=tags),
                        "decision_threshold",
                    )
                    row.sensor = "REFIT"
                    row.retrain = (
                        f"threshold {refit['previous_threshold']:.4f} -> {refit['decision_threshold']:.4f}"
                        f" ({refit.get('held', 'flag rate')})"
                        if refit.get("outcome") == "applied"
                        else f"threshold {refit.get('outcome')}"
                    )
                    continue
                run = self._run(
                    self.training_job, run_config=request.run_config, tags=tags, blocked_by="quality_floor"
                )
                decision = _meta(run, "promotion")
                promoted = decision.get("decision") == "promoted"
                outcome = "promoted" if promoted else "rejected" + ("" if decision else " (quality floor)")
                self.retrains.append((key, promoted))
                row.sensor = "FIRED"
                row.follow_up = request.tags.get("ml_assets/follow_up") == "true"
                row.bad_since = request.tags.get("ml_assets/bad_since", "")
                row.bad_until = request.tags.get("ml_assets/bad_until", "")
                row.retrain = f"v{_meta(run, 'model').get('model_version')} {outcome}"
        else:
            row.sensor = "skip"
        self.rows.append(row)
        return row

    def realize(self, index: int) -> None:
        """Realized performance of the day whose labels just became complete."""
        day = index - self.s.label_delay_max_days
        target = self.s.day(day).isoformat()
        matching = [r for r in self.rows if r.day == target]
        if not matching:
            return
        realized = _meta(self._run(self.realized_job, partition_key=target), "realized_performance")
        matching[0].realized_auc = realized.get("realized_roc_auc")
        matching[0].realized_recall = realized.get("realized_recall")
        matching[0].attainable_recall = realized.get("realized_recall_at_policy_fpr")


def _root_cause(error) -> str:
    """The innermost error of a step failure (Dagster wraps the user's exception)."""
    while error.cause is not None:
        error = error.cause
    return error.message.strip()


def _fmt(v) -> str:
    return f"{v:.3f}" if isinstance(v, float) and v == v else "  -  "


def print_table(rows: list[DayRow], log=print) -> None:
    log(
        f"{'day':<11} {'champion':>8} {'est AUC':>8} {'thresh':>8} {'label z':>8} {'real AUC':>8} "
        f"{'flagged':>8} {'recall':>8} {'best@fpr':>8} {'drift':>5}  {'bad by':<18}  sensor  retrain"
    )
    for r in rows:
        log(
            f"{r.day:<11} {'v' + r.champion:>8} {_fmt(r.estimated_auc):>8} {_fmt(r.estimate_threshold):>8} "
            f"{_fmt(r.label_z):>8} {_fmt(r.realized_auc):>8} {_fmt(r.flag_rate):>8} "
            f"{_fmt(r.realized_recall):>8} {_fmt(r.attainable_recall):>8} {r.drift_alerts:>5}  "
            f"{r.bad_by or '-':<18}  "
            f"{r.sensor:<6}  {r.retrain}"
        )


def plot(rows: list[DayRow], retrains, settings: Settings, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    df = pd.DataFrame([dataclasses.asdict(r) for r in rows])
    df["day"] = pd.to_datetime(df["day"])
    fig, ax = plt.subplots(figsize=(11, 4.5))
    ax.plot(df["day"], df["estimated_auc"], label="estimated ROC AUC (CBPE)", color="#4f6fb0")
    ax.plot(
        df["day"],
        df["realized_auc"].astype(float),
        label="realized ROC AUC",
        color="#222222",
        marker=".",
        lw=1,
    )
    ax.step(
        df["day"],
        df["estimate_threshold"].astype(float),
        where="mid",
        color="#c44",
        ls=":",
        label="CBPE threshold (from the champion's reference)",
    )
    simulated = problem_spec(settings).source.kind == "simulator"
    if simulated and settings.scenario != "stable":
        ax.axvline(
            pd.Timestamp(settings.day(settings.drift_start_day)),
            color="#999",
            ls="--",
            label=f"{settings.scenario} starts",
        )
    labelled = set()  # one legend entry per kind of line, not per line
    for day, promoted in retrains:
        kind = "retrain promoted" if promoted else "retrain rejected"
        ax.axvline(
            pd.Timestamp(day),
            color="#2a2" if promoted else "#e90",
            lw=2,
            alpha=0.7,
            label=None if kind in labelled else kind,
        )
        labelled.add(kind)
    ax.set_ylabel("ROC AUC")
    ax.set_title(f"Replay: {world_name(settings)}")
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def replay(
    s: Settings,
    days: int,
    warm_up_days: int | None = None,
    fresh: bool = True,
    log=None,
    instance: dg.DagsterInstance | None = None,
) -> list[DayRow]:
    """The loop over ``days`` simulated days on ``instance`` (default: the project's), with the
    table, the plot and the recovery scoreboard (scoreboard.py) at the end. Without ``log``, a
    person is watching: a progress bar over the days and a line per retrain instead of one per
    day (the table at the end has every day)."""
    from ml_assets.progress import DayProgress
    from ml_assets.sources import event_days, land_days

    asked, ends = days, event_days(s)
    days = min(days, ends or days)
    progress = DayProgress(days, f"[replay] {world_name(s)}") if log is None else None
    log = progress.event if progress is not None else log
    if days < asked:
        log(f"[replay] {s.problem}'s events end after {ends} days: replaying {ends}, not {asked}")
    if warm_up_days is None:
        # features filling up, then a training window whose labels have matured
        warm_up_days = (
            aggregates.warm_up_days(problem_spec(s), s) + s.training_window_days + s.label_maturity_days
        )
    warm = warm_up_days
    if days <= warm:
        raise ValueError(
            f"--days {days} must exceed the warm-up of {warm} days (feature lookback + training window)"
        )
    if fresh:
        _wipe(s)
    started = time.monotonic()
    land_days(s, range(days), overwrite=fresh)
    with contextlib.nullcontext(instance) if instance is not None else dg.DagsterInstance.get() as instance:
        r = Replay(s, instance, log)
        r.warm_up(warm, on_day=progress.advance if progress is not None else None)
        for i in range(warm, days):
            row = r.step(i)
            r.realize(i)
            if progress is None:
                log(
                    f"[replay] {row.day} est AUC {_fmt(row.estimated_auc)} "
                    f"(threshold {_fmt(row.estimate_threshold)}) label z {_fmt(row.label_z)} "
                    f"drift {row.drift_alerts:>2} "
                    f"sensor {row.sensor}{' -> ' + row.retrain if row.retrain else ''}"
                )
                continue
            progress.advance(row.day)
            if row.sensor == "FIRED":
                why = "planned follow-up" if row.follow_up else row.bad_by or "policy"
                log(f"[replay] {row.day}: retrain fired ({why}) -> {row.retrain}")
            elif row.sensor == "REFIT":
                log(f"[replay] {row.day}: operating point moved -> {row.retrain}")
        r._run(
            r.defs.resolve_implicit_global_asset_job_def().get_subset(
                asset_selection={key("monitoring_report")}
            )
        )
    if progress is not None:
        progress.close()
    print_table(r.rows, log)
    if problem_spec(s).source.kind == "simulator":  # a scenario's drift day is known: score the recovery
        drift_day = None if s.scenario == "stable" else s.day(s.drift_start_day)
        board = scoreboard.score(
            r.rows, s.scenario, drift_day, reference_days=s.retrain_realized_baseline_days
        )
        log(scoreboard.table([board]))
        scoreboard.save(board, s.reports_dir)
    png = s.reports_dir / f"replay_{world_name(s)}.png"
    plot(r.rows, r.retrains, s, png)
    # every day's row with the sensor's reason: why a response came, or did not, read afterwards
    days_json = s.reports_dir / f"replay_{world_name(s)}_days.json"
    days_json.write_text(json.dumps([dataclasses.asdict(row) for row in r.rows], indent=1) + "\n")
    log(f"[replay] {days} days in {time.monotonic() - started:.0f}s; plot: {png}; reports: {s.reports_dir}")
    return r.rows


def scoreboard_instance(home: Path) -> dg.DagsterInstance:
    """A scenario's own instance, with Dagster's telemetry off as in the project's dagster.yaml
    (a bare local_temp instance has it on: it logged usage under its folder and printed the
    banner)."""
    home.mkdir(parents=True, exist_ok=True)
    return dg.DagsterInstance.local_temp(tempdir=str(home), overrides={"telemetry": {"enabled": False}})


def scoreboard_all(s: Settings, days: int, log=None) -> list[scoreboard.Scoreboard]:
    """The three scenarios replayed at ``s``'s size, each in its own data folder and Dagster
    instance under ``data/scoreboard/`` (the project's data and runs are left alone); the
    table and the plots go to BENCHMARKS.md and docs/scoreboard/."""
    boards = []
    for scenario in ("stable", "seasonal", "fraud_shift"):
        root = s.data_dir / "scoreboard" / scenario
        settings = s.model_copy(update={"scenario": scenario, "data_dir": root / "data"})
        with scoreboard_instance(root / "dagster") as instance:
            replay(settings, days, log=log, instance=instance)
        boards.append(scoreboard.load(settings.reports_dir / f"scoreboard_{scenario}.json"))
        docs = PROJECT_ROOT / "docs" / "scoreboard"
        docs.mkdir(parents=True, exist_ok=True)
        shutil.copy(settings.reports_dir / f"replay_{scenario}.png", docs / f"replay_{scenario}.png")
    return boards
