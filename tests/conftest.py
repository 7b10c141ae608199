import os
import shutil
import sys
from pathlib import Path

import pytest

# One thread per process for LightGBM's fits and OpenBLAS (NannyML's PCA, scikit-learn): the suite
# runs three workers and their daemons, runs and services on two cores, where a second thread
# cost more CPU than it saved (BENCHMARKS.md, "A fit's threads"). Set before numpy loads, and
# inherited by every process the tests start.
os.environ.setdefault("ML_ASSETS_TRAIN_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

# first: the project's process settings (telemetry off, short OpenMP spins) precede any library
import ml_assets  # noqa: E402, F401

sys.path.insert(0, str(Path(__file__).parent))

SMALL = {"rows_per_day": 2000, "n_customers": 2000, "n_merchants": 200}


def settings_for(data_dir: Path, **overrides):
    """Settings of a throw-away project, built directly (nothing read from or written to
    the environment)."""
    from ml_assets.core.settings import Settings

    return Settings(data_dir=data_dir, **{**SMALL, **overrides})


def short_features(days: int) -> dict:
    """Settings overrides for a short test world: card fraud's customer activity covers at most
    ``days`` days, and the first training window starts after them (merchant_risk keeps its
    30 days: a merchant's chargebacks need them)."""
    return {"window_caps": {"customer_activity": days}, "feature_warm_up_days": days}


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


def project_home(parent: Path) -> Path:
    """A Dagster home under ``parent`` holding the project's own dagster.yaml (its storage goes
    where ML_ASSETS_DAGSTER_DIR points, as in a checkout)."""
    from ml_assets.core.settings import PROJECT_ROOT

    home = parent / "home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    return home


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


# Running the suite on several processes (`make test` passes -n 3): each test file is one unit of
# work, so a module's fixtures are built once, on one worker. The cluster tests that share the
# loopback RabbitMQ's queues or Redis database 11 (a Celery worker of one test would take another's
# steps; one test's flush would empty another's online store) are one unit, run one after
# another; the other cluster files bring their own server (Redis, Postgres, MLflow) or Redis
# database and run beside the rest. xdist's own `--dist loadgroup` cannot say this with pytest 9
# (it renames node ids through an attribute pytest 9 no longer reads: measured, its groups were
# split across workers).
SHARED_LOOPBACK = {"test_cluster_celery.py", "test_cluster_feast_warehouse.py", "test_cluster_dagster.py"}


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class ByFileSharedLoopbackTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return "shared-loopback" if Path(path).name in SHARED_LOOPBACK else path

    return ByFileSharedLoopbackTogether(config, log)


# Units start in collection order (--no-loadscope-reorder), so the longest go first and the short
# ones fill in around them (longest-processing-time first): seconds per unit from first start to
# last finish in `make test` on 2 cores, 2026-12-07 (three processes, so each about 1.5x its time
# alone). Only the order uses them; a file not listed goes after these, the files with slow tests
# first (two unlisted ones, `ml-assets init` and the loan-default location, ran last: the suite's
# final 70 s on one core). The scenario files' are from `make scenarios` (two processes), 2026-12-06.
UNIT_SECONDS = {
    "test_replay_fraud_shift": 350,
    "test_replay_seasonal": 310,
    "test_replay_currency_switch": 220,
    "test_rollout": 307,
    "test_live_loop": 290,
    "shared-loopback": 281,
    "test_cluster_service_faults": 263,
    "test_serving": 257,
    "test_training_registry": 237,
    "test_cluster_replay": 154,
    "test_backfill": 130,
    "test_replay_stable": 124,
    "test_crash_recovery": 115,
    "test_problem_init": 98,
    "test_ui_browser": 91,
    "test_simulator_learnable": 88,
    "test_cluster_postgres_restart": 68,
    "test_cluster_mlflow": 66,
    "test_problem_locations": 53,
    "test_feast": 52,
}


def pytest_collection_modifyitems(config, items):
    slow_modules = {item.module.__name__ for item in items if item.get_closest_marker("slow")}

    def longest_first(item) -> tuple[float, bool]:
        unit = "shared-loopback" if Path(item.path).name in SHARED_LOOPBACK else item.module.__name__
        return -UNIT_SECONDS.get(unit, 0), unit not in slow_modules

    items.sort(key=longest_first)  # stable: keeps each file's order


def one_location_workspace(dest: Path, problem: str = "card_fraud") -> Path:
    """A workspace file holding one problem's code location (the project's workspace.yaml holds
    every problem's): a daemon started on it runs that problem's sensors and runs only."""
    from ml_assets.core.settings import PROJECT_ROOT

    path = Path(dest) / "workspace.yaml"
    path.write_text(
        "load_from:\n  - python_module:\n      module_name: ml_assets.locations\n"
        f"      attribute: {problem}\n      location_name: {problem}\n"
        f"      working_directory: {PROJECT_ROOT}\n"
    )
    return path


def processes_left(folder: Path, timeout: float = 30) -> list[str]:
    """The command lines of live processes that name ``folder`` (a test's temp folder: its
    daemon's code server and runs carry its instance there), once they had ``timeout`` seconds
    to exit: what a test leaves running after it stopped its daemon."""
    import time

    import psutil

    def left() -> list[str]:
        found = []
        for process in psutil.process_iter(["cmdline", "status"]):
            line = " ".join(process.info["cmdline"] or [])
            if str(folder) in line and process.info["status"] != psutil.STATUS_ZOMBIE:
                found.append(line[:300])
        return found

    deadline = time.monotonic() + timeout
    while (found := left()) and time.monotonic() < deadline:
        time.sleep(0.5)
    return found
