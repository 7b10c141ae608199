"""Feast imported through the project skips typeguard's import-time instrumentation
(ml_assets/feast_import.py), and ML_ASSETS_FEAST_TYPECHECKS=1 keeps it."""

import os
import subprocess
import sys

import pytest

# a Feast class as the process ends up with it: instrumented by typeguard, or as written
PROBE = """
import ml_assets, feast
from feast import Entity, FeatureView
instrumented = "TypeCheckMemo" in FeatureView.__init__.__code__.co_names
entity = Entity(name="customer", join_keys=["customer_id"])  # Feast still builds its objects
print(instrumented, entity.join_key)
"""


def _probe(**env) -> str:
    environ = {k: v for k, v in os.environ.items() if k != "ML_ASSETS_FEAST_TYPECHECKS"}
    result = subprocess.run(
        [sys.executable, "-c", PROBE], env={**environ, **env}, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


@pytest.mark.parametrize(
    ("env", "instrumented"), [({}, "False"), ({"ML_ASSETS_FEAST_TYPECHECKS": "1"}, "True")]
)
def test_feast_is_instrumented_by_typeguard_only_when_asked(env, instrumented):
    assert _probe(**env) == [instrumented, "customer_id"]
