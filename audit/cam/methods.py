"""The CAM method registry: every method's name, title, kind, function and the options it reads, in one table.

Config validation, the engine (:mod:`audit.cam.maps`), the verdict's wording, the benchmark and
the report all read :data:`METHODS`; a new method is one :class:`CamMethod` row here and the
module with its function.  It imports no TensorFlow (the method modules are numpy), so the
verdict can read it; the configuration does not import it at all, so editing it keys no cache
entry of the stages that do not compute maps (names are checked before anything runs).

Kinds
-----
``layer``
    ``fn(activations, gradients) -> maps (N, h, w)`` from the explained layer's output and its
    gradient; every layer method of a panel shares one compiled forward + backward pass.
``passes``
    ``fn(engine, x, targets, start, **options) -> (maps, targets)``: several passes per image;
    maps on the layer's grid, or on the method's own grid (``grid``, e.g. occlusion's patch centres).
``pixel``
    as ``passes``, maps at image resolution.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Literal

from audit.cam.eigencam import eigencam_map
from audit.cam.gradcam import gradcam_map
from audit.cam.gradcam_pp import gradcam_pp_map
from audit.cam.hirescam import hirescam_map
from audit.cam.layercam import layercam_map
from audit.cam.occlusion import occlusion_batch, occlusion_grid
from audit.cam.saliency import gradient_batch, smoothgrad_batch
from audit.cam.scorecam import scorecam_batch
from audit.cam.xgradcam import xgradcam_map

__all__ = ["METHODS", "NAMES", "CamMethod", "check_names", "title"]


@dataclasses.dataclass(frozen=True)
class CamMethod:
    """One CAM method.

    ``options`` maps the function's keyword arguments to :func:`audit.cam.maps.compute_cams`'s
    (``cam_options``, from the ``[cam]`` section), e.g. ``{"channels": "scorecam_channels"}``;
    ``grid``, for a ``passes`` method with its own geometry, is ``fn(size, **options) -> Grid``;
    ``empty_cause`` says why the method's maps can be empty or weak (the verdict's wording for an
    uninformative method).
    """

    name: str
    title: str
    kind: Literal["layer", "passes", "pixel"]
    function: Callable
    reference: str
    options: dict[str, str] = dataclasses.field(default_factory=dict)
    grid: Callable | None = None
    empty_cause: str = ""


_TABLE = (
    CamMethod(
        "gradcam", "Grad-CAM", "layer", gradcam_map, "Selvaraju et al. 2017, arXiv:1610.02391",
        empty_cause="Grad-CAM weighs each channel by its gradient averaged over positions; through a flatten + "
        "dense head those averages can cancel, and the ReLU then removes what is left as negative evidence",
    ),
    CamMethod(
        "gradcam_pp", "Grad-CAM++", "layer", gradcam_pp_map,
        "Chattopadhyay et al. 2018, arXiv:1710.11063",
        empty_cause="Grad-CAM++ weighs channels by position-averaged positive gradients; through a flatten + dense "
        "head they can vanish, and the ReLU removes the negative rest",
    ),
    CamMethod(
        "xgradcam", "XGrad-CAM", "layer", xgradcam_map, "Fu et al. 2020, arXiv:2008.02312",
        empty_cause="XGrad-CAM's position-averaged channel weights can cancel through a flatten + dense head",
    ),
    CamMethod(
        "hirescam", "HiResCAM", "layer", hirescam_map, "Draelos & Carin 2020, arXiv:2011.08891",
        empty_cause="the ReLU removed negative evidence: at this layer the class score is built from few positive "
        "gradient x activation terms",
    ),
    CamMethod(
        "layercam", "LayerCAM", "layer", layercam_map, "Jiang et al. 2021, IEEE TIP 30:5875",
        empty_cause="few positive gradients meet active units at this layer",
    ),
    CamMethod(
        "eigencam", "Eigen-CAM", "layer", eigencam_map, "Muhammad & Yeasin 2020, arXiv:2008.00299",
        empty_cause="the activations' first principal component is weak or cancels",
    ),
    CamMethod(
        "scorecam", "Score-CAM", "passes", scorecam_batch, "Wang et al. 2020, arXiv:1910.01279",
        options={"channels": "scorecam_channels", "chunk": "batch_size"},
        empty_cause="masking the input with single channels does not raise the class score",
    ),
    CamMethod(
        "occlusion", "occlusion", "passes", occlusion_batch,
        "Zeiler & Fergus 2014, arXiv:1311.2901",
        options={"patch": "occlusion_patch", "stride": "occlusion_stride"},
        grid=occlusion_grid,
        empty_cause="hiding single patches does not lower the class score (redundant evidence or a saturated score)",
    ),
    CamMethod(
        "gradient", "vanilla gradient", "pixel", gradient_batch,
        "Simonyan et al. 2014, arXiv:1312.6034",
        empty_cause="the class score's input gradient is zero (a saturated score)",
    ),
    CamMethod(
        "smoothgrad", "SmoothGrad", "pixel", smoothgrad_batch,
        "Smilkov et al. 2017, arXiv:1706.03825",
        options={"samples": "smoothgrad_samples", "sigma": "smoothgrad_sigma", "seed": "seed"},
        empty_cause="the class score's input gradient is zero (a saturated score)",
    ),
)  # fmt: skip

METHODS: dict[str, CamMethod] = {m.name: m for m in _TABLE}
"""Every CAM method, by name, in the order the docs and the benchmark list them."""

NAMES: tuple[str, ...] = tuple(METHODS)


def check_names(names, where: str, also: tuple[str, ...] = ()) -> None:
    """A one-line ``ValueError`` naming ``where`` (a config key) when a name is not a registered method."""
    unknown = [n for n in names if n not in METHODS and n not in also]
    if unknown:
        raise ValueError(f"{where}: unknown CAM method {unknown[0]!r}; available: {', '.join((*also, *NAMES))}")


def title(name: str) -> str:
    """The method's display title; the name itself for anything not in the registry."""
    return METHODS[name].title if name in METHODS else name
