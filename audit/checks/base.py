"""The plugin contract of a sanity check."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd

__all__ = ["STATUSES", "Check", "CheckContext", "CheckResult"]

STATUSES = ("pass", "warn", "fail", "skipped", "error")
Status = Literal["pass", "warn", "fail", "skipped", "error"]


@dataclass
class CheckResult:
    """What a check reports: rendered in the report without template changes.

    metrics is a flat dict of numbers/strings; tables are DataFrames by title;
    figures are PNG bytes by title; details holds e.g. a traceback for ``error``.
    """

    name: str
    status: Status
    headline: str
    metrics: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: dict[str, bytes] = field(default_factory=dict)
    details: str = ""
    weighs_on_verdict: bool = False
    seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"check {self.name!r}: status must be one of {', '.join(STATUSES)}, got {self.status!r}")


@dataclass
class CheckContext:
    """Everything a check may use.

    images : (N, H, W, C) test images; labels : (N,); regions : (N, H, W) region indices;
    proba : (N, K) predicted probabilities; cams : the audit's CamResult for these images;
    cam_engine : a CamEngine for extra maps; per_image : the scores table; params : the
    check's validated parameters; rng : a Generator seeded from the experiment seed.
    """

    images: np.ndarray
    labels: np.ndarray
    regions: np.ndarray | None
    class_names: tuple[str, ...]
    model: Any
    proba: np.ndarray
    cams: Any
    cam_engine: Any
    per_image: pd.DataFrame
    config: Any
    params: dict[str, Any]
    rng: np.random.Generator
    meta: pd.DataFrame | None = None
    """Dataset metadata of the test images (site, contrast, ...), one row per image."""
    retrain: Any = None
    """``retrain(seed, permute_labels=False) -> model``: the configured architecture trained again
    on the training split with the experiment's budget (labels permuted when asked); None when
    the audited model was loaded from a file and cannot be retrained."""

    def compute_maps(self, images: np.ndarray, targets: np.ndarray | None = None, method: str | None = None):
        """Maps for ``images`` through the shared engine (no rebuild; live weights), with the
        experiment's CAM settings; ``method`` None = the audit's method.  Returns a CamResult."""
        from audit.cam import compute_cams

        cam = self.config.cam
        return compute_cams(
            self.model, images, method or cam.method, targets=targets, batch_size=cam.batch_size,
            engine=self.cam_engine, show_progress=False, smoothgrad_samples=cam.smoothgrad_samples,
            smoothgrad_sigma=cam.smoothgrad_sigma, seed=self.config.experiment.seed,
            scorecam_channels=cam.scorecam_channels,
        )  # fmt: skip

    def upsampled(self, maps: np.ndarray, grid) -> np.ndarray:
        """(N, H, W): maps (N, h, w) placed on the test images' pixel grid by ``grid``
        (a CamResult's ``grid``; :func:`audit.scores.upsample_map`)."""
        from audit.scores import upsample_map

        shape = tuple(self.images.shape[1:3])
        return np.stack([upsample_map(m, shape, grid) for m in np.asarray(maps)])


class Check:
    """Base class of a sanity check plugin.

    A subclass sets ``name`` (snake_case, equal to its entry-point name), ``title``,
    ``description``, ``needs`` (e.g. ``("masks",)``), ``cost`` and ``params``
    (name -> default; the default's type is the parameter's type), and implements
    :meth:`run`.
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    description: ClassVar[str] = ""
    needs: ClassVar[tuple[str, ...]] = ()
    cost: ClassVar[str] = "low"
    params: ClassVar[dict[str, Any]] = {}
    weighs_on_verdict: ClassVar[bool] = False

    def run(self, ctx: CheckContext) -> CheckResult:  # pragma: no cover - abstract
        raise NotImplementedError
