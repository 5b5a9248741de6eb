"""Brain anatomy from the MNI152 2009 templates that nilearn ships in its wheel.

The templates are skull-stripped: grey-matter and white-matter probability maps
and a brain mask at 1 mm (we use those three; contrasts come from a tissue model).
From them we derive, once, and cache on disk (seconds to compute, a fraction of a
second to load):

- ``gm``, ``wm``, ``csf``: tissue fractions, ``csf = clip(mask - gm - wm, 0, 1)``
  inside the brain mask;
- ``outside_mm``: Euclidean distance (mm) from each voxel outside the brain to
  the brain, 0 inside, capped at :data:`PAD` mm: the head layers (CSF, skull,
  scalp) are shells of it;
- ``inside_mm``: distance from each brain voxel to the outside, 0 outside.

The volume is padded by :data:`PAD` voxels on every side so that the scalp fits.
Axes are the template's: x left->right, y posterior->anterior, z inferior->superior.
The cache folder is ``$BRAIN_AUDIT_CACHE`` or ``~/.cache/brain-audit``.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audit.io import atomic_writer

__all__ = ["PAD", "PLANE_AXIS", "Anatomy", "cache_dir", "load_anatomy", "plane_coords", "plane_position", "plane_slice"]

PAD = 24
_VERSION = "anatomy-v2"
_FIELDS = ("gm", "wm", "csf", "outside_mm", "inside_mm")


@dataclass(frozen=True, eq=False)  # identity hash: cached per-plane stacks key on it
class Anatomy:
    """Derived volumes, each (X, Y, Z) float16, and the voxel -> MNI mm affine of the padded grid."""

    gm: np.ndarray
    wm: np.ndarray
    csf: np.ndarray
    outside_mm: np.ndarray
    inside_mm: np.ndarray
    affine: np.ndarray
    key: str = ""
    """Name of the disk cache these volumes came from ('' for volumes made by hand)."""

    def brain_extent(self, axis: int) -> tuple[int, int]:
        """First and last voxel index along ``axis`` that holds brain."""
        other = tuple(a for a in range(3) if a != axis)
        present = np.flatnonzero((self.inside_mm > 0).any(axis=other))
        return int(present[0]), int(present[-1])

    def plane_stack(self, plane: str) -> np.ndarray:
        """All derived volumes as one (levels, rows, cols, 5) float16 array for ``plane``,
        in the order gm, wm, csf, inside_mm, outside_mm; ``[level]`` is a contiguous,
        display-oriented slice (see :func:`plane_slice`).  Built once per plane."""
        return _plane_stack(self, plane)

    def voxel_of_mm(self, mm: tuple[float, float, float]) -> np.ndarray:
        """Voxel coordinates (float) of an MNI point in mm."""
        return (np.linalg.inv(self.affine) @ np.r_[mm, 1.0])[:3]


STACK_FIELDS = ("gm", "wm", "csf", "inside_mm", "outside_mm")


@functools.lru_cache(maxsize=3)
def _plane_stack(anat: Anatomy, plane: str) -> np.ndarray:
    path = cache_dir() / f"{anat.key}-{plane}.npy" if anat.key else None
    if path is not None and path.is_file():
        try:
            return np.load(path, mmap_mode="r")  # shared by forked workers, read on demand
        except (OSError, ValueError):
            path.unlink(missing_ok=True)
    vols = np.stack([getattr(anat, f) for f in STACK_FIELDS], axis=-1)  # (X, Y, Z, 5)
    order = {"axial": (2, 1, 0, 3), "coronal": (1, 2, 0, 3), "sagittal": (0, 2, 1, 3)}[plane]
    stack = vols.transpose(order)  # (level, a, b, 5) with a, b the slice's transposed axes
    stack = np.ascontiguousarray(stack[:, ::-1])  # rows descending: anterior / superior at the top
    if path is not None:
        with atomic_writer(path) as f:
            np.save(f, stack)
    return stack


def cache_dir() -> Path:
    return Path(os.environ.get("BRAIN_AUDIT_CACHE") or Path.home() / ".cache" / "brain-audit")


def _derive() -> dict[str, np.ndarray]:
    from nilearn import datasets
    from scipy.ndimage import distance_transform_edt

    def volume(img) -> np.ndarray:
        return np.pad(np.asarray(img.dataobj, dtype=np.float32), PAD)

    mask_img = datasets.load_mni152_brain_mask(resolution=1)
    mask = volume(mask_img) > 0.5
    gm = volume(datasets.load_mni152_gm_template(resolution=1)).clip(0, 1) * mask
    wm = volume(datasets.load_mni152_wm_template(resolution=1)).clip(0, 1) * mask
    csf = np.clip(mask - gm - wm, 0, 1)
    affine = mask_img.affine.copy()
    affine[:3, 3] -= affine[:3, :3] @ np.full(3, PAD)  # the padded grid's origin
    # Distance transforms on a crop around the brain: 4x fewer voxels inside, and outside
    # nothing beyond the scalp (about 20 mm) is ever used, so PAD - 1 mm of margin suffices.
    nz = np.nonzero(mask)
    inner = tuple(slice(int(i.min()) - 1, int(i.max()) + 2) for i in nz)
    outer = tuple(slice(max(int(i.min()) - PAD + 1, 0), int(i.max()) + PAD) for i in nz)
    inside = np.zeros(mask.shape, np.float32)
    inside[inner] = distance_transform_edt(mask[inner])
    outside = np.full(mask.shape, PAD, np.float32)  # the crop's margin: at least PAD - 1 mm away
    outside[outer] = np.minimum(distance_transform_edt(~mask[outer]), PAD)
    return {"gm": gm, "wm": wm, "csf": csf, "outside_mm": outside, "inside_mm": inside, "affine": affine}


def _cache_file() -> Path:
    import nilearn

    return cache_dir() / f"{_VERSION}-nilearn{nilearn.__version__}.npz"


@functools.cache
def load_anatomy() -> Anatomy:
    """The derived volumes, from the disk cache when present (computed and cached otherwise)."""
    path = _cache_file()
    if path.is_file():
        try:
            with np.load(path) as z:
                return Anatomy(**{k: z[k] for k in (*_FIELDS, "affine")}, key=path.stem)
        except (OSError, ValueError, KeyError):
            path.unlink(missing_ok=True)  # a damaged cache file is rebuilt
    derived = _derive()
    arrays = {k: derived[k].astype(np.float16) for k in _FIELDS}
    arrays["affine"] = derived["affine"]
    with atomic_writer(path) as f:
        np.savez(f, **arrays)
    return Anatomy(**arrays, key=path.stem)


def plane_slice(volume: np.ndarray, plane: str, index: int) -> np.ndarray:
    """A 2-D slice shown the radiological way up: anterior (axial) or superior (coronal, sagittal) at the top.

    Returns (rows, cols) float32: axial rows = y descending, cols = x; coronal rows = z
    descending, cols = x; sagittal rows = z descending, cols = y.
    """
    if plane == "axial":
        s = volume[:, :, index]
    elif plane == "coronal":
        s = volume[:, index, :]
    elif plane == "sagittal":
        s = volume[index, :, :]
    else:
        raise ValueError(f"unknown plane {plane!r}; planes: axial, coronal, sagittal")
    return np.ascontiguousarray(s.T[::-1], dtype=np.float32)


def plane_coords(shape: tuple[int, int, int], plane: str, index: int) -> np.ndarray:
    """Voxel coordinates (x, y, z) of every pixel of :func:`plane_slice`, shape (rows, cols, 3)."""
    nx, ny, nz = shape
    if plane == "axial":
        r, c = np.mgrid[0:ny, 0:nx]
        return np.stack([c, ny - 1 - r, np.full_like(r, index)], axis=-1).astype(np.float32)
    if plane == "coronal":
        r, c = np.mgrid[0:nz, 0:nx]
        return np.stack([c, np.full_like(r, index), nz - 1 - r], axis=-1).astype(np.float32)
    if plane == "sagittal":
        r, c = np.mgrid[0:nz, 0:ny]
        return np.stack([np.full_like(r, index), c, nz - 1 - r], axis=-1).astype(np.float32)
    raise ValueError(f"unknown plane {plane!r}; planes: axial, coronal, sagittal")


PLANE_AXIS = {"axial": 2, "coronal": 1, "sagittal": 0}
"""The volume axis a plane's level indexes."""


def plane_position(shape: tuple[int, int, int], plane: str, point: np.ndarray) -> tuple[float, float]:
    """(row, col) in :func:`plane_slice` of a voxel-coordinate point's projection onto the plane."""
    nx, ny, nz = shape
    x, y, z = (float(v) for v in point)
    if plane == "axial":
        return ny - 1 - y, x
    if plane == "coronal":
        return nz - 1 - z, x
    if plane == "sagittal":
        return nz - 1 - z, y
    raise ValueError(f"unknown plane {plane!r}; planes: axial, coronal, sagittal")
