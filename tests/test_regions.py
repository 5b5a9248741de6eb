"""Estimated region masks: the quality measure on known answers, and the quality bounds on phantoms."""

import numpy as np
import pytest
from conftest import phantoms as data_config

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
    # Two draws of benchmarks/region_quality.py that no setting was chosen on (seeds 2 and 3; the
    # estimate was tuned on seed 0 and checked on seed 1), 600 images pooled.
    from audit.data.synthetic import generate_dataset

    cfg = data_config(
        n_images=300, image_size=128, contrasts=("t1", "t1c", "t2", "flair"), n_sites=3, site_marker=True,
        artifacts=dict.fromkeys(("marker", "frame", "padding", "zoom", "intensity", "noise", "ghost"), 0.0),
    )  # fmt: skip
    draws = [generate_dataset(cfg, np.random.default_rng(seed)) for seed in (2, 3)]
    images = np.concatenate([ds.images for ds in draws])
    truth = regions_from_label_maps(np.concatenate([ds.label_maps for ds in draws]))
    meta = {k: np.concatenate([ds.meta[k].to_numpy(bool) for ds in draws]) for k in ("ghost", "zoom")}
    est = np.stack([estimate_regions(img) for img in images])
    return meta, estimate_quality(est, truth)


def test_estimated_regions_meet_the_issue_bounds(phantoms):
    # Issue 9: mean Dice head >= 0.95, brain interior >= 0.85, skull band >= 0.70; annotation
    # pixel recall >= 0.90 (docs/data.md, for the measured values per draw).
    _, q = phantoms
    assert q["head_dice"].mean() >= 0.95
    assert q["brain_dice"].mean() >= 0.85
    assert q["skull_band_dice"].mean() >= 0.70
    assert q["annotation_recall"] >= 0.90


def test_estimated_skull_band_holds_on_ghost_rims_and_zoomed_heads(phantoms):
    # The two hard cases, guarded so that a change cannot buy the mean with them: a ghost rim is
    # peeled (0.37 before it was), a zoomed head is found whole (fragments before the threshold
    # stopped splitting grey from white matter).
    meta, q = phantoms
    assert q["skull_band_dice"][meta["ghost"]].mean() >= 0.62
    assert q["skull_band_dice"][meta["zoom"]].mean() >= 0.60


def test_head_threshold_separates_background_when_the_head_fills_the_image():
    from audit.regions.estimate import _head_threshold

    # 5% background (0.05), 50% grey matter (0.45), 45% white matter (0.75): Otsu's threshold
    # falls between the two tissues (~0.6); the head's must fall between background and tissue.
    values = np.repeat([0.05, 0.45, 0.75], [50, 500, 450]).astype(np.float32)
    t = _head_threshold(values)
    assert 0.05 < t < 0.45
    assert t == pytest.approx(0.05 + 0.5 * (0.75 - 0.05))  # TISSUE_FRACTION of the way up
    # With a large background Otsu's threshold is the lower one and is kept.
    values = np.repeat([0.05, 0.45, 0.75], [600, 200, 200]).astype(np.float32)
    assert 0.05 < _head_threshold(values) < 0.45


def test_head_radius_of_a_head_cut_by_the_image_border():
    import cv2

    from audit.regions.shapes import head_radius as _head_radius

    none = np.zeros((128, 128), bool)
    disk = np.zeros((128, 128), np.uint8)
    cv2.circle(disk, (64, 64), 30, 1, -1)
    assert _head_radius(disk.astype(bool), none) == pytest.approx(np.sqrt(disk.sum() / np.pi))
    cut = np.zeros((128, 128), np.uint8)
    cv2.circle(cut, (64, 110), 40, 1, -1)  # a third of it runs off the bottom edge
    area_radius = np.sqrt(cut.sum() / np.pi)
    assert area_radius < 36
    assert _head_radius(cut.astype(bool), none) == pytest.approx(40, abs=1.0)


def test_brain_edge_is_the_outer_band_of_a_stripped_brain_and_only_there():
    from audit.data.labels import LABELS

    rr, cc = np.mgrid[:64, :64]
    disk = np.hypot(rr - 32, cc - 32) <= 20  # radius ~20 px: edge band round(0.05 x 20) = 1 px
    stripped = np.where(disk, LABELS["grey_matter"], LABELS["background"]).astype(np.uint8)
    with_skull = stripped.copy()
    with_skull[(np.hypot(rr - 32, cc - 32) > 20) & (np.hypot(rr - 32, cc - 32) <= 24)] = LABELS["skull"]
    out = regions_from_label_maps(np.stack([stripped, with_skull]))
    edge = REGIONS.index("brain_edge")
    import cv2

    dist = cv2.distanceTransform(np.pad(disk, 1).astype(np.uint8), cv2.DIST_L2, 5)[1:-1, 1:-1]
    np.testing.assert_array_equal(out[0] == edge, disk & (dist <= 1))
    assert not (out[1] == edge).any() and (out[1] == SKULL).sum() > 0


@pytest.fixture(scope="module")
def colin27_real(colin27):
    """Real axial Colin27 slices (not phantoms), 96 px, with skull and skull-stripped (BET applied)."""
    from audit.data.anatomy import colin27_slices
    from audit.data.labels import LABELS

    out = {}
    for stripped in (False, True):
        images, labels = colin27_slices(size=96, stripped=stripped)
        est = np.stack([estimate_regions(img) for img in images])
        bet = labels == LABELS["grey_matter"]
        out[stripped] = (est, regions_from_label_maps(labels), bet)
    return out


def test_regions_on_real_colin27_slices_with_skull(colin27_real):
    # Issue 18: head Dice >= 0.95, brain >= 0.90 against ch2bet, on a real head no setting was chosen on.
    est, truth, bet = colin27_real[False]
    q = estimate_quality(est, truth)
    assert q["head_dice"].mean() >= 0.95
    brain_est = np.isin(est, [BRAIN, TUMOR, REGIONS.index("brain_edge")])
    dice = [2 * (e & t).sum() / (e.sum() + t.sum()) for e, t in zip(brain_est, bet, strict=True)]
    assert np.mean(dice) >= 0.90
    assert not q["stripped_estimated"].any()  # the skull is seen on every slice


def test_regions_on_real_skull_stripped_colin27_slices(colin27_real):
    # Issue 18: at most 5% of brain tissue labelled skull band (23% before stripped heads were detected).
    est, truth, _ = colin27_real[True]
    q = estimate_quality(est, truth)
    assert q["brain_in_skull_band_pooled"] <= 0.05
    assert q["stripped_estimated"].all() and q["head_dice"].mean() >= 0.95


def test_skull_stripped_phantoms_are_told_from_heads_with_skull_on_held_out_draws():
    # STRIPPED detection was chosen on MNI152 seed 0; seed 2 was never looked at.
    from audit.data.synthetic import generate_dataset

    found, ghost = {}, {}
    for skull in ("present", "stripped"):
        cfg = data_config(n_images=120, image_size=96, contrasts=("t1", "t1c", "t2", "flair"), skull=skull,
                          artifacts={"marker": 0.5, "zoom": 0.2, "noise": 0.2, "ghost": 0.3}, n_sites=3,
                          site_marker=True)  # fmt: skip
        ds = generate_dataset(cfg, np.random.default_rng(2))
        est = np.stack([estimate_regions(img) for img in ds.images])
        found[skull] = estimate_quality(est, regions_from_label_maps(ds.label_maps))
        ghost[skull] = ds.meta["ghost"].to_numpy(bool)
    assert found["present"]["stripped_estimated"].mean() <= 0.05
    # A ghost rim drawn outside a stripped brain (bright ring, dark gap, brain) reads as scalp over
    # bone: measured 0.69 of those found (docs/real_anatomy.md); every other stripped image is.
    assert found["stripped"]["stripped_estimated"][~ghost["stripped"]].mean() >= 0.95
    assert found["stripped"]["brain_in_skull_band"][~ghost["stripped"]].mean() <= 0.05


def test_region_maps_round_trip_through_label_maps():
    from audit.regions import label_maps_from_regions

    rng = np.random.default_rng(0)
    regions = rng.integers(0, len(REGIONS) - 1, (3, 16, 16)).astype(np.uint8)  # every region but brain_edge
    regions[:, 0, 0] = REGIONS.index("skull_band")  # a head with skull: brain_edge is not recomputed
    np.testing.assert_array_equal(regions_from_label_maps(label_maps_from_regions(regions)), regions)


def _site_heads(anatomy: str, request, names: bool = True):
    """40 64-px T1c heads of two sites (the benchmark's site cells), data seed 12, with or without the sites' names
    burned in (each image's own seed draws the rest, so only the text differs)."""
    from audit.data.synthetic import generate_dataset

    if anatomy == "colin27":
        request.getfixturevalue("colin27")
    cfg = data_config(n_images=40, image_size=64, contrasts=("t1c",), n_sites=2, site_marker=names,
                      anatomy=anatomy, min_tumor_area=12)  # fmt: skip
    return generate_dataset(cfg, np.random.default_rng(12), workers=1)


@pytest.mark.parametrize("anatomy", ["mni152", "colin27"])
def test_brain_extraction_leaves_out_burned_in_text_that_the_estimates_brain_takes_in(anatomy, request):
    # 64-px T1c heads with two sites' names burned in (the benchmark's site cells), a draw no setting of
    # audit.regions.extraction was chosen on (seed 12; they were set on data seed 7).  At this size the
    # estimate's head hull takes in a wedge towards a name near the scalp: measured, 37 (MNI152) and 35
    # (Colin27) of 40 estimated brains hold text pixels (1,661 and 971), the extraction 8 and 0.
    from audit.regions import brain_tissue_mask, extract_brain

    ds = _site_heads(anatomy, request)
    truth = regions_from_label_maps(ds.label_maps)
    text_e = text_x = 0
    recall = []
    for image, t in zip(ds.images, truth, strict=True):
        regions = estimate_regions(image)
        estimate, extracted = brain_tissue_mask(regions), extract_brain(image, regions)
        brain, text = brain_tissue_mask(t), t == ART
        text_e, text_x = text_e + int((estimate & text).sum()), text_x + int((extracted & text).sum())
        assert (extracted & ~brain).sum() <= 0.07 * extracted.sum()  # measured at most 0.009 / 0.066
        recall.append((extracted & brain).sum() / brain.sum())
    assert text_e >= 500 and text_x <= 20
    # Precision bought with recall: the extraction leaves out the dark CSF at the brain's edge and SHRINK px
    # of cortex (measured mean 0.73 / 0.77, least 0.58 / 0.70; the estimate's brain 0.96 / 0.96).
    assert np.mean(recall) >= 0.65 and min(recall) >= 0.5


def test_hull_slack_is_the_gap_a_burned_in_word_opens_in_the_hull_and_nothing_of_a_closed_head():
    from skimage.morphology import convex_hull_image

    from audit.regions.extraction import hull_slack

    yy, xx = np.mgrid[:64, :64]
    r = np.hypot(yy - 36, xx - 32)
    image = np.full((64, 64), 0.05, np.float32)
    image[r <= 20] = 0.8  # scalp
    image[r <= 18] = 0.05  # skull, dark as the background
    image[r <= 16] = 0.5  # brain
    disk = r <= 20
    assert not hull_slack(image, disk).any()  # the dark skull is enclosed by the scalp: no slack
    image[8:11, 30:51] = 0.9  # a word above the scalp, a gap of background between (rows 11-15)
    head = convex_hull_image(disk | (image > 0.85))
    slack = hull_slack(image, head)
    gap = head & ~disk & (image < 0.1)
    assert slack[gap].all()  # the gap the hull took in ...
    assert slack[head & (image > 0.85) & np.roll(gap, -1, axis=0)].any()  # ... and the word's strokes beside it
    assert not slack[r <= 18].any()  # not the skull, the brain or the scalp under it
    assert not hull_slack(image, np.ones((64, 64), bool)).any()  # a head filling the image has no background


@pytest.mark.parametrize("anatomy", ["mni152", "colin27"])
def test_a_site_name_beside_the_scalp_barely_moves_the_extracted_brain(anatomy, request):
    # The same 40 heads (seed 12, as above) with and without their site's name.  Before 0.10.9 the name grew
    # the brain kept by 4.4% (MNI152, 48 px of 1,091) and 3.3% (Colin27) of its area on average, through the
    # tissue threshold (docs/mitigations.md): a site cue behind every input mitigation.  Read without the
    # hull's slack: +0.06% and +0.3%.
    from audit.regions import extract_brain

    named, plain = _site_heads(anatomy, request).images, _site_heads(anatomy, request, names=False).images
    assert np.abs(named - plain).max() > 0.5  # the names are there ...
    area = {k: np.array([extract_brain(im, estimate_regions(im)).sum() for im in ims])
            for k, ims in (("named", named), ("plain", plain))}  # fmt: skip
    moved = np.mean(area["named"] - area["plain"]) / np.mean(area["plain"])
    assert abs(moved) < 0.02, moved


def test_tissue_contrast_known_answers():
    from audit.regions.extraction import tissue_contrast

    yy, xx = np.mgrid[:64, :64]
    r = np.hypot(yy - 32, xx - 32)
    regions = np.where(r <= 20, BRAIN, np.where(r <= 26, SKULL, BG)).astype(np.uint8)
    image = np.where(r <= 20, 0.5, np.where(r <= 26, 0.9, 0.1)).astype(np.float32)  # the ring is > 1% of pixels
    assert tissue_contrast(image, regions) == pytest.approx((0.5 - 0.1) / (0.9 - 0.1))
    blanked = np.where(r <= 20, 0.1, image).astype(np.float32)
    assert tissue_contrast(np.repeat(blanked[..., None], 3, axis=-1), regions) == pytest.approx(0.0)
    assert tissue_contrast(np.full((64, 64), 0.4, np.float32), regions) == 0.0  # flat
    assert np.isnan(tissue_contrast(image, np.full((64, 64), BG, np.uint8)))  # no brain: unknown
    full = np.where(r <= 20, BRAIN, SKULL).astype(np.uint8)  # the head fills the frame: b = 1st percentile
    head = np.where(r <= 20, 0.5, 0.9).astype(np.float32)
    head[:2] = 0.0  # 128 px = 3% of the frame
    assert tissue_contrast(head, full) == pytest.approx(0.5 / 0.9)


def test_mask_depth_known_answers():
    from audit.regions.extraction import mask_depth

    yy, xx = np.mgrid[:64, :100]
    assert mask_depth(np.hypot(yy - 32, xx - 50) <= 16) == pytest.approx(16 / 64, abs=0.02)  # a disk: r / side
    bar = np.zeros((64, 100), bool)
    bar[10:15, :] = True  # 5 px thick, across the frame: 3 px from outside at its middle row
    assert mask_depth(bar) == pytest.approx(3 / 64, abs=0.005)
    assert mask_depth(np.zeros((64, 64), bool)) == 0.0
    assert mask_depth(np.ones((64, 64), bool)) == pytest.approx(32 / 64, abs=0.02)  # the border is outside


@pytest.mark.parametrize("anatomy", ["mni152", "colin27"])
def test_a_head_whose_brain_was_blanked_has_no_brain_to_strip(anatomy, request, monkeypatch):
    # The check artifact_reliance fills the brain with the background's median; through a skull-strip it
    # must become an empty input, not a crescent of scalp or the estimate's outline (0.10.5 seed 9:
    # blanked zoom heads behind brain_crop were called tumor at 79-84% balanced accuracy).  A draw
    # MIN_CONTRAST and MIN_DEPTH were not set on (seed 13; they were set on data seed 7), with heads both
    # zoomed and letterboxed, which no benchmark cell has.  Measured: of 60 blanked heads 1 (MNI152) and
    # 0 (Colin27) keep a mask with brain_crop's strip (0 and 1 with the strip as it came), against all
    # 60 without the two limits; no raw head loses its brain to them.
    import audit.mitigations.at_input as at_input
    from audit.checks.artifact_reliance import fill_regions
    from audit.data.synthetic import generate_dataset
    from audit.regions import brain_tissue_mask

    if anatomy == "colin27":
        request.getfixturevalue("colin27")
    cfg = data_config(n_images=60, image_size=64, contrasts=("t1c",), n_sites=2, site_marker=True,
                      anatomy=anatomy, min_tumor_area=25, artifacts={"zoom": 0.4, "padding": 0.3})  # fmt: skip
    ds = generate_dataset(cfg, np.random.default_rng(13), workers=1)
    truth = regions_from_label_maps(ds.label_maps)
    rng = np.random.default_rng(0)
    blanked = [
        fill_regions(im, brain_tissue_mask(t), "median", t == BG, rng) for im, t in zip(ds.images, truth, strict=True)
    ]
    for one_size in (False, True):
        kept = [at_input.skull_strip(b, one_size).any() for b in blanked]
        assert sum(kept) <= 2
        for b, k in zip(blanked, kept, strict=True):
            if not k:
                assert not at_input.normalize_input(b, standardize=True, crop=True, one_size=one_size)[0].any()
        with monkeypatch.context() as m:  # without the limits
            m.setattr(at_input, "MIN_CONTRAST", -np.inf)
            m.setattr(at_input, "MIN_DEPTH", 0.0)
            raw_without = [at_input.skull_strip(im, one_size).sum() for im in ds.images]
            assert sum(at_input.skull_strip(b, one_size).any() for b in blanked) >= 55
        raw_with = [at_input.skull_strip(im, one_size).sum() for im in ds.images]
        assert raw_with == raw_without  # a raw head keeps its brain, pixel for pixel


def test_brain_extraction_keeps_the_estimate_where_there_is_no_skull_to_strip():
    from audit.regions import brain_tissue_mask, extract_brain

    blank = np.zeros((64, 64), np.float32)
    assert not extract_brain(blank, estimate_regions(blank)).any()
    image = np.zeros((64, 64), np.float32)  # a skull-stripped brain: tissue straight onto the background
    yy, xx = np.mgrid[:64, :64]
    image[(yy - 32) ** 2 / 24**2 + (xx - 32) ** 2 / 20**2 <= 1] = 0.6
    image[(yy - 32) ** 2 + (xx - 32) ** 2 <= 36] = 0.3  # a ventricle
    regions = estimate_regions(image)
    assert not (regions == SKULL).any()
    np.testing.assert_array_equal(extract_brain(image, regions), brain_tissue_mask(regions))
