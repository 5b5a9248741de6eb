"""Mitigations: changes to training that each target one kind of shortcut (:mod:`.base` for the
contract, :mod:`.registry` for discovery, one module per built-in, declared as entry points in
``pyproject.toml`` like any plugin's).  ``train.mitigation = "<name>"`` (or ``--mitigate NAME``)
retrains the audited architecture with the same seed, data and budget on mitigated training and
validation images; the test set is never changed, so the audit measures what the model learnt.
An input mitigation (:class:`InputMitigation`, ``data.preprocess = "<name>"``, which ``--mitigate NAME``
sets for one) is a change in front of the model instead, applied to every image, test included."""

from audit.mitigations.base import InputMitigation, Mitigation, TrainingSet
from audit.mitigations.registry import (
    ENTRY_POINT_GROUP,
    Preprocessed,
    apply_mitigation,
    available_mitigations,
    mitigation_class,
    preprocess_dataset,
    preprocess_images,
    with_mitigation,
)

__all__ = [
    "ENTRY_POINT_GROUP", "InputMitigation", "Mitigation", "Preprocessed", "TrainingSet", "apply_mitigation",
    "available_mitigations", "mitigation_class", "preprocess_dataset", "preprocess_images", "with_mitigation",
]  # fmt: skip
