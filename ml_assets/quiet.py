"""A terminal a person can read, for the commands that run the loop for a person (bootstrap,
replay, scoreboard, demo): the libraries' deprecation and experimental-API notices name nothing a
user can act on, and repeat after every replayed day. `make test` still shows them (pytest runs
with DeprecationWarnings on), so an upgrade that needs them is still seen there."""

from __future__ import annotations

import logging
import os
import warnings

# (message start, category) of third-party notices, each measured on `make dev`'s bootstrap
NOTICES = (
    ("", DeprecationWarning),  # ibis' fetch_arrow_table() after every DuckDB read, SQLAlchemy's noload
    ("On demand feature view is an experimental feature", RuntimeWarning),  # Feast, at every apply
    ("Hint: Inferred schema contains integer column", UserWarning),  # MLflow's log_model
    ("The specified dataset source can be interpreted in multiple ways", UserWarning),  # MLflow's log_input
)
# loggers whose lines at these levels are noise in a person's run: Feast warns that a source's
# files do not exist yet when the repo is applied before the lake fills; MLflow announces its
# table migrations; NannyML warns at every fit that a threshold was clipped to its metric's range
# (measured on `make dev` once core/logs.py gave the root logger a handler: 20 lines a fit)
LOGGERS = {
    "feast.infra.offline_stores.file_source": logging.ERROR,
    "mlflow.store.db.utils": logging.WARNING,
    "nannyml": logging.ERROR,
}


def quiet_libraries() -> None:
    # Feast puts "once" filters for deprecations in front of the list when its modules are
    # imported (feature_view.py and others): import them first, so these filters go in front of
    # theirs (measured: filters set before those imports were overridden)
    import feast  # noqa: F401

    # MLflow draws a "Downloading artifacts" progress bar at every model load (its own switch, read
    # at each download); importing NannyML turns it off, so a replay drew it until its first
    # monitoring step (measured on `make dev`)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    for message, category in NOTICES:
        warnings.filterwarnings("ignore", message=message, category=category)
    for name, level in LOGGERS.items():
        logging.getLogger(name).setLevel(level)
