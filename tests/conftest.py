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


# Running the suite on both cores (`make test` passes -n 2 --dist loadgroup): each test file is
# one group, so a module's fixtures are built once, on one worker; the cluster tests share the
# loopback Redis databases and RabbitMQ queues, so they are one group, run one after another.
# The files with end-to-end tests go first: the longest groups start at once, the short ones
# fill in around them.
def pytest_collection_modifyitems(config, items):
    for item in items:
        if not any(m.name == "xdist_group" for m in item.iter_markers()):
            group = "cluster" if item.get_closest_marker("cluster") else item.module.__name__
            item.add_marker(pytest.mark.xdist_group(group))
    slow_modules = {item.module.__name__ for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.module.__name__ not in slow_modules)  # stable: keeps each file's order
