"""Where a run ran (package and library versions, the git commit, devices and kernels), and the
seeding that makes it repeatable."""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path

import numpy as np

import audit

__all__ = ["compute_info", "set_determinism", "versions"]


def set_determinism(seed: int) -> None:
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def _git_commit() -> str | None:
    try:
        root = Path(audit.__file__).resolve().parent.parent
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def compute_info() -> dict:
    import tensorflow as tf

    from audit.compute import onednn_enabled

    strategy = tf.distribute.get_strategy()
    if strategy.num_replicas_in_sync > 1:
        devices = list(strategy.extended.worker_devices)
    else:
        devices = [d.name for d in tf.config.list_logical_devices() if d.device_type in ("CPU", "GPU")][:1]
    replicas = int(strategy.num_replicas_in_sync)
    return {
        "strategy": type(strategy).__name__,
        "replicas": replicas,
        "devices": list(devices),
        "onednn": onednn_enabled(),
    }


def versions() -> dict[str, str | None]:
    import cv2
    import keras
    import tensorflow as tf

    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "package": audit.__version__,
        "git_commit": _git_commit(),
    }
