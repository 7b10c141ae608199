"""One logging setup (core/logs.py): this project's lines from the chosen level, the libraries'
from WARNING, text with a time or one JSON object per line, and the request id on every line
written for a request, on the event loop or on the worker thread that scores a batch."""

import json
import logging
import re

import anyio
import anyio.to_thread
import pytest

from ml_assets.core import logs


@pytest.fixture
def restore_logging():
    root, ours = logging.getLogger(), logging.getLogger("ml_assets")
    before = root.level, ours.level, list(root.handlers)
    yield
    for handler in root.handlers:
        if handler not in before[2]:
            root.removeHandler(handler)
    root.setLevel(before[0])
    ours.setLevel(before[1])


def test_json_lines_carry_the_request_id_onto_the_batch_thread(capsys, restore_logging):
    logs.configure("INFO", json_lines=True)
    ours, library = logging.getLogger("ml_assets.serving.any"), logging.getLogger("some_library")

    async def request():
        token = logs.REQUEST_ID.set("req-1")
        try:
            ours.info("on the loop")
            await anyio.to_thread.run_sync(lambda: ours.info("on the batch thread"))
        finally:
            logs.REQUEST_ID.reset(token)

    anyio.run(request)
    ours.info("outside any request")
    library.info("a library's chatter")
    library.warning("a library's warning")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(r["message"], r["request_id"]) for r in lines] == [
        ("on the loop", "req-1"),
        ("on the batch thread", "req-1"),
        ("outside any request", "-"),
        ("a library's warning", "-"),
    ]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", r["time"]) for r in lines)
    assert {r["level"] for r in lines} == {"INFO", "WARNING"}


def test_text_lines_have_a_time_a_level_and_an_exception_whole(capsys, restore_logging):
    logs.configure("WARNING")
    logs.configure("WARNING")  # configured twice: still one line per record
    log = logging.getLogger("ml_assets.core.any")
    log.info("below the level")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("the registry move failed")
    err = capsys.readouterr().err
    assert "below the level" not in err
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"
    assert re.match(stamp + r" ERROR ml_assets\.core\.any \[-\] the registry move failed\n", err), err
    assert err.count("the registry move failed") == 1 and "ValueError: boom" in err
