"""An ``images/`` + ``masks/`` tree: each image with a binary tumor mask of the same name.

``masks/<sub>/<stem>[suffix].<ext>`` belongs to ``images/<sub>/<stem>.<ext>``, where the
suffix may be empty or one of :data:`MASK_SUFFIXES` (``_mask``, ``_seg``, ...) and the
extension may differ.  The class of an image is its first folder under ``images/`` when
there are class folders (mapped as in :mod:`audit.data.folders`); without class folders it
is ``tumor`` when its mask has a non-zero pixel and ``healthy`` otherwise.  A mask is a
tumor where it is non-zero.  An image without a mask, or whose mask has another size, is
skipped and recorded.  With ``data.patient_column``, ``metadata.csv`` gives the patients.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from audit.data.dataset import Dataset, assemble
from audit.data.folders import (
    IMAGE_SUFFIXES,
    class_map_from,
    class_order,
    fit_mask_to_size,
    fit_to_size,
    patients_from_metadata,
    read_image,
)

__all__ = ["MASK_SUFFIXES", "load_paired_dataset", "pair_files"]

MASK_SUFFIXES = ("", "_mask", "-mask", "_seg", "-seg", "_label", "_gt")


def _images_under(folder: Path) -> list[Path]:
    return sorted(
        f
        for f in folder.rglob("*")
        if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES and not f.name.startswith(".")
    )


def pair_files(root: Path) -> tuple[list[tuple[Path, Path | None]], bool]:
    """(image, mask or None) for every image under ``root/images``, and whether the images sit
    in class folders."""
    images_dir, masks_dir = root / "images", root / "masks"
    for d in (images_dir, masks_dir):
        if not d.is_dir():
            raise ValueError(f"data.path: {root} needs an images/ and a masks/ folder; {d.name}/ is missing")
    masks: dict[tuple[Path, str], Path] = {}
    for m in _images_under(masks_dir):
        masks.setdefault((m.parent.relative_to(masks_dir), m.stem.lower()), m)
    files = _images_under(images_dir)
    if not files:
        raise ValueError(f"data.path: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) under {images_dir}")
    pairs = []
    for f in files:
        sub = f.parent.relative_to(images_dir)
        match = next(
            (masks[(sub, f.stem.lower() + s)] for s in MASK_SUFFIXES if (sub, f.stem.lower() + s) in masks), None
        )
        pairs.append((f, match))
    in_class_folders = all(f.parent != images_dir for f, _ in pairs)
    return pairs, in_class_folders


def load_paired_dataset(cfg, rng: np.random.Generator) -> Dataset:
    """Images and tumor masks under ``cfg.path`` (a :class:`audit.config.DataConfig`)."""
    root = Path(cfg.path)
    if not root.is_dir():
        raise ValueError(f"data.path: {root} is not a folder")
    pairs, in_class_folders = pair_files(root)
    class_map = class_map_from(cfg.class_map)
    patients = patients_from_metadata(root, cfg.patient_column, [f for f, _ in pairs]) if cfg.patient_column else None
    images, masks, rows, skipped, labels_txt = [], [], [], [], []
    for k, (path, mask_path) in enumerate(pairs):
        rel = str(path.relative_to(root))
        try:
            if mask_path is None:
                raise ValueError("no mask in masks/ with the same name")
            image, mask = read_image(path), read_image(mask_path) > 0
            if mask.shape != image.shape:
                raise ValueError(f"mask {mask.shape[1]}x{mask.shape[0]} does not match the image "
                                 f"{image.shape[1]}x{image.shape[0]}")  # fmt: skip
        except ValueError as exc:
            skipped.append({"source": rel, "reason": str(exc)})
            continue
        img, info = fit_to_size(image, cfg.image_size, cfg.resize)
        fitted = fit_mask_to_size(mask, cfg.image_size, cfg.resize)
        if in_class_folders:
            folder = path.relative_to(root / "images").parts[0]
            label = class_map.get(folder.lower(), folder)
        else:
            label = "tumor" if mask.any() else "healthy"
        images.append(img)
        masks.append(fitted)
        labels_txt.append(label)
        row = {
            "id": rel,
            "class": label,
            "mask": str(mask_path.relative_to(root)),
            "tumor_area": int(fitted.sum()),
            **info,
        }
        if patients is not None:
            row["patient"] = patients[k]
        rows.append(row)
    return assemble(images, labels_txt, rows, skipped, cfg, rng, class_order(set(labels_txt)), masks=masks)
