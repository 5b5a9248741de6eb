"""The decision rules of the counterfactual checks: how many flipped predictions (``acquisition_transfer``), or how
much accuracy lost (``artifact_reliance``), out of how many test images, make a failure."""

from __future__ import annotations

import numpy as np

from audit.checks.base import Status
from audit.scores import paired_drop, wilson_interval

__all__ = ["drop_status", "flip_status"]


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


def drop_status(
    right_before: np.ndarray, right_after: np.ndarray, max_drop: float
) -> tuple[Status, float, float, float]:
    """(status, accuracy drop, its 95% interval's low and high) of a counterfactual, from whether each test image
    was classified right before and after it (:func:`audit.scores.paired_drop`).

    The same rule as :func:`flip_status`, on the accuracy the counterfactual costs instead of the decisions it moves:
    ``fail`` only when the interval lies wholly above ``max_drop``; ``warn`` when the drop itself exceeds half of
    ``max_drop``; else ``pass``.  On a test set whose classes differ in the changed pixels, a model that reads them
    loses accuracy when they change; a model that does not, but whose borderline decisions move under any change of
    pixels, flips some right decisions to wrong and as many wrong ones to right (a shortcut-free model of 0.90
    accuracy flipped 8% of its decisions, accuracy 0.900 -> 0.897: docs/mitigations.md).
    """
    drop, low, high = paired_drop(right_before, right_after)
    status: Status = "fail" if low > max_drop else "warn" if drop > max_drop / 2 else "pass"
    return status, drop, low, high
