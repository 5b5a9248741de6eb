"""Occlusion sensitivity (Zeiler & Fergus 2014, arXiv:1311.2901), gradient-free.

A square patch of ``patch`` pixels, filled with the image's minimum (the dark background of an
MR image), slides over the image with step ``stride``; the map cell of each patch position is
the drop of the explained class score (the pre-softmax logit, as for every method here,
:mod:`audit.cam.core`) caused by hiding that patch:

    M(i, j) = ReLU(S(x) - S(x with patch (i, j) filled)),

positive where hiding the pixels lowers the evidence for the class.  As in MONAI's
``OcclusionSensitivity`` only the model's outputs are used, so nested, non-differentiable or
non-convolutional models have a method too.  Cell (i, j) sits on the image at the patch's
centre, ``((patch - 1) / 2 + stride i, (patch - 1) / 2 + stride j)``: the map carries its own
:class:`audit.cam.geometry.Grid`.  Cost: one forward pass per patch position and image.
"""

from __future__ import annotations

import numpy as np

from audit.cam.geometry import Grid

__all__ = ["occlusion_batch", "occlusion_geometry", "occlusion_grid"]


def occlusion_geometry(size: tuple[int, int], patch: int = 0, stride: int = 0) -> tuple[int, int, Grid]:
    """(patch, stride, grid) for an image of ``size`` (H, W); 0 picks a patch of 1/8 of the
    shorter side (at least 3 px) and a stride of half the patch (at least 1 px)."""
    short = min(size)
    patch = patch or max(3, round(short / 8))
    stride = stride or max(1, patch // 2)
    if patch > short:
        raise ValueError(f"occlusion patch {patch} px is larger than the image ({size[0]}x{size[1]})")
    centre = (patch - 1) / 2
    return patch, stride, Grid(centre, float(stride), centre, float(stride), exact=True)


def occlusion_grid(size: tuple[int, int], patch: int = 0, stride: int = 0) -> Grid:
    """Where the cells of an occlusion map sit on an image of ``size`` (:func:`occlusion_geometry`)."""
    return occlusion_geometry(size, patch, stride)[2]


def _positions(n: int, patch: int, stride: int) -> list[int]:
    return list(range(0, n - patch + 1, stride))


def occlusion_batch(
    engine, x: np.ndarray, targets: np.ndarray, start: int, patch: int = 0, stride: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Occlusion maps (n, rows, cols) for one batch and the explained classes; -1 targets mean the
    predicted class.  ``engine`` is a :class:`audit.cam.CamEngine` (its compiled logits)."""
    patch, stride, _ = occlusion_geometry(x.shape[1:3], patch, stride)
    rows, cols = _positions(x.shape[1], patch, stride), _positions(x.shape[2], patch, stride)
    base = engine.logits(x)
    t = np.where(targets < 0, base.argmax(axis=1), targets).astype(np.int32)
    maps = np.zeros((len(x), len(rows), len(cols)), np.float32)
    for n, img in enumerate(x):
        fill = img.min(axis=(0, 1))
        occluded = np.repeat(img[None], len(rows) * len(cols), axis=0)
        for k, (r, c) in enumerate((r, c) for r in rows for c in cols):
            occluded[k, r : r + patch, c : c + patch] = fill
        scores = np.concatenate([engine.logits(occluded[s : s + 256])[:, t[n]] for s in range(0, len(occluded), 256)])
        maps[n] = np.maximum(base[n, t[n]] - scores, 0).reshape(len(rows), len(cols))
    return maps, t
