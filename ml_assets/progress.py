"""Progress of the long commands a person runs (bootstrap, replay, scoreboard): one bar of days
done of the total, with the elapsed and remaining time (tqdm's), and notable events (a retrain
fired, a promotion) printed as lines above it. Without a terminal (a log file, CI) the bar is
off and only the events are printed."""

from __future__ import annotations

import sys


class DayProgress:
    def __init__(self, total: int, label: str):
        from tqdm import tqdm

        self.bar = tqdm(
            total=total,
            desc=label,
            unit="day",
            disable=not sys.stderr.isatty(),
            bar_format="{desc}: {n_fmt}/{total_fmt} days |{bar}| {elapsed} elapsed, {remaining} left "
            "{postfix}",
            dynamic_ncols=True,
        )

    def advance(self, day: str | None = None) -> None:
        if day is not None:
            self.bar.set_postfix_str(day, refresh=False)
        self.bar.update(1)

    def event(self, line: str) -> None:
        """A line above the bar (printed as is when the bar is off)."""
        self.bar.write(line)

    def close(self) -> None:
        self.bar.close()
