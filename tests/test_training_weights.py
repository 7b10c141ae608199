"""Training weights: the delayed-feedback correction of young rows and the shift share."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from ml_assets.core.model import TARGET
from ml_assets.core.training.dataset import training_weights

AS_OF = dt.date(2026, 3, 31)


def _frame(days_old: list[int], fraud: list[int]) -> pd.DataFrame:
    ts = [pd.Timestamp(AS_OF - dt.timedelta(days=a), tz="UTC") + pd.Timedelta(hours=12) for a in days_old]
    return pd.DataFrame({"event_timestamp": ts, TARGET: fraud})


def test_young_rows_without_a_chargeback_weigh_what_is_known_of_them():
    cdf = np.array([0.0, 0.2, 0.5, 0.8, 1.0])  # chargebacks arrive within 4 days
    frame = _frame([1, 2, 3, 10, 2], [0, 0, 0, 0, 1])
    weight = training_weights(frame, AS_OF, cdf, None, 0.5)
    # honest-looking rows weigh F(age); old rows and arrived chargebacks weigh 1
    assert weight.tolist() == pytest.approx([0.2, 0.5, 0.8, 1.0, 1.0])


def test_after_a_shift_the_new_days_carry_the_requested_share():
    cdf = np.ones(5)
    frame = _frame(list(range(30, 0, -1)), [0] * 30)  # 30 days, the last 3 after the shift
    weight = training_weights(frame, AS_OF, cdf, AS_OF - dt.timedelta(days=3), 0.5)
    after = weight[-3:].sum() / weight.sum()
    assert after == pytest.approx(0.5)
    # already above the share: left alone; no shift: no reweighting
    assert training_weights(frame, AS_OF, cdf, AS_OF - dt.timedelta(days=20), 0.5).tolist() == [1.0] * 30
    assert training_weights(frame, AS_OF, cdf, None, 0.5).tolist() == [1.0] * 30
