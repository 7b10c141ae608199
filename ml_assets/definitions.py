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


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions()
