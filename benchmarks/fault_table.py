"""The fault matrix's figures (data/faults/results.jsonl, written by `make faults`) as the table
in RELIABILITY.md, between its markers; the rest of the page is written by hand."""

from __future__ import annotations

import datetime as dt
import json
import sys

from ml_assets.core.settings import PROJECT_ROOT

RESULTS = PROJECT_ROOT / "data" / "faults" / "results.jsonl"
PAGE = PROJECT_ROOT / "RELIABILITY.md"
BEGIN, END = "<!-- fault-matrix:begin -->", "<!-- fault-matrix:end -->"


def table(rows: list[dict]) -> str:
    lines = [
        "| fault | what the user sees | time to recover (s) | rows lost | rows duplicated | detail |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['fault']} | {r['user_sees']} | {r['seconds_to_recover']:.0f} | {r['rows_lost']} "
            f"| {r['rows_duplicated']} | {r['detail']} |"
        )
    return "\n".join(lines)


def main() -> None:
    if not RESULTS.exists():
        sys.exit(f"no results at {RESULTS}: run `make faults` first")
    # the newest result of each fault (a fault re-run by hand appends)
    newest = {}
    for line in RESULTS.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            newest[row["fault"]] = row
    rows = list(newest.values())
    page = PAGE.read_text()
    if BEGIN not in page or END not in page:
        sys.exit(f"{PAGE} lacks the markers {BEGIN} ... {END}")
    head, rest = page.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    stamp = f"Measured {dt.date.today()} by `make faults` ({len(rows)} faults), 2 cores, test-size world."
    PAGE.write_text(f"{head}{BEGIN}\n{stamp}\n\n{table(rows)}\n{END}{tail}")
    print(f"{PAGE}: {len(rows)} faults")


if __name__ == "__main__":
    main()
