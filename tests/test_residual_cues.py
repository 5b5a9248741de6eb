"""benchmarks/residual_cues.py on inputs whose answer is known."""

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

_SPEC = importlib.util.spec_from_file_location(
    "residual_cues", Path(__file__).resolve().parent.parent / "benchmarks" / "residual_cues.py"
)
rc = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(rc)


def disc(radius: float, value: float, size: int = 64) -> np.ndarray:
    i, j = np.mgrid[0:size, 0:size] - (size - 1) / 2
    img = np.where(i**2 + j**2 <= radius**2, value, 0.0).astype(np.float32)
    return img[..., None]


def test_statistics_of_a_flat_centred_disc():
    s = rc.statistics(disc(20, 0.6))
    inside = (np.mgrid[0:64, 0:64] - 31.5) ** 2
    assert s["share_on"] == pytest.approx(float(((inside[0] + inside[1]) <= 400).mean()))
    assert s["p10"] == s["p50"] == s["p90"] == pytest.approx(0.6) and s["std_on"] == pytest.approx(0.0, abs=1e-6)
    assert s["corner_occupancy"] == 0.0  # a centred disc of radius 20 leaves the 12-px corners empty
    assert s["laplacian_inner"] == pytest.approx(0.0, abs=1e-6)  # flat inside: no second derivative
    assert s["laplacian_rim"] > 0.05  # the disc's edge


def test_statistics_of_an_empty_image_are_finite():
    assert all(np.isfinite(v) for v in rc.statistics(np.zeros((32, 32, 1), np.float32)).values())


def test_cue_auc_sees_a_separating_statistic_and_not_a_constant_one():
    flag = np.repeat([True, False], 20)
    rng = np.random.default_rng(0)
    feats = pd.DataFrame({"size": np.where(flag, 2.0, 1.0) + rng.normal(0, 0.01, 40), "flat": np.ones(40)})
    best, which, cv = rc.cue_auc(feats, flag, 0)
    assert (best, which) == (1.0, "size") and cv == pytest.approx(1.0)
    best, which, cv = rc.cue_auc(feats[["flat"]], flag, 0)
    assert best == 0.5 and cv <= 0.6  # nothing to read


def test_site_carriers_are_the_site_tied_to_the_last_class():
    meta = pd.DataFrame({"site": ["a", "a", "a", "b", "b", "b"]})
    labels = np.array([1, 1, 0, 0, 0, 1])
    assert rc.carriers(meta, "site", labels).tolist() == [True, True, True, False, False, False]
    flags = pd.DataFrame({"zoom": [True, False, True, False, False, True]})
    assert rc.carriers(flags, "zoom", labels).tolist() == [True, False, True, False, False, True]


def test_a_tie_strength_without_non_carriers_is_a_one_line_error():
    with pytest.raises(SystemExit, match="strictly between 0 and 1"):
        rc.main(["--p", "1.0"])
