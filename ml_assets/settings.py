"""The one place for settings: paths, sizes, thresholds and seeds.

Every value can be overridden by an environment variable named ``ML_ASSETS_<FIELD>``
(upper case), so tests and deployments never edit code. Paths default to folders of
this checkout, never to a particular machine.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from functools import cache
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclasses.dataclass(frozen=True)
class Settings:
    # --- paths -------------------------------------------------------------
    data_dir: Path = PROJECT_ROOT / "data"
    feature_repo_dir: Path = PROJECT_ROOT / "feature_repo"

    # --- simulated world -----------------------------------------------------
    seed: int = 7
    start_date: dt.date = dt.date(2026, 1, 1)
    horizon_days: int = 180  # partitions exist for start_date .. start_date + horizon_days - 1
    rows_per_day: int = 10_000
    n_customers: int = 20_000
    n_merchants: int = 2_000
    scenario: str = "stable"  # stable | seasonal | fraud_shift
    drift_start_day: int = 75  # day index (from start_date) where the scenario begins
    label_delay_max_days: int = 21

    # --- demo bootstrap (make dev) -------------------------------------------
    demo_days: int = 66  # feature lookback (30) + training window (28) + a monitored week

    # --- training / promotion -----------------------------------------------
    training_window_days: int = 28
    validation_days: int = 7
    label_maturity_days: int = 0  # gap between the training window and as_of (see training/dataset.py)
    promotion_min_auc_gain: float = 0.002
    promotion_min_pr_auc_gain: float = 0.0
    promotion_max_calibration_loss: float = 0.01
    quality_floor_auc: float = 0.75

    # --- monitoring / automation --------------------------------------------
    retrain_auc_threshold: float = 0.91  # CBPE-estimated ROC AUC; ~0.94 on stable data
    retrain_consecutive_days: int = 3
    retrain_cooldown_days: int = 7

    # derived paths ------------------------------------------------------------
    @property
    def lake_dir(self) -> Path:
        return self.data_dir / "lake"

    @property
    def landing_dir(self) -> Path:
        return self.data_dir / "landing"

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
    def end_date(self) -> dt.date:
        """Exclusive end of the partitioned calendar."""
        return self.start_date + dt.timedelta(days=self.horizon_days)

    def day(self, index: int) -> dt.date:
        return self.start_date + dt.timedelta(days=index)


def _coerce(field: dataclasses.Field, raw: str):
    kind = field.type
    if kind in ("Path", Path):
        return Path(raw).expanduser().resolve()
    if kind in ("int", int):
        return int(raw)
    if kind in ("float", float):
        return float(raw)
    if kind in ("dt.date",):
        try:
            return dt.date.fromisoformat(raw)
        except ValueError as exc:
            raise ValueError(
                f"ML_ASSETS_{field.name.upper()}={raw!r} is not a date: use YYYY-MM-DD"
            ) from exc
    return raw


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Build settings from defaults overridden by ``ML_ASSETS_*`` environment variables."""
    environ = os.environ if environ is None else environ
    overrides = {}
    for field in dataclasses.fields(Settings):
        raw = environ.get(f"ML_ASSETS_{field.name.upper()}")
        if raw is not None and raw != "":
            try:
                overrides[field.name] = _coerce(field, raw)
            except ValueError as exc:
                raise ValueError(
                    f"ML_ASSETS_{field.name.upper()}={raw!r}: {exc}. "
                    f"Set it to a valid {field.type} or unset it to use the default."
                ) from exc
    settings = Settings(**overrides)
    if settings.scenario not in ("stable", "seasonal", "fraud_shift"):
        raise ValueError(
            f"ML_ASSETS_SCENARIO={settings.scenario!r}: use one of stable, seasonal, fraud_shift"
        )
    return settings


@cache
def get_settings() -> Settings:
    """Settings of this process (cached: environment variables are read once)."""
    return load_settings()
