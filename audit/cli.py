"""Command line: ``python run_audit.py [EXPERIMENT.toml] [options]`` or ``brain-audit``.

Exit codes: 0 success; 2 a user error (a bad path, key or value: a :class:`~audit.config.ConfigError`,
a missing file, or a ``ValueError`` raised by this package's own checks of its inputs, whose messages
are written for the user); 3 the verdict reached ``--fail-on``; 1 an internal error (anything else,
including a ``ValueError`` from inside NumPy, scikit-image or TensorFlow: a bug of ours, not the user's
mistake), one line unless ``--debug`` prints the traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from pathlib import Path

from audit.verdict import VERDICT_LABELS

__all__ = ["EXIT_FAIL_ON", "EXIT_USER_ERROR", "is_user_error", "main"]

DEFAULT_EXPERIMENT = "experiments/default.toml"
EXIT_USER_ERROR = 2
EXIT_FAIL_ON = 3
_SEVERITY = {label: k for k, label in enumerate(VERDICT_LABELS)}
_PACKAGE = Path(__file__).resolve().parent


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="brain-audit",
        description="Audit where a brain-MRI classifier looks: train (or load) it, compute CAMs for the "
        "whole test set, score them against region masks, run sanity checks, write an HTML report.",
        epilog=f"Exit codes: 0 success; {EXIT_USER_ERROR} user error (bad path, key or value); "
        f"{EXIT_FAIL_ON} the verdict reached the --fail-on level; 1 internal error.",
    )
    p.add_argument(
        "experiment",
        nargs="?",
        default=DEFAULT_EXPERIMENT,
        help=f"experiment TOML file (default: {DEFAULT_EXPERIMENT})",
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one config key, type-checked; VALUE is a TOML value (repeatable), "
        "e.g. --set train.epochs=3 --set cam.layer=conv3",
    )
    p.add_argument("--out", type=Path, default=None, help="output folder (default: reports/<experiment name>/)")
    p.add_argument(
        "--fresh",
        action="store_true",
        help="recompute the selected stages even if cached (with --only: that stage alone)",
    )
    p.add_argument(
        "--only",
        metavar="STAGE",
        help="run this stage (and whatever upstream stages it needs) and stop; "
        "stages: data, train, predict, cam, regions, scores, checks, report",
    )
    p.add_argument(
        "--fail-on",
        choices=list(reversed(VERDICT_LABELS[1:])),
        help=f"exit with code {EXIT_FAIL_ON} if the verdict is this or worse "
        "(mixed: mixed or artifact), to gate a CI pipeline",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="benchmark mode only (an experiment with [benchmark] artifacts): a small matrix in a few minutes "
        "(marker and site at p = 0 and 1, two methods, 300 phantoms of 64 px), into reports/<name>-quick/",
    )
    p.add_argument(
        "--executor",
        choices=["local", "ray"],
        help="benchmark mode: run the cells here one after another (local), or each as a Ray task (ray; "
        "pip install 'brain-audit[ray]') ([benchmark] executor)",
    )
    p.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="benchmark mode with --executor ray: worker processes of the local Ray cluster, each held to its "
        "share of the cores (default: one per core) ([benchmark] workers)",
    )
    p.add_argument(
        "--address",
        metavar="ADDR",
        help="benchmark mode with --executor ray: run on this existing Ray cluster (e.g. auto, host:6379, "
        "ray://host:10001) ([benchmark] address); --out must be a folder every worker sees",
    )
    p.add_argument(
        "--mitigate",
        metavar="NAME",
        action="append",
        default=[],
        help="after the audit, retrain with this mitigation (same seed, data and budget), audit that model into "
        "<out>/mitigated/NAME/ and compare the two (compare.html there); INPUT+TRAINING joins an input and a "
        "training mitigation (brain_crop+cut_augmentation); repeatable",
    )
    p.add_argument("--pdf", action="store_true", help="also write report.pdf through headless Chromium ([report] pdf)")
    p.add_argument("--debug", action="store_true", help="show full tracebacks for errors, and TensorFlow's own C++ log")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["compare"]:
        return _compare(argv[1:])
    args = build_parser().parse_args(argv)
    if args.debug and "tensorflow" not in sys.modules:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"  # TensorFlow's C++ log, hidden otherwise (audit/__init__.py)
    from audit.progress import import_tensorflow_quietly

    import_tensorflow_quietly()
    try:
        from audit.config import ConfigError, load_config

        given = {"executor": args.executor, "workers": args.workers, "address": args.address}
        scale = [f"benchmark.{k}={json.dumps(v)}" for k, v in given.items() if v is not None]
        try:
            cfg = load_config(args.experiment, [*args.overrides, *(["report.pdf=true"] if args.pdf else []), *scale])
        except ConfigError as exc:
            return _user_error(str(exc), args.debug)
        if cfg.benchmark.artifacts or args.quick:
            return _benchmark(cfg, args)
        if scale:
            return _user_error("--executor, --workers and --address apply to a benchmark, not to an audit", args.debug)
        out = args.out or Path("reports") / cfg.experiment.name
        from audit.pipeline import run_pipeline

        try:
            result = run_pipeline(cfg, out, fresh=args.fresh, only=args.only)
            for name in dict.fromkeys([*cfg.mitigate.run, *args.mitigate]):
                _mitigate(cfg, out, name)
        except (ValueError, FileNotFoundError) as exc:
            if not is_user_error(exc):
                raise
            return _user_error(str(exc), args.debug)
    except KeyboardInterrupt:
        print("brain-audit: interrupted; completed stages stay cached", file=sys.stderr)
        return 130
    except Exception as exc:  # an internal error: one line unless --debug
        if args.debug:
            traceback.print_exc()
        else:
            print(
                f"brain-audit: internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)",
                file=sys.stderr,
            )
        return 1
    if args.fail_on and result.verdict and _SEVERITY[result.verdict] >= _SEVERITY[args.fail_on]:
        print(f"brain-audit: verdict '{result.verdict}' reaches --fail-on {args.fail_on}", file=sys.stderr)
        return EXIT_FAIL_ON
    return 0


def _mitigate(cfg, out: Path, name: str) -> None:
    """The experiment retrained with mitigation ``name`` into ``out/mitigated/<name>/`` (sharing the
    base run's data, seed and budget), then compared with it (``compare.html`` there)."""
    import dataclasses

    from audit.compare import compare
    from audit.mitigations import with_mitigation
    from audit.pipeline import run_pipeline
    from audit.progress import say

    renamed = dataclasses.replace(
        cfg, experiment=dataclasses.replace(cfg.experiment, name=f"{cfg.experiment.name}-{name}")
    )
    mitigated = with_mitigation(renamed, name)
    folder = Path(out) / "mitigated" / name
    run_pipeline(mitigated, folder)
    say(f"[compare] {compare(out, folder)}")


def _compare(argv: list[str]) -> int:
    """``brain-audit compare RUN_A RUN_B [--out DIR]``: compare.html for two finished audits."""
    p = argparse.ArgumentParser(prog="brain-audit compare", description=_compare.__doc__)
    p.add_argument("run_a", type=Path, help="the run before (e.g. the audit without mitigation)")
    p.add_argument("run_b", type=Path, help="the run after")
    p.add_argument("--out", type=Path, default=None, help="folder for compare.html (default: RUN_B)")
    args = p.parse_args(argv)
    from audit.compare import compare

    try:
        print(compare(args.run_a, args.run_b, args.out))
    except (ValueError, FileNotFoundError) as exc:
        return _user_error(str(exc), False)
    return 0


def _benchmark(cfg, args) -> int:
    """Benchmark mode (:mod:`audit.benchmark`); exceptions other than user errors go to ``main``."""
    from audit.benchmark import quick_config, run_benchmark

    if not cfg.benchmark.artifacts:
        return _user_error("--quick runs a benchmark: the experiment needs [benchmark] artifacts", args.debug)
    if args.only or args.fresh or args.fail_on:
        return _user_error("--only, --fresh and --fail-on apply to an audit, not to a benchmark", args.debug)
    if args.quick:
        cfg = quick_config(cfg)
    try:
        run_benchmark(cfg, args.out or Path("reports") / cfg.experiment.name)
    except (ValueError, FileNotFoundError) as exc:
        if not is_user_error(exc):
            raise
        return _user_error(str(exc), args.debug)
    return 0


def is_user_error(exc: BaseException) -> bool:
    """A FileNotFoundError, or a ValueError raised by a ``raise`` in this package's code (the
    innermost frame of its traceback lies under ``audit/``): those check the user's inputs and say
    what to fix.  A ValueError raised inside a library is an internal error."""
    if isinstance(exc, FileNotFoundError):
        return True
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and Path(tb.tb_frame.f_code.co_filename).resolve().is_relative_to(_PACKAGE)


def _user_error(message: str, debug: bool) -> int:
    if debug:
        traceback.print_exc()
    print(f"brain-audit: error: {message}", file=sys.stderr)
    return EXIT_USER_ERROR
