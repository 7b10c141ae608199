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
