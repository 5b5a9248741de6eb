"""Where each cell of a layer's map sits on the image.

A conv layer's map cell ``(i, j)`` summarises the receptive field centred at image
pixel ``(row_offset + row_stride * i, col_offset + col_stride * j)`` (pixel-centre
coordinates).  For the seed's CNN (valid 3x3 convs and 2x2 pools) the last conv
layer's 28x28 cells on a 128x128 image are centred at 8.5, 12.5, ..., 116.5.
Stretching the map over the whole image instead (``cv2.resize``, as the seed
did) puts cell 0 at 1.8 and cell 27 at 125.2: up to 9 pixels outward, which
pushes attention from the head's edge onto the background.  We therefore place
maps by receptive-field geometry, with stretching kept as an option.

The geometry is derived analytically for chains of Conv2D / pooling layers and
shape-preserving layers (BatchNorm, activations, dropout, ...).  When a model is
not such a chain, the derived output size will not match the layer's actual size
and we fall back to stretching, recorded as ``exact=False``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    import keras

__all__ = ["Grid", "layer_grid", "stretch_grid", "upsample_map"]


@dataclass(frozen=True)
class Grid:
    """Image pixel-centre coordinate of map cell k along each axis: ``offset + stride * k``."""

    row_offset: float
    row_stride: float
    col_offset: float
    col_stride: float
    exact: bool = True

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("row_offset", "row_stride", "col_offset", "col_stride", "exact")}


def stretch_grid(map_shape: tuple[int, int], image_shape: tuple[int, int]) -> Grid:
    """The grid that plain resizing assumes: the map's extent equals the image's."""
    (h, w), (rows, cols) = map_shape, image_shape
    return Grid(0.5 * rows / h - 0.5, rows / h, 0.5 * cols / w - 0.5, cols / w, exact=False)


def _axis(offset, stride, size, kernel, step, dilation, padding):
    k_eff = (kernel - 1) * dilation + 1
    if padding == "same":
        out = math.ceil(size / step)
        pad_before = max((out - 1) * step + k_eff - size, 0) // 2
    else:
        out = (size - k_eff) // step + 1
        pad_before = 0
    return offset + stride * (-pad_before + (k_eff - 1) / 2), stride * step, out


def _leaves(model: keras.Model):
    """The model's layers in order, nested models replaced by their own layers."""
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _leaves(layer)
        elif not isinstance(layer, keras.layers.InputLayer):
            yield layer


def layer_grid(model: keras.Model, layer: keras.layers.Layer | list[keras.layers.Layer]) -> Grid:
    """Receptive-field grid of ``layer``'s output (or the last layer of a nested path) on ``model``'s input.

    (Keras is imported here, not with the module: the method registry, which the verdict reads,
    places maps with this module and imports no TensorFlow.)"""
    import keras

    layer = layer[-1] if isinstance(layer, list) else layer
    image_rows, image_cols = model.inputs[0].shape[1:3]
    out_rows, out_cols = layer.output.shape[1:3]
    ro, rs, co, cs, rows, cols = 0.0, 1.0, 0.0, 1.0, image_rows, image_cols
    for current in _leaves(model):
        if isinstance(current, keras.layers.Conv2D | keras.layers.MaxPooling2D | keras.layers.AveragePooling2D):
            if isinstance(current, keras.layers.Conv2D):
                kernel, step, dil = current.kernel_size, current.strides, current.dilation_rate
            else:
                kernel, step, dil = current.pool_size, current.strides, (1, 1)
            ro, rs, rows = _axis(ro, rs, rows, kernel[0], step[0], dil[0], current.padding)
            co, cs, cols = _axis(co, cs, cols, kernel[1], step[1], dil[1], current.padding)
        elif len(current.output.shape) != 4 or tuple(current.output.shape[1:3]) != (rows, cols):
            break  # not a simple chain up to here
        if current is layer:
            if (rows, cols) == (out_rows, out_cols):
                return Grid(ro, rs, co, cs, exact=True)
            break
    return stretch_grid((out_rows, out_cols), (image_rows, image_cols))


def upsample_map(cam: np.ndarray, shape: tuple[int, int], grid: Grid | None = None) -> np.ndarray:
    """Bilinear resampling of one (h, w) map onto an image of ``shape`` (H, W).

    Map cell (i, j) is placed at image pixel (row_offset + row_stride i, col_offset + col_stride j)
    of ``grid`` (:mod:`audit.cam.geometry`); None stretches the map over the image (cv2.resize).
    Pixels beyond the outermost cell centres take the edge cell's value.  The result is non-negative.
    """
    grid = grid or stretch_grid(cam.shape, shape)
    to_map = np.array(
        [[1 / grid.col_stride, 0, -grid.col_offset / grid.col_stride],
         [0, 1 / grid.row_stride, -grid.row_offset / grid.row_stride]],
    )  # fmt: skip
    up = cv2.warpAffine(
        cam.astype(np.float32), to_map, (shape[1], shape[0]),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE,
    )  # fmt: skip
    return np.maximum(up, 0)
