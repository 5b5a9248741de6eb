"""Mitigations: changes to training that each target one kind of shortcut (:mod:`.base` for the
contract, :mod:`.registry` for discovery, one module per built-in, declared as entry points in
``pyproject.toml`` like any plugin's).  ``train.mitigation = "<name>"`` (or ``--mitigate NAME``)
retrains the audited architecture with the same seed, data and budget on mitigated training and
validation images; the test set is never changed, so the audit measures what the model learnt."""

from audit.mitigations.base import Mitigation, TrainingSet
from audit.mitigations.registry import ENTRY_POINT_GROUP, apply_mitigation, available_mitigations, mitigation_class

__all__ = [
    "ENTRY_POINT_GROUP", "Mitigation", "TrainingSet", "apply_mitigation", "available_mitigations", "mitigation_class",
]  # fmt: skip
