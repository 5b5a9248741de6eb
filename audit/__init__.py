"""brain-audit: does a brain-MRI classifier look at anatomy or at artifacts?"""

import os

# TensorFlow uses its oneDNN kernels by default only on CPUs with AVX-512 VNNI/BF16 or AMX.
# Elsewhere (AVX2 machines such as our 2-core development machine) its Eigen fallback runs a
# convolution with one input channel ~4x slower, Grad-CAM ~1.7x and the default audit ~1.4x
# slower (docs/measured.md).
# Set before TensorFlow is first imported; a value the user set wins. Results differ from
# the fallback's in the last bits (summation order), so the setting enters every cache key.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
# TensorFlow's C++ log (the oneDNN and CUDA notices, "failed call to cuInit" on every machine without
# a GPU) is hidden, as an import-time setting like the one above; ``--debug`` (audit.cli) shows it,
# and a value the user set wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

__version__ = "0.10.11"

__all__ = ["AuditResult", "__version__", "audit_model", "compare", "run_experiment"]

_API = {
    "AuditResult": "audit.api",
    "audit_model": "audit.api",
    "run_experiment": "audit.api",
    "compare": "audit.compare",
}


def __getattr__(name: str):
    """``audit.audit_model`` and friends (:mod:`audit.api`), imported on first use: the package
    itself stays a leaf that every module may import for ``__version__`` (no import cycle, and no
    stage's code digest depends on the notebook API)."""
    if name in _API:
        import importlib

        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'audit' has no attribute {name!r}")
