"""The commands that run the loop for a person print no library noise (issue 24's quiet
terminal, the part measured on `make dev`): Feast's "Could not validate FileSource path" while the
lake is still empty, NannyML's clipped thresholds, MLflow's artifact download bars, and deprecation
notices; the same process without the filter prints them."""

import os
import subprocess
import sys

SCRIPT = """
import logging, sys, warnings
warnings.simplefilter("default")  # as a run shows them (pytest, Dagster's step processes)
if sys.argv[1] == "quiet":
    from ml_assets.quiet import quiet_libraries
    quiet_libraries()
from ml_assets.core import logs
logs.configure("WARNING")  # as the CLI sets up logging
# a model's artifacts loaded, as training and scoring load them; before NannyML is imported, which
# turns MLflow's progress bar off for the whole process (so a replay's first days drew it)
import mlflow
own = "{tmp}/" + sys.argv[1]  # each run its own store
mlflow.set_tracking_uri("sqlite:///" + own + ".db")
experiment = mlflow.create_experiment("quiet", artifact_location=own + "/artifacts")
with mlflow.start_run(experiment_id=experiment) as run:
    mlflow.log_text("x", "reference/a.txt")
mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="reference", dst_path=own)
import nannyml  # its package logger, as a fit warns through it
logging.getLogger("nannyml.base").warning("lower threshold 0.0 overridden by lower threshold value limit 0")
warnings.warn("fetch_arrow_table() is deprecated, use to_arrow_table() instead.", DeprecationWarning)
from feast import FileSource
from feast.repo_config import RepoConfig
config = RepoConfig(project="p", registry="{registry}", provider="local", entity_key_serialization_version=3)
FileSource(path="{missing}/date=*/part.parquet", timestamp_field="ts").validate(config)
print("done")
"""


def test_the_people_facing_commands_hide_library_noise(tmp_path):
    script = SCRIPT.format(
        registry=tmp_path / "registry.db",
        missing=tmp_path / "lake",
        tmp=tmp_path,
    )

    # a fresh process's environment: this one may hold NannyML's switch from an earlier import
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"}

    def run(mode: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", script, mode], capture_output=True, text=True, timeout=120, env=env
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout + done.stderr

    loud, quiet = run("loud"), run("quiet")
    noise = (
        "Could not validate FileSource path",
        "DeprecationWarning",
        "overridden by lower threshold",
        "Downloading artifacts",
    )
    assert all(n in loud for n in noise), loud[-3000:]  # the test has teeth
    assert not any(n in quiet for n in noise)
    assert quiet.strip() == "done"
