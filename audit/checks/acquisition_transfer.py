"""Acquisition transfer: do the decisions move when one class's acquisition is given to another's images?

A method-free counterfactual (evidence line ``model_behaviour``) for the shortcuts that live *inside*
the head, which ``artifact_reliance`` cannot remove without removing the anatomy: a scanner's
windowing (gain and offset of the head's intensities) and its noise level.  Per class c, from the
test images and their region masks:

- ``M_c``, ``Q_c``: the mean over the class's images of the median and the interquartile range of
  the head's pixels (brain, tumor, skull band; pixels above 0.02, the dark background excluded);
- ``S_c``: the mean noise level sigma, from the background's median: where the signal is zero a
  magnitude image's Rician noise is Rayleigh-distributed with median ``sigma sqrt(2 ln 2)``
  (Gudbjartsson & Patz 1995; :func:`audit.data.rician.background_noise_sigma`).  Until 0.10.3 the
  background's standard deviation was read instead, which the bright head-edge pixels a label map
  calls background inflate: on the benchmark's MNI152 test images it read 0.058 where the median
  reads 0.026, and 0.129 on letterboxed ones (their squeezed edges; median 0.027), so the check gave
  the other class Rician noise of 0.115 that the data does not have and a padding-free pipeline's
  decisions followed it (9% flips, a warning).

Every image x of class c is given the acquisition of the next class c' = (c + 1) mod K, its
anatomy unchanged: on pixels above 0.02, ``x' = (x - m_x) Q_c'/Q_c + m_x + (M_c' - M_c)`` (m_x the
image's own head median), and, when ``S_c' > S_c``, Rician noise of ``sqrt(S_c'^2 - S_c^2)`` is added
over the whole image, ``x' = sqrt((x + n1)^2 + n2^2)`` (noise can be added, not removed).  When the
classes share their acquisition (the statistics agree), x' is x up to small shifts and a model
that reads anatomy keeps its decisions; one that reads the scanner follows it.  Fails when the flip
rate's 95% Wilson interval lies wholly above ``max_flip_rate``; warns when the rate exceeds half of
it (:func:`audit.checks.flips.flip_status`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from audit.checks.base import Check, CheckContext, CheckResult, Transfer
from audit.checks.flips import flip_status
from audit.data.rician import add_rician_noise, background_noise_sigma
from audit.regions import HEAD, REGIONS

__all__ = ["AcquisitionTransfer", "acquisition_statistics", "transfer_acquisition"]

_HEAD = [REGIONS.index(r) for r in HEAD]
_BACKGROUND = REGIONS.index("background")
_DARK = 0.02


def acquisition_statistics(image: np.ndarray, regions: np.ndarray) -> tuple[float, float, float]:
    """(median, interquartile range) of the head's bright pixels, and the noise sigma from the background
    (:func:`audit.data.rician.background_noise_sigma`; 0 with too few background pixels)."""
    g = np.asarray(image, np.float32).mean(axis=-1)
    head = np.isin(regions, _HEAD) & (g > _DARK)
    values = g[head] if head.any() else g[g > _DARK]
    if values.size == 0:
        return 0.0, 0.0, 0.0
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    sigma = background_noise_sigma(g, regions == _BACKGROUND) or 0.0
    return float(median), float(q3 - q1), sigma


def transfer_acquisition(
    image: np.ndarray, median: float, gain: float, shift: float, noise_sigma: float, rng: np.random.Generator
) -> np.ndarray:
    """``image`` (H, W, C) in [0, 1] with the head's intensities re-windowed around ``median`` (gain, then
    shift, on pixels above 0.02) and Rician noise of ``noise_sigma`` added; clipped to [0, 1]."""
    x = np.array(image, np.float32, copy=True)
    bright = x.mean(axis=-1, keepdims=True) > _DARK
    x = np.clip(np.where(bright, (x - median) * gain + median + shift, x), 0, 1)
    if noise_sigma > 0:
        x = add_rician_noise(x, noise_sigma, rng)
    return np.clip(x, 0, 1)


class AcquisitionTransfer(Check):
    name = "acquisition_transfer"
    title = "Acquisition transfer (counterfactual)"
    description = (
        "Gives each image the intensity windowing and noise level of the next class (class means over the test "
        "set), anatomy unchanged; decisions that follow the acquisition flip."
    )
    needs = ("masks", "two_classes")
    cost = "low"
    params = {"max_flip_rate": 0.1}
    evidence = "model_behaviour"

    def run(self, ctx: CheckContext) -> CheckResult:
        p = {**self.params, **ctx.params}
        frame = Transfer.of(ctx)
        y, target, images, regions = frame.labels, frame.target, frame.images, frame.regions
        present = list(target)
        stats = np.array([acquisition_statistics(img, reg) for img, reg in zip(images, regions, strict=True)])
        per_class = {c: stats[y == c].mean(axis=0) for c in present}
        plan = {}  # class -> (gain, shift, added noise sigma), computed once for the images and the table
        for c in present:
            (m_from, q_from, s_from), (m_to, q_to, s_to) = per_class[c], per_class[target[c]]
            sigma = float(np.sqrt(s_to**2 - s_from**2)) if s_to > s_from else 0.0
            plan[c] = (q_to / q_from if q_from > 0 else 1.0, m_to - m_from, sigma)
        moved = [
            transfer_acquisition(img, median, *plan[label], ctx.rng)
            for img, label, (median, _, _) in zip(images, y, stats, strict=True)
        ]
        base, pred, accuracy = frame.outcome(ctx, np.stack(moved))
        flips = pred != base
        rows = []
        for c in present:
            (m_from, q_from, s_from), (gain, shift, _) = per_class[c], plan[c]
            rows.append({
                "class": ctx.class_names[c], "to the acquisition of": ctx.class_names[target[c]],
                "head median": round(float(m_from), 4), "head IQR": round(float(q_from), 4),
                "noise sigma": round(float(s_from), 4), "gain": round(float(gain), 3),
                "shift": round(float(shift), 4), "images": int(np.sum(y == c)),
                "flip rate": float(flips[y == c].mean()),
            })  # fmt: skip
        status, rate, low, high = flip_status(flips, p["max_flip_rate"])
        metrics = {"flip_rate": rate, "flip_rate_ci_low": low, "flip_rate_ci_high": high, **accuracy}
        worst = max(rows, key=lambda r: r["flip rate"])
        headline = (
            f"{100 * rate:.0f}% (95% CI {100 * low:.0f}-{100 * high:.0f}%) of predictions flip when each class "
            "gets the next class's intensity windowing and "
            f"noise level (most: {worst['class']} images, {100 * worst['flip rate']:.0f}%); "
            + {
                "fail": "the decisions follow the acquisition.",
                "warn": f"more than half the tolerated {100 * p['max_flip_rate']:.0f}%.",
                "pass": "the decisions hold.",
            }[status]
        )
        return CheckResult(
            self.name, status, headline, metrics=metrics, tables={"acquisition per class": pd.DataFrame(rows)}
        )
