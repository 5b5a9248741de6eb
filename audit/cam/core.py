"""Shared batched core of the gradient CAM methods.

Conventions, in one place:

- A map is computed at the explained layer's resolution, ``(N, h, w)`` float32,
  and upsampled to the image only when scored or drawn.
- Class score = the pre-softmax logit of the target class (:func:`audit.model.logits_function`).
- Grad-CAM family maps are ``ReLU(sum_k w_k A_k)``: only positive evidence.
  Maps are stored unnormalised; scores are scale-free and drawings divide by the max.
- A map that is zero everywhere (no positive evidence) is flagged in ``empty``,
  never turned into NaN by a division.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from audit.cam.geometry import Grid, layer_grid
from audit.model import find_cam_layer, layer_path, logits_function
from audit.progress import progress

__all__ = ["CamEngine", "CamResult"]


@dataclass
class CamResult:
    """Maps for a set of images.

    maps : (N, h, w) float32, non-negative, at the layer's resolution.
    targets : (N,) int, the explained class per image.
    empty : (N,) bool, True where the map is all zero.
    grid : where map cells sit on the image (:mod:`audit.cam.geometry`).
    """

    maps: np.ndarray
    targets: np.ndarray
    empty: np.ndarray
    method: str
    layer: str
    seconds: float
    grid: Grid

    @property
    def images_per_second(self) -> float:
        return len(self.maps) / self.seconds if self.seconds > 0 else float("nan")


class CamEngine:
    """One compiled gradient function per (model, layer), reused across batches.

    The function reads the model's variables when it runs, so assigning new
    weights (as the randomization checks do) needs no rebuild.
    """

    def __init__(self, model: keras.Model, layer: str = ""):
        self.model = model
        self.path = find_cam_layer(model, layer)
        self.layer_name = layer_path(self.path)
        self.grid = layer_grid(model, self.path)
        forward = logits_function(model, self.path)
        self._forward = forward
        self._input_grads = None
        self._probabilities = None

        @tf.function(reduce_retracing=True)
        def _grads(x, targets):
            with tf.GradientTape() as tape:
                activations, logits = forward(x)
                # A negative target means "the predicted class": decided in the same pass.
                targets = tf.where(targets < 0, tf.argmax(logits, axis=1, output_type=tf.int32), targets)
                # Samples are independent (inference mode), so the gradient of the
                # summed target logits gives every sample its own gradient.
                score = tf.reduce_sum(tf.gather(logits, targets, axis=1, batch_dims=1))
            return activations, tape.gradient(score, activations), targets

        self._grads = _grads

    def activations_and_gradients(
        self, x: np.ndarray, targets: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A (n, h, w, k), dScore/dA (n, h, w, k) and the explained class (n,) for one batch.

        A target of -1 stands for the predicted class.
        """
        a, g, t = self._grads(tf.convert_to_tensor(x), tf.convert_to_tensor(targets, tf.int32))
        return a.numpy(), g.numpy(), t.numpy()

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """Softmax class probabilities (n, K) of the model's logits, compiled on first use."""
        if self._probabilities is None:
            forward = self._forward
            self._probabilities = tf.function(lambda x: tf.nn.softmax(forward(x)[1]), reduce_retracing=True)
        return self._probabilities(tf.convert_to_tensor(x)).numpy()

    def input_gradients(self, x: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """dScore/dx (n, H, W, C) and the explained class (n,); -1 targets mean the predicted class.

        Compiled on first use (pixel-level methods only), then reused like the layer function.
        """
        if self._input_grads is None:
            forward = self._forward

            @tf.function(reduce_retracing=True)
            def _input_grads(x, targets):
                with tf.GradientTape() as tape:
                    tape.watch(x)
                    _, logits = forward(x)
                    targets = tf.where(targets < 0, tf.argmax(logits, axis=1, output_type=tf.int32), targets)
                    score = tf.reduce_sum(tf.gather(logits, targets, axis=1, batch_dims=1))
                return tape.gradient(score, x), targets

            self._input_grads = _input_grads
        g, t = self._input_grads(tf.convert_to_tensor(x), tf.convert_to_tensor(targets, tf.int32))
        return g.numpy(), t.numpy()

    def run(
        self,
        method: str,
        batch_fn: Callable[[CamEngine, np.ndarray, np.ndarray, int], tuple[np.ndarray, np.ndarray]],
        images: np.ndarray,
        targets: np.ndarray | None = None,
        batch_size: int = 64,
        show_progress: bool = True,
        pixel_level: bool = False,
    ) -> CamResult:
        """Maps for ``images`` (N, H, W, C); ``targets`` None means the predicted class.

        ``batch_fn(engine, x, targets, start)`` returns (maps, explained classes) for the batch
        that begins at image ``start``; ``pixel_level`` maps are at image resolution.
        """
        n = len(images)
        starts = range(0, n, batch_size)
        maps, used_targets = [], []
        t0 = time.perf_counter()
        batches = progress(starts, total=len(starts), desc=f"cam {method}") if show_progress else starts
        for s in batches:
            x = images[s : s + batch_size]
            t = np.full(len(x), -1, np.int32) if targets is None else np.asarray(targets[s : s + batch_size], np.int32)
            m, t = batch_fn(self, x, t, s)
            maps.append(np.asarray(m, np.float32))
            used_targets.append(t)
        seconds = time.perf_counter() - t0
        out = np.concatenate(maps) if maps else np.zeros((0, 1, 1), np.float32)
        return CamResult(
            maps=out,
            targets=np.concatenate(used_targets) if used_targets else np.zeros(0, np.int32),
            empty=~np.any(out > 0, axis=(1, 2)),
            method=method,
            layer="input" if pixel_level else self.layer_name,
            seconds=seconds,
            grid=Grid(0.0, 1.0, 0.0, 1.0, exact=True) if pixel_level else self.grid,
        )
