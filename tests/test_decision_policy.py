"""A problem's decision policy (spec model.decision): the threshold a version serves with,
chosen on its validation window, and the launchpad's hyperparameters from the spec."""

import numpy as np
import pytest

from ml_assets.core.model import Hyperparameters, decision_threshold
from ml_assets.core.problem import named
from ml_assets.core.problem.parts import Decision

DAYS = 14


@pytest.fixture(scope="module")
def validation():
    rng = np.random.default_rng(11)
    y = (rng.random(DAYS * 500) < 0.05).astype(int)  # 500 events a day
    p = 1 / (1 + np.exp(-(rng.normal(-3, 1, y.size) + 2.5 * y)))
    return y, p


def test_fixed_fpr_flags_at_most_that_share_of_negatives(validation):
    y, p = validation
    for rate in (0.01, 0.05):
        t = decision_threshold(Decision(policy="fixed_fpr", value=rate), y, p, DAYS, fixed_fpr=0.2)
        assert 0.5 * rate < (p[y == 0] > t).mean() <= rate
    # no value: the fixed_fpr setting
    t = decision_threshold(Decision(), y, p, DAYS, fixed_fpr=0.03)
    assert 0.015 < (p[y == 0] > t).mean() <= 0.03


def test_a_fixed_threshold_is_served_as_declared(validation):
    y, p = validation
    assert decision_threshold(Decision(policy="threshold", value=0.5), y, p, DAYS, 0.01) == 0.5
    assert not Decision(policy="threshold", value=0.5).refits and Decision().refits


def test_top_k_flags_k_events_a_day_on_the_validation_window(validation):
    y, p = validation
    t = decision_threshold(Decision(policy="top_k", value=20), y, p, DAYS, 0.01)
    assert (p > t).sum() / DAYS == pytest.approx(20, abs=0.5)
    with pytest.raises(ValueError, match="flags every event: the validation window holds 500 a day"):
        decision_threshold(Decision(policy="top_k", value=500), y, p, DAYS, 0.01)


def test_the_shipped_specs_declare_their_policies():
    assert named("loan_default").model.decision == Decision(policy="threshold", value=0.5)
    assert named("card_fraud").model.decision == Decision(policy="fixed_fpr")


def test_the_launchpad_defaults_are_the_spec_s_hyperparameters():
    from ml_assets.defs.training.assets import _HyperparametersConfig, _with_problem_defaults

    config = _with_problem_defaults(_HyperparametersConfig, {"n_estimators": 120, "learning_rate": 0.1})
    assert (config().n_estimators, config().learning_rate) == (120, 0.1)
    assert config().num_leaves == Hyperparameters().num_leaves  # unset ones keep the core's
    assert config(n_estimators=7).n_estimators == 7  # a run's config still overrides
    assert "boosting rounds" in config.model_fields["n_estimators"].description


def _delayed_labels(seed: int, days: int = 14, per_day: int = 5000):
    """A validation window whose positives are reported late: day d (0 = newest) has the share
    known[d] of its positives labelled, the rest look negative; the truth is kept."""
    rng = np.random.default_rng(seed)
    truth = (rng.random(days * per_day) < 0.02).astype(int)
    p = 1 / (1 + np.exp(-(rng.normal(-4, 1, truth.size) + 3.0 * truth)))
    age = np.repeat(np.arange(days), per_day)
    known_share = np.clip((np.arange(days) - 1) / 8, 0, 0.95)[age]  # none on the two newest days
    reported = truth & (rng.random(truth.size) < known_share)
    return truth, reported.astype(int), p, known_share


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_fixed_fpr_counts_the_positives_not_reported_yet(seed):
    """Known answer: the truth's FPR at the threshold. Chosen on the labels as reported, the
    threshold overshoots (the unreported positives fill the unlabelled rows' top); counting
    each known positive for 1/F of its day's positives, and leaving out the days with none known,
    it serves the FPR asked within sampling error (~0.0005 at 68,000 honest rows)."""
    from ml_assets.core.model import threshold_at_fpr

    truth, reported, p, known = _delayed_labels(seed)
    unreported = np.where(known > 0, np.where(reported == 1, 1 / np.maximum(known, 1e-9) - 1, 0), np.nan)
    honest = p[truth == 0]
    naive = (honest > threshold_at_fpr(reported, p, 0.01)).mean()
    counted = (honest > threshold_at_fpr(reported, p, 0.01, unreported)).mean()
    assert naive < 0.008, naive  # the bias the correction is for
    assert abs(counted - 0.01) < 0.002, (naive, counted)
    # every label in: nothing to count, the same threshold as without
    complete = np.zeros(truth.size)
    assert threshold_at_fpr(truth, p, 0.01, complete) == threshold_at_fpr(truth, p, 0.01)


def test_the_decision_threshold_of_a_training_set_counts_its_unreported_positives():
    import pandas as pd

    from ml_assets.core.model import KNOWN_SHARE, TARGET, unreported_positives

    frame = pd.DataFrame({TARGET: [1, 0, 1, 0], KNOWN_SHARE: [0.25, 0.25, 0.01, 0.0]})
    got = unreported_positives(frame, max_positive_weight=20)
    np.testing.assert_allclose(got[:3], [3.0, 0.0, 19.0])  # 1/F - 1, F floored at 1/20
    assert np.isnan(got[3])  # a day with no positive known says nothing
    assert unreported_positives(frame.drop(columns=[KNOWN_SHARE]), 20) is None  # an older set


def test_a_window_with_no_positive_known_yet_falls_back_to_the_labels_as_they_are():
    from ml_assets.core.model import threshold_at_fpr

    truth, reported, p, _ = _delayed_labels(4)
    nothing_known = np.full(truth.size, np.nan)
    assert threshold_at_fpr(reported, p, 0.01, nothing_known) == threshold_at_fpr(reported, p, 0.01)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_recall_a_ranking_allows_at_an_fpr_is_the_roc_curves(seed):
    """recall_at_fpr against scikit-learn's ROC curve: the highest true-positive rate at a
    false-positive rate no higher than asked."""
    from sklearn.metrics import roc_curve

    from ml_assets.core.model import recall_at_fpr

    rng = np.random.default_rng(seed)
    y = (rng.random(20_000) < 0.02).astype(int)
    p = rng.normal(1.5 * y, 1.0)  # continuous: no ties
    fpr, tpr, _ = roc_curve(y, p)
    for target in (0.005, 0.01, 0.05):
        expected = tpr[fpr <= target].max()
        assert recall_at_fpr(y, p, target) == pytest.approx(expected, abs=1.5 / y.sum())
    assert recall_at_fpr(np.zeros(10), np.arange(10.0), 0.01) is None
