import keras
import numpy as np
import pytest

from audit.model import build_model, classification_metrics, find_cam_layer, logits_function


def test_seed_cnn_architecture():
    m = build_model("seed_cnn", (256, 256, 3), 2)
    kinds = [type(layer).__name__ for layer in m.layers[1:]]
    assert kinds == ["Conv2D", "MaxPooling2D"] * 3 + ["Flatten", "Dense", "Dropout", "Dense"]
    assert [m.get_layer(f"conv{i}").filters for i in (1, 2, 3)] == [32, 64, 128]
    assert m.get_layer("dense").units == 128 and m.get_layer("dropout").rate == 0.5
    assert m.layers[-1].activation.__name__ == "softmax"
    assert find_cam_layer(m).name == "conv3"


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
