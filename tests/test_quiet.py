"""The commands that run the loop for a person print no library noise (issue 24's quiet
terminal, the part measured on `make dev`): Feast's "Could not validate FileSource path" while the
lake is still empty, and deprecation notices; the same process without the filter prints them."""

import subprocess
import sys

SCRIPT = """
import logging, sys, warnings
warnings.simplefilter("default")  # as a run shows them (pytest, Dagster's step processes)
if sys.argv[1] == "quiet":
    from ml_assets.quiet import quiet_libraries
    quiet_libraries()
logging.basicConfig()
warnings.warn("fetch_arrow_table() is deprecated, use to_arrow_table() instead.", DeprecationWarning)
from feast import FileSource
from feast.repo_config import RepoConfig
config = RepoConfig(project="p", registry="{registry}", provider="local", entity_key_serialization_version=3)
FileSource(path="{missing}/date=*/part.parquet", timestamp_field="ts").validate(config)
print("done")
"""


def test_the_people_facing_commands_hide_library_noise(tmp_path):
    script = SCRIPT.format(registry=tmp_path / "registry.db", missing=tmp_path / "lake")

    def run(mode: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", script, mode], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout + done.stderr

    loud, quiet = run("loud"), run("quiet")
    assert "Could not validate FileSource path" in loud and "DeprecationWarning" in loud  # the test has teeth
    assert "Could not validate FileSource path" not in quiet and "DeprecationWarning" not in quiet
    assert quiet.strip() == "done"
