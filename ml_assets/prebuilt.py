"""The last module the forkserver of an embedded run preloads (defs/executor.py): the code
location's definitions, built once there for the run's settings, so that every step forked from
it finds them built instead of importing the defs folder and building them itself (BENCHMARKS.md,
"A step's start")."""

from ml_assets.definitions import definitions_from_environment

try:
    definitions_from_environment()
except Exception:  # noqa: BLE001
    # the forkserver must start whatever fails here: each step then builds them again and fails
    # with Dagster's own error, in the run's log
    pass
