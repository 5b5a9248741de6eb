"""Maps by method name for a batch of images, on one compiled core (:mod:`audit.cam.core`); a panel of
methods from one shared pass; ``auto`` resolved to the lead method (:mod:`audit.cam.lead`).  Which
methods exist, and how each is called, is :data:`audit.cam.methods.METHODS`."""

from __future__ import annotations

import keras
import numpy as np

from audit.cam.core import CamEngine, CamResult
from audit.cam.geometry import stretch_grid
from audit.cam.lead import head_kind, lead_method
from audit.cam.methods import METHODS, check_names

__all__ = ["cam_options", "compute_cams", "compute_panel", "resolve_method"]


def cam_options(cam, seed: int) -> dict:
    """The keyword arguments of :func:`compute_cams` that come from a ``[cam]`` section (one place)."""
    return {
        "smoothgrad_samples": cam.smoothgrad_samples,
        "smoothgrad_sigma": cam.smoothgrad_sigma,
        "seed": seed,
        "scorecam_channels": cam.scorecam_channels,
        "occlusion_patch": cam.occlusion_patch,
        "occlusion_stride": cam.occlusion_stride,
        "upsample": cam.upsample,
    }


def resolve_method(method: str, engine: CamEngine) -> tuple[str, str]:
    """(method, why): ``"auto"`` becomes the lead method for the model's head (:mod:`audit.cam.lead`)."""
    if method != "auto":
        return method, f"{METHODS[method].title} is set in the experiment (cam.method)"
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
    upsample: str = "receptive_field",
    out=None,
) -> CamResult:
    """Maps of ``method`` for ``images`` (N, H, W, C); ``targets`` None = predicted class.

    ``images`` and ``out`` as in :meth:`CamEngine.run`: batches are read one at a time and
    maps can be written straight into a memory-mapped file.  ``upsample = "stretch"`` places
    layer maps as plain resizing would (:func:`audit.cam.geometry.stretch_grid`) instead of by
    the layers' receptive fields.
    """
    check_names([method], "method")
    engine = engine or CamEngine(model, layer)
    spec = METHODS[method]
    fn = spec.function
    if spec.kind == "layer":
        result = engine.run(method, _layer_batch(fn), images, targets, batch_size, show_progress, out=out)
        return _placed(result, upsample, images)
    given = {
        "batch_size": batch_size,
        "smoothgrad_samples": smoothgrad_samples,
        "smoothgrad_sigma": smoothgrad_sigma,
        "seed": seed,
        "scorecam_channels": scorecam_channels,
        "occlusion_patch": occlusion_patch,
        "occlusion_stride": occlusion_stride,
    }
    kwargs = {arg: given[key] for arg, key in spec.options.items()}
    grid = spec.grid(tuple(model.inputs[0].shape[1:3]), **kwargs) if spec.grid else None

    def batch(engine: CamEngine, x: np.ndarray, t: np.ndarray, start: int):
        return fn(engine, x, t, start, **kwargs)

    result = engine.run(
        method, batch, images, targets, batch_size, show_progress, pixel_level=spec.kind == "pixel", out=out, grid=grid
    )
    return _placed(result, upsample, images)


def _placed(result: CamResult, upsample: str, images) -> CamResult:
    """``result`` with the stretch grid when ``upsample`` asks for it (maps on a layer's grid only)."""
    if upsample == "stretch" and result.layer != "input":
        result.grid = stretch_grid(result.maps.shape[1:], np.shape(images[:1])[1:3])
    elif upsample != "receptive_field" and upsample != "stretch":
        raise ValueError(f"unknown upsample {upsample!r}; available: receptive_field, stretch")
    return result


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

    The layer methods (kind ``layer`` in :data:`audit.cam.methods.METHODS`) come from one
    compiled forward + backward pass per batch, each map function applied to the same
    activations and gradients, so they cost about one Grad-CAM pass together; their
    ``seconds`` is that shared pass's.  Every other method runs as :func:`compute_cams` with
    ``options`` (:func:`cam_options`).  Each result
    equals what :func:`compute_cams` gives for that method alone.
    """
    check_names(methods, "methods")
    engine = engine or CamEngine(model, layer)
    shared = [m for m in dict.fromkeys(methods) if METHODS[m].kind == "layer"]
    functions = [METHODS[m].function for m in shared]
    results: dict[str, CamResult] = {}
    if shared:

        def batch(engine: CamEngine, x: np.ndarray, t: np.ndarray, start: int):
            a, g, t = engine.activations_and_gradients(x, t)
            return np.stack([fn(a, g) for fn in functions], axis=1), t

        both = engine.run("+".join(shared), batch, images, targets, batch_size, show_progress)
        for k, m in enumerate(shared):
            maps = np.ascontiguousarray(both.maps[:, k])
            empty = ~np.any(maps > 0, axis=(1, 2))
            result = CamResult(maps, both.targets, empty, m, both.layer, both.seconds, both.grid)
            results[m] = _placed(result, options.get("upsample", "receptive_field"), images)
    for m in dict.fromkeys(methods):
        if m not in results:
            results[m] = compute_cams(model, images, m, layer, targets, batch_size, engine, show_progress, **options)
    return results
