"""The recovery scoreboard, on day rows whose answer is known by construction."""

import datetime as dt

import pytest

from ml_assets.replay import DayRow
from ml_assets.scoreboard import load, save, score, table

START = dt.date(2026, 1, 1)


def _rows(realized: list[float | None], fired: dict[int, str]) -> list[DayRow]:
    rows = []
    for i, auc in enumerate(realized):
        retrain = fired.get(i, "")
        rows.append(
            DayRow(
                (START + dt.timedelta(days=i)).isoformat(),
                "1",
                None,
                auc,
                0,
                "FIRED" if retrain else "skip",
                retrain,
            )
        )
    return rows


def test_a_drop_a_late_trigger_and_a_recovery_are_scored_in_days_and_auc_lost(tmp_path):
    # 20 days at 0.94, drift on day 20 down to 0.74 for 6 days, back to 0.93 from day 26
    realized = [0.94] * 20 + [0.74] * 6 + [0.93] * 10 + [None] * 5  # the last days have no labels yet
    rows = _rows(realized, {3: "v2 rejected", 22: "v3 rejected", 24: "v4 promoted"})
    board = score(rows, "seasonal", START + dt.timedelta(days=20))
    assert board.pre_drift_auc == pytest.approx(0.94)
    assert board.detection_delay_days == 2  # the first trigger on or after the drift
    assert board.time_to_recover_days == 6  # day 26 and the two observed days after it are within 0.02
    assert board.auc_lost == pytest.approx(6 * 0.20 + 10 * 0.01)
    assert (board.retrains_fired, board.retrains_promoted, board.retrains_rejected) == (3, 1, 2)
    assert board.false_triggers == 1  # day 3, before the drift
    assert load(save(board, tmp_path)) == board
    assert "| seasonal | 2026-01-21 | 0.940 | 2 | 6 |" in table([board])


def test_no_recovery_within_the_labelled_horizon_and_no_trigger_are_none():
    realized = [0.94] * 20 + [0.74, 0.93, 0.74, 0.93] + [None] * 10  # never 3 good days in a row
    board = score(_rows(realized, {}), "fraud_shift", START + dt.timedelta(days=20))
    assert board.detection_delay_days is None and board.time_to_recover_days is None
    assert board.auc_lost == pytest.approx(0.2 * 2 + 0.01 * 2)


def test_on_the_stable_scenario_every_trigger_is_false():
    board = score(_rows([0.94] * 30, {10: "v2 rejected"}), "stable", None)
    assert (
        board.false_triggers == 1
        and board.detection_delay_days is None
        and board.time_to_recover_days is None
    )


def test_feature_alerts_count_per_feature_per_30_days_before_the_drift():
    rows = _rows([0.94] * 60, {})
    for i in (2, 9, 40):
        rows[i].drifting_features = "amount, hour"
    rows[50].drifting_features = "amount"  # after the drift: real, not counted
    board = score(rows, "seasonal", START + dt.timedelta(days=45))
    assert board.feature_alerts_per_month == pytest.approx(3 * 30 / 45)  # 'amount': 3 in 45 days
    assert score(_rows([0.94] * 30, {}), "stable", None).feature_alerts_per_month == 0


def test_the_scoreboards_instances_keep_telemetry_off(tmp_path):
    from ml_assets.replay import scoreboard_instance

    with scoreboard_instance(tmp_path / "dagster") as instance:
        assert instance.telemetry_enabled is False


def test_a_retrain_on_a_streak_whose_labels_held_the_champions_level_is_unneeded():
    # v1 at 0.94 before the drift; the drift takes it to 0.74 (a needed retrain on day 22, v3
    # promoted); v3 then holds 0.93, yet a streak of bad days triggers again on day 34 (the early
    # labels' kind of alarm): its realized ROC AUC, once known, is v3's own level: unneeded. A
    # trigger on days without labels yet (day 38) is not judged.
    realized = [0.94] * 20 + [0.74] * 4 + [0.93] * 12 + [None] * 7
    rows = _rows(realized, {3: "v2 rejected", 22: "v3 promoted", 34: "v4 rejected", 38: "v5 rejected"})
    for row in rows[24:]:
        row.champion = "3"
    for i in (32, 33, 34, 36, 37, 38):
        rows[i].bad_by = "early_labels"
    board = score(rows, "fraud_shift", START + dt.timedelta(days=20))
    assert board.retrains_fired == 4
    assert board.retrains_unneeded == 2  # day 3 (v1 at its own level) and day 34 (v3 at its own)
    assert board.false_triggers == 2  # day 3, before the drift, and day 34, unneeded after it
    assert "| 4 / 1 / 3 | 0 | 2 | 2 |" in table([board])


def test_a_planned_follow_up_is_counted_apart_and_never_unneeded():
    """A follow-up retrain of a new regime fires on no streak (the gate keeps it only if
    better): measured on fraud_shift, each follow-up raised the realized ROC AUC while the
    champion it replaced realized at its own level, which the unneeded count would have read as
    a retrain that could not help."""
    realized = [0.94] * 20 + [0.74] * 4 + [0.90] * 16
    rows = _rows(realized, {22: "v3 promoted", 30: "v4 promoted"})
    for row in rows[24:]:
        row.champion = "3"
    rows[30].follow_up = True
    board = score(rows, "fraud_shift", START + dt.timedelta(days=20))
    assert (board.retrains_fired, board.retrains_follow_up, board.retrains_unneeded) == (2, 1, 0)
    rows[30].follow_up = False  # the same retrain fired on a streak: v3 was at its own level
    rows[30].bad_by = "early_labels"
    assert score(rows, "fraud_shift", START + dt.timedelta(days=20)).retrains_unneeded == 1


@pytest.mark.parametrize(("streak_auc", "unneeded"), [(0.925, 1), (0.85, 0)])
def test_a_retrain_on_a_streak_of_complete_labels_is_judged_on_the_days_it_named(streak_auc, unneeded):
    """A realized streak fires a label delay after its days: the trigger day and the days before
    it have no complete labels yet, so only the days the sensor named (its tags) can judge it."""
    realized = [0.94] * 20 + [0.93] * 6 + [streak_auc] * 3 + [0.93] * 3 + [None] * 14
    rows = _rows(realized, {40: "v2 promoted"})
    rows[40].bad_since, rows[40].bad_until = rows[26].day, rows[28].day
    board = score(rows, "seasonal", START + dt.timedelta(days=20))
    assert board.retrains_unneeded == unneeded
    rows[40].bad_since = rows[40].bad_until = ""  # untagged: the trigger day has no labels to judge
    assert score(rows, "seasonal", START + dt.timedelta(days=20)).retrains_unneeded == 0


def test_a_retrain_on_a_real_drop_is_needed():
    realized = [0.94] * 20 + [0.80] * 10
    rows = _rows(realized, {24: "v2 promoted"})
    for i in (22, 23, 24):
        rows[i].bad_by = "cbpe"
    board = score(rows, "seasonal", START + dt.timedelta(days=20))
    assert board.retrains_unneeded == 0 and board.false_triggers == 0


def test_recall_lost_at_the_threshold_and_re_fits_are_counted():
    # ROC AUC holds at 0.94 throughout; recall at the threshold 0.50 for 20 days, 0.30 for 4 days
    # after the drift, a re-fit on day 23, back to 0.49 after; the last days have no labels yet
    rows = _rows([0.94] * 40, {})
    recall = [0.50] * 20 + [0.30] * 4 + [0.49] * 10 + [None] * 6
    for row, value in zip(rows, recall, strict=True):
        row.realized_recall = value
    rows[23].sensor, rows[23].retrain = "REFIT", "threshold 0.4100 -> 0.3300"
    board = score(rows, "fraud_shift", START + dt.timedelta(days=20))
    assert board.pre_drift_recall == pytest.approx(0.50)
    assert board.recall_lost == pytest.approx(4 * 0.20 + 10 * 0.01)
    assert board.threshold_refits == 1 and board.retrains_fired == 0 and board.auc_lost == 0
    # the re-fit's day still served 0.30; from the next day on, three days average 0.49 >= 0.45
    assert board.recall_recovery_days == (1,)
    assert "| 0 | 1 | 0.500 | 0.90 | 1 |" in table([board])
    # without recall (a replay before it was recorded), the loss is unknown, not zero
    for row in rows:
        row.realized_recall = None
    assert score(rows, "fraud_shift", START + dt.timedelta(days=20)).recall_lost is None


def test_recall_recovery_counts_days_from_each_re_fit_on_a_three_day_mean(tmp_path):
    """Day 22's re-fit: recall comes back the next day by the 3-day mean, though that day alone
    (0.40) is still low; day 30's never brings recall back within 0.05; day 38's is followed by
    two days with complete labels only: pending, not "never"; a re-fit before the drift is not
    scored."""
    rows = _rows([0.94] * 45, {})
    recall = [0.50] * 20 + [0.20] * 3 + [0.40, 0.52, 0.46, 0.47, 0.48] + [0.30] * 12 + [None] * 5
    for row, value in zip(rows, recall, strict=True):
        row.realized_recall = value
    for day in (22, 30, 38):
        rows[day].sensor, rows[day].retrain = "REFIT", "threshold"
    rows[10].sensor = "REFIT"  # before the drift: an operating point, but no recovery to score
    board = score(rows, "fraud_shift", START + dt.timedelta(days=20))
    # from day 23: (0.40 + 0.52 + 0.46) / 3 = 0.46 >= 0.45, though 0.40 alone is not
    assert board.recall_recovery_days == (1, None) and board.recall_recovery_pending == 1
    assert "| 1, never, labels pending |" in table([board])
    assert load(save(board, tmp_path)) == board  # the JSON round trip keeps the tuple


def test_a_re_fit_is_judged_only_while_its_threshold_served():
    """Day 22's re-fit serves from day 23 (0.40), then a promotion on day 24 serves the new
    version's own threshold from day 25 (0.30, then 0.49): replaced after two observed days, neither
    "never" nor the days to the next good window. Day 29's re-fit is scored at the old threshold on
    its own day (0.30) and recovers on its first served day, before the promotion of day 34: 1. Day
    31's re-fit was not applied: it ends no span, and is judged on its own to day 34: 1."""
    rows = _rows([0.94] * 45, {})
    recall = [0.50] * 20 + [0.20] * 3 + [0.40] * 2 + [0.30] * 5 + [0.49] * 10 + [None] * 5
    for row, value in zip(rows, recall, strict=True):
        row.realized_recall = value
    rows[22].sensor, rows[22].retrain = "REFIT", "threshold 0.4100 -> 0.3300 (flag rate)"
    rows[24].sensor, rows[24].retrain = "FIRED", "v3 promoted"
    rows[29].sensor, rows[29].retrain = "REFIT", "threshold 0.3000 -> 0.2500 (flag rate)"
    rows[31].sensor, rows[31].retrain = "REFIT", "threshold skipped"
    rows[34].sensor, rows[34].retrain = "FIRED", "v4 promoted"
    board = score(rows, "seasonal", START + dt.timedelta(days=20))
    # day 22's own recall (0.20, scored at the threshold it replaced) is not the re-fit's: counted,
    # it would make three observed days, judged "never"
    assert board.recall_recovery_days == (1, 1) and board.recall_recovery_replaced == 1
    assert board.recall_recovery_pending == 0
    assert "| 1, 1, replaced |" in table([board])
    # without the promotion, day 22's re-fit is judged to day 29's: never within 0.05 in it
    rows[24].retrain = "v3 rejected"
    again = score(rows, "seasonal", START + dt.timedelta(days=20))
    assert again.recall_recovery_days == (None, 1, 1) and again.recall_recovery_replaced == 0


def test_the_recall_lost_splits_into_the_rankings_share_and_the_thresholds(tmp_path):
    """After the drift the best threshold at the policy's FPR would have caught 0.36 (the version
    ranks worse at the operating point): the re-fit of day 22 brings 0.20 up to 0.34. Judged against
    the pre-drift 0.50 it never recovers; against what the ranking allowed it does the next day."""
    rows = _rows([0.94] * 40, {})
    recall = [0.50] * 20 + [0.20] * 3 + [0.34] * 7 + [None] * 10
    attainable = [0.55] * 20 + [0.36] * 10 + [None] * 10  # capped at the pre-drift 0.50 before it
    for row, served, best in zip(rows, recall, attainable, strict=True):
        row.realized_recall, row.attainable_recall = served, best
    rows[22].sensor, rows[22].retrain = "REFIT", "threshold 0.4100 -> 0.3300 (flag rate)"
    board = score(rows, "seasonal", START + dt.timedelta(days=20))
    assert board.recall_lost == pytest.approx(3 * 0.30 + 7 * 0.16)
    assert board.recall_lost_to_threshold == pytest.approx(3 * 0.16 + 7 * 0.02)
    assert board.recall_recovery_days == (None,)
    # from day 22: (0.20 + 0.34 + 0.34) / 3 < 0.31; from day 23 on, 0.34 >= 0.36 - 0.05
    assert board.recall_recovery_reachable_days == (1,)
    assert "| never | 0.62 | 1 |" in table([board])
    assert load(save(board, tmp_path)) == board
    # a day whose best threshold is above the pre-drift level asks no more than that level
    for row in rows[23:30]:
        row.attainable_recall, row.realized_recall = 0.70, 0.46
    capped = score(rows, "seasonal", START + dt.timedelta(days=20))
    assert capped.recall_lost_to_threshold == pytest.approx(3 * 0.16 + 7 * 0.04)
    # replays from before the attainable recall was recorded: unknown, not zero
    for row in rows:
        row.attainable_recall = None
    unknown = score(rows, "seasonal", START + dt.timedelta(days=20))
    assert unknown.recall_lost_to_threshold is None and unknown.recall_recovery_reachable_days == ()
