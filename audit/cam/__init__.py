"""CAM engine: method name -> maps for a batch of images, on one compiled core."""

from __future__ import annotations

import functools

import keras
import numpy as np

from audit.cam.core import CamEngine, CamResult
from audit.cam.eigencam import eigencam_map
from audit.cam.gradcam import gradcam_map
from audit.cam.gradcam_pp import gradcam_pp_map
from audit.cam.hirescam import hirescam_map
from audit.cam.layercam import layercam_map
from audit.cam.saliency import gradient_batch, smoothgrad_batch
from audit.cam.scorecam import scorecam_batch
from audit.cam.xgradcam import xgradcam_map

__all__ = ["METHODS", "MULTIPASS_METHODS", "PIXEL_METHODS", "TITLES", "CamEngine", "CamResult", "compute_cams"]

# Name -> map from (activations, gradients) of one batch; all share one compiled pass.
METHODS = {
    "gradcam": gradcam_map,
    "gradcam_pp": gradcam_pp_map,
    "xgradcam": xgradcam_map,
    "hirescam": hirescam_map,
    "layercam": layercam_map,
    "eigencam": eigencam_map,
}
# Methods that need more than one pass: (engine, x, targets, start) -> (maps at layer resolution, targets).
MULTIPASS_METHODS = {"scorecam": scorecam_batch}
# Pixel-level baselines: (engine, x, targets, start) -> (maps at image resolution, targets).
PIXEL_METHODS = {"gradient": gradient_batch, "smoothgrad": smoothgrad_batch}
TITLES = {
    "gradcam": "Grad-CAM", "gradcam_pp": "Grad-CAM++", "xgradcam": "XGrad-CAM", "hirescam": "HiResCAM",
    "layercam": "LayerCAM", "eigencam": "Eigen-CAM", "scorecam": "Score-CAM",
    "gradient": "vanilla gradient", "smoothgrad": "SmoothGrad",
}  # fmt: skip


def _layer_batch(map_fn):
    def batch(engine: CamEngine, x: np.ndarray, targets: np.ndarray, start: int):
        a, g, t = engine.activations_and_gradients(x, targets)
        return map_fn(a, g), t

    return batch


def compute_cams(
    model: keras.Model,
    images: np.ndarray,
    method: str = "gradcam",
    layer: str = "",
    targets: np.ndarray | None = None,
    batch_size: int = 64,
    engine: CamEngine | None = None,
    show_progress: bool = True,
    smoothgrad_samples: int = 16,
    smoothgrad_sigma: float = 0.15,
    seed: int = 0,
    scorecam_channels: int = 32,
    out=None,
) -> CamResult:
    """Maps of ``method`` for ``images`` (N, H, W, C); ``targets`` None = predicted class.

    ``images`` and ``out`` as in :meth:`CamEngine.run`: batches are read one at a time and
    maps can be written straight into a memory-mapped file.
    """
    if method not in METHODS and method not in MULTIPASS_METHODS and method not in PIXEL_METHODS:
        available = ", ".join([*METHODS, *MULTIPASS_METHODS, *PIXEL_METHODS])
        raise ValueError(f"unknown CAM method {method!r}; available: {available}")
    engine = engine or CamEngine(model, layer)
    if method in METHODS:
        return engine.run(method, _layer_batch(METHODS[method]), images, targets, batch_size, show_progress, out=out)
    if method == "scorecam":
        batch = functools.partial(scorecam_batch, channels=scorecam_channels, chunk=batch_size)
        return engine.run(method, batch, images, targets, batch_size, show_progress, out=out)
    batch = PIXEL_METHODS[method]
    if method == "smoothgrad":
        batch = functools.partial(batch, samples=smoothgrad_samples, sigma=smoothgrad_sigma, seed=seed)
    return engine.run(method, batch, images, targets, batch_size, show_progress, pixel_level=True, out=out)
