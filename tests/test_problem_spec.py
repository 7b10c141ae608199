"""The problem spec (issue 26, its first part): the typed model, its JSON schema, card fraud
declared as a spec and kept equal to the code that runs it, and every bad-spec case of the
issue refused with the file, the field and the fix, before anything runs."""

import copy
import json
import sys

import pytest
import yaml

from ml_assets.core.ingest import TABLES
from ml_assets.core.problem.expressions import names_in
from ml_assets.core.problem.spec import ProblemSpec, ProblemSpecError, load_spec
from ml_assets.core.settings import PROJECT_ROOT

FRAUD = PROJECT_ROOT / "problems" / "card_fraud" / "problem.yaml"


@pytest.fixture(scope="module")
def feature_specs():
    sys.path.insert(0, str(PROJECT_ROOT / "feature_repo"))
    try:
        import feature_specs

        yield feature_specs
    finally:
        sys.path.remove(str(PROJECT_ROOT / "feature_repo"))


def test_card_fraud_as_a_spec_names_what_the_code_runs(feature_specs):
    spec = load_spec(FRAUD)
    # the landing tables are read from the spec (core/ingest.py): the simulator's files and the
    # ingest checks (tests/test_ingest.py) hold them to it
    assert set(spec.tables) == set(TABLES)
    assert {n: e.key for n, e in spec.entities.items()} == feature_specs.ENTITIES
    # the feature views, view by view, and the request-time features
    # in the same order: the feature service's order is the training frame's column order
    views = [(v.name, v.entity, v.feature_names()) for v in spec.feature_views()]
    assert views == [(v.name, v.entity, list(v.features)) for v in feature_specs.FEATURE_VIEWS]
    assert list(spec.request_features) == list(feature_specs.ON_DEMAND_FEATURES)
    assert spec.feature_names() == feature_specs.model_features()
    assert spec.model.categorical == feature_specs.CATEGORICAL_FEATURES
    assert set(spec.spine.request_columns) <= set(feature_specs.REQUEST_FIELDS)


def test_the_committed_json_schema_is_the_model_s():
    from ml_assets.core.problem import SCHEMA_PATH

    committed = json.loads(SCHEMA_PATH.read_text())
    assert committed == ProblemSpec.model_json_schema(), "run: .venv/bin/ml-assets problem-schema"


def _fraud() -> dict:
    return yaml.safe_load(FRAUD.read_text())


def _break(change) -> dict:
    raw = copy.deepcopy(_fraud())
    change(raw)
    return raw


def _aggregate(raw: dict, view: str, name: str) -> dict:
    (found,) = [
        a for v in raw["aggregate_views"] if v["name"] == view for a in v["features"] if a["name"] == name
    ][:1]
    return found


BAD = {
    "unknown table": (
        lambda r: r["attribute_views"][0].update(table="customer_snapshot"),
        "attribute_views[0] (customer_profile)",
        "'customer_snapshot' is not a table",
    ),
    "unknown column": (
        lambda r: _aggregate(r, "customer_activity", "amount_sum").update(column="amt"),
        "aggregate_views[0] (customer_activity).features[1] (amount_sum).column",
        "'amt' is not a column of 'raw_transactions'",
    ),
    "wrong type": (
        lambda r: r["tables"]["raw_transactions"]["columns"].update(amount="decimal"),
        "tables.raw_transactions.columns.amount",
        "Input should be 'int', 'float', 'str', 'bool', 'timestamp' or 'date'",
    ),
    "timestamp column not a timestamp": (
        lambda r: r["tables"]["raw_transactions"]["columns"].update(event_timestamp="str"),
        "tables.raw_transactions.timestamp",
        "declare it timestamp",
    ),
    "window of 0": (
        lambda r: _aggregate(r, "customer_activity", "txn_count").update(windows=[0, 7]),
        "aggregate_views.0.features.0.aggregate.windows.0",
        "greater than 0",
    ),
    "a second event table in one view": (
        lambda r: _aggregate(r, "customer_activity", "txn_count").update(source="customer_snapshots"),
        "aggregate_views[0] (customer_activity).features[0] (txn_count).source",
        "aggregate 'customer_snapshots' in a view of its own",
    ),
    "a view with no aggregate of its own source": (
        lambda r: r["aggregate_views"][1].update(
            features=[a for a in r["aggregate_views"][1]["features"] if a.get("source") == "label_arrivals"]
        ),
        "aggregate_views[1] (merchant_risk).features",
        "no aggregate of the view's own source 'raw_transactions'",
    ),
    "duplicate feature names": (
        lambda r: r["request_features"].update(txn_count_1d="amount * 2"),
        "features",
        "'txn_count_1d' is declared more than once",
    ),
    "entity key missing from the spine": (
        lambda r: r["entities"].update(customer={"key": "card_id"}),
        "spine.entities",
        "'customer''s key 'card_id' is not a column of 'raw_transactions'",
    ),
    "a view of an entity the spine does not name": (
        lambda r: r["spine"].update(entities=["customer"]),
        "attribute_views[1] (merchant_profile).entity",
        "'merchant' is not one of the spine's entities ['customer']",
    ),
    "request column the spine lacks": (
        lambda r: r["spine"]["request_columns"].append("device"),
        "spine.request_columns",
        "'device' is not a column of the spine table",
    ),
    "label-derived feature at event time": (
        lambda r: _aggregate(r, "merchant_risk", "merchant_chargebacks").update(time="event"),
        "aggregate_views[1] (merchant_risk).features[1] (merchant_chargebacks).time",
        "reads labels before they arrived (a leak); set time: arrival",
    ),
    "label delay longer than its maximum": (
        lambda r: r["label"].update(arrival=None, delay_days=30),
        "label.delay_days",
        "30 is over max_delay_days (21)",
    ),
    "label table without the event's timestamp": (
        lambda r: r["label"].pop("event_time"),
        "label.event_time",
        "name the column of 'label_arrivals' holding the labelled event's timestamp",
    ),
    "an age that is not a feature": (
        lambda r: r["monitoring"]["ages"].append("card_age_days"),
        "monitoring.ages[2]",
        "'card_age_days' is not one of the problem's features",
    ),
    "expression reads an unknown name": (
        lambda r: r["request_features"].update(log_amount="log1p(amount_eur)"),
        "request_features.log_amount",
        "'amount_eur' is not something this expression can read",
    ),
    "expression is code": (
        lambda r: r["request_features"].update(log_amount="__import__('os').system('true')"),
        "request_features.log_amount",
        "calls a function outside",
    ),
    "a setting that does not exist": (
        lambda r: r.update(settings={"training_days": 28}),
        "settings.training_days",
        "not a setting a problem sets",
    ),
    "a setting of the wrong type": (
        lambda r: r.update(settings={"horizon_days": "half a year"}),
        "settings.horizon_days",
        "Input should be a valid integer",
    ),
    "a text feature without its levels": (
        lambda r: r["model"].update(categorical={}),
        "model.categorical",
        "'merchant_category' is text: list its levels here",
    ),
    "a number listed as categorical": (
        lambda r: r["model"]["categorical"].update(log_amount=["low", "high"]),
        "model.categorical.log_amount",
        "'log_amount' is a number: list text features only",
    ),
    "a threshold policy without its threshold": (
        lambda r: r["model"].update(decision={"policy": "threshold"}),
        "model.decision",
        "policy threshold needs value: the score in (0, 1)",
    ),
    "a top-k policy with a fraction": (
        lambda r: r["model"].update(decision={"policy": "top_k", "value": 0.5}),
        "model.decision",
        "policy top_k needs value: k, the events flagged a day",
    ),
    "an unknown hyperparameter": (
        lambda r: r["model"].update(hyperparameters={"max_depth": 6}),
        "model.hyperparameters",
        "unknown hyperparameter(s) ['max_depth']; known: n_estimators",
    ),
    "a hyperparameter out of its range": (
        lambda r: r["model"].update(hyperparameters={"learning_rate": -1}),
        "model.hyperparameters.learning_rate",
        "Input should be greater than 0",
    ),
    "a primary key declared nullable": (
        lambda r: r["tables"]["raw_transactions"].update(nullable=["transaction_id"]),
        "tables.raw_transactions.nullable",
        "'transaction_id' identifies or dates a row: it is never empty",
    ),
    "a nullable column that does not exist": (
        lambda r: r["tables"]["raw_transactions"].update(nullable=["device"]),
        "tables.raw_transactions.nullable",
        "'device' is not one of its columns",
    ),
    "a pattern on a number": (
        lambda r: r["tables"]["raw_transactions"]["contract"].update(amount={"pattern": "[0-9]+"}),
        "tables.raw_transactions.contract.amount",
        "'amount' is float: a pattern matches text only",
    ),
    "a pattern that is no regular expression": (
        lambda r: r["tables"]["raw_transactions"]["contract"].update(channel={"pattern": "(online"}),
        "tables.raw_transactions.contract.channel.pattern",
        "not a regular expression",
    ),
    "rows per day whose max is under its min": (
        lambda r: r["tables"]["raw_transactions"].update(rows_per_day={"min": 100, "max": 10}),
        "tables.raw_transactions.rows_per_day",
        "max is under min",
    ),
    "a bad-row share over 1%": (
        lambda r: r["tables"]["raw_transactions"].update(bad_rows=0.05),
        "tables.raw_transactions.bad_rows",
        "less than or equal to 0.01",
    ),
    "unknown field": (
        lambda r: r["model"].update(categorical_features=["merchant_category"]),
        "model.categorical_features",
        "Extra inputs are not permitted",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_spec_is_refused_naming_the_file_the_field_and_the_fix(case, tmp_path):
    change, field, message = BAD[case]
    path = tmp_path / "problem.yaml"
    path.write_text(yaml.safe_dump(_break(change), sort_keys=False))
    with pytest.raises(ProblemSpecError) as caught:
        load_spec(path)
    lines = str(caught.value).splitlines()
    assert any(line.startswith(f"{path}: {field}: ") and message in line for line in lines), lines
    assert sorted(p.name for p in tmp_path.iterdir()) == ["problem.yaml"]  # nothing written


def test_every_mistake_is_reported_at_once(tmp_path):
    def two(raw):
        raw["spine"]["request_columns"].append("device")
        raw["serving"]["hash_key"] = "card"

    path = tmp_path / "problem.yaml"
    path.write_text(yaml.safe_dump(_break(two)))
    with pytest.raises(ProblemSpecError) as caught:
        load_spec(path)
    assert "spine.request_columns" in str(caught.value) and "serving.hash_key" in str(caught.value)


def test_a_missing_or_unreadable_file_says_so(tmp_path):
    with pytest.raises(ProblemSpecError, match="no such file"):
        load_spec(tmp_path / "absent.yaml")
    (tmp_path / "bad.yaml").write_text("name: [unclosed")
    with pytest.raises(ProblemSpecError, match="not YAML"):
        load_spec(tmp_path / "bad.yaml")


def test_expressions_read_only_names_and_allowed_functions():
    assert names_in("hour(event_timestamp) < 6 or amount / (amount_avg_30d + 1) > 2") == {
        "event_timestamp",
        "amount",
        "amount_avg_30d",
    }
    for code in ("amount.real", "[amount]", "lambda: 1", "amount if channel else 0", "open('x')"):
        with pytest.raises(ValueError):
            names_in(code)


def test_ml_assets_check_prints_what_a_spec_declares_and_exits_with_its_mistakes(tmp_path, capsys):
    from ml_assets.cli import main

    main(["check", "--spec", str(FRAUD)])
    out = capsys.readouterr().out
    assert "valid problem spec 'card_fraud'" in out and "merchant_fraud_rate_30d" in out
    assert (
        "online request (POST /v1/score): transaction_id: str, customer_id: int, merchant_id: int, "
        "amount: float, channel: str, timestamp: timestamp"
    ) in out
    path = tmp_path / "problem.yaml"
    path.write_text(yaml.safe_dump(_break(lambda r: r["spine"]["request_columns"].append("device"))))
    with pytest.raises(SystemExit) as caught:
        main(["check", "--spec", str(path)])
    assert f"{path}: spine.request_columns: 'device'" in str(caught.value.code)


def test_the_problem_flag_chooses_the_problem_of_every_command(monkeypatch, capsys):
    from ml_assets.cli import main
    from ml_assets.core.settings import Settings

    # set, so the test's end restores the environment main() changes (a process runs one problem)
    monkeypatch.setenv("ML_ASSETS_PROBLEM", "card_fraud")
    main(["--problem", "loan_default", "check"])
    assert "valid problem spec 'loan_default'" in capsys.readouterr().out
    monkeypatch.setenv("ML_ASSETS_PROBLEM", "card_fraud")
    with pytest.raises(SystemExit) as caught:
        main(["--problem", "loan_default", "check"], settings=Settings())
    assert "these settings are for card_fraud" in str(caught.value.code)


def test_an_attribute_view_reads_its_snapshot_table_s_own_time_column(feature_specs):
    """A snapshot table whose time column is not event_timestamp (a user's own): its Feast
    source is stamped by that column; the compiled aggregate sources keep event_timestamp."""

    def rename(raw):
        table = raw["tables"]["customer_snapshots"]
        table["columns"] = {
            ("snapshot_at" if c == "event_timestamp" else c): t for c, t in table["columns"].items()
        }
        table["timestamp"] = "snapshot_at"

    views = {v.name: v for v in feature_specs._views(ProblemSpec.model_validate(_break(rename)))}
    assert views["customer_profile"].timestamp_field == "snapshot_at"
    assert views["merchant_profile"].timestamp_field == "event_timestamp"
    assert views["customer_activity"].timestamp_field == "event_timestamp"  # compiled: stamped so
