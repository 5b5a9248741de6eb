"""Mitigations on known inputs, the registry, and a mitigated audit compared with its base run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from audit.mitigations import TrainingSet, apply_mitigation, available_mitigations
from audit.regions import REGIONS

BRAIN, TUMOR, BACKGROUND, ARTIFACT = (REGIONS.index(r) for r in ("brain", "tumor", "background", "artifact"))


def square_heads(n: int = 8, size: int = 20) -> TrainingSet:
    """A brain square (with a tumor on odd images) in a dark background; a bright marker in the
    top-left corner of every tumor image."""
    images = np.full((n, size, size, 1), 0.05, np.float32)
    regions = np.full((n, size, size), BACKGROUND, np.uint8)
    images[:, 5:15, 5:15] = 0.5
    regions[:, 5:15, 5:15] = BRAIN
    labels = np.arange(n) % 2
    for i in np.flatnonzero(labels):
        images[i, 8:11, 8:11], regions[i, 8:11, 8:11] = 0.9, TUMOR
        images[i, 0:3, 0:3], regions[i, 0:3, 0:3] = 1.0, ARTIFACT
    return TrainingSet(images, labels, regions, pd.DataFrame({"id": [f"i{k}" for k in range(n)]}))


def test_the_built_ins_are_registered():
    assert sorted(available_mitigations()) == [
        "background_randomization", "corner_erasing", "intensity_augmentation", "site_rebalancing"]  # fmt: skip
    with pytest.raises(ValueError, match="unknown mitigation 'nope'; available: background_randomization"):
        apply_mitigation("nope", square_heads(), np.random.default_rng(0))


def test_background_randomization_never_touches_brain_pixels_and_erases_the_marker():
    data = square_heads()
    out = apply_mitigation("background_randomization", data, np.random.default_rng(0))
    brain = np.isin(data.regions, [BRAIN, TUMOR])
    np.testing.assert_array_equal(out.images[..., 0][brain], data.images[..., 0][brain])
    off = ~brain
    assert (out.images[..., 0][off] != data.images[..., 0][off]).mean() > 0.99
    corner = out.images[:, 0:3, 0:3, 0]  # the marker is gone: its corner looks alike in both classes
    assert abs(corner[data.labels == 1].mean() - corner[data.labels == 0].mean()) < 0.1
    again = apply_mitigation("background_randomization", data, np.random.default_rng(0))
    np.testing.assert_array_equal(out.images, again.images)  # seeded


def test_corner_erasing_blanks_the_corners_but_not_the_brain():
    from audit.mitigations.corners import corner_mask

    data = square_heads(size=20)
    data.regions[:, 0, 19] = BRAIN  # brain tissue in a corner stays
    data.images[:, 0, 19] = 0.7
    out = apply_mitigation("corner_erasing", data, np.random.default_rng(0))
    assert corner_mask((20, 20)).sum() == 4 * 16
    assert (out.images[:, 0:3, 0:3] == data.images.min(axis=(1, 2, 3))[:, None, None, None]).all()
    assert (out.images[:, 0, 19] == 0.7).all()
    np.testing.assert_array_equal(out.images[:, 4:16, 4:16], data.images[:, 4:16, 4:16])


def test_intensity_augmentation_changes_every_image_and_stays_in_range():
    data = square_heads(n=40)
    out = apply_mitigation("intensity_augmentation", data, np.random.default_rng(1))
    assert out.images.min() >= 0 and out.images.max() <= 1 and out.images.dtype == np.float32
    means = out.images[:, 5:15, 5:15].mean(axis=(1, 2, 3))
    assert means.std() > 0.03  # gain, offset and gamma differ per image
    by_class = [means[data.labels == c].mean() for c in (0, 1)]
    assert abs(by_class[0] - (by_class[1] - (0.4 * 9 / 100))) < 0.08  # no class-tied shift beyond the tumor's


def test_site_rebalancing_equalises_the_classes_within_each_site():
    data = square_heads(n=16)
    labels = np.array([0] * 6 + [1] * 2 + [0] * 2 + [1] * 6)
    sites = ["A"] * 8 + ["B"] * 8
    data = TrainingSet(data.images, labels, data.regions, data.meta.assign(site=sites))
    out = apply_mitigation("site_rebalancing", data, np.random.default_rng(0))
    counts = pd.crosstab(out.meta["site"], out.labels)
    assert (counts.to_numpy() == 6).all() and len(out.images) == 24
    plain = apply_mitigation("site_rebalancing", square_heads(), np.random.default_rng(0))
    np.testing.assert_array_equal(plain.images, square_heads().images)  # no sites: unchanged


def test_a_mitigation_is_checked_before_anything_runs():
    from audit.config import Config, apply_overrides
    from audit.pipeline import validate_run

    with pytest.raises(ValueError, match="train.mitigation: unknown mitigation 'sticker'"):
        validate_run(apply_overrides(Config(), ['train.mitigation="sticker"']))
    with pytest.raises(ValueError, match="train.mitigation retrains the model, but model.path loads one"):
        validate_run(apply_overrides(Config(), ['train.mitigation="corner_erasing"', 'model.path="m.keras"']))


def test_mitigate_retrains_audits_and_compares_with_the_base_run(tmp_path):
    from audit import cli

    out = tmp_path / "run"
    args = ["experiments/quick.toml", "--out", str(out), "--set", "train.epochs=2", "--set", "scores.bootstrap=50",
            "--set", 'checks.run=["artifact_reliance"]', "--mitigate", "corner_erasing"]  # fmt: skip
    assert cli.main(args) == 0
    page = (out / "mitigated" / "corner_erasing" / "compare.html").read_text()
    assert "corner_erasing" in page and "accuracy with every shortcut tie swapped" in page
    assert "Not shown" not in page  # both runs have their caches: the same test images' maps are shown
    import json

    base = json.loads((out / "results.json").read_text())
    mitigated = json.loads((out / "mitigated" / "corner_erasing" / "results.json").read_text())
    assert (
        base["config"]["train"]["mitigation"] == "" and mitigated["config"]["train"]["mitigation"] == "corner_erasing"
    )
    assert mitigated["stage_status"]["train"] == "computed"

    # compare on two saved runs, one of them copied without its cache
    import shutil

    shutil.copytree(out, tmp_path / "copy", ignore=shutil.ignore_patterns("cache", "mitigated"))
    assert cli.main(["compare", str(tmp_path / "copy"), str(out / "mitigated" / "corner_erasing"),
                     "--out", str(tmp_path / "cmp")]) == 0  # fmt: skip
    page = (tmp_path / "cmp" / "compare.html").read_text()
    assert "Not shown: a run&#39;s cached maps are not in its folder" in page
    assert "the run&#39;s cached data or model is not in its folder" in page
    assert cli.main(["compare", str(tmp_path / "nothing"), str(out)]) == 2
