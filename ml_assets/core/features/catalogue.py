"""The feature repo's catalogue (``feature_repo/feature_specs.py``): plain Python, read
without importing Feast, so the code location derives its assets in milliseconds."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

# the name features.py imports the catalogue by (`import feature_specs as specs`)
CATALOGUE_MODULE = "feature_specs"


def load_specs(repo_dir: Path) -> ModuleType:
    """Import ``feature_specs.py`` of ``repo_dir`` under the name the Feast definitions use."""
    loaded = sys.modules.get(CATALOGUE_MODULE)
    path = (Path(repo_dir) / "feature_specs.py").resolve()
    if loaded is not None and Path(loaded.__file__).resolve() == path:
        return loaded
    spec = importlib.util.spec_from_file_location(CATALOGUE_MODULE, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[CATALOGUE_MODULE] = module
    spec.loader.exec_module(module)
    return module


def repo_fingerprint(repo_dir: Path) -> str:
    """Hash of the repo's definition files: the code version of ``feast apply``."""
    digest = hashlib.sha256()
    for path in sorted(Path(repo_dir).glob("*.py")) + [Path(repo_dir) / "feature_store.yaml"]:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]
