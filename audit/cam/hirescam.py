"""HiResCAM (Draelos & Carin 2020, arXiv:2011.08891)."""

from __future__ import annotations

import numpy as np

__all__ = ["hirescam_map"]


def hirescam_map(activations: np.ndarray, gradients: np.ndarray) -> np.ndarray:
    """HiResCAM: ``ReLU(sum_k G_k ⊙ A_k)``, the element-wise product instead of averaged gradients.

    For conv -> global average pooling -> dense it equals Grad-CAM.
    """
    return np.maximum((gradients * activations).sum(axis=-1), 0).astype(np.float32)
