"""The registry's reads: a missing alias is None; an unreachable registry is an error, never an
empty registry (which would promote a first champion without a comparison, or drop a rollout)."""

import pytest
from conftest import store_of

from ml_assets.core.model_store import ModelStore
from ml_assets.serving.process import free_port


def test_a_missing_alias_is_none_and_an_unreachable_registry_raises(project, monkeypatch):
    from mlflow.exceptions import MlflowException

    assert store_of(project).alias_version("champion") is None  # no model registered yet
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    down = ModelStore.server(f"http://127.0.0.1:{free_port()}")  # nothing listens there
    with pytest.raises(MlflowException):
        down.alias_version("champion")
