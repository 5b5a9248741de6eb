"""Finding mitigations (entry points of the group ``brain_audit.mitigations``, built-ins included)
and applying one by name: a training mitigation to a training set, an input mitigation to images or
to a whole dataset."""

from __future__ import annotations

from importlib.metadata import entry_points

import numpy as np

from audit.mitigations.base import InputMitigation, Mitigation, TrainingSet

__all__ = [
    "ENTRY_POINT_GROUP", "Preprocessed", "apply_mitigation", "available_mitigations", "mitigation_class",
    "preprocess_dataset", "preprocess_images", "with_mitigation",
]  # fmt: skip

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


def mitigation_class(name: str, at_input: bool | None = False) -> type[Mitigation]:
    """The mitigation called ``name``, of the kind the key naming it takes (``data.preprocess``: an
    :class:`InputMitigation`, ``at_input``; ``train.mitigation``: a training one; None: either); a
    one-line error naming the available ones, or the key to use, otherwise."""
    known = available_mitigations()
    key = {True: "data.preprocess", False: "train.mitigation", None: "mitigation"}[at_input]
    if name not in known:
        raise ValueError(f"{key}: unknown mitigation {name!r}; available: {', '.join(sorted(known))}")
    if at_input is not None and issubclass(known[name], InputMitigation) != at_input:
        what = "changes the training images only" if at_input else "changes the model's input, training and test alike"
        other = "train.mitigation" if at_input else "data.preprocess"
        raise ValueError(f"{key}: {name!r} {what}: set {other} = {name!r}")
    return known[name]


def apply_mitigation(name: str, data: TrainingSet, rng: np.random.Generator) -> TrainingSet:
    """``data`` after the mitigation ``name``, checked to keep the image shape and the [0, 1] range."""
    out = mitigation_class(name)().apply(data, rng)
    if out.images.shape[1:] != data.images.shape[1:] or len(out.images) != len(out.labels):
        raise ValueError(f"mitigation {name!r} changed the image shape or lost the labels' alignment")
    return TrainingSet(np.clip(np.asarray(out.images, np.float32), 0, 1), out.labels, out.regions, out.meta)


def preprocess_images(name: str, images: np.ndarray) -> tuple[np.ndarray, list[np.ndarray | None]]:
    """``images`` (N, H, W, C) after the input mitigation ``name``, clipped to [0, 1], with each
    image's affine (None where its pixels did not move)."""
    transform = mitigation_class(name, at_input=True)().transform
    out = np.empty(np.shape(images), np.float32)
    moves: list[np.ndarray | None] = []
    for i in range(len(out)):
        image, m = transform(np.asarray(images[i], np.float32))
        if image.shape != out.shape[1:]:
            raise ValueError(f"input mitigation {name!r} changed the image shape")
        out[i] = np.clip(image, 0, 1)
        moves.append(m)
    return out, moves


def _moved(maps: np.ndarray | None, moves: list[np.ndarray | None], fill: int) -> np.ndarray | None:
    """Per-pixel maps (label maps, masks) moved by each image's affine, nearest neighbour."""
    import cv2

    if maps is None:
        return None
    out = np.array(maps)
    for i, m in enumerate(moves):
        if m is not None:
            h, w = out.shape[1:3]
            out[i] = cv2.warpAffine(out[i].astype(np.uint8), m, (w, h), flags=cv2.INTER_NEAREST,
                                    borderMode=cv2.BORDER_CONSTANT, borderValue=fill).astype(out.dtype)  # fmt: skip
    return out


def preprocess_dataset(name: str, ds):
    """The :class:`audit.data.dataset.Dataset` ``ds`` with every image after the input mitigation
    ``name`` and its ground truth (label maps, tumor masks) moved with the pixels."""
    import dataclasses

    from audit.data.labels import LABELS

    images, moves = preprocess_images(name, ds.images)
    return dataclasses.replace(ds, images=images, label_maps=_moved(ds.label_maps, moves, LABELS["background"]),
                               tumor_masks=_moved(ds.tumor_masks, moves, 0))  # fmt: skip


def with_mitigation(cfg, name: str):
    """The :class:`audit.config.Config` ``cfg`` with mitigation ``name`` set where its kind goes:
    ``data.preprocess`` for an input mitigation, ``train.mitigation`` otherwise ("" changes nothing).
    ``"A+B"`` sets an input mitigation and a training one together (``brain_crop+cut_augmentation``: the
    training one then acts on the training images after the input one); two of one kind are an error."""
    import dataclasses

    if not name:
        return cfg
    if "+" in name:
        parts = name.split("+")
        kinds = [issubclass(mitigation_class(part, at_input=None), InputMitigation) for part in parts]
        if len(parts) != 2 or kinds[0] == kinds[1]:
            raise ValueError(f"mitigation {name!r}: join one input mitigation and one training mitigation with '+'")
        return with_mitigation(with_mitigation(cfg, parts[0]), parts[1])
    if issubclass(mitigation_class(name, at_input=None), InputMitigation):
        return dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, preprocess=name))
    return dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, mitigation=name))


class Preprocessed:
    """The deployed pipeline of an input mitigation: ``network`` behind the input mitigation ``name``.
    It predicts like the network (``predict_on_batch``) on images before the preprocessing, which it
    applies first; every other attribute is the network's.  The audit's counterfactual checks run on
    it, so a change to the raw pixels goes through the preprocessing as it would in deployment."""

    def __init__(self, network, name: str):
        self.network, self.preprocess = network, name

    def predict_on_batch(self, images: np.ndarray) -> np.ndarray:
        return self.network.predict_on_batch(preprocess_images(self.preprocess, np.asarray(images, np.float32))[0])

    def __getattr__(self, attr: str):
        return getattr(self.network, attr)
