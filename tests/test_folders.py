"""Folder datasets: layouts, formats, class mapping, splits, resizing and recorded skips."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from audit.config import DataConfig
from audit.data.folders import fit_to_size, load_folder_dataset, read_image


def _write(path, img) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), img)


def kaggle_tree(root, n: int = 10) -> None:
    """Brain Tumor/ + Healthy/ with JPEG, PNG (8 and 16 bit), BMP, TIFF, RGBA and one broken file."""
    rng = np.random.default_rng(0)
    for k in range(n):
        _write(root / "Brain Tumor" / f"Cancer ({k}).jpg", rng.integers(0, 255, (40, 60, 3), dtype=np.uint8))
        _write(root / "Healthy" / f"Not Cancer ({k}).png", rng.integers(0, 255, (50, 50), dtype=np.uint8))
    _write(root / "Healthy" / "sixteen.png", np.full((30, 30), 65535, np.uint16))
    _write(root / "Healthy" / "bitmap.bmp", np.zeros((20, 20, 3), np.uint8))
    _write(root / "Brain Tumor" / "scan.tiff", np.full((25, 25), 128, np.uint8))
    _write(
        root / "Brain Tumor" / "alpha.png",
        np.dstack([np.full((20, 20, 3), 255, np.uint8), np.zeros((20, 20), np.uint8)]),
    )
    (root / "Brain Tumor" / "broken.jpg").write_bytes(b"not a jpeg")
    (root / "metadata.csv").write_text("Image,Class\n")
    (root / "Unused").mkdir()


def test_kaggle_layout_formats_and_skips(tmp_path):
    kaggle_tree(tmp_path)
    cfg = DataConfig(source="folder", path=str(tmp_path), image_size=32)
    ds = load_folder_dataset(cfg, np.random.default_rng(0))
    assert ds.class_names == ("healthy", "tumor")
    assert ds.images.shape == (24, 32, 32, 1) and ds.images.dtype == np.float32
    assert 0 <= ds.images.min() and ds.images.max() <= 1
    assert ds.class_counts() == {"healthy": 12, "tumor": 12}
    assert [s["source"] for s in ds.skipped] == ["Unused/", "Brain Tumor/broken.jpg"]
    meta = ds.meta.set_index("id")
    assert meta.loc["Healthy/sixteen.png", "orig_height"] == 30
    assert ds.images[list(ds.meta["id"]).index("Healthy/sixteen.png")].max() == pytest.approx(1.0)  # 16-bit scaled
    assert ds.images[list(ds.meta["id"]).index("Brain Tumor/alpha.png")].max() == 0.0  # transparent over black
    assert set(np.unique(ds.split)) == {"train", "val", "test"}
    assert sorted(ds.class_counts("test").values()) == [4, 4]  # stratified 30%


def test_a_wrapping_folder_is_looked_through_and_patients_come_from_metadata(tmp_path):
    rng = np.random.default_rng(2)
    inner = tmp_path / "Brain Tumor Data Set" / "Brain Tumor Data Set"
    rows = ["Image,Class,Patient"]
    for cls in ("Brain Tumor", "Healthy"):
        for k in range(10):
            _write(inner / cls / f"{cls} ({k}).jpg", rng.integers(0, 255, (16, 16), dtype=np.uint8))
            rows.append(f"{cls} ({k}),{cls},{cls[0]}{k // 2}")
    (inner / "metadata.csv").write_text("\n".join(rows) + "\n")
    cfg = DataConfig(source="folder", path=str(tmp_path), image_size=16, patient_column="Patient")
    ds = load_folder_dataset(cfg, np.random.default_rng(0))
    assert ds.class_counts() == {"healthy": 10, "tumor": 10}
    assert ds.meta["id"].iloc[0].startswith(("Brain Tumor/", "Healthy/"))
    assert ds.meta.assign(part=ds.split).groupby("patient")["part"].nunique().max() == 1
    assert ds.meta["patient"].nunique() == 10


def test_training_testing_layout_keeps_the_given_split_and_class_map(tmp_path):
    rng = np.random.default_rng(1)
    for part, n in (("Training", 20), ("Testing", 6)):
        for cls in ("glioma", "notumor", "weird_name"):
            for k in range(n):
                _write(tmp_path / part / cls / f"{k}.jpg", rng.integers(0, 255, (16, 16), dtype=np.uint8))
    cfg = DataConfig(source="folder", path=str(tmp_path), image_size=16, class_map=("weird_name=meningioma",))
    ds = load_folder_dataset(cfg, np.random.default_rng(0))
    assert ds.class_names == ("healthy", "glioma", "meningioma")  # notumor is the healthy class
    test_ids = set(ds.meta["id"][ds.split == "test"])
    assert test_ids == {f"Testing/{c}/{k}.jpg" for c in ("glioma", "notumor", "weird_name") for k in range(6)}
    assert (ds.split == "val").sum() == 9  # 15% of each class's 20 training images


def test_bad_folders_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="is not a folder"):
        load_folder_dataset(DataConfig(source="folder", path=str(tmp_path / "nope")), np.random.default_rng(0))
    (tmp_path / "empty_class").mkdir()
    with pytest.raises(ValueError, match="no images"):
        load_folder_dataset(DataConfig(source="folder", path=str(tmp_path)), np.random.default_rng(0))
    with pytest.raises(ValueError, match="is not 'folder=label'"):
        load_folder_dataset(DataConfig(source="folder", path=str(tmp_path), class_map=("x",)), np.random.default_rng(0))


def test_fit_to_size_pad_keeps_aspect_and_records_it():
    img = np.ones((20, 40), np.float32)
    out, info = fit_to_size(img, 32, "pad")
    assert out.shape == (32, 32)
    assert info == {
        "orig_height": 20,
        "orig_width": 40,
        "orig_aspect": 2.0,
        "padding": True,
        "padding_box": "8,0,24,32",
    }
    assert out[8:24].min() == 1.0 and out[:8].max() == 0.0 and out[24:].max() == 0.0
    stretched, info = fit_to_size(img, 32, "stretch")
    assert stretched.shape == (32, 32) and stretched.min() == 1.0 and info["padding"] is False
    square, info = fit_to_size(np.ones((16, 16), np.float32), 32, "pad")
    assert info["padding"] is False and square.min() == 1.0


def test_read_image_rejects_garbage(tmp_path):
    bad = tmp_path / "x.png"
    bad.write_bytes(b"\x89PNG broken")
    with pytest.raises(ValueError, match="not a readable image"):
        read_image(bad)


def test_folder_dataset_runs_through_the_data_stage_with_a_content_key(tmp_path):
    from audit.config import Config, apply_overrides
    from audit.pipeline import run_pipeline, stage_keys

    kaggle_tree(tmp_path / "imgs", n=4)
    cfg = apply_overrides(Config(), ['data.source="folder"', f'data.path="{tmp_path / "imgs"}"', "data.image_size=32"])
    res = run_pipeline(cfg, tmp_path / "out", only="data")
    assert res.stage_status["data"] == "computed"
    key = stage_keys(cfg)["data"]
    _write(tmp_path / "imgs" / "Healthy" / "new.png", np.zeros((8, 8), np.uint8))
    assert stage_keys(cfg)["data"] != key  # a changed folder is a new dataset


def test_a_folder_dataset_is_audited_end_to_end_with_estimated_regions(tmp_path):
    from audit.config import Config, apply_overrides
    from audit.pipeline import run_pipeline
    from audit.results import validate_results

    kaggle_tree(tmp_path / "imgs", n=12)
    cfg = apply_overrides(
        Config(),
        ['data.source="folder"', f'data.path="{tmp_path / "imgs"}"', "data.image_size=32", "model.width=8",
         "model.dense_units=8", "train.epochs=1", "scores.bootstrap=50", 'checks.run=["subgroup_disparity"]'],
    )  # fmt: skip
    res = run_pipeline(cfg, tmp_path / "out")
    assert validate_results(res.results) == []
    assert res.results["dataset"]["skipped"] == [
        {"source": "Unused/", "reason": "empty class folder (no image files)"},
        {"source": "Brain Tumor/broken.jpg", "reason": "not a readable image"},
    ]
    assert (tmp_path / "out" / "report.html").is_file()
    assert res.results["attention"]["overall"]["tumor"]["n"] == 0  # estimated regions have no tumor
