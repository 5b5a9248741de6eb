"""The first screen of a run shows the project's own stage lines, not TensorFlow's C++ log."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_a_run_starts_with_its_own_stage_lines(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    cmd = [sys.executable, "run_audit.py", "experiments/quick.toml", "--only", "train", "--set", "train.epochs=1",
           "--out", str(tmp_path / "q")]  # fmt: skip
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=True)
    lines = done.stderr.splitlines()
    assert lines[0] == "[data] running ...", lines[:5]
    for noise in ("I0000", "W0000", "E0000", "cuInit", "absl::InitializeLog", "oneDNN custom operations"):
        assert noise not in done.stderr + done.stdout, noise
