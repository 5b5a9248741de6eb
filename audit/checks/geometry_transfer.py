"""Geometry transfer: do the decisions move when one class's field of view is given to another's images?

A method-free counterfactual (evidence line ``model_behaviour``) for shortcuts in *where and how large*
the head lies in the image: a scanner's field of view or zoom, letterbox padding that shrinks and
moves the content.  On skull-stripped images, whose background is exactly 0, such a shortcut leaves
no pixel for ``artifact_reliance`` to replace (padding bars equal the background) and no intensity
for ``acquisition_transfer`` to move, yet models take it (measured on Colin27 stripped phantoms:
padding at p = 1, drop 0.90; zoom at p = 1, drop 0.95; docs/real_anatomy.md).

From the test images' region masks (the head: brain, tumor, skull band, brain edge), each image's
head bounding box: centre ``(y, x)`` and size ``(h, w)``.  Every image i of class c is given the box
of a random image j (the donor) of the next class c' = (c + 1) mod K, its content otherwise kept:
scaled by ``(h_j/h_i, w_j/w_i)`` about its own box centre and shifted by ``(y_j - y_i, x_j - x_i)``
(bilinear; pixels brought in from outside the image are 0).  A donor, not the class's median box:
a letterbox squeezes one axis, the rows on some images and the columns on others, so the median box
of a letterboxed class is squeezed a little along both and a round head stayed round under a median
transfer (0.10.8: a model relying on padding at p = 0.9, drop 0.71, lost 0.067 under it; 0.43 in
excess of the control below by donor).  When the classes share their field of view nothing is
transferred (below); a model that reads the anatomy keeps its decisions under a change of scale and
position, one that reads the geometry follows it, towards the other class: its accuracy falls.

A change of scale and position can cost a model that reads only anatomy some accuracy too: the
moved head meets a contrast, noise texture or crop it never saw at that size (a site's field of view
comes with its contrast mix and noise), and resampling blurs.  Measured: two models trained with the
site drawn independently of the class (they cannot read it) lost 0.12 and 0.14 under the transfer on
a test set whose classes come from different sites (docs/mitigations.md).  So the same change is also
made in the opposite direction, as a control: image i scaled by ``(h_i/h_j, w_i/w_j)`` and shifted by
``(y_i - y_j, x_i - x_j)``, as far as the transfer but away from the donor's geometry.  A model hurt by
the change itself loses in both directions (the donor's own pose difference, up to +-17% in scale
between two draws of one class, is in both); one that follows the geometry loses towards the other
class only (away from it, the cue says its own class more strongly).  The test is the paired
difference, accuracy *away* minus accuracy *towards* (the drop in excess of the control), with its
95% interval (:func:`audit.scores.paired_drop` over the images right in one direction and
wrong in the other).  Fails when it exceeds ``max_drop`` (0.1); warns from half of that (the point
estimate).  The plain drop towards the other class is reported beside it.

The test is an accuracy drop, as the benchmark measures reliance, not the share of flipped
predictions: a weak model's borderline decisions flip both ways under any small resampling (on a
quick-benchmark model at balanced accuracy 0.81, 14% flipped while accuracy rose from 0.81 to 0.86),
which is instability, not reliance on the field of view.

When every class's median scale is within ``min_scale_change`` (3%) of the next class's and its
median centre within ``min_shift_px`` (1 px), the classes share their field of view and nothing is
transferred (a pass with no flips): such differences are far inside one class's own pose spread
(the phantoms draw each image's scale from 0.92-1.08), and resampling by a fraction of a pixel
smooths noise, which a model reading the noise level would follow for the wrong reason.  The same
caveat holds above the threshold: the transfer resamples the image, so a noise-reading model may
flip under it too (its decisions then follow an acquisition property, still not the anatomy).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from audit.checks.base import Check, CheckContext, CheckResult, Transfer
from audit.regions import HEAD, REGIONS
from audit.scores import paired_drop

__all__ = ["GeometryTransfer", "head_geometry", "transfer_geometry"]

_HEAD = [REGIONS.index(r) for r in HEAD]


def head_geometry(regions: np.ndarray) -> tuple[float, float, float, float] | None:
    """(centre row, centre column, height, width) of the head's bounding box in ``regions``; None
    without a head."""
    rows, cols = np.nonzero(np.isin(regions, _HEAD))
    if rows.size == 0:
        return None
    r0, r1, c0, c1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    return (r0 + r1) / 2, (c0 + c1) / 2, float(r1 - r0), float(c1 - c0)


def transfer_geometry(
    image: np.ndarray, centre: tuple[float, float], scale: tuple[float, float], shift: tuple[float, float]
) -> np.ndarray:
    """``image`` (H, W, C) scaled by ``scale`` (rows, columns) about ``centre`` and moved by ``shift`` (rows,
    columns, px); bilinear, 0 outside."""
    import cv2

    (cy, cx), (sy, sx), (dy, dx) = centre, scale, shift
    m = np.array([[sx, 0, cx - sx * cx + dx], [0, sy, cy - sy * cy + dy]], np.float32)
    x = np.asarray(image, np.float32)
    h, w = x.shape[:2]
    out = cv2.warpAffine(x, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out.reshape(x.shape)


def _change(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(largest relative size change, centre distance in px) from geometry ``a`` to ``b``."""
    scale = max(abs(b[2] / a[2] - 1), abs(b[3] / a[3] - 1))
    return float(scale), float(np.hypot(b[0] - a[0], b[1] - a[1]))


class GeometryTransfer(Check):
    name = "geometry_transfer"
    title = "Geometry transfer (counterfactual)"
    description = (
        "Gives each image the head position and size of a random image of the next class, its content otherwise "
        "kept, and as far the other way as a control; decisions that follow the field of view lose accuracy "
        "towards the other class only."
    )
    needs = ("masks", "two_classes")
    cost = "low"
    params = {"max_drop": 0.1, "min_scale_change": 0.03, "min_shift_px": 1.0}
    evidence = "model_behaviour"

    def run(self, ctx: CheckContext) -> CheckResult:
        p = {**self.params, **ctx.params}
        frame = Transfer.of(ctx)
        y, target, images, regions = frame.labels, frame.target, frame.images, frame.regions
        present = list(target)
        geometry = [head_geometry(reg) for reg in regions]
        has = np.array([g is not None for g in geometry])
        if not all(np.any(has & (y == c)) for c in present):
            return CheckResult(self.name, "skipped", "a class has no image with a head in its region masks")
        found = [(g, yy) for g, yy in zip(geometry, y, strict=True) if g is not None]
        per_class = {c: np.median([g for g, yy in found if yy == c], axis=0) for c in present}
        change = {c: _change(per_class[c], per_class[target[c]]) for c in present}
        if all(sc < p["min_scale_change"] and sh < p["min_shift_px"] for sc, sh in change.values()):
            largest = max(change.values())
            return CheckResult(
                self.name, "pass",
                f"The classes share their field of view (median head scale within {100 * largest[0]:.1f}%, centre "
                f"within {largest[1]:.1f} px of each other): no geometry to transfer, no prediction can move.",
                metrics={"flip_rate": 0.0, "max_scale_change": largest[0], "max_shift_px": largest[1],
                         "transferred": False},
            )  # fmt: skip
        moved, away = images.copy(), images.copy()
        donors = {c: np.flatnonzero(has & (y == c)) for c in present}
        for i in np.flatnonzero(has):
            (y0, x0, h0, w0), (y1, x1, h1, w1) = geometry[i], geometry[ctx.rng.choice(donors[target[y[i]]])]
            moved[i] = transfer_geometry(images[i], (y0, x0), (h1 / h0, w1 / w0), (y1 - y0, x1 - x0))
            away[i] = transfer_geometry(images[i], (y0, x0), (h0 / h1, w0 / w1), (y0 - y1, x0 - x1))
        base, pred, accuracy = frame.outcome(ctx, moved)
        pred_away = frame.outcome(ctx, away)[1]
        flips = (pred != base) & has
        rows = []
        for c in present:
            (cy, cx, h, w), (ty, tx, th, tw) = per_class[c], per_class[target[c]]
            rows.append({
                "class": ctx.class_names[c], "to the geometry of": ctx.class_names[target[c]],
                "head centre": f"{cy:.1f}, {cx:.1f}", "head size": f"{h:.0f} x {w:.0f}",
                "scale": f"{th / h:.3f}, {tw / w:.3f}", "shift [px]": f"{ty - cy:+.1f}, {tx - cx:+.1f}",
                "images": int(np.sum(y == c)), "accuracy": float(np.mean(base[y == c] == c)),
                "accuracy transferred": float(np.mean(pred[y == c] == c)),
                "accuracy moved away (control)": float(np.mean(pred_away[y == c] == c)),
                "flip rate": float(flips[y == c].mean()),
            })  # fmt: skip
        rate = float(flips[has].mean())
        metrics = {
            "flip_rate": rate,
            **accuracy,
            "accuracy_away": float(np.mean(pred_away == y)),
            "images_without_head": int((~has).sum()),
            "max_scale_change": max(sc for sc, _ in change.values()),
            "max_shift_px": max(sh for _, sh in change.values()),
            "transferred": True,
        }
        drop, low, high = paired_drop(base == y, pred == y)
        excess, e_low, e_high = paired_drop(pred_away == y, pred == y)
        metrics.update(accuracy_drop=drop, accuracy_drop_ci_low=low, accuracy_drop_ci_high=high,
                       excess_drop=excess, excess_drop_ci_low=e_low, excess_drop_ci_high=e_high)  # fmt: skip
        status = "fail" if excess > p["max_drop"] else "warn" if excess > p["max_drop"] / 2 else "pass"
        headline = (
            f"Given the head position and size of images of the next class, accuracy goes from "
            f"{metrics['accuracy']:.2f} to {metrics['accuracy_transferred']:.2f} ({100 * rate:.0f}% of predictions "
            f"flip); moved as far the other way (the control), to {metrics['accuracy_away']:.2f}: a drop of "
            f"{excess:.3f} in excess of the control "
            f"(95% CI {e_low:.3f} to {e_high:.3f}); "
            + ("the decisions follow the field of view." if status == "fail" else "the decisions hold.")
        )
        return CheckResult(
            self.name, status, headline, metrics=metrics, tables={"geometry per class": pd.DataFrame(rows)}
        )
