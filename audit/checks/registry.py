"""Finding checks by name: one discovery path, the entry-point group ``brain_audit.checks``.

The built-in checks are entry points of brain-audit's own package (``pyproject.toml``), found
exactly like an installed plugin's; a local module listed in ``[checks] plugins`` adds the
:class:`Check` subclasses it defines.  Two checks with one name are an error; a plugin that
fails to load becomes a check whose result is ``error`` (with the traceback), so a broken plugin
never stops the audit.
"""

from __future__ import annotations

import importlib
import time
import traceback
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any

from audit.checks.base import EVIDENCE_LINES, NEEDS, Check, CheckContext, CheckResult, unmet_needs

__all__ = ["ENTRY_POINT_GROUP", "available_checks", "declared_evidence", "run_check", "validate_params"]

ENTRY_POINT_GROUP = "brain_audit.checks"
_OWN_MODULES = "audit.checks."


def _unloadable(name: str, origin: str, exc: BaseException) -> type[Check]:
    """A stand-in for a plugin that failed to load: running it gives an ``error`` result."""
    headline = f"the plugin {origin} failed to load: {type(exc).__name__}: {exc}"
    details = "".join(traceback.format_exception(exc))

    class Unloadable(Check):
        load_error = headline

        def run(self, ctx: CheckContext) -> CheckResult:
            return CheckResult(status="error", headline=headline, details=details)

    Unloadable.name, Unloadable.title, Unloadable.description = name, name, headline
    return Unloadable


def _add(found: dict[str, type[Check]], origins: dict[str, str], name: str, cls: type[Check], origin: str) -> None:
    if name in found and found[name] is not cls and origins[name] != origin:
        raise ValueError(f"two checks are named {name!r}: {origins[name]} and {origin}; rename one")
    found[name], origins[name] = cls, origin


def available_checks(plugins: tuple[str, ...] = ()) -> dict[str, type[Check]]:
    """All checks by name: the entry points of ``brain_audit.checks`` (the built-ins among them),
    then the :class:`Check` subclasses defined in the local modules ``plugins``.

    Raises ValueError on two checks of one name, on a local module that cannot be imported, and
    when the built-ins are not registered (package metadata older than this code).
    """
    found: dict[str, type[Check]] = {}
    origins: dict[str, str] = {}
    eps = entry_points(group=ENTRY_POINT_GROUP)
    if not any(ep.value.startswith(_OWN_MODULES) for ep in eps):
        raise ValueError(
            "brain-audit's built-in checks are not registered (its package metadata is missing or older than the "
            "code): reinstall it with `make setup` or `pip install -e .`"
        )
    for ep in eps:
        try:
            cls = ep.load()
            if not (isinstance(cls, type) and issubclass(cls, Check)):
                raise TypeError(f"{ep.value} is not a Check subclass")
        except Exception as exc:  # a broken plugin must not stop the audit
            cls = _unloadable(ep.name, ep.value, exc)
        if cls.name and cls.name != ep.name and not hasattr(cls, "load_error"):
            raise ValueError(f"entry point {ep.name!r} ({ep.value}) names a check called {cls.name!r}; make them equal")
        _add(found, origins, ep.name, cls, ep.value)
    for module_name in plugins:
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ValueError(f"checks.plugins: cannot import {module_name!r}: {exc}") from None
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, Check) and obj is not Check and obj.name:
                _add(found, origins, obj.name, obj, f"{obj.__module__}:{obj.__qualname__}")
    return found


def validate_params(cls: type[Check], given: Mapping[str, Any]) -> dict[str, Any]:
    """``cls.params`` defaults updated with ``given``; unknown names and wrong types are errors
    (a plugin that failed to load has no parameters to check: they pass through)."""
    if hasattr(cls, "load_error"):
        return dict(given)
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


def declared_evidence(cls: type[Check]) -> str:
    """The evidence line check ``cls`` feeds (:data:`EVIDENCE_LINES`; a 0.5 plugin's ``weighs_on_verdict``
    counts as ``model_behaviour``)."""
    if cls.evidence in EVIDENCE_LINES and cls.evidence != "other":
        return cls.evidence
    return "model_behaviour" if getattr(cls, "weighs_on_verdict", False) else "other"


def run_check(cls: type[Check], ctx: CheckContext) -> CheckResult:
    """Run one check; an exception becomes an ``error`` result with its traceback.  The result
    takes its name from the check (``cls.name``) and, unless it says otherwise, its evidence line."""
    t0 = time.perf_counter()
    try:
        missing = unmet_needs(tuple(cls.needs), ctx)
        if missing:
            result = CheckResult(status="skipped", headline="needs " + "; ".join(NEEDS[n] for n in missing))
        else:
            result = cls().run(ctx)
        if not isinstance(result, CheckResult):
            raise TypeError(f"{cls.__name__}.run returned {type(result).__name__}, not CheckResult")
    except Exception as exc:  # a broken plugin must not stop the audit
        result = CheckResult(status="error", headline=f"{type(exc).__name__}: {exc}", details=traceback.format_exc())
    result.name = cls.name
    if result.evidence == "other":
        result.evidence = declared_evidence(cls)
    result.seconds = time.perf_counter() - t0
    return result
