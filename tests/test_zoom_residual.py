"""benchmarks/zoom_residual.py's decomposition on inputs whose answer is known."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

_SPEC = importlib.util.spec_from_file_location(
    "zoom_residual", Path(__file__).resolve().parent.parent / "benchmarks" / "zoom_residual.py"
)
zr = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(zr)


def _right(n_wrong: int, n: int = 100) -> np.ndarray:
    out = np.ones(n, bool)
    out[:n_wrong] = False
    return out


def test_a_model_that_reads_only_the_framing_loses_its_drop_to_the_framing():
    """Right on every image in the tied framing, wrong on 10 of 100 in the swapped one, whatever the render."""
    ok = {"a": _right(0), "b_in_a": _right(0), "a_in_b": _right(10), "b": _right(10),
          "a_clean": _right(0), "b_clean": _right(4)}  # fmt: skip
    r = zr.effects(ok, np.random.default_rng(0), n_boot=200)
    assert r["drop"] == pytest.approx(0.10) and r["framing"] == pytest.approx(0.10) and r["render"] == pytest.approx(0)
    assert r["drop_cleaned"] == pytest.approx(0.04)
    assert r["framing_ci_low"] <= 0.10 <= r["framing_ci_high"] and r["render_ci_low"] == r["render_ci_high"] == 0


def test_framing_and_render_add_up_to_the_drop():
    rng = np.random.default_rng(1)
    ok = {k: rng.random(300) < q for k, q in
          {"a": 0.95, "b": 0.85, "a_in_b": 0.9, "b_in_a": 0.88, "a_clean": 0.95, "b_clean": 0.9}.items()}  # fmt: skip
    r = zr.effects(ok, np.random.default_rng(0), n_boot=100)
    assert r["framing"] + r["render"] == pytest.approx(r["drop"])
    acc = {k: v.mean() for k, v in ok.items()}
    assert r["render"] == pytest.approx((acc["a"] - acc["b_in_a"] + acc["a_in_b"] - acc["b"]) / 2)
    assert r["accuracy_a"] == pytest.approx(ok["a"].mean())
