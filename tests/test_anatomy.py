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
    monkeypatch.setattr(anatomy, "_derive", tiny_derived)
    anatomy.load_anatomy.cache_clear()
    try:
        first = anatomy.load_anatomy()
        files = list(tmp_path.glob("anatomy-v2-*.npz"))
        assert len(files) == 1 and not list(tmp_path.glob("*.tmp"))

        def fail():
            raise AssertionError("recomputed although cached")

        monkeypatch.setattr(anatomy, "_derive", fail)
        anatomy.load_anatomy.cache_clear()
        again = anatomy.load_anatomy()
        assert np.array_equal(first.gm, again.gm) and again.gm.dtype == np.float16

        files[0].write_bytes(b"not an npz")
        monkeypatch.setattr(anatomy, "_derive", tiny_derived)
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
