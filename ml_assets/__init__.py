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

# OpenMP threads (LightGBM's training and prediction) sleep when idle instead of spinning. libgomp
# spins by default, which assumes the threads own their cores: beside a Dagster daemon, a service
# or another run on the same cores, a spinning fit of 42k rows on two threads took 52 s where it
# took 3 s passive (BENCHMARKS.md). Read once, when LightGBM loads libgomp, so it is set here,
# before any import of it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
