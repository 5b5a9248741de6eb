"""BraTS-style NIfTI volumes with a tumor segmentation: every kept axial slice becomes an image
with its tumor mask.

Files are grouped into cases by folder and name prefix, so both one folder per case
(``BraTS20_Training_001/BraTS20_Training_001_t1ce.nii.gz``, ``BraTS-GLI-00000-000/
BraTS-GLI-00000-000-t1c.nii.gz``) and a flat folder work.  The last ``_``/``-`` token of a
file name is its kind: ``data.nifti.modality`` (t1, t1ce, t2, flair, with the BraTS 2023 names
t1n, t1c, t2w, t2f as aliases) and ``seg``.

Per case: both volumes are reoriented to RAS (:func:`nibabel.as_closest_canonical`), must
have the same shape, and the image is scaled to [0, 1] by the 99.5th percentile of its
non-zero voxels.  Axial slices between ``data.levels`` (fractions of the head's extent
along the inferior-superior axis) are taken every ``data.nifti.slice_step``-th, rotated so
anterior is up, and fitted to ``data.image_size`` (the mask with them).  A slice is
``tumor`` when its fitted mask has at least ``data.min_tumor_area`` pixels, ``healthy``
when it has none; slices in between are left out (counted in one skipped record per case).
The case id is the patient, so the split keeps cases whole.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from audit.data.dataset import Dataset, assemble, finite_pixels
from audit.data.folders import fit_mask_to_size, fit_to_size

__all__ = ["MODALITY_ALIASES", "find_cases", "load_nifti_dataset"]

MODALITY_ALIASES: dict[str, tuple[str, ...]] = {
    "t1": ("t1", "t1n"),
    "t1ce": ("t1ce", "t1c", "t1gd"),
    "t2": ("t2", "t2w"),
    "flair": ("flair", "t2f"),
    "seg": ("seg",),
}
_SUFFIX = re.compile(r"\.nii(\.gz)?$", re.IGNORECASE)


def _kind_and_case(path: Path) -> tuple[str, str]:
    stem = _SUFFIX.sub("", path.name)
    head, _, token = max(stem.rpartition("_"), stem.rpartition("-"), key=lambda p: len(p[0]))
    return token.lower(), head or stem


def find_cases(root: Path, modality: str) -> tuple[dict[str, tuple[Path, Path]], list[dict]]:
    """{case id: (image volume, segmentation)} under ``root``, and skipped records of cases
    that lack one of the two."""
    if modality not in MODALITY_ALIASES or modality == "seg":
        raise ValueError(f"data.nifti.modality must be one of t1, t1ce, t2, flair; got {modality!r}")
    wanted = {alias: modality for alias in MODALITY_ALIASES[modality]} | {"seg": "seg"}
    found: dict[tuple[Path, str], dict[str, Path]] = {}
    for f in sorted(root.rglob("*")):
        if f.is_file() and _SUFFIX.search(f.name):
            token, case = _kind_and_case(f)
            if token in wanted:
                found.setdefault((f.parent, case), {})[wanted[token]] = f
    cases, skipped = {}, []
    for (folder, case), files in sorted(found.items()):
        name = str((folder / case).relative_to(root))
        missing = [k for k in (modality, "seg") if k not in files]
        if missing:
            skipped.append({"source": name, "reason": f"no {' and no '.join(missing)} volume"})
        else:
            cases[name] = (files[modality], files["seg"])
    return cases, skipped


def _read_volume(path: Path) -> np.ndarray:
    import nibabel as nib

    try:
        img = nib.as_closest_canonical(nib.load(path))
        vol = np.asarray(img.dataobj, dtype=np.float32)
    except Exception as exc:  # nibabel raises many kinds on truncated or foreign files
        raise ValueError(f"{path.name}: not a readable NIfTI volume ({type(exc).__name__})") from None
    if vol.ndim == 4 and vol.shape[3] == 1:
        vol = vol[..., 0]
    if vol.ndim != 3:
        raise ValueError(f"{path.name}: volume of shape {vol.shape}, expected 3-D")
    try:
        vol, _ = finite_pixels(vol, fill=0.0)  # NaN / inf voxels (some converters write them outside the head)
    except ValueError as exc:
        raise ValueError(f"{path.name}: {exc}") from None
    return vol


def load_nifti_dataset(cfg, rng: np.random.Generator) -> Dataset:
    """Slices of every case under ``cfg.path`` (a :class:`audit.config.DataConfig`)."""
    root = Path(cfg.path)
    if not root.is_dir():
        raise ValueError(f"data.path: {root} is not a folder")
    if cfg.nifti.slice_step < 1:
        raise ValueError(f"data.nifti.slice_step must be at least 1, got {cfg.nifti.slice_step}")
    low, high = cfg.levels
    if not 0 <= low < high <= 1:
        raise ValueError(f"data.levels must be two fractions low < high in [0, 1], got {cfg.levels}")
    cases, skipped = find_cases(root, cfg.nifti.modality)
    if not cases and not skipped:
        raise ValueError(f"data.path: no NIfTI volumes (.nii, .nii.gz) under {root}")
    images, masks, rows, labels_txt = [], [], [], []
    for case, (image_path, seg_path) in cases.items():
        try:
            vol, seg = _read_volume(image_path), _read_volume(seg_path)
            if vol.shape != seg.shape:
                raise ValueError(f"segmentation {seg.shape} does not match the image {vol.shape}")
        except ValueError as exc:
            skipped.append({"source": case, "reason": str(exc)})
            continue
        inside = vol > 0
        if not inside.any():
            skipped.append({"source": case, "reason": "empty volume"})
            continue
        z = np.flatnonzero(inside.any(axis=(0, 1)))
        z0, z1 = z[0] + low * (z[-1] - z[0]), z[0] + high * (z[-1] - z[0])
        top = float(np.percentile(vol[inside], 99.5))
        ambiguous = 0
        for k in range(int(np.ceil(z0)), int(np.floor(z1)) + 1, cfg.nifti.slice_step):
            # RAS: x left->right, y posterior->anterior; rot90 puts anterior up, as radiologists view.
            img, info = fit_to_size(np.rot90(np.clip(vol[:, :, k], 0, top) / top), cfg.image_size, cfg.resize)
            mask = fit_mask_to_size(np.rot90(seg[:, :, k] > 0), cfg.image_size, cfg.resize)
            area = int(mask.sum())
            if 0 < area < cfg.min_tumor_area:
                ambiguous += 1
                continue
            label = "tumor" if area else "healthy"
            images.append(img.astype(np.float32))
            masks.append(mask)
            labels_txt.append(label)
            rows.append({"id": f"{case}/z{k:03d}", "class": label, "patient": case, "slice": k,
                         "modality": cfg.nifti.modality, "tumor_area": area, **info})  # fmt: skip
        if ambiguous:
            skipped.append({"source": case, "reason": f"{ambiguous} slices with a tumor smaller than "
                                                      f"data.min_tumor_area = {cfg.min_tumor_area} px"})  # fmt: skip
    return assemble(images, labels_txt, rows, skipped, cfg, rng, ("healthy", "tumor"), masks=masks)
