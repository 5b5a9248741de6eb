"""Estimated region masks: the quality measure on known answers, and the quality bounds on phantoms."""

import numpy as np
import pytest

from audit.regions import REGIONS, estimate_quality, estimate_regions, regions_from_label_maps

BRAIN, TUMOR, SKULL, BG, PAD, ART = (
    REGIONS.index(r) for r in ("brain", "tumor", "skull_band", "background", "padding", "artifact")
)


def test_estimate_quality_known_answers():
    truth = np.full((1, 10, 10), BG, np.uint8)
    truth[0, 2:8, 2:8] = SKULL
    truth[0, 3:7, 3:7] = BRAIN  # 16 brain px, 20 skull band px; head 36 px
    truth[0, 0, 5:9] = ART  # an annotation (4 px) away from the head
    truth[0, 8, 4] = ART  # a rim pixel touching the head: not an annotation
    est = truth.copy()
    est[0, 3:7, 3:5] = SKULL  # 8 brain px called skull band
    est[0, 0, 7:9] = BG  # half the annotation missed
    q = estimate_quality(est, truth)
    assert q["head_dice"][0] == pytest.approx(1.0)
    assert q["brain_dice"][0] == pytest.approx(2 * 8 / (8 + 16))
    assert q["skull_band_dice"][0] == pytest.approx(2 * 20 / (28 + 20))
    assert q["annotation_recall"] == pytest.approx(0.5)
    assert np.isnan(q["padding_recall"])  # no padding anywhere


@pytest.fixture(scope="module")
def phantoms():
    # The held-out draw of benchmarks/region_quality.py (seed 1; the estimate was tuned on seed 0).
    from audit.config import DataConfig
    from audit.data.synthetic import generate_dataset

    cfg = DataConfig(
        n_images=300, image_size=128, contrasts=("t1", "t1c", "t2", "flair"), n_sites=3, site_marker=True,
        artifacts=("marker", "frame", "padding", "zoom", "intensity", "noise", "ghost"),
    )  # fmt: skip
    ds = generate_dataset(cfg, np.random.default_rng(1))
    est = np.stack([estimate_regions(img) for img in ds.images])
    return ds, estimate_quality(est, regions_from_label_maps(ds.label_maps))


def test_estimated_regions_meet_the_head_brain_and_annotation_bounds(phantoms):
    _, q = phantoms
    assert q["head_dice"].mean() >= 0.95
    assert q["brain_dice"].mean() >= 0.85
    assert q["annotation_recall"] >= 0.90


def test_estimated_skull_band_does_not_regress(phantoms):
    # Issue 9 asks skull band Dice >= 0.70 over all artifacts: measured 0.685 on the benchmark's
    # 300 phantoms (seed 0, where it was tuned) and 0.657 on these (seed 1), short mainly on
    # zoomed heads (0.55-0.61).  These floors guard what is reached, not the target.
    ds, q = phantoms
    ghost = ds.meta["ghost"].to_numpy(bool)
    assert q["skull_band_dice"].mean() >= 0.64
    assert q["skull_band_dice"][ghost].mean() >= 0.60  # the ghost rim is peeled (0.37 before)
