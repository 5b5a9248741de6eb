"""The MNI-derived anatomy: the disk cache, plane orientation and the real templates."""

from __future__ import annotations

import numpy as np
import pytest

from audit.data import anatomy


def tiny_derived():
    rng = np.random.default_rng(0)
    vols = {k: rng.random((6, 7, 8)).astype(np.float32) for k in anatomy._FIELDS}
    return {**vols, "affine": np.eye(4)}


def test_derived_volumes_are_cached_on_disk_and_rebuilt_when_damaged(tmp_path, monkeypatch):
    monkeypatch.setenv("BRAIN_AUDIT_CACHE", str(tmp_path))
    monkeypatch.setattr(anatomy, "_derive_mni152", tiny_derived)
    anatomy.load_anatomy.cache_clear()
    try:
        first = anatomy.load_anatomy()
        files = list(tmp_path.glob("anatomy-v2-*.npz"))
        assert len(files) == 1 and not list(tmp_path.glob("*.tmp"))

        def fail():
            raise AssertionError("recomputed although cached")

        monkeypatch.setattr(anatomy, "_derive_mni152", fail)
        anatomy.load_anatomy.cache_clear()
        again = anatomy.load_anatomy()
        assert np.array_equal(first.gm, again.gm) and again.gm.dtype == np.float16

        files[0].write_bytes(b"not an npz")
        monkeypatch.setattr(anatomy, "_derive_mni152", tiny_derived)
        anatomy.load_anatomy.cache_clear()
        assert np.array_equal(anatomy.load_anatomy().wm, first.wm)
    finally:
        anatomy.load_anatomy.cache_clear()


@pytest.mark.parametrize("plane", ["axial", "coronal", "sagittal"])
def test_plane_stack_matches_plane_slice(plane, monkeypatch, tmp_path):
    vols = tiny_derived()
    anat = anatomy.Anatomy(**{k: vols[k].astype(np.float16) for k in anatomy._FIELDS}, affine=np.eye(4))
    stack = anat.plane_stack(plane)
    level = 3
    for k, name in enumerate(anatomy.STACK_FIELDS):
        np.testing.assert_array_equal(stack[level, ..., k], anatomy.plane_slice(getattr(anat, name), plane, level))
    coords = anatomy.plane_coords(anat.gm.shape, plane, level)
    r, c = 1, 2
    x, y, z = coords[r, c].astype(int)
    assert anat.gm[x, y, z] == stack[level, r, c, 0]
    assert anatomy.plane_position(anat.gm.shape, plane, coords[r, c]) == (r, c)


def test_real_templates_have_a_brain_and_csf():
    anat = anatomy.load_anatomy()
    brain = anat.inside_mm > 0
    assert 1.2e6 < brain.sum() < 2.5e6  # about 1.9 litres at 1 mm
    frac = anat.gm.astype(np.float32) + anat.wm.astype(np.float32) + anat.csf.astype(np.float32)
    assert np.allclose(frac[brain], 1, atol=2e-3)
    assert (anat.outside_mm[brain] == 0).all() and (anat.outside_mm[~brain] > 0).all()
    lo, hi = anat.brain_extent(2)
    assert 140 < hi - lo < 200  # mm from the bottom of the cerebellum to the vertex


def test_colin27_is_a_real_head_around_its_bet_brain(colin27):
    import nibabel as nib
    from scipy import ndimage

    anat = colin27
    bet = np.asarray(nib.load(anatomy.colin27_dir() / "ch2bet.nii.gz").dataobj) > 0
    brain = anat.inside_mm > 0
    assert brain.sum() == bet.sum()  # the BET mask is the brain, voxel for voxel
    layers = {k: getattr(anat, k) > 0.5 for k in anatomy.LAYER_FIELDS}
    assert not (layers["skull"] & layers["scalp"]).any() and not (layers["skull"] & brain).any()
    assert not (layers["scalp"] & brain).any() and not (layers["ext_csf"] & (layers["skull"] | layers["scalp"])).any()
    assert (layers["marrow"] <= layers["skull"]).all()
    assert anat.outside_mm[layers["skull"]].max() <= 15
    frac = anat.gm.astype(np.float32) + anat.wm.astype(np.float32) + anat.csf.astype(np.float32)
    np.testing.assert_allclose(frac[brain], 1, atol=2e-3)  # float16 storage
    # The upper half of the brain is enclosed by skull: the brain's outer surface there lies within
    # 3 mm of skull or the CSF rim (real bone, not a shell grown at a set distance).
    lo, hi = anat.brain_extent(2)
    top = np.zeros(brain.shape, bool)
    top[:, :, lo + (hi - lo) // 2 : hi - 5] = True
    surface = brain & ~ndimage.binary_erosion(brain) & top
    near = ndimage.binary_dilation(layers["skull"] | layers["ext_csf"], iterations=3)
    assert (near[surface]).mean() >= 0.95
    # Marrow (bright diploe) is a minority of the skull, as in the T1 (most of the skull is dark bone).
    assert 0.03 < layers["marrow"].sum() / layers["skull"].sum() < 0.4


def test_a_missing_colin27_is_a_one_line_error_that_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setenv("BRAIN_AUDIT_COLIN27", str(tmp_path))
    monkeypatch.setenv("BRAIN_AUDIT_CACHE", str(tmp_path / "cache"))
    anatomy.load_anatomy.cache_clear()
    try:
        with pytest.raises(ValueError, match="apt-get install mricron-data") as info:
            anatomy.load_anatomy("colin27")
        assert "\n" not in str(info.value)
        with pytest.raises(ValueError, match="data.synthetic.anatomy must be one of mni152, colin27"):
            anatomy.load_anatomy("colin")
    finally:
        anatomy.load_anatomy.cache_clear()
