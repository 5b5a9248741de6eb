"""Which CAM method the audit leans on, chosen from the layers between the explained layer and the output.

- *Global average pooling, then the output layer* (``gap``): Grad-CAM's averaged gradients are
  the output weights over ``h w``, so Grad-CAM equals CAM (Zhou et al. 2016) and HiResCAM; Grad-CAM leads.
- *Flatten into dense layers* (``flatten``, the seed CNN): Grad-CAM averages each channel's
  gradient over positions, so a channel the model reads at one place is credited everywhere it
  is active; HiResCAM's element-wise ``gradient x activation`` keeps where the score comes from,
  and with a single dense layer after the flatten its sum is exactly the class score
  (Draelos & Carin 2020, arXiv:2011.08891); HiResCAM leads.
- Anything else (``other``): HiResCAM leads, for the same reason.

``cam.method = "auto"`` resolves to this choice; the reason is written into results.json and the report.
"""

from __future__ import annotations

import keras

__all__ = ["head_kind", "lead_method"]

_SHAPE_ONLY = (keras.layers.Dropout, keras.layers.Activation, keras.layers.BatchNormalization, keras.layers.ReLU)

REASONS = {
    "gap": "the explained layer is averaged over positions (global average pooling) into the output layer, so "
    "Grad-CAM equals CAM and HiResCAM (Zhou et al. 2016): Grad-CAM leads",
    "flatten": "the explained layer is flattened into dense layers, where Grad-CAM's position-averaged gradients "
    "can credit places the model did not use; HiResCAM's element-wise gradient x activation keeps where the score "
    "comes from (exactly, for one dense layer after the flatten; Draelos & Carin 2020): HiResCAM leads",
    "other": "the layers after the explained one are neither global pooling nor a flatten; HiResCAM's element-wise "
    "gradient x activation follows the class score for any head (Draelos & Carin 2020): HiResCAM leads",
}


def head_kind(model: keras.Model, path: list) -> str:
    """``"gap"``, ``"flatten"`` or ``"other"``: what the outer model does after ``path[0]``
    (a path from :func:`audit.model.find_cam_layer`)."""
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    if path[0] not in layers:
        return "other"
    after = [layer for layer in layers[layers.index(path[0]) + 1 :] if not isinstance(layer, _SHAPE_ONLY)]
    if len(path) > 1 and not after:  # the explained layer is inside a nested model that ends the chain
        return "other"
    if (
        len(after) == 2
        and isinstance(after[0], keras.layers.GlobalAveragePooling2D)
        and isinstance(after[1], keras.layers.Dense)
    ):
        return "gap"
    if (
        after
        and isinstance(after[0], keras.layers.Flatten)
        and all(isinstance(x, keras.layers.Dense) for x in after[1:])
    ):
        return "flatten"
    return "other"


def lead_method(kind: str) -> tuple[str, str]:
    """(method name, reason) for a :func:`head_kind`."""
    return ("gradcam" if kind == "gap" else "hirescam"), REASONS[kind]
