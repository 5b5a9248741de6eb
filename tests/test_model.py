import keras
import numpy as np
import pytest

from audit.model import build_model, classification_metrics, find_cam_layer, logits_function


def test_seed_cnn_architecture():
    m = build_model("seed_cnn", (256, 256, 3), 2)
    kinds = [type(layer).__name__ for layer in m.layers[1:]]
    assert kinds == ["Normalization", *["Conv2D", "MaxPooling2D"] * 3, "Flatten", "Dense", "Dropout", "Dense"]
    assert [m.get_layer(f"conv{i}").filters for i in (1, 2, 3)] == [32, 64, 128]
    assert m.get_layer("dense").units == 128 and m.get_layer("dropout").rate == 0.5
    assert m.layers[-1].activation.__name__ == "softmax"
    assert [layer.name for layer in find_cam_layer(m)] == ["pool3"]  # the last 4-D output


def test_unknown_architecture():
    with pytest.raises(ValueError, match="unknown architecture 'vgg'; available: seed_cnn, gap_cnn"):
        build_model("vgg", (8, 8, 1), 2)


def test_logits_view_leaves_model_untouched():
    keras.utils.set_random_seed(0)
    m = build_model("gap_cnn", (16, 16, 1), 3, width=4)
    x = np.random.default_rng(0).random((2, 16, 16, 1)).astype(np.float32)
    before = m.predict(x, verbose=0)
    _, logits = logits_function(m, find_cam_layer(m))(x)
    np.testing.assert_allclose(keras.ops.softmax(logits).numpy(), before, rtol=1e-5)
    assert m.layers[-1].activation.__name__ == "softmax"
    np.testing.assert_allclose(m.predict(x, verbose=0), before)


def test_metrics_on_known_predictions():
    y = np.array([0, 0, 1, 1, 1])
    proba = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4]])
    m = classification_metrics(y, proba, ("a", "b"))
    assert m["test_accuracy"] == pytest.approx(3 / 5)
    assert m["balanced_accuracy"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert m["confusion_matrix"] == [[1, 1], [1, 2]]
    # f1(a) = 2*(1/2*1/2)/(1) = 0.5 ; f1(b) = 2*(2/3*2/3)/(4/3) = 2/3
    assert m["f1_macro"] == pytest.approx((0.5 + 2 / 3) / 2)
    # positives scores .8 .7 .4 vs negatives .1 .6: pairs won 2+2+1 of 6 -> 5/6
    assert m["roc_auc"] == pytest.approx(5 / 6)
    # bins: conf .9 (correct), .6 (wrong), .8 (correct), .7 (correct), .6 (wrong)
    assert m["ece"] == pytest.approx(1 / 5 * 0.1 + 2 / 5 * 0.6 + 1 / 5 * 0.3 + 1 / 5 * 0.2)


def test_auc_with_one_class_is_nan():
    m = classification_metrics(np.array([1, 1]), np.array([[0.2, 0.8], [0.4, 0.6]]), ("a", "b"))
    assert np.isnan(m["roc_auc"])


def tiny_base(name="base"):
    return keras.Sequential(
        [keras.Input((16, 16, 1)), keras.layers.Conv2D(4, 3, activation="relu", name="c1"),
         keras.layers.Conv2D(4, 3, activation="relu", name="c2")],
        name=name,
    )  # fmt: skip


def test_layer_auto_detection_sequential_functional_nested():
    layers = [keras.layers.Conv2D(2, 3, name="a"), keras.layers.MaxPooling2D(name="p"), keras.layers.Flatten()]
    seq = keras.Sequential([keras.Input((16, 16, 1)), *layers, keras.layers.Dense(2)])
    assert [x.name for x in find_cam_layer(seq)] == ["p"]
    inp = keras.Input((16, 16, 1))
    func = keras.Model(inp, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(
        keras.layers.Conv2D(2, 3, name="b")(inp))))  # fmt: skip
    assert [x.name for x in find_cam_layer(func)] == ["b"]
    nested = keras.Sequential([keras.Input((16, 16, 1)), tiny_base(), keras.layers.GlobalAveragePooling2D(),
                               keras.layers.Dense(2, activation="softmax")])  # fmt: skip
    assert [x.name for x in find_cam_layer(nested)] == ["base", "c2"]
    assert [x.name for x in find_cam_layer(nested, "base/c1")] == ["base", "c1"]
    assert [x.name for x in find_cam_layer(nested, "c1")] == ["base", "c1"]  # unique inside one nested model
    with pytest.raises(ValueError, match=r"model has no layer 'base/c9'; 4-D layers: base/c1, base/c2"):
        find_cam_layer(nested, "base/c9")


def test_cam_of_a_nested_layer_equals_the_flat_model():
    from audit.cam.maps import compute_cams

    keras.utils.set_random_seed(1)
    base = tiny_base()
    head = keras.layers.Dense(2, activation="softmax", name="head")
    nested = keras.Sequential([keras.Input((16, 16, 1)), base, keras.layers.GlobalAveragePooling2D(), head])
    inp = keras.Input((16, 16, 1))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="c2")(keras.layers.Conv2D(4, 3, activation="relu")(inp))
    flat = keras.Model(inp, keras.layers.Dense(2, activation="softmax")(keras.layers.GlobalAveragePooling2D()(x)))
    flat.set_weights(nested.get_weights())
    images = np.random.default_rng(1).random((5, 16, 16, 1)).astype(np.float32)
    a = compute_cams(nested, images, layer="base/c2", show_progress=False)
    b = compute_cams(flat, images, layer="c2", show_progress=False)
    np.testing.assert_allclose(a.maps, b.maps, rtol=1e-5, atol=1e-7)
    assert a.layer == "base/c2" and a.grid == b.grid


def test_nested_layer_in_a_branching_model_is_refused():
    from audit.cam.core import CamEngine

    inp = keras.Input((16, 16, 1))
    base = tiny_base()
    skip = keras.layers.Conv2D(4, 5, name="skip")(inp)
    out = keras.layers.Dense(2, activation="softmax")(
        keras.layers.GlobalAveragePooling2D()(keras.layers.Add()([base(inp), skip]))
    )
    with pytest.raises(ValueError, match="is not a simple chain of layers"):
        CamEngine(keras.Model(inp, out), "base/c2")


def test_save_load_round_trip_and_unsafe_models(tmp_path):
    from audit.model import load_user_model

    keras.utils.set_random_seed(2)
    m = build_model("gap_cnn", (16, 16, 1), 2, width=4)
    m.save(tmp_path / "m.keras")
    x = np.random.default_rng(2).random((3, 16, 16, 1)).astype(np.float32)
    np.testing.assert_allclose(load_user_model(tmp_path / "m.keras").predict(x, verbose=0), m.predict(x, verbose=0))

    inp = keras.Input((16, 16, 1))
    lam = keras.Model(inp, keras.layers.Dense(2)(keras.layers.Flatten()(keras.layers.Lambda(lambda t: t * 2)(inp))))
    lam.save(tmp_path / "lam.keras")
    with pytest.raises(ValueError, match=r"lam\.keras needs unsafe deserialization .*allow_unsafe_deserialization"):
        load_user_model(tmp_path / "lam.keras")
    assert isinstance(load_user_model(tmp_path / "lam.keras", allow_unsafe=True), keras.Model)
    with pytest.raises(ValueError, match=r"model\.path: .*nope\.keras not found"):
        load_user_model(tmp_path / "nope.keras")
    (tmp_path / "bad.keras").write_bytes(b"garbage")
    with pytest.raises(ValueError, match=r"model\.path: cannot load .*bad\.keras"):
        load_user_model(tmp_path / "bad.keras")


def test_input_shape_check_and_gray_to_rgb():
    from audit.model import adapt_channels

    rgb = build_model("gap_cnn", (32, 32, 3), 2, width=4)
    gray = np.zeros((2, 32, 32, 1), np.float32)
    assert adapt_channels(gray, rgb).shape == (2, 32, 32, 3)
    with pytest.raises(
        ValueError, match="model expects images of 32x32 px but the data gives 64x64; set data.image_size"
    ):
        adapt_channels(np.zeros((1, 64, 64, 1), np.float32), rgb)
    with pytest.raises(ValueError, match="model expects 3 channels but the data has 2"):
        adapt_channels(np.zeros((1, 32, 32, 2), np.float32), rgb)


def test_training_is_deterministic():
    from audit.config import load_config
    from audit.pipeline.stages import stage_data, stage_train
    from audit.provenance import set_determinism

    cfg = load_config("experiments/quick.toml", ["data.synthetic.n_images=64", "train.epochs=2", "train.augment=true"])
    ds = stage_data(cfg)
    weights = []
    for _ in range(2):
        set_determinism(cfg.experiment.seed)
        weights.append(stage_train(cfg, ds).model.get_weights())
    for a, b in zip(*weights, strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_sequential_model_loaded_from_a_keras_file_is_explained_like_the_one_saved(tmp_path):
    # A reloaded Sequential rebuilds its graph: a sub-model over its layers' symbolic outputs had no
    # gradient path from the explained layer to the output (every map failed with a None gradient).
    from audit.cam.maps import compute_cams

    keras.utils.set_random_seed(3)
    model = keras.Sequential([
        keras.Input((16, 16, 1)), keras.layers.Conv2D(4, 3, activation="relu", padding="same"),
        keras.layers.MaxPooling2D(), keras.layers.Flatten(), keras.layers.Dense(2, activation="softmax"),
    ])  # fmt: skip
    model.save(tmp_path / "seq.keras")
    loaded = keras.models.load_model(tmp_path / "seq.keras")
    x = np.random.default_rng(3).random((5, 16, 16, 1)).astype(np.float32)
    for method in ("gradcam", "hirescam", "gradient"):
        a = compute_cams(model, x, method, show_progress=False)
        b = compute_cams(loaded, x, method, show_progress=False)
        np.testing.assert_allclose(a.maps, b.maps, rtol=1e-5, atol=1e-7, err_msg=method)
        assert a.maps.any(), method


def test_learning_rate_is_halved_after_a_stall_but_not_on_the_initial_plateau():
    # Random labels: the validation loss stalls from the start.  With min_epochs = 3 the first three
    # epochs (0-based 0-2) are not counted, epoch 3 sets the baseline, and from epoch 4 on every stalled
    # epoch (lr_patience = 1) halves the rate; history records the rate each epoch ran with.
    from audit.model import train_model

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x, y = rng.random((32, 8, 8, 1)).astype(np.float32), rng.integers(0, 2, 32)
    model = build_model("gap_cnn", (8, 8, 1), 2, width=2)
    result = train_model(model, x[:24], y[:24], x[24:], y[24:], epochs=7, batch_size=8, learning_rate=0.01,
                         patience=50, seed=0, min_epochs=3, min_delta=10.0, lr_patience=1, lr_factor=0.5)  # fmt: skip
    np.testing.assert_allclose(result.history["learning_rate"], [0.01, 0.01, 0.01, 0.01, 0.01, 0.005, 0.0025])
    off = train_model(build_model("gap_cnn", (8, 8, 1), 2, width=2), x[:24], y[:24], x[24:], y[24:], epochs=2,
                      batch_size=8, learning_rate=0.01, patience=50, seed=0, lr_patience=0)  # fmt: skip
    assert "learning_rate" not in off.history
