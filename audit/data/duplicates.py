"""Exact and near-duplicate images across (and within) the split parts.

The public Kaggle brain-MRI sets hold the same slice more than once, sometimes re-encoded,
resized or shifted in brightness; a duplicate of a training image in the test set is a leak
that inflates test accuracy.  Near duplicates are found with a perceptual hash (pHash,
Zauner 2010, "Implementation and Benchmarking of Perceptual Image Hash Functions"): the image
shrunk to 32 x 32, its 2-D DCT, the 8 x 8 lowest frequencies compared with their median
-> 64 bits.  Two images whose hashes differ in at most ``max_distance`` bits are near
duplicates; equal pixel arrays are exact duplicates.
"""

from __future__ import annotations

import dataclasses
import hashlib

import cv2
import numpy as np
import pandas as pd

from audit.data.dataset import Dataset

__all__ = ["check_duplicates", "drop_leaks", "find_duplicates", "perceptual_hash"]

_PART_ORDER = {"train": 0, "val": 1, "test": 2}


def perceptual_hash(image: np.ndarray) -> np.uint64:
    """64-bit pHash of one (H, W) or (H, W, C) image (module docstring)."""
    g = np.asarray(image, np.float32)
    g = g.mean(axis=-1) if g.ndim == 3 else g
    small = cv2.resize(g, (32, 32), interpolation=cv2.INTER_AREA)
    low = cv2.dct(small)[:8, :8].ravel()
    # The DC term (overall brightness) is left out of the median, as in pHash.
    bits = low > np.median(low[1:])
    return np.packbits(bits).view(">u8")[0].astype(np.uint64)


def find_duplicates(ds: Dataset, max_distance: int = 4, chunk: int = 2048) -> pd.DataFrame:
    """Pairs of exact or near-duplicate images in ``ds``.

    Returns one row per pair (``a`` < ``b`` row indices): ``id_a``, ``id_b``, ``part_a``,
    ``part_b``, ``distance`` (Hamming distance of the hashes), ``exact`` (equal pixels) and
    ``cross_split`` (the two are in different parts: a leak).
    """
    if not 0 <= max_distance <= 64:
        raise ValueError(f"data.duplicate_distance must lie in [0, 64], got {max_distance}")
    n = len(ds.images)
    hashes = np.empty(n, np.uint64)
    digests = []
    for i in range(n):
        img = np.asarray(ds.images[i])
        hashes[i] = perceptual_hash(img)
        digests.append(hashlib.sha1(np.ascontiguousarray(img).tobytes()).hexdigest())
    pairs = []
    for s in range(0, n, chunk):
        block = hashes[s : s + chunk]
        distance = np.bitwise_count(block[:, None] ^ hashes[None, :])
        rows, cols = np.nonzero(distance <= max_distance)
        keep = cols > rows + s
        for r, c in zip(rows[keep] + s, cols[keep], strict=True):
            pairs.append((int(r), int(c), int(distance[r - s, c])))
    ids = ds.meta["id"].astype(str).to_numpy()
    table = pd.DataFrame(
        [
            {
                "a": a, "b": b, "id_a": ids[a], "id_b": ids[b], "part_a": str(ds.split[a]), "part_b": str(ds.split[b]),
                "distance": d, "exact": digests[a] == digests[b], "cross_split": ds.split[a] != ds.split[b],
            }
            for a, b, d in pairs
        ],
        columns=["a", "b", "id_a", "id_b", "part_a", "part_b", "distance", "exact", "cross_split"],
    )  # fmt: skip
    return table


def drop_leaks(ds: Dataset, pairs: pd.DataFrame) -> Dataset:
    """``ds`` without the later member of every cross-split duplicate pair (parts ordered
    train, val, test: a test copy of a training image goes, the training image stays), each
    drop recorded in ``skipped``."""
    drop: dict[int, str] = {}
    for p in pairs[pairs["cross_split"]].itertuples():
        later, other = (p.b, p.a) if _PART_ORDER[p.part_b] > _PART_ORDER[p.part_a] else (p.a, p.b)
        if later not in drop:
            kind = "exact" if p.exact else f"near (pHash distance {p.distance})"
            drop[later] = f"{kind} duplicate of {ds.split[other]} image {ds.meta['id'].iloc[other]}"
    if not drop:
        return ds
    keep = np.setdiff1d(np.arange(len(ds.images)), list(drop))

    def rows(a):
        return None if a is None else np.asarray(a)[keep]

    return dataclasses.replace(
        ds,
        images=rows(ds.images),
        labels=rows(ds.labels),
        label_maps=rows(ds.label_maps),
        tumor_masks=rows(ds.tumor_masks),
        split=rows(ds.split),
        meta=ds.meta.iloc[keep].reset_index(drop=True),
        skipped=(*ds.skipped, *({"source": str(ds.meta["id"].iloc[i]), "reason": r} for i, r in sorted(drop.items()))),
    )


def check_duplicates(ds: Dataset, max_distance: int, drop: bool) -> Dataset:
    """``ds`` with its duplicate pairs recorded (``Dataset.duplicates``) and, with ``drop``,
    the leaking val/test members removed (:func:`drop_leaks`)."""
    pairs = find_duplicates(ds, max_distance)
    # With drop, every cross-split pair loses its later member (drop_leaks).
    records = pairs.drop(columns=["a", "b"]).assign(dropped=pairs["cross_split"] & drop)
    ds = dataclasses.replace(ds, duplicates=tuple(_plain(r) for r in records.to_dict("records")))
    return drop_leaks(ds, pairs) if drop else ds


def _plain(record: dict) -> dict:
    """numpy scalars to Python ones (results.json)."""
    return {k: v.item() if isinstance(v, np.generic) else v for k, v in record.items()}
