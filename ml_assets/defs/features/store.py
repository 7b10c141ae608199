"""Access to the Feast repo: its catalogue (without importing Feast), the FeatureStore
with paths rooted under the project's data directory, ``apply`` and per-window
materialization."""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

from ml_assets.settings import Settings, get_settings


def load_specs(repo_dir: Path | None = None) -> ModuleType:
    """Import ``feature_repo/feature_specs.py`` (plain Python, fast) under the name the
    Feast definitions import it by."""
    if "feature_specs" in sys.modules:
        return sys.modules["feature_specs"]
    path = Path(repo_dir or get_settings().feature_repo_dir) / "feature_specs.py"
    spec = importlib.util.spec_from_file_location("feature_specs", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["feature_specs"] = module
    spec.loader.exec_module(module)
    return module


def repo_fingerprint(repo_dir: Path) -> str:
    """Hash of the repo's definition files: the code version of ``feast apply``."""
    digest = hashlib.sha256()
    for path in sorted(Path(repo_dir).glob("*.py")) + [Path(repo_dir) / "feature_store.yaml"]:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _repo_config(settings: Settings):
    import yaml
    from feast.repo_config import RepoConfig

    raw = yaml.safe_load((settings.feature_repo_dir / "feature_store.yaml").read_text())
    settings.feast_dir.mkdir(parents=True, exist_ok=True)
    raw["registry"]["path"] = str(settings.feast_dir / "registry.db")
    raw["online_store"]["path"] = str(settings.feast_dir / "online_store.db")
    return RepoConfig(repo_path=settings.feature_repo_dir, **raw)


def feature_store(settings: Settings | None = None):
    """A FeatureStore over this project's repo and data directory."""
    from feast import FeatureStore

    settings = settings or get_settings()
    # features.py builds absolute source paths from this variable
    os.environ["ML_ASSETS_DATA_DIR"] = str(settings.data_dir)
    return FeatureStore(repo_path=str(settings.feature_repo_dir), config=_repo_config(settings))


def load_repo_objects(settings: Settings | None = None) -> ModuleType:
    """Import ``feature_repo/features.py`` (the Feast objects) by path. Feast's own
    ``parse_repo`` needs the process to ``chdir`` into the repo, which would move the
    working directory of a whole Dagster run."""
    settings = settings or get_settings()
    os.environ["ML_ASSETS_DATA_DIR"] = str(settings.data_dir)
    load_specs(settings.feature_repo_dir)
    name = "ml_assets_feature_repo"
    spec = importlib.util.spec_from_file_location(name, settings.feature_repo_dir / "features.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def apply_repo(settings: Settings | None = None) -> dict:
    """``feast apply``: registers every object of the repo and deletes registered feature
    views and services that the repo no longer defines."""
    from feast import Entity, FeatureService, FeatureView, OnDemandFeatureView

    settings = settings or get_settings()
    store = feature_store(settings)
    repo = load_repo_objects(settings)
    objects = {id(o): o for o in vars(repo).values() if isinstance(o, Entity | FeatureView | OnDemandFeatureView | FeatureService)}
    objects.update({id(o): o for d in (repo.entities, repo.feature_views) for o in d.values()})
    objects = list(objects.values())
    names = {type(o).__name__: set() for o in objects}
    for o in objects:
        names[type(o).__name__].add(o.name)
    stale = [fv for fv in store.list_feature_views() if fv.name not in names.get("FeatureView", set())]
    stale += [fs for fs in store.list_feature_services() if fs.name not in names.get("FeatureService", set())]
    store.apply(objects, objects_to_delete=stale, partial=False)
    return {kind: sorted(n) for kind, n in sorted(names.items())} | {"deleted": sorted(o.name for o in stale)}


def materialize_day(view: str, day: dt.date, settings: Settings | None = None) -> None:
    """Write the feature rows stamped on ``day`` to the online store. Feast filters the
    window inclusively at both ends, so it ends one microsecond before the next day."""
    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    end = start + dt.timedelta(days=1) - dt.timedelta(microseconds=1)
    store = feature_store(settings)
    store.materialize(start_date=start, end_date=end, feature_views=[view])
