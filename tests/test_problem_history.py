"""The historical import (core/problem/history.py): one table replayed as daily landing files,
each row on its day without its label, the label landing its delay later; on loan_default's
shipped data (NannyML's car loans) through the same ingest checks card fraud's files pass, and
on generated tables for the edge cases."""

import datetime as dt

import pandas as pd
import pytest
import yaml

from ml_assets.core import lake
from ml_assets.core.ingest import VolumeRule, ingest_partition, tables_of
from ml_assets.core.problem import PROBLEMS_DIR
from ml_assets.core.problem.history import land_history, read_history
from ml_assets.core.problem.spec import ProblemSpecError, load_spec

LOANS = PROBLEMS_DIR / "loan_default"
VOLUME = VolumeRule(max_ratio=5.0, history_days=7, min_rows=50)


@pytest.fixture(scope="module")
def loans():
    spec = load_spec(LOANS / "problem.yaml")
    return spec, read_history(spec, LOANS)


def test_each_loan_lands_on_its_day_without_its_answer_and_the_answer_28_days_later(loans, tmp_path):
    spec, history = loans
    raw = pd.read_parquet(LOANS / "car_loan.parquet")
    assert len(history.events) == len(history.labels) == len(raw) == 100_000
    assert "repaid" not in history.events.columns
    assert (history.labels["known_at"] - history.labels["applied_at"] == pd.Timedelta(days=28)).all()
    assert history.first_day == dt.date(2018, 1, 1)
    assert history.last_day == dt.date(2019, 8, 29) + dt.timedelta(days=28)

    days = land_history(spec, history, tmp_path / "landing", range(0, 35))
    per_day = pd.to_datetime(raw["timestamp"]).dt.date.value_counts()
    for day in days:
        landed = lake.read_partition(tmp_path / "landing", "loans", day)
        assert len(landed) == per_day.get(day, 0), day
        outcomes = lake.read_partition(tmp_path / "landing", "loan_outcomes", day)
        answered = outcomes["applied_at"].dt.date.unique()
        # nothing is known for the first 28 days; then day d answers the loans of d - 28, all of them
        if day < history.first_day + dt.timedelta(days=28):
            assert outcomes.empty, day
        else:
            assert list(answered) == [day - dt.timedelta(days=28)], day
            assert len(outcomes) == per_day[day - dt.timedelta(days=28)]


def test_imported_days_pass_the_ingest_checks_card_fraud_passes(loans, tmp_path):
    """The second problem's landing files go through the same ingest, its tables from its spec."""
    spec, history = loans
    tables = tables_of(spec)
    days = land_history(spec, history, tmp_path / "landing", range(20, 32))
    for day in days:
        for table in tables.values():
            out = ingest_partition(
                table, day, tmp_path / "landing", tmp_path / "lake", tmp_path / "quarantine", VOLUME
            )
            assert not out.quarantined, (table.name, day, [c.message for c in out.checks if not c.passed])
    assert len(lake.existing_partitions(tmp_path / "lake", "loans")) == len(days)


def _spec_with(tmp_path, rows: pd.DataFrame, delay: int = 2, **changes) -> tuple:
    """A copy of loan_default's spec over ``rows`` (written as the source file)."""
    raw = yaml.safe_load((LOANS / "problem.yaml").read_text())
    raw["source"].update(path=str(tmp_path / "rows.parquet"), label_delay_days=delay)
    for change in changes.values():
        change(raw)
    path = tmp_path / "problem.yaml"
    path.write_text(yaml.safe_dump(raw))
    rows.to_parquet(tmp_path / "rows.parquet", index=False)
    return load_spec(path)


def _rows(days: list[int]) -> pd.DataFrame:
    raw = pd.read_parquet(LOANS / "car_loan.parquet").head(len(days))
    start = pd.Timestamp("2018-01-01")
    return raw.assign(timestamp=[start + pd.Timedelta(days=d, hours=9) for d in days])


def test_a_day_without_rows_lands_empty_and_landing_again_replaces(tmp_path):
    spec = _spec_with(tmp_path, _rows([0, 0, 2, 2, 2, 5]))
    history = read_history(spec, tmp_path)
    landing = tmp_path / "landing"
    land_history(spec, history, landing)
    land_history(spec, history, landing, range(0, 3))  # again: replaced, not appended
    counts = [
        len(lake.read_partition(landing, "loans", history.first_day + dt.timedelta(days=i))) for i in range(6)
    ]
    assert counts == [2, 0, 3, 0, 0, 1]
    empty = lake.read_partition(landing, "loans", history.first_day + dt.timedelta(days=1))
    assert list(empty.columns) == list(spec.tables["loans"].columns)
    arrived = [
        len(lake.read_partition(landing, "loan_outcomes", d)) for d in land_history(spec, history, landing)
    ]
    assert arrived == [0, 0, 2, 0, 3, 0, 0, 1]  # two days after each row


def test_a_file_missing_a_declared_column_is_refused_naming_it(tmp_path):
    spec = _spec_with(tmp_path, _rows([0, 1, 2, 3]).drop(columns="driver_tenure"))
    with pytest.raises(
        ProblemSpecError, match=r"source.path: rows.parquet has no column \['driver_tenure'\]"
    ):
        read_history(spec, tmp_path)


def test_a_label_delay_longer_than_the_data_is_refused(tmp_path):
    spec = _spec_with(tmp_path, _rows([0, 1, 2]), delay=3)
    with pytest.raises(ProblemSpecError, match="source.label_delay_days: 3 days is longer than the data"):
        read_history(spec, tmp_path)


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (
            lambda r: r["tables"]["loan_outcomes"]["columns"].update(note="str"),
            "tables.loan_outcomes.columns",
            "remove ['note']",
        ),
        (
            lambda r: r["source"].update(label_delay_days=40),
            "source.label_delay_days",
            "40 is over label.max_delay_days",
        ),
    ],
)
def test_an_import_spec_that_cannot_run_is_refused_before_anything_lands(tmp_path, change, field, message):
    with pytest.raises(ProblemSpecError) as caught:
        _spec_with(tmp_path, _rows([0, 1, 2, 3]), bad=change)
    assert any(f"{field}: " in line and message in line for line in str(caught.value).splitlines()), (
        caught.value
    )
    assert not (tmp_path / "landing").exists()


def test_a_label_not_known_yet_is_a_negative_only_where_the_problem_says_so(loans):
    """Card fraud's chargebacks list frauds only: a transaction without one trains as honest.
    An imported problem lands every answer: a loan whose answer has not arrived leaves the
    training set, and a known 'not repaid' is a negative."""
    from ml_assets.core.labels import LabelTable
    from ml_assets.core.model import TARGET
    from ml_assets.core.problem import card_fraud
    from ml_assets.core.training.dataset import attach_labels

    spec, history = loans
    table = LabelTable.of(spec)
    as_of = pd.Timestamp(history.first_day + dt.timedelta(days=40), tz="UTC")
    known = history.labels[history.labels["known_at"] < as_of]
    rows = history.events[history.events["timestamp"] < as_of]
    trained = attach_labels(rows, known, table)
    answered = rows["id"].isin(known["id"])
    assert 0 < answered.sum() < len(rows)
    assert len(trained) == answered.sum()  # the last 28 days' loans wait for their answer
    expected = known.set_index("id").loc[trained["id"], "repaid"].astype("int8").to_numpy()
    assert (trained[TARGET].to_numpy() == expected).all() and 0 < expected.mean() < 1

    fraud = LabelTable.of(card_fraud())
    chargebacks = pd.DataFrame(
        {
            "transaction_id": ["t1"],
            "transaction_timestamp": [as_of],
            "is_fraud": [True],
            "arrived_at": [as_of],
        }
    )
    tx = pd.DataFrame({"transaction_id": ["t0", "t1", "t2"]})
    assert attach_labels(tx, chargebacks, fraud)[TARGET].tolist() == [0, 1, 0]


def test_a_replay_of_an_import_ends_with_its_last_event_day():
    """After the last application only outcomes land, and an export without an event is refused
    by the volume check: the replay stops on the last event day (found in the full replay)."""
    from ml_assets.core.settings import Settings
    from ml_assets.sources import event_days

    loans = Settings(problem="loan_default")
    raw = pd.read_parquet(LOANS / "car_loan.parquet")
    last = pd.to_datetime(raw["timestamp"]).max().date()
    assert event_days(loans) == (last - loans.start_date).days + 1 == 606
    assert event_days(Settings()) is None  # the simulator never ends
