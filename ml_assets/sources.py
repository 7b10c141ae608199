"""A problem's data source, as its spec names it (``source:``): what lands the daily export
files that ingest reads. The simulator is card fraud's; a historical import replays one table
(core/problem/history.py)."""

from __future__ import annotations

from ml_assets.core.settings import PROBLEMS_DIR, Settings


def land_days(settings: Settings, days: range, overwrite: bool = False) -> list[str]:
    """Land the export files of ``days`` (day indexes from ``settings.start_date``); returns the
    days written. The simulator skips a day already landed unless ``overwrite``; an import
    rewrites it (the same rows: a day's files are a slice of one table)."""
    from ml_assets.core.problem import problem_spec

    spec = problem_spec(settings)
    if spec.source.kind == "simulator":
        from ml_assets.simulator.landing import simulate_to_landing

        return simulate_to_landing(settings, days, overwrite)
    from ml_assets.core.problem.history import land_history, read_history

    history = read_history(spec, PROBLEMS_DIR / settings.problem)
    # the import counts days from the file's first day, the calendar from start_date
    offset = (settings.start_date - history.first_day).days
    landed = land_history(spec, history, settings.landing_dir, range(days.start + offset, days.stop + offset))
    return [d.isoformat() for d in landed]


def event_days(settings: Settings) -> int | None:
    """Days from ``start_date`` through an import's last event (after it, only labels land, and
    an export with no event is refused by the volume check); None for the simulator, which
    never ends."""
    from ml_assets.core.problem import problem_spec

    spec = problem_spec(settings)
    if spec.source.kind == "simulator":
        return None
    from ml_assets.core.problem.history import read_history

    history = read_history(spec, PROBLEMS_DIR / settings.problem)
    last = history.events[spec.tables[spec.spine.table].timestamp].max().date()
    return (last - settings.start_date).days + 1
