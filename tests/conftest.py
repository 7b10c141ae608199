import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

SMALL = {
    "ML_ASSETS_ROWS_PER_DAY": "2000",
    "ML_ASSETS_N_CUSTOMERS": "2000",
    "ML_ASSETS_N_MERCHANTS": "200",
}


@pytest.fixture
def project(tmp_path, monkeypatch):
    """Settings of a throw-away project: data under tmp_path, small sizes. Subprocesses
    (Dagster's multiprocess executor) inherit the same environment."""
    from ml_assets.settings import get_settings

    monkeypatch.setenv("ML_ASSETS_DATA_DIR", str(tmp_path / "data"))
    for key, value in SMALL.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


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
    from ml_assets.settings import PROJECT_ROOT

    shutil.copytree(PROJECT_ROOT / "feature_repo", dest, ignore=shutil.ignore_patterns("__pycache__"))
    return dest
