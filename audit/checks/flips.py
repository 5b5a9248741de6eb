"""The decision rule of the counterfactual checks that count flipped predictions (``artifact_reliance``,
``acquisition_transfer``): how many flips, out of how many test images, make a failure."""

from __future__ import annotations

import numpy as np

from audit.checks.base import Status
from audit.scores import wilson_interval

__all__ = ["flip_status"]


def flip_status(flips: np.ndarray, max_rate: float) -> tuple[Status, float, float, float]:
    """(status, flip rate, its 95% Wilson interval's low and high) of a counterfactual's flipped predictions.

    ``fail`` only when the interval lies wholly above ``max_rate``: the test set shows more flips than
    tolerated, not merely a sample that could come from a model within it (22 flips in 180 images is
    12%, interval 8-18%: a weak model's borderline decisions also flip when untied pixels change);
    ``warn`` when the rate itself exceeds half of ``max_rate``; else ``pass``.
    """
    flips = np.asarray(flips, bool)
    rate = float(flips.mean()) if flips.size else 0.0
    low, high = wilson_interval(int(flips.sum()), int(flips.size))
    status: Status = "fail" if low > max_rate else "warn" if rate > max_rate / 2 else "pass"
    return status, rate, low, high
