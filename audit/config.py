"""Experiment configuration: TOML files loaded into frozen, typed dataclasses.

An experiment file has one table per section (``[experiment]``, ``[data]``, ...).
Every key is checked against the dataclass field of the same name: unknown keys
and values of the wrong type are a one-line :class:`ConfigError` that names the
file, the key and what is allowed.  ``--set section.key=value`` overrides go
through the same checks.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "resolved_config_text",
    "BenchmarkConfig",
    "CamConfig",
    "ChecksConfig",
    "Config",
    "ConfigError",
    "DataConfig",
    "ExperimentConfig",
    "MitigateConfig",
    "ModelConfig",
    "NiftiConfig",
    "RegionsConfig",
    "ReportConfig",
    "ScoresConfig",
    "SyntheticConfig",
    "TrainConfig",
    "VerdictConfig",
    "apply_overrides",
    "config_to_dict",
    "config_to_toml",
    "load_config",
    "merge_sections",
]


class ConfigError(ValueError):
    """A user error in an experiment file or an override (one line, no traceback)."""


@dataclass(frozen=True)
class ExperimentConfig:
    name: str = "default"
    seed: int = 0


@dataclass(frozen=True)
class SyntheticConfig:
    """``[data.synthetic]``: the phantom generator's knobs (:mod:`audit.data.synthetic`)."""

    n_images: int = 1000
    classes: Literal["binary", "four"] = "binary"
    """binary: healthy / tumor; four: glioma, meningioma, notumor, pituitary."""
    tumor_kinds: tuple[str, ...] = ("glioma", "meningioma")
    """Tumor kinds drawn for the binary tumor class."""
    tumor_fraction: float = 0.5
    """Share of tumor slices (binary only; four classes are balanced)."""
    anatomy: Literal["mni152", "colin27"] = "mni152"
    """The phantoms' head: the MNI152 average brain with shells of CSF, skull and scalp grown around
    it, or Colin27's real head (Debian's mricron-data; :mod:`audit.data.anatomy`)."""
    skull: Literal["present", "stripped"] = "present"
    """present: the head with skull and scalp; stripped: brain extracted, black outside (as BraTS)."""
    plane: Literal["axial", "coronal", "sagittal"] = "axial"
    contrasts: tuple[str, ...] = ("t1", "t1c", "t2", "flair")
    tie_class: str = ""
    """Class the artifacts ([data.artifacts]) and sites go with ('' = tumor for binary, glioma for four classes)."""
    artifacts_over_brain: bool = False
    """Let burned-in artifacts cover brain pixels (off: they are drawn outside the brain only)."""
    n_sites: int = 0
    """Simulated scanners (0: none)."""
    site_p: float = 0.0
    """Tie of site to class, like an artifact's strength."""
    site_marker: bool = True
    """Each site burns its name into its own corner."""


@dataclass(frozen=True)
class NiftiConfig:
    """``[data.nifti]``: options of BraTS-style volumes (:mod:`audit.data.nifti`)."""

    modality: str = "t1ce"
    """Volume used for the images: t1, t1ce, t2 or flair."""
    slice_step: int = 4
    """Every slice_step-th axial slice within ``data.levels`` is used."""


@dataclass(frozen=True)
class DataConfig:
    """The dataset: ``source = "synthetic"`` is the phantom generator (:mod:`audit.data.synthetic`,
    its knobs in ``[data.synthetic]``, its planted artifacts in ``[data.artifacts]``); ``"folder"``
    reads class folders of images under ``path`` (:mod:`audit.data.folders`); ``"figshare"`` the
    .mat files of Cheng et al. (:mod:`audit.data.figshare`); ``"nifti"`` BraTS-style volumes with a
    segmentation (:mod:`audit.data.nifti`, options in ``[data.nifti]``); ``"paired"`` an
    ``images/`` + ``masks/`` tree (:mod:`audit.data.paired`); ``"saved"`` a dataset folder as
    :func:`audit.data.dataset.save_dataset` writes it, split included (what :func:`audit.audit_model`
    writes from arrays; ``image_size`` and ``resize`` do not apply).  The keys of this table are shared
    by the sources that read them."""

    source: Literal["synthetic", "folder", "figshare", "nifti", "paired", "saved"] = "synthetic"
    path: str = ""
    """Root of the data (every source but synthetic)."""
    image_size: int = 128
    resize: Literal["stretch", "pad"] = "pad"
    """How images of another size reach image_size: stretch, or scale to fit and pad."""
    class_map: tuple[str, ...] = ()
    """Extra folder-name -> class entries, each "folder=label" (source = "folder")."""
    patient_column: str = ""
    """Column of ``metadata.csv`` (under path) holding each image's patient (folder, paired)."""
    levels: tuple[float, ...] = (0.35, 0.8)
    """Slice levels as fractions of the brain's extent along the slicing axis (low, high) (synthetic, nifti)."""
    min_tumor_area: int = 30
    """Minimum visible tumor pixels (core + enhancing) on a tumor slice (synthetic, nifti)."""
    test_fraction: float = 0.3
    val_fraction: float = 0.15
    drop_duplicates: bool = False
    """Drop val/test images that are exact or near duplicates of a training image (leaks)."""
    duplicate_distance: int = 4
    """Largest Hamming distance between 64-bit perceptual hashes that counts as a near duplicate."""
    preprocess: str = ""
    """An input mitigation applied to every image as it is loaded, training and test alike
    (:class:`audit.mitigations.InputMitigation`; ``--mitigate NAME`` sets it for one): the audited model
    is the pair (preprocessing, network), so deploy the network behind it.  "" uses the images as they are."""
    synthetic: SyntheticConfig = SyntheticConfig()
    nifti: NiftiConfig = NiftiConfig()
    artifacts: Mapping[str, float] = field(default_factory=lambda: types.MappingProxyType({}))
    """Planted artifacts and their tie strengths, ``[data.artifacts] marker = 0.5``: the share of
    images whose artifact follows the class (0: present at random, untied); an artifact not named is
    not drawn.  Names: :data:`audit.data.artifacts.ARTIFACTS` (source = "synthetic")."""


_MOVED = {
    **{k: f"data.synthetic.{k}" for k in (
        "n_images", "classes", "tumor_kinds", "tumor_fraction", "anatomy", "skull", "plane", "contrasts", "tie_class",
        "artifacts_over_brain", "n_sites", "site_p", "site_marker",
    )},
    "modality": "data.nifti.modality",
    "slice_step": "data.nifti.slice_step",
    **{f"{a}_p": f"data.artifacts.{a}" for a in ("marker", "frame", "padding", "zoom", "intensity", "noise", "ghost")},
}  # fmt: skip
"""Keys of ``[data]`` before 0.8 -> where they live now (an old file gets a one-line error naming the move)."""


@dataclass(frozen=True)
class ModelConfig:
    architecture: Literal["seed_cnn", "gap_cnn"] = "seed_cnn"
    width: int = 32
    """Filters of the first conv block; the seed's CNN uses 32, 64, 128."""
    dense_units: int = 128
    path: str = ""
    """A trained .keras (or legacy .h5) model to audit instead of training one."""
    allow_unsafe_deserialization: bool = False
    """Load a model file whose layers carry code (e.g. Lambda); only for files you trust."""


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 1e-3
    patience: int = 3
    min_epochs: int = 0
    """Early stopping does not stop before this epoch (a run may sit on its initial plateau a while)."""
    min_delta: float = 0.0
    """Smallest fall of the validation loss that counts as an improvement for early stopping."""
    lr_patience: int = 0
    """Multiply the learning rate by ``lr_factor`` after this many epochs without an improvement (0: never);
    counted from ``min_epochs`` on, like early stopping."""
    lr_factor: float = 0.5
    augment: bool = False
    """Light augmentation: random left-right flip and shifts of up to 5% (seeded)."""
    mixed_precision: bool = False
    """mixed_float16 compute (for GPUs; slower on CPUs)."""
    mitigation: str = ""
    """A mitigation applied to the training and validation images (:mod:`audit.mitigations`;
    ``--mitigate NAME``); "" trains on the data as it is."""


@dataclass(frozen=True)
class CamConfig:
    method: str = "auto"
    """The lead method: galleries, per-image table, sanity checks, and the attention line's first
    voice: a name in the CAM method registry (:data:`audit.cam.methods.METHODS`, checked before
    anything runs; this module does not import it, so editing the registry keys no cache entry) or
    auto: chosen from the model's head (:mod:`audit.cam.lead`; HiResCAM for the seed CNN's
    flatten + dense head, Grad-CAM for global average pooling)."""
    panel: tuple[str, ...] = ("gradcam", "hirescam", "layercam", "gradcam_pp", "occlusion")
    """Methods whose maps are each scored and voted in the attention evidence line (the lead method
    is always added); the layer methods share one forward + backward pass."""
    occlusion_sample: int = 24
    """Occlusion is computed on this many correctly classified finding images (0: none)."""
    occlusion_patch: int = 0
    """Occlusion patch side in pixels (0: 1/8 of the image)."""
    occlusion_stride: int = 0
    """Occlusion patch step in pixels (0: half the patch)."""
    layer: str = ""
    """Name of the conv layer to explain; empty means the last 4-D layer."""
    target: Literal["predicted", "true", "index"] = "predicted"
    """Class explained: the predicted one, the true one, or ``target_index`` for every image."""
    target_index: int = 0
    batch_size: int = 64
    scorecam_channels: int = 32
    """Score-CAM scores at most this many channels per image (those with the largest mean activation)."""
    smoothgrad_samples: int = 16
    smoothgrad_sigma: float = 0.15
    """SmoothGrad noise: standard deviation as a fraction of each image's intensity range."""
    upsample: Literal["receptive_field", "stretch"] = "receptive_field"
    """How maps are placed on the image: by receptive-field centres, or stretched (the seed's cv2.resize)."""


@dataclass(frozen=True)
class RegionsConfig:
    tolerance_px: int = 8
    """Dilation radius of the tolerant artifact zone, about one CAM cell."""


@dataclass(frozen=True)
class ChecksConfig:
    run: tuple[str, ...] = (
        "artifact_reliance", "acquisition_transfer", "geometry_transfer", "shortcut_probe", "cascading_randomization",
        "independent_randomization", "faithfulness", "explanation_stability", "strategy_clustering",
        "subgroup_disparity",
    )  # fmt: skip
    """Checks to run, in this order: every built-in check but the two that retrain the model
    (``data_randomization``, and stability's ``repeatability``)."""
    plugins: tuple[str, ...] = ()
    params: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: types.MappingProxyType({}))
    """Per-check parameter tables, ``[checks.<name>]`` in the experiment file."""


@dataclass(frozen=True)
class VerdictConfig:
    """Thresholds of the verdict's rules (:mod:`audit.verdict`, where each is used)."""

    anatomy_min: float = 0.6
    """A method says 'anatomy' with at least this mean energy fraction on brain + tumor (correct finding images)..."""
    off_target_share_max: float = 0.25
    """... and at most this share of those images with more than half their energy off the brain."""
    artifact_max: float = 0.4
    """A method says 'artifact' at or below this mean energy fraction on brain + tumor..."""
    off_target_share_artifact: float = 0.5
    """... or with more than this share of images with more than half their energy off the brain."""
    uninformative_share: float = 0.5
    """A method whose maps are empty or weak on more than this share of the images is 'uninformative'."""
    pointing_min: float = 0.5
    """Localisation supports anatomy when the pointing game's 95% CI starts at this or above (and the
    map's AUPRC beats the mean tumor mask's)."""
    min_tumor_images: int = 10
    """Fewer tumor images than this: no localisation evidence."""
    min_balanced_accuracy: float = 0.6
    """Below this test balanced accuracy the model is near chance: its maps show no reliance on
    anything, and the verdict is 'mixed' whatever the evidence looks like."""


@dataclass(frozen=True)
class ScoresConfig:
    bootstrap: int = 1000
    """Bootstrap resamples for every confidence interval."""
    weak_map_ratio: float = 0.01
    """A map whose peak is below this fraction of the median peak over the test set is 'weak'."""


@dataclass(frozen=True)
class ReportConfig:
    gallery_size: int = 6
    colormap: Literal["inferno", "viridis", "magma", "jet"] = "inferno"
    pdf: bool = False
    """Also write report.pdf through headless Chromium (``--pdf``; skipped with a note when it is missing)."""
    mlflow: bool = False
    """Log the run to MLflow (``pip install brain-audit[mlflow]``): the active run, or a new one at
    ``MLFLOW_TRACKING_URI`` (:mod:`audit.tracking`)."""


@dataclass(frozen=True)
class ComputeConfig:
    """Where training and the CAM stage run; does not change results beyond float rounding."""

    strategy: Literal["auto", "none", "mirrored"] = "auto"
    """auto: tf.distribute.MirroredStrategy when more than one GPU is visible, else none;
    mirrored: over all GPUs, or over the logical CPUs below when there is no GPU."""
    logical_cpus: int = 0
    """Split the CPU into this many logical devices (>= 2 exercises the mirrored path without GPUs)."""


@dataclass(frozen=True)
class BenchmarkConfig:
    """Benchmark mode (:mod:`audit.benchmark`): with ``artifacts`` set, ``run_audit.py`` trains one
    model per (artifact, tie strength) on the experiment's data settings, audits it with every
    method, and measures whether the audit catches the shortcuts it relies on."""

    artifacts: tuple[str, ...] = ()
    """Planted shortcuts: artifact names of the phantom generator, and "site" (scanner sites with
    burned-in site names, as [data] site_marker); empty: a plain audit."""
    strengths: tuple[float, ...] = (0.0, 0.5, 0.9, 1.0)
    """Label-tie strengths p: the share of images whose artifact (site) follows the class."""
    methods: tuple[str, ...] = ("gradcam", "gradcam_pp", "hirescam", "layercam", "scorecam", "gradient", "smoothgrad")
    anatomies: tuple[str, ...] = ("mni152", "colin27")
    """Phantom heads the matrix is repeated on ([data] anatomy values): the verdict must hold on a real
    head (Colin27) too, not only on the template it was developed on."""
    skulls: tuple[str, ...] = ("present",)
    """Skull modes the matrix is repeated on ([data] skull values: "present", "stripped")."""
    strong_drop: float = 0.20
    """Accuracy drop (tied minus swapped test set) from which reliance counts as strong."""
    bootstrap: int = 1000
    """Paired bootstrap resamples for the accuracy drop's 95% interval."""
    seeds: tuple[int, ...] = ()
    """Seeds each cell is trained with (empty: ``experiment.seed`` alone); with several, the detection
    table is reported per seed and for the share of cells whose verdict agrees across seeds."""
    executor: str = "local"
    """Where cells run: "local" (one after another in this process) or "ray" (each cell a Ray task;
    the ``ray`` extra, ``pip install 'brain-audit[ray]'``)."""
    threads: int = 0
    """TensorFlow threads per cell (0: its worker's share of the cores; all of them with "local").  A
    cell's numbers depend on it (another summation order), so runs compare bit for bit only at the same
    value: set it (e.g. 1) to compare executors or worker counts."""
    workers: int = 0
    """Ray: worker processes of the local cluster started for the run, each held to its share of the
    cores (0: one per core); ignored with ``address``, whose cluster has its own."""
    address: str = ""
    """Ray: an existing cluster to run on (``ray://host:10001``, ``host:6379`` or ``auto``); empty: start
    a local one.  The output folder must be a path every worker sees (the cells' only shared state)."""


@dataclass(frozen=True)
class MitigateConfig:
    run: tuple[str, ...] = ()
    """Mitigations to try after the audit (``--mitigate NAME`` adds one): each retrains the model
    with ``train.mitigation = NAME`` (``data.preprocess = NAME`` for an input mitigation; ``"A+B"`` sets
    one of each) into ``<out>/mitigated/NAME/`` and writes compare.html there."""


@dataclass(frozen=True)
class Config:
    experiment: ExperimentConfig = ExperimentConfig()
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    cam: CamConfig = CamConfig()
    regions: RegionsConfig = RegionsConfig()
    scores: ScoresConfig = ScoresConfig()
    checks: ChecksConfig = ChecksConfig()
    verdict: VerdictConfig = VerdictConfig()
    report: ReportConfig = ReportConfig()
    compute: ComputeConfig = ComputeConfig()
    benchmark: BenchmarkConfig = BenchmarkConfig()
    mitigate: MitigateConfig = MitigateConfig()


_SECTIONS: dict[str, type] = typing.get_type_hints(Config)


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin is tuple:
        return f"list of {_type_name(typing.get_args(tp)[0])}"
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Return ``value`` checked against (and lightly converted to) type ``tp``."""
    origin = typing.get_origin(tp)
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise ConfigError(f"{where}: {value!r} is not {_type_name(tp)}")
        return value
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected {_type_name(tp)}, got {type(value).__name__} {value!r}")
        item_tp = typing.get_args(tp)[0]
        return tuple(_coerce(v, item_tp, where) for v in value)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected bool, got {type(value).__name__} {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected int, got {type(value).__name__} {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: expected float, got {type(value).__name__} {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected str, got {type(value).__name__} {value!r}")
        return value
    raise TypeError(f"unsupported config type {tp!r} at {where}")


def _moved_error(where: str, section: str, key: str, value: Any) -> ConfigError | None:
    """The one-line error for a key that an older brain-audit read from ``[data]`` (:data:`_MOVED`)."""
    if section != "data":
        return None
    if key == "artifacts" and isinstance(value, list | tuple):
        names = ", ".join(f"{a} = 0.5" for a in value[:2]) or "marker = 0.5"
        return ConfigError(f"{where}: data.artifacts is a table of tie strengths since 0.8 (it was a list plus "
                           f"<name>_p keys): write [data.artifacts] {names} ...")  # fmt: skip
    if key in _MOVED:
        new = _MOVED[key]
        table, _, name = new.rpartition(".")
        return ConfigError(f"{where}: data.{key} moved to {new} in 0.8: write it as [{table}] {name} = ...")
    return None


def _is_mapping(tp: Any) -> bool:
    return typing.get_origin(tp) in (Mapping, dict)


def _sub_tables(cls: type) -> dict[str, Any]:
    """Fields of ``cls`` that are TOML sub-tables: nested sections (dataclasses) and name -> value maps."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)
            if dataclasses.is_dataclass(hints[f.name]) or _is_mapping(hints[f.name])}  # fmt: skip


def _build_section(cls: type, table: Mapping[str, Any], source: str, section: str) -> Any:
    allowed = [f.name for f in dataclasses.fields(cls) if f.name != "params"]
    values: dict[str, Any] = {}
    params: dict[str, Mapping[str, Any]] = {}
    for key, value in table.items():
        where = f"{source}: {section}.{key}"
        if cls is ChecksConfig and isinstance(value, dict):
            # [checks.<name>] tables hold a check's parameters; validated by the check registry.
            params[key] = types.MappingProxyType(dict(value))
            continue
        moved = _moved_error(source, section, key, value)
        if moved is not None and (key not in allowed or not isinstance(value, dict)):
            raise moved
        tp = _key_type(cls, section, key, source)
        if dataclasses.is_dataclass(tp) or _is_mapping(tp):
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: expected a table ([{section}.{key}]), got {type(value).__name__}")
            if dataclasses.is_dataclass(tp):
                values[key] = _build_section(tp, value, source, f"{section}.{key}")
            else:
                item_tp = typing.get_args(tp)[1]
                values[key] = types.MappingProxyType(
                    {str(k): _coerce(v, item_tp, f"{where}.{k}") for k, v in value.items()}
                )
            continue
        values[key] = _coerce(value, tp, where)
    if cls is ChecksConfig:
        values["params"] = types.MappingProxyType(params)
    return cls(**values)


def _config_from_dict(raw: Mapping[str, Any], source: str) -> Config:
    sections: dict[str, Any] = {}
    for name, table in raw.items():
        if name not in _SECTIONS:
            raise ConfigError(f"{source}: unknown section '[{name}]'; allowed sections: {', '.join(_SECTIONS)}")
        if not isinstance(table, dict):
            raise ConfigError(f"{source}: '{name}' must be a table ([{name}]), got {type(table).__name__}")
        sections[name] = _build_section(_SECTIONS[name], table, source, name)
    return Config(**sections)


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Load an experiment file and apply ``section.key=value`` overrides.

    Parameters
    ----------
    path : path to a TOML experiment file.
    overrides : strings ``"section.key=value"``; ``value`` is read as a TOML value,
        and as a plain string when it is not one (``cam.layer=conv3``).

    Raises
    ------
    ConfigError
        Missing or unreadable file, TOML syntax error, unknown key, wrong type.
    """
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise ConfigError(f"{source}: experiment file not found")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: invalid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{source}: cannot read: {exc}") from None
    config = _config_from_dict(raw, source)
    if "name" not in raw.get("experiment", {}):
        config = dataclasses.replace(config, experiment=dataclasses.replace(config.experiment, name=path.stem))
    return apply_overrides(config, overrides)


def _parse_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(config: Config, overrides: list[str] | tuple[str, ...]) -> Config:
    """Return ``config`` with ``section.key=value`` (or ``section.table.key=value``, for a sub-table
    such as ``data.synthetic`` or a check's ``checks.<name>``) overrides applied and type-checked."""
    raw = config_to_dict(config)
    for item in overrides:
        where = f"--set {item}"
        if "=" not in item:
            raise ConfigError(f"{where}: expected section.key=value")
        dotted, text = item.split("=", 1)
        parts = dotted.strip().split(".")
        value = _parse_value(text.strip())
        if len(parts) not in (2, 3) or not all(parts):
            raise ConfigError(f"{where}: expected section.key=value or section.table.key=value")
        section = parts[0]
        if section not in _SECTIONS:
            raise ConfigError(f"{where}: unknown section '{section}'; allowed sections: {', '.join(_SECTIONS)}")
        cls = _SECTIONS[section]
        if len(parts) == 3 and section == "checks":
            raw["checks"].setdefault(parts[1], {})[parts[2]] = value
            continue
        moved = _moved_error(where, section, parts[1], value)
        if moved is not None and (len(parts) == 2 or parts[1] not in _sub_tables(cls)):
            raise moved
        table, tp = raw[section], _key_type(cls, section, parts[1], where)
        if len(parts) == 3:
            if not (dataclasses.is_dataclass(tp) or _is_mapping(tp)):
                subs = ", ".join(_sub_tables(cls)) or "(none)"
                raise ConfigError(f"{where}: '{section}.{parts[1]}' is not a table; tables in [{section}]: {subs}")
            table = table[parts[1]]
            tp = (_key_type(tp, f"{section}.{parts[1]}", parts[2], where) if dataclasses.is_dataclass(tp)
                  else typing.get_args(tp)[1])  # fmt: skip
        if not (dataclasses.is_dataclass(tp) or _is_mapping(tp)):
            value = _coerce(value, tp, where)
        table[parts[-1]] = value  # a whole table is checked key by key when the config is rebuilt
    return _config_from_dict(raw, "--set")


def _key_type(cls: type, section: str, key: str, where: str) -> Any:
    """The type of ``key`` in the section (or sub-table) class ``cls``; a one-line error when there is none."""
    allowed = [f.name for f in dataclasses.fields(cls) if f.name != "params"]
    if key not in allowed:
        raise ConfigError(f"{where}: unknown key '{section}.{key}'; allowed keys in [{section}]: {', '.join(allowed)}")
    return typing.get_type_hints(cls)[key]


def merge_sections(config: Config, sections: Mapping[str, Any], source: str = "config") -> Config:
    """``config`` with ``sections`` (``{"cam": {"method": "hirescam"}}``; sub-tables as nested dicts)
    laid over it key by key, checked like an experiment file."""
    raw = config_to_dict(config)
    for section, table in sections.items():
        if not isinstance(table, Mapping):
            raise ConfigError(f"{source}[{section!r}] must be a dict of keys, got {type(table).__name__}")
        _merge(raw.setdefault(section, {}), table)
    return _config_from_dict(raw, source)


def _merge(into: dict, table: Mapping) -> None:
    for key, value in table.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = dict(value) if isinstance(value, Mapping) else value


def config_to_dict(config: Any) -> dict[str, Any]:
    """Plain nested dict (lists for tuples; sub-tables, check params included, as dicts)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if f.name == "params":
            out.update({check: dict(params) for check, params in value.items()})
        elif dataclasses.is_dataclass(value):
            out[f.name] = config_to_dict(value)
        elif isinstance(value, Mapping):
            out[f.name] = dict(value)
        elif isinstance(value, tuple):
            out[f.name] = list(value)
        else:
            out[f.name] = value
    return out


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def config_to_toml(config: Config) -> str:
    """The fully resolved config as TOML text that :func:`load_config` reads back."""
    lines: list[str] = []
    for section, table in config_to_dict(config).items():
        lines.append(f"[{section}]")
        subtables = {k: v for k, v in table.items() if isinstance(v, dict)}
        for key, value in table.items():
            if key not in subtables:
                lines.append(f"{key} = {_toml_value(value)}")
        lines.append("")
        for name, sub in subtables.items():
            lines.append(f"[{section}.{name}]")
            lines.extend(f"{k} = {_toml_value(v)}" for k, v in sub.items())
            lines.append("")
    return "\n".join(lines)


def resolved_config_text(config: Config) -> str:
    """:func:`config_to_toml` under a header naming the brain-audit version that wrote it (a run's config.toml)."""
    from audit import __version__

    return f"# Resolved configuration written by brain-audit {__version__}\n" + config_to_toml(config)
