"""The one in-memory dataset type every source produces, its split and its on-disk form."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "Dataset", "Rows", "assemble", "finite_pixels", "load_dataset", "read_saved_dataset", "save_dataset",
    "split_by_group", "split_indices",
]  # fmt: skip


@dataclass(frozen=True)
class Dataset:
    """Images, labels, optional ground-truth label maps and a split.

    Attributes
    ----------
    images : (N, H, W, C) float32 in [0, 1].
    labels : (N,) int64 class indices into ``class_names``.
    label_maps : (N, H, W) uint8 codes of :data:`audit.data.labels.LABELS`, or None.
    class_names : names of the classes, index = label.
    split : (N,) array of "train" / "val" / "test".
    meta : one row per image (at least ``id``), in the order of ``images``.
    skipped : records of inputs that were not used, each {"source", "reason"}.
    tumor_masks : (N, H, W) bool tumor masks of a real masked set (no full label maps), or None.
    duplicates : exact / near-duplicate pairs found (:func:`audit.data.duplicates.find_duplicates`),
        each {"id_a", "id_b", "part_a", "part_b", "distance", "exact", "cross_split", "dropped"}.
    """

    images: np.ndarray
    labels: np.ndarray
    label_maps: np.ndarray | None
    class_names: tuple[str, ...]
    split: np.ndarray
    meta: pd.DataFrame
    skipped: tuple[dict, ...] = ()
    tumor_masks: np.ndarray | None = None
    duplicates: tuple[dict, ...] = ()

    def indices(self, part: str) -> np.ndarray:
        """Row indices of one split part ("train", "val" or "test")."""
        return np.flatnonzero(self.split == part)

    def class_counts(self, part: str | None = None) -> dict[str, int]:
        labels = self.labels if part is None else self.labels[self.split == part]
        return {name: int(np.sum(labels == k)) for k, name in enumerate(self.class_names)}


class Rows:
    """Rows ``index`` of ``array``, read one slice at a time (``transform`` applied to each).

    Lets a stage stream a split of a memory-mapped dataset in batches: ``rows[s:e]`` reads
    only those images from disk, and ``len(rows)`` is the number of rows.
    """

    def __init__(self, array: np.ndarray, index: np.ndarray, transform=None):
        self.array, self.index, self.transform = array, np.asarray(index), transform

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, key: slice) -> np.ndarray:
        if not isinstance(key, slice):
            raise TypeError("Rows supports slices only")
        x = np.asarray(self.array[self.index[key]])
        return self.transform(x) if self.transform is not None else x


def finite_pixels(img: np.ndarray, fill: float | None = None) -> tuple[np.ndarray, int]:
    """``img`` with its NaN and infinite pixels set to ``fill`` (default: the darkest finite value),
    and how many there were.  ValueError when no pixel is finite: such a file holds no image."""
    img = np.asarray(img, np.float32)
    finite = np.isfinite(img)
    bad = int(finite.size - np.count_nonzero(finite))
    if not bad:
        return img, 0
    if not finite.any():
        raise ValueError("no finite pixel values (all NaN or infinite)")
    return np.where(finite, img, float(img[finite].min()) if fill is None else fill).astype(np.float32), bad


def split_indices(
    labels: np.ndarray, test_fraction: float, val_fraction: float, rng: np.random.Generator
) -> np.ndarray:
    """Stratified train/val/test assignment, as the seed did it.

    ``test_fraction`` of each class goes to test, then ``val_fraction`` of the
    remainder to validation (the seed: 30 % test, then 15 % of train).

    Returns
    -------
    (N,) array of "train" / "val" / "test".
    """
    if not 0 < test_fraction < 1 or not 0 <= val_fraction < 1:
        raise ValueError(f"split fractions must lie in (0, 1): test={test_fraction}, val={val_fraction}")
    split = np.full(len(labels), "train", dtype=object)
    for k in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == k))
        n_test = int(round(test_fraction * len(idx)))
        n_val = int(round(val_fraction * (len(idx) - n_test)))
        split[idx[:n_test]] = "test"
        split[idx[n_test : n_test + n_val]] = "val"
    return split.astype(str)


def split_by_group(
    labels: np.ndarray, groups: np.ndarray, test_fraction: float, val_fraction: float, rng: np.random.Generator
) -> np.ndarray:
    """Train/val/test assignment that keeps every group (a patient) whole.

    Groups are stratified by their most frequent label, then ``test_fraction`` of each such
    stratum's groups goes to test and ``val_fraction`` of the rest to validation, as
    :func:`split_indices` does with images.  Slice-level splits of the same patient's slices
    inflate test accuracy; this makes them impossible.

    Returns
    -------
    (N,) array of "train" / "val" / "test".
    """
    groups = np.asarray(groups).astype(str)
    names, inverse = np.unique(groups, return_inverse=True)
    majority = np.array([np.bincount(labels[inverse == g]).argmax() for g in range(len(names))])
    part_of_group = split_indices(majority, test_fraction, val_fraction, rng)
    return part_of_group[inverse]


def assemble(
    images: list[np.ndarray],
    labels_txt: list[str],
    rows: list[dict],
    skipped: list[dict],
    split_cfg,
    rng: np.random.Generator,
    class_names: tuple[str, ...],
    masks: list[np.ndarray] | None = None,
    given: list[str | None] | None = None,
) -> Dataset:
    """A :class:`Dataset` from loaded (H, W) images, their class names and metadata rows.

    The split: by patient when the rows carry a non-empty ``patient`` (:func:`split_by_group`);
    else the ``given`` parts ("train"/"test", validation drawn from train) when there are any;
    else stratified by image (:func:`split_indices`).  ``split_cfg`` supplies
    ``test_fraction`` and ``val_fraction``.  Clear one-line errors when nothing was read or
    only one class was found.
    """
    if not images:
        raise ValueError("no readable images" + (f" ({len(skipped)} skipped, e.g. {skipped[0]['source']}: "
                                                  f"{skipped[0]['reason']})" if skipped else ""))  # fmt: skip
    present = sorted(set(labels_txt))
    if len(present) < 2:
        raise ValueError(f"only one class found ({present[0]!r}); a classifier audit needs at least two")
    labels = np.array([class_names.index(c) for c in labels_txt], np.int64)
    meta = pd.DataFrame(rows)
    patients = meta["patient"].astype(str).to_numpy() if "patient" in meta else None
    if patients is not None and np.all(patients != ""):
        split = split_by_group(labels, patients, split_cfg.test_fraction, split_cfg.val_fraction, rng)
    elif given is not None and any(g is not None for g in given):
        split = np.array([g or "train" for g in given], dtype=object)
        train = np.flatnonzero(split == "train")
        if split_cfg.val_fraction > 0:  # validation from the given training part, stratified
            part = split_indices(labels[train], split_cfg.val_fraction, 0.0, rng)
            split[train[part == "test"]] = "val"
        split = split.astype(str)
    else:
        split = split_indices(labels, split_cfg.test_fraction, split_cfg.val_fraction, rng)
    return Dataset(
        images=np.stack(images)[..., None].astype(np.float32),
        labels=labels,
        label_maps=None,
        class_names=class_names,
        split=split,
        meta=meta,
        skipped=tuple(skipped),
        tumor_masks=np.stack(masks).astype(bool) if masks is not None else None,
    )


def save_dataset(ds: Dataset, folder: Path) -> None:
    """Write ``ds`` into ``folder``: images.npy, label_maps.npy, tumor_masks.npy (memory-mappable), arrays.npz
    (labels, split), meta.csv, info.json."""
    np.save(folder / "images.npy", np.asarray(ds.images, np.float32))
    if ds.label_maps is not None:
        np.save(folder / "label_maps.npy", ds.label_maps)
    if ds.tumor_masks is not None:
        np.save(folder / "tumor_masks.npy", np.asarray(ds.tumor_masks, bool))
    np.savez(folder / "arrays.npz", labels=ds.labels, split=ds.split)
    ds.meta.to_csv(folder / "meta.csv", index=False)
    info = {"class_names": list(ds.class_names), "skipped": list(ds.skipped), "duplicates": list(ds.duplicates)}
    (folder / "info.json").write_text(json.dumps(info, indent=2))


def read_saved_dataset(folder: Path) -> Dataset:
    """``data.source = "saved"``: a dataset folder written by :func:`save_dataset` (by
    :func:`audit.audit_model` from arrays, or copied out of a run's cache), read into memory and checked."""
    folder = Path(folder)
    missing = [f for f in ("images.npy", "arrays.npz", "meta.csv", "info.json") if not (folder / f).is_file()]
    if missing:
        raise FileNotFoundError(f"data.path: {folder} is not a saved dataset (no {', '.join(missing)})")
    ds = load_dataset(folder)
    n = len(ds.images)
    images = np.array(ds.images, np.float32)
    if images.ndim != 4 or len(ds.labels) != n or len(ds.split) != n or len(ds.meta) != n:
        raise ValueError(f"data.path: {folder}: images, labels, split and meta.csv must have one row per image")
    if not np.isfinite(images).all() or images.min() < 0 or images.max() > 1:
        raise ValueError(f"data.path: {folder}: images must be finite and lie in [0, 1]")
    if not set(np.unique(ds.split)) <= {"train", "val", "test"} or not np.any(ds.split == "test"):
        raise ValueError(f"data.path: {folder}: the split must hold test images (and only train / val / test)")
    if len(ds.labels) and (ds.labels.min() < 0 or ds.labels.max() >= len(ds.class_names)):
        raise ValueError(f"data.path: {folder}: labels must index class_names ({', '.join(ds.class_names)})")
    meta = ds.meta if "class" in ds.meta else ds.meta.assign(**{"class": [ds.class_names[k] for k in ds.labels]})
    maps = None if ds.label_maps is None else np.array(ds.label_maps)
    masks = None if ds.tumor_masks is None else np.array(ds.tumor_masks)
    return dataclasses.replace(ds, images=images, label_maps=maps, tumor_masks=masks, meta=meta)


def load_dataset(folder: Path) -> Dataset:
    """Read a dataset written by :func:`save_dataset`; images and label maps are memory-mapped
    (read-only), so a stage that streams batches never holds the whole set in memory."""
    with np.load(folder / "arrays.npz", allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    maps, masks = folder / "label_maps.npy", folder / "tumor_masks.npy"
    info = json.loads((folder / "info.json").read_text())
    return Dataset(
        images=np.load(folder / "images.npy", mmap_mode="r"),
        labels=arrays["labels"],
        label_maps=np.load(maps, mmap_mode="r") if maps.is_file() else None,
        class_names=tuple(info["class_names"]),
        split=arrays["split"],
        meta=pd.read_csv(folder / "meta.csv", keep_default_na=False),
        skipped=tuple(info["skipped"]),
        tumor_masks=np.load(masks, mmap_mode="r") if masks.is_file() else None,
        duplicates=tuple(info.get("duplicates", ())),
    )
