"""The plugin contract of a sanity check."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd

__all__ = ["EVIDENCE_LINES", "STATUSES", "Check", "CheckContext", "CheckResult", "Transfer", "next_classes"]

STATUSES = ("pass", "warn", "fail", "skipped", "error")
Status = Literal["pass", "warn", "fail", "skipped", "error"]

EVIDENCE_LINES: dict[str, str] = {
    "model_behaviour": "what the model's decisions do when pixels change (method-free counterfactuals); "
    "a failure makes the verdict artifact whatever the maps show",
    "attention": "where the maps of the CAM panel put their energy",
    "localisation": "whether the maps find the tumor, where tumor masks exist",
    "dataset": "risks in the data (shortcuts on offer, duplicates and leaks, subgroup gaps): findings about the "
    "data, which make the verdict artifact only with evidence that the model uses them",
    "explanation_trust": "how far the maps can be believed (randomization, faithfulness, stability): weighs the "
    "attention line, never vetoes the verdict",
    "other": "reported, not read by the verdict's rules",
}
"""The verdict's evidence lines (:mod:`audit.verdict`); a check declares which one it feeds (``Check.evidence``)."""


@dataclass
class CheckResult:
    """What a check reports: rendered in the report without template changes.

    Build it as ``CheckResult(status="pass", headline="...", metrics={...})``; the runner
    (:func:`audit.checks.registry.run_check`) sets ``name`` from the check, so a check need not
    repeat it (the positional ``CheckResult(name, status, headline)`` of earlier releases still works).
    metrics is a flat dict of numbers/strings; tables are DataFrames by title;
    figures are PNG bytes by title; details holds e.g. a traceback for ``error``.
    """

    name: str = ""
    status: Status | None = None
    headline: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: dict[str, bytes] = field(default_factory=dict)
    details: str = ""
    evidence: str = "other"
    """The evidence line the result feeds (:data:`EVIDENCE_LINES`); set from ``Check.evidence`` by the runner."""
    seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.status is None:
            raise ValueError(f"check {self.name!r}: CheckResult needs a status ({', '.join(STATUSES)})")
        if self.status not in STATUSES and self.name in STATUSES:
            raise ValueError(
                f"CheckResult({self.name!r}, {self.status!r}, ...): status and headline go by keyword, "
                "CheckResult(status=..., headline=...), or after the check's name"
            )
        if self.status not in STATUSES:
            raise ValueError(f"check {self.name!r}: status must be one of {', '.join(STATUSES)}, got {self.status!r}")
        if self.evidence not in EVIDENCE_LINES:
            raise ValueError(f"check {self.name!r}: evidence must be one of {', '.join(EVIDENCE_LINES)}")

    def record(self) -> dict[str, Any]:
        """Every field but ``tables`` and ``figures``, as plain values: the result as results.json,
        the cache and the verdict keep it (:data:`audit.results.CHECK`)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("tables", "figures")}


@dataclass
class CheckContext:
    """Everything a check may use.

    images : (N, H, W, C) test images; labels : (N,); regions : (N, H, W) region indices;
    proba : (N, K) predicted probabilities; cams : the audit's CamResult for these images;
    cam_engine : a CamEngine for extra maps; per_image : the scores table; params : the
    check's validated parameters; rng : a Generator seeded from the experiment seed.
    Helpers: :meth:`compute_maps` (extra maps with the experiment's CAM settings),
    :meth:`upsampled`, :meth:`sample` (a seeded sample of test images) and :meth:`figure_png`.
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

    def compute_maps(
        self, images: np.ndarray, targets: np.ndarray | None = None, method: str | None = None, model: Any = None
    ):
        """Maps for ``images`` with the experiment's CAM settings; ``method`` None = the audit's
        lead method (``cams.method``).  Through the shared engine (no rebuild; live weights), or,
        with ``model``, through a new engine for that model.  Returns a CamResult."""
        from audit.cam.maps import cam_options, compute_cams

        cam = self.config.cam
        return compute_cams(
            model or self.model, images, method or self.cams.method, cam.layer, targets, cam.batch_size,
            engine=None if model is not None else self.cam_engine, show_progress=False,
            **cam_options(cam, self.config.experiment.seed),
        )  # fmt: skip

    def sample(self, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``size`` test images drawn without replacement with ``rng`` (all when there are fewer),
        in index order: (indices, images as float32, the audit's CAM targets for them)."""
        n = len(self.images)
        idx = np.sort(self.rng.choice(n, size=min(size, n), replace=False))
        return idx, np.asarray(self.images[idx], np.float32), np.asarray(self.cams.targets)[idx]

    @staticmethod
    def figure_png(fig) -> bytes:
        """A matplotlib figure as PNG bytes for ``CheckResult.figures`` (the figure is closed)."""
        from audit.report.encoding import figure_png

        return figure_png(fig)

    def upsampled(self, maps: np.ndarray, grid) -> np.ndarray:
        """(N, H, W): maps (N, h, w) placed on the test images' pixel grid by ``grid``
        (a CamResult's ``grid``; :func:`audit.cam.geometry.upsample_map`)."""
        from audit.cam.geometry import upsample_map

        shape = tuple(self.images.shape[1:3])
        return np.stack([upsample_map(m, shape, grid) for m in np.asarray(maps)])


NEEDS: dict[str, str] = {
    "masks": "region masks for the test images (ctx.regions)",
    "retraining": "a model the audit can retrain (ctx.retrain; not one loaded from a file)",
    "two_classes": "at least two classes in the test set",
    "extra_cams": "CAM passes beyond the audit's own maps (a cost, always met)",
}
"""What a check can need (``Check.needs``); the runner skips a check, with the reason, when a need is not met."""


def unmet_needs(needs: tuple[str, ...], ctx: CheckContext) -> list[str]:
    """The needs in ``needs`` that ``ctx`` does not meet (:data:`NEEDS`)."""
    met = {
        "masks": lambda: ctx.regions is not None,
        "retraining": lambda: ctx.retrain is not None,
        "two_classes": lambda: len(np.unique(np.asarray(ctx.labels))) >= 2,
        "extra_cams": lambda: True,
    }
    unknown = [n for n in needs if n not in met]
    if unknown:
        raise ValueError(f"unknown need {unknown[0]!r}; a check can need: {', '.join(NEEDS)}")
    return [n for n in needs if not met[n]()]


class Check:
    """Base class of a sanity check plugin.

    A subclass sets ``name`` (snake_case, equal to its entry-point name), ``title``,
    ``description``, ``needs`` (names in :data:`NEEDS`, e.g. ``("masks",)``: the runner skips the
    check when one is not met), ``cost``, ``params``
    (name -> default; the default's type is the parameter's type) and ``evidence`` (the
    verdict's evidence line it feeds, :data:`EVIDENCE_LINES`; ``"other"``: reported only),
    and implements :meth:`run`.
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    description: ClassVar[str] = ""
    needs: ClassVar[tuple[str, ...]] = ()
    cost: ClassVar[str] = "low"
    params: ClassVar[dict[str, Any]] = {}
    evidence: ClassVar[str] = "other"

    def run(self, ctx: CheckContext) -> CheckResult:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass(frozen=True)
class Transfer:
    """The shared frame of a transfer counterfactual (each class given the next class's statistics):
    the test labels, each present class's target class, and the images and region masks as arrays."""

    labels: np.ndarray
    target: dict[int, int]
    images: np.ndarray
    regions: np.ndarray

    @classmethod
    def of(cls, ctx: CheckContext) -> Transfer:
        y = np.asarray(ctx.labels)
        return cls(y, next_classes(y, len(ctx.class_names)), np.asarray(ctx.images), np.asarray(ctx.regions))

    def outcome(self, ctx: CheckContext, moved: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
        """(predictions before, after, and the accuracy metrics) for the transferred images ``moved``."""
        from audit.model import predict_proba

        base = np.asarray(ctx.proba).argmax(axis=1)
        pred = predict_proba(ctx.model, np.asarray(moved)).argmax(axis=1)
        accuracy = {
            "accuracy": float(np.mean(base == self.labels)),
            "accuracy_transferred": float(np.mean(pred == self.labels)),
        }
        return base, pred, accuracy


def next_classes(labels: np.ndarray, n_classes: int) -> dict[int, int]:
    """Each class present in ``labels`` -> the next present one, cyclically (the class whose statistics a
    transfer counterfactual gives it); empty when fewer than two classes are present."""
    present = [c for c in range(n_classes) if np.any(np.asarray(labels) == c)]
    return {c: present[(k + 1) % len(present)] for k, c in enumerate(present)} if len(present) >= 2 else {}
