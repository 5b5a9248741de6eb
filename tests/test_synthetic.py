import numpy as np
import pytest
from scipy.stats import chi2_contingency

from audit.data.labels import LABELS
from audit.data.synthetic import generate_dataset

BRAIN_CODES = [LABELS[k] for k in ("csf", "grey_matter", "white_matter", "tumor_core", "enhancing_tumor", "edema")]
TUMOR_CODES = [LABELS[k] for k in ("tumor_core", "enhancing_tumor")]


@pytest.fixture(scope="module")
def ds():
    return generate_dataset(40, 64, np.random.default_rng(0), marker_p=0.5, min_tumor_area=20)


def test_shapes_types_and_range(ds):
    assert ds.images.shape == (40, 64, 64, 1) and ds.images.dtype == np.float32
    assert 0 <= ds.images.min() and ds.images.max() <= 1
    assert ds.label_maps.shape == (40, 64, 64) and ds.label_maps.dtype == np.uint8
    assert set(np.unique(ds.label_maps)) <= set(LABELS.values())
    assert ds.class_names == ("healthy", "tumor")


def test_masks_are_consistent(ds):
    for lab, y, row in zip(ds.label_maps, ds.labels, ds.meta.itertuples(), strict=True):
        tumor_px = np.isin(lab, TUMOR_CODES)
        assert (tumor_px.sum() >= 20) == bool(y) and (tumor_px.sum() > 0) == bool(y)
        assert row.tumor_area == tumor_px.sum()
        # Every tumor and edema pixel lies inside the area enclosed by the skull.
        head = lab != LABELS["background"]
        inner = np.isin(lab, BRAIN_CODES)
        assert inner.sum() > 0 and head.sum() > inner.sum()
        art = lab == LABELS["artifact"]
        assert art.any() == row.marker
        if row.marker:
            r0, c0, r1, c1 = map(int, row.marker_box.split(","))
            rr, cc = np.nonzero(art)
            assert rr.min() >= r0 and rr.max() < r1 and cc.min() >= c0 and cc.max() < c1


def test_same_seed_same_arrays_other_seed_differs():
    a = generate_dataset(12, 48, np.random.default_rng(7))
    b = generate_dataset(12, 48, np.random.default_rng(7))
    c = generate_dataset(12, 48, np.random.default_rng(8))
    assert np.array_equal(a.images, b.images) and np.array_equal(a.label_maps, b.label_maps)
    assert (a.split == b.split).all() and not np.array_equal(a.images, c.images)


def _table(ds):
    return np.array([[np.sum((ds.labels == y) & (ds.meta.marker == m)) for m in (False, True)] for y in (0, 1)])


def test_marker_tie_strength():
    full = generate_dataset(60, 40, np.random.default_rng(1), marker_p=1.0)
    assert (full.meta.marker.to_numpy() == (full.labels == 1)).all()
    free = generate_dataset(400, 40, np.random.default_rng(2), marker_p=0.0)
    assert chi2_contingency(_table(free))[1] > 0.01


def test_split_is_stratified(ds):
    counts = ds.class_counts("test")
    assert counts == {"healthy": 6, "tumor": 6}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"marker_p": 1.5}, r"marker_p must lie in \[0, 1\], got 1.5"),
        ({"tumor_fraction": -0.1}, r"tumor_fraction must lie in \[0, 1\]"),
        ({"n_images": 2}, "n_images must be at least 4"),
        ({"size": 16}, "image size must be at least 32 px"),
        ({"min_tumor_area": 5000}, "cannot place a tumor of at least 5000 px"),
    ],
)
def test_invalid_knobs(kwargs, match):
    args = {"n_images": 8, "size": 40, "rng": np.random.default_rng(0)} | kwargs
    with pytest.raises(ValueError, match=match):
        generate_dataset(**args)
