"""Command line: user errors, --help, --fail-on exit codes, escaping in the report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from audit.cli import EXIT_FAIL_ON, EXIT_USER_ERROR, main

ROOT = Path(__file__).resolve().parent.parent
QUICK = str(ROOT / "experiments" / "quick.toml")


def test_help_explains_every_option():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "run_audit.py"), "--help"], capture_output=True, text=True, cwd=ROOT, check=True
    )
    for option in ("--set", "--out", "--fresh", "--only", "--fail-on", "--debug", "experiment"):
        assert option in proc.stdout


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["missing.toml"], "brain-audit: error: missing.toml: experiment file not found"),
        (
            [QUICK, "--set", "train.epoch=2"],
            "brain-audit: error: --set train.epoch=2: unknown key 'train.epoch'; allowed keys in [train]: ",
        ),
        (
            [QUICK, "--set", "train.epochs=lots"],
            "brain-audit: error: --set train.epochs=lots: expected int, got str 'lots'",
        ),
        ([QUICK, "--set", 'checks.run=["nope"]'], "brain-audit: error: unknown check 'nope'; available: "),
    ],
)
def test_user_errors_are_one_line_without_traceback(argv, message, capsys, tmp_path):
    assert main([*argv, "--out", str(tmp_path)]) == EXIT_USER_ERROR
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(message), err
    assert "Traceback" not in "\n".join(err)


def test_debug_shows_the_traceback(capsys, tmp_path):
    assert main(["missing.toml", "--debug", "--out", str(tmp_path)]) == EXIT_USER_ERROR
    assert "Traceback" in capsys.readouterr().err


# Verdict thresholds only affect the report, so these runs reuse the quick run's cache.
FORCE = {
    "anatomy": ["verdict.anatomy_min=0.0", "verdict.artifact_max=-1.0", "verdict.off_target_share_max=1.0",
                "verdict.off_target_share_artifact=1.0", "verdict.min_balanced_accuracy=0.0",
                "verdict.uninformative_share=1.0"],
    "mixed": ["verdict.anatomy_min=1.1", "verdict.artifact_max=-1.0", "verdict.off_target_share_artifact=1.0",
              "verdict.pointing_min=1.1", "verdict.min_balanced_accuracy=0.0", "verdict.uninformative_share=1.0"],
    "artifact": ["verdict.artifact_max=1.0", "verdict.min_balanced_accuracy=0.0", "verdict.uninformative_share=1.0"],
}  # fmt: skip


@pytest.mark.parametrize(
    ("verdict", "fail_on", "code"),
    [
        ("anatomy", "mixed", 0),
        ("anatomy", "artifact", 0),
        ("mixed", "mixed", EXIT_FAIL_ON),
        ("mixed", "artifact", 0),
        ("artifact", "mixed", EXIT_FAIL_ON),
        ("artifact", "artifact", EXIT_FAIL_ON),
    ],
)
def test_fail_on_exit_codes(quick_copy, verdict, fail_on, code):
    _, out = quick_copy
    argv = [QUICK, "--out", str(out), "--fail-on", fail_on]
    for s in FORCE[verdict]:
        argv += ["--set", s]
    assert main(argv) == code
    assert json.loads((out / "results.json").read_text())["verdict"]["label"] == verdict


def test_strings_from_config_are_escaped_in_the_report(quick_copy):
    _, out = quick_copy
    evil = "<script>alert(1)</script>"
    assert main([QUICK, "--out", str(out), "--set", f'experiment.name="{evil}"']) == 0
    html = (out / "report.html").read_text()
    assert evil not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
