import sys
import textwrap

import pytest

from audit.checks import Check, CheckResult, available_checks, run_check, validate_params


class Boom(Check):
    name = "boom"
    params = {"sample": 8, "threshold": 0.5, "label": "x"}

    def run(self, ctx):
        raise RuntimeError("kaput")


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
    from audit.pipeline import validate_checks

    cfg = apply_overrides(Config(), ['checks.run=["no_such_check"]'])
    with pytest.raises(ValueError, match="unknown check 'no_such_check'; available: "):
        validate_checks(cfg)


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
