"""Masked sets (Cheng .mat, BraTS NIfTI, images/ + masks/), patient-level splits and duplicates.

Every fixture file is written here, in a temporary folder."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from audit.config import DataConfig, NiftiConfig
from audit.data.dataset import split_by_group

RNG = np.random.default_rng


def _head(h: int, w: int, tumor: tuple[int, int, int] | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A bright ellipse on black with texture, and a tumor disc (row, col, radius) drawn brighter."""
    img = np.zeros((h, w), np.float32)
    cv2.ellipse(img, (w // 2, h // 2), (w // 3, h // 3), 0, 0, 360, 0.5, -1)
    img += RNG(seed).uniform(0, 0.2, (h, w)).astype(np.float32) * (img > 0)
    mask = np.zeros((h, w), np.uint8)
    if tumor is not None:
        cv2.circle(mask, (tumor[1], tumor[0]), tumor[2], 1, -1)
        img[mask > 0] = 0.95
    return img, mask.astype(bool)


# ----------------------------------------------------------------------------- Cheng et al. .mat


def write_cheng_mat(path, image: np.ndarray, mask: np.ndarray, label: int, pid: str) -> None:
    """A MATLAB v7.3 file as the figshare set has them: matrices stored column-major (transposed)."""
    import h5py

    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        g = f.create_group("cjdata")
        g["image"] = (image * 3000).astype(np.int16).T
        g["tumorMask"] = mask.astype(np.uint8).T
        g["tumorBorder"] = np.zeros((1, 4))
        g["label"] = np.array([[float(label)]])
        g["PID"] = np.array([[ord(c)] for c in pid], np.uint16)


def cheng_tree(root, patients: int = 12, slices: int = 3) -> None:
    k = 0
    for p in range(patients):
        label = 1 + p % 3
        for _ in range(slices):
            k += 1
            img, mask = _head(64, 48, (20 + p % 5, 24, 6), seed=k)  # non-square: padded
            write_cheng_mat(root / f"part{1 + k % 2}" / f"{k}.mat", img, mask, label, f"MRN{100 + p}")
    import h5py

    with h5py.File(root / "cvind.mat", "w") as f:
        f["cvind"] = np.arange(5)
    (root / "part1" / "truncated.mat").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 10)


def test_cheng_mat_files_load_with_masks_patients_and_skips(tmp_path):
    from audit.data.figshare import load_figshare_dataset

    cheng_tree(tmp_path)
    cfg = DataConfig(source="figshare", path=str(tmp_path), image_size=32, val_fraction=0.34)
    ds = load_figshare_dataset(cfg, RNG(0))
    assert len(ds.images) == 36 and ds.images.shape[1:] == (32, 32, 1)
    assert ds.class_names == ("meningioma", "glioma", "pituitary")
    assert ds.class_counts() == {"meningioma": 12, "glioma": 12, "pituitary": 12}
    assert sorted(s["source"] for s in ds.skipped) == ["cvind.mat", "part1/truncated.mat"]
    assert "cjdata" in next(s["reason"] for s in ds.skipped if s["source"] == "cvind.mat")
    # The mask follows the image through the transpose and the padding: tumor pixels are the bright ones.
    assert ds.tumor_masks.shape == (36, 32, 32)
    for img, mask in zip(ds.images[..., 0], ds.tumor_masks, strict=True):
        assert mask.sum() > 10 and img[mask].mean() > 0.8 and img[~mask].mean() < 0.4
    assert (ds.meta["padding"]).all() and (ds.meta["orig_height"] == 64).all()
    # Split by patient: no patient in two parts.
    parts = ds.meta.assign(part=ds.split).groupby("patient")["part"].nunique()
    assert parts.max() == 1 and set(ds.split) == {"train", "val", "test"}


# ----------------------------------------------------------------------------- BraTS NIfTI


def write_brats_case(folder, case: str, tumor: bool, style: str = "2020", shape=(40, 44, 30)) -> None:
    import nibabel as nib

    folder.mkdir(parents=True, exist_ok=True)
    x, y, z = np.mgrid[: shape[0], : shape[1], : shape[2]]
    head = ((x - 20) / 16) ** 2 + ((y - 22) / 18) ** 2 + ((z - 15) / 12) ** 2 <= 1
    vol = head * (400 + 100 * RNG(len(case)).random(shape))
    seg = np.zeros(shape, np.uint8)
    if tumor:
        ball = (x - 20) ** 2 + (y - 28) ** 2 + (z - 15) ** 2 <= 36
        seg[ball] = 4
        seg[ball & ((x - 20) ** 2 + (y - 28) ** 2 + (z - 15) ** 2 <= 9)] = 1
        vol[ball] = 900
    sep = "_" if style == "2020" else "-"
    mod = "t1ce" if style == "2020" else "t1c"
    for name, data in ((mod, vol.astype(np.float32)), ("seg", seg), ("flair", vol.astype(np.float32))):
        nib.save(nib.Nifti1Image(data, np.eye(4)), folder / f"{case}{sep}{name}.nii.gz")


def test_brats_volumes_become_labelled_slices_with_masks(tmp_path):
    from audit.data.nifti import load_nifti_dataset

    for k in range(6):
        write_brats_case(tmp_path / f"BraTS20_Training_{k:03d}", f"BraTS20_Training_{k:03d}", tumor=k % 2 == 0)
    write_brats_case(tmp_path / "BraTS-GLI-00007-000", "BraTS-GLI-00007-000", tumor=True, style="2023")
    (tmp_path / "lonely").mkdir()
    (tmp_path / "lonely" / "lonely_t1ce.nii.gz").write_bytes(b"")  # no segmentation
    cfg = DataConfig(source="nifti", path=str(tmp_path), image_size=32, levels=(0.2, 0.8), min_tumor_area=4,
                     nifti=NiftiConfig(slice_step=2), test_fraction=0.3, val_fraction=0.2)  # fmt: skip
    ds = load_nifti_dataset(cfg, RNG(0))
    assert ds.class_names == ("healthy", "tumor")
    assert set(ds.meta["patient"]) == {f"BraTS20_Training_{k:03d}/BraTS20_Training_{k:03d}" for k in range(6)} | {
        "BraTS-GLI-00007-000/BraTS-GLI-00007-000"
    }
    assert {"source": "lonely/lonely", "reason": "no seg volume"} in ds.skipped
    tumor = ds.labels == 1
    assert tumor.any() and (~tumor).any()
    assert np.all(ds.tumor_masks[tumor].sum(axis=(1, 2)) >= 4) and not ds.tumor_masks[~tumor].any()
    # The tumor is the bright ball: the mask lands on it after reorientation, rotation and resizing.
    assert ds.images[tumor][..., 0][ds.tumor_masks[tumor]].mean() > 0.9
    # Slices of one case share a part.
    assert ds.meta.assign(part=ds.split).groupby("patient")["part"].nunique().max() == 1
    assert (ds.meta["modality"] == "t1ce").all()


def test_brats_mismatched_or_broken_volumes_are_skipped(tmp_path):
    import nibabel as nib

    from audit.data.nifti import load_nifti_dataset

    for k in range(4):
        write_brats_case(tmp_path / f"c{k}", f"c{k}", tumor=k % 2 == 0)
    nib.save(nib.Nifti1Image(np.zeros((10, 10, 10), np.uint8), np.eye(4)), tmp_path / "c0" / "c0_seg.nii.gz")
    (tmp_path / "c1" / "c1_t1ce.nii.gz").write_bytes(b"\x1f\x8b truncated")
    cfg = DataConfig(source="nifti", path=str(tmp_path), image_size=24, min_tumor_area=4, levels=(0.2, 0.8))
    ds = load_nifti_dataset(cfg, RNG(0))
    reasons = {s["source"]: s["reason"] for s in ds.skipped}
    assert "does not match" in reasons["c0/c0"] and "not a readable NIfTI" in reasons["c1/c1"]
    assert set(ds.meta["patient"]) == {"c2/c2", "c3/c3"}
    with pytest.raises(ValueError, match="data.nifti.modality"):
        load_nifti_dataset(DataConfig(source="nifti", path=str(tmp_path), nifti=NiftiConfig(modality="dwi")), RNG(0))


# ----------------------------------------------------------------------------- images/ + masks/


def _save(path, arr) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), arr)


def test_images_and_masks_pair_by_name_and_bad_pairs_are_skipped(tmp_path):
    from audit.data.paired import load_paired_dataset

    for k in range(12):
        img, mask = _head(40, 40, (20, 18, 5) if k % 2 else None, seed=k)
        _save(tmp_path / "images" / f"case{k}.png", (img * 255).astype(np.uint8))
        _save(tmp_path / "masks" / f"case{k}_mask.png", mask.astype(np.uint8) * 255)
    _save(tmp_path / "images" / "orphan.png", np.zeros((40, 40), np.uint8))
    _save(tmp_path / "images" / "wrong.png", np.zeros((40, 40), np.uint8))
    _save(tmp_path / "masks" / "wrong.png", np.zeros((30, 40), np.uint8))
    (tmp_path / "images" / "empty.jpg").write_bytes(b"")
    _save(tmp_path / "masks" / "empty.jpg", np.zeros((40, 40), np.uint8))
    ds = load_paired_dataset(DataConfig(source="paired", path=str(tmp_path), image_size=32), RNG(0))
    assert ds.class_counts() == {"healthy": 6, "tumor": 6}  # no class folders: from the masks
    reasons = {s["source"]: s["reason"] for s in ds.skipped}
    assert reasons["images/orphan.png"] == "no mask in masks/ with the same name"
    assert reasons["images/wrong.png"] == "mask 40x30 does not match the image 40x40"
    assert reasons["images/empty.jpg"] == "not a readable image"
    tumor = ds.labels == 1
    assert ds.images[tumor][..., 0][ds.tumor_masks[tumor]].mean() > 0.85
    with pytest.raises(ValueError, match="masks/ is missing"):
        (tmp_path / "other" / "images").mkdir(parents=True)
        load_paired_dataset(DataConfig(source="paired", path=str(tmp_path / "other")), RNG(0))


def test_paired_class_folders_and_patients_from_metadata(tmp_path):
    from audit.data.paired import load_paired_dataset

    lines = ["file,patient_id"]
    for k in range(16):
        cls = "yes" if k % 2 else "no"
        img, mask = _head(40, 40, (20, 18, 5) if k % 2 else None, seed=k)
        _save(tmp_path / "images" / cls / f"s{k}.png", (img * 255).astype(np.uint8))
        _save(tmp_path / "masks" / cls / f"s{k}.png", mask.astype(np.uint8) * 255)
        lines.append(f"s{k}.png,P{k // 4 * 2 + k % 2}")  # four patients per class, two slices each
    (tmp_path / "metadata.csv").write_text("\n".join(lines) + "\n")
    cfg = DataConfig(source="paired", path=str(tmp_path), image_size=32, patient_column="patient_id")
    ds = load_paired_dataset(cfg, RNG(0))
    assert ds.class_names == ("healthy", "tumor")
    assert ds.meta.assign(part=ds.split).groupby("patient")["part"].nunique().max() == 1
    with pytest.raises(ValueError, match="no column 'pid'"):
        load_paired_dataset(DataConfig(source="paired", path=str(tmp_path), patient_column="pid"), RNG(0))


# ----------------------------------------------------------------------------- splits and duplicates


def test_split_by_group_keeps_groups_whole_and_stratifies():
    labels = np.repeat([0, 1], 50)
    groups = np.array([f"p{i // 5}" for i in range(100)])  # 20 patients, 5 slices each
    split = split_by_group(labels, groups, 0.3, 0.15, RNG(0))
    for g in np.unique(groups):
        assert len(set(split[groups == g])) == 1
    assert (split == "test").sum() == 30  # 3 of 10 patients per class
    assert (split[labels == 0] == "test").sum() == 15


def test_perceptual_hash_finds_exact_and_near_duplicates_and_drops_leaks():
    import pandas as pd

    from audit.data.dataset import Dataset
    from audit.data.duplicates import check_duplicates, perceptual_hash

    # Distinct smooth random images, then an exact copy, a brightened one and a down-up resized one.
    base = [cv2.GaussianBlur(RNG(k).random((48, 48)).astype(np.float32), (0, 0), 3) for k in range(6)]
    base = [(b - b.min()) / (b.max() - b.min()) for b in base]
    images = [
        *base,
        base[0].copy(),
        np.clip(base[1] * 1.1 + 0.02, 0, 1),
        cv2.resize(cv2.resize(base[2], (30, 30)), (48, 48)),
    ]
    split = np.array(["train"] * 6 + ["test", "train", "val"])
    ds = Dataset(
        images=np.stack(images)[..., None].astype(np.float32), labels=np.zeros(9, np.int64), label_maps=None,
        class_names=("a",), split=split, meta=pd.DataFrame({"id": [f"i{k}" for k in range(9)]}),
    )  # fmt: skip
    assert perceptual_hash(images[0]) == perceptual_hash(images[6])
    out = check_duplicates(ds, max_distance=4, drop=False)
    pairs = {(d["id_a"], d["id_b"]): d for d in out.duplicates}
    assert set(pairs) == {("i0", "i6"), ("i1", "i7"), ("i2", "i8")}
    assert pairs[("i0", "i6")]["exact"] and pairs[("i0", "i6")]["distance"] == 0
    assert not pairs[("i1", "i7")]["exact"] and not pairs[("i1", "i7")]["cross_split"]
    assert pairs[("i2", "i8")]["cross_split"] and len(out.images) == 9
    dropped = check_duplicates(ds, max_distance=4, drop=True)
    assert list(dropped.meta["id"]) == [f"i{k}" for k in (0, 1, 2, 3, 4, 5, 7)]  # test i6 and val i8 dropped
    assert {s["source"] for s in dropped.skipped} == {"i6", "i8"}
    assert "exact duplicate of train image i0" in next(s["reason"] for s in dropped.skipped if s["source"] == "i6")
    with pytest.raises(ValueError, match="duplicate_distance"):
        check_duplicates(ds, max_distance=65, drop=False)


def test_a_figshare_set_is_audited_end_to_end_with_its_tumor_masks(tmp_path):
    from audit.config import Config, apply_overrides
    from audit.pipeline import run_pipeline
    from audit.results import validate_results

    cheng_tree(tmp_path / "mat", patients=12, slices=4)
    cfg = apply_overrides(
        Config(),
        ['data.source="figshare"', f'data.path="{tmp_path / "mat"}"', "data.image_size=32", "train.epochs=1",
         'checks.run=[]', "cam.batch_size=16", "data.val_fraction=0.34"],
    )  # fmt: skip
    res = run_pipeline(cfg, tmp_path / "out")
    results = res.results
    assert validate_results(results) == []
    assert results["dataset"]["source"] == "figshare"
    assert len(results["dataset"]["skipped"]) == 2
    # Tumor localisation is scored from the masks (regions estimated around them).
    assert results["attention"]["overall"]["tumor"]["n"] > 0
    html = (tmp_path / "out" / "report.html").read_text()
    assert "Exact and near-duplicate images" in html


def test_a_saved_dataset_is_read_back_and_bad_folders_are_one_line_errors(tmp_path):
    import dataclasses

    import pandas as pd

    from audit.data.dataset import Dataset, read_saved_dataset, save_dataset

    n = 6
    images = np.random.default_rng(0).random((n, 8, 8, 1)).astype(np.float32)
    meta = pd.DataFrame({"id": [f"i{k}" for k in range(n)]})
    ds = Dataset(images, np.arange(n) % 2, None, ("healthy", "tumor"), np.array(["test"] * n), meta)
    (tmp_path / "ok").mkdir()
    save_dataset(ds, tmp_path / "ok")
    back = read_saved_dataset(tmp_path / "ok")
    np.testing.assert_array_equal(back.images, ds.images)
    assert list(back.meta["class"]) == ["healthy", "tumor"] * 3  # filled in from the labels
    with pytest.raises(FileNotFoundError, match="is not a saved dataset"):
        read_saved_dataset(tmp_path / "nothing")
    for bad, match in [
        (dataclasses.replace(ds, images=ds.images * 3), r"must be finite and lie in \[0, 1\]"),
        (dataclasses.replace(ds, split=np.array(["train"] * n)), "must hold test images"),
        (dataclasses.replace(ds, labels=np.arange(n)), "labels must index class_names"),
    ]:
        folder = tmp_path / f"bad{len(list(tmp_path.iterdir()))}"
        folder.mkdir()
        save_dataset(bad, folder)
        with pytest.raises(ValueError, match=match):
            read_saved_dataset(folder)
