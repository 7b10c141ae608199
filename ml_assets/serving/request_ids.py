"""Every HTTP request gets an id: the client's ``X-Request-ID`` when it is a short safe token
(a gateway's, so one request is one id end to end), else a new one. It is echoed in the
response's ``X-Request-ID`` and set in the log context (core/logs.py) for every line written
while the request runs, on the event loop or on the thread that scores a batch."""

from __future__ import annotations

import re
import uuid

from ml_assets.core.logs import REQUEST_ID
from ml_assets.serving.events import ID_CHARS

HEADER = b"x-request-id"
SAFE = re.compile(rf"[{ID_CHARS}]{{1,64}}".encode())  # the event id's shape: nothing breaks a line


class RequestIds:
    """ASGI middleware (outermost, so every other layer's lines carry the id)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        sent = next((v for k, v in scope["headers"] if k == HEADER), b"")
        rid = sent.decode() if SAFE.fullmatch(sent) else uuid.uuid4().hex
        token = REQUEST_ID.set(rid)

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (HEADER, rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(token)
