"""The online scoring service: a thin FastAPI layer over ``ml_assets.core.serving``."""
