"""The phantom generator: exact masks, planted artifacts, determinism, knobs."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import phantoms
from scipy.ndimage import label as connected
from scipy.stats import chi2_contingency

from audit.data.artifacts import ARTIFACTS
from audit.data.labels import LABELS
from audit.data.synthetic import export_png_tree, generate_dataset

TUMOR = [LABELS[k] for k in ("tumor_core", "enhancing_tumor")]
BRAIN = [LABELS[k] for k in ("grey_matter", "white_matter")]


def make(n=24, size=96, seed=0, **kw):
    cfg = phantoms(**{"n_images": n, "image_size": size, "min_tumor_area": 15, **kw})
    return generate_dataset(cfg, np.random.default_rng(seed), workers=1)


@pytest.fixture(scope="module")
def ds():
    return make(
        40, 128, artifacts={"marker": 0.5, "frame": 0.0, "ghost": 0.0, "noise": 0.0, "intensity": 0.0}, n_sites=2
    )


def outside_skull(lab: np.ndarray) -> np.ndarray:
    """Pixels reachable from the image border without crossing skull, scalp or a burned-in artifact (text
    burned in over the scalp, as a big head's site name can be, replaces the skull's pixels; it does not
    open the head)."""
    open_ = ~np.isin(lab, [LABELS["skull"], LABELS["scalp"], LABELS["artifact"]])
    comps, _ = connected(open_)
    border = np.unique(np.r_[comps[0], comps[-1], comps[:, 0], comps[:, -1]])
    return np.isin(comps, border[border > 0])


def test_shapes_types_and_range(ds):
    assert ds.images.shape == (40, 128, 128, 1) and ds.images.dtype == np.float32
    assert 0 <= ds.images.min() and ds.images.max() <= 1
    assert ds.label_maps.shape == (40, 128, 128) and ds.label_maps.dtype == np.uint8
    assert set(np.unique(ds.label_maps)) <= set(LABELS.values())
    assert ds.class_names == ("healthy", "tumor")


def test_every_image_has_a_skull_ring_and_brain(ds):
    for lab in ds.label_maps:
        assert (lab == LABELS["skull"]).sum() > 100 and np.isin(lab, BRAIN).sum() > 1000


def test_tumor_and_brain_lie_inside_the_skull(ds):
    for lab, y, row in zip(ds.label_maps, ds.labels, ds.meta.itertuples(), strict=True):
        tumor = np.isin(lab, TUMOR)
        assert (tumor.sum() >= 15) == bool(y) and row.tumor_area == tumor.sum()
        out = outside_skull(lab)
        assert not (out & np.isin(lab, BRAIN + TUMOR + [LABELS["edema"]])).any()


def test_artifacts_are_recorded_boxed_and_off_the_brain(ds):
    for lab, row in zip(ds.label_maps, ds.meta.itertuples(), strict=True):
        art = lab == LABELS["artifact"]
        boxed = np.zeros_like(art)
        for name in ("marker", "frame", "ghost", "site_marker"):
            box = getattr(row, f"{name}_box")
            assert bool(box) == getattr(row, name)
            if box:
                r0, c0, r1, c1 = map(int, box.split(","))
                boxed[r0:r1, c0:c1] = True
        assert not (art & ~boxed).any()  # every artifact pixel is inside a recorded box
        assert art.any() == any(getattr(row, n) for n in ("marker", "frame", "ghost", "site_marker"))
        assert (art <= outside_skull(lab) | np.isin(lab, [LABELS["artifact"]])).all()
        assert row.noise_box in ("", "global") and row.intensity_box in ("", "global")


def test_same_seed_same_arrays_any_worker_count():
    kw = dict(artifacts={"marker": 0.3, "zoom": 0.0, "padding": 0.0}, n_sites=2, site_p=0.5)
    a, b, c = make(seed=7, **kw), make(seed=7, **kw), make(seed=8, **kw)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.label_maps, b.label_maps)
    assert a.meta.equals(b.meta) and (a.split == b.split).all()
    assert not np.array_equal(a.images, c.images)
    cfg = phantoms(n_images=24, image_size=64, min_tumor_area=10, **kw)
    one = generate_dataset(cfg, np.random.default_rng(3), workers=1)
    two = generate_dataset(cfg, np.random.default_rng(3), workers=2)
    assert np.array_equal(one.images, two.images) and one.meta.equals(two.meta)


def _association_p_value(present: np.ndarray, tied: np.ndarray) -> float:
    table = np.array(
        [[np.sum(tied & present), np.sum(tied & ~present)], [np.sum(~tied & present), np.sum(~tied & ~present)]]
    )
    return chi2_contingency(table)[1]


@pytest.mark.parametrize("name", sorted(ARTIFACTS))
def test_tie_strength_one_is_perfect(name):
    full = make(24, 48, artifacts={name: 1.0})
    assert (full.meta[name].to_numpy() == (full.labels == 1)).all()


def test_tie_strength_zero_is_chance():
    names = tuple(sorted(ARTIFACTS))
    free = make(200, 40, seed=1, artifacts=dict.fromkeys(names, 0.0), n_sites=2, site_p=0.0)
    tumor = free.labels == 1
    for name in names:
        assert 0.3 < free.meta[name].mean() < 0.7
        assert _association_p_value(free.meta[name].to_numpy(), tumor) > 0.01, name
    assert _association_p_value(free.meta["site"].to_numpy() == "SITE B", tumor) > 0.01


def test_assign_presence_rates():
    from audit.data.artifacts import assign_presence

    tied = np.arange(20000) % 2 == 0
    present = assign_presence(tied, 0.5, np.random.default_rng(0))
    assert present[tied].mean() == pytest.approx(0.75, abs=0.02)
    assert present[~tied].mean() == pytest.approx(0.25, abs=0.02)


def test_site_tie_strength_one_is_perfect():
    full = make(24, 48, n_sites=2, site_p=1.0)
    assert (full.meta["site"].to_numpy() == np.where(full.labels == 0, "SITE A", "SITE B")).all()


@pytest.mark.parametrize("contrast", ["t1", "t1c", "t2", "flair"])
def test_contrasts_differ_in_the_expected_direction(contrast):
    d = make(8, 64, contrasts=(contrast,), tumor_fraction=0.0)
    img, lab = d.images[..., 0], d.label_maps
    csf = img[lab == LABELS["csf"]].mean()
    wm = img[lab == LABELS["white_matter"]].mean()
    assert (csf > wm) == (contrast == "t2")


@pytest.mark.parametrize("plane", ["axial", "coronal", "sagittal"])
def test_every_plane(plane):
    d = make(6, 64, plane=plane)
    assert (d.meta["plane"] == plane).all()
    assert (d.meta["tumor_area"][d.labels == 1] >= 15).all()
    assert np.isin(d.label_maps, BRAIN).sum() > 0


def test_four_classes_and_tumor_kinds():
    d = make(16, 96, classes="four")
    assert d.class_names == ("glioma", "meningioma", "notumor", "pituitary")
    for y, row in zip(d.labels, d.meta.itertuples(), strict=True):
        expected = "" if d.class_names[y] == "notumor" else d.class_names[y]
        assert row.tumor_kind == expected and (row.tumor_area > 0) == bool(expected)
    glioma = d.label_maps[d.labels == 0]
    assert (glioma == LABELS["tumor_core"]).any()  # necrotic core
    assert (glioma == LABELS["edema"]).any()


def test_min_tumor_area_is_met():
    d = make(12, 64, min_tumor_area=60, tumor_fraction=1.0, tumor_kinds=("glioma",))
    assert (d.meta["tumor_area"] >= 60).all()


def test_export_round_trip(tmp_path):
    d = make(6, 64, artifacts={"marker": 1.0})
    export_png_tree(d, tmp_path)
    for k, row in d.meta.iterrows():
        cls = d.class_names[d.labels[k]]
        img = cv2.imread(str(tmp_path / "images" / cls / f"{row['id']}.png"), cv2.IMREAD_UNCHANGED)
        mask = cv2.imread(str(tmp_path / "masks" / cls / f"{row['id']}.png"), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(img, np.round(d.images[k, ..., 0] * 255).astype(np.uint8))
        np.testing.assert_array_equal(mask, d.label_maps[k])
    assert (tmp_path / "metadata.csv").read_text().count("\n") == 7


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"artifacts": {"marker": 1.5}}, r"data\.artifacts\.marker must lie in \[0, 1\], got 1.5"),
        ({"site_p": -0.1}, r"data\.synthetic\.site_p must lie in \[0, 1\]"),
        ({"tumor_fraction": 2.0}, r"data\.synthetic\.tumor_fraction must lie in \[0, 1\]"),
        ({"n_images": 2}, r"data\.synthetic\.n_images must be at least 4"),
        ({"image_size": 16}, r"data\.image_size must be at least 32 px"),
        ({"levels": (0.8, 0.2)}, r"data\.levels must be \[low, high\]"),
        ({"contrasts": ("pd",)}, r"data\.synthetic\.contrasts: unknown contrast 'pd'; contrasts: t1, t1c, t2, flair"),
        ({"artifacts": {"watermark": 0.5}}, r"data\.artifacts: unknown artifact 'watermark'; artifacts: marker"),
        ({"tumor_kinds": ("lymphoma",)}, r"data\.synthetic\.tumor_kinds: unknown tumor kind 'lymphoma'"),
        ({"tie_class": "glioma"}, r"data\.synthetic\.tie_class 'glioma' is not a class; classes: healthy, tumor"),
        ({"min_tumor_area": 100000, "tumor_fraction": 1.0}, r"data\.min_tumor_area: cannot reach .*100000 px"),
    ],
)
def test_invalid_knobs_are_clear_errors(kw, match):
    with pytest.raises(ValueError, match=match):
        make(4, 48, **kw)


@pytest.mark.parametrize("anatomy_name", ["mni152", "colin27"])
def test_skull_stripped_phantoms_are_brain_only_and_black_outside(anatomy_name, request):
    if anatomy_name == "colin27":
        request.getfixturevalue("colin27")
    ds = make(16, 96, seed=3, anatomy=anatomy_name, skull="stripped")
    head = np.isin(ds.label_maps, [LABELS["skull"], LABELS["scalp"]])
    assert not head.any()
    background = ds.label_maps == LABELS["background"]
    assert (ds.images[..., 0][background] == 0).all()  # masked: exactly 0, no noise
    assert all(np.isin(lab, BRAIN).sum() > 1000 for lab in ds.label_maps)
    assert (ds.meta["tumor_area"] > 0).sum() == ds.labels.sum()  # tumors kept inside the mask
    with_skull = make(16, 96, seed=3, anatomy=anatomy_name)
    np.testing.assert_array_equal(ds.labels, with_skull.labels)


def test_colin27_phantoms_have_its_real_skull_and_scalp_and_are_reproducible(colin27):
    ds = make(12, 96, seed=4, anatomy="colin27", artifacts={"marker": 1.0})
    for lab in ds.label_maps:
        assert (lab == LABELS["skull"]).sum() > 100 and (lab == LABELS["scalp"]).sum() > 100
        assert np.isin(lab, BRAIN).sum() > 1000
    again = make(12, 96, seed=4, anatomy="colin27", artifacts={"marker": 1.0})
    np.testing.assert_array_equal(ds.images, again.images)
    mni = make(12, 96, seed=4, artifacts={"marker": 1.0})
    assert not np.array_equal(ds.label_maps, mni.label_maps)  # another head


def test_a_zoom_magnifies_the_scanners_bias_field_with_the_anatomy(monkeypatch):
    """A coil's bias field lives in the scanner's space: a tighter field of view (the zoom artifact) shows it
    magnified with the anatomy, not drawn afresh over the image's pixels (before 0.10.11 a zoomed brain showed
    it 1.3 times finer than a plain one, a second cue).  With the bias field a known ramp across the frame it
    is drawn in and every other field off, the zoomed render's log-bias has the ramp's slope times the zoom."""
    from audit.data import synthetic
    from audit.data.anatomy import load_anatomy

    size, zoom = 64, 0.75
    ramp = np.tile((np.arange(size, dtype=np.float32) - (size - 1) / 2) / ((size - 1) / 2), (size, 1))
    bias = {"on": True}
    monkeypatch.setattr(
        synthetic, "_smooth", lambda rng, shape, cells: ramp * bias["on"] if cells == 3 else np.zeros(shape, np.float32)
    )
    plain = {"fov_mm": 230.0, "shift_mm": np.zeros(2)}
    zoomed = {"fov_mm": 230.0 * zoom, "shift_mm": np.array([0.0, 6.0])}
    kw = {"size": size, "plane": "axial", "level": 45, "contrast": "t1c", "noise_sigma": 0.0}
    anat = load_anatomy("mni152")

    def log_bias(**framing):
        bias["on"] = True
        with_bias = synthetic.render_slice(anat, np.random.default_rng(1), **kw, **framing)[0]
        bias["on"] = False
        without = synthetic.render_slice(anat, np.random.default_rng(1), **kw, **framing)[0]
        ok = (without > 0.1) & (with_bias < 0.99)  # on the head, not clipped
        cols = np.broadcast_to(np.arange(size), (size, size))[ok]
        return np.polyfit(cols, np.log(with_bias[ok] / without[ok]), 1)[0]  # slope per pixel

    slope = 0.18 / ((size - 1) / 2)  # render_slice: exp(0.18 x field)
    assert log_bias(**plain) == pytest.approx(slope, rel=1e-3)
    assert log_bias(**plain, field_framing=plain) == pytest.approx(slope, rel=1e-3)  # its own framing: as before
    assert log_bias(**zoomed, field_framing=plain) == pytest.approx(zoom * slope, rel=0.01)  # magnified
    assert log_bias(**zoomed) == pytest.approx(slope, rel=1e-3)  # drawn over the pixels: the old behaviour
