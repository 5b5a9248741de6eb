"""Grad-CAM (Selvaraju et al. 2017, arXiv:1610.02391)."""

from __future__ import annotations

import numpy as np

__all__ = ["gradcam_map"]


def gradcam_map(activations: np.ndarray, gradients: np.ndarray) -> np.ndarray:
    """Grad-CAM: ``ReLU(sum_k w_k A_k)`` with ``w_k = mean_ij dS/dA_k(i, j)``.

    Parameters
    ----------
    activations, gradients : (N, h, w, K) layer output and gradient of the class score.

    Returns
    -------
    (N, h, w) float32 non-negative maps.
    """
    weights = gradients.mean(axis=(1, 2), keepdims=True)
    return np.maximum((weights * activations).sum(axis=-1), 0).astype(np.float32)
