"""Grad-CAM++ (Chattopadhyay et al. 2018, arXiv:1710.11063)."""

from __future__ import annotations

import numpy as np

__all__ = ["gradcam_pp_map"]


def gradcam_pp_map(activations: np.ndarray, gradients: np.ndarray) -> np.ndarray:
    """Grad-CAM++ with the exponential-score closed form of the paper's eq. 19:

        alpha_k(i, j) = G^2 / (2 G^2 + sum_ab A_k(a, b) G^3),   0 where G = 0
        w_k = sum_ij alpha_k(i, j) ReLU(G_k(i, j));   map = ReLU(sum_k w_k A_k)

    activations, gradients : (N, h, w, K).  Returns (N, h, w) float32.
    """
    g2, g3 = gradients**2, gradients**3
    sum_a = activations.sum(axis=(1, 2), keepdims=True)
    denom = 2 * g2 + sum_a * g3
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = np.where(np.abs(denom) > 1e-12, g2 / denom, 0.0)
    weights = (alpha * np.maximum(gradients, 0)).sum(axis=(1, 2), keepdims=True)
    return np.maximum((weights * activations).sum(axis=-1), 0).astype(np.float32)
