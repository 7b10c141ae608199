"""Ages that grow one a day are judged as of a fixed day: a population that only grows older
does not drift, new accounts do. Real NannyML monitors, fitted as the project fits them."""

import numpy as np
import pandas as pd
import pytest

from ml_assets.core.model import TARGET
from ml_assets.core.monitoring import monitors

COLUMNS = monitors.MonitoredColumns(["account_age_days", "amount"], [], ("account_age_days",))
START = pd.Timestamp("2026-01-01", tz="UTC")


def _days(first: int, n_days: int, opened: np.ndarray, rng) -> pd.DataFrame:
    """Rows of days first..first+n_days-1: each row a random customer, its age on that day."""
    frames = []
    for d in range(first, first + n_days):
        who = rng.integers(0, opened.size, 2000)
        frames.append(
            pd.DataFrame(
                {
                    monitors.TS: START
                    + pd.Timedelta(days=d)
                    + pd.to_timedelta(rng.integers(0, 86_400, 2000), "s"),
                    "account_age_days": (d - opened[who]).astype("float64"),
                    "amount": rng.lognormal(3, 1, 2000),
                    monitors.SCORE: rng.random(2000),
                    TARGET: (rng.random(2000) < 0.05).astype(int),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _alerts(analysis: pd.DataFrame, reference: pd.DataFrame, columns=COLUMNS) -> pd.DataFrame:
    fitted = monitors.fit_monitors(reference, 0.5, columns, reference, 0.001, 0.01)
    out = monitors.run(fitted, analysis.assign(**{monitors.DECISION: 0}), which=("univariate",))
    tidy = monitors.tidy(out)
    return tidy[tidy["column_name"] == "account_age_days"]


@pytest.fixture(scope="module")
def world():
    rng = np.random.default_rng(11)
    opened = -rng.integers(30, 3000, 5000)  # 5,000 accounts opened before day 0
    return rng, opened, _days(0, 28, opened, rng)


def test_an_unchanged_population_60_days_older_does_not_drift(world):
    rng, opened, reference = world
    later = _alerts(_days(88, 7, opened, rng), reference)
    assert len(later) == 7 and not later["alert"].any(), later[["value", "upper_threshold"]]
    # the raw age would have drifted: the same days, judged without the declaration
    raw = monitors.MonitoredColumns(["account_age_days", "amount"], [])
    assert _alerts(_days(88, 7, opened, rng), reference, raw)["alert"].all()


def test_a_wave_of_new_accounts_drifts(world):
    rng, opened, reference = world
    newcomers = np.concatenate([opened, 80 + rng.integers(0, 5, 2500)])  # a third of them new
    assert _alerts(_days(88, 7, newcomers, rng), reference)["alert"].all()
