import sys
import textwrap

import pytest

from audit.checks import Check, CheckResult, available_checks, run_check, validate_params


class Boom(Check):
    name = "boom"
    params = {"sample": 8, "threshold": 0.5, "label": "x"}

    def run(self, ctx):
        raise RuntimeError("kaput")


class OtherProbe(Check):
    name = "shortcut_probe"  # a third-party check with a built-in's name


def test_a_raising_check_becomes_an_error_result():
    result = run_check(Boom, ctx=None)
    assert result.status == "error" and result.headline == "RuntimeError: kaput"
    assert "Traceback" in result.details and "kaput" in result.details


def test_params_are_validated():
    assert validate_params(Boom, {"sample": 4, "threshold": 1}) == {"sample": 4, "threshold": 1.0, "label": "x"}
    with pytest.raises(
        ValueError, match=r"\[checks\.boom\]: unknown parameter 'samples'; allowed: sample, threshold, label"
    ):
        validate_params(Boom, {"samples": 4})
    with pytest.raises(ValueError, match=r"'sample' must be int, got 'many'"):
        validate_params(Boom, {"sample": "many"})
    with pytest.raises(ValueError, match=r"'sample' must be int, got True"):
        validate_params(Boom, {"sample": True})


def test_status_is_validated():
    with pytest.raises(ValueError, match="status must be one of pass, warn, fail, skipped, error"):
        CheckResult("x", "ok", "h")


def test_local_plugin_module_is_discovered(tmp_path, monkeypatch):
    (tmp_path / "my_checks.py").write_text(
        textwrap.dedent("""
        from audit.checks import Check, CheckResult

        class Always(Check):
            name = "always_pass"
            title = "Always passes"

            def run(self, ctx):
                return CheckResult(self.name, "pass", "fine", metrics={"n": 1})
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    checks = available_checks(("my_checks",))
    assert "always_pass" in checks
    assert run_check(checks["always_pass"], None).status == "pass"
    sys.modules.pop("my_checks", None)
    with pytest.raises(ValueError, match="checks.plugins: cannot import 'nope_mod'"):
        available_checks(("nope_mod",))


def test_unknown_check_is_a_clear_error():
    from audit.config import Config, apply_overrides
    from audit.pipeline import validate_run

    cfg = apply_overrides(Config(), ['checks.run=["no_such_check"]'])
    with pytest.raises(ValueError, match="unknown check 'no_such_check'; available: "):
        validate_run(cfg)


def test_unknown_cam_method_is_a_clear_error_before_anything_runs():
    from audit.config import Config, apply_overrides
    from audit.pipeline import validate_run

    with pytest.raises(ValueError, match="cam.method: unknown CAM method 'gradcamm'; available: auto, gradcam, "):
        validate_run(apply_overrides(Config(), ['cam.method="gradcamm"']))
    with pytest.raises(ValueError, match="cam.panel: unknown CAM method 'auto'; available: gradcam, "):
        validate_run(apply_overrides(Config(), ['cam.panel=["gradcam", "auto"]']))


def test_example_plugin_package_is_found_through_its_entry_point(quick_copy, tmp_path, monkeypatch):
    import importlib
    import subprocess
    from pathlib import Path

    from audit.config import apply_overrides
    from audit.pipeline import run_pipeline

    example = Path(__file__).resolve().parent.parent / "examples" / "brain_audit_example"
    target = tmp_path / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--no-build-isolation",
         "--target", str(target), str(example)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    monkeypatch.syspath_prepend(str(target))
    importlib.invalidate_caches()
    assert "border_attention" in available_checks()
    cfg, out = quick_copy
    cfg = apply_overrides(cfg, ['checks.run=["border_attention"]', "checks.border_attention.border_px=6"])
    res = run_pipeline(cfg, out, only="report")
    (check,) = res.results["checks"]
    assert check["name"] == "border_attention" and check["status"] in ("pass", "warn"), check["headline"]
    assert 0 < check["metrics"]["mean_border_share"] <= 1
    sys.modules.pop("brain_audit_example", None)


def test_a_raising_plugin_is_reported_and_the_audit_completes(quick_copy, tmp_path, monkeypatch):
    from audit.config import apply_overrides
    from audit.pipeline import run_pipeline

    (tmp_path / "broken_checks.py").write_text(
        textwrap.dedent("""
        from audit.checks import Check

        class Broken(Check):
            name = "broken"
            title = "Always raises"

            def run(self, ctx):
                raise ZeroDivisionError("plugin bug")
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg, out = quick_copy
    cfg = apply_overrides(cfg, ['checks.plugins=["broken_checks"]', 'checks.run=["broken", "shortcut_probe"]'])
    res = run_pipeline(cfg, out)
    sys.modules.pop("broken_checks", None)
    broken, probe = res.results["checks"]
    assert broken["status"] == "error" and broken["headline"] == "ZeroDivisionError: plugin bug"
    assert probe["status"] in ("pass", "warn", "fail")  # the next check still ran
    html = (out / "report.html").read_text()
    assert "ZeroDivisionError: plugin bug" in html and "Traceback" in html


def _with_entry_points(monkeypatch, *extra: tuple[str, str]):
    """The installed entry points of brain_audit.checks plus ``extra`` (name, value) pairs."""
    from importlib.metadata import EntryPoint, entry_points

    import audit.checks.registry as registry

    eps = [*entry_points(group=registry.ENTRY_POINT_GROUP)]
    eps += [EntryPoint(name, value, registry.ENTRY_POINT_GROUP) for name, value in extra]
    monkeypatch.setattr(registry, "entry_points", lambda group: [e for e in eps if e.group == group])


def test_every_built_in_check_is_an_entry_point_of_our_package():
    import ast
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    declared = tomllib.loads((root / "pyproject.toml").read_text())["project"]["entry-points"]["brain_audit.checks"]
    defined = {}
    for f in sorted((root / "audit" / "checks").glob("*.py")):
        for node in ast.parse(f.read_text()).body:
            if isinstance(node, ast.ClassDef):
                names = [
                    s.value.value
                    for s in node.body
                    if isinstance(s, ast.Assign)
                    and [getattr(t, "id", "") for t in s.targets] == ["name"]
                    and isinstance(s.value, ast.Constant)
                ]
                if names and names[0]:
                    defined[names[0]] = f"audit.checks.{f.stem}:{node.name}"
    assert declared == defined
    assert set(available_checks()) >= set(defined)  # the installed metadata is current


def test_two_checks_of_one_name_are_an_error(monkeypatch, tmp_path):
    _with_entry_points(monkeypatch, ("shortcut_probe", "tests.test_checks:OtherProbe"))
    with pytest.raises(ValueError, match="two checks are named 'shortcut_probe': audit.checks.shortcut_probe"):
        available_checks()
    monkeypatch.undo()
    (tmp_path / "clash_checks.py").write_text(
        "from audit.checks import Check\n\nclass Mine(Check):\n    name = 'faithfulness'\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ValueError, match="two checks are named 'faithfulness'"):
        available_checks(("clash_checks",))
    sys.modules.pop("clash_checks", None)
    # Importing a built-in into a local module is not a second definition.
    (tmp_path / "reuse_checks.py").write_text("from audit.checks.faithfulness import Faithfulness\n")
    assert available_checks(("reuse_checks",))["faithfulness"].__module__ == "audit.checks.faithfulness"
    sys.modules.pop("reuse_checks", None)


def test_a_plugin_that_fails_to_load_becomes_an_error_result(monkeypatch):
    _with_entry_points(monkeypatch, ("gone", "no_such_package.checks:Gone"), ("not_a_check", "os.path:join"))
    checks = available_checks()
    assert "artifact_reliance" in checks  # the others still load
    for name, why in (("gone", "ModuleNotFoundError: No module named 'no_such_package'"),
                      ("not_a_check", "TypeError: os.path:join is not a Check subclass")):  # fmt: skip
        assert validate_params(checks[name], {"any": 1}) == {"any": 1}
        result = run_check(checks[name], None)
        assert (result.name, result.status) == (name, "error")
        assert why in result.headline and "failed to load" in result.headline and "Traceback" in result.details


def test_built_ins_not_registered_is_a_clear_error(monkeypatch):
    import audit.checks.registry as registry

    monkeypatch.setattr(registry, "entry_points", lambda group: [])
    with pytest.raises(ValueError, match=r"built-in checks are not registered .*`pip install -e \.`"):
        available_checks()


def test_a_result_takes_its_name_from_its_check():
    class Keywords(Check):
        name = "keywords_only"

        def run(self, ctx):
            return CheckResult(status="pass", headline="fine", metrics={"n": 1})

    result = run_check(Keywords, None)
    assert (result.name, result.status, result.metrics) == ("keywords_only", "pass", {"n": 1})
    assert run_check(Boom, None).name == "boom"
    with pytest.raises(ValueError, match="status and headline go by keyword"):
        CheckResult("pass", "fine")
    with pytest.raises(ValueError, match="CheckResult needs a status"):
        CheckResult(headline="fine")


def test_the_context_samples_without_replacement_and_encodes_figures():
    from types import SimpleNamespace

    import numpy as np

    from audit.checks import CheckContext

    def ctx(seed):
        n = 10
        return CheckContext(
            images=np.arange(n * 4, dtype=np.uint8).reshape(n, 2, 2, 1), labels=np.zeros(n, int), regions=None,
            class_names=("a", "b"), model=None, proba=np.zeros((n, 2)), cams=SimpleNamespace(targets=np.arange(n)),
            cam_engine=None, per_image=None, config=None, params={}, rng=np.random.default_rng(seed),
        )  # fmt: skip

    idx, x, targets = ctx(0).sample(4)
    assert len(set(idx)) == 4 and list(idx) == sorted(idx) and x.dtype == np.float32
    assert list(targets) == list(idx) and np.array_equal(x[:, 0, 0, 0], idx * 4)
    assert list(ctx(0).sample(4)[0]) == list(idx)  # seeded
    assert list(ctx(1).sample(99)[0]) == list(range(10))  # all when fewer
    from audit.report.encoding import pyplot

    fig = pyplot().figure()
    assert CheckContext.figure_png(fig)[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_check_whose_needs_are_not_met_is_skipped_with_the_reason():
    import numpy as np

    from audit.checks import Check, CheckContext, CheckResult, run_check

    class NeedsMasks(Check):
        name = "needs_masks"
        needs = ("masks", "two_classes")

        def run(self, ctx):
            return CheckResult(status="pass", headline="ran")

    class NeedsNonsense(NeedsMasks):
        name = "needs_nonsense"
        needs = ("a_gpu",)

    def ctx(regions, labels):
        return CheckContext(images=np.zeros((2, 8, 8, 1)), labels=np.asarray(labels), regions=regions,
                            class_names=("a", "b"), model=None, proba=None, cams=None, cam_engine=None,
                            per_image=None, config=None, params={}, rng=np.random.default_rng(0))  # fmt: skip

    masks = np.zeros((2, 8, 8), np.int8)
    assert run_check(NeedsMasks, ctx(masks, [0, 1])).status == "pass"
    skipped = run_check(NeedsMasks, ctx(None, [0, 0]))
    assert skipped.status == "skipped" and skipped.name == "needs_masks"
    assert skipped.headline == (
        "needs region masks for the test images (ctx.regions); at least two classes in the test set"
    )
    broken = run_check(NeedsNonsense, ctx(masks, [0, 1]))
    assert broken.status == "error" and "unknown need 'a_gpu'" in broken.headline
