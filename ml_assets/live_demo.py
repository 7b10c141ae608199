"""``ml-assets demo``: the loop live under the Dagster daemon. ``dg dev`` runs with
every sensor on (``live_automation``) while the simulated world's clock lands a day every
few seconds, drifting after a few days, so the UI shows days arriving, monitoring, the
retrain sensor's trigger and the retrain, and realized performance as labels land."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ml_assets.core.settings import PROJECT_ROOT, Settings
from ml_assets.simulator.clock import next_day_index, run_clock


def demo_environment(settings: Settings, scenario: str, drift_start_day: int) -> dict[str, str]:
    return {
        "ML_ASSETS_LIVE_AUTOMATION": "true",
        # no scoring service runs here to roll a winner out: it becomes champion at once
        "ML_ASSETS_PROMOTION_PATH": "direct",
        "ML_ASSETS_SCENARIO": scenario,
        "ML_ASSETS_DRIFT_START_DAY": str(drift_start_day),
        "ML_ASSETS_SENSOR_INTERVAL_SECONDS": str(min(settings.sensor_interval_seconds, 10)),
    }


def live_demo(
    settings: Settings, every_seconds: float, days: int, scenario: str, drift_after: int, port: int
) -> None:
    first = next_day_index(settings)
    env = demo_environment(settings, scenario, first + drift_after)
    world = settings.model_copy(update={"scenario": scenario, "drift_start_day": first + drift_after})
    print(
        f"[demo] Dagster UI on http://127.0.0.1:{port}: a day lands every {every_seconds:g} s "
        f"from day {first} "
        f"({settings.day(first)}), {scenario} from day {first + drift_after}; Ctrl-C stops both",
        flush=True,
    )
    ui = subprocess.Popen(
        # Dagster's dg CLI, which reads the code location from pyproject.toml's [tool.dg]
        [str(Path(sys.executable).with_name("dg")), "dev", "-h", "127.0.0.1", "-p", str(port)],
        cwd=PROJECT_ROOT,
        env={**os.environ, **env, "VIRTUAL_ENV": str(Path(sys.executable).parent.parent)},
    )
    try:
        run_clock(world, every_seconds, days, log=lambda line: print(line, flush=True))
        print("[demo] the clock stopped; the UI keeps running until Ctrl-C", flush=True)
        ui.wait()
    except KeyboardInterrupt:
        pass
    finally:
        ui.terminate()
        try:
            ui.wait(timeout=30)
        except subprocess.TimeoutExpired:
            ui.kill()
