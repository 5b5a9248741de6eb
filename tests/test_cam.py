import keras
import numpy as np
import pytest

from audit.cam import CamEngine, compute_cams
from audit.cam.gradcam import gradcam_map


def gap_model(seed=0, k=4, classes=3):
    keras.utils.set_random_seed(seed)
    x = inp = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(k, 3, padding="same", activation="relu", name="conv")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(classes, activation="softmax", name="head")(x)
    return keras.Model(inp, out)


def test_gradcam_on_conv_gap_dense_is_the_class_weighted_feature_sum():
    # For conv -> GAP -> dense, dlogit_c/dA_k(i,j) = W[k, c] / (h w), so Grad-CAM weights are
    # W[:, c] / (h w) and the map is ReLU(sum_k W[k, c] A_k) / (h w): the CAM of Zhou et al. 2016.
    model = gap_model()
    x = np.random.default_rng(0).random((5, 8, 8, 1)).astype(np.float32)
    targets = np.array([0, 1, 2, 1, 0])
    result = compute_cams(model, x, targets=targets, batch_size=2, show_progress=False)
    feats = keras.Model(model.inputs[0], model.get_layer("conv").output)(x).numpy()
    w = model.get_layer("head").kernel.numpy()
    expected = np.maximum(np.einsum("nijk,kn->nij", feats, w[:, targets]), 0) / 64
    np.testing.assert_allclose(result.maps, expected, rtol=1e-5, atol=1e-7)
    assert result.layer == "conv" and result.maps.shape == (5, 8, 8)
    assert result.targets.tolist() == targets.tolist()


def test_predicted_target_is_argmax_and_batch_size_invariant():
    model = gap_model(1)
    x = np.random.default_rng(1).random((70, 8, 8, 1)).astype(np.float32)
    one = compute_cams(model, x, batch_size=1, show_progress=False)
    big = compute_cams(model, x, batch_size=64, show_progress=False)
    np.testing.assert_allclose(one.maps, big.maps, atol=1e-5)
    assert one.targets.tolist() == model.predict(x, verbose=0).argmax(1).tolist()


def test_engine_sees_new_weights_without_rebuild():
    model = gap_model(2)
    engine = CamEngine(model)
    x = np.random.default_rng(2).random((3, 8, 8, 1)).astype(np.float32)
    before = engine.run("gradcam", gradcam_map, x, np.zeros(3, int), show_progress=False).maps
    head = model.get_layer("head")
    head.kernel.assign(-head.kernel.numpy())
    after = engine.run("gradcam", gradcam_map, x, np.zeros(3, int), show_progress=False).maps
    assert not np.allclose(before, after)
    assert engine._grads.experimental_get_tracing_count() == 1


def test_all_zero_map_is_flagged():
    a = np.ones((2, 3, 3, 2), np.float32)
    g = np.stack([np.full((3, 3, 2), -1.0), np.full((3, 3, 2), 1.0)]).astype(np.float32)
    maps = gradcam_map(a, g)
    assert (maps[0] == 0).all() and (maps[1] == 2).all()


def test_seed_formula_agreement_on_seed_cnn():
    # The seed's per-image Grad-CAM: gradients of the top-class logit w.r.t. the last conv
    # layer, weights = mean gradient, map = ReLU(weighted sum); ours must match it batched.
    import tensorflow as tf

    from audit.model import build_model

    keras.utils.set_random_seed(3)
    model = build_model("seed_cnn", (32, 32, 1), 2, width=4, dense_units=8)
    x = np.random.default_rng(3).random((4, 32, 32, 1)).astype(np.float32)
    ours = compute_cams(model, x, layer="conv3", show_progress=False).maps  # the seed's last conv layer
    conv = model.get_layer("conv3")
    for i in range(4):
        sub = keras.Model(model.inputs[0], [conv.output, model.layers[-1].input])
        with tf.GradientTape() as tape:
            a, h = sub(x[i : i + 1])
            logits = h @ model.layers[-1].kernel + model.layers[-1].bias
            score = logits[0, int(tf.argmax(logits[0]))]
        g = tape.gradient(score, a)[0].numpy()
        expected = np.maximum((a[0].numpy() * g.mean(axis=(0, 1))).sum(-1), 0)
        np.testing.assert_allclose(ours[i], expected, rtol=1e-4, atol=1e-6)


def test_unknown_method_and_layer():
    model = gap_model()
    x = np.zeros((1, 8, 8, 1), np.float32)
    with pytest.raises(ValueError, match="unknown CAM method 'nope'; available: gradcam"):
        compute_cams(model, x, method="nope")
    with pytest.raises(ValueError, match="model has no layer 'conv9'; 4-D layers: .*conv"):
        compute_cams(model, x, layer="conv9")
