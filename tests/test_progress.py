"""The long commands' progress (progress.py): on a terminal, a bar of days done of the total with
elapsed and remaining time, and event lines above it; without one (a log file, CI), the events
alone."""

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios

SCRIPT = """
from ml_assets.progress import DayProgress
p = DayProgress(10, "[replay] stable")
for i in range(3):
    p.advance(f"2026-01-0{i + 1}")
p.event("[replay] 2026-01-03: retrain fired (cbpe) -> v2 promoted")
p.close()
"""


def _run(on_terminal: bool) -> str:
    if not on_terminal:
        done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout + done.stderr
    leader, follower = pty.openpty()
    # a terminal of 24 x 120 (a new pseudo-terminal has no size, and tqdm fits the bar to it)
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT], stdout=follower, stderr=follower)
    os.close(follower)
    out = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    assert proc.wait(timeout=60) == 0, out
    return out.decode()


def test_a_terminal_gets_a_bar_of_days_and_event_lines():
    shown = _run(on_terminal=True)
    assert "[replay] stable: 3/10 days" in shown, shown
    assert "elapsed" in shown and "left" in shown and "2026-01-03" in shown
    assert "retrain fired (cbpe) -> v2 promoted" in shown


def test_without_a_terminal_only_the_events_are_printed():
    shown = _run(on_terminal=False)
    assert shown.strip() == "[replay] 2026-01-03: retrain fired (cbpe) -> v2 promoted", shown
