"""The code location loads, fast and clean, with the asset graph the brief describes; the
graph's shape is a snapshot, so any lineage change shows up as a reviewed diff."""

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from ml_assets.core.settings import PROJECT_ROOT, Settings

SNAPSHOT = Path(__file__).parent / "snapshots" / "definitions.json"


def _defs():
    from ml_assets.definitions import build_definitions

    return build_definitions()


def _shape(definitions: dg.Definitions) -> dict:
    """What a reviewer of the lineage cares about, as plain JSON."""
    graph = definitions.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        partitions = node.partitions_def
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "deps": sorted(p.to_user_string() for p in node.parent_keys),
            "kinds": sorted(node.kinds),
            "pools": sorted(node.pools or []),
            "partitions": None
            if partitions is None
            else f"{type(partitions).__name__}({partitions.start:%Y-%m-%d}..)",
            "automation": type(node.automation_condition).__name__ if node.automation_condition else None,
        }
    checks = sorted(
        f"{c.asset_key.to_user_string()}:{c.name}{' (blocking)' if c.blocking else ''}"
        for a in definitions.assets or []
        if isinstance(a, dg.AssetsDefinition)
        for c in a.check_specs
    ) + sorted(
        f"{c.asset_key.to_user_string()}:{c.name}{' (blocking)' if c.blocking else ''}"
        for a in definitions.asset_checks or []
        for c in a.check_specs
    )
    return {
        "assets": assets,
        "checks": sorted(checks),
        "jobs": sorted({j.name for j in definitions.jobs or []}),
        "sensors": sorted(s.name for s in definitions.sensors or []),
        "schedules": sorted(s.name for s in definitions.schedules or []),
        "resources": sorted(definitions.resources),
    }


def test_asset_graph_matches_the_reviewed_snapshot():
    shape = _shape(_defs())
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(json.dumps(shape, indent=1, sort_keys=True) + "\n")
    expected = json.loads(SNAPSHOT.read_text())
    assert shape == expected, (
        "the definitions changed: review the diff, then regenerate with "
        "UPDATE_SNAPSHOTS=1 pytest tests/test_definitions.py"
    )


def test_lineage_raw_to_feature_views():
    assets = _shape(_defs())["assets"]
    assert assets["customer_activity_source"]["deps"] == ["raw_transactions"]
    assert assets["merchant_risk_source"]["deps"] == ["label_arrivals", "raw_transactions"]
    # one asset per Feast feature view, fed by its source and by `feast apply`, in the feast pool
    from ml_assets.core.features.catalogue import load_specs

    for view in load_specs(PROJECT_ROOT / "feature_repo").FEATURE_VIEWS:
        assert assets[view.name]["deps"] == sorted([view.source_table, "feast_apply"])
        assert assets[view.name]["pools"] == ["feast"]
    for key in ("predictions", "estimated_performance", "realized_performance"):
        assert assets[key]["pools"] == ["warehouse"]


def test_aggregate_sources_are_versioned_by_their_compiled_sql():
    """A changed spec changes the compiled query and so the asset's code version: Dagster marks
    the partitions the old query wrote as stale (a new feature column must not be mixed silently
    with partitions that lack it)."""
    import hashlib

    from ml_assets.core.features.aggregates import aggregate_sources
    from ml_assets.core.problem import card_fraud

    graph = _defs().resolve_asset_graph()
    sources = aggregate_sources(card_fraud(), Settings())
    assert {s.table for s in sources} == {"customer_activity_source", "merchant_risk_source"}
    for source in sources:
        sql_hash = hashlib.sha256(source.compiled.sql.encode()).hexdigest()[:12]
        assert graph.get(dg.AssetKey(source.table)).code_version == sql_hash, source.table

    # one more window on one aggregate: that view's version moves, the other's stays
    changed = card_fraud().model_copy(deep=True)
    changed.aggregate_views[0].features[0].windows.append(14)
    moved = {s.table: s.code_version for s in aggregate_sources(changed, Settings())}
    assert moved["customer_activity_source"] != sources[0].code_version
    assert moved["merchant_risk_source"] == sources[1].code_version


def _modules_under(package: str) -> list[str]:
    root = PROJECT_ROOT / package.replace(".", "/")
    return sorted(
        ".".join(p.relative_to(PROJECT_ROOT).with_suffix("").parts)
        for p in root.rglob("*.py")
        if p.name != "__init__.py"
    )


# each module in turn in one fresh interpreter: an import that warns fails, the others are still tried
_IMPORT_EACH = """
import importlib, sys, traceback
failed = []
for module in sys.argv[1:]:
    try:
        loaded = importlib.import_module(module)
        if module == "ml_assets.definitions":
            loaded.build_definitions()
    except Exception:
        failed.append(module)
        print(f"--- {module}", traceback.format_exc(), sep="\\n", file=sys.stderr)
print("failed:", " ".join(failed))
sys.exit(1 if failed else 0)
"""


def test_definitions_modules_use_no_deprecated_api():
    """Every module of the code location imported, outside ``load_from_defs_folder`` (which
    suppresses Dagster's warnings), with every DeprecationWarning an error: one interpreter for
    them all (an interpreter each cost more than the rest of this file), each module tried
    whatever the others do."""
    modules = _modules_under("ml_assets.defs") + ["ml_assets.definitions"]
    out = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", "-c", _IMPORT_EACH, *modules],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "failed:", out.stdout


def test_the_deprecation_check_has_teeth(tmp_path):
    """The same check fails on the deprecated call this project used to make, names the module
    that made it, and still imports the modules after it."""
    (tmp_path / "deprecated_defs.py").write_text(
        "import dagster as dg\nfrom ml_assets.defs.partitions import daily_partitions\n"
        "dg.define_asset_job('x', dg.AssetSelection.all(), partitions_def=daily_partitions)\n"
    )
    ran = "import pathlib\npathlib.Path(__file__).with_suffix('.ran').touch()"
    (tmp_path / "after_it.py").write_text(ran)
    modules = ["deprecated_defs", "after_it"]
    out = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", "-c", _IMPORT_EACH, *modules],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )
    assert out.returncode != 0 and "partitions_def" in out.stderr, out.stderr[-3000:]
    assert out.stdout.strip() == "failed: deprecated_defs", out.stdout
    assert (tmp_path / "after_it.ran").exists()


def test_core_knows_nothing_of_dagster_and_imports_point_down_the_flow():
    """No core module imports dagster; no stage imports a later one (core or defs)."""
    import ast

    order = ["ingest", "features", "training", "registry", "scoring", "monitoring", "automation", "serving"]
    stage_of = {"retrain_policy": "automation", "rollout": "serving"}

    def stage(module: str) -> str | None:
        parts = module.split(".")
        if len(parts) < 3 or parts[1] not in ("core", "defs"):
            return None
        return stage_of.get(parts[2], parts[2]) if stage_of.get(parts[2], parts[2]) in order else None

    problems = []
    for layer in ("ml_assets.core", "ml_assets.defs"):
        for module in _modules_under(layer):
            tree = ast.parse((PROJECT_ROOT / (module.replace(".", "/") + ".py")).read_text())
            imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
            imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
            if layer == "ml_assets.core":
                problems += [f"{module} imports {m}" for m in imported if m.split(".")[0] == "dagster"]
                problems += [f"{module} imports {m}" for m in imported if m.startswith("ml_assets.defs")]
            here = stage(module)
            for m in imported:
                there = stage(m)
                if here and there and order.index(there) > order.index(here):
                    problems.append(f"{module} ({here}) imports {m} ({there}), against the data flow")
    assert problems == []


def test_code_location_loads_without_heavy_imports_or_the_simulator():
    code = (
        "import sys, ml_assets.definitions as d; d.build_definitions(); "
        "heavy = ('feast', 'mlflow', 'nannyml', 'lightgbm', 'ml_assets.simulator'); "
        "heavy = [m for m in heavy if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=PROJECT_ROOT
    )
    assert out.stdout.strip() == "", f"imported at load: {out.stdout}"


def test_embedded_steps_fork_from_a_server_that_imported_what_they_use():
    """The embedded profile's executor forks each step from a forkserver holding the libraries
    the steps import (a fresh process per step imported them again); every preloaded module must
    import, or the forkserver of every run fails to start."""
    from ml_assets.defs.executor import PRELOADED

    job = _defs().resolve_job_def("daily_cycle")
    assert job.executor_def.name == "multiprocess"
    # as the forkserver preloads them; then what a forked step's load of the code location gets
    code = (
        "import importlib, sys; [importlib.import_module(m) for m in sys.argv[1:]]\n"
        "from ml_assets import definitions\n"
        "built = list(definitions._BUILT.values())\n"
        "print(len(built), definitions.defs() is built[0])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, *PRELOADED], check=True, cwd=PROJECT_ROOT, capture_output=True, text=True
    )
    assert out.stdout.split() == ["1", "True"], out.stdout  # built once, by the preload
    assert {"feast", "lightgbm", "nannyml", "mlflow", "duckdb"} <= set(PRELOADED)


def test_the_definitions_are_built_once_per_process_and_settings(monkeypatch):
    from ml_assets.definitions import definitions_from_environment

    first = definitions_from_environment()
    assert definitions_from_environment() is first
    monkeypatch.setenv("ML_ASSETS_DRIFT_FALSE_ALARM_RATE", "0.002")  # other settings: built anew
    other = definitions_from_environment()
    assert other is not first and definitions_from_environment() is other


def test_project_dagster_yaml_is_a_valid_instance_config(tmp_path, monkeypatch):
    import shutil

    shutil.copy(PROJECT_ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    monkeypatch.setenv("ML_ASSETS_DAGSTER_DIR", str(tmp_path / "storage"))
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
        assert not instance.telemetry_enabled
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
