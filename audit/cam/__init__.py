"""CAM engine: method name -> maps for a batch of images, on one compiled core."""

from __future__ import annotations

import keras
import numpy as np

from audit.cam.core import CamEngine, CamResult
from audit.cam.eigencam import eigencam_map
from audit.cam.gradcam import gradcam_map
from audit.cam.gradcam_pp import gradcam_pp_map
from audit.cam.hirescam import hirescam_map
from audit.cam.layercam import layercam_map
from audit.cam.xgradcam import xgradcam_map

__all__ = ["METHODS", "TITLES", "CamEngine", "CamResult", "compute_cams"]

# Name -> map from (activations, gradients) of one batch; all share one compiled pass.
METHODS = {
    "gradcam": gradcam_map,
    "gradcam_pp": gradcam_pp_map,
    "xgradcam": xgradcam_map,
    "hirescam": hirescam_map,
    "layercam": layercam_map,
    "eigencam": eigencam_map,
}
TITLES = {
    "gradcam": "Grad-CAM", "gradcam_pp": "Grad-CAM++", "xgradcam": "XGrad-CAM",
    "hirescam": "HiResCAM", "layercam": "LayerCAM", "eigencam": "Eigen-CAM",
}  # fmt: skip


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
