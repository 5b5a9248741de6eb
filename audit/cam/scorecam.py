"""Score-CAM (Wang et al. 2020, arXiv:1910.01279), batched over channel masks."""

from __future__ import annotations

import numpy as np

__all__ = ["scorecam_batch"]


def scorecam_batch(
    engine, x: np.ndarray, targets: np.ndarray, start: int, channels: int = 32, chunk: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """Score-CAM: each channel's activation, placed on the image by the layer's grid and
    min-max scaled to [0, 1], masks the input; the target class's softmax score on the masked
    input, softmax-normalised over channels, weights the channel: ``map = ReLU(sum_k w_k A_k)``.

    Only the ``channels`` channels with the largest mean activation per image are scored (the
    cap keeps the cost at ``channels`` forward passes per image); the masked inputs of a batch
    go through the model ``chunk`` at a time.
    """
    from audit.cam.geometry import upsample_map

    a, _, t = engine.activations_and_gradients(x, targets)
    n, h, w, k = a.shape
    top = np.argsort(-a.mean(axis=(1, 2)), axis=1, kind="stable")[:, : min(channels, k)]  # (n, c)
    masked, owner = [], []
    for i in range(n):
        for ch in top[i]:
            m = upsample_map(a[i, :, :, ch], x.shape[1:3], engine.grid)
            lo, hi = float(m.min()), float(m.max())
            m = (m - lo) / (hi - lo) if hi > lo else np.zeros_like(m)
            masked.append(x[i] * m[..., None])
            owner.append(i)
    masked = np.stack(masked).astype(np.float32)
    owner = np.asarray(owner)
    scores = np.concatenate([engine.probabilities(masked[s : s + chunk]) for s in range(0, len(masked), chunk)])
    target_scores = scores[np.arange(len(owner)), t[owner]].reshape(n, -1)  # (n, c)
    weights = np.exp(target_scores - target_scores.max(axis=1, keepdims=True))
    weights /= weights.sum(axis=1, keepdims=True)
    chosen = np.take_along_axis(a, top[:, None, None, :], axis=3)  # (n, h, w, c)
    return np.maximum((chosen * weights[:, None, None, :]).sum(axis=-1), 0).astype(np.float32), t
