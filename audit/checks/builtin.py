"""Built-in checks: importing this module registers them (one module per check family)."""

from __future__ import annotations

import audit.checks.acquisition_transfer  # noqa: F401
import audit.checks.artifact_reliance  # noqa: F401
import audit.checks.clustering  # noqa: F401
import audit.checks.faithfulness  # noqa: F401
import audit.checks.geometry_transfer  # noqa: F401
import audit.checks.randomization  # noqa: F401
import audit.checks.shortcut_probe  # noqa: F401
import audit.checks.stability  # noqa: F401
import audit.checks.subgroups  # noqa: F401
