"""A drift statistic of our own, registered with NannyML's method factory (its extension point
for drift methods): Jensen-Shannon distance over histogram bins whose two outer bins are open.

NannyML's continuous Jensen-Shannon bins a day's values on the reference's edges and puts every
value beyond the reference's range into an extra bin that the reference holds with probability
0. A point mass at the range's end crossing it by one unit then counts as wholly new: the busiest
merchant (8% of transactions) has a 30-day count that exceeds its largest reference value on
about half of all later days, and each such day scored a distance of ~0.3 (the other days ~0.05),
so merchant_txn_count_30d alerted on 14 of the first 16 stable days. With open outer bins a day
beyond the range counts in the reference's first or last bin: a shift of the distribution still
moves mass between bins, and a new extreme is judged by how much mass moved, not that it exists."""

from __future__ import annotations

import numpy as np
from nannyml.drift.univariate.methods import (
    ContinuousJensenShannonDistance,
    FeatureType,
    MethodFactory,
)

OPEN_JENSEN_SHANNON = "jensen_shannon_open"


@MethodFactory.register(key=OPEN_JENSEN_SHANNON, feature_type=FeatureType.CONTINUOUS)
class OpenEndedJensenShannonDistance(ContinuousJensenShannonDistance):
    """Jensen-Shannon distance, the reference's outer bins extended to -inf and +inf."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        # NannyML's results and filters find a method by this name, so it is the registry key
        self.column_name = OPEN_JENSEN_SHANNON
        self.display_name = "Jensen-Shannon distance (open outer bins)"

    def _fit(self, reference_data, timestamps=None):
        super()._fit(reference_data, timestamps)
        # the reference's probabilities are unchanged: its values all lie within the old edges
        self._bins = np.concatenate([[-np.inf], self._bins[1:-1], [np.inf]])
        return self
