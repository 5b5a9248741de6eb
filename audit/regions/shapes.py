"""Geometry of binary masks shared by the region estimate and the exact path: distance to the
edge, the head's radius, and the thin band along a skull-stripped brain's edge."""

from __future__ import annotations

import numpy as np

__all__ = ["BRAIN_EDGE_FRACTION", "background_level", "brain_edge", "disk", "edge_distance", "head_radius"]

BRAIN_EDGE_FRACTION = 0.05
"""Width of ``brain_edge`` as a fraction of the head's radius (at least 1 px; 2 px at 96 px)."""


def brain_edge(head: np.ndarray, beyond: np.ndarray | None = None) -> np.ndarray:
    """Pixels of ``head`` (a skull-stripped brain's mask) within ``BRAIN_EDGE_FRACTION`` x its radius
    (at least 1 px) of its edge; the image border and the pixels of ``beyond`` (padding) are not an edge."""
    if not head.any():
        return np.zeros(head.shape, bool)
    beyond = np.zeros(head.shape, bool) if beyond is None else beyond
    width = max(1.0, round(BRAIN_EDGE_FRACTION * head_radius(head, beyond)))
    return head & (edge_distance(head, beyond) <= width)


def disk(diameter: float) -> np.ndarray:
    import cv2

    d = max(3, int(round(diameter)) | 1)  # odd, at least 3
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (d, d))


def background_level(image: np.ndarray, outside: np.ndarray) -> tuple[float, float] | None:
    """(median, robust SD = 1.4826 x the median absolute deviation) of the (H, W) ``image`` over the bool
    ``outside`` (the background: pixels off the head grown by its blurred edge); None where it is empty."""
    if not outside.any():
        return None
    level = float(np.median(image[outside]))
    return level, 1.4826 * float(np.median(np.abs(image[outside] - level)))


def edge_distance(mask: np.ndarray, beyond: np.ndarray | None = None) -> np.ndarray:
    """Euclidean distance of each ``mask`` pixel to the mask's edge; the image border and the
    pixels of ``beyond`` are not an edge (a head cut by them runs on behind them)."""
    import cv2

    inside = mask if beyond is None else mask | beyond
    padded = np.pad(inside, 1, constant_values=True).astype(np.uint8)
    # With no edge at all (a mask filling the image) OpenCV returns a huge distance: cap at the side.
    return np.minimum(cv2.distanceTransform(padded, cv2.DIST_L2, 5)[1:-1, 1:-1], float(max(mask.shape)))


def head_radius(head: np.ndarray, beyond: np.ndarray) -> float:
    """The head's radius: sqrt(area / pi), or, for a head cut by the image border or by ``beyond``
    (more than 3% of its outline lies on them), the geometric-mean semi-axis of an ellipse fitted
    to the rest of its outline, if larger: a zoomed head is bigger than the part in view."""
    import cv2

    r = float(np.sqrt(head.sum() / np.pi))
    contours, _ = cv2.findContours(head.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return r
    pts = max(contours, key=len)[:, 0, :]  # (x, y)
    h, w = head.shape
    near = cv2.dilate(beyond.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    keep = (pts[:, 0] > 1) & (pts[:, 0] < w - 2) & (pts[:, 1] > 1) & (pts[:, 1] < h - 2) & ~near[pts[:, 1], pts[:, 0]]
    if keep.sum() < 20 or keep.mean() > 0.97:
        return r
    (_, _), (major, minor), _ = cv2.fitEllipse(pts[keep].astype(np.float32))
    return max(r, float(np.sqrt(major * minor)) / 2)
