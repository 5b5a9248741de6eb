"""Pixel-level baselines: vanilla gradient and SmoothGrad, for comparison with the CAMs.

Both are maps at image resolution, ``(N, H, W)`` float32, non-negative.
"""

from __future__ import annotations

import numpy as np

__all__ = ["gradient_batch", "smoothgrad_batch"]


def gradient_batch(engine, x: np.ndarray, targets: np.ndarray, start: int) -> tuple[np.ndarray, np.ndarray]:
    """Vanilla gradient (Simonyan et al. 2014, arXiv:1312.6034): ``max_c |dS/dx_c|`` per pixel."""
    g, t = engine.input_gradients(x, targets)
    return np.abs(g).max(axis=-1), t


def smoothgrad_batch(
    engine, x: np.ndarray, targets: np.ndarray, start: int, samples: int = 16, sigma: float = 0.15, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """SmoothGrad (Smilkov et al. 2017, arXiv:1706.03825): the vanilla-gradient map averaged over
    ``samples`` noisy copies ``x + N(0, (sigma (max x - min x))^2)``, for the class explained on
    the clean image.  Image ``start + i`` draws its noise from its own seeded generator, so maps
    do not depend on the batch size.
    """
    _, t = engine.input_gradients(x, targets)  # fix the explained class on the clean image
    rngs = [np.random.default_rng([seed, start + i]) for i in range(len(x))]
    scale = sigma * (x.max(axis=(1, 2, 3)) - x.min(axis=(1, 2, 3)))
    total = np.zeros(x.shape[:3], np.float64)
    for _ in range(samples):
        noise = np.stack([r.normal(0, 1, x.shape[1:]) for r in rngs]) * scale[:, None, None, None]
        g, _ = engine.input_gradients((x + noise).astype(np.float32), t)
        total += np.abs(g).max(axis=-1)
    return (total / samples).astype(np.float32), t
