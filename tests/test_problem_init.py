"""``ml-assets init`` (issue 26): a spec drafted from a table it never saw, its placeholders
refused by ``check`` until filled, then valid; and the mistakes a user can make on the way."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import yaml

from ml_assets.core.problem import scaffold
from ml_assets.core.problem.spec import ProblemSpecError, load_spec


def _table(tmp_path, suffix=".parquet"):
    rng = np.random.default_rng(3)
    n = 500
    frame = pd.DataFrame(
        {
            "loan_id": [f"L{i:05d}" for i in range(n)],
            "applied_at": pd.Timestamp("2025-01-01", tz="UTC")
            + pd.to_timedelta(rng.integers(0, 86400 * 90, n), "s"),
            "borrower_id": rng.integers(0, 200, n),
            "amount": rng.lognormal(8, 1, n),
            "term_months": rng.choice([12, 24, 36], n),
            "region": rng.choice(["north", "south", "east"], n),
            "has_guarantor": rng.random(n) < 0.3,
            "defaulted": rng.random(n) < 0.1,
        }
    )
    path = tmp_path / f"loans{suffix}"
    if suffix == ".csv":
        frame.assign(applied_at=frame["applied_at"].map(dt.datetime.isoformat)).to_csv(path, index=False)
    else:
        frame.to_parquet(path)
    return path


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_a_drafted_spec_is_refused_until_its_placeholders_are_filled_then_valid(tmp_path, suffix):
    source = _table(tmp_path, suffix)
    spec = scaffold.draft("loans", source, "loan_id", "applied_at", "defaulted")
    path = scaffold.write_draft(spec, tmp_path / "problems" / "loans" / "problem.yaml")
    raw = yaml.safe_load(path.read_text())
    assert raw["tables"]["loans"]["columns"] == {
        "loan_id": "str",
        "applied_at": "timestamp",
        "borrower_id": "int",
        "amount": "float",
        "term_months": "int",
        "region": "str",
        "has_guarantor": "bool",
    }
    # the label leaves the rows: the import lands it in a table of its own, once it is known
    assert raw["tables"]["loans_labels"]["columns"] == {
        "loan_id": "str",
        "applied_at": "timestamp",
        "defaulted": "bool",
        "known_at": "timestamp",
    }
    assert raw["source"] == {
        "kind": "historical_import",
        "path": str(source.resolve()),
        "label_delay_days": raw["source"]["label_delay_days"],
    }
    assert raw["entities"]["subject"]["key"] == "borrower_id"  # a *_id column, proposed
    assert raw["model"]["categorical"] == {"region": ["east", "north", "south"]}  # the levels it holds
    assert raw["settings"]["start_date"] == "2025-01-01"  # the calendar starts on the file's first day
    assert "defaulted" not in raw["request_features"] and "borrower_id" not in raw["request_features"]
    with pytest.raises(ProblemSpecError) as caught:
        load_spec(path)
    left = str(caught.value).splitlines()
    assert {line.split(": ")[1] for line in left} == {
        "description",
        "source.label_delay_days",
        "label.max_delay_days",
        # known once the label delay is
        "settings.horizon_days",
        "settings.label_delay_max_days",
        "settings.label_maturity_days",
        "settings.demo_days",
    }
    assert all(line.startswith(f"{path}: ") and "placeholder" in line for line in left)
    raw["description"] = "Loans that default, known 30 days after the application."
    raw["source"].update(label_delay_days=30)
    raw["label"].update(max_delay_days=30)
    raw["settings"].update(horizon_days=120, label_delay_max_days=30, label_maturity_days=30, demo_days=66)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    loaded = load_spec(path)
    assert loaded.feature_names() == ["amount", "term_months", "region", "has_guarantor"]


def test_the_label_delay_given_fills_the_label_and_a_row_feature_reading_the_label_is_refused(tmp_path):
    spec = scaffold.draft(
        "loans", _table(tmp_path), "loan_id", "applied_at", "defaulted", label_delay_days=30
    )
    spec["description"] = "Loans."
    path = scaffold.write_draft(spec, tmp_path / "p" / "problem.yaml")
    assert load_spec(path).source.label_delay_days == 30
    spec["request_features"]["leak"] = "defaulted"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    with pytest.raises(ProblemSpecError, match="request_features.leak: 'defaulted' is not something"):
        load_spec(path)


def test_init_never_overwrites_a_spec_and_names_a_wrong_column_or_file(tmp_path):
    source = _table(tmp_path)
    spec = scaffold.draft("loans", source, "loan_id", "applied_at", "defaulted")
    path = scaffold.write_draft(spec, tmp_path / "problem.yaml")
    before = path.read_text()
    with pytest.raises(ProblemSpecError, match="already there"):
        scaffold.write_draft(spec, path)
    assert path.read_text() == before
    with pytest.raises(ProblemSpecError, match="--label 'default' is not a column"):
        scaffold.draft("loans", source, "loan_id", "applied_at", "default")
    with pytest.raises(ProblemSpecError, match="--timestamp 'amount' holds float"):
        scaffold.draft("loans", source, "loan_id", "amount", "defaulted")
    with pytest.raises(ProblemSpecError, match="no such file"):
        scaffold.draft("loans", tmp_path / "absent.parquet", "loan_id", "applied_at", "defaulted")
    (tmp_path / "loans.xlsx").write_bytes(b"")
    with pytest.raises(ProblemSpecError, match="Parquet"):
        scaffold.draft("loans", tmp_path / "loans.xlsx", "loan_id", "applied_at", "defaulted")


def test_init_then_check_bootstrap_and_serve_a_table_it_never_saw_editing_only_the_placeholders(tmp_path):
    """The walk-through of the README's "Bring your own problem", in a copy of the project (init
    writes into problems/ and workspace.yaml), on the real components."""
    import json
    import os
    import shutil
    import subprocess
    import sys

    from ml_assets.core.settings import PROJECT_ROOT

    project = tmp_path / "project"
    for name in ("ml_assets", "feature_repo", "problems"):
        shutil.copytree(PROJECT_ROOT / name, project / name, ignore=shutil.ignore_patterns("*.parquet"))
    for name in ("workspace.yaml", "dagster.yaml", "pyproject.toml"):
        shutil.copy(PROJECT_ROOT / name, project / name)
    # the README's table (examples/loans_table.py)
    subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "examples" / "loans_table.py"), str(tmp_path / "loans.parquet")],
        check=True,
        timeout=120,
    )
    (tmp_path / "dagster").mkdir()
    (tmp_path / "dagster" / "dagster.yaml").symlink_to(project / "dagster.yaml")
    env = {
        **os.environ,
        "PYTHONPATH": str(project),
        "DAGSTER_HOME": str(tmp_path / "dagster"),
        "ML_ASSETS_DAGSTER_DIR": str(tmp_path / "dagster" / "storage"),
    }
    env.pop("ML_ASSETS_PROBLEM", None)
    env.pop("ML_ASSETS_DATA_DIR", None)

    def cli(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "ml_assets.cli", *args],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return done.stdout

    out = cli(
        "init",
        "loans",
        "--from",
        str(tmp_path / "loans.parquet"),
        "--id",
        "loan_id",
        "--timestamp",
        "applied_at",
        "--label",
        "defaulted",
        "--label-delay-days",
        "7",
    )
    assert "added its code location" in out and "description" in out  # the one placeholder left
    spec_path = project / "problems" / "loans" / "problem.yaml"
    raw = yaml.safe_load(spec_path.read_text())
    raw["description"] = "Loans that default, known 7 days after the application."
    spec_path.write_text(yaml.safe_dump(raw, sort_keys=False, allow_unicode=True))
    assert "valid problem spec 'loans'" in cli("check", "loans")
    assert "attribute: loans" in (project / "workspace.yaml").read_text()
    cli("--problem", "loans", "bootstrap")

    served = subprocess.run(
        [
            sys.executable,
            "-c",
            """
import json, requests
from ml_assets.core import engines, lake
from ml_assets.core.settings import Settings
from ml_assets.serving.process import ServiceProcess, request_body
s = Settings()
store = engines.model_store(s)
row = next(lake.read_partition(s.lake_dir, "loans", s.day(s.demo_days - 1)).itertuples())
with ServiceProcess(s) as service:
    service.wait_ready()
    answer = requests.post(f"{service.url}/v1/score", json=request_body(row), timeout=30)
print(json.dumps({"model": store.model_name, "champion": store.alias_version("champion"),
                  "data_dir": str(s.data_dir), "id": row.loan_id, "answer": answer.json()}))
""",
        ],
        cwd=project,
        env={**env, "ML_ASSETS_PROBLEM": "loans"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert served.returncode == 0, served.stdout[-3000:] + served.stderr[-3000:]
    result = json.loads(served.stdout.strip().splitlines()[-1])
    assert result["model"] == "loans_model" and result["champion"] is not None
    assert result["data_dir"] == str(project / "data" / "loans")
    assert result["answer"]["loan_id"] == result["id"] and 0 <= result["answer"]["score"] <= 1


def test_init_proposes_a_contract_read_off_the_file(tmp_path):
    """Observed values only: empty values make a column nullable, a never-negative number gets
    ge 0, a share within [0, 1] also le 1, a text column of few values gets them."""
    source = _table(tmp_path)
    frame = pd.read_parquet(source)
    frame["share_repaid"] = np.linspace(0, 1, len(frame))
    frame["balance"] = np.linspace(-50, 50, len(frame))
    frame.loc[::7, "amount"] = np.nan
    frame.to_parquet(source)
    table = scaffold.draft("loans", source, "loan_id", "applied_at", "defaulted")["tables"]["loans"]
    assert table["nullable"] == ["amount"]
    assert table["contract"] == {
        "borrower_id": {"ge": 0},
        "amount": {"ge": 0},
        "term_months": {"ge": 0},
        "region": {"values": ["east", "north", "south"]},
        "share_repaid": {"ge": 0, "le": 1},
    }  # balance goes negative: no bound proposed
    spec = scaffold.write_draft(
        scaffold.draft("loans", source, "loan_id", "applied_at", "defaulted", 7),
        tmp_path / "problems" / "loans" / "problem.yaml",
    )
    assert "confirm them" in spec.read_text()
