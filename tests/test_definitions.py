"""The code location loads, fast and clean, with the asset graph the brief describes."""

import subprocess
import sys
import warnings

import dagster as dg

from ml_assets.settings import PROJECT_ROOT


def _defs():
    from ml_assets.definitions import defs

    return defs()


def test_definitions_load_without_deprecation_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        definitions = _defs()
    assert definitions.resolve_job_def("daily_cycle") is not None


def test_lineage_raw_to_feature_views():
    graph = _defs().resolve_asset_graph()
    deps = {k.to_user_string(): {p.to_user_string() for p in graph.get(k).parent_keys} for k in graph.get_all_asset_keys()}
    assert deps["customer_activity_source"] == {"raw_transactions"}
    assert deps["merchant_risk_source"] == {"raw_transactions", "label_arrivals"}
    # one asset per Feast feature view, fed by its source and by `feast apply`
    assert deps["customer_activity"] == {"customer_activity_source", "feast_apply"}
    assert deps["merchant_risk"] == {"merchant_risk_source", "feast_apply"}
    assert deps["customer_profile"] == {"customer_snapshots", "feast_apply"}
    assert deps["merchant_profile"] == {"merchant_snapshots", "feast_apply"}
    for key in ("customer_activity", "merchant_risk", "feast_apply"):
        assert graph.get(dg.AssetKey(key)).pools == {"feast"}


def test_feature_view_assets_come_from_the_repo_catalogue():
    from ml_assets.defs.features.store import load_specs

    keys = {k.to_user_string() for k in _defs().resolve_asset_graph().get_all_asset_keys()}
    assert {v.name for v in load_specs().FEATURE_VIEWS} <= keys


def test_code_location_loads_fast_without_heavy_imports():
    code = (
        "import sys, ml_assets.definitions as d; d.defs(); "
        "heavy = [m for m in ('feast', 'mlflow', 'nannyml', 'lightgbm') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=PROJECT_ROOT)
    assert out.stdout.strip() == "", f"heavy modules imported at load: {out.stdout}"


def test_project_dagster_yaml_is_a_valid_instance_config(tmp_path, monkeypatch):
    import shutil

    shutil.copy(PROJECT_ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    monkeypatch.setenv("ML_ASSETS_DAGSTER_DIR", str(tmp_path / "storage"))
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
        assert not instance.telemetry_enabled
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
