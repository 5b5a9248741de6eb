"""Attention scores: where the energy of a CAM falls, per image and aggregated.

Pure functions on arrays.  A map ``M`` (non-negative, upsampled to the image)
and a region index map ``R`` (:data:`audit.regions.REGIONS`) give, for region r:

- energy fraction ``E_r = sum_{p in r} M(p) / sum_p M(p)`` (the "energy-based
  pointing game" of Wang et al. 2020, Score-CAM, generalised to every region);
- area fraction ``A_r = |r| / (H W)``;
- enrichment ``E_r / A_r``: 1.0 is what a map spread uniformly would give.

An all-zero map has no energy to share: its fractions are NaN and it is counted
in ``n_empty_maps``, never scored as zero attention.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import pandas as pd

from audit.cam.geometry import Grid, upsample_map
from audit.regions import REGIONS

__all__ = [
    "NEGATIVE_CLASSES",
    "OFF_TARGET",
    "TOP_FRACTIONS",
    "TUMOR_METRICS",
    "area_fractions",
    "average_precision",
    "overlap_scores",
    "bootstrap_ci",
    "paired_drop_interval",
    "paired_drop",
    "balanced_accuracy",
    "energy_fractions",
    "finding_mask",
    "peak_region",
    "pointing_hit",
    "relevance_rank_accuracy",
    "score_images",
    "tumor_scores",
    "summarize_attention",
    "summarize_findings",
    "tolerance_zone",
    "weak_maps",
    "wilson_interval",
]

OFF_TARGET: tuple[str, ...] = ("skull_band", "background", "padding", "artifact")
"""Regions that are not brain anatomy; their summed energy is ``energy_off_target``.  Anatomy is brain +
tumor; ``brain_edge`` (skull-stripped images: cortex or the stripping contour) is neither, reported apart."""

NEGATIVE_CLASSES: frozenset[str] = frozenset({"healthy", "notumor", "no_tumor", "normal"})
"""Class names meaning "no finding": a map explaining the absence of a tumor has nothing to point
at, so these images are reported but do not decide the verdict."""

TOP_FRACTIONS: tuple[float, ...] = (0.05, 0.10, 0.20)
"""Fractions of the image kept when a map is thresholded at its top pixels."""


def energy_fractions(cam: np.ndarray, regions: np.ndarray, n_regions: int = len(REGIONS)) -> np.ndarray:
    """``E_r`` for every region index r < n_regions; NaN everywhere for an all-zero map.

    cam : (H, W) non-negative map; regions : (H, W) int region indices.
    """
    sums = np.bincount(regions.ravel(), weights=cam.ravel().astype(np.float64), minlength=n_regions)[:n_regions]
    total = float(cam.sum(dtype=np.float64))
    return sums / total if total > 0 else np.full(n_regions, np.nan)


def area_fractions(regions: np.ndarray, n_regions: int = len(REGIONS)) -> np.ndarray:
    """``A_r = |r| / (H W)`` for every region index r."""
    return np.bincount(regions.ravel(), minlength=n_regions)[:n_regions] / regions.size


def peak_region(cam: np.ndarray, regions: np.ndarray) -> int:
    """Region index at the map's maximum (first in row-major order); -1 for an all-zero map."""
    if not np.any(cam > 0):
        return -1
    return int(regions.ravel()[int(np.argmax(cam))])


def tolerance_zone(mask: np.ndarray, radius: int) -> np.ndarray:
    """``mask`` grown to every pixel within Euclidean distance ``radius`` (a coarse CAM cannot be sharper)."""
    if radius <= 0 or not mask.any():
        return mask.copy()
    ii, jj = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    disc = (ii**2 + jj**2 <= radius**2).astype(np.uint8)
    return cv2.dilate(mask.astype(np.uint8), disc).astype(bool)


def pointing_hit(cam: np.ndarray, target: np.ndarray, tolerance_px: int = 0) -> float:
    """Pointing game (Zhang et al. 2018, "Top-down neural attention by excitation backprop"):
    1.0 if the map's maximum lies in ``target`` grown by ``tolerance_px`` (Euclidean), else 0.0.
    Ties at the maximum count as a hit if any tied pixel is inside.  NaN for an all-zero map
    or an empty target.
    """
    if not target.any() or not np.any(cam > 0):
        return float("nan")
    zone = tolerance_zone(target, tolerance_px)
    return float(np.any(zone[cam == cam.max()]))


def _top_mask(cam: np.ndarray, fraction: float) -> np.ndarray:
    """Pixels at or above the ``ceil(fraction H W)``-th largest value (ties all kept)."""
    flat = cam.ravel()
    k = max(1, int(np.ceil(fraction * flat.size)))
    threshold = np.partition(flat, flat.size - k)[flat.size - k]
    return cam >= threshold


def _iou_dice(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    inter, union, total = np.sum(a & b), np.sum(a | b), np.sum(a) + np.sum(b)
    return (float(inter / union) if union else float("nan"), float(2 * inter / total) if total else float("nan"))


def overlap_scores(cam: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """IoU = |S ∩ T| / |S ∪ T| and Dice = 2|S ∩ T| / (|S| + |T|) of the thresholded map S and ``target`` T.

    S is the map's top 5, 10 and 20 % of pixels (:data:`TOP_FRACTIONS`; ties at the threshold
    kept) and, separately, the pixels above Otsu's threshold (Otsu 1979) of the map's values.
    All NaN for an all-zero map or an empty target; the Otsu pair is NaN for a constant map.
    Keys ``iou_top5``, ``dice_top5``, ..., ``iou_otsu``, ``dice_otsu``.
    """
    from skimage.filters import threshold_otsu

    out: dict[str, float] = {}
    valid = target.any() and np.any(cam > 0)
    for q in TOP_FRACTIONS:
        iou, dice = _iou_dice(_top_mask(cam, q), target) if valid else (float("nan"),) * 2
        out[f"iou_top{round(100 * q)}"], out[f"dice_top{round(100 * q)}"] = iou, dice
    if valid and cam.max() > cam.min():
        out["iou_otsu"], out["dice_otsu"] = _iou_dice(cam > threshold_otsu(cam), target)
    else:
        out["iou_otsu"] = out["dice_otsu"] = float("nan")
    return out


def average_precision(scores: np.ndarray, truth: np.ndarray) -> float:
    """Area under the precision-recall curve of ``scores`` as a detector of ``truth`` pixels, as
    average precision ``AP = sum_n (R_n - R_{n-1}) P_n`` over the distinct score thresholds
    (tied scores enter together; Manning et al. 2008, ch. 8).  A constant map gives the
    prevalence.  NaN for an empty ``truth``.
    """
    s, t = scores.ravel(), truth.ravel().astype(bool)
    positives = int(t.sum())
    if positives == 0:
        return float("nan")
    order = np.argsort(-s, kind="stable")
    s, t = s[order], t[order]
    ends = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]  # last index of each run of equal scores
    tp = np.cumsum(t)[ends]
    precision = tp / (ends + 1)
    recall = tp / positives
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def relevance_rank_accuracy(cam: np.ndarray, target: np.ndarray) -> float:
    """Relevance rank accuracy (Arras et al. 2022, "CLEVR-XAI"): of the K = |T| highest-valued
    pixels, the fraction inside ``target`` T.  Pixels tied at the K-th value share the
    remaining places in proportion (so a constant map scores K/N, the prevalence).
    NaN for an all-zero map or an empty target.
    """
    k = int(target.sum())
    if k == 0 or not np.any(cam > 0):
        return float("nan")
    flat, t = cam.ravel(), target.ravel().astype(bool)
    threshold = np.partition(flat, flat.size - k)[flat.size - k]
    above, at = flat > threshold, flat == threshold
    slots = k - int(above.sum())
    hits = np.sum(t & above) + slots * np.sum(t & at) / np.sum(at)
    return float(hits / k)


def tumor_scores(cam: np.ndarray, target: np.ndarray, prior: np.ndarray | None, tolerance_px: int) -> dict:
    """Localisation of the tumor ``target`` (H, W) bool by the upsampled ``cam`` (H, W).

    Keys: ``pointing_hit`` (strict) and ``pointing_hit_tolerant`` (within ``tolerance_px``),
    the :func:`overlap_scores`, ``auprc`` (:func:`average_precision` of the map) next to
    ``auprc_prior`` (the same for ``prior``, the mean training tumor mask: a map that knows
    only where tumors usually are), and ``rank_accuracy``.  The energy-based pointing game
    (Wang et al. 2020) is ``energy_tumor`` of :func:`score_images`.  All NaN for an empty target.
    """
    empty = not np.any(cam > 0)
    out = {
        "pointing_hit": pointing_hit(cam, target),
        "pointing_hit_tolerant": pointing_hit(cam, target, tolerance_px),
        **overlap_scores(cam, target),
        "auprc": float("nan") if empty else average_precision(cam, target),
        "auprc_prior": average_precision(prior, target) if prior is not None else float("nan"),
        "rank_accuracy": relevance_rank_accuracy(cam, target),
    }
    return out


def score_images(
    maps: np.ndarray,
    regions: np.ndarray,
    tolerance_px: int,
    grid: Grid | None = None,
    tumor_prior: np.ndarray | None = None,
) -> pd.DataFrame:
    """Per-image scores.

    Parameters
    ----------
    maps : (N, h, w) non-negative CAMs at layer resolution.
    regions : (N, H, W) region indices.
    tolerance_px : radius of the tolerant zones (artifact; tumor pointing game).
    grid : placement of map cells on the image; None stretches (see :func:`upsample_map`).
    tumor_prior : (H, W) mean tumor mask of the training images, for ``auprc_prior``.

    Returns
    -------
    One row per image: ``energy_<region>``, ``area_<region>``, ``enrichment_<region>``,
    ``energy_off_target``, ``energy_artifact_tolerant``, ``area_artifact_tolerant``,
    ``peak_region`` (name, "" for an empty map), ``empty_map``, and the :func:`tumor_scores`
    (NaN where the image has no tumor pixels).
    """
    rows = []
    artifact, tumor = REGIONS.index("artifact"), REGIONS.index("tumor")
    for cam, reg in zip(maps, regions, strict=True):
        up = upsample_map(cam, reg.shape, grid)
        energy = energy_fractions(up, reg)
        area = area_fractions(reg)
        zone = tolerance_zone(reg == artifact, tolerance_px)
        total = float(up.sum(dtype=np.float64))
        row = {}
        for r, e, a in zip(REGIONS, energy, area, strict=True):
            row[f"energy_{r}"] = float(e)
            row[f"area_{r}"] = float(a)
            row[f"enrichment_{r}"] = float(e / a) if a > 0 else float("nan")
        row["energy_off_target"] = float(sum(row[f"energy_{r}"] for r in OFF_TARGET))
        row["energy_artifact_tolerant"] = float(up[zone].sum() / total) if total > 0 else float("nan")
        row["area_artifact_tolerant"] = float(zone.mean())
        peak = peak_region(up, reg)
        row["peak_region"] = REGIONS[peak] if peak >= 0 else ""
        row["empty_map"] = total == 0
        row.update(tumor_scores(up, reg == tumor, tumor_prior, tolerance_px))
        rows.append(row)
    return pd.DataFrame(rows)


def weak_maps(maps: np.ndarray, ratio: float) -> np.ndarray:
    """(N,) bool: map peak < ``ratio`` x the median peak of the non-empty maps (all-zero maps included).

    Such maps hold next to no positive evidence; their energy fractions are dominated by
    numerical residue and would distort region means.
    """
    peaks = maps.reshape(len(maps), -1).max(axis=1) if len(maps) else np.zeros(0)
    positive = peaks[peaks > 0]
    if positive.size == 0:
        return np.ones(len(maps), bool)
    return peaks < ratio * float(np.median(positive))


def bootstrap_ci(
    values: np.ndarray,
    rng: np.random.Generator,
    n_boot: int = 1000,
    level: float = 0.95,
    statistic: Callable[[np.ndarray], np.ndarray] = lambda v: v.mean(axis=-1),
) -> tuple[float, float, float]:
    """Statistic of ``values`` with a percentile bootstrap interval (Efron & Tibshirani 1993).

    NaNs are dropped first.  Returns (estimate, low, high); all NaN for no values.
    """
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return (float("nan"),) * 3
    estimate = float(statistic(values))
    samples = values[rng.integers(0, values.size, size=(n_boot, values.size))]
    stats = statistic(samples)
    alpha = (1 - level) / 2
    return estimate, float(np.quantile(stats, alpha)), float(np.quantile(stats, 1 - alpha))


def wilson_interval(successes: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion ``successes / n`` (Wilson 1927; recommended for small n and
    proportions near 0 or 1 by Brown, Cai & DasGupta 2001).

    With ``p = successes / n`` and ``z`` the normal quantile of ``(1 + level) / 2``:
    ``(p + z^2 / 2n +- z sqrt(p (1 - p) / n + z^2 / 4n^2)) / (1 + z^2 / n)``.  (NaN, NaN) for n = 0.
    """
    from scipy.stats import norm

    if n <= 0:
        return float("nan"), float("nan")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must lie in [0, n], got {successes} of {n}")
    p, z = successes / n, float(norm.ppf((1 + level) / 2))
    centre = p + z * z / (2 * n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    scale = 1 + z * z / n
    return float(max(0.0, (centre - half) / scale)), float(min(1.0, (centre + half) / scale))


def balanced_accuracy(labels: np.ndarray, predictions: np.ndarray) -> float:
    """Mean over the classes present in ``labels`` of their recall, the share of their rows whose prediction is
    the label (Brodersen et al. 2010); NaN without rows."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    recalls = [np.mean(predictions[labels == c] == c) for c in np.unique(labels)]
    return float(np.mean(recalls)) if recalls else float("nan")


def paired_drop_interval(lost: int, gained: int, n: int, level: float = 0.95) -> tuple[float, float, float]:
    """(drop, low, high): the accuracy lost when ``n`` paired predictions change, ``lost`` of them from right to
    wrong and ``gained`` from wrong to right, with its confidence interval.

    ``drop = (lost - gained) / n``; with ``m = lost + gained`` discordant pairs and ``(w_lo, w_hi)`` the Wilson
    interval (:func:`wilson_interval`) of ``lost / m``, the interval is ``m / n * (2 w - 1)`` at each end:
    conditional on the discordant pairs, as McNemar's test (McNemar 1947), so the pairs that did not move
    carry no uncertainty.  (0, 0, 0) when nothing moved.
    """
    if n <= 0 or min(lost, gained) < 0 or lost + gained > n:
        raise ValueError(f"need 0 <= lost + gained <= n and n > 0, got lost={lost}, gained={gained}, n={n}")
    m = lost + gained
    if m == 0:
        return 0.0, 0.0, 0.0
    low, high = wilson_interval(lost, m, level)
    drop = (lost - gained) / n
    # min / max: Wilson's end at k = m is 1 only up to rounding
    return drop, min(drop, m / n * (2 * low - 1)), max(drop, m / n * (2 * high - 1))


def paired_drop(right_before: np.ndarray, right_after: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """:func:`paired_drop_interval` from whether each image was classified right before and after a change:
    ``lost`` = right before and wrong after, ``gained`` = the reverse."""
    before, after = np.asarray(right_before, bool), np.asarray(right_after, bool)
    if before.shape != after.shape or before.size == 0:
        raise ValueError(f"need two equal, non-empty outcome vectors, got {before.shape} and {after.shape}")
    return paired_drop_interval(int(np.sum(before & ~after)), int(np.sum(~before & after)), before.size, level)


def _summary(df: pd.DataFrame, rng: np.random.Generator, n_boot: int) -> dict:
    def ci(values: np.ndarray) -> dict:
        mean, lo, hi = bootstrap_ci(values, rng, n_boot)
        return {"mean": mean, "ci_low": lo, "ci_high": hi}

    excluded = df["empty_map"] | df["weak_map"] if "weak_map" in df else df["empty_map"]
    scored = df[~excluded]
    on_anatomy = (scored["energy_brain"] + scored["energy_tumor"]).to_numpy()
    return {
        "n": int(len(df)),
        "n_empty_maps": int(df["empty_map"].sum()),
        "n_weak_maps": int(df["weak_map"].sum()) if "weak_map" in df else 0,
        "n_scored": int(len(scored)),
        "energy": {r: ci(scored[f"energy_{r}"].to_numpy()) for r in REGIONS},
        "energy_artifact_tolerant": ci(scored["energy_artifact_tolerant"].to_numpy()),
        "on_anatomy": ci(on_anatomy),
        "off_target_majority_share": ci((scored["energy_off_target"] > 0.5).to_numpy(dtype=float)),
        "peak_region_share": {
            r: float(np.mean(scored["peak_region"] == r)) if len(scored) else float("nan") for r in REGIONS
        },
        "tumor": _tumor_summary(scored, ci),
    }


TUMOR_METRICS: tuple[str, ...] = (
    "pointing_hit", "pointing_hit_tolerant", "energy_tumor",
    *(f"{m}_top{round(100 * q)}" for q in TOP_FRACTIONS for m in ("iou", "dice")),
    "iou_otsu", "dice_otsu", "auprc", "auprc_prior", "rank_accuracy",
)  # fmt: skip
"""Per-image tumor localisation columns aggregated over the images that show a tumor."""


def _tumor_summary(scored: pd.DataFrame, ci: Callable) -> dict:
    with_tumor = scored[scored["area_tumor"] > 0] if "area_tumor" in scored else scored.iloc[:0]
    out: dict = {"n": int(len(with_tumor))}
    for m in TUMOR_METRICS:
        out[m] = ci(with_tumor[m].to_numpy(dtype=float)) if m in with_tumor else ci(np.zeros(0))
    return out


def finding_mask(labels, correct, class_names: tuple[str, ...]) -> np.ndarray:
    """(N,) bool: correctly classified images of a finding class (not one of :data:`NEGATIVE_CLASSES`)."""
    negative = [k for k, name in enumerate(class_names) if name.lower() in NEGATIVE_CLASSES]
    return np.asarray(correct, bool) & ~np.isin(np.asarray(labels), negative)


def summarize_findings(
    per_image: pd.DataFrame, class_names: tuple[str, ...], rng: np.random.Generator, n_boot: int = 1000
) -> dict:
    """The summary over correctly classified images of the finding classes (every class but a
    negative one, :data:`NEGATIVE_CLASSES`): the evidence the verdict rests on.  ``per_image``
    as for :func:`summarize_attention`; adds ``classes`` (the finding classes' names)."""
    negative = [k for k, name in enumerate(class_names) if name.lower() in NEGATIVE_CLASSES]
    findings = per_image[finding_mask(per_image["label"], per_image["correct"], class_names)]
    return {
        "classes": [name for k, name in enumerate(class_names) if k not in negative],
        **_summary(findings, rng, n_boot),
    }


def summarize_attention(
    per_image: pd.DataFrame,
    class_names: tuple[str, ...],
    rng: np.random.Generator,
    n_boot: int = 1000,
    findings_rng: np.random.Generator | None = None,
) -> dict:
    """Aggregates overall, per true class and per correct/incorrect prediction.

    ``per_image`` needs the columns of :func:`score_images` plus ``label`` and ``correct``
    (and optionally ``weak_map``).  Empty and weak maps are counted, not averaged.
    Each summary gives, with bootstrap 95 % CIs, the mean energy fraction per region,
    ``on_anatomy`` (energy on brain + tumor) and ``off_target_majority_share`` (share of
    images with more than half their energy in :data:`OFF_TARGET` regions).  ``findings`` is
    :func:`summarize_findings`, bootstrapped with ``findings_rng`` when given (so that another
    method's findings summary drawn with the same seed is comparable number for number).
    """
    out = {"regions": list(REGIONS), "overall": _summary(per_image, rng, n_boot), "by_class": {}, "by_correct": {}}
    out["findings"] = summarize_findings(per_image, class_names, findings_rng or rng, n_boot)
    for k, name in enumerate(class_names):
        out["by_class"][name] = _summary(per_image[per_image["label"] == k], rng, n_boot)
    for flag, name in ((True, "correct"), (False, "incorrect")):
        out["by_correct"][name] = _summary(per_image[per_image["correct"] == flag], rng, n_boot)
        for k, cls in enumerate(class_names):
            sub = per_image[(per_image["correct"] == flag) & (per_image["label"] == k)]
            out["by_correct"][f"{name}/{cls}"] = _summary(sub, rng, n_boot)
    return out
