"""Prediction problems declared as specs (``problems/<name>/problem.yaml``; issue 26)."""

from __future__ import annotations

import functools

from ml_assets.core.problem.spec import ProblemSpec, load_spec
from ml_assets.core.settings import DEFAULT_PROBLEM, PROBLEMS_DIR, Settings

SCHEMA_PATH = PROBLEMS_DIR / "problem.schema.json"  # for editors: ml-assets problem-schema writes it


def problem_spec(settings: Settings) -> ProblemSpec:
    """The spec of the problem ``settings`` name (``Settings.problem``)."""
    return named(settings.problem)


@functools.cache
def named(name: str) -> ProblemSpec:
    return load_spec(PROBLEMS_DIR / name / "problem.yaml")


def card_fraud() -> ProblemSpec:
    """The shipped card fraud problem (the default one)."""
    return named(DEFAULT_PROBLEM)


def problem_names() -> list[str]:
    """Every problem under problems/, the default first."""
    names = sorted(p.parent.name for p in PROBLEMS_DIR.glob("*/problem.yaml"))
    return sorted(names, key=lambda n: n != DEFAULT_PROBLEM)


def process_problem() -> ProblemSpec:
    """The problem this process runs (``ML_ASSETS_PROBLEM``, default card fraud): what the
    modules that declare one problem's tables and features at import read. A process runs one
    problem; ``ml-assets --problem`` and each code location of the workspace choose it."""
    return problem_spec(Settings())
