"""The code location: every definition under ``ml_assets/defs`` (one folder per stage),
bound to resources built from one Settings."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

import ml_assets  # noqa: F401  (turns third-party telemetry off before anything loads)
from ml_assets.core.settings import Settings


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    """The definitions with resources for ``settings`` (default: from the environment)."""
    from ml_assets.defs.executor import executor_for
    from ml_assets.defs.resources import resources_for

    settings = settings or Settings()
    loaded = dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
    # the profile picks the engines (resources) and where steps run (executor); no asset changes
    bound = dg.Definitions(resources=resources_for(settings), executor=executor_for(settings))
    return dg.Definitions.merge(loaded, bound)


# Definitions built in this process, by the settings they were built from
_BUILT: dict[str, dg.Definitions] = {}


def definitions_from_environment() -> dg.Definitions:
    """``build_definitions()`` once per process and settings. Dagster loads the code location
    again wherever it reconstructs a job (twice in every step process of a run), and a run's
    forkserver builds them once for all its steps (ml_assets/prebuilt.py; BENCHMARKS.md)."""
    settings = Settings()
    key = settings.model_dump_json()
    if key not in _BUILT:
        _BUILT[key] = build_definitions(settings)
    return _BUILT[key]


@dg.definitions
def defs() -> dg.Definitions:
    return definitions_from_environment()
