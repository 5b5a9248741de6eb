import keras
import numpy as np
import pytest
import tensorflow as tf

from audit.cam.geometry import layer_grid, stretch_grid, upsample_map
from audit.model import build_model


def test_seed_cnn_last_conv_cells_are_centred_at_8_5_plus_4k():
    m = build_model("seed_cnn", (128, 128, 1), 2, width=4, dense_units=4)
    g = layer_grid(m, m.get_layer("conv3"))
    assert m.get_layer("conv3").output.shape[1:3] == (28, 28)
    assert (g.row_offset, g.row_stride, g.col_offset, g.col_stride, g.exact) == (8.5, 4, 8.5, 4, True)


def test_gap_cnn_same_padding_grid():
    m = build_model("gap_cnn", (128, 128, 1), 2, width=4)
    g = layer_grid(m, m.get_layer("relu3"))
    assert (g.row_offset, g.row_stride, g.exact) == (1.5, 4, True)


def test_grid_matches_the_receptive_field_found_by_gradients():
    # Positive weights and inputs keep every ReLU active and average pooling spreads
    # gradients evenly, so a cell's gradient support is exactly its receptive field
    # (checked on cells whose field does not reach the zero padding at the border).
    x = inp = keras.Input((81, 77, 1))
    x = keras.layers.Conv2D(2, 3, activation="relu")(x)
    x = keras.layers.AveragePooling2D(2)(x)
    x = keras.layers.Conv2D(2, 3, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.Conv2D(2, (5, 3), dilation_rate=2, activation="relu", name="last")(x)
    m = keras.Model(inp, x)
    for w in m.weights:
        w.assign(np.full(w.shape, 0.1, np.float32))
    g = layer_grid(m, m.get_layer("last"))
    assert g.exact
    image = tf.ones((1, 81, 77, 1))
    boxes = {}
    for i in range(m.output.shape[1]):
        for j in range(m.output.shape[2]):
            with tf.GradientTape() as tape:
                tape.watch(image)
                cell = tf.reduce_sum(m(image)[0, i, j])
            rr, cc = np.nonzero(tape.gradient(cell, image).numpy()[0, ..., 0])
            boxes[i, j] = (rr.min(), rr.max(), cc.min(), cc.max())
    # Cells whose field is cut by the border or by padding have a smaller support: skip them.
    full_h = max(b[1] - b[0] for b in boxes.values())
    full_w = max(b[3] - b[2] for b in boxes.values())
    interior = {k: b for k, b in boxes.items() if b[1] - b[0] == full_h and b[3] - b[2] == full_w}
    assert len(interior) >= 4
    for (i, j), (r0, r1, c0, c1) in interior.items():
        assert (r0 + r1) / 2 == pytest.approx(g.row_offset + g.row_stride * i)
        assert (c0 + c1) / 2 == pytest.approx(g.col_offset + g.col_stride * j)


def test_non_chain_model_falls_back_to_stretch():
    inp = keras.Input((16, 16, 1))
    a = keras.layers.Conv2D(2, 3, padding="same", name="a")(inp)
    b = keras.layers.Conv2D(2, 3, strides=2, padding="same", name="b")(inp)
    c = keras.layers.Conv2D(2, 1, strides=2, name="c")(a)
    out = keras.layers.Add(name="add")([b, c])
    m = keras.Model(inp, out)
    g = layer_grid(m, m.get_layer("add"))
    assert not g.exact and g == stretch_grid((8, 8), (16, 16))


def test_upsample_places_cells_at_their_centres():
    cam = np.zeros((3, 3), np.float32)
    cam[1, 2] = 1.0
    grid = layer_grid.__globals__["Grid"](4.0, 4.0, 4.0, 4.0)  # cells at 4, 8, 12
    up = upsample_map(cam, (17, 17), grid)
    assert up[8, 12] == pytest.approx(1.0) and up[8, 10] == pytest.approx(0.5)
    assert up[8, 16] == pytest.approx(1.0)  # beyond the last centre: the edge value
    assert up[0, 0] == 0.0


def test_stretch_is_plain_resize():
    import cv2

    cam = np.random.default_rng(0).random((7, 5)).astype(np.float32)
    expected = cv2.resize(cam, (20, 28), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_allclose(upsample_map(cam, (28, 20)), expected, atol=1e-5)
