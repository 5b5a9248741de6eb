"""Brain anatomy for the phantoms: the MNI152 2009 average brain, or Colin27, a real head.

``mni152`` (:func:`_derive_mni152`): the templates nilearn ships in its wheel are skull-stripped:
grey- and white-matter probability maps and a brain mask at 1 mm; CSF, skull and scalp are grown
around the brain by :mod:`audit.data.synthetic` as shells of ``outside_mm``.

``colin27`` (:func:`_derive_colin27`): Colin Holmes' single-subject T1 head (27 averaged scans) from
Debian's ``mricron-data`` package: ``ch2.nii.gz`` (1 mm, with skull, scalp and face) and
``ch2bet.nii.gz`` (its brain extraction: the brain mask), in ``/usr/share/mricron/templates`` or
``$BRAIN_AUDIT_COLIN27``.  Tissue fractions inside the brain come from the T1 intensity; outside
it the real head is segmented into layers that the generator draws as they are: ``ext_csf``,
``skull`` (with its ``marrow``) and ``scalp``.  (``ch2better.nii.gz``, at 0.5 mm, is
brain-extracted too, so it holds no head.)

Derived once per anatomy and cached on disk (seconds to compute, a fraction of a second to load):

- ``gm``, ``wm``, ``csf``: tissue fractions inside the brain mask (MNI152:
  ``csf = clip(mask - gm - wm, 0, 1)``);
- ``outside_mm``: Euclidean distance (mm) from each voxel outside the brain to
  the brain, 0 inside, capped at :data:`PAD` mm;
- ``inside_mm``: distance from each brain voxel to the outside, 0 outside;
- Colin27 only, 0/1: ``ext_csf``, ``skull``, ``marrow`` (within ``skull``), ``scalp``.

The volume is padded by :data:`PAD` voxels on every side so that the scalp fits.
Axes are the template's: x left->right, y posterior->anterior, z inferior->superior.
The cache folder is ``$BRAIN_AUDIT_CACHE`` or ``~/.cache/brain-audit``.
"""

from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audit.io import atomic_writer

__all__ = [
    "ANATOMIES", "LAYER_FIELDS", "PAD", "PLANE_AXIS", "Anatomy", "cache_dir", "colin27_dir", "colin27_slices",
    "load_anatomy", "plane_coords", "plane_position", "plane_slice",
]  # fmt: skip

ANATOMIES: tuple[str, ...] = ("mni152", "colin27")
"""Names accepted by :func:`load_anatomy` (and ``data.synthetic.anatomy``)."""
PAD = 24
_VERSION = "anatomy-v2"
_FIELDS = ("gm", "wm", "csf", "outside_mm", "inside_mm")
LAYER_FIELDS = ("ext_csf", "skull", "marrow", "scalp")
"""Head layers segmented from a real head (Colin27): 0/1 volumes; None for MNI152."""
_COLIN27_FILES = ("ch2.nii.gz", "ch2bet.nii.gz")


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
    ext_csf: np.ndarray | None = None
    skull: np.ndarray | None = None
    marrow: np.ndarray | None = None
    scalp: np.ndarray | None = None

    @property
    def has_layers(self) -> bool:
        """True when the head layers are real (segmented), not grown as shells by the generator."""
        return self.skull is not None

    def brain_extent(self, axis: int) -> tuple[int, int]:
        """First and last voxel index along ``axis`` that holds brain."""
        other = tuple(a for a in range(3) if a != axis)
        present = np.flatnonzero((self.inside_mm > 0).any(axis=other))
        return int(present[0]), int(present[-1])

    def plane_stack(self, plane: str) -> np.ndarray:
        """All derived volumes as one (levels, rows, cols, F) float16 array for ``plane``, in the
        order of :data:`STACK_FIELDS` (then :data:`LAYER_FIELDS` when the anatomy has them);
        ``[level]`` is a contiguous, display-oriented slice (see :func:`plane_slice`).  Built once per plane."""
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
    fields = (*STACK_FIELDS, *LAYER_FIELDS) if anat.has_layers else STACK_FIELDS
    vols = np.stack([getattr(anat, f) for f in fields], axis=-1).astype(np.float16)  # (X, Y, Z, F)
    order = {"axial": (2, 1, 0, 3), "coronal": (1, 2, 0, 3), "sagittal": (0, 2, 1, 3)}[plane]
    stack = vols.transpose(order)  # (level, a, b, 5) with a, b the slice's transposed axes
    stack = np.ascontiguousarray(stack[:, ::-1])  # rows descending: anterior / superior at the top
    if path is not None:
        with atomic_writer(path) as f:
            np.save(f, stack)
    return stack


def cache_dir() -> Path:
    return Path(os.environ.get("BRAIN_AUDIT_CACHE") or Path.home() / ".cache" / "brain-audit")


def _derive_mni152() -> dict[str, np.ndarray]:
    from nilearn import datasets

    def volume(img) -> np.ndarray:
        return np.pad(np.asarray(img.dataobj, dtype=np.float32), PAD)

    mask_img = datasets.load_mni152_brain_mask(resolution=1)
    mask = volume(mask_img) > 0.5
    gm = volume(datasets.load_mni152_gm_template(resolution=1)).clip(0, 1) * mask
    wm = volume(datasets.load_mni152_wm_template(resolution=1)).clip(0, 1) * mask
    csf = np.clip(mask - gm - wm, 0, 1)
    affine = mask_img.affine.copy()
    affine[:3, 3] -= affine[:3, :3] @ np.full(3, PAD)  # the padded grid's origin
    inside, outside = _distances(mask)
    return {"gm": gm, "wm": wm, "csf": csf, "outside_mm": outside, "inside_mm": inside, "affine": affine}


def _distances(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(inside_mm, outside_mm) of a 1-mm brain mask padded by :data:`PAD`."""
    from scipy.ndimage import distance_transform_edt

    # Distance transforms on a crop around the brain: 4x fewer voxels inside, and outside
    # nothing beyond the scalp (about 20 mm) is ever used, so PAD - 1 mm of margin suffices.
    nz = np.nonzero(mask)
    inner = tuple(slice(int(i.min()) - 1, int(i.max()) + 2) for i in nz)
    outer = tuple(slice(max(int(i.min()) - PAD + 1, 0), int(i.max()) + PAD) for i in nz)
    inside = np.zeros(mask.shape, np.float32)
    inside[inner] = distance_transform_edt(mask[inner])
    outside = np.full(mask.shape, PAD, np.float32)  # the crop's margin: at least PAD - 1 mm away
    outside[outer] = np.minimum(distance_transform_edt(~mask[outer]), PAD)
    return inside, outside


def colin27_dir() -> Path:
    """Where Colin27's files are read: ``$BRAIN_AUDIT_COLIN27`` or Debian's mricron-data folder."""
    return Path(os.environ.get("BRAIN_AUDIT_COLIN27") or "/usr/share/mricron/templates")


def _colin27_paths() -> tuple[Path, Path]:
    folder = colin27_dir()
    paths = tuple(folder / f for f in _COLIN27_FILES)
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise ValueError(
            f"data.synthetic.anatomy = 'colin27' needs {missing[0]} (Colin27, from Debian's mricron-data package): "
            "install it with `sudo apt-get install mricron-data` (`make setup` does), or set BRAIN_AUDIT_COLIN27"
        )
    return paths  # type: ignore[return-value]


# Colin27 segmentation.  SMOOTH: Gaussian sigma (mm) against noise before reading intensities;
# CSF anchor: the brain's 1st intensity percentile (the ventricles); grey and white matter anchors:
# the means of the upper two of three multi-Otsu classes inside the brain mask.  The dark threshold
# (midway between the CSF and grey-matter anchors) splits bone and CSF from marrow and soft tissue;
# SKULL_REACH_MM: how far from the brain the skull can lie; SKULL_CLOSE_MM: the closing radius that
# takes the marrow between the inner and outer tables into the skull; EXT_CSF_MM: dark voxels this
# close to the brain are CSF, not bone.
_SMOOTH, _SKULL_REACH_MM, _SKULL_CLOSE_MM, _EXT_CSF_MM = 0.7, 15.0, 3, 1.5


def _derive_colin27() -> dict[str, np.ndarray]:
    """Tissue fractions and head layers of Colin27 (see the module docstring); every step is a
    fixed rule on the T1 intensities and the BET mask, nothing tuned per slice.

    Inside the brain, a voxel of smoothed intensity v between two adjacent anchors a < b is a mix
    (v - a) / (b - a) of the brighter tissue and the rest of the darker one (two-compartment partial
    volume: CSF-GM below the GM anchor, GM-WM above); beyond the outer anchors it is pure.  Outside:
    the head is the largest connected component of voxels brighter than a quarter of the CSF anchor,
    closed, its holes filled slice by slice; the skull is the closing of brain + dark head voxels
    within ``_SKULL_REACH_MM`` of the brain, less the brain and the ``ext_csf`` rim; ``marrow`` its
    voxels above the dark threshold; the scalp the rest of the head.
    """
    import nibabel as nib
    from scipy import ndimage as ndi
    from skimage.filters import threshold_multiotsu

    head_path, bet_path = _colin27_paths()
    img = nib.load(head_path)
    t1 = np.pad(np.asarray(img.dataobj, np.float32), PAD)
    mask = np.pad(np.asarray(nib.load(bet_path).dataobj) > 0, PAD)
    smooth = ndi.gaussian_filter(t1, _SMOOTH)
    values = smooth[mask]
    low, high = threshold_multiotsu(values, classes=3)
    a_csf = float(np.percentile(values, 1))
    a_gm = float(values[(values >= low) & (values < high)].mean())
    a_wm = float(values[values >= high].mean())
    v = np.where(mask, smooth, 0)
    to_gm = np.clip((v - a_csf) / (a_gm - a_csf), 0, 1)
    to_wm = np.clip((v - a_gm) / (a_wm - a_gm), 0, 1)
    wm = np.where(mask, to_wm, 0)
    gm = np.where(mask, to_gm - to_wm, 0)
    csf = np.where(mask, 1 - to_gm, 0)

    head = smooth > 0.25 * a_csf
    head = ndi.binary_closing(head, np.ones((3, 3, 3), bool), iterations=2)
    for z in range(head.shape[2]):
        head[:, :, z] = ndi.binary_fill_holes(head[:, :, z])
    components, n = ndi.label(head)
    if n:
        sizes = np.bincount(components.ravel())
        sizes[0] = 0
        head = components == int(sizes.argmax())
    head |= mask
    inside, outside = _distances(mask)
    around = head & ~mask
    dark_level = (a_csf + a_gm) / 2
    dark = around & (smooth < dark_level)
    ball = ndi.iterate_structure(ndi.generate_binary_structure(3, 1), _SKULL_CLOSE_MM)
    ext_csf = dark & (outside <= _EXT_CSF_MM)
    skull = ndi.binary_closing(mask | (dark & (outside <= _SKULL_REACH_MM)), ball) & around
    skull &= (outside <= _SKULL_REACH_MM) & ~ext_csf
    marrow = skull & (smooth >= dark_level)
    scalp = around & ~skull & ~ext_csf
    affine = img.affine.copy()
    affine[:3, 3] -= affine[:3, :3] @ np.full(3, PAD)
    return {"gm": gm, "wm": wm, "csf": csf, "outside_mm": outside, "inside_mm": inside, "affine": affine,
            "ext_csf": ext_csf, "skull": skull, "marrow": marrow, "scalp": scalp}  # fmt: skip


def _cache_file(name: str) -> Path:
    if name == "colin27":
        digest = hashlib.sha256(b"".join(p.read_bytes() for p in _colin27_paths())).hexdigest()[:12]
        return cache_dir() / f"{_VERSION}-colin27-{digest}.npz"
    import nilearn

    return cache_dir() / f"{_VERSION}-nilearn{nilearn.__version__}.npz"


_DERIVE = {"mni152": "_derive_mni152", "colin27": "_derive_colin27"}


@functools.cache
def load_anatomy(name: str = "mni152") -> Anatomy:
    """The derived volumes of anatomy ``name`` (:data:`ANATOMIES`), from the disk cache when present
    (computed and cached otherwise).  A one-line ValueError when Colin27's files are missing."""
    if name not in ANATOMIES:
        raise ValueError(f"data.synthetic.anatomy must be one of {', '.join(ANATOMIES)}, got {name!r}")
    fields = (*_FIELDS, *LAYER_FIELDS) if name == "colin27" else _FIELDS
    path = _cache_file(name)
    if path.is_file():
        try:
            with np.load(path) as z:
                return Anatomy(**{k: z[k] for k in (*fields, "affine")}, key=path.stem)
        except (OSError, ValueError, KeyError):
            path.unlink(missing_ok=True)  # a damaged cache file is rebuilt
    derived = globals()[_DERIVE[name]]()
    arrays = {k: np.asarray(derived[k]).astype(np.float16) for k in fields}
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


def colin27_slices(
    size: int = 128, n: int = 19, levels: tuple[float, float] = (0.35, 0.8), stripped: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Real axial slices of Colin27, not phantoms: for tests and benchmarks of the region estimate.

    ``n`` levels evenly between ``levels`` (fractions of the brain's extent), each padded square,
    resized to ``size`` (area interpolation; labels nearest) and scaled by the head's 99.5th
    percentile.  ``stripped``: the BET mask applied (the BraTS look).  Returns images (n, size, size)
    float32 in [0, 1] and label maps (n, size, size) of :data:`audit.data.labels.LABELS` codes: the
    BET brain is ``grey_matter`` (one code for the whole brain), and outside it this module's
    segmentation gives ``csf`` (the extracerebral rim), ``skull`` and ``scalp``.
    """
    import cv2
    import nibabel as nib

    from audit.data.labels import LABELS

    anat = load_anatomy("colin27")
    head_path, _ = _colin27_paths()
    t1 = np.pad(np.asarray(nib.load(head_path).dataobj, np.float32), PAD)
    brain = anat.inside_mm > 0
    lab3 = np.full(t1.shape, LABELS["background"], np.uint8)
    lab3[anat.scalp > 0.5] = LABELS["scalp"]
    lab3[anat.skull > 0.5] = LABELS["skull"]
    lab3[(anat.ext_csf > 0.5) & ~brain] = LABELS["csf"]
    lab3[brain] = LABELS["grey_matter"]
    if stripped:
        t1 = np.where(brain, t1, 0)
        lab3[~brain] = LABELS["background"]
    lo, hi = anat.brain_extent(2)
    zs = np.linspace(lo + levels[0] * (hi - lo), lo + levels[1] * (hi - lo), n).round().astype(int)
    scale = float(np.percentile(t1[lab3 != LABELS["background"]], 99.5))
    images, labels = [], []
    for z in zs:
        img, lab = plane_slice(t1, "axial", int(z)), plane_slice(lab3, "axial", int(z)).astype(np.uint8)
        rows, cols = np.nonzero(lab != LABELS["background"])
        r0, r1, c0, c1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
        side = int(max(r1 - r0, c1 - c0) * 1.1)
        pad_r, pad_c = side - (r1 - r0), side - (c1 - c0)
        crop = ((pad_r // 2, pad_r - pad_r // 2), (pad_c // 2, pad_c - pad_c // 2))
        img, lab = np.pad(img[r0:r1, c0:c1], crop), np.pad(lab[r0:r1, c0:c1], crop)
        images.append(np.clip(cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA) / scale, 0, 1))
        labels.append(cv2.resize(lab, (size, size), interpolation=cv2.INTER_NEAREST))
    return np.stack(images).astype(np.float32), np.stack(labels)
