"""No input crashes the audit (issue 18): odd images are scored or skipped with a reason, and the exit
code says whose fault an error is."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from audit.data.folders import fit_to_size, read_image
from audit.regions import REGIONS, estimate_regions

_RNG = np.random.default_rng(0)


def _odd_images() -> dict[str, np.ndarray]:
    """(H, W) or (H, W, C) float images in [0, 1] (NaN / inf allowed) that once stopped the regions stage."""
    nan = np.where(_RNG.random((64, 64)) < 0.1, np.nan, 0.5).astype(np.float32)
    return {
        "uniform": np.full((64, 64), 0.5, np.float32),
        "zeros": np.zeros((64, 64), np.float32),
        "ones": np.ones((64, 64), np.float32),
        "one_bright_pixel": np.pad(np.ones((1, 1), np.float32), ((30, 33), (30, 33))),
        "range_at_float_resolution": 0.5 + _RNG.random((64, 64)).astype(np.float32) * 1e-7,
        "nan_pixels": nan,
        "inf_pixels": np.where(np.isnan(nan), np.inf, nan),
        "all_nan": np.full((64, 64), np.nan, np.float32),
        "white_noise": _RNG.random((64, 64)).astype(np.float32),
        "uniform_letterboxed": fit_to_size(np.full((20, 64), 0.5, np.float32), 64, "pad")[0],
        "one_pixel_stretched": fit_to_size(np.full((1, 1), 0.7, np.float32), 64, "stretch")[0],
        "stripes": np.tile((np.arange(64) % 2).astype(np.float32), (64, 1)),
        "coloured_channels": np.dstack([np.zeros((64, 64)), np.ones((64, 64)), _RNG.random((64, 64))]).astype(
            np.float32
        ),
    }


@pytest.mark.parametrize("name", list(_odd_images()))
def test_estimate_regions_gives_a_region_for_every_pixel_of_odd_images(name):
    img = _odd_images()[name]
    regions = estimate_regions(img)
    assert regions.shape == img.shape[:2] and regions.dtype == np.uint8
    assert regions.max() < len(REGIONS)
    if name in ("uniform", "zeros", "ones", "range_at_float_resolution", "all_nan", "one_pixel_stretched"):
        assert (regions == REGIONS.index("background")).all()  # blank: no head


def _write(path, img) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), img), path


def test_read_image_makes_every_readable_file_finite_and_in_unit_range(tmp_path):
    nan = np.where(_RNG.random((20, 30)) < 0.2, np.nan, 0.25).astype(np.float32)
    files = {
        "nan.tiff": nan,
        "inf.tiff": np.where(np.isnan(nan), -np.inf, nan).astype(np.float32),
        "scanner_units.tiff": np.linspace(0, 4000, 600, dtype=np.float32).reshape(20, 30),
        "sixteen.png": np.full((8, 8), 30000, np.uint16),
        "gray.png": np.full((1, 1), 200, np.uint8),
        "rgb.png": np.dstack([np.zeros((9, 9)), np.full((9, 9), 255), np.zeros((9, 9))]).astype(np.uint8),
        "rgba.png": np.dstack([np.full((9, 9, 3), 255), np.full((9, 9), 127)]).astype(np.uint8),
        "large.png": np.zeros((4096, 4096), np.uint8),
    }
    for name, img in files.items():
        _write(tmp_path / name, img)
        out = read_image(tmp_path / name)
        assert out.ndim == 2 and np.isfinite(out).all() and 0 <= out.min() <= out.max() <= 1, name
    assert read_image(tmp_path / "nan.tiff").max() == pytest.approx(0.25)  # in [0, 1] already: kept
    assert read_image(tmp_path / "scanner_units.tiff").max() == pytest.approx(1.0)  # scaled from its range
    assert read_image(tmp_path / "sixteen.png").max() == pytest.approx(30000 / 65535)
    _write(tmp_path / "all_nan.tiff", np.full((5, 5), np.nan, np.float32))
    with pytest.raises(ValueError, match="no finite pixel"):
        read_image(tmp_path / "all_nan.tiff")


def _odd_folder(root) -> int:
    """Training/ with ordinary noisy 'heads'; Testing/ with the odd files, so they reach CAMs and scores.
    Returns how many NaN pixels nan.tiff holds."""
    rr, cc = np.mgrid[:48, :48]
    disk = np.hypot(rr - 24, cc - 24) < 18
    for split, n in (("Training", 16), ("Testing", 4)):
        for cls in ("Brain Tumor", "Healthy"):
            for k in range(n):
                img = np.where(disk, 0.5, 0.02) + _RNG.normal(0, 0.05, (48, 48))
                if cls == "Brain Tumor":
                    img[20:26, 20:26] = 0.95
                _write(root / split / cls / f"{k}.png", (np.clip(img, 0, 1) * 255).astype(np.uint8))
    test = root / "Testing"
    _write(test / "Healthy" / "uniform.png", np.full((48, 48), 128, np.uint8))
    _write(test / "Healthy" / "zeros.png", np.zeros((48, 48), np.uint8))
    _write(test / "Brain Tumor" / "one_bright_pixel.png", np.pad(np.full((1, 1), 255, np.uint8), ((20, 27), (20, 27))))
    _write(test / "Brain Tumor" / "tiny.png", np.full((1, 1), 90, np.uint8))
    _write(test / "Healthy" / "large.png", np.zeros((4096, 4096), np.uint8))
    nan = np.where(_RNG.random((48, 48)) < 0.1, np.nan, np.where(disk, 0.5, 0.0)).astype(np.float32)
    _write(test / "Brain Tumor" / "nan.tiff", nan)
    _write(test / "Healthy" / "inf.tiff", np.where(np.isnan(nan), np.inf, nan).astype(np.float32))
    _write(test / "Healthy" / "sixteen.png", (np.where(disk, 0.5, 0.0) * 65535).astype(np.uint16))
    rgba = np.dstack([np.full((48, 48, 3), 200), np.full((48, 48), 90)]).astype(np.uint8)
    _write(test / "Brain Tumor" / "rgba.png", rgba)
    coloured = np.dstack([np.zeros((48, 48)), disk * 255, np.full((48, 48), 40)]).astype(np.uint8)
    _write(test / "Healthy" / "coloured.png", coloured)
    _write(test / "Healthy" / "all_nan.tiff", np.full((48, 48), np.nan, np.float32))
    return int(np.isnan(nan).sum())


def test_odd_images_in_the_test_split_are_scored_or_skipped_with_a_reason(tmp_path):
    from audit.config import Config, apply_overrides
    from audit.pipeline import cached_outputs, run_pipeline
    from audit.results import validate_results

    n_nan = _odd_folder(tmp_path / "imgs")
    cfg = apply_overrides(
        Config(),
        ['data.source="folder"', f'data.path="{tmp_path / "imgs"}"', "data.image_size=32", "model.width=8",
         "model.dense_units=8", "train.epochs=1", "train.min_epochs=0", "scores.bootstrap=50",
         'cam.panel=["gradcam", "occlusion"]', "cam.occlusion_sample=4",
         'checks.run=["artifact_reliance", "shortcut_probe", "faithfulness"]'],
    )  # fmt: skip
    res = run_pipeline(cfg, tmp_path / "out")
    assert validate_results(res.results) == []
    skipped = {s["source"]: s["reason"] for s in res.results["dataset"]["skipped"]}
    assert skipped == {"Testing/Healthy/all_nan.tiff": "no finite pixel values (all NaN or infinite)"}
    per_image = (tmp_path / "out" / "per_image.csv").read_text()
    for name in ("uniform.png", "zeros.png", "one_bright_pixel.png", "tiny.png", "large.png", "nan.tiff", "inf.tiff",
                 "sixteen.png", "rgba.png", "coloured.png"):  # fmt: skip
        assert name in per_image, name
    meta = cached_outputs(cfg, tmp_path / "out", "data")["data"].meta.set_index("id")
    assert meta.loc["Testing/Brain Tumor/nan.tiff", "nonfinite_pixels"] == n_nan
    assert (tmp_path / "out" / "report.html").is_file()
    assert all(c["status"] != "error" for c in res.results["checks"]), [c["headline"] for c in res.results["checks"]]


def test_an_error_from_inside_a_library_is_internal_exit_1_and_a_users_mistake_is_exit_2(tmp_path, monkeypatch, capsys):
    from audit import cli

    def histogram_of_nan(*_a, **_k):
        np.histogram(np.array([np.nan]), bins=4)  # raises ValueError inside NumPy

    assert not cli.is_user_error(_raised(histogram_of_nan))
    assert cli.is_user_error(_raised(lambda: read_image(tmp_path / "missing.png")))  # our check: the user's file
    monkeypatch.setattr("audit.pipeline.run_pipeline", lambda *a, **k: histogram_of_nan())
    assert cli.main(["experiments/quick.toml", "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("brain-audit: internal error: ValueError")
    monkeypatch.undo()
    missing = ["--set", 'data.source="folder"', "--set", f'data.path="{tmp_path / "nowhere"}"']
    assert cli.main(["experiments/quick.toml", *missing, "--out", str(tmp_path / "o")]) == 2  # raised by our check
    assert "is not a folder" in capsys.readouterr().err


def _raised(fn) -> BaseException:
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - the test inspects it
        return exc
    raise AssertionError("expected an exception")


def test_nifti_volumes_with_nan_voxels_are_read_finite_and_an_all_nan_volume_is_skipped(tmp_path):
    import nibabel as nib
    from test_masked import write_brats_case

    from audit.config import DataConfig
    from audit.data.nifti import load_nifti_dataset

    for k in range(4):
        write_brats_case(tmp_path / f"c{k}", f"c{k}", tumor=k % 2 == 0)
    path = tmp_path / "c0" / "c0_t1ce.nii.gz"
    vol = np.asarray(nib.load(path).dataobj, np.float32)
    vol[vol == 0] = np.nan  # NaN outside the head, as some converters write
    vol[20, 22, 15] = np.inf
    nib.save(nib.Nifti1Image(vol, np.eye(4)), path)
    nib.save(nib.Nifti1Image(np.full((40, 44, 30), np.nan, np.float32), np.eye(4)), tmp_path / "c1" / "c1_t1ce.nii.gz")
    cfg = DataConfig(source="nifti", path=str(tmp_path), image_size=24, min_tumor_area=4, levels=(0.2, 0.8))
    ds = load_nifti_dataset(cfg, np.random.default_rng(0))
    assert np.isfinite(ds.images).all() and 0 <= ds.images.min() and ds.images.max() <= 1
    assert "c0/c0" in set(ds.meta["patient"])
    reasons = {s["source"]: s["reason"] for s in ds.skipped}
    assert "no finite pixel values" in reasons["c1/c1"]


def test_a_skull_stripped_audit_reports_the_brain_edge_on_its_own(tmp_path):
    from conftest import QUICK

    from audit.config import load_config
    from audit.pipeline import run_pipeline
    from audit.results import validate_results

    cfg = load_config(
        QUICK, ['data.synthetic.skull="stripped"', "data.synthetic.n_images=120", 'checks.run=["artifact_reliance"]']
    )
    res = run_pipeline(cfg, tmp_path / "out")
    assert validate_results(res.results) == []
    import pandas as pd

    per_image = pd.read_csv(tmp_path / "out" / "per_image.csv")
    assert (per_image["area_brain_edge"] > 0).mean() >= 0.95  # exact regions: every stripped slice has the band
    assert (per_image["area_skull_band"] == 0).all()
    overall = res.results["attention"]["overall"]
    html = (tmp_path / "out" / "report.html").read_text()
    assert "brain_edge" in html
    assert overall["energy"]["brain_edge"]["mean"] > 0  # reported on its own ...
    on = overall["energy"]["brain"]["mean"] + overall["energy"]["tumor"]["mean"]
    off = sum(overall["energy"][r]["mean"] for r in ("skull_band", "background", "padding", "artifact"))
    assert on + off + overall["energy"]["brain_edge"]["mean"] == pytest.approx(1, abs=0.02)  # ... in neither sum
    methods = res.results["verdict"]["evidence"]["attention"]["methods"]
    assert all(v["brain_edge_energy"]["mean"] > 0 for v in methods.values() if v["label"] != "uninformative")
