"""The default experiment end to end, as `make audit` runs it (slow: `make test-all`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from audit.results import validate_results

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_default_experiment_end_to_end(tmp_path):
    experiment = ROOT / "experiments" / "default.toml"
    cmd = [sys.executable, str(ROOT / "run_audit.py"), str(experiment), "--out", str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1200, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert validate_results(results) == []
    assert results["dataset"]["n_test"] == 600 and (tmp_path / "report.html").stat().st_size > 10_000
    assert results["verdict"]["label"] in ("anatomy", "mixed", "artifact")


@pytest.mark.slow
@pytest.mark.parametrize(("experiment", "label"), [("clean", "anatomy"), ("shortcut_marker", "artifact")])
def test_the_verdict_separates_the_controls(tmp_path, experiment, label):
    cmd = [sys.executable, str(ROOT / "run_audit.py"), str(ROOT / "experiments" / f"{experiment}.toml"),
           "--out", str(tmp_path)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1200, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["verdict"]["label"] == label, results["verdict"]["summary"]
