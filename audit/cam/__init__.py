"""CAM engine: method name -> maps for a batch of images, on one compiled core; a panel of methods
from one shared pass; the lead method chosen from the architecture (:mod:`audit.cam.lead`)."""

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
from audit.cam.lead import head_kind, lead_method
from audit.cam.occlusion import occlusion_batch, occlusion_geometry
from audit.cam.saliency import gradient_batch, smoothgrad_batch
from audit.cam.scorecam import scorecam_batch
from audit.cam.xgradcam import xgradcam_map

__all__ = [
    "ALL_METHODS",
    "METHODS",
    "MULTIPASS_METHODS",
    "PIXEL_METHODS",
    "TITLES",
    "CamEngine",
    "CamResult",
    "cam_options",
    "compute_cams",
    "compute_panel",
    "resolve_method",
]

# Name -> map from (activations, gradients) of one batch; all share one compiled pass.
METHODS = {
    "gradcam": gradcam_map,
    "gradcam_pp": gradcam_pp_map,
    "xgradcam": xgradcam_map,
    "hirescam": hirescam_map,
    "layercam": layercam_map,
    "eigencam": eigencam_map,
}
# Methods that need more than one pass: (engine, x, targets, start) -> (maps at their own grid, targets).
MULTIPASS_METHODS = {"scorecam": scorecam_batch, "occlusion": occlusion_batch}
# Pixel-level baselines: (engine, x, targets, start) -> (maps at image resolution, targets).
PIXEL_METHODS = {"gradient": gradient_batch, "smoothgrad": smoothgrad_batch}
ALL_METHODS: tuple[str, ...] = (*METHODS, *MULTIPASS_METHODS, *PIXEL_METHODS)
TITLES = {
    "gradcam": "Grad-CAM", "gradcam_pp": "Grad-CAM++", "xgradcam": "XGrad-CAM", "hirescam": "HiResCAM",
    "layercam": "LayerCAM", "eigencam": "Eigen-CAM", "scorecam": "Score-CAM", "occlusion": "occlusion",
    "gradient": "vanilla gradient", "smoothgrad": "SmoothGrad",
}  # fmt: skip


def cam_options(cam, seed: int) -> dict:
    """The keyword arguments of :func:`compute_cams` that come from a ``[cam]`` section (one place)."""
    return {
        "smoothgrad_samples": cam.smoothgrad_samples,
        "smoothgrad_sigma": cam.smoothgrad_sigma,
        "seed": seed,
        "scorecam_channels": cam.scorecam_channels,
        "occlusion_patch": cam.occlusion_patch,
        "occlusion_stride": cam.occlusion_stride,
    }


def resolve_method(method: str, engine: CamEngine) -> tuple[str, str]:
    """(method, why): ``"auto"`` becomes the lead method for the model's head (:mod:`audit.cam.lead`)."""
    if method != "auto":
        return method, f"{TITLES[method]} is set in the experiment (cam.method)"
    return lead_method(head_kind(engine.model, engine.path))


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
    occlusion_patch: int = 0,
    occlusion_stride: int = 0,
    out=None,
) -> CamResult:
    """Maps of ``method`` for ``images`` (N, H, W, C); ``targets`` None = predicted class.

    ``images`` and ``out`` as in :meth:`CamEngine.run`: batches are read one at a time and
    maps can be written straight into a memory-mapped file.
    """
    if method not in ALL_METHODS:
        raise ValueError(f"unknown CAM method {method!r}; available: {', '.join(ALL_METHODS)}")
    engine = engine or CamEngine(model, layer)
    if method in METHODS:
        return engine.run(method, _layer_batch(METHODS[method]), images, targets, batch_size, show_progress, out=out)
    if method == "scorecam":
        batch = functools.partial(scorecam_batch, channels=scorecam_channels, chunk=batch_size)
        return engine.run(method, batch, images, targets, batch_size, show_progress, out=out)
    if method == "occlusion":
        patch, stride, grid = occlusion_geometry(tuple(model.inputs[0].shape[1:3]), occlusion_patch, occlusion_stride)
        batch = functools.partial(occlusion_batch, patch=patch, stride=stride)
        return engine.run(method, batch, images, targets, batch_size, show_progress, out=out, grid=grid)
    batch = PIXEL_METHODS[method]
    if method == "smoothgrad":
        batch = functools.partial(batch, samples=smoothgrad_samples, sigma=smoothgrad_sigma, seed=seed)
    return engine.run(method, batch, images, targets, batch_size, show_progress, pixel_level=True, out=out)


def compute_panel(
    model: keras.Model,
    images: np.ndarray,
    methods: tuple[str, ...] | list[str],
    layer: str = "",
    targets: np.ndarray | None = None,
    batch_size: int = 64,
    engine: CamEngine | None = None,
    show_progress: bool = True,
    **options,
) -> dict[str, CamResult]:
    """Maps of several methods for the same images, by method name (in the order given).

    The layer methods (:data:`METHODS`) come from one compiled forward + backward pass per
    batch, each map function applied to the same activations and gradients, so they cost
    about one Grad-CAM pass together; their ``seconds`` is that shared pass's.  Every other
    method runs as :func:`compute_cams` with ``options`` (:func:`cam_options`).  Each result
    equals what :func:`compute_cams` gives for that method alone.
    """
    unknown = [m for m in methods if m not in ALL_METHODS]
    if unknown:
        raise ValueError(f"unknown CAM method {unknown[0]!r}; available: {', '.join(ALL_METHODS)}")
    engine = engine or CamEngine(model, layer)
    shared = [m for m in dict.fromkeys(methods) if m in METHODS]
    results: dict[str, CamResult] = {}
    if shared:

        def batch(engine: CamEngine, x: np.ndarray, t: np.ndarray, start: int):
            a, g, t = engine.activations_and_gradients(x, t)
            return np.stack([METHODS[m](a, g) for m in shared], axis=1), t

        both = engine.run("+".join(shared), batch, images, targets, batch_size, show_progress)
        for k, m in enumerate(shared):
            maps = np.ascontiguousarray(both.maps[:, k])
            empty = ~np.any(maps > 0, axis=(1, 2))
            results[m] = CamResult(maps, both.targets, empty, m, both.layer, both.seconds, both.grid)
    for m in dict.fromkeys(methods):
        if m not in results:
            results[m] = compute_cams(model, images, m, layer, targets, batch_size, engine, show_progress, **options)
    return results
