import math

import numpy as np
import pandas as pd
import pytest

from audit.cam.geometry import upsample_map
from audit.regions import REGIONS, regions_from_label_maps
from audit.scores import (
    area_fractions,
    average_precision,
    balanced_accuracy,
    bootstrap_ci,
    energy_fractions,
    overlap_scores,
    paired_drop_interval,
    peak_region,
    pointing_hit,
    relevance_rank_accuracy,
    score_images,
    summarize_attention,
    tolerance_zone,
    tumor_scores,
    wilson_interval,
)

BRAIN, TUMOR, SKULL, BG, PAD, ART = range(6)


def test_region_order_is_the_documented_one():
    assert REGIONS == ("brain", "tumor", "skull_band", "background", "padding", "artifact", "brain_edge")


def test_uniform_map_energy_equals_area():
    reg = np.zeros((4, 4), int)
    reg[:, :1] = SKULL  # 4 of 16 pixels
    reg[0, 3] = ART  # 1 of 16
    energy = energy_fractions(np.ones((4, 4)), reg)
    np.testing.assert_allclose(energy, area_fractions(reg))
    np.testing.assert_allclose(energy[[BRAIN, SKULL, ART]], [11 / 16, 4 / 16, 1 / 16])
    assert energy.sum() == pytest.approx(1.0)


def test_single_pixel_map_and_single_pixel_region():
    reg = np.full((5, 5), BG)
    reg[2, 3] = TUMOR
    cam = np.zeros((5, 5))
    cam[2, 3] = 7.0
    energy = energy_fractions(cam, reg)
    assert energy[TUMOR] == 1.0 and energy.sum() == 1.0
    assert peak_region(cam, reg) == TUMOR


def test_all_zero_map_is_nan_not_zero():
    reg = np.zeros((3, 3), int)
    assert np.isnan(energy_fractions(np.zeros((3, 3)), reg)).all()
    assert peak_region(np.zeros((3, 3)), reg) == -1


def test_absent_region_has_zero_area_and_nan_enrichment():
    reg = np.full((8, 8), BRAIN)
    maps = np.ones((1, 2, 2), np.float32)
    row = score_images(maps, reg[None], tolerance_px=0).iloc[0]
    assert row["energy_brain"] == pytest.approx(1.0)
    assert row["enrichment_brain"] == pytest.approx(1.0)
    assert row["area_tumor"] == 0 and math.isnan(row["enrichment_tumor"])
    assert row["peak_region"] == "brain" and not row["empty_map"]


def test_enrichment_known_value():
    reg = np.full((4, 4), BG)
    reg[:2, :] = BRAIN  # half the image
    maps = np.zeros((1, 4, 4), np.float32)
    maps[0, :2, :] = 3.0  # all energy on brain
    row = score_images(maps, reg[None], tolerance_px=0).iloc[0]
    assert row["enrichment_brain"] == pytest.approx(2.0)
    assert row["energy_off_target"] == pytest.approx(0.0)


def test_tolerance_zone_radius():
    mask = np.zeros((9, 9), bool)
    mask[4, 4] = True
    zone = tolerance_zone(mask, 2)
    rr, cc = np.nonzero(zone)
    assert zone[4, 4] and zone[2, 4] and zone[4, 6] and not zone[1, 4]
    assert ((rr - 4) ** 2 + (cc - 4) ** 2 <= 4).all()
    assert zone.sum() == 13  # lattice points with i^2 + j^2 <= 4
    assert (tolerance_zone(mask, 0) == mask).all()


def test_tolerant_artifact_energy_catches_a_near_miss():
    reg = np.full((16, 16), BG)
    reg[0, 15] = ART
    maps = np.zeros((1, 16, 16), np.float32)
    maps[0, 2, 13] = 1.0  # two pixels away from the marker
    row = score_images(maps, reg[None], tolerance_px=3).iloc[0]
    assert row["energy_artifact"] == 0.0
    assert row["energy_artifact_tolerant"] == pytest.approx(1.0)


def test_upsample_keeps_shape_and_sign():
    up = upsample_map(np.array([[0, 1], [2, 3]], np.float32), (8, 6))
    assert up.shape == (8, 6) and up.min() >= 0


def test_bootstrap_ci_of_constant_and_of_empty():
    rng = np.random.default_rng(0)
    assert bootstrap_ci(np.full(20, 0.3), rng) == pytest.approx((0.3, 0.3, 0.3))
    assert all(math.isnan(v) for v in bootstrap_ci(np.array([np.nan]), rng))
    est, lo, hi = bootstrap_ci(np.r_[np.zeros(50), np.ones(50)], rng, n_boot=2000)
    assert est == 0.5 and 0.38 < lo < 0.5 < hi < 0.62


def test_balanced_accuracy_known_values():
    labels = np.array([0, 0, 0, 0, 1, 1])
    assert balanced_accuracy(labels, np.array([0, 0, 0, 0, 1, 0])) == pytest.approx((1.0 + 0.5) / 2)
    assert balanced_accuracy(labels, np.zeros(6, int)) == 0.5  # always the majority class: chance, not 4/6
    assert np.isnan(balanced_accuracy(np.array([], int), np.array([], int)))


def test_paired_drop_interval_known_answers():
    z2 = 1.959963984540054**2
    # 10 of 100 predictions go from right to wrong, none back: drop 0.1; Wilson's interval of 10 / 10 is
    # (10 / (10 + z^2), 1), so the drop's is 10 / 100 * (2 * that - 1).
    drop, low, high = paired_drop_interval(10, 0, 100)
    assert drop == pytest.approx(0.1) and high == pytest.approx(0.1)
    assert low == pytest.approx(0.1 * (2 * 10 / (10 + z2) - 1))
    # As many gained as lost: drop 0, an interval symmetric about it; swapping them mirrors it.
    drop, low, high = paired_drop_interval(7, 7, 300)
    assert drop == 0.0 and low == pytest.approx(-high) and high > 0
    drop, low, high = paired_drop_interval(9, 3, 50)
    assert paired_drop_interval(3, 9, 50) == pytest.approx((-drop, -high, -low))
    assert paired_drop_interval(0, 0, 300) == (0.0, 0.0, 0.0)  # nothing moved: no uncertainty
    with pytest.raises(ValueError, match="lost"):
        paired_drop_interval(6, 5, 10)


def test_wilson_interval_known_answers():
    z2 = 1.959963984540054**2
    # k = 0: low 0, high z^2 / (n + z^2); k = n: low n / (n + z^2), high 1 (Brown, Cai & DasGupta 2001, eq. 4)
    assert wilson_interval(0, 10) == pytest.approx((0.0, z2 / (10 + z2)))
    assert wilson_interval(10, 10) == pytest.approx((10 / (10 + z2), 1.0))
    low, high = wilson_interval(22, 180)  # the flip count of the issue-21 false alarm: 12%, 8.2-17.8%
    assert (low, high) == pytest.approx((0.0821, 0.1781), abs=1e-4)
    assert wilson_interval(158, 180) == pytest.approx((1 - high, 1 - low))  # symmetric in k <-> n - k
    assert all(math.isnan(v) for v in wilson_interval(0, 0))
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(11, 10)


def test_flip_status_fails_only_beyond_the_interval():
    from audit.checks.flips import flip_status

    def flips(k, n=180):
        return np.arange(n) < k

    assert flip_status(flips(40), 0.1)[0] == "fail"  # 22%, interval from 17%
    assert flip_status(flips(22), 0.1)[0] == "warn"  # 12%, interval from 8%
    assert flip_status(flips(12), 0.1)[0] == "warn"  # 7%: above half the tolerance
    assert flip_status(flips(5), 0.1)[0] == "pass"
    assert flip_status(flips(0), 0.1)[:2] == ("pass", 0.0)


def test_drop_status_reads_the_accuracy_lost_not_the_decisions_moved():
    from audit.checks.flips import drop_status

    def outcomes(lost, gained, n=100):
        before = np.zeros(n, bool)
        before[: lost + 50] = True  # the first `lost` right before, wrong after; the next 50 right in both
        after = before.copy()
        after[:lost] = False
        after[lost + 50 : lost + 50 + gained] = True  # `gained` wrong before, right after
        return before, after

    status, drop, low, high = drop_status(*outcomes(30, 0), 0.1)
    assert (status, drop) == ("fail", pytest.approx(0.3))  # 30 of 30 discordant pairs lost: interval from 0.23
    assert low == pytest.approx(0.3 * (2 * wilson_interval(30, 30)[0] - 1)) and low > 0.1
    assert drop_status(*outcomes(12, 6), 0.1)[:2] == ("warn", pytest.approx(0.06))  # interval reaches below 0
    assert drop_status(*outcomes(8, 8), 0.1)[:2] == ("pass", 0.0)  # 16% of decisions flip, as many each way
    with pytest.raises(ValueError, match="outcome vectors"):
        drop_status(np.ones(3, bool), np.ones(4, bool), 0.1)


def test_bootstrap_is_seeded():
    v = np.random.default_rng(1).random(30)
    assert bootstrap_ci(v, np.random.default_rng(5)) == bootstrap_ci(v, np.random.default_rng(5))


def test_summary_groups_and_empty_maps():
    reg = np.full((2, 4, 4), BRAIN)
    reg[:, :, :2] = SKULL
    maps = np.zeros((2, 4, 4), np.float32)
    maps[0, :, 3] = 1  # all on brain
    table = score_images(maps, reg, 0)
    table["label"] = [1, 0]
    table["correct"] = [True, False]
    s = summarize_attention(table, ("healthy", "tumor"), np.random.default_rng(0), n_boot=50)
    assert s["overall"]["n"] == 2 and s["overall"]["n_empty_maps"] == 1
    assert s["by_correct"]["correct"]["on_anatomy"]["mean"] == pytest.approx(1.0)
    assert s["by_correct"]["correct"]["off_target_majority_share"]["mean"] == 0.0
    assert math.isnan(s["by_correct"]["incorrect"]["on_anatomy"]["mean"])
    assert s["by_class"]["tumor"]["n"] == 1


def test_regions_from_label_maps():
    from audit.data.labels import LABELS

    lab = np.array([[LABELS["scalp"], LABELS["edema"], LABELS["white_matter"], LABELS["artifact"]]], np.uint8)
    assert regions_from_label_maps(lab).tolist() == [[SKULL, TUMOR, BRAIN, ART]]
    with pytest.raises(ValueError, match=r"codes not in LABELS: \[200\]"):
        regions_from_label_maps(np.array([[200]], np.uint8))
    assert isinstance(pd.DataFrame(), pd.DataFrame)


def test_weak_maps_relative_to_the_median_peak():
    from audit.scores import weak_maps

    maps = np.zeros((4, 2, 2), np.float32)
    maps[0, 0, 0], maps[1, 0, 0], maps[2, 0, 0] = 1.0, 2.0, 0.015  # median peak of non-empty maps = 1.0
    assert weak_maps(maps, 0.01).tolist() == [False, False, False, True]
    assert weak_maps(maps, 0.02).tolist() == [False, False, True, True]
    assert weak_maps(np.zeros((2, 2, 2)), 0.01).all()


def test_weak_maps_are_counted_not_averaged():
    reg = np.full((2, 4, 4), BRAIN)
    reg[:, :, :2] = SKULL
    maps = np.zeros((2, 4, 4), np.float32)
    maps[0, :, 3] = 1  # brain
    maps[1, :, 0] = 1e-6  # skull, weak
    table = score_images(maps, reg, 0)
    table["label"], table["correct"], table["weak_map"] = [1, 1], [True, True], [False, True]
    s = summarize_attention(table, ("healthy", "tumor"), np.random.default_rng(0), n_boot=20)["overall"]
    assert (s["n"], s["n_weak_maps"], s["n_scored"]) == (2, 1, 1)
    assert s["energy"]["brain"]["mean"] == 1.0


# ----------------------------------------------------------------------------- tumor localisation


def _ramp() -> tuple[np.ndarray, np.ndarray]:
    """A 10x10 map with distinct values 0..99 (row-major) and the last row as target."""
    cam = np.arange(100, dtype=np.float32).reshape(10, 10)
    target = np.zeros((10, 10), bool)
    target[9] = True  # values 90..99
    return cam, target


def test_pointing_hit_strict_and_tolerant():
    cam = np.zeros((10, 10), np.float32)
    cam[2, 2] = 1
    target = np.zeros((10, 10), bool)
    target[5, 5] = True  # at distance sqrt(18) = 4.24 from the peak
    assert pointing_hit(cam, target) == 0.0
    assert pointing_hit(cam, target, tolerance_px=4) == 0.0
    assert pointing_hit(cam, target, tolerance_px=5) == 1.0
    target[2, 2] = True
    assert pointing_hit(cam, target) == 1.0
    assert math.isnan(pointing_hit(np.zeros((10, 10)), target))
    assert math.isnan(pointing_hit(cam, np.zeros((10, 10), bool)))
    assert pointing_hit(np.ones((10, 10)), target) == 1.0  # a map covering the image ties everywhere


def test_overlap_at_top_fractions_and_otsu():
    cam, target = _ramp()
    got = overlap_scores(cam, target)
    assert got["iou_top5"] == pytest.approx(5 / 10) and got["dice_top5"] == pytest.approx(10 / 15)
    assert got["iou_top10"] == 1.0 and got["dice_top10"] == 1.0
    assert got["iou_top20"] == pytest.approx(10 / 20) and got["dice_top20"] == pytest.approx(20 / 30)
    two_level = np.where(target, 1.0, 0.2).astype(np.float32)
    otsu = overlap_scores(two_level, target)
    assert otsu["iou_otsu"] == 1.0 and otsu["dice_otsu"] == 1.0


def test_overlap_of_whole_image_map_empty_target_and_zero_map():
    _, target = _ramp()
    whole = overlap_scores(np.ones((10, 10)), target)
    assert whole["iou_top5"] == pytest.approx(10 / 100)  # ties keep every pixel
    assert math.isnan(whole["iou_otsu"])  # no threshold separates a constant map
    assert all(math.isnan(v) for v in overlap_scores(np.ones((10, 10)), np.zeros((10, 10), bool)).values())
    assert all(math.isnan(v) for v in overlap_scores(np.zeros((10, 10)), target).values())


def test_average_precision_known_values():
    assert average_precision(np.array([0.9, 0.8, 0.7, 0.6]), np.array([1, 0, 1, 0])) == pytest.approx(
        0.5 * 1 + 0.5 * 2 / 3
    )
    # Tied scores enter together: first group (1, 1) has precision 1/2 at recall 1/2.
    assert average_precision(np.array([1.0, 1.0, 0.0]), np.array([1, 0, 1])) == pytest.approx(0.5 * 0.5 + 0.5 * 2 / 3)
    assert average_precision(np.ones(8), np.array([1, 0, 0, 0, 1, 0, 0, 0])) == pytest.approx(0.25)  # prevalence
    assert math.isnan(average_precision(np.ones(4), np.zeros(4)))


def test_relevance_rank_accuracy_known_values():
    cam, target = _ramp()
    assert relevance_rank_accuracy(cam, target) == 1.0
    assert relevance_rank_accuracy(cam, np.flipud(target)) == 0.0  # values 0..9: the lowest
    assert relevance_rank_accuracy(np.ones((10, 10)), target) == pytest.approx(0.1)  # ties share: prevalence
    single = np.zeros((10, 10), bool)
    single[9, 9] = True  # single-pixel tumor at the peak
    assert relevance_rank_accuracy(cam, single) == 1.0
    assert math.isnan(relevance_rank_accuracy(np.zeros((10, 10)), target))


def test_tumor_scores_with_prior_and_without_tumor():
    cam, target = _ramp()
    prior = target.astype(np.float32) * 0.5
    got = tumor_scores(cam, target, prior, tolerance_px=0)
    assert got["pointing_hit"] == 1.0 and got["auprc"] == 1.0 and got["auprc_prior"] == 1.0
    assert got["rank_accuracy"] == 1.0
    assert all(math.isnan(v) for v in tumor_scores(cam, np.zeros((10, 10), bool), prior, 3).values())


def test_score_images_tumor_columns_and_summary_counts_tumor_images_only():
    reg = np.full((2, 8, 8), BRAIN, np.uint8)
    reg[0, 2:4, 2:4] = TUMOR
    maps = np.zeros((2, 8, 8), np.float32)
    maps[:, 2, 2] = 1.0
    table = score_images(maps, reg, tolerance_px=0, tumor_prior=None)
    assert table.loc[0, "pointing_hit"] == 1.0 and math.isnan(table.loc[1, "pointing_hit"])
    assert table.loc[0, "energy_tumor"] == pytest.approx(1.0)
    table["label"], table["correct"] = [1, 0], [True, True]
    summary = summarize_attention(table, ("healthy", "tumor"), np.random.default_rng(0), 50)
    assert summary["overall"]["tumor"]["n"] == 1
    assert summary["overall"]["tumor"]["pointing_hit"]["mean"] == 1.0
    assert math.isnan(summary["by_class"]["healthy"]["tumor"]["pointing_hit"]["mean"])


def test_estimated_regions_on_a_drawn_head_with_text_and_padding():
    import cv2

    from audit.regions import estimate_regions

    img = np.abs(np.random.default_rng(0).normal(0, 0.02, (128, 128))).astype(np.float32)  # background noise
    cv2.circle(img, (64, 64), 40, 0.8, -1)  # scalp
    cv2.circle(img, (64, 64), 35, 0.05, -1)  # skull (dark)
    cv2.circle(img, (64, 64), 32, 0.5, -1)  # brain
    canvas = np.zeros((128, 128), np.uint8)
    cv2.putText(canvas, "R", (110, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, 255, 1)
    img[canvas > 0] = 0.95
    img[:, :6] = img[:, -6:] = 0.0  # letterbox bars
    reg = estimate_regions(img)
    rr, cc = np.mgrid[:128, :128]
    r = np.hypot(rr - 64, cc - 64)
    assert np.all(reg[r < 28] == BRAIN)
    assert np.all(reg[(r > 38) & (r < 40)] == SKULL)
    assert np.all(reg[:, :6] == PAD) and np.all(reg[:, -6:] == PAD)
    assert np.all(reg[canvas > 0] == ART)
    assert np.all(reg[(r > 45) & (rr > 30) & (cc > 6) & (cc < 122)] == BG)
