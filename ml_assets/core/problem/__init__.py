"""Prediction problems declared as specs (``problems/<name>/problem.yaml``; issue 26)."""

from __future__ import annotations

import functools

from ml_assets.core.problem.spec import ProblemSpec, load_spec
from ml_assets.core.settings import PROJECT_ROOT

PROBLEMS_DIR = PROJECT_ROOT / "problems"
SCHEMA_PATH = PROBLEMS_DIR / "problem.schema.json"  # for editors: ml-assets problem-schema writes it


@functools.cache
def card_fraud() -> ProblemSpec:
    """The shipped card fraud problem. The lifecycle reads its landing tables, aggregate views and
    feature views from here; the rest of card fraud is still written in code that mirrors the
    spec (docs/decisions/problem-spec.md)."""
    return load_spec(PROBLEMS_DIR / "card_fraud" / "problem.yaml")
