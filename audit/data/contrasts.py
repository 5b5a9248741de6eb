"""Tissue-intensity model: the signal of each tissue in each MR contrast, before bias and noise.

Relative intensities on a [0, 1] scale, set from the usual appearance of each tissue
(e.g. CSF dark on T1 and FLAIR, bright on T2; scalp fat bright on T1; cortical bone dark
everywhere; an enhancing tumor rim bright only after contrast).  They are
qualitative, chosen so that slices look like the public JPEG sets, not quantitative
relaxometry.
"""

from __future__ import annotations

__all__ = ["CONTRASTS", "TISSUES", "intensity"]

TISSUES = (
    "csf", "grey_matter", "white_matter", "scalp", "bone", "marrow",
    "tumor_core", "enhancing_tumor", "edema", "meningioma", "pituitary",
)  # fmt: skip

_TABLE: dict[str, dict[str, float]] = {
    #            csf   gm    wm    scalp bone  marrow core  rim   edema mening pitu
    "t1":    dict(zip(TISSUES, (0.12, 0.45, 0.66, 0.88, 0.04, 0.55, 0.16, 0.34, 0.36, 0.34, 0.36), strict=True)),
    "t1c":   dict(zip(TISSUES, (0.12, 0.45, 0.66, 0.88, 0.04, 0.55, 0.16, 0.95, 0.36, 0.90, 0.85), strict=True)),
    "t2":    dict(zip(TISSUES, (0.95, 0.55, 0.38, 0.62, 0.04, 0.42, 0.92, 0.70, 0.82, 0.70, 0.72), strict=True)),
    "flair": dict(zip(TISSUES, (0.07, 0.58, 0.42, 0.60, 0.04, 0.38, 0.45, 0.78, 0.92, 0.74, 0.72), strict=True)),
}  # fmt: skip

CONTRASTS: tuple[str, ...] = tuple(_TABLE)


def intensity(contrast: str, tissue: str) -> float:
    """Nominal signal of ``tissue`` in ``contrast``."""
    if contrast not in _TABLE:
        raise ValueError(f"unknown contrast {contrast!r}; contrasts: {', '.join(CONTRASTS)}")
    return _TABLE[contrast][tissue]
