from pathlib import Path

import keras
import numpy as np
import pytest

from audit.cam.core import CamEngine
from audit.cam.gradcam import gradcam_map
from audit.cam.maps import compute_cams

ROOT = Path(__file__).resolve().parent.parent


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
    before = compute_cams(model, x, targets=np.zeros(3, int), engine=engine, show_progress=False).maps
    head = model.get_layer("head")
    head.kernel.assign(-head.kernel.numpy())
    after = compute_cams(model, x, targets=np.zeros(3, int), engine=engine, show_progress=False).maps
    assert not np.allclose(before, after)
    assert engine._compiled["layer"].experimental_get_tracing_count() == 1


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
    with pytest.raises(ValueError, match="unknown CAM method .nope.; available: gradcam, gradcam_pp"):
        compute_cams(model, x, method="nope")
    with pytest.raises(ValueError, match="model has no layer 'conv9'; 4-D layers: .*conv"):
        compute_cams(model, x, layer="conv9")


def _gap_case(seed=4):
    model = gap_model(seed)
    x = np.random.default_rng(seed).random((6, 8, 8, 1)).astype(np.float32)
    targets = np.array([0, 1, 2, 0, 1, 2])
    feats = keras.Model(model.inputs[0], model.get_layer("conv").output)(x).numpy()  # (N, 8, 8, K), >= 0
    w = model.get_layer("head").kernel.numpy()[:, targets].T  # (N, K): class weights per image
    return model, x, targets, feats, w


@pytest.mark.parametrize("method", ["gradcam", "hirescam", "xgradcam"])
def test_methods_that_equal_cam_on_a_gap_model(method):
    # conv -> GAP -> dense: dS/dA_k(i, j) = W_k / (h w) everywhere, so Grad-CAM, HiResCAM and
    # XGrad-CAM (whose A-weighted average of a constant gradient is that constant) all equal
    # ReLU(sum_k W_k A_k) / (h w).
    model, x, targets, feats, w = _gap_case()
    expected = np.maximum(np.einsum("nijk,nk->nij", feats, w), 0) / 64
    got = compute_cams(model, x, method=method, targets=targets, show_progress=False).maps
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-7)


def test_layercam_keeps_only_positive_class_weights():
    model, x, targets, feats, w = _gap_case()
    expected = np.einsum("nijk,nk->nij", feats, np.maximum(w, 0)) / 64
    got = compute_cams(model, x, method="layercam", targets=targets, show_progress=False).maps
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-7)


def test_gradcam_pp_closed_form_on_a_gap_model():
    # Constant gradient g_k = W_k / (h w): alpha_k = g^2 / (2 g^2 + S_k g^3) with S_k = sum_ij A_k,
    # w_k = h w alpha_k ReLU(g_k).
    model, x, targets, feats, w = _gap_case()
    g = w / 64
    s = feats.sum(axis=(1, 2))
    alpha = np.where(g != 0, g**2 / (2 * g**2 + s * g**3), 0)
    weights = 64 * alpha * np.maximum(g, 0)
    expected = np.maximum(np.einsum("nijk,nk->nij", feats, weights), 0)
    got = compute_cams(model, x, method="gradcam_pp", targets=targets, show_progress=False).maps
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-7)


def test_eigencam_recovers_a_rank_one_pattern():
    from audit.cam.eigencam import eigencam_map

    u = np.zeros((4, 4))
    u[1:3, 1:3] = 1.0  # a bright square
    v = np.array([1.0, 2.0, 0.5])
    a = (u[..., None] * v)[None].astype(np.float32)  # A_k(i, j) = u(i, j) v_k
    m = eigencam_map(a, np.zeros_like(a))[0]
    centred = u - u.mean()
    np.testing.assert_allclose(m / m.max(), np.maximum(centred, 0) / centred.max(), atol=1e-6)
    assert (eigencam_map(np.ones((1, 3, 3, 2), np.float32), None) == 0).all()  # no variation: empty


@pytest.mark.parametrize("method", ["gradcam_pp", "xgradcam", "hirescam", "layercam", "eigencam", "scorecam"])
def test_every_method_is_batch_size_invariant(method):
    model = gap_model(5)
    x = np.random.default_rng(5).random((20, 8, 8, 1)).astype(np.float32)
    one = compute_cams(model, x, method=method, batch_size=1, show_progress=False)
    big = compute_cams(model, x, method=method, batch_size=64, show_progress=False)
    np.testing.assert_allclose(one.maps, big.maps, atol=1e-5)
    assert one.maps.dtype == np.float32 and (one.maps >= 0).all()


def linear_model():
    # 1x1 conv (weight 0.5, no bias, linear) -> flatten -> dense: logit_c = 0.5 sum_p W[p, c] x_p,
    # so dlogit_c/dx = 0.5 W[:, c] everywhere, whatever the input.
    keras.utils.set_random_seed(6)
    x = inp = keras.Input((4, 5, 1))
    x = keras.layers.Conv2D(1, 1, use_bias=False, name="conv")(x)
    x = keras.layers.Flatten()(x)
    model = keras.Model(inp, keras.layers.Dense(3, activation="softmax", name="head")(x))
    model.get_layer("conv").kernel.assign(np.full((1, 1, 1, 1), 0.5, np.float32))
    return model


@pytest.mark.parametrize("method", ["gradient", "smoothgrad"])
def test_pixel_baselines_on_a_linear_model(method):
    model = linear_model()
    x = np.random.default_rng(6).random((3, 4, 5, 1)).astype(np.float32)
    targets = np.array([0, 2, 1])
    result = compute_cams(model, x, method=method, targets=targets, smoothgrad_samples=5, show_progress=False)
    w = model.get_layer("head").kernel.numpy()  # (20, 3)
    expected = np.abs(0.5 * w[:, targets].T).reshape(3, 4, 5)
    np.testing.assert_allclose(result.maps, expected, rtol=1e-5)
    assert result.layer == "input" and result.grid.row_stride == 1 and result.grid.row_offset == 0


def test_smoothgrad_is_seeded_and_batch_size_invariant():
    model = gap_model(7)
    x = np.random.default_rng(7).random((10, 8, 8, 1)).astype(np.float32)
    kw = dict(method="smoothgrad", smoothgrad_samples=4, show_progress=False)
    one = compute_cams(model, x, batch_size=1, seed=3, **kw).maps
    big = compute_cams(model, x, batch_size=64, seed=3, **kw).maps
    other = compute_cams(model, x, batch_size=64, seed=4, **kw).maps
    np.testing.assert_allclose(one, big, atol=1e-6)
    assert not np.allclose(big, other)


def test_given_class_index_target():
    model = gap_model(8)
    x = np.random.default_rng(8).random((4, 8, 8, 1)).astype(np.float32)
    result = compute_cams(model, x, targets=np.full(4, 2), show_progress=False)
    assert (result.targets == 2).all()


def test_scorecam_with_one_channel_is_the_activation_map():
    # One channel: its softmax weight over channels is 1, so the map is ReLU(A) = A.
    model = gap_model(9, k=1)
    x = np.random.default_rng(9).random((4, 8, 8, 1)).astype(np.float32)
    feats = keras.Model(model.inputs[0], model.get_layer("conv").output)(x).numpy()[..., 0]
    got = compute_cams(model, x, method="scorecam", show_progress=False).maps
    np.testing.assert_allclose(got, feats, rtol=1e-5, atol=1e-7)


def test_scorecam_channel_cap_keeps_the_most_active_channel():
    model = gap_model(10, k=4)
    x = np.random.default_rng(10).random((3, 8, 8, 1)).astype(np.float32)
    feats = keras.Model(model.inputs[0], model.get_layer("conv").output)(x).numpy()
    strongest = feats.mean(axis=(1, 2)).argmax(axis=1)
    got = compute_cams(model, x, method="scorecam", scorecam_channels=1, show_progress=False).maps
    np.testing.assert_allclose(got, feats[np.arange(3), :, :, strongest], rtol=1e-5, atol=1e-7)


def test_scorecam_weights_follow_the_masked_scores():
    from audit.cam.scorecam import scorecam_batch

    class Fake:  # two channels; the image masked by channel 1 scores higher for the target
        grid = None

        def activations_and_gradients(self, x, t):
            a = np.zeros((1, 2, 2, 2), np.float32)
            a[0, 0, 0, 0], a[0, 1, 1, 1] = 1.0, 2.0
            return a, a, np.array([0])

        def probabilities(self, masked):
            bright = masked.reshape(len(masked), -1).argmax(axis=1)
            return np.stack([np.where(bright == 15, 0.9, 0.1), np.where(bright == 15, 0.1, 0.9)], axis=1)

    maps, _ = scorecam_batch(Fake(), np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1), np.array([0]), 0)
    w = np.exp([0.1, 0.9]) / np.exp([0.1, 0.9]).sum()  # softmax of the target scores per channel
    assert maps[0, 0, 0] == pytest.approx(w[0] * 1.0) and maps[0, 1, 1] == pytest.approx(w[1] * 2.0)


def _seed_like(seed=0):
    from audit.model import build_model

    keras.utils.set_random_seed(seed)
    return build_model("seed_cnn", (32, 32, 1), 2, width=4, dense_units=8)


def test_the_panel_equals_the_single_method_engine():
    from audit.cam.maps import compute_panel

    model = _seed_like(3)
    x = np.random.default_rng(3).random((9, 32, 32, 1)).astype(np.float32)
    methods = ["gradcam", "hirescam", "layercam", "gradcam_pp", "occlusion", "gradient"]
    panel = compute_panel(model, x, methods, batch_size=4, show_progress=False)
    assert list(panel) == methods
    for m in methods:
        alone = compute_cams(model, x, m, batch_size=4, show_progress=False)
        np.testing.assert_allclose(panel[m].maps, alone.maps, rtol=1e-5, atol=1e-7, err_msg=m)
        assert panel[m].targets.tolist() == alone.targets.tolist()
        assert panel[m].empty.tolist() == alone.empty.tolist()
        assert panel[m].grid == alone.grid and panel[m].method == m


def _region_model(size=12, region=(slice(2, 6), slice(3, 9))):
    """logit_0 = sum of the pixels in ``region``, logit_1 = 0: an identity 1x1 conv, then a dense head."""
    x = inp = keras.Input((size, size, 1))
    x = keras.layers.Conv2D(1, 1, use_bias=False, name="identity")(x)
    x = keras.layers.Flatten()(x)
    out = keras.layers.Dense(2, activation="softmax", name="head")(x)
    model = keras.Model(inp, out)
    model.get_layer("identity").kernel.assign(np.ones((1, 1, 1, 1), np.float32))
    w = np.zeros((size, size, 2), np.float32)
    w[region[0], region[1], 0] = 1.0
    model.get_layer("head").kernel.assign(w.reshape(-1, 2))
    model.get_layer("head").bias.assign(np.zeros(2, np.float32))
    return model


def test_occlusion_has_a_known_answer():
    # With a fill of 0 (the image minimum) on an image of ones plus one dark pixel, hiding a patch
    # lowers logit_0 by the number of region pixels under it (the dark pixel counts 0).
    from audit.cam.occlusion import occlusion_geometry

    size, patch, stride = 12, 4, 2
    model = _region_model(size)
    img = np.ones((1, size, size, 1), np.float32)
    img[0, 11, 11, 0] = 0.0  # the minimum, outside the region
    result = compute_cams(model, img, "occlusion", targets=np.array([0]), show_progress=False,
                          occlusion_patch=patch, occlusion_stride=stride)  # fmt: skip
    region = np.zeros((size, size), bool)
    region[2:6, 3:9] = True
    positions = range(0, size - patch + 1, stride)
    expected = np.array([[region[r : r + patch, c : c + patch].sum() for c in positions] for r in positions])
    np.testing.assert_allclose(result.maps[0], expected, atol=1e-4)
    _, _, grid = occlusion_geometry((size, size), patch, stride)
    assert result.grid == grid and (grid.row_offset, grid.row_stride) == (1.5, 2.0)
    assert result.layer == "input"
    other = compute_cams(model, img, "occlusion", targets=np.array([1]), show_progress=False,
                         occlusion_patch=patch, occlusion_stride=stride)  # fmt: skip
    assert other.empty.all()  # logit_1 is 0 whatever is hidden: no positive evidence


def test_occlusion_geometry_defaults_and_errors():
    from audit.cam.occlusion import occlusion_geometry

    assert occlusion_geometry((96, 96))[:2] == (12, 6)
    assert occlusion_geometry((16, 20))[:2] == (3, 1)
    with pytest.raises(ValueError, match="larger than the image"):
        occlusion_geometry((8, 8), patch=9)


def test_the_lead_method_follows_the_head():
    from audit.cam.core import CamEngine
    from audit.cam.lead import head_kind
    from audit.cam.maps import resolve_method
    from audit.model import build_model

    seed = CamEngine(_seed_like())
    assert head_kind(seed.model, seed.path) == "flatten"
    method, why = resolve_method("auto", seed)
    assert method == "hirescam" and "Draelos & Carin 2020" in why
    gap = CamEngine(build_model("gap_cnn", (32, 32, 1), 2, width=4))
    assert resolve_method("auto", gap)[0] == "gradcam"
    assert resolve_method("layercam", gap) == ("layercam", "LayerCAM is set in the experiment (cam.method)")
    other = CamEngine(gap_model(), "conv")  # conv -> GAP -> dense: a GAP head too
    assert head_kind(other.model, other.path) == "gap"


def test_the_default_panel_is_registered():
    from audit.cam.methods import NAMES
    from audit.config import CamConfig, load_config

    assert set(CamConfig().panel) <= set(NAMES)
    for path in (ROOT / "experiments").glob("*.toml"):
        cfg = load_config(path)
        assert {*cfg.cam.panel, *cfg.benchmark.methods} <= set(NAMES), path.name
        assert cfg.cam.method in ("auto", *NAMES), path.name


def test_the_registry_is_the_one_list_of_methods():
    import inspect
    import subprocess
    import sys

    from audit.cam.methods import METHODS

    # The verdict reads the registry; neither imports TensorFlow (nor does the config).
    code = "import sys, audit.verdict, audit.config; print('keras' in sys.modules, 'tensorflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split() == [
        "False",
        "False",
    ]
    arity = {"layer": 2, "passes": 4, "pixel": 4}
    for name, spec in METHODS.items():
        fn = spec.function
        required = [p for p in inspect.signature(fn).parameters.values() if p.default is inspect.Parameter.empty]
        assert len(required) == arity[spec.kind], name
        assert set(spec.options) <= set(inspect.signature(fn).parameters), name
        assert spec.title and spec.reference and spec.empty_cause, name
        assert (spec.grid is not None) == (name == "occlusion"), name
        model = _seed_like(1)
        x = np.random.default_rng(1).random((2, 32, 32, 1)).astype(np.float32)
        result = compute_cams(model, x, name, show_progress=False, scorecam_channels=4, smoothgrad_samples=2)
        assert result.method == name and result.maps.shape[0] == 2 and (result.maps >= 0).all()
        assert (result.layer == "input") == (spec.kind == "pixel" or spec.grid is not None), name


def test_stretch_upsampling_is_applied_in_the_engine_for_every_caller():
    from audit.cam.geometry import stretch_grid
    from audit.cam.maps import compute_panel

    model = _seed_like(2)
    x = np.random.default_rng(2).random((3, 32, 32, 1)).astype(np.float32)
    exact = compute_cams(model, x, "hirescam", show_progress=False)
    stretched = compute_cams(model, x, "hirescam", show_progress=False, upsample="stretch")
    assert exact.grid.exact and stretched.grid == stretch_grid(exact.maps.shape[1:], (32, 32))
    np.testing.assert_array_equal(exact.maps, stretched.maps)  # only where the cells sit changes
    panel = compute_panel(model, x, ["gradcam", "gradient"], show_progress=False, upsample="stretch")
    assert panel["gradcam"].grid == stretched.grid
    assert panel["gradient"].grid.exact  # maps at the pixels are not moved
    with pytest.raises(ValueError, match="unknown upsample"):
        compute_cams(model, x, "gradcam", show_progress=False, upsample="nearest")
