from pathlib import Path

import pytest

from audit.config import Config, ConfigError, apply_overrides, config_to_toml, load_config

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "exp.toml"
    p.write_text(text)
    return p


def test_every_shipped_experiment_loads():
    files = sorted((ROOT / "experiments").glob("*.toml"))
    assert {"default.toml", "quick.toml"} <= {f.name for f in files}
    for f in files:
        assert isinstance(load_config(f), Config)


def test_name_defaults_to_file_stem(tmp_path):
    assert load_config(write(tmp_path, "[data]\nimage_size = 40\n")).experiment.name == "exp"


def test_unknown_key_names_file_key_and_allowed_keys(tmp_path):
    p = write(tmp_path, "[data]\nn_imgs = 10\n")
    expected = (
        r"exp\.toml: unknown key 'data\.n_imgs'; allowed keys in \[data\]: source, path, image_size, resize, class_map"
    )
    with pytest.raises(ConfigError, match=expected) as e:
        load_config(p)
    assert "\n" not in str(e.value)


def test_unknown_section(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown section '\[trian\]'; allowed sections: experiment, data, model"):
        load_config(write(tmp_path, "[trian]\nepochs = 1\n"))


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('[train]\nepochs = "ten"\n', r"train\.epochs: expected int, got str 'ten'"),
        ("[train]\nepochs = 2.5\n", r"train\.epochs: expected int, got float"),
        ("[train]\nepochs = true\n", r"train\.epochs: expected int, got bool"),
        ('[train]\nlearning_rate = "fast"\n', r"train\.learning_rate: expected float"),
        ('[checks]\nrun = "x"\n', r"checks\.run: expected list of str"),
        ("[checks]\nrun = [1]\n", r"checks\.run: expected str, got int"),
        ("data = 3\n", r"'data' must be a table"),
    ],
)
def test_wrong_types_are_one_line_errors(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match):
        load_config(write(tmp_path, text))


def test_int_is_accepted_for_float(tmp_path):
    assert load_config(write(tmp_path, "[train]\nlearning_rate = 1\n")).train.learning_rate == 1.0


def test_missing_file_and_bad_toml(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.toml: experiment file not found"):
        load_config(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match=r"exp\.toml: invalid TOML"):
        load_config(write(tmp_path, "[data\n"))


def test_overrides_are_applied_and_type_checked(tmp_path):
    p = write(tmp_path, "[train]\nepochs = 5\n")
    cfg = load_config(
        p,
        ["train.epochs=2", "cam.layer=conv2", 'experiment.name="x y"', "train.learning_rate=0.01", 'checks.run=["a"]'],
    )
    assert (cfg.train.epochs, cfg.cam.layer, cfg.experiment.name, cfg.train.learning_rate) == (2, "conv2", "x y", 0.01)
    assert cfg.checks.run == ("a",)
    with pytest.raises(ConfigError, match=r"^--set train\.epochs=many: expected int, got str 'many'$"):
        load_config(p, ["train.epochs=many"])
    with pytest.raises(ConfigError, match=r"unknown key 'train\.epoch'"):
        load_config(p, ["train.epoch=3"])
    with pytest.raises(ConfigError, match=r"--set train: expected section\.key=value"):
        load_config(p, ["train"])
    with pytest.raises(ConfigError, match=r"unknown section 'nope'"):
        load_config(p, ["nope.x=1"])


def test_check_parameter_tables(tmp_path):
    cfg = load_config(write(tmp_path, '[checks]\nrun = ["a"]\n[checks.a]\nsample = 8\n'), ["checks.a.sample=4"])
    assert dict(cfg.checks.params["a"]) == {"sample": 4}


def test_resolved_config_round_trips(tmp_path):
    cfg = load_config(ROOT / "experiments" / "default.toml", ['experiment.name="we\\"ird"', "checks.x.k=1.5"])
    p = tmp_path / "resolved.toml"
    p.write_text(config_to_toml(cfg))
    assert load_config(p) == cfg


def test_config_is_frozen():
    cfg = Config()
    with pytest.raises(AttributeError):
        cfg.train.epochs = 3  # type: ignore[misc]
    assert apply_overrides(cfg, []) == cfg


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[data]\nn_images = 2000\n", r"data\.n_images moved to data\.synthetic\.n_images in 0\.8: write it as "
         r"\[data\.synthetic\] n_images = \.\.\."),
        ('[data]\nmodality = "t1"\n', r"data\.modality moved to data\.nifti\.modality"),
        ("[data]\nmarker_p = 0.5\n", r"data\.marker_p moved to data\.artifacts\.marker in 0\.8: write it as "
         r"\[data\.artifacts\] marker = \.\.\."),
        ('[data]\nartifacts = ["marker", "zoom"]\n', r"data\.artifacts is a table of tie strengths since 0\.8 .*"
         r"\[data\.artifacts\] marker = 0\.5, zoom = 0\.5"),
    ],
)  # fmt: skip
def test_files_of_before_the_data_tables_get_a_one_line_rename_error(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match) as info:
        load_config(write(tmp_path, text))
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match="moved to|table of tie strengths"):  # the same through --set
        key, _, value = text.split("\n")[1].partition(" = ")
        load_config(write(tmp_path, ""), [f"data.{key}={value}"])


def test_data_sub_tables_round_trip_and_are_reached_by_set(tmp_path):
    from audit.config import config_to_toml

    text = (
        '[data]\nimage_size = 64\n\n[data.synthetic]\nn_images = 50\nanatomy = "colin27"\n\n'
        "[data.artifacts]\nmarker = 0.5\nghost = 0.0\n\n[data.nifti]\nslice_step = 2\n"
    )
    cfg = load_config(write(tmp_path, text))
    d = cfg.data
    assert (d.image_size, d.synthetic.n_images, d.synthetic.anatomy, d.nifti.slice_step) == (64, 50, "colin27", 2)
    assert list(d.artifacts.items()) == [("marker", 0.5), ("ghost", 0.0)]  # order kept: it seeds the draws
    again = load_config(write(tmp_path, config_to_toml(cfg)))
    assert again == cfg or config_to_toml(again) == config_to_toml(cfg)
    cfg = load_config(
        write(tmp_path, text),
        ["data.synthetic.n_images=80", "data.artifacts.zoom=1", "data.nifti.modality=t2", "data.image_size=32"],
    )
    assert (cfg.data.synthetic.n_images, cfg.data.nifti.modality, cfg.data.image_size) == (80, "t2", 32)
    assert dict(cfg.data.artifacts) == {"marker": 0.5, "ghost": 0.0, "zoom": 1.0}
    assert dict(load_config(write(tmp_path, text), ["data.artifacts={noise = 0.25}"]).data.artifacts) == {"noise": 0.25}
    for bad, match in [
        ("data.synthetic.n_imagez=3", r"unknown key 'data\.synthetic\.n_imagez'; allowed keys in \[data\.synthetic\]"),
        ('data.artifacts.marker="strong"', r"--set data\.artifacts\.marker=\"strong\": expected float"),
        ("data.image_size.x=3", r"'data\.image_size' is not a table; tables in \[data\]: synthetic, nifti, artifacts"),
        ("data.synthetic=3", r"data\.synthetic: expected a table"),
    ]:
        with pytest.raises(ConfigError, match=match):
            load_config(write(tmp_path, text), [bad])
