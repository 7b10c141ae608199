"""Load from Debian's ``wrk`` (C, epoll), so that the client is not what limits the figure:
POST bodies cycled from a list by a Lua script, and the summary read back as JSON from wrk's
``done`` hook (its text report rounds and changes units)."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from pathlib import Path

SCRIPT = """
local bodies = {%s}
local i = 0
request = function()
  i = i %% #bodies + 1
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, bodies[i])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p99_us": %%d, '
    .. '"socket_errors": %%d, "non_2xx": %%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
"""


@dataclasses.dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    failed: int  # socket errors and non-2xx answers

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def available() -> bool:
    return shutil.which("wrk") is not None


def script(bodies: list[dict], path: Path) -> Path:
    """A Lua script posting ``bodies`` in turn (Lua long strings: no escaping of the JSON)."""
    path.write_text(SCRIPT % ", ".join(f"[==[{json.dumps(b)}]==]" for b in bodies))
    return path


def start(url: str, lua: Path, connections: int, seconds: int) -> subprocess.Popen:
    """One wrk thread (its event loop drives every connection; a second would take a core from
    the service on 2 cores), bounded in time; loopback only."""
    assert url.startswith("http://127.0.0.1:"), url
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(lua), url]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def result(process: subprocess.Popen) -> WrkResult:
    out, _ = process.communicate(timeout=120)
    line = next((ln for ln in out.splitlines() if ln.startswith("WRK_JSON ")), None)
    if process.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({process.returncode}): {out[-2000:]}")
    got = json.loads(line.removeprefix("WRK_JSON "))
    return WrkResult(
        got["requests"],
        got["duration_us"] / 1e6,
        got["p50_us"] / 1000,
        got["p99_us"] / 1000,
        got["socket_errors"] + got["non_2xx"],
    )


def run(url: str, lua: Path, connections: int, seconds: int) -> WrkResult:
    return result(start(url, lua, connections, seconds))
