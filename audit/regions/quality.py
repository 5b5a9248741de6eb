"""How well estimated regions match exact ones (benchmarks/region_quality.py, tests/test_regions.py)."""

from __future__ import annotations

import numpy as np

from audit.regions.taxonomy import BRAIN_TISSUE, REGIONS

__all__ = ["estimate_quality"]


def estimate_quality(estimated: np.ndarray, truth: np.ndarray) -> dict[str, np.ndarray | float]:
    """How well estimated regions match exact ones (both (N, H, W) region indices).

    Per image, Dice ``2|E & T| / (|E| + |T|)`` (1 when both are empty) of: the head (brain +
    tumor + brain edge + skull band), the brain interior (brain + tumor + brain edge; the estimate
    has no tumor) and the skull band; ``brain_in_skull_band``: the share of the true brain interior
    the estimate calls skull band (also pooled over pixels); ``stripped_true`` / ``_estimated``:
    whether the image is skull-stripped (true interior but no skull band) / the estimate found it so.
    ``annotation_recall``: pooled over all images, the share of annotation pixels labelled
    artifact, where annotations are the true artifact components that do not touch the head
    (burned-in text, markers, frames; a rim along the skull is not an annotation).
    ``padding_recall`` likewise for padding.
    """
    import cv2

    skull, artifact, padding = (REGIONS.index(r) for r in ("skull_band", "artifact", "padding"))
    edge = REGIONS.index("brain_edge")
    interior = [REGIONS.index(r) for r in BRAIN_TISSUE]

    def dice(a, b):
        total = int(a.sum() + b.sum())
        return 2 * float(np.sum(a & b)) / total if total else 1.0

    head_d, brain_d, skull_d, in_band, stripped_t, stripped_e = [], [], [], [], [], []
    hit = total = pad_hit = pad_total = brain_px = brain_in_band = 0
    for e, t in zip(estimated, truth, strict=True):
        head_t = np.isin(t, [*interior, skull])
        head_d.append(dice(head_t, np.isin(e, [*interior, skull])))
        brain_t = np.isin(t, interior)
        brain_d.append(dice(brain_t, np.isin(e, interior)))
        skull_d.append(dice(t == skull, e == skull))
        in_band.append(float(np.mean(e[brain_t] == skull)) if brain_t.any() else 0.0)
        brain_px += int(brain_t.sum())
        brain_in_band += int(np.sum(brain_t & (e == skull)))
        stripped_t.append(bool(brain_t.any() and not (t == skull).any()))
        stripped_e.append(bool((e == edge).any()))
        _, comp = cv2.connectedComponents((t == artifact).astype(np.uint8))
        near = cv2.dilate(head_t.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        annotation = (comp > 0) & ~np.isin(comp, np.unique(comp[near & (comp > 0)]))
        hit += int(np.sum(annotation & (e == artifact)))
        total += int(annotation.sum())
        pad_hit += int(np.sum((t == padding) & (e == padding)))
        pad_total += int(np.sum(t == padding))
    return {
        "head_dice": np.array(head_d),
        "brain_dice": np.array(brain_d),
        "skull_band_dice": np.array(skull_d),
        "brain_in_skull_band": np.array(in_band),
        "brain_in_skull_band_pooled": brain_in_band / brain_px if brain_px else float("nan"),
        "stripped_true": np.array(stripped_t),
        "stripped_estimated": np.array(stripped_e),
        "annotation_recall": hit / total if total else float("nan"),
        "padding_recall": pad_hit / pad_total if pad_total else float("nan"),
    }
