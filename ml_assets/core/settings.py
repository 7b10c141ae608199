"""The one place for settings: paths, sizes, seeds and every tuning number.

Each field can be overridden by an environment variable ``ML_ASSETS_<FIELD>`` (upper case);
pydantic-settings parses and validates it, and a bad value names the variable and the
expected type. ``problem`` picks the prediction problem (``problems/<problem>/problem.yaml``):
its spec's ``settings:`` mapping sits between the defaults and the environment, and its data
lives in its own folder, ``data/<problem>``. Code never reads the environment itself: the CLI
and the code location build one ``Settings`` and hand it (or resources built from it) down;
tests build their own with ``Settings(data_dir=..., rows_per_day=...)``. Paths default to folders of this
checkout, never to a particular machine.
"""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
PROBLEMS_DIR = PROJECT_ROOT / "problems"
DEFAULT_PROBLEM = "card_fraud"

Scenario = Literal["stable", "seasonal", "fraud_shift", "currency_switch"]


PER_PROBLEM_DATABASES = ("warehouse",)  # the cluster databases each problem has its own of


class Settings(BaseSettings):
    # an error names the field and the fix, never the value it was given: a value may be a secret
    model_config = SettingsConfigDict(
        env_prefix="ML_ASSETS_", frozen=True, extra="forbid", hide_input_in_errors=True
    )

    problem: str = Field(
        DEFAULT_PROBLEM,
        pattern=r"^[a-z][a-z0-9_]*$",
        description="the prediction problem: a folder under problems/ holding its problem.yaml",
    )

    # --- paths ---------------------------------------------------------------------------
    data_root: Path = Field(
        PROJECT_ROOT / "data",
        description="the folder of every problem's data folder (<data_root>/<problem>): a deployment "
        "points it at its shared volume, and each code location keeps to its own problem's folder",
    )
    data_dir: Path = Field(
        PROJECT_ROOT / "data" / DEFAULT_PROBLEM,
        description="this problem's data (default: <data_root>/<problem>)",
    )
    feature_repo_dir: Path = PROJECT_ROOT / "feature_repo"

    # --- profile: which engines hold the state (docs/cluster.md) ----------------------------
    profile: Literal["embedded", "cluster"] = Field(
        "embedded",
        description="embedded: files under data_dir (SQLite, DuckDB, a local MLflow store), no services; "
        "cluster: Postgres (Dagster, the Feast registry, MLflow, the warehouse), Redis (Feast online), "
        "an MLflow server and Celery workers on RabbitMQ",
    )
    # the psycopg2 driver is named: a bare postgresql:// makes SQLAlchemy take psycopg 3, which
    # Feast installs and Dagster's storage fails on ('syntax error at or near "$1"')
    postgres_url: str = Field(
        "postgresql+psycopg2://root@127.0.0.1:5432", description="the server; each system gets a database"
    )
    postgres_database_prefix: str = Field(
        "ml_assets", pattern=r"^[a-z_][a-z0-9_]*$", description="databases <prefix>_dagster, _feast, ..."
    )
    redis_connection: str = Field(
        "127.0.0.1:6379,db=0", description="Feast's Redis online store connection string (no TLS on loopback)"
    )
    celery_broker_url: str = "pyamqp://guest:guest@127.0.0.1:5672//"
    mlflow_server_url: str = Field(
        "http://127.0.0.1:5001", description="the MLflow tracking server (cluster)"
    )

    # --- simulated world -----------------------------------------------------------------
    seed: int = 7
    start_date: dt.date = dt.date(2026, 1, 1)
    horizon_days: int = Field(180, gt=0, description="partitions exist for start_date .. + horizon_days - 1")
    rows_per_day: int = Field(10_000, gt=0)
    n_customers: int = Field(20_000, gt=0)
    n_merchants: int = Field(2_000, gt=0)
    scenario: Scenario = "stable"
    drift_start_day: int = Field(
        75, ge=0, description="day index (from start_date) where the scenario begins"
    )
    label_delay_max_days: int = Field(21, gt=0)

    # --- ingest ----------------------------------------------------------------------------
    ingest_volume_max_ratio: float = Field(
        5.0,
        gt=1,
        description="a landing day with more than this times (or under 1/this of) the usual rows "
        "is quarantined (a re-sent period, a cut-off export)",
    )
    ingest_volume_history_days: int = Field(
        7, gt=0, description="earlier lake days the usual row count is taken from"
    )
    ingest_volume_min_rows: int = Field(
        50, ge=0, description="tables whose usual day has fewer rows are too small for the volume check"
    )

    # --- demo bootstrap (make dev) -------------------------------------------------------
    demo_days: int = Field(66, description="feature lookback (30) + training window (28) + a monitored week")

    # --- features ------------------------------------------------------------------------
    window_caps: dict[str, int] = Field(
        default_factory=dict,
        description="aggregate view -> the most days any of its windows covers (short test worlds; "
        "the features keep the spec's names): the spec's windows where a view is not named",
    )
    feature_warm_up_days: int | None = Field(
        None,
        gt=0,
        description="days of data before the first training window (features still filling up); "
        "default: the widest window of any aggregate view",
    )

    # --- training / promotion ------------------------------------------------------------
    training_window_days: int = Field(28, gt=0)
    validation_days: int = Field(7, gt=0)
    train_threads: int = Field(
        0,
        ge=0,
        description="LightGBM's threads for a fit (0: one per logical core); 1 where other "
        "processes already keep the cores busy, as in the test suite (docs/decisions/fit-threads.md)",
    )
    label_maturity_days: int = Field(0, ge=0, description="gap between the training window and as_of")
    label_lookback_days: int = Field(120, description="how far back labels are read for a training set")
    immature_label_days: int = Field(7, description="rows younger than this at as_of are counted as immature")
    max_positive_weight: float = Field(
        10.0,
        ge=1,
        description="cap of a young positive label's training weight 1/F(age) (F: share of labels arrived "
        "by that age): a day-old one stands for at most this many",
    )
    fixed_fpr: float = Field(0.01, gt=0, lt=1, description="recall and the decision threshold at this FPR")
    calibration_bins: int = Field(10, gt=1, description="quantile bins of the expected calibration error")
    promotion_min_auc_gain: float = 0.002
    promotion_min_pr_auc_gain: float = 0.0
    promotion_max_calibration_loss: float = 0.01
    quality_floor_auc: float = 0.75
    promotion_path: Literal["rollout", "direct"] = Field(
        "rollout",
        description="rollout: a challenger that wins offline waits for the scoring service to roll it out "
        "(shadow, canary steps, live verdicts); direct: it becomes champion at once (the replay, which has "
        "no live traffic, uses direct)",
    )

    # --- monitoring ----------------------------------------------------------------------
    drift_false_alarm_rate: float = Field(
        0.001,
        gt=0,
        lt=0.5,
        description="chance that a day without drift crosses a drift threshold, per monitored column: "
        "thresholds are one-sided prediction intervals of the statistic over the model version's reference "
        "days. 0.001 a day is ~0.03 false alerts per column per month, well under the one a month allowed",
    )
    drift_threshold_folds: int = Field(
        2,
        ge=2,
        description="a drift threshold is learnt from each reference day's statistic against the rest of the "
        "reference, its days held out in this many contiguous blocks. Two: the 30-day aggregates remember a "
        "month, longer than the 28-day reference, so the longest blocks (halves) are the closest a reference "
        "gets to the distance between it and a day months later (measured on the stable replay, seed 7, 64 "
        "days: the busiest column alerted 14 times with 4 blocks of a week, once with 2)",
    )
    missing_rate_slack: float = Field(
        0.02, description="a missing-value rate fails the blocking check only this far above its threshold"
    )
    label_signal_days: int = Field(
        7, gt=0, description="the early label signal pools the scored days this far back (label ages 1..N)"
    )
    label_signal_false_alarm_rate: float = Field(
        0.001,
        gt=0,
        lt=0.5,
        description="a day's early label signal alerts when fewer arrived positive labels were caught "
        "than the reference's age-matched rates make this unlikely (one-sided binomial z)",
    )
    label_signal_min_arrived: int = Field(
        20, gt=0, description="arrived positive labels the early label signal needs before it says anything"
    )
    report_drift_columns: int = Field(3, description="most drifting features plotted in a daily report")
    rolling_report_days: int = Field(30, gt=0)

    # --- automation ----------------------------------------------------------------------
    retrain_false_alarm_rate: float = Field(
        0.01,
        gt=0,
        lt=0.5,
        description="chance that a day of an unchanged model falls under its CBPE threshold (the lower "
        "prediction interval of its first retrain_baseline_days estimates). Per day, not per streak: the "
        "estimate wanders slowly, so bad days come in runs (measured: 0.05 fired on a stable week)",
    )
    retrain_min_auc_drop: float = Field(
        0.02,
        ge=0,
        description="the CBPE threshold sits at least this far under the baseline's mean: a smaller loss is "
        "not worth a retrain (the recovery tolerance of the scoreboard)",
    )
    retrain_shift_weight_share: float = Field(
        0.5,
        ge=0,
        lt=1,
        description="a retrain after a detected shift gives the days since the shift at least this share of "
        "the training weight",
    )
    retrain_holdout_share: float = Field(
        0.3,
        gt=0,
        lt=1,
        description="after a detected shift, the share of customers whose rows of the validation days are "
        "held out for validation (and the gate); the other customers' rows of those days train",
    )
    retrain_followup_days: list[int] = Field(
        [7, 14],
        description="after a retrain that answered a shift was promoted, retrain again when the new regime "
        "is this many days old (more of it to learn from, its labels older); the gate keeps the better model",
    )
    retrain_baseline_days: int = Field(
        7, ge=3, description="a model version's first monitored days: the baseline of its CBPE estimate"
    )
    warm_up_days_per_run: int = Field(
        7,
        ge=1,
        description="days of ingest and offline feature sources one run materializes in a replay's warm-up "
        "(a run per day paid Dagster's run and check events once a day: BENCHMARKS.md; more days a run "
        "would move the progress bar less often)",
    )
    retrain_realized_baseline_days: int = Field(
        14,
        ge=3,
        description="a model version's first complete days: the mean of their realized ROC AUC is its level, "
        "which a realized streak must fall under to retrain, and the level the replay's scoreboard "
        "judges a retrain against (one number, so that the policy and its judge agree)",
    )
    retrain_consecutive_days: int = Field(3, gt=0, description="bad days in a row before a retrain")
    retrain_cooldown_days: int = Field(7, ge=0, description="no retrain this long after a promoted one")
    retrain_retry_days: int = Field(
        2, ge=1, description="a rejected retrain is retried after this many days if the evidence still holds"
    )
    retrain_max_retries: int = Field(
        2, ge=0, description="rejected retrains retried in a row, before a full cooldown"
    )
    threshold_min_flag_rate_change: float = Field(
        0.2,
        gt=0,
        lt=1,
        description="the flag rate must move at least this share of the version's served flag rate (and past "
        "chance) on retrain_consecutive_days days in a row before the threshold is re-fitted",
    )
    threshold_min_scale_change: float = Field(
        0.08,
        gt=0,
        lt=1,
        description="and the median score (the bulk of honest transactions) must have moved at least this "
        "share of the version's validation median the same way: a flag rate that fell with the median in "
        "place is fraud no longer flagged (a ranking loss), not a moved scale",
    )
    threshold_recall_min_arrived: int = Field(
        200,
        gt=0,
        description="arrived positive labels a re-fit needs to hold recall on them (fewer: an early label "
        "streak on a ranking that held retrains, a moved scale re-fits to the flag rate). 200 puts the "
        "recall's standard error near 0.035",
    )
    threshold_max_flag_rate_ratio: float = Field(
        2.0,
        ge=1,
        description="a re-fit that holds recall on arrived labels flags at most this multiple of the "
        "version's validation-window flag rate (the alert budget): past it, fewer frauds are caught, not "
        "more flagged",
    )
    threshold_young_flag_rate_ratio: float = Field(
        2.0,
        ge=1,
        description="a young version (first served within the features' lookback of the regime its retrain "
        "answered) whose flag rate moved is re-fitted to flag this multiple of its validation-window rate, "
        "at most the alert budget, and back to that rate (or what holds recall on the arrived labels, if "
        "that flags more) once the regime is older than the lookback: it learnt on half-filled windows and "
        "ranks worse at the operating point meanwhile, so recall is bought with alerts "
        "(docs/decisions/operating-point-refit.md). 1 holds the validation rate",
    )
    sensor_interval_seconds: int = Field(60, gt=0)
    sensor_history_days: int = Field(60, gt=0, description="estimates kept in the retrain sensor's cursor")
    daily_schedule_hour: int = Field(1, ge=0, le=23)
    live_automation: bool = Field(
        False,
        description="start the sensors (daily cycle on landed exports, retrain, realized performance) with "
        "the daemon instead of leaving them off until turned on in the UI (make demo sets it)",
    )

    # --- serving ---------------------------------------------------------------------------
    serve_host: str = Field("127.0.0.1", description="the service binds loopback unless told otherwise")
    serve_port: int = Field(8000, gt=0, lt=65536)
    serve_max_batch: int = Field(1000, gt=0, description="transactions one /v1/score/batch call may carry")
    serve_inline_batch_rows: int = Field(
        200,
        ge=0,
        description="batches up to this many events are scored on the event loop; larger ones on a "
        "worker thread, so /healthz and single events are not held behind them",
    )
    serve_model_threads: int = Field(
        1, ge=1, description="OpenMP threads of the service's model (one: single rows gain nothing from more)"
    )
    serve_reload_seconds: float = Field(5.0, gt=0, description="how often the service re-reads the alias")
    serve_feature_cache_rows: int = Field(
        200_000,
        ge=0,
        description="decoded online feature rows (one per entity and view) the service keeps in memory on "
        "the SQLite online store, all dropped whenever the store file changes; 0 reads every row every time",
    )
    serve_admin_tokens: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="who may move a rollout (POST /v1/rollout/*): name -> bearer token, e.g. "
        '\'{"ops": "<a long random string>"}\'; the name is recorded in the registry, the token nowhere. '
        "None: those endpoints answer 403 and say how to turn them on",
    )
    serve_score_token: SecretStr | None = Field(
        None, description="when set, scoring requires it as a bearer token (401 without)"
    )
    serve_max_body_bytes: int = Field(
        1 << 20, gt=0, description="request bodies above this get a 413 (a full batch is ~0.2 MB)"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] | None = Field(
        None,
        description="this project's log level (core/logs.py); unset: INFO for the service, WARNING for "
        "the commands that draw a progress bar",
    )
    log_json: bool = Field(False, description="one JSON object per log line instead of text")
    prediction_log_capacity: int = Field(100_000, gt=0, description="online predictions queued for the log")
    prediction_log_batch_rows: int = Field(5_000, gt=0, description="rows written to the log per transaction")
    prediction_log_flush_seconds: float = Field(
        5.0,
        gt=0,
        description="longest wait before a write (each write opens the warehouse: ~60 ms of CPU, so fewer, "
        "bigger writes leave more of the core to requests)",
    )

    # --- rollout (the scoring service's controller; docs/rollout.md) ------------------------
    rollout_steps: tuple[float, ...] = Field(
        (0.0, 0.05, 0.25, 0.5),
        description="challenger's share of customers at each step (0 = shadow only); passing the last "
        "step promotes it to 100%",
    )
    rollout_shadow_share: float = Field(
        1.0,
        ge=0,
        le=1,
        description="share of requests the other arm also scores, unseen by the client (one extra predict): "
        "the paired comparison is made on these",
    )
    rollout_salt: str = Field("ml-assets", description="salt of the customer hash that picks the canary")
    rollout_min_samples: int = Field(
        100, ge=10, description="paired requests a step needs before any verdict (fewer: hold, never pass)"
    )
    rollout_min_step_seconds: float = Field(
        60.0, ge=0, description="a step also lasts at least this long before it may pass (a fail is at once)"
    )
    rollout_shared: bool = Field(
        False,
        description="several service replicas serve one rollout: each writes its paired evidence to a "
        "shared table, the holder of a lease judges it (core/rollout/shared.py); needed with more than "
        "one replica",
    )
    rollout_progress_deadline_seconds: float = Field(
        600.0,
        gt=0,
        description="a step without a verdict this long (too few paired requests) ends the rollout as "
        "inconclusive: the challenger stops serving, tagged so, not as worse (Argo Rollouts' default)",
    )
    rollout_failure_limit: int = Field(
        0,
        ge=0,
        description="failing looks tolerated in a row before the rollout aborts (Argo's failureLimit)",
    )
    rollout_min_rank_correlation: float = Field(
        0.5,
        description="Spearman correlation of the two arms' scores on the same requests, at least: two models "
        "of the same target rank the same transactions alike; a broken one does not",
    )
    rollout_max_score_ks: float = Field(
        0.3, gt=0, le=1, description="KS distance between the arms' score distributions on the same requests"
    )
    rollout_max_decision_rate_diff: float = Field(
        0.05, gt=0, le=1, description="flag-rate difference between the arms on the same requests, absolute"
    )
    rollout_decision_rate_z: float = Field(
        3.0,
        gt=0,
        description="...and that gap must be clear on the paired decisions: McNemar's z (requests flagged by "
        "one arm only, one way against the other) at least this",
    )
    rollout_max_error_rate: float = Field(0.01, ge=0, le=1, description="challenger predictions that raised")
    rollout_max_latency_ratio: float = Field(
        3.0,
        gt=1,
        description="challenger's predict time over the champion's, at p99 (beyond the slack below) and at "
        "the median both: a slow model is slow in the middle too, a pause is not",
    )
    rollout_latency_slack_seconds: float = Field(
        0.002, ge=0, description="p99 difference always tolerated (timer noise on a busy machine)"
    )
    rollout_max_auc_loss: float = Field(
        0.02,
        ge=0,
        description="realized ROC AUC the challenger may lose against the champion on the same labelled "
        "online transactions, once their labels are complete (rollouts that last that long)",
    )
    rollout_min_labelled_positives: int = Field(
        20, ge=1, description="confirmed frauds among those transactions before realized quality may judge"
    )
    rollout_realized_check_seconds: float = Field(
        300.0, gt=0, description="how often the service re-reads the log and the labels for realized quality"
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, ProblemSettings(settings_cls, (init_settings, env_settings)))

    @field_validator("postgres_url")
    @classmethod
    def _no_password(cls, url: str) -> str:
        from sqlalchemy.engine import make_url

        if make_url(url).password is not None:
            raise ValueError(
                "holds a password: URLs reach Dagster's resource config (shown in its UI) and logs; "
                "drop it from the URL and give it to libpq as PGPASSWORD (or ~/.pgpass), which every "
                "client here reads"
            )
        return url

    @field_validator("rollout_steps")
    @classmethod
    def _steps(cls, steps: tuple[float, ...]) -> tuple[float, ...]:
        if not steps or any(not 0 <= a < 1 for a in steps) or list(steps) != sorted(steps):
            raise ValueError("must be increasing shares in [0, 1), e.g. [0, 0.05, 0.25, 0.5]")
        return steps

    @field_validator("data_root", "data_dir", "feature_repo_dir")
    @classmethod
    def _absolute(cls, path: Path) -> Path:
        # Feast, MLflow and DuckDB resolve relative paths against each process's cwd
        return Path(path).expanduser().resolve()

    def environment(self) -> dict[str, str]:
        """These settings as ML_ASSETS_* variables, for a child process (lists as JSON, as
        pydantic-settings reads them)."""
        import json

        out = {}
        # secrets travel to a child process in full (a child's environment is no log); dumped as
        # JSON they would read "**********"
        dumped = self.model_dump(mode="json") | {
            "serve_admin_tokens": {k: v.get_secret_value() for k, v in self.serve_admin_tokens.items()},
            "serve_score_token": self.serve_score_token.get_secret_value()
            if self.serve_score_token
            else None,
        }
        for name, value in dumped.items():
            if value is not None:
                out[f"ML_ASSETS_{name.upper()}"] = (
                    json.dumps(value) if isinstance(value, list | dict) else str(value)
                )
        return out

    # --- derived paths -------------------------------------------------------------------
    @property
    def lake_dir(self) -> Path:
        return self.data_dir / "lake"

    @property
    def landing_dir(self) -> Path:
        return self.data_dir / "landing"

    @property
    def quarantine_dir(self) -> Path:
        return self.data_dir / "quarantine"

    @property
    def feast_dir(self) -> Path:
        return self.data_dir / "feast"

    @property
    def warehouse_path(self) -> Path:
        return self.data_dir / "warehouse.duckdb"

    @property
    def mlflow_dir(self) -> Path:
        return self.data_dir / "mlflow"

    @property
    def reports_dir(self) -> Path:
        return self.data_dir / "reports"

    @property
    def training_sets_dir(self) -> Path:
        return self.data_dir / "training_sets"

    @property
    def monitors_cache_dir(self) -> Path:
        return self.data_dir / "monitors"

    @property
    def end_date(self) -> dt.date:
        """Exclusive end of the partitioned calendar."""
        return self.start_date + dt.timedelta(days=self.horizon_days)

    def database_name(self, system: str) -> str:
        """The Postgres database of one system (dagster, feast, mlflow, warehouse) in the cluster
        profile. Problems share Dagster's instance, Feast's registry (a project each) and MLflow's
        server (a registered model each); each problem but the default has a warehouse of its own,
        as each has a DuckDB file of its own embedded."""
        if system in PER_PROBLEM_DATABASES and self.problem != DEFAULT_PROBLEM:
            return f"{self.postgres_database_prefix}_{self.problem}_{system}"
        return f"{self.postgres_database_prefix}_{system}"

    def database_url(self, system: str) -> str:
        return f"{self.postgres_url}/{self.database_name(system)}"

    def day(self, index: int) -> dt.date:
        return self.start_date + dt.timedelta(days=index)

    def day_index(self, day: dt.date) -> int:
        return (day - self.start_date).days


class ProblemSettings(PydanticBaseSettingsSource):
    """The chosen problem's defaults, under the environment and the constructor's arguments: its
    data folder ``data/<problem>`` and its spec's ``settings:`` mapping (read as plain YAML here,
    since the spec's model is a layer above these settings; ``ml-assets check`` validates it)."""

    def __init__(self, settings_cls: type[BaseSettings], above: tuple[PydanticBaseSettingsSource, ...]):
        super().__init__(settings_cls)
        self.above = above

    def get_field_value(self, field, field_name: str):  # unused: __call__ reads the file whole
        return None, field_name, False

    def __call__(self) -> dict:
        above = [source() for source in self.above]  # each source read once (Settings() is frequent)
        problem = next((values["problem"] for values in above if "problem" in values), DEFAULT_PROBLEM)
        path = PROBLEMS_DIR / str(problem) / "problem.yaml"
        declared = _declared_settings(str(path), path.stat().st_mtime_ns) if path.exists() else {}
        root = next((values["data_root"] for values in above if "data_root" in values), None)
        return {"data_dir": Path(root or PROJECT_ROOT / "data") / str(problem), **declared}


@functools.lru_cache(maxsize=16)
def _declared_settings(path: str, mtime_ns: int) -> dict:
    """A spec file's ``settings:`` mapping, parsed once per version of the file (a whole spec is
    ~20 ms of YAML, and every Settings() reads it)."""
    import yaml

    declared = (yaml.safe_load(Path(path).read_text()) or {}).get("settings") or {}
    return dict(declared) if isinstance(declared, dict) else {}
