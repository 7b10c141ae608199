"""Asset keys of the problem this code location runs.

Problems share one Dagster instance (a code location each, workspace.yaml), and the instance's
event log is keyed by asset key: so every problem but the default one prefixes its keys with its
name (``loan_default/predictions``), and the default problem keeps the bare names its history
was written under. Asset definitions take ``key_prefix=PREFIX``; whatever names an asset by key
(a dependency, a check, a job's selection, a sensor) goes through ``key``."""

from __future__ import annotations

import dagster as dg

from ml_assets.core.problem import problem_spec
from ml_assets.core.settings import DEFAULT_PROBLEM
from ml_assets.defs.partitions import shape_settings

PREFIX: list[str] = [] if shape_settings.problem == DEFAULT_PROBLEM else [shape_settings.problem]
_SPEC = problem_spec(shape_settings)


def key(name: str) -> dg.AssetKey:
    return dg.AssetKey([*PREFIX, name])


def op_name(name: str) -> str:
    """The op of the asset ``name``: what a run's config is keyed by (``ops: {<op>: ...}``)."""
    return key(name).to_python_identifier()


def keys(*names: str) -> list[dg.AssetKey]:
    return [key(n) for n in names]


def inputs(*names: str) -> dict[str, dg.AssetIn]:
    """Inputs passed by value, each from the asset of the same name under the prefix (Dagster
    infers an input's key from its parameter's name alone, without the asset's own prefix)."""
    return {n: dg.AssetIn(key=key(n)) for n in names}


# the problem's prediction events and its labels (the spine's and the label's tables)
EVENTS, LABELS = key(_SPEC.spine.table), key(_SPEC.label.table)
