"""The distributed path: training and the CAM stage on two logical CPU devices; the same maps as on one."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from audit.compute import make_strategy
from audit.config import ComputeConfig

ROOT = Path(__file__).resolve().parent.parent
QUICK = ROOT / "experiments" / "quick.toml"

# TensorFlow fixes its devices when first used, so two logical CPUs need a fresh process.
MIRRORED = textwrap.dedent("""
    import sys
    from pathlib import Path
    import numpy as np
    from audit.config import load_config
    from audit.pipeline import run_pipeline, stage_keys

    from audit.cam.core import CamEngine

    replicas = []
    plain_call = CamEngine._call
    def spy(self, *args):
        replicas.append(self.strategy.num_replicas_in_sync)
        return plain_call(self, *args)
    CamEngine._call = spy

    out, result = Path(sys.argv[2]), Path(sys.argv[3])
    cfg = load_config(sys.argv[1], ["compute.strategy='mirrored'", "compute.logical_cpus=2"])
    res = run_pipeline(cfg, out, only="cam", fresh=True)
    assert res.stage_status["cam"] == "computed" and res.stage_status["train"] == "cached", res.stage_status
    import tensorflow as tf
    assert tf.distribute.get_strategy().num_replicas_in_sync == 1  # the scope is closed again
    assert replicas and set(replicas) == {2}, replicas  # every batch went through both devices
    maps = np.load(out / "cache" / f"cam-{stage_keys(cfg)['cam']}" / "maps.npy")
    np.save(result, maps)

    # Training runs under the strategy too: variables mirrored, each batch split over the devices.
    from audit.config import apply_overrides
    cfg = apply_overrides(cfg, ["train.epochs=1", "data.synthetic.n_images=60"])
    res = run_pipeline(cfg, out / "train", only="train")
    assert res.stage_status["train"] == "computed"
""")


def test_cam_stage_on_two_logical_cpus_matches_one_device(quick_copy, tmp_path):
    cfg, out = quick_copy
    from audit.pipeline import stage_keys

    single = np.load(out / "cache" / f"cam-{stage_keys(cfg)['cam']}" / "maps.npy")
    script = tmp_path / "mirrored.py"
    script.write_text(MIRRORED)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, str(script), str(QUICK), str(out), str(tmp_path / "maps.npy")],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    mirrored = np.load(tmp_path / "maps.npy")
    assert mirrored.shape == single.shape
    np.testing.assert_allclose(mirrored, single, rtol=1e-5, atol=1e-5 * float(single.max()))


def test_logical_cpus_must_be_zero_or_at_least_two():
    with pytest.raises(ValueError, match="compute.logical_cpus must be 0 \\(off\\) or >= 2, got 1"):
        make_strategy(ComputeConfig(logical_cpus=1))


def test_auto_without_gpus_is_the_default_strategy():
    import tensorflow as tf

    assert make_strategy(ComputeConfig()) is tf.distribute.get_strategy()


KERNELS = textwrap.dedent("""
    import sys
    from audit.compute import onednn_enabled
    from audit.config import load_config
    from audit.pipeline import stage_keys

    print(onednn_enabled(), stage_keys(load_config(sys.argv[1]))["train"])
""")


def test_onednn_is_on_unless_the_user_turns_it_off_and_enters_the_cache_keys():
    """audit/__init__.py turns TensorFlow's oneDNN kernels on (TF's own default is off on AVX2
    CPUs); a value set by the user wins, and cached stages computed with the other kernels
    are not reused (their numbers differ in the last bits)."""
    seen = {}
    for setting in (None, "0"):
        env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
        if setting is not None:
            env["TF_ENABLE_ONEDNN_OPTS"] = setting
        out = subprocess.run(
            [sys.executable, "-c", KERNELS, str(QUICK)], env=env, cwd=ROOT, capture_output=True, text=True, check=True
        )
        seen[setting] = out.stdout.split()
    assert seen[None][0] == "True" and seen["0"][0] == "False"
    assert seen[None][1] != seen["0"][1]
