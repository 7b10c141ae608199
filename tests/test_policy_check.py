"""Which days a re-evaluated policy decides otherwise than a replay saved (policy_check.py; the
re-evaluation itself is checked against a whole replay in test_replay_fraud_shift.py)."""

from ml_assets.policy_check import DayDecision, differs_from_saved


def test_a_day_differs_when_its_reason_does_not_match_the_saved_one_within_a_run_tags_length():
    long = "ranking: " + "x" * 300
    decisions = [
        DayDecision("2026-03-01", "1", False, "", "no signal"),
        DayDecision("2026-03-02", "1", True, "retrain", long),
        DayDecision("2026-03-03", "1", True, "threshold", "operating point: moved"),
        DayDecision("2026-03-04", "1", False, "", "only in the re-evaluation"),
    ]
    saved = [
        {"day": "2026-03-01", "reason": "no signal"},
        {"day": "2026-03-02", "reason": long[:250]},  # a request's reason, cut to a run tag's length
        {"day": "2026-03-03", "reason": "no signal"},
    ]
    assert differs_from_saved(decisions, saved) == ["2026-03-03"]
