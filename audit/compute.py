"""Devices and the tf.distribute strategy that training and the CAM stage run under.

With more than one replica (a MirroredStrategy over several GPUs, or over logical CPU
devices), the model's variables are created under the strategy's scope, ``model.fit``
splits each batch across replicas, and :class:`audit.cam.CamEngine` runs each batch
split into one contiguous slice per replica, concatenated back in order, so the maps
equal the single-device maps.
"""

from __future__ import annotations

import os

import tensorflow as tf

from audit.config import ComputeConfig

__all__ = ["make_strategy", "onednn_enabled"]


def onednn_enabled() -> bool:
    """Whether TensorFlow runs its oneDNN CPU kernels in this process (``audit/__init__.py``)."""
    try:
        from tensorflow.python.util import _pywrap_util_port
    except ImportError:  # a TensorFlow without the probe: its documented default is off
        return os.environ.get("TF_ENABLE_ONEDNN_OPTS", "0") == "1"
    return bool(_pywrap_util_port.IsMklEnabled())


def _split_cpu(n: int) -> None:
    cpus = tf.config.list_physical_devices("CPU")
    wanted = [tf.config.LogicalDeviceConfiguration() for _ in range(n)]
    current = tf.config.get_logical_device_configuration(cpus[0])
    if current is not None and len(current) == n:
        return
    try:
        tf.config.set_logical_device_configuration(cpus[0], wanted)
    except RuntimeError:  # TF already initialised its devices in this process
        have = len(tf.config.list_logical_devices("CPU"))
        if have != n:
            raise ValueError(
                f"compute.logical_cpus = {n}: TensorFlow already started with {have} CPU device(s) in this process; "
                "set it before anything else runs TensorFlow"
            ) from None


def make_strategy(cfg: ComputeConfig) -> tf.distribute.Strategy:
    """The strategy for ``cfg``: the default (one device) or a MirroredStrategy."""
    if cfg.logical_cpus < 0 or cfg.logical_cpus == 1:
        raise ValueError(f"compute.logical_cpus must be 0 (off) or >= 2, got {cfg.logical_cpus}")
    if cfg.logical_cpus:
        _split_cpu(cfg.logical_cpus)
    gpus = tf.config.list_logical_devices("GPU")
    if cfg.strategy == "none" or (cfg.strategy == "auto" and len(gpus) < 2):
        return tf.distribute.get_strategy()
    devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(devices)
