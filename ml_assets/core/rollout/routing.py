"""Which arm answers a request: a salted, stable hash of the spec's hash key (card fraud's
customer) picks the canary; a hash of the event's id picks the requests the other arm also
scores in shadow."""

from __future__ import annotations

import dataclasses
import hashlib

from ml_assets.core.scoring import ServingModel

CHAMPION_ARM, CANARY_ARM, SHADOW_ARM = "champion", "canary", "shadow"


def bucket(key: int | str, salt: str) -> float:
    """A stable number in [0, 1) for ``key`` under ``salt`` (BLAKE2b: uniform, and the same in
    every process and Python version, unlike ``hash``)."""
    digest = hashlib.blake2b(f"{salt}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


@dataclasses.dataclass(frozen=True)
class Routing:
    """Who serves, read once per request (replaced whole, never changed in place)."""

    champion: ServingModel
    challenger: ServingModel | None = None
    share: float = 0.0  # of hash keys (customers) the challenger answers
    shadow_share: float = 0.0  # of requests the challenger also scores unseen
    salt: str = ""
    step: int = 0

    def canary(self, hash_key: int | str) -> bool:
        return self.challenger is not None and bucket(hash_key, self.salt) < self.share

    def shadowed(self, event_id: int | str) -> bool:
        return self.challenger is not None and bucket(event_id, self.salt + ":shadow") < self.shadow_share
