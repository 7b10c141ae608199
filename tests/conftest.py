import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

SMALL = {"rows_per_day": 2000, "n_customers": 2000, "n_merchants": 200}


def settings_for(data_dir: Path, **overrides):
    """Settings of a throw-away project, built directly (nothing read from or written to
    the environment)."""
    from ml_assets.core.settings import Settings

    return Settings(data_dir=data_dir, **{**SMALL, **overrides})


def settings_env(settings) -> dict[str, str]:
    """The same settings as ML_ASSETS_* variables, for a subprocess."""
    return settings.environment()


@pytest.fixture
def project(tmp_path):
    return settings_for(tmp_path / "data")


@pytest.fixture
def instance(tmp_path):
    """A real Dagster instance on a temp folder, with the project's pool limit."""
    import dagster as dg

    (tmp_path / "dagster").mkdir()
    with dg.instance_for_test(
        temp_dir=str(tmp_path / "dagster"),
        overrides={"concurrency": {"pools": {"default_limit": 1}}},
    ) as inst:
        yield inst


def copy_feature_repo(dest: Path) -> Path:
    from ml_assets.core.settings import PROJECT_ROOT

    shutil.copytree(PROJECT_ROOT / "feature_repo", dest, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def repo_of(settings):
    from ml_assets.core.features.store import FeatureRepo

    return FeatureRepo(settings.feature_repo_dir, settings.data_dir)


def store_of(settings):
    from ml_assets.core.model_store import ModelStore

    return ModelStore.local(settings.mlflow_dir)
