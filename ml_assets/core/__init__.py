"""The domain core: plain Python that knows nothing of Dagster. The Dagster definitions
(``ml_assets.defs``), the CLI and the replay are thin layers over it.

Shared pieces: ``settings``, ``records``, ``lake``, ``warehouse``, ``model_store`` (MLflow)
and ``model``. Stages, in data-flow order, each using only the shared pieces and the stages
before it: ``ingest`` -> ``features`` -> ``training`` -> ``registry`` -> ``scoring`` ->
``monitoring`` -> ``retrain_policy`` (automation)."""
