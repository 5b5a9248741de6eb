"""Sanity checks as plugins: the contract (:mod:`.base`), discovery and running (:mod:`.registry`), and the
built-in checks, one module per family, declared as entry points in ``pyproject.toml``."""

from audit.checks.base import NEEDS, STATUSES, Check, CheckContext, CheckResult
from audit.checks.registry import ENTRY_POINT_GROUP, available_checks, declared_evidence, run_check, validate_params

__all__ = [
    "ENTRY_POINT_GROUP",
    "NEEDS",
    "STATUSES",
    "Check",
    "CheckContext",
    "CheckResult",
    "available_checks",
    "declared_evidence",
    "run_check",
    "validate_params",
]
