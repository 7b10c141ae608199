"""Progressive delivery of the challenger, inside the scoring service.

Arms: ``champion`` answers; the ``challenger`` scores in *shadow* (unseen by the client) and,
at canary steps, *answers* for a stable share of customers (a salted hash of the customer
id, so a customer meets one arm for the whole rollout). Both models score the same request
on the same feature vector, so every comparison is paired: one extra predict (~0.1 ms).

The controller lives in the service, not in a Dagster sensor, because its evidence is
per request: it judges a step the moment a window holds enough paired requests (a broken
challenger is out within ``rollout_min_samples`` of its own requests, not at the next sensor
tick minutes later), and an abort changes routing in memory at once, before the registry
write lands. Its state lives in the registry (registry/rollout.py), so the CLI, the MLflow
UI and a restarted service all see the same rollout; a restart resumes at the recorded step
with a fresh window (the evidence of a half-finished window is not kept).

With several replicas (``rollout_shared``), each routes by the registry's step and writes its
paired evidence to one shared table, and the holder of a lease judges all of it (shared.py)."""

from ml_assets.core.rollout.controller import RolloutController
from ml_assets.core.rollout.routing import CANARY_ARM, CHAMPION_ARM, SHADOW_ARM, Routing, bucket
from ml_assets.core.rollout.verdicts import RolloutPolicy, StepVerdict, Window, judge

__all__ = [
    "CANARY_ARM",
    "CHAMPION_ARM",
    "SHADOW_ARM",
    "RolloutController",
    "RolloutPolicy",
    "Routing",
    "StepVerdict",
    "Window",
    "bucket",
    "judge",
]
