"""The one in-memory dataset type every source produces, its split and its on-disk form."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["Dataset", "Rows", "load_dataset", "save_dataset", "split_indices"]


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
    """

    images: np.ndarray
    labels: np.ndarray
    label_maps: np.ndarray | None
    class_names: tuple[str, ...]
    split: np.ndarray
    meta: pd.DataFrame
    skipped: tuple[dict, ...] = ()

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


def save_dataset(ds: Dataset, folder: Path) -> None:
    """Write ``ds`` into ``folder``: images.npy and label_maps.npy (memory-mappable), arrays.npz
    (labels, split), meta.csv, info.json."""
    np.save(folder / "images.npy", np.asarray(ds.images, np.float32))
    if ds.label_maps is not None:
        np.save(folder / "label_maps.npy", ds.label_maps)
    np.savez(folder / "arrays.npz", labels=ds.labels, split=ds.split)
    ds.meta.to_csv(folder / "meta.csv", index=False)
    info = {"class_names": list(ds.class_names), "skipped": list(ds.skipped)}
    (folder / "info.json").write_text(json.dumps(info, indent=2))


def load_dataset(folder: Path) -> Dataset:
    """Read a dataset written by :func:`save_dataset`; images and label maps are memory-mapped
    (read-only), so a stage that streams batches never holds the whole set in memory."""
    with np.load(folder / "arrays.npz", allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    maps = folder / "label_maps.npy"
    info = json.loads((folder / "info.json").read_text())
    return Dataset(
        images=np.load(folder / "images.npy", mmap_mode="r"),
        labels=arrays["labels"],
        label_maps=np.load(maps, mmap_mode="r") if maps.is_file() else None,
        class_names=tuple(info["class_names"]),
        split=arrays["split"],
        meta=pd.read_csv(folder / "meta.csv", keep_default_na=False),
        skipped=tuple(info["skipped"]),
    )
