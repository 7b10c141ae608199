"""One Dagster code location per problem: workspace.yaml loads ``attribute: <problem>`` of this
module for each folder under problems/ (``ml-assets init`` adds its problem's).

A code location is a process of its own, and a process runs one problem: the attribute chooses
it for the process (``ML_ASSETS_PROBLEM``, as ``ml-assets --problem`` does, so that the run
workers and services it starts run the same problem), then builds the definitions. Nothing here
imports a problem's modules before the choice is made."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from ml_assets.core.settings import PROBLEMS_DIR


class _OneProjectManyLocations(logging.Filter):
    """Dagster's component tree warns, at every load of the defs folder (hundreds of lines a
    `make dev`), that a location's name is not the project's ``code_location_name``: one dg
    project serves a location per problem here by design, and no app-managed component keys on
    the name."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "configured on this project does not match the name" not in record.getMessage()


logging.getLogger("dagster.components.core.component_tree").addFilter(_OneProjectManyLocations())


def __getattr__(name: str):
    if name.startswith("_") or not (PROBLEMS_DIR / name / "problem.yaml").exists():
        raise AttributeError(f"{name!r} is not a problem under {PROBLEMS_DIR} (ml-assets init {name})")
    loaded = sys.modules.get("ml_assets.defs.keys")
    if loaded is not None and loaded.shape_settings.problem != name:  # one problem's modules are in
        raise RuntimeError(
            f"this process runs {loaded.shape_settings.problem}; load {name} in a code location of its own"
        )
    os.environ["ML_ASSETS_PROBLEM"] = name
    from ml_assets.definitions import definitions_from_environment

    return definitions_from_environment()


def add_location(workspace: Path, name: str) -> bool:
    """Add the problem's code location to ``workspace`` (a workspace.yaml), once; True if added.
    Appended as text, so the file's comments stay."""
    text = Path(workspace).read_text()
    if f"attribute: {name}\n" in text:
        return False
    entry = (
        f"  - python_module:\n      module_name: ml_assets.locations\n      attribute: {name}\n"
        f"      location_name: {name}\n      working_directory: .\n"
    )
    Path(workspace).write_text(text.rstrip("\n") + "\n" + entry)
    return True
