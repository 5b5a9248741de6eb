"""brain-audit: does a brain-MRI classifier look at anatomy or at artifacts?"""

import os

# TensorFlow uses its oneDNN kernels by default only on CPUs with AVX-512 VNNI/BF16 or AMX.
# Elsewhere (AVX2 machines such as our 2-core development machine) its Eigen fallback runs a
# convolution with one input channel ~4x slower, Grad-CAM ~1.7x and the default audit ~1.4x
# slower (docs/measured.md).
# Set before TensorFlow is first imported; a value the user set wins. Results differ from
# the fallback's in the last bits (summation order), so the setting enters every cache key.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

__version__ = "0.8.0"
