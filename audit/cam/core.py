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
    reason: str = ""
    """Why this method (the lead method's choice, :func:`audit.cam.resolve_method`); empty otherwise."""

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
        # Under a tf.distribute strategy with several replicas (audit.compute), each batch is
        # split into one contiguous slice per replica and the results are put back in order.
        self.strategy = tf.distribute.get_strategy()
        forward = logits_function(model, self.path)

        def layer_grads(x, targets):
            with tf.GradientTape() as tape:
                activations, logits = forward(x)
                # A negative target means "the predicted class": decided in the same pass.
                targets = tf.where(targets < 0, tf.argmax(logits, axis=1, output_type=tf.int32), targets)
                # Samples are independent (inference mode), so the gradient of the
                # summed target logits gives every sample its own gradient.
                score = tf.reduce_sum(tf.gather(logits, targets, axis=1, batch_dims=1))
            return activations, tape.gradient(score, activations), targets

        def input_grads(x, targets):
            with tf.GradientTape() as tape:
                tape.watch(x)
                _, logits = forward(x)
                targets = tf.where(targets < 0, tf.argmax(logits, axis=1, output_type=tf.int32), targets)
                score = tf.reduce_sum(tf.gather(logits, targets, axis=1, batch_dims=1))
            return tape.gradient(score, x), targets

        def probabilities(x):
            return (tf.nn.softmax(forward(x)[1]),)

        def logits(x):
            return (forward(x)[1],)

        self._plain = {"layer": layer_grads, "input": input_grads, "proba": probabilities, "logits": logits}
        self._compiled: dict[str, Callable] = {}

    def _call(self, kind: str, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
        """Run the compiled function ``kind`` (built on first use, then reused) on one batch."""
        fn = self._compiled.get(kind)
        replicas = self.strategy.num_replicas_in_sync
        if fn is None:
            plain, strategy = self._plain[kind], self.strategy
            if replicas == 1:
                fn = tf.function(plain, reduce_retracing=True)
            else:
                fn = tf.function(lambda *args: strategy.run(plain, args=args), reduce_retracing=True)
            self._compiled[kind] = fn
        if replicas == 1:
            return tuple(o.numpy() for o in fn(*[tf.convert_to_tensor(a) for a in arrays]))
        bounds = np.linspace(0, len(arrays[0]), replicas + 1).round().astype(int)

        def part(a):
            return lambda ctx: tf.convert_to_tensor(
                a[bounds[ctx.replica_id_in_sync_group] : bounds[ctx.replica_id_in_sync_group + 1]]
            )

        args = [self.strategy.experimental_distribute_values_from_function(part(a)) for a in arrays]
        outs = fn(*args)
        return tuple(np.concatenate([v.numpy() for v in self.strategy.experimental_local_results(o)]) for o in outs)

    def activations_and_gradients(
        self, x: np.ndarray, targets: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A (n, h, w, k), dScore/dA (n, h, w, k) and the explained class (n,) for one batch.

        A target of -1 stands for the predicted class.
        """
        return self._call("layer", np.asarray(x, np.float32), np.asarray(targets, np.int32))

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """Softmax class probabilities (n, K) of the model's logits, compiled on first use."""
        return self._call("proba", np.asarray(x, np.float32))[0]

    def logits(self, x: np.ndarray) -> np.ndarray:
        """Class scores (n, K): the pre-softmax logits, compiled on first use (occlusion)."""
        return self._call("logits", np.asarray(x, np.float32))[0]

    def input_gradients(self, x: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """dScore/dx (n, H, W, C) and the explained class (n,); -1 targets mean the predicted class.

        Compiled on first use (pixel-level methods only), then reused like the layer function.
        """
        return self._call("input", np.asarray(x, np.float32), np.asarray(targets, np.int32))

    def run(
        self,
        method: str,
        batch_fn: Callable[[CamEngine, np.ndarray, np.ndarray, int], tuple[np.ndarray, np.ndarray]],
        images,
        targets: np.ndarray | None = None,
        batch_size: int = 64,
        show_progress: bool = True,
        pixel_level: bool = False,
        out: Callable[[tuple[int, ...]], np.ndarray] | None = None,
        grid: Grid | None = None,
    ) -> CamResult:
        """Maps for ``images`` (N, H, W, C); ``targets`` None means the predicted class.

        ``images`` is anything with ``len`` whose slices are arrays (an array, a memory-mapped
        ``.npy``, :class:`audit.data.dataset.Rows`): only one batch is read at a time.
        ``batch_fn(engine, x, targets, start)`` returns (maps, explained classes) for the batch
        that begins at image ``start``; ``pixel_level`` maps are at image resolution.
        ``out(shape)`` allocates the (N, h, w) float32 array the maps are written into, e.g. a
        memory-mapped file in the cache, so memory grows with the batch, not with N.
        ``grid`` places maps that carry their own geometry (occlusion); None: the layer's grid,
        or the image's pixels for ``pixel_level`` maps.
        """
        n = len(images)
        starts = range(0, n, batch_size)
        maps = None
        used_targets = np.zeros(n, np.int32)
        empty = np.zeros(n, bool)
        t0 = time.perf_counter()
        batches = progress(starts, total=len(starts), desc=f"cam {method}") if show_progress else starts
        for s in batches:
            x = np.asarray(images[s : s + batch_size], np.float32)
            t = np.full(len(x), -1, np.int32) if targets is None else np.asarray(targets[s : s + batch_size], np.int32)
            m, t = batch_fn(self, x, t, s)
            if maps is None:
                shape = (n, *np.shape(m)[1:])
                maps = out(shape) if out is not None else np.empty(shape, np.float32)
            maps[s : s + len(x)] = m
            used_targets[s : s + len(x)] = t
            empty[s : s + len(x)] = ~np.any(np.asarray(m) > 0, axis=tuple(range(1, np.ndim(m))))
        seconds = time.perf_counter() - t0
        return CamResult(
            maps=maps if maps is not None else np.zeros((0, 1, 1), np.float32),
            targets=used_targets,
            empty=empty,
            method=method,
            layer="input" if pixel_level or grid is not None else self.layer_name,
            seconds=seconds,
            grid=grid or (Grid(0.0, 1.0, 0.0, 1.0, exact=True) if pixel_level else self.grid),
        )
