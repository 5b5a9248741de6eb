"""LayerCAM (Jiang et al. 2021, IEEE TIP 30:5875)."""

from __future__ import annotations

import numpy as np

__all__ = ["layercam_map"]


def layercam_map(activations: np.ndarray, gradients: np.ndarray) -> np.ndarray:
    """LayerCAM: ``ReLU(sum_k ReLU(G_k) ⊙ A_k)``: only positive gradients, per location."""
    return np.maximum((np.maximum(gradients, 0) * activations).sum(axis=-1), 0).astype(np.float32)
