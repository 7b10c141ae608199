"""ml-assets: a local-first ML lifecycle on Dagster, Feast, MLflow and NannyML."""

import os

# Third-party telemetry off for every process that imports the project (code servers,
# run workers, CLI, tests). Dagster's own is off in dagster.yaml.
TELEMETRY_OFF = {
    "NML_DISABLE_USAGE_LOGGING": "1",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "DAGSTER_DISABLE_TELEMETRY": "true",
}
for _var, _value in TELEMETRY_OFF.items():
    os.environ.setdefault(_var, _value)

# OpenMP threads (LightGBM's training and prediction) spin briefly, then sleep, when idle. libgomp
# spins for 300k rounds by default, which assumes the threads own their cores: beside a Dagster
# daemon, a service or another run on the same cores, a two-thread fit ran many times slower.
# 1,000 is libgomp's own count for more threads than cores; unlike OMP_WAIT_POLICY=PASSIVE (much
# slower alone) it keeps the fit's speed on an idle machine (`make bench-openmp`, BENCHMARKS.md).
# Read once, when LightGBM loads libgomp, so it is set here, before any import of it.
os.environ.setdefault("GOMP_SPINCOUNT", "1000")

# Feast imported without typeguard's recompiling of its classes at every import (most of Feast's
# import time): ml_assets/feast_import.py
from ml_assets.feast_import import skip_feast_typechecks  # noqa: E402

skip_feast_typechecks()
