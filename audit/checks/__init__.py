"""Sanity checks as plugins: the contract, the registry and the built-in checks."""

from audit.checks.base import STATUSES, Check, CheckContext, CheckResult
from audit.checks.registry import ENTRY_POINT_GROUP, available_checks, register, run_check, validate_params

__all__ = [
    "ENTRY_POINT_GROUP",
    "STATUSES",
    "Check",
    "CheckContext",
    "CheckResult",
    "available_checks",
    "register",
    "run_check",
    "validate_params",
]
