"""Data contracts (issue 28): each column's declared valid values, enforced the same way at
ingest (pandera, core/contracts.py: a blocking check per rule group) and by the service's
request model (serving/events.py: a 422 naming the field); a refused day goes to quarantine with
a machine-readable report, and a table may let a bounded share of bad rows go instead."""

import datetime as dt
import json

import pandas as pd
import pydantic
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ml_assets.core import contracts, lake
from ml_assets.core.contract_scan import is_clean
from ml_assets.core.ingest import DROPPED_FILE, REASON_FILE, VolumeRule, ingest_partition, tables_of, validate
from ml_assets.core.problem import PROBLEMS_DIR, named
from ml_assets.core.problem.spec import ProblemSpec
from ml_assets.serving.events import event_model, example, request_body

DAY = dt.date(2018, 3, 5)


@pytest.fixture(scope="module")
def loans() -> pd.DataFrame:
    """One day of loan applications as they land (the shipped import's rows, without the answer)."""
    raw = pd.read_parquet(PROBLEMS_DIR / "loan_default" / "car_loan.parquet")
    raw["timestamp"] = pd.to_datetime(raw["timestamp"]).dt.tz_localize("UTC")
    day = raw[raw["timestamp"].dt.date == DAY].drop(columns=["repaid"])
    return day.reset_index(drop=True)


def _card_transactions() -> pd.DataFrame:
    stamps = pd.to_datetime([f"{DAY} 0{h}:00" for h in range(4)], utc=True)
    return pd.DataFrame(
        {
            "transaction_id": [f"t-{i}" for i in range(4)],
            "customer_id": [1, 2, 3, 4],
            "merchant_id": [5, 6, 7, 8],
            "amount": [12.5, 80.0, 3.2, 410.0],
            "channel": ["online", "in_store", "online", "online"],
            "merchant_category": ["grocery", "travel", "grocery", "electronics"],
            "event_timestamp": stamps,
        }
    )


def _failed(outcomes) -> dict[str, str]:
    return {o.name: o.message for o in outcomes if not o.passed}


def _validated(frame: pd.DataFrame, table, day: dt.date, lake_dir=None):
    """The day's verdicts as ingest gives them (the one-pass scan first, pandera where the scan
    cannot call the day clean), held to pandera's own verdicts on the same day."""
    import pyarrow as pa

    by_pandera = validate(frame, table, day, lake_dir)
    try:
        arrow = pa.Table.from_pandas(frame, preserve_index=False)
    except pa.ArrowException:  # mixed values in a column: no Parquet file holds them
        return by_pandera
    out = validate(frame, table, day, lake_dir, arrow)
    assert _failed(out) == _failed(by_pandera)
    # the scan calls a day clean exactly when pandera finds nothing (the lake lookup aside)
    in_file = contracts.check_day(frame, table.contract, day, table.label)
    assert is_clean(arrow, table.contract, day, table.label) == (not any(in_file.values()))
    return out


# (problem, column, a value its contract refuses, the rule group that refuses it offline)
BREAKS = [
    ("loan_default", "car_value", 0.0, "values_in_contract"),
    ("loan_default", "car_value", -2500.0, "values_in_contract"),
    ("loan_default", "debt_to_income_ratio", 1.4, "values_in_contract"),
    ("loan_default", "loan_length", 0.0, "values_in_contract"),
    ("loan_default", "driver_tenure", -0.5, "values_in_contract"),
    ("loan_default", "salary_range", None, "null_values"),
    ("loan_default", "car_value", None, "null_values"),
    ("card_fraud", "amount", -5e12, "values_in_contract"),
    ("card_fraud", "amount", 2e9, "values_in_contract"),
    ("card_fraud", "channel", "web", "values_in_contract"),
    ("card_fraud", "channel", None, "null_values"),
]


@pytest.mark.parametrize(("problem", "column", "value", "group"), BREAKS)
def test_every_rule_refuses_the_same_value_offline_and_online(loans, problem, column, value, group):
    spec = named(problem)
    table = tables_of(spec)[spec.spine.table]
    frame = loans.copy() if problem == "loan_default" else _card_transactions()
    good = frame.iloc[0]
    assert _failed(_validated(frame, table, DAY)) == {}  # the untouched day passes
    body = request_body(good, spec) if problem == "loan_default" else example(spec)
    event_model(spec).model_validate(body)  # and so does its event online

    frame[column] = frame[column].astype("object")
    frame.loc[0, column] = value
    if spec.tables[spec.spine.table].columns[column] == "float":
        frame[column] = frame[column].astype("float64")  # an empty number lands as NaN
    failed = _failed(_validated(frame, table, DAY))
    assert list(failed) == [group], failed  # offline: that rule group alone, naming the column
    assert f"column '{column}'" in failed[group]
    with pytest.raises(pydantic.ValidationError) as refused:  # online: a 422 naming the field
        event_model(spec).model_validate(body | {column: value})
    assert {e["loc"][0] for e in refused.value.errors()} == {column}


def _with_table(problem: str, change) -> ProblemSpec:
    raw = yaml.safe_load((PROBLEMS_DIR / problem / "problem.yaml").read_text())
    change(raw["tables"][raw["spine"]["table"]])
    return ProblemSpec.model_validate(raw)


def test_a_pattern_is_one_rule_offline_and_online(loans):
    spec = _with_table("loan_default", lambda t: t["contract"].update(salary_range={"pattern": r"[0-9]+.*€"}))
    table = tables_of(spec)["loans"]
    assert _failed(_validated(loans, table, DAY)) == {}
    frame = loans.copy()
    frame.loc[3, "salary_range"] = "about 30K"
    failed = _failed(_validated(frame, table, DAY))
    assert list(failed) == ["values_in_contract"] and "'about 30K' in row 3" in failed["values_in_contract"]
    body = request_body(loans.iloc[0], spec)
    event_model(spec).model_validate(body)
    with pytest.raises(pydantic.ValidationError, match="salary_range"):
        event_model(spec).model_validate(body | {"salary_range": "about 30K"})


def test_a_label_file_with_an_empty_answer_is_refused_naming_the_column_not_a_raw_error():
    """Issue 28's first finding: a null is_fraud passed every check, then normalize() raised
    'cannot convert float NaN to bool'."""
    table = tables_of(named("card_fraud"))["label_arrivals"]
    labels = pd.DataFrame(
        {
            "transaction_id": ["t-1", "t-2"],
            "transaction_timestamp": pd.to_datetime([f"{DAY} 01:00"] * 2, utc=True) - pd.Timedelta(days=3),
            "is_fraud": pd.Series([True, None], dtype="object"),
            "arrived_at": pd.to_datetime([f"{DAY} 09:00"] * 2, utc=True),
        }
    )
    failed = _failed(_validated(labels, table, DAY))
    assert "schema" in failed and "'is_fraud'" in failed["schema"]  # an object column, not bool
    labels["is_fraud"] = labels["is_fraud"].astype("boolean")
    failed = _failed(_validated(labels, table, DAY))
    assert list(failed) == ["null_values"] and "'is_fraud' has 1 null values" in failed["null_values"]


def test_text_that_is_not_text_is_a_schema_failure():
    """Issue 28's second finding: a float in merchant_category passed as `str` (an object column)."""
    table = tables_of(named("card_fraud"))["raw_transactions"]
    frame = _card_transactions().astype({"merchant_category": "object"})
    frame.loc[1, "merchant_category"] = 4.5
    failed = _failed(_validated(frame, table, DAY))
    assert "'merchant_category' has values that are not text" in failed["schema"]
    assert all(m == "not checked: fix the schema first" for k, m in failed.items() if k != "schema")


def _land(tmp_path, frame: pd.DataFrame):
    lake.write_partition(frame, tmp_path / "landing", "loans", DAY)
    return (tmp_path / "landing", tmp_path / "lake", tmp_path / "quarantine", VolumeRule(10.0, 7, 100))


def test_a_refused_day_leaves_a_machine_readable_report_and_the_lake_keeps_its_copy(loans, tmp_path):
    table = tables_of(named("loan_default"))["loans"]
    dirs = _land(tmp_path, loans)
    assert not ingest_partition(table, DAY, *dirs).quarantined
    bad = loans.copy()
    bad.loc[[2, 7], "debt_to_income_ratio"] = 3.0
    dirs = _land(tmp_path, bad)
    out = ingest_partition(table, DAY, *dirs)
    assert out.quarantined
    report = json.loads((out.path.parent / REASON_FILE).read_text())
    (rule,) = report["rules"]
    assert (rule["check"], rule["column"], rule["rows"]) == ("values_in_contract", "debt_to_income_ratio", 2)
    assert rule["rule"] == "less_than_or_equal_to(1.0)"
    assert [e["debt_to_income_ratio"] for e in rule["examples"]] == ["3.0", "3.0"]
    assert report["table"] == "loans" and report["dropped_rows"] == 0
    kept = lake.read_partition(tmp_path / "lake", "loans", DAY)  # the last good copy, untouched
    assert list(kept["id"]) == list(loans["id"]) and (kept["debt_to_income_ratio"] <= 1).all()


def test_a_bounded_share_of_bad_rows_goes_to_quarantine_and_the_rest_lands(loans, tmp_path):
    spec = _with_table("loan_default", lambda t: t.update(bad_rows=0.01))
    table = tables_of(spec)["loans"]
    one_bad = loans.copy()
    one_bad.loc[5, "car_value"] = -1.0  # 1 of ~160 rows: under 1%
    out = ingest_partition(table, DAY, *_land(tmp_path, one_bad))
    assert not out.quarantined and out.rows == len(loans) - 1
    landed = lake.read_partition(tmp_path / "lake", "loans", DAY)
    assert len(landed) == len(loans) - 1 and one_bad.loc[5, "id"] not in set(landed["id"])
    folder = lake.partition_path(tmp_path / "quarantine", "loans", DAY).parent
    dropped = pd.read_parquet(folder / DROPPED_FILE)
    assert list(dropped["id"]) == [one_bad.loc[5, "id"]]
    assert json.loads((folder / REASON_FILE).read_text())["dropped_rows"] == 1
    values = next(c for c in out.checks if c.name == "values_in_contract")
    assert values.passed and "1 of" in values.message and "dropped into quarantine" in values.message
    # over the share: the whole day is refused, as by default
    many_bad = loans.copy()
    many_bad.loc[:4, "car_value"] = -1.0
    assert ingest_partition(table, DAY, *_land(tmp_path, many_bad)).quarantined


def test_declared_rows_per_day_bound_a_day(loans, tmp_path):
    spec = _with_table("loan_default", lambda t: t.update(rows_per_day={"min": 200}))
    out = ingest_partition(tables_of(spec)["loans"], DAY, *_land(tmp_path, loans))
    failed = _failed(out.checks)
    assert out.quarantined and list(failed) == ["row_volume"]
    assert f"has {len(loans)} rows, outside tables.loans.rows_per_day [200, no limit]" in failed["row_volume"]


def test_a_label_must_follow_its_event_within_its_delay_and_name_an_event_that_landed(tmp_path):
    table = tables_of(named("card_fraud"))["label_arrivals"]
    events = _card_transactions()  # t-0..t-3, landed on DAY
    lake.write_partition(events, tmp_path, "raw_transactions", DAY)
    arrived = pd.Timestamp(f"{DAY + dt.timedelta(days=5)} 09:00", tz="UTC")

    def labels(ids, event_times):
        return pd.DataFrame(
            {
                "transaction_id": ids,
                "transaction_timestamp": pd.to_datetime(event_times, utc=True),
                "is_fraud": [True] * len(ids),
                "arrived_at": [arrived] * len(ids),
            }
        )

    day = arrived.date()
    good = labels(["t-1", "t-2"], [f"{DAY} 01:00", f"{DAY} 02:00"])
    assert _failed(_validated(good, table, day, tmp_path)) == {}
    assert _failed(_validated(good.iloc[:0], table, day, tmp_path)) == {}  # a day with no labels
    # an event of a day the lake does not hold is not judged (an import's first labels)
    older = labels(["t-99"], [f"{DAY - dt.timedelta(days=2)} 01:00"])
    assert _failed(_validated(older, table, day, tmp_path)) == {}
    cases = {
        "names an event of raw_transactions": labels(["t-1", "t-77"], [f"{DAY} 01:00"] * 2),
        "arrives after its event, within 21 days": labels(
            ["t-1", "t-2"], [f"{DAY} 01:00", f"{day + dt.timedelta(days=1)} 01:00"]
        ),
    }
    for rule, frame in cases.items():
        failed = _failed(_validated(frame, table, day, tmp_path))
        assert list(failed) == ["labels_match_events"] and rule in failed["labels_match_events"], failed
        assert "1 labels" in failed["labels_match_events"]
    late = labels(["t-1"], [f"{DAY} 01:00"]).assign(arrived_at=arrived + pd.Timedelta(days=30))
    failed = _failed(_validated(late, table, late["arrived_at"].dt.date[0], tmp_path))
    assert failed["labels_match_events"].count("break") == 1  # one rule, said once
    # delays count in days: on the 21st day after its event's day, at any hour, a label is in time
    in_time = labels(["t-0"], [f"{DAY} 03:29"]).assign(
        arrived_at=pd.Timestamp(f"{DAY + dt.timedelta(days=21)} 20:26", tz="UTC")
    )
    assert _failed(_validated(in_time, table, DAY + dt.timedelta(days=21), tmp_path)) == {}
    one_day_late = in_time.assign(arrived_at=in_time["arrived_at"] + pd.Timedelta(days=1))
    assert _failed(_validated(one_day_late, table, DAY + dt.timedelta(days=22), tmp_path))


def test_rows_dropped_for_their_contract_are_counted_per_monitoring_chunk(loans, tmp_path):
    from ml_assets.core.monitoring.contract import contract_rows
    from ml_assets.core.settings import Settings

    settings = Settings(problem="loan_default", data_dir=tmp_path)
    spec = _with_table("loan_default", lambda t: t.update(bad_rows=0.01))
    table = tables_of(spec)["loans"]
    dirs = (settings.landing_dir, settings.lake_dir, settings.quarantine_dir, VolumeRule(10.0, 7, 100))
    one_bad = loans.copy()
    one_bad.loc[5, "car_value"] = -1.0
    lake.write_partition(one_bad, settings.landing_dir, "loans", DAY)
    assert not ingest_partition(table, DAY, *dirs).quarantined
    later = DAY + dt.timedelta(days=3)
    for day, chunk, expected in ((DAY, 1, 1.0), (later, 7, 1.0), (later, 1, 0.0)):
        rows = contract_rows(settings, day, chunk, "1").set_index("column_name")
        assert rows.loc["car_value", "value"] == expected and rows.loc["car_value", "alert"] == (expected > 0)
        assert rows.drop(index="car_value")["value"].sum() == 0


# a rule of the loans table, a value breaking it, and the check that must name it
VIOLATIONS = [
    ("car_value", -1.0, "values_in_contract"),
    ("car_value", float("inf"), "values_in_contract"),
    ("car_value", None, "null_values"),
    ("debt_to_income_ratio", 1.01, "values_in_contract"),
    ("loan_length", 0.0, "values_in_contract"),
    ("driver_tenure", -3.0, "values_in_contract"),
    ("salary_range", None, "null_values"),
    ("size_of_downpayment", None, "null_values"),
    ("timestamp", pd.Timestamp(f"{DAY + dt.timedelta(days=1)} 00:00", tz="UTC"), "timestamps_in_partition"),
    ("id", "duplicate", "unique_ids"),
]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.tuples(st.sampled_from(range(len(VIOLATIONS))), st.integers(min_value=1, max_value=150)),
        min_size=1,
        max_size=4,
    )
)
def test_random_violations_end_in_quarantine_naming_their_rules_never_in_the_lake(loans, tmp_path, broken):
    table = tables_of(named("loan_default"))["loans"]
    frame = loans.copy()
    written = {}  # (row, column) -> the check its last write breaks (a later one overwrites it)
    for which, row in broken:
        column, value, check = VIOLATIONS[which]
        if value == "duplicate":
            frame.loc[row, "id"] = frame.loc[0, "id"]
        else:
            frame[column] = frame[column].astype("object")
            frame.loc[row, column] = value
        written[row, column] = check
    expected = set(written.values())
    for column, kind in table.columns.items():
        if kind == "float":
            frame[column] = frame[column].astype("float64")
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    day_dir = tmp_path / f"case-{abs(hash(tuple(broken)))}"
    out = ingest_partition(table, DAY, *_land(day_dir, frame))  # never a raw exception
    failed = _failed(out.checks)
    assert out.quarantined and expected <= set(failed), (broken, failed)
    assert not lake.partition_path(day_dir / "lake", "loans", DAY).exists()
    report = json.loads((out.path.parent / REASON_FILE).read_text())
    assert expected <= {r["check"] for r in report["rules"]}


def test_an_empty_day_gets_a_verdict_and_the_day_after_a_refused_one_still_lands(tmp_path):
    raw = pd.read_parquet(PROBLEMS_DIR / "loan_default" / "car_loan.parquet").drop(columns=["repaid"])
    raw["timestamp"] = pd.to_datetime(raw["timestamp"]).dt.tz_localize("UTC")
    table = tables_of(named("loan_default"))["loans"]
    dirs = (tmp_path / "landing", tmp_path / "lake", tmp_path / "quarantine", VolumeRule(10.0, 7, 100))

    def day_of(i: int) -> pd.DataFrame:
        day = DAY + dt.timedelta(days=i)
        return raw[raw["timestamp"].dt.date == day].reset_index(drop=True)

    for i in range(3):  # the usual volume
        lake.write_partition(day_of(i), dirs[0], "loans", DAY + dt.timedelta(days=i))
        assert not ingest_partition(table, DAY + dt.timedelta(days=i), *dirs).quarantined
    empty_day = DAY + dt.timedelta(days=3)
    lake.write_partition(day_of(3).iloc[:0], dirs[0], "loans", empty_day)
    out = ingest_partition(table, empty_day, *dirs)
    assert out.quarantined and list(_failed(out.checks)) == ["row_volume"]
    assert "has 0 rows" in _failed(out.checks)["row_volume"]
    next_day = DAY + dt.timedelta(days=4)
    lake.write_partition(day_of(4), dirs[0], "loans", next_day)
    assert not ingest_partition(table, next_day, *dirs).quarantined
    assert len(lake.read_partition(dirs[1], "loans", next_day)) == len(day_of(4))


def test_a_pattern_on_a_text_id_is_one_rule_offline_and_online():
    spec = _with_table("card_fraud", lambda t: t["contract"].update(transaction_id={"pattern": r"t-[0-9]+"}))
    table = tables_of(spec)["raw_transactions"]
    frame = _card_transactions()
    assert _failed(_validated(frame, table, DAY)) == {}
    frame.loc[2, "transaction_id"] = "tx_2"
    failed = _failed(_validated(frame, table, DAY))
    assert (
        list(failed) == ["values_in_contract"] and "column 'transaction_id'" in failed["values_in_contract"]
    )
    event_model(spec).model_validate(example(spec) | {"transaction_id": "t-42"})
    with pytest.raises(pydantic.ValidationError) as refused:  # the service's own id shape allows it
        event_model(spec).model_validate(example(spec) | {"transaction_id": "tx_2"})
    assert [e["loc"][0] for e in refused.value.errors()] == ["transaction_id"]
    assert "contract's pattern" in str(refused.value)
