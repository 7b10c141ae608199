"""The decision threshold as a registry event (core/registry/operating_point.py), on a real
MLflow registry (SQLite, temp dir) and a real DuckDB prediction log."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from ml_assets.core.model_store import ModelStore
from ml_assets.core.records import RecallHold
from ml_assets.core.registry import operating_point as op
from ml_assets.core.warehouse import PREDICTION_LOG, Warehouse


@pytest.fixture
def store(tmp_path):
    """A registered model with two versions; v1 is champion at its trained threshold 0.5."""
    store = ModelStore.local(tmp_path / "mlflow")
    client = store.client()
    client.create_registered_model(store.model_name)
    for _ in range(2):
        version = client.create_model_version(store.model_name, source=str(tmp_path / "artifact")).version
        store.tag_version(version, {op.THRESHOLD_TAG: 0.5})
    store.set_alias("champion", "1")
    return store


def _world(rng, n, scale=1.0):
    """Scores of a fixed-quality model: 1% fraud scoring higher than the legitimate; ``scale``
    moves every score the same monotone way (s ** scale), which keeps their order."""
    fraud = rng.random(n) < 0.01
    score = np.where(fraud, rng.beta(5, 2, n), rng.beta(2, 8, n))
    return score**scale, fraud


def _rates(score, fraud, threshold):
    flagged = score > threshold
    return flagged.mean(), flagged[fraud].mean()


def test_a_re_fit_restores_flag_rate_and_recall_when_the_scale_moves_and_the_ranking_holds(store):
    rng = np.random.default_rng(5)
    score, fraud = _world(rng, 200_000)
    trained = float(np.quantile(score[~fraud], 0.99))  # the threshold at 1% FPR
    store.tag_version("1", {op.THRESHOLD_TAG: trained})
    served_rate, served_recall = _rates(score, fraud, trained)
    moved, moved_fraud = _world(rng, 30_000, scale=1.8)  # three days of the moved scale
    low_rate, low_recall = _rates(moved, moved_fraud, trained)
    assert low_rate < 0.7 * served_rate and low_recall < served_recall - 0.1  # the loss is real
    event = op.refit(store, "1", moved, served_rate, "2026-03-01..2026-03-03", "test")
    assert event.threshold < trained and event.flag_rate_before == pytest.approx(low_rate)
    later, later_fraud = _world(rng, 100_000, scale=1.8)  # days after the re-fit
    rate, recall = _rates(later, later_fraud, op.current_threshold(store, "1"))
    assert abs(rate - served_rate) < 0.1 * served_rate
    assert recall >= served_recall - 0.05, (recall, served_recall)


def test_a_recall_hold_sets_its_threshold_within_the_alert_budget_and_is_recorded(store):
    """Given the threshold that holds recall on arrived labels, the re-fit serves it while it
    flags at most max_flag_rate_ratio times the target; past that, the budget's threshold."""
    scores = np.linspace(0, 1, 10_001)  # the window's scores: a flag rate is 1 - threshold
    hold = RecallHold(threshold=0.985, arrived=120, expected=60.0, caught=40)
    event = op.refit(store, "1", scores, 0.01, "w1", "recall", hold=hold, max_flag_rate_ratio=2.0)
    assert (
        event.threshold == 0.985
        and not event.capped
        and event.flag_rate_after == pytest.approx(0.015, abs=1e-3)
    )
    assert (event.target_recall, event.positives_arrived) == (0.5, 120)
    assert op.history(store, "1")[-1] == event and op.current_threshold(store, "1") == 0.985
    greedy = RecallHold(threshold=0.90, arrived=120, expected=60.0, caught=40)  # would flag 10%
    capped = op.refit(store, "1", scores, 0.01, "w2", "recall", hold=greedy, max_flag_rate_ratio=2.0)
    assert capped.capped and capped.threshold == pytest.approx(0.98, abs=1e-3)
    assert capped.flag_rate_after == pytest.approx(0.02, abs=1e-3)
    # the flag rate the served threshold was chosen for is now the re-fit's, until it is undone
    tags = store.client().get_model_version(store.model_name, "1").tags
    assert op.reference_flag_rate(tags, 0.01) == pytest.approx(0.02, abs=1e-3)
    op.rollback(store, "1")
    op.rollback(store, "1")
    tags = store.client().get_model_version(store.model_name, "1").tags
    assert op.reference_flag_rate(tags, 0.01) == 0.01
    # the budget is a multiple of the validation window's rate (tagged), never of a re-fit's
    store.tag_version("1", {"reference_flag_rate": 0.005})
    tight = op.refit(store, "1", scores, 0.02, "w3", "recall", hold=greedy, max_flag_rate_ratio=2.0)
    assert tight.capped and tight.flag_rate_after == pytest.approx(0.01, abs=1e-3)


def test_a_young_versions_budget_is_a_multiple_of_its_validation_rate_and_back_is_that_rate(store):
    """A young version's re-fit flags ``validation_multiple`` times its validation window's rate
    (never past the alert budget, never of a re-fit's rate), and the re-fit back flags that rate;
    a recall hold that asks for more flags still gets it."""
    scores = np.linspace(0, 1, 10_001)  # the window's scores: a flag rate is 1 - threshold
    store.tag_version("1", {"reference_flag_rate": 0.01})
    young = op.refit(store, "1", scores, 0.005, "w1", "young", validation_multiple=2.0)
    assert young.flag_rate_after == pytest.approx(0.02, abs=1e-3) and young.target_flag_rate == 0.02
    again = op.refit(
        store, "1", scores, 0.02, "w2", "young", validation_multiple=3.0, max_flag_rate_ratio=2.0
    )
    assert again.flag_rate_after == pytest.approx(0.02, abs=1e-3)  # the budget caps it
    back = op.refit(store, "1", scores, 0.02, "w3", "back", validation_multiple=1.0)
    assert (
        back.flag_rate_after == pytest.approx(0.01, abs=1e-3)
        and op.current_threshold(store, "1") == back.threshold
    )
    wider = RecallHold(threshold=0.985, arrived=300, expected=150.0, caught=100)  # flags 1.5%
    held = op.refit(store, "1", scores, 0.01, "w4", "back", hold=wider, validation_multiple=1.0)
    assert held.flag_rate_after == pytest.approx(0.015, abs=1e-3) and not held.capped
    narrower = RecallHold(threshold=0.995, arrived=300, expected=150.0, caught=100)  # flags 0.5%
    budget = op.refit(store, "1", scores, 0.01, "w5", "young", hold=narrower, validation_multiple=2.0)
    assert budget.flag_rate_after == pytest.approx(0.02, abs=1e-3)


def test_a_moved_scale_is_measured_from_the_scores_the_served_threshold_was_chosen_on(store):
    """After a re-fit, the median score of its window is the reference a later move of the scale is
    measured from; a rollback hands it back to the re-fit before, then to the validation window."""

    def served_median() -> float | None:
        tags = store.client().get_model_version(store.model_name, "1").tags
        return op.reference_median(tags, 0.30)  # 0.30: the validation window's median at training

    assert served_median() == 0.30
    op.refit(store, "1", np.linspace(0.0, 0.2, 101), 0.02, "w1", "first")
    assert served_median() == pytest.approx(0.10)
    op.refit(store, "1", np.linspace(0.0, 0.4, 101), 0.02, "w2", "second")
    assert served_median() == pytest.approx(0.20)
    op.rollback(store, "1")
    assert served_median() == pytest.approx(0.10)
    op.rollback(store, "1")
    assert served_median() == 0.30


def test_rollback_undoes_re_fits_newest_first_and_says_when_there_is_nothing_left(store):
    scores = np.linspace(0, 1, 10_001)
    first = op.refit(store, "1", scores, 0.02, "w1", "first")
    second = op.refit(store, "1", scores, 0.04, "w2", "second")
    assert (first.previous, second.previous) == (0.5, first.threshold)
    assert op.current_threshold(store, "1") == second.threshold
    assert op.rollback(store, "1").threshold == first.threshold
    assert op.rollback(store, "1").threshold == 0.5
    with pytest.raises(RuntimeError, match="no threshold re-fit to roll back"):
        op.rollback(store, "1")
    assert op.current_threshold(store, "1") == 0.5
    assert [e.kind for e in op.history(store, "1")] == ["refit", "refit", "rollback", "rollback"]
    assert op.current_threshold(store, "2") == 0.5  # another version is untouched


def test_a_bad_target_or_an_empty_window_is_refused_and_nothing_moves(store):
    for target in (0.0, 1.0, -0.1):
        with pytest.raises(ValueError, match="target_flag_rate must be in"):
            op.refit(store, "1", np.linspace(0, 1, 100), target, "w", "bad")
    with pytest.raises(ValueError, match="score the window's days first"):
        op.refit(store, "1", np.array([]), 0.01, "w", "empty")
    assert op.current_threshold(store, "1") == 0.5 and op.history(store, "1") == []


def _log(tmp_path, rows):
    warehouse = Warehouse(tmp_path / "warehouse.duckdb")
    warehouse.append(PREDICTION_LOG, pd.DataFrame(rows))
    return warehouse


def test_the_champion_is_re_fitted_on_its_own_batch_scores_of_the_window(store, tmp_path):
    day = dt.date(2026, 3, 1)
    rows = [
        {"model_version": v, "source": s, "partition_date": d, "score": x}
        for v, s, d, x in [
            ("1", "batch", day, 0.1),
            ("1", "batch", day + dt.timedelta(days=1), 0.3),
            ("1", "online", day, 0.99),  # online rows are not the batch log's days
            ("2", "batch", day, 0.98),  # another version's scale
            ("1", "batch", day + dt.timedelta(days=2), 0.97),  # outside the window
        ]
    ]
    warehouse = _log(tmp_path, rows)
    assert sorted(op.window_scores(warehouse, "1", day, day + dt.timedelta(days=1))) == [0.1, 0.3]
    request = op.RefitRequest("1", day, day + dt.timedelta(days=1), 0.5, "test")
    event = op.refit_champion(store, warehouse, request)
    assert event.rows == 2 and 0.1 <= event.threshold <= 0.3
    # a retrain promoted since the diagnosis: the re-fit is skipped, and says why
    store.set_alias("champion", "2")
    skipped = op.refit_champion(store, warehouse, request)
    assert isinstance(skipped, str) and "the champion is now v2" in skipped
    assert op.current_threshold(store, "2") == 0.5
