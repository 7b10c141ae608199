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
