"""Feast without typeguard's import-time instrumentation, in every process of the project.

Feast decorates its definition classes (FeatureView, Entity, DataSource, ...) with typeguard's
``@typechecked``, which re-reads and recompiles each class's source at every import: most of the
CPU that each process importing Feast (the service, each Dagster run, the CLI) spends on Feast
(`python -m benchmarks.feast_import`, BENCHMARKS.md). typeguard's
own production setting (``python -O``) turns the decorator into a no-op; this does the same for
Feast alone, keeping asserts. The feature definitions Feast receives are generated from a
validated problem spec, and Feast's own validations (names, keys, schemas) still run.
``ML_ASSETS_FEAST_TYPECHECKS=1`` keeps the checks (e.g. to debug a hand-written feature repo)."""

from __future__ import annotations

import importlib.abc
import os
import sys

KEEP_CHECKS = "ML_ASSETS_FEAST_TYPECHECKS"


def _unchecked(target=None, **_options):
    """``typeguard.typechecked`` as it is under ``python -O``: the target itself."""
    return target if target is not None else _unchecked


class _BeforeFeast(importlib.abc.MetaPathFinder):
    """Swaps the decorator out just before Feast's first import (typeguard itself is imported only
    then: the code location, which never imports Feast while loading, pays nothing)."""

    def find_spec(self, fullname, path, target=None):
        if fullname == "feast":
            sys.meta_path.remove(self)
            try:
                import typeguard
            except ImportError:  # a Feast without typeguard: nothing to skip
                return None
            typeguard.typechecked = _unchecked
        return None  # the regular finders import Feast


def skip_feast_typechecks() -> None:
    """Called once, as the package is imported (ml_assets/__init__.py)."""
    if os.environ.get(KEEP_CHECKS, "") in ("", "0") and "feast" not in sys.modules:
        sys.meta_path.insert(0, _BeforeFeast())
