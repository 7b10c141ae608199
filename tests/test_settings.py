"""One settings model: defaults, environment overrides, and errors that name the field."""

import pydantic
import pytest

from ml_assets.core.settings import Settings


def test_environment_overrides_and_paths_are_absolute(monkeypatch, tmp_path):
    monkeypatch.setenv("ML_ASSETS_ROWS_PER_DAY", "1234")
    monkeypatch.setenv("ML_ASSETS_SCENARIO", "seasonal")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ML_ASSETS_DATA_DIR", "relative/data")
    s = Settings()
    assert s.rows_per_day == 1234 and s.scenario == "seasonal"
    assert s.data_dir == (tmp_path / "relative" / "data") and s.data_dir.is_absolute()
    # arguments win over the environment (how tests and the CLI build their own)
    assert Settings(rows_per_day=5).rows_per_day == 5


@pytest.mark.parametrize(
    ("variable", "value", "field"),
    [
        ("ML_ASSETS_ROWS_PER_DAY", "many", "rows_per_day"),
        ("ML_ASSETS_SCENARIO", "winter", "scenario"),
        ("ML_ASSETS_START_DATE", "01/01/2026", "start_date"),
        ("ML_ASSETS_FIXED_FPR", "2", "fixed_fpr"),
    ],
)
def test_a_bad_value_names_the_field(monkeypatch, variable, value, field):
    monkeypatch.setenv(variable, value)
    with pytest.raises(pydantic.ValidationError) as error:
        Settings()
    assert field in str(error.value)


def test_settings_are_frozen():
    with pytest.raises(pydantic.ValidationError):
        Settings().rows_per_day = 3  # type: ignore[misc]


def test_openmp_threads_spin_briefly_unless_the_user_says_otherwise():
    """LightGBM's OpenMP threads spin long by default, which slows a fit many times over beside
    other processes on the same cores (BENCHMARKS.md). The project sets a short spin before
    LightGBM loads, and leaves a value the user set alone."""
    import os
    import subprocess
    import sys

    read = "import ml_assets.core.model, lightgbm, os; print(os.environ.get('GOMP_SPINCOUNT'))"
    env = {k: v for k, v in os.environ.items() if k != "GOMP_SPINCOUNT"}
    assert subprocess.check_output([sys.executable, "-c", read], env=env, text=True).strip() == "1000"
    env["GOMP_SPINCOUNT"] = "300000"
    assert subprocess.check_output([sys.executable, "-c", read], env=env, text=True).strip() == "300000"


def test_a_problem_has_its_own_data_folder_and_its_spec_s_settings_under_the_environment(monkeypatch):
    from ml_assets.core.problem import named
    from ml_assets.core.settings import PROJECT_ROOT

    monkeypatch.delenv("ML_ASSETS_PROBLEM", raising=False)
    assert Settings().problem == "card_fraud" and Settings().data_dir == PROJECT_ROOT / "data" / "card_fraud"
    loans = Settings(problem="loan_default")
    declared = named("loan_default").settings
    assert loans.data_dir == PROJECT_ROOT / "data" / "loan_default"
    assert loans.start_date.isoformat() == str(declared["start_date"]) != Settings().start_date.isoformat()
    assert loans.training_window_days == declared["training_window_days"] != Settings().training_window_days
    # the environment chooses the problem, and still wins over its spec
    monkeypatch.setenv("ML_ASSETS_PROBLEM", "loan_default")
    monkeypatch.setenv("ML_ASSETS_TRAINING_WINDOW_DAYS", "30")
    assert Settings().start_date == loans.start_date and Settings().training_window_days == 30
    with pytest.raises(pydantic.ValidationError) as error:
        Settings(problem="Loans")
    assert "problem" in str(error.value)


def test_each_problem_registers_its_own_model_in_its_own_feast_project(tmp_path):
    from ml_assets.core import engines

    fraud, loans = (
        Settings(data_dir=tmp_path / "a"),
        Settings(problem="loan_default", data_dir=tmp_path / "b"),
    )
    assert engines.model_store(fraud).model_name == "fraud_model"
    assert engines.model_store(loans).model_name == "loan_default_model"
    assert engines.feature_repo(fraud).config().project == "card_fraud"
    assert engines.feature_repo(loans).config().project == "loan_default"


def test_a_shared_data_root_keeps_each_problem_in_its_folder_and_its_own_warehouse(monkeypatch, tmp_path):
    """A deployment's one volume (ML_ASSETS_DATA_ROOT) holds every problem, each in its folder;
    on the cluster profile each problem but the default has a warehouse database of its own."""
    monkeypatch.setenv("ML_ASSETS_DATA_ROOT", str(tmp_path))
    fraud, loans = Settings(profile="cluster"), Settings(problem="loan_default", profile="cluster")
    assert (fraud.data_dir, loans.data_dir) == (tmp_path / "card_fraud", tmp_path / "loan_default")
    assert fraud.database_name("warehouse") == "ml_assets_warehouse"
    assert loans.database_name("warehouse") == "ml_assets_loan_default_warehouse"
    for shared in ("dagster", "feast", "mlflow"):  # one instance, registry and server
        assert fraud.database_name(shared) == loans.database_name(shared)
    monkeypatch.setenv("ML_ASSETS_DATA_DIR", str(tmp_path / "mine"))  # an explicit folder wins
    assert Settings(problem="loan_default").data_dir == tmp_path / "mine"


@pytest.mark.parametrize("threads", [0, 1])
def test_a_fit_runs_on_the_threads_the_settings_give(threads):
    """``train_threads`` reaches LightGBM (0: a thread per logical core), and the booster keeps
    it for the batch predictions made with it."""
    from types import SimpleNamespace

    import lightgbm as lgb
    import numpy as np
    import pandas as pd

    from ml_assets.core.hyperparameters import Hyperparameters
    from ml_assets.core.model import TARGET, train

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(400, 3)), columns=["a", "b", "c"])
    frame[TARGET] = (frame["a"] > 0.5).astype(int)
    specs = SimpleNamespace(model_features=lambda: ["a", "b", "c"], CATEGORICAL_FEATURES=())
    model = train(frame, Hyperparameters(n_estimators=3), specs, threads)
    # 0: what LightGBM gives n_jobs=-1, a thread per logical core it may use (its count follows
    # the container's CPU limit, which os.cpu_count() does not)
    every_core = lgb.LGBMClassifier(n_estimators=1, n_jobs=-1, verbose=-1).fit(frame[["a"]], frame[TARGET])
    assert model.booster_.params["num_threads"] == (threads or every_core.booster_.params["num_threads"])
