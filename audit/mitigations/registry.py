"""Finding mitigations (entry points of the group ``brain_audit.mitigations``, built-ins included)
and applying one by name."""

from __future__ import annotations

from importlib.metadata import entry_points

import numpy as np

from audit.mitigations.base import Mitigation, TrainingSet

__all__ = ["ENTRY_POINT_GROUP", "apply_mitigation", "available_mitigations", "mitigation_class"]

ENTRY_POINT_GROUP = "brain_audit.mitigations"


def available_mitigations() -> dict[str, type[Mitigation]]:
    """Every installed mitigation by name.  Two of one name, or one that does not load, are
    one-line errors: a mitigation changes the training, so none is skipped silently."""
    found: dict[str, type[Mitigation]] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            cls = ep.load()
        except Exception as exc:
            why = f"{type(exc).__name__}: {exc}"
            raise ValueError(f"mitigation {ep.name!r} ({ep.value}) does not load: {why}") from None
        if not (isinstance(cls, type) and issubclass(cls, Mitigation)) or cls.name != ep.name:
            raise ValueError(f"entry point {ep.name!r} ({ep.value}) is not a Mitigation named {ep.name!r}")
        if ep.name in found and found[ep.name] is not cls:
            raise ValueError(f"two mitigations are called {ep.name!r}: {found[ep.name].__module__} and {ep.value}")
        found[ep.name] = cls
    if not found:
        raise ValueError("brain-audit's built-in mitigations are not registered: reinstall it (`make setup`)")
    return found


def mitigation_class(name: str) -> type[Mitigation]:
    """The mitigation called ``name``; a one-line error naming the available ones otherwise."""
    known = available_mitigations()
    if name not in known:
        raise ValueError(f"train.mitigation: unknown mitigation {name!r}; available: {', '.join(sorted(known))}")
    return known[name]


def apply_mitigation(name: str, data: TrainingSet, rng: np.random.Generator) -> TrainingSet:
    """``data`` after the mitigation ``name``, checked to keep the image shape and the [0, 1] range."""
    out = mitigation_class(name)().apply(data, rng)
    if out.images.shape[1:] != data.images.shape[1:] or len(out.images) != len(out.labels):
        raise ValueError(f"mitigation {name!r} changed the image shape or lost the labels' alignment")
    return TrainingSet(np.clip(np.asarray(out.images, np.float32), 0, 1), out.labels, out.regions, out.meta)
