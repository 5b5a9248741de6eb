"""Eigen-CAM (Muhammad & Yeasin 2020, arXiv:2008.00299)."""

from __future__ import annotations

import numpy as np

__all__ = ["eigencam_map"]


def eigencam_map(activations: np.ndarray, gradients: np.ndarray) -> np.ndarray:
    """Eigen-CAM: projection of the activations on their first principal component.

    Per image, the (h w, K) activation matrix is centred over locations and projected on
    its first right singular vector; the sign is chosen so that the projection agrees with
    the mean activation over channels (SVD leaves it arbitrary); then ReLU.  Class-agnostic:
    ``gradients`` are ignored.
    """
    n, h, w, k = activations.shape
    a = activations.reshape(n, h * w, k).astype(np.float64)
    centred = a - a.mean(axis=1, keepdims=True)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)  # batched over images
    proj = np.einsum("npk,nk->np", centred, vt[:, 0])
    agree = np.einsum("np,np->n", proj, a.mean(axis=2) - a.mean(axis=(1, 2))[:, None])
    proj *= np.where(agree < 0, -1.0, 1.0)[:, None]
    proj[~centred.any(axis=(1, 2))] = 0  # no variation over locations: no principal direction
    return np.maximum(proj, 0).reshape(n, h, w).astype(np.float32)
