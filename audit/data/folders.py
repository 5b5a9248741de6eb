"""Image folders as a :class:`~audit.data.dataset.Dataset`: the public brain-tumor MRI layouts
and any class-per-folder tree.

Layouts recognised under ``data.path`` (folder names matched case-insensitively):

- ``Training/`` + ``Testing/`` (also ``train``/``test``), each holding class folders: the
  given split is kept, validation is drawn from the training part (stratified, seeded);
- class folders at the top (Kaggle's ``Brain Tumor/`` + ``Healthy/``, ``yes/`` + ``no/``, or
  any other names): a stratified, seeded train/val/test split is made.

Folder names map to class labels through :data:`DEFAULT_CLASS_MAP` plus ``data.class_map``
entries ``"folder=label"``; other names are classes of their own.  Images (JPEG, PNG, BMP,
TIFF; 8 or 16 bit; grayscale, RGB or RGBA) are read as grayscale in [0, 1] and fitted to
``data.image_size`` by ``data.resize`` (``stretch`` or aspect-preserving ``pad``); original
size, aspect ratio and padding go into the metadata, since they can be shortcuts themselves.
Unreadable files are skipped and recorded.  No region masks: ``label_maps`` is None.  With
``data.patient_column``, ``metadata.csv`` at the root gives each file's patient and the
split keeps patients whole.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from audit.data.dataset import Dataset, assemble, finite_pixels

__all__ = [
    "DEFAULT_CLASS_MAP", "IMAGE_SUFFIXES", "class_map_from", "class_order", "fit_mask_to_size", "fit_to_size",
    "load_folder_dataset", "patients_from_metadata", "read_image", "scan_folder", "unwrap",
]  # fmt: skip

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff"})
DEFAULT_CLASS_MAP: dict[str, str] = {
    "brain tumor": "tumor", "tumor": "tumor", "yes": "tumor",
    "healthy": "healthy", "no": "healthy", "notumor": "healthy", "no_tumor": "healthy", "no tumor": "healthy",
    "glioma": "glioma", "glioma_tumor": "glioma", "meningioma": "meningioma", "meningioma_tumor": "meningioma",
    "pituitary": "pituitary", "pituitary_tumor": "pituitary",
}  # fmt: skip
_SPLITS = {"training": "train", "train": "train", "testing": "test", "test": "test"}
_NEGATIVE = ("healthy", "notumor")


def read_image(path: Path) -> np.ndarray:
    """(H, W) float32 grayscale in [0, 1]; RGBA is composited over black.  ValueError if unreadable.

    8- and 16-bit images are divided by their type's maximum.  Floating-point images (e.g. float
    TIFF) keep their values when they lie in [0, 1] and are otherwise scaled from their own
    minimum and maximum to [0, 1]; NaN and infinite pixels become the darkest finite value
    (:func:`~audit.data.dataset.finite_pixels`; how many is in the metadata, ``nonfinite_pixels``).
    """
    return _read_image(path)[0]


def _read_image(path: Path) -> tuple[np.ndarray, int]:
    """:func:`read_image` and the number of non-finite pixels it replaced."""
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None or raw.size == 0:
        raise ValueError("not a readable image")
    bad = 0
    if raw.dtype == np.uint8:
        img = raw.astype(np.float32) / 255
    elif raw.dtype == np.uint16:
        img = raw.astype(np.float32) / 65535
    elif raw.dtype.kind in "iu":  # other integer types (int16, int32): scaled from their own range
        img = _to_unit(raw.astype(np.float32))
    else:
        img, bad = finite_pixels(raw)
        img = _to_unit(img)
    if img.ndim == 3 and img.shape[2] == 4:
        img = img[..., :3] * img[..., 3:4]
    if img.ndim == 3 and img.shape[2] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    elif img.ndim == 3:
        img = img[..., 0]
    return img, bad


def _to_unit(img: np.ndarray) -> np.ndarray:
    """``img`` unchanged when within [0, 1], else scaled from its minimum and maximum (a constant
    image outside [0, 1] becomes all zeros)."""
    lo, hi = float(img.min()), float(img.max())
    if lo >= 0 and hi <= 1:
        return img
    return (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)


def fit_to_size(img: np.ndarray, size: int, how: str) -> tuple[np.ndarray, dict]:
    """``img`` (H, W) to (size, size): ``stretch`` (area/linear resampling) or ``pad`` (scaled to fit,
    centred, zeros around).  Returns the image and its metadata: ``orig_height``, ``orig_width``,
    ``orig_aspect`` (width / height), ``padding`` and ``padding_box`` ("r0,c0,r1,c1" of the image inside)."""
    h, w = img.shape
    info = {"orig_height": h, "orig_width": w, "orig_aspect": round(w / h, 4), "padding": False, "padding_box": ""}
    if how == "stretch":
        interp = cv2.INTER_AREA if h > size or w > size else cv2.INTER_LINEAR
        return cv2.resize(img, (size, size), interpolation=interp), info
    if how != "pad":
        raise ValueError(f"data.resize must be stretch or pad, got {how!r}")
    scale = size / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    inner = cv2.resize(img, (nw, nh), interpolation=interp)
    out = np.zeros((size, size), np.float32)
    r0, c0 = (size - nh) // 2, (size - nw) // 2
    out[r0 : r0 + nh, c0 : c0 + nw] = inner
    info["padding"] = (nh, nw) != (size, size)
    info["padding_box"] = f"{r0},{c0},{r0 + nh},{c0 + nw}" if info["padding"] else ""
    return out, info


def fit_mask_to_size(mask: np.ndarray, size: int, how: str) -> np.ndarray:
    """A binary mask (H, W) through the same transform as :func:`fit_to_size` gives its image:
    resampled as a fraction, then thresholded at one half, so it stays aligned and binary."""
    fitted, _ = fit_to_size(np.asarray(mask, np.float32), size, how)
    return fitted >= 0.5


def _class_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def scan_folder(root: Path, class_map: dict[str, str]) -> list[tuple[Path, str, str | None]]:
    """(file, class label, given split or None) for every image file under ``root``'s class folders."""
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"data.path: {root} is not a folder")
    top = _class_dirs(root)
    split_dirs = [d for d in top if d.name.lower() in _SPLITS]
    groups = [(d, _SPLITS[d.name.lower()]) for d in split_dirs] if split_dirs else [(root, None)]
    if split_dirs and {s for _, s in groups} != {"train", "test"}:
        raise ValueError(f"data.path: {root} has {', '.join(d.name for d in split_dirs)} but needs both a training "
                         "and a testing folder")  # fmt: skip
    items = []
    for folder, split in groups:
        for cls_dir in _class_dirs(folder):
            label = class_map.get(cls_dir.name.lower(), cls_dir.name)
            for f in sorted(cls_dir.rglob("*")):
                if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES and not f.name.startswith("."):
                    items.append((f, label, split))
    if not items:
        raise ValueError(f"data.path: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in class folders under {root}")
    return items


def class_order(labels: set[str]) -> tuple[str, ...]:
    """Negative class first (index 0), then the others alphabetically."""
    first = [c for c in _NEGATIVE if c in labels]
    return (*first, *sorted(labels - set(first)))


def class_map_from(entries: tuple[str, ...]) -> dict[str, str]:
    """:data:`DEFAULT_CLASS_MAP` plus ``data.class_map`` entries ``"folder=label"`` (names lower-cased)."""
    class_map = dict(DEFAULT_CLASS_MAP)
    for entry in entries:
        folder, sep, label = entry.partition("=")
        if not sep or not folder.strip() or not label.strip():
            raise ValueError(f"data.class_map: {entry!r} is not 'folder=label'")
        class_map[folder.strip().lower()] = label.strip()
    return class_map


def patients_from_metadata(root: Path, column: str, files: list[Path]) -> list[str]:
    """Patient id of every file from ``root/metadata.csv``'s ``column``.

    The row of a file is the one whose first column holds its name (with or without the
    suffix) or its path relative to ``root``.  A clear error when the file or column is
    missing; files without a row get "" (and the split falls back to images).
    """
    csv = root / "metadata.csv"
    if not csv.is_file():
        raise ValueError(f"data.patient_column = {column!r} needs {csv}, which does not exist")
    table = pd.read_csv(csv, dtype=str, keep_default_na=False)
    if column not in table.columns:
        raise ValueError(f"data.patient_column: {csv} has no column {column!r} (columns: {', '.join(table.columns)})")
    by_key = dict(zip(table.iloc[:, 0], table[column], strict=True))
    out = []
    for f in files:
        rel = str(f.relative_to(root))
        out.append(by_key.get(rel) or by_key.get(f.name) or by_key.get(f.stem) or "")
    return out


def unwrap(root: Path) -> Path:
    """``root``, or the folder inside it while it holds nothing but one folder of folders (a
    downloaded archive often wraps the set: ``Brain Tumor Data Set/Brain Tumor Data Set/...``)."""
    while root.is_dir():
        dirs = _class_dirs(root)
        images = [f for f in root.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES]
        if len(dirs) != 1 or images or not _class_dirs(dirs[0]):
            break
        root = dirs[0]
    return root


def load_folder_dataset(cfg, rng: np.random.Generator) -> Dataset:
    """Read ``cfg.path`` (a :class:`audit.config.DataConfig` with ``source = "folder"``)."""
    root = unwrap(Path(cfg.path))
    items = scan_folder(root, class_map_from(cfg.class_map))
    used = {f.parent for f, _, _ in items}
    skipped = [
        {"source": f"{d.relative_to(root)}/", "reason": "empty class folder (no image files)"}
        for d in sorted(root.rglob("*"))
        if d.is_dir() and not d.name.startswith(".") and not _class_dirs(d) and d not in used
    ]
    patients = (
        patients_from_metadata(root, cfg.patient_column, [f for f, _, _ in items]) if cfg.patient_column else None
    )
    images, rows, labels_txt, given = [], [], [], []
    for k, (path, label, split) in enumerate(items):
        rel = str(path.relative_to(root))
        try:
            raw, bad = _read_image(path)
            img, info = fit_to_size(raw, cfg.image_size, cfg.resize)
        except ValueError as exc:
            skipped.append({"source": rel, "reason": str(exc)})
            continue
        images.append(img)
        row = {"id": rel, "class": label, "folder": path.parent.name, **info, "nonfinite_pixels": bad}
        if patients is not None:
            row["patient"] = patients[k]
        rows.append(row)
        labels_txt.append(label)
        given.append(split)
    if not images:
        raise ValueError(f"data.path: none of the {len(items)} image files under {root} could be read")
    return assemble(images, labels_txt, rows, skipped, cfg, rng, class_order(set(labels_txt)), given=given)
