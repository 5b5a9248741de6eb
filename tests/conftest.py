"""Shared, explicit fixtures: no autouse, no network."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parent.parent
QUICK = ROOT / "experiments" / "quick.toml"


def phantoms(artifacts: dict | None = None, **keys):
    """A synthetic ``DataConfig`` from keys of ``[data]`` and ``[data.synthetic]`` given side by side
    (each key goes to the table that defines it), and ``artifacts`` as ``[data.artifacts]``."""
    import dataclasses

    from audit.config import DataConfig, SyntheticConfig

    shared = {f.name for f in dataclasses.fields(DataConfig)}
    synthetic = {k: v for k, v in keys.items() if k not in shared}
    unknown = set(synthetic) - {f.name for f in dataclasses.fields(SyntheticConfig)}
    assert not unknown, f"not a [data] or [data.synthetic] key: {sorted(unknown)}"
    data = {k: v for k, v in keys.items() if k in shared}
    return DataConfig(**data, synthetic=SyntheticConfig(**synthetic), artifacts=dict(artifacts or {}))


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


@pytest.fixture(scope="session")
def colin27():
    """Colin27's derived anatomy (Debian's mricron-data, which `make test` installs).  Without the
    package the test is skipped with the reason, except under CI=true, where it fails."""
    from audit.data.anatomy import colin27_dir, load_anatomy

    if not (colin27_dir() / "ch2.nii.gz").is_file():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{colin27_dir()}/ch2.nii.gz missing under CI: `make test` installs mricron-data")
        pytest.skip(f"Colin27 not installed ({colin27_dir()}): sudo apt-get install mricron-data")
    return load_anatomy("colin27")
