"""CAM engine: method name -> maps for a batch of images, on one compiled core."""

from __future__ import annotations

import keras
import numpy as np

from audit.cam.core import CamEngine, CamResult
from audit.cam.gradcam import gradcam_map

__all__ = ["METHODS", "CamEngine", "CamResult", "compute_cams"]

METHODS = {"gradcam": gradcam_map}


def compute_cams(
    model: keras.Model,
    images: np.ndarray,
    method: str = "gradcam",
    layer: str = "",
    targets: np.ndarray | None = None,
    batch_size: int = 64,
    engine: CamEngine | None = None,
    show_progress: bool = True,
) -> CamResult:
    """Maps of ``method`` for ``images`` (N, H, W, C); ``targets`` None = predicted class."""
    if method not in METHODS:
        raise ValueError(f"unknown CAM method {method!r}; available: {', '.join(METHODS)}")
    engine = engine or CamEngine(model, layer)
    return engine.run(method, METHODS[method], images, targets, batch_size, show_progress)
