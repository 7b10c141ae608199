"""The code location: every definition under ``ml_assets/defs``, one folder per stage."""

from pathlib import Path

import dagster as dg

import ml_assets  # noqa: F401  (turns third-party telemetry off before anything loads)


@dg.definitions
def defs() -> dg.Definitions:
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
