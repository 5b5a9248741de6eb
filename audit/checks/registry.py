"""Finding checks: built-ins (decorator), installed packages (entry points), local modules."""

from __future__ import annotations

import importlib
import time
import traceback
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any

from audit.checks.base import EVIDENCE_LINES, Check, CheckContext, CheckResult

__all__ = ["ENTRY_POINT_GROUP", "available_checks", "register", "run_check", "validate_params"]

ENTRY_POINT_GROUP = "brain_audit.checks"
_BUILTIN: dict[str, type[Check]] = {}


def register(cls: type[Check]) -> type[Check]:
    """Class decorator that registers a built-in check under ``cls.name``."""
    if not cls.name or cls.name in _BUILTIN:
        raise ValueError(f"check name {cls.name!r} is empty or registered twice")
    _BUILTIN[cls.name] = cls
    return cls


def available_checks(plugins: tuple[str, ...] = ()) -> dict[str, type[Check]]:
    """All checks by name: built-ins, then entry points, then ``plugins`` (module names).

    A local module is imported; every :class:`Check` subclass defined in it with a name is added.
    """
    import audit.checks.builtin  # noqa: F401  (registers the built-ins)

    found = dict(_BUILTIN)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found[ep.name] = ep.load()
    for module_name in plugins:
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ValueError(f"checks.plugins: cannot import {module_name!r}: {exc}") from None
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, Check) and obj is not Check and obj.name:
                found[obj.name] = obj
    return found


def validate_params(cls: type[Check], given: Mapping[str, Any]) -> dict[str, Any]:
    """``cls.params`` defaults updated with ``given``; unknown names and wrong types are errors."""
    params = dict(cls.params)
    for key, value in given.items():
        if key not in params:
            allowed = ", ".join(params) or "(none)"
            raise ValueError(f"[checks.{cls.name}]: unknown parameter '{key}'; allowed: {allowed}")
        default = params[key]
        ok = isinstance(value, type(default)) and not (isinstance(value, bool) and not isinstance(default, bool))
        if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        if not ok:
            raise ValueError(f"[checks.{cls.name}]: '{key}' must be {type(default).__name__}, got {value!r}")
        params[key] = value
    return params


def run_check(cls: type[Check], ctx: CheckContext) -> CheckResult:
    """Run one check; an exception becomes an ``error`` result with its traceback."""
    t0 = time.perf_counter()
    try:
        result = cls().run(ctx)
        if not isinstance(result, CheckResult):
            raise TypeError(f"{cls.__name__}.run returned {type(result).__name__}, not CheckResult")
    except Exception as exc:  # a broken plugin must not stop the audit
        result = CheckResult(cls.name, "error", f"{type(exc).__name__}: {exc}", details=traceback.format_exc())
    if result.evidence == "other":
        result.evidence = cls.evidence if cls.evidence in EVIDENCE_LINES else "other"
        if result.evidence == "other" and getattr(cls, "weighs_on_verdict", False):  # the 0.5 plugin contract
            result.evidence = "model_behaviour"
    result.seconds = time.perf_counter() - t0
    return result
