"""Classifier architectures, reproducible training, evaluation and the logits view.

Input convention: models take ``(N, H, W, C)`` float32 images already scaled to
[0, 1] by the data stage (the seed's ``rescale=1/255``); no normalisation layer
is part of the model.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

__all__ = [
    "ARCHITECTURES",
    "TrainResult",
    "build_model",
    "classification_metrics",
    "find_cam_layer",
    "logits_function",
    "predict_proba",
    "train_model",
]


def _seed_cnn(input_shape: tuple[int, int, int], n_classes: int, width: int, dense_units: int) -> keras.Model:
    """The seed's CNN: Conv 32/64/128 (3x3, ReLU) each + 2x2 max-pool, Flatten, Dense 128, Dropout 0.5, softmax."""
    x = inputs = keras.Input(input_shape, name="image")
    for i, filters in enumerate((width, 2 * width, 4 * width)):
        x = keras.layers.Conv2D(filters, 3, activation="relu", name=f"conv{i + 1}")(x)
        x = keras.layers.MaxPooling2D(2, name=f"pool{i + 1}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(dense_units, activation="relu", name="dense")(x)
    x = keras.layers.Dropout(0.5, name="dropout")(x)
    outputs = keras.layers.Dense(n_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="seed_cnn")


def _gap_cnn(input_shape: tuple[int, int, int], n_classes: int, width: int, dense_units: int) -> keras.Model:
    """Lighter CNN: three conv-BN-ReLU blocks with max-pooling, then global average pooling."""
    x = inputs = keras.Input(input_shape, name="image")
    for i, filters in enumerate((width, 2 * width, 4 * width)):
        x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"conv{i + 1}")(x)
        x = keras.layers.BatchNormalization(name=f"bn{i + 1}")(x)
        x = keras.layers.Activation("relu", name=f"relu{i + 1}")(x)
        if i < 2:
            x = keras.layers.MaxPooling2D(2, name=f"pool{i + 1}")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(n_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="gap_cnn")


ARCHITECTURES: dict[str, Callable[..., keras.Model]] = {"seed_cnn": _seed_cnn, "gap_cnn": _gap_cnn}


def build_model(
    architecture: str, input_shape: tuple[int, int, int], n_classes: int, width: int = 32, dense_units: int = 128
) -> keras.Model:
    """Build an untrained model from the registry."""
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r}; available: {', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[architecture](input_shape, n_classes, width, dense_units)


@dataclass
class TrainResult:
    model: keras.Model
    history: dict[str, list[float]]
    best_epoch: int


def train_model(
    model: keras.Model,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    patience: int,
    seed: int,
) -> TrainResult:
    """Adam + sparse cross-entropy, balanced class weights, early stopping on val loss (best weights restored).

    Determinism comes from ``keras.utils.set_random_seed`` and TF op determinism,
    both set once at the start of a run (:func:`audit.pipeline.run_pipeline`).
    """
    n_classes = int(model.output_shape[-1])
    counts = np.bincount(y_train, minlength=n_classes).astype(float)
    class_weight = {k: float(len(y_train) / (n_classes * c)) for k, c in enumerate(counts) if c > 0}
    train_ds = (
        tf.data.Dataset.from_tensor_slices((x_train, y_train))
        .cache()
        .shuffle(len(x_train), seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )
    val_ds = tf.data.Dataset.from_tensor_slices((x_val, y_val)).batch(batch_size).cache().prefetch(tf.data.AUTOTUNE)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True)
    fit = model.fit(
        train_ds,
        validation_data=val_ds,
        epochs=epochs,
        class_weight=class_weight,
        callbacks=[stop],
        shuffle=False,  # the tf.data pipeline shuffles, seeded
        verbose=1 if sys.stderr.isatty() else 2,
    )
    history = {k: [float(v) for v in vals] for k, vals in fit.history.items()}
    best_epoch = int(np.argmin(history["val_loss"])) + 1 if history.get("val_loss") else len(history["loss"])
    return TrainResult(model, history, best_epoch)


def predict_proba(model: keras.Model, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Class probabilities, (N, K) float32."""
    return np.asarray(model.predict(images, batch_size=batch_size, verbose=0), dtype=np.float32)


def _roc_auc_binary(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC by the Mann-Whitney U statistic: P(score_pos > score_neg) + 0.5 P(tie)."""
    pos, neg = int(np.sum(y)), int(np.sum(~y))
    if pos == 0 or neg == 0:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[y].sum() - pos * (pos + 1) / 2) / (pos * neg))


def classification_metrics(y_true: np.ndarray, proba: np.ndarray, class_names: tuple[str, ...]) -> dict:
    """Test-set metrics.

    accuracy = mean(pred == true); balanced accuracy = mean over classes of recall;
    macro F1 = mean over classes of 2PR/(P+R); ROC AUC: binary on P(class 1),
    otherwise the mean of one-vs-rest AUCs over classes present; expected calibration
    error (Guo et al. 2017) = sum_b |B_b|/N * |acc(B_b) - conf(B_b)| over 10 equal-width
    confidence bins.
    """
    k = len(class_names)
    y_true = np.asarray(y_true)
    pred = proba.argmax(axis=1)
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (y_true, pred), 1)
    tp = np.diag(cm).astype(float)
    support, predicted = cm.sum(axis=1), cm.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(support > 0, tp / support, np.nan)
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        f1 = np.where(precision + np.nan_to_num(recall) > 0, 2 * precision * recall / (precision + recall), 0.0)
    present = support > 0
    if k == 2:
        auc = _roc_auc_binary(y_true == 1, proba[:, 1])
    else:
        aucs = [_roc_auc_binary(y_true == c, proba[:, c]) for c in range(k) if present[c]]
        auc = float(np.nanmean(aucs)) if aucs else float("nan")
    conf = proba.max(axis=1)
    bins = np.minimum((conf * 10).astype(int), 9)
    ece = sum(
        np.sum(bins == b) / len(conf) * abs(np.mean(pred[bins == b] == y_true[bins == b]) - np.mean(conf[bins == b]))
        for b in range(10)
        if np.any(bins == b)
    )
    return {
        "test_accuracy": float(np.mean(pred == y_true)),
        "balanced_accuracy": float(np.nanmean(recall[present])),
        "f1_macro": float(np.mean(f1[present])),
        "roc_auc": auc,
        "ece": float(ece),
        "confusion_matrix": cm.tolist(),
        "per_class": {
            name: {"precision": float(precision[c]), "recall": float(recall[c]), "support": int(support[c])}
            for c, name in enumerate(class_names)
        },
    }


def find_cam_layer(model: keras.Model, name: str = "") -> keras.layers.Layer:
    """The layer to explain: ``name`` if given, else the last Conv2D (the seed's choice)."""
    if name:
        try:
            return model.get_layer(name)
        except ValueError:
            names = [layer.name for layer in model.layers if len(layer.output.shape) == 4]
            raise ValueError(f"model has no layer {name!r}; 4-D layers: {', '.join(names)}") from None
    for layer in reversed(model.layers):
        if isinstance(layer, keras.layers.Conv2D):
            return layer
    raise ValueError(f"model {model.name!r} has no Conv2D layer to explain")


def _inputs(model: keras.Model):
    # A single input as a tensor, not a one-element list (Keras warns on the mismatch).
    return model.inputs[0] if len(model.inputs) == 1 else model.inputs


def logits_function(model: keras.Model, layer: keras.layers.Layer) -> Callable:
    """``f(x) -> (activations of layer, class logits)`` without touching ``model``.

    The seed set the last layer's activation to None in place, which silently
    changes the model.  Here a feature model returns the explained layer's output
    and the input of the output layer, and the logits are recomputed from the
    output layer's own (live) kernel and bias, so later weight changes are seen.
    """
    head = model.layers[-1]
    if isinstance(head, keras.layers.Dense):
        features = keras.Model(_inputs(model), [layer.output, head.input])

        def forward(x):
            activations, hidden = features(x, training=False)
            logits = tf.matmul(hidden, head.kernel)
            if head.use_bias:
                logits = logits + head.bias
            return activations, logits

        return forward
    if isinstance(head, keras.layers.Activation):
        features = keras.Model(_inputs(model), [layer.output, head.input])
        return lambda x: features(x, training=False)
    features = keras.Model(_inputs(model), [layer.output, model.outputs[0]])
    return lambda x: features(x, training=False)
