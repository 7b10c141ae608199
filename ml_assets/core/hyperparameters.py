"""The model's hyperparameters: the training asset's config, and what a problem spec may set."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Hyperparameters(BaseModel):
    """LightGBM hyperparameters (the model asset's config, editable in the launchpad)."""

    n_estimators: int = Field(300, gt=0, description="boosting rounds")
    learning_rate: float = Field(0.05, gt=0, description="shrinkage per round")
    num_leaves: int = Field(31, gt=1, description="leaves per tree")
    min_child_samples: int = Field(50, gt=0, description="rows a leaf needs at least")
    feature_fraction: float = Field(0.8, gt=0, le=1, description="share of features each tree sees")
    scale_pos_weight: float = Field(
        3.0,
        gt=0,
        description="fraud is ~1.5% of rows: weigh positives up, moderately, so scores stay "
        "usable as probabilities (CBPE calibrates on top)",
    )
    seed: int = Field(7, description="random state")
