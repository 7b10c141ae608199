"""One logging setup for the service, the CLI and the core: a timestamped line per record (or one
JSON object per line on request), with the request id of the request a line was written for.

The request id lives in a context variable: set once per request by the service (serving/
request_ids.py), it follows the request onto the worker thread that scores a batch (anyio copies
the context) and into every library's records, which a filter stamps with it."""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import sys

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
HANDLER_NAME = "ml-assets"  # the one handler this module owns on the root logger


class RequestIdFilter(logging.Filter):
    """Stamps each record with the current request's id ("-" outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get() or "-"
        return True


class JsonLines(logging.Formatter):
    """A record as one JSON object: time (UTC, ISO 8601), level, logger, message, request id and,
    for an exception, its traceback as text."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure(
    level: str = "INFO", json_lines: bool = False, loggers: tuple[str, ...] = ("ml_assets",)
) -> logging.Handler:
    """Records reach stderr in this module's format: ``loggers`` (this project's, by default)
    from ``level`` up, every other library's from WARNING up. Calling it again replaces its own
    handler and leaves any other (e.g. pytest's) alone."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(HANDLER_NAME)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonLines() if json_lines else logging.Formatter(TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    for name in loggers:
        logging.getLogger(name).setLevel(level.upper())
    return handler
