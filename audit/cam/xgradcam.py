"""XGrad-CAM (Fu et al. 2020, arXiv:2008.02312)."""

from __future__ import annotations

import numpy as np

__all__ = ["xgradcam_map"]


def xgradcam_map(activations: np.ndarray, gradients: np.ndarray) -> np.ndarray:
    """XGrad-CAM: ``w_k = sum_ij (A_k(i, j) / sum_ab A_k(a, b)) G_k(i, j)``, map = ReLU(sum_k w_k A_k).

    A channel with no activation gets weight 0.  activations, gradients : (N, h, w, K).
    """
    sum_a = activations.sum(axis=(1, 2), keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(sum_a > 1e-12, activations / sum_a, 0.0)
    weights = (share * gradients).sum(axis=(1, 2), keepdims=True)
    return np.maximum((weights * activations).sum(axis=-1), 0).astype(np.float32)
