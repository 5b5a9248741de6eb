"""Shared, explicit fixtures: no autouse, no network."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parent.parent
QUICK = ROOT / "experiments" / "quick.toml"


@pytest.fixture(scope="session")
def quick_run(tmp_path_factory):
    """One full quick-experiment run shared by the tests that only read its outputs."""
    from audit.config import load_config
    from audit.pipeline import run_pipeline

    out = tmp_path_factory.mktemp("quick")
    cfg = load_config(QUICK)
    result = run_pipeline(cfg, out)
    return cfg, out, result


@pytest.fixture
def quick_copy(quick_run, tmp_path):
    """A private output folder holding a copy of the quick run's cache, for tests that rewrite outputs."""
    import shutil

    cfg, out, _ = quick_run
    shutil.copytree(out / "cache", tmp_path / "cache")
    return cfg, tmp_path
