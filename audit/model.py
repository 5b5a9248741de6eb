"""Classifier architectures, reproducible training, evaluation and the logits view.

Input convention: models take ``(N, H, W, C)`` float32 images already scaled to
[0, 1] by the data stage (the seed's ``rescale=1/255``).  Our architectures start with
a ``standardize`` layer (``keras.layers.Normalization`` over all pixels, adapted to the
training images' mean and variance by :func:`train_model`): on [0, 1] inputs that are mostly
black background the seed CNN's training loss could sit at ln 2 for many epochs, and whether
and when it escaped depended on the seed and the CPU's summation order (docs/model.md).
The layers after it are the seed's.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.stats import rankdata

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

__all__ = [
    "ARCHITECTURES",
    "TrainResult",
    "adapt_channels",
    "build_model",
    "classification_metrics",
    "find_cam_layer",
    "layer_path",
    "load_user_model",
    "logits_function",
    "predict_proba",
    "train_model",
]


def _standardize(x):
    """Zero mean, unit variance over all pixels, with the training set's statistics (adapted in :func:`train_model`)."""
    return keras.layers.Normalization(axis=None, name="standardize")(x)


def _seed_cnn(input_shape: tuple[int, int, int], n_classes: int, width: int, dense_units: int) -> keras.Model:
    """The seed's CNN: Conv 32/64/128 (3x3, ReLU) each + 2x2 max-pool, Flatten, Dense 128, Dropout 0.5, softmax
    (after the input standardisation)."""
    inputs = keras.Input(input_shape, name="image")
    x = _standardize(inputs)
    for i, filters in enumerate((width, 2 * width, 4 * width)):
        x = keras.layers.Conv2D(filters, 3, activation="relu", name=f"conv{i + 1}")(x)
        x = keras.layers.MaxPooling2D(2, name=f"pool{i + 1}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(dense_units, activation="relu", name="dense")(x)
    x = keras.layers.Dropout(0.5, name="dropout")(x)
    # float32 output keeps softmax stable under a mixed_float16 policy.
    outputs = keras.layers.Dense(n_classes, activation="softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="seed_cnn")


def _gap_cnn(input_shape: tuple[int, int, int], n_classes: int, width: int, dense_units: int) -> keras.Model:
    """Lighter CNN: three conv-BN-ReLU blocks with max-pooling, then global average pooling."""
    inputs = keras.Input(input_shape, name="image")
    x = _standardize(inputs)
    for i, filters in enumerate((width, 2 * width, 4 * width)):
        x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"conv{i + 1}")(x)
        x = keras.layers.BatchNormalization(name=f"bn{i + 1}")(x)
        x = keras.layers.Activation("relu", name=f"relu{i + 1}")(x)
        if i < 2:
            x = keras.layers.MaxPooling2D(2, name=f"pool{i + 1}")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(n_classes, activation="softmax", dtype="float32", name="probabilities")(x)
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
    augment: bool = False,
    min_epochs: int = 0,
    min_delta: float = 0.0,
    lr_patience: int = 0,
    lr_factor: float = 0.5,
) -> TrainResult:
    """Adam + sparse cross-entropy, balanced class weights, early stopping on val loss (best weights restored):
    training stops after ``patience`` epochs without an improvement of at least ``min_delta``, but not
    before epoch ``min_epochs``.  With ``lr_patience > 0`` the learning rate is multiplied by ``lr_factor``
    after that many epochs without such an improvement (from epoch ``min_epochs`` on, like the stopping rule,
    so the initial plateau is left at the full rate), and the run gets a finer step before it is stopped.
    A ``standardize`` layer, if the model has one, is first adapted to ``x_train``.

    Determinism comes from ``keras.utils.set_random_seed`` and TF op determinism,
    both set once at the start of a run (:func:`audit.pipeline.run_pipeline`).
    """
    n_classes = int(model.output_shape[-1])
    standardize = next((layer for layer in model.layers if layer.name == "standardize"), None)
    if isinstance(standardize, keras.layers.Normalization):
        standardize.adapt(x_train)
    counts = np.bincount(y_train, minlength=n_classes).astype(float)
    class_weight = {k: float(len(y_train) / (n_classes * c)) for k, c in enumerate(counts) if c > 0}
    train_ds = (
        tf.data.Dataset.from_tensor_slices((x_train, y_train))
        .cache()
        .shuffle(len(x_train), seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size)
    )
    if augment:
        # Left-right flips keep anatomy plausible; shifts of up to 5% move the head around.
        flip = keras.layers.RandomFlip("horizontal", seed=seed)
        shift = keras.layers.RandomTranslation(0.05, 0.05, fill_mode="constant", seed=seed + 1)
        train_ds = train_ds.map(lambda x, y: (shift(flip(x, training=True), training=True), y))
    train_ds = train_ds.prefetch(tf.data.AUTOTUNE)
    val_ds = tf.data.Dataset.from_tensor_slices((x_val, y_val)).batch(batch_size).cache().prefetch(tf.data.AUTOTUNE)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    stop = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=patience, min_delta=min_delta, start_from_epoch=min_epochs,
        restore_best_weights=True,
    )  # fmt: skip
    callbacks: list[keras.callbacks.Callback] = [stop]
    if lr_patience > 0:
        halve = _ReduceLearningRate(min_epochs, patience=lr_patience, factor=lr_factor, min_delta=min_delta)
        callbacks.insert(0, halve)
    fit = model.fit(
        train_ds,
        validation_data=val_ds,
        epochs=epochs,
        class_weight=class_weight,
        callbacks=callbacks,
        shuffle=False,  # the tf.data pipeline shuffles, seeded
        verbose=1 if sys.stderr.isatty() else 2,
    )
    history = {k: [float(v) for v in vals] for k, vals in fit.history.items()}
    best_epoch = int(np.argmin(history["val_loss"])) + 1 if history.get("val_loss") else len(history["loss"])
    return TrainResult(model, history, best_epoch)


class _ReduceLearningRate(keras.callbacks.ReduceLROnPlateau):
    """Keras' ReduceLROnPlateau on val loss that, like EarlyStopping's ``start_from_epoch``, ignores the
    epochs before ``start_from_epoch`` (0-based epochs below it): the initial plateau is not a stall."""

    def __init__(self, start_from_epoch: int, **kwargs):
        super().__init__(monitor="val_loss", verbose=0, **kwargs)
        self.start_from_epoch = start_from_epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch >= self.start_from_epoch:
            super().on_epoch_end(epoch, logs)
        elif logs is not None:
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))


def predict_proba(model: keras.Model, images, batch_size: int = 64) -> np.ndarray:
    """Class probabilities, (N, K) float32, for ``images`` (N, H, W, C): an array or anything whose
    slices are arrays (:class:`audit.data.dataset.Rows`), read one batch at a time."""
    n = len(images)
    if n == 0:
        return np.zeros((0, int(model.output_shape[-1])), np.float32)
    batches = [model.predict_on_batch(np.asarray(images[s : s + batch_size])) for s in range(0, n, batch_size)]
    return np.concatenate(batches).astype(np.float32)


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


def load_user_model(path: str | Path, allow_unsafe: bool = False) -> keras.Model:
    """Load a trained model file in Keras' safe mode.

    Raises ValueError with a one-line reason: missing file, unsupported suffix, a model
    that needs unsafe deserialization (e.g. a Lambda layer) without ``allow_unsafe``,
    or any other loading failure.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"model.path: {path} not found")
    if path.suffix not in (".keras", ".h5", ".hdf5"):
        raise ValueError(f"model.path: {path} is not a .keras or .h5 file")
    try:
        model = keras.models.load_model(path, compile=False, safe_mode=not allow_unsafe)
    except Exception as exc:  # Keras raises ValueError, TypeError, OSError... for bad files
        text = " ".join(str(exc).split())
        if "safe_mode" in text or "arbitrary code" in text:
            raise ValueError(
                f"model.path: {path} needs unsafe deserialization (it holds code, e.g. a Lambda layer); "
                "set model.allow_unsafe_deserialization = true only if you trust the file"
            ) from None
        raise ValueError(f"model.path: cannot load {path}: {type(exc).__name__}: {text[:300]}") from None
    if not isinstance(model, keras.Model):
        raise ValueError(f"model.path: {path} does not hold a Keras model")
    return model


def adapt_channels(images: np.ndarray, model: keras.Model) -> np.ndarray:
    """``images`` (N, H, W, C) as the model takes them; grayscale is repeated to RGB for a 3-channel model.

    Raises ValueError when height, width or channels cannot match.
    """
    expected = tuple(model.inputs[0].shape[1:])
    given = images.shape[1:]
    if len(expected) != 3:
        raise ValueError(f"model input shape {expected} is not (height, width, channels)")
    if any(e is not None and e != g for e, g in zip(expected[:2], given[:2], strict=True)):
        raise ValueError(
            f"model expects images of {expected[0]}x{expected[1]} px but the data gives {given[0]}x{given[1]}; "
            f"set data.image_size to match"
        )
    if expected[2] in (None, given[2]):
        return images
    if given[2] == 1 and expected[2] == 3:
        return np.repeat(images, 3, axis=-1)
    raise ValueError(f"model expects {expected[2]} channels but the data has {given[2]}")


def _is_4d(layer: keras.layers.Layer) -> bool:
    try:
        return len(layer.output.shape) == 4
    except (AttributeError, ValueError):
        return False


def find_cam_layer(model: keras.Model, name: str = "") -> list[keras.layers.Layer]:
    """The layer to explain, as a path from a layer of ``model`` down into nested models.

    ``name`` empty: the last layer with a 4-D output, searching inside nested models (a
    Functional base model inside a Sequential, say).  Otherwise a layer name of ``model``,
    a nested path ``"base/conv5_block3_out"``, or a name that is unique inside one nested model.
    """
    if not name:
        for layer in reversed(model.layers):
            if isinstance(layer, keras.Model) and any(_is_4d(sub) for sub in layer.layers):
                return [layer, *find_cam_layer(layer)]
            if _is_4d(layer) and not isinstance(layer, keras.layers.InputLayer):
                return [layer]
        raise ValueError(f"model {model.name!r} has no layer with a 4-D output to explain")
    parts = name.split("/")
    path, current = [], model
    for part in parts:
        try:
            layer = current.get_layer(part)
        except ValueError:
            layer = None
        if layer is None and len(parts) == 1:
            nested = [[sub, *find_cam_layer(sub, part)] for sub in current.layers
                      if isinstance(sub, keras.Model) and part in {x.name for x in sub.layers}]  # fmt: skip
            if len(nested) == 1:
                return nested[0]
        if layer is None:
            names = [layer_path(p) for p in _all_4d_paths(model)]
            raise ValueError(f"model has no layer {name!r}; 4-D layers: {', '.join(names)}")
        path.append(layer)
        current = layer
    if not _is_4d(path[-1]):
        raise ValueError(f"layer {name!r} has no 4-D output (shape {path[-1].output.shape}) to explain")
    return path


def _all_4d_paths(model: keras.Model, prefix: tuple = ()) -> list[list[keras.layers.Layer]]:
    out = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            out.extend(_all_4d_paths(layer, (*prefix, layer)))
        elif _is_4d(layer) and not isinstance(layer, keras.layers.InputLayer):
            out.append([*prefix, layer])
    return out


def layer_path(path: list[keras.layers.Layer]) -> str:
    """``"base/conv"`` for a path of layers."""
    return "/".join(layer.name for layer in path)


def _inputs(model: keras.Model):
    # A single input as a tensor, not a one-element list (Keras warns on the mismatch).
    return model.inputs[0] if len(model.inputs) == 1 else model.inputs


def _head_logits(head: keras.layers.Layer, hidden):
    """Logits of a Dense output layer from its input, with its live kernel and bias."""
    logits = tf.matmul(hidden, head.kernel)
    return logits + head.bias if head.use_bias else logits


def logits_function(model: keras.Model, path: list[keras.layers.Layer] | keras.layers.Layer) -> Callable:
    """``f(x) -> (activations of the explained layer, class logits)`` without touching ``model``.

    The seed set the last layer's activation to None in place, which silently
    changes the model.  Here the logits are recomputed from the output layer's own
    (live) kernel and bias, so later weight changes are seen.  A layer inside a
    nested model is reached by running the outer model layer by layer, which needs
    the outer model to be a chain (Sequential, or Functional without branches).
    """
    path = path if isinstance(path, list) else [path]
    head = model.layers[-1]
    if not isinstance(head, keras.layers.Dense | keras.layers.Activation):
        raise ValueError(f"the output layer {head.name!r} is {type(head).__name__}; expected Dense or Activation")

    def to_logits(hidden):
        return _head_logits(head, hidden) if isinstance(head, keras.layers.Dense) else hidden

    if len(path) == 1 and isinstance(model, keras.Sequential):
        before_head = _run_chain(_layers(model)[:-1], path)

        def forward(x):
            activations, hidden = before_head(x)
            return activations, to_logits(hidden)

        return forward
    if len(path) == 1:
        features = keras.Model(_inputs(model), [path[0].output, head.input])

        def forward(x):
            activations, hidden = features(x, training=False)
            return activations, to_logits(hidden)

        return forward

    before_head = _run_chain(_layers(model)[:-1], path)

    def forward(x):
        activations, hidden = before_head(x)
        return activations, to_logits(hidden)

    _check_chain(model, forward, path)
    return forward


def _features_at(model: keras.Model, path: list[keras.layers.Layer]) -> Callable:
    """``f(x) -> (activations of path[-1], output of model)`` for a (nested) model."""
    if isinstance(model, keras.Sequential):
        return _run_chain(_layers(model), path)
    if len(path) == 1:
        sub = keras.Model(_inputs(model), [path[0].output, model.outputs[0]])
        return lambda x: sub(x, training=False)
    return _run_chain(_layers(model), path)


def _layers(model: keras.Model) -> list[keras.layers.Layer]:
    return [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]


def _run_chain(layers: list[keras.layers.Layer], path: list[keras.layers.Layer]) -> Callable:
    """``f(x) -> (activations of path[-1], output of the last layer)``: ``layers`` run one after
    the other, the nested model ``path[0]`` giving up its inner activations on the way (or, when
    ``path`` is that one layer, its own output).

    (A Sequential model is always run this way: one loaded from a ``.keras`` file rebuilds its
    graph, and a sub-model over its layers' symbolic outputs then has no gradient path from the
    explained layer to the output.)"""
    inner = _features_at(path[0], path[1:]) if len(path) > 1 else None

    def forward(x):
        activations = None
        for layer in layers:
            if layer is path[0] and inner is not None:
                activations, x = inner(x)
            else:
                x = layer(x, training=False)
                if layer is path[0]:
                    activations = x
        return activations, x

    return forward


def _check_chain(model: keras.Model, forward: Callable, path: list) -> None:
    """Running the layers one after the other must reproduce the model; a model with branches does not."""
    head = model.layers[-1]
    activation = head.activation if isinstance(head, keras.layers.Dense) else head
    shape = [d if d is not None else 8 for d in model.inputs[0].shape[1:]]
    x = tf.random.stateless_uniform([2, *shape], seed=[1, 2])
    try:
        _, logits = forward(x)
        ok = np.allclose(np.asarray(activation(logits)), np.asarray(model(x, training=False)), atol=1e-4)
    except (ValueError, TypeError):
        ok = False
    if not ok:
        raise ValueError(
            f"cannot explain nested layer {layer_path(path)!r}: {model.name!r} is not a simple chain of layers; "
            "name a layer of the outer model instead"
        )
