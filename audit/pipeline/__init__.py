"""The audit harness: stages data -> train -> predict -> cam -> regions -> scores -> panel -> checks -> report.

Each stage is a plain function ``stage_<name>(config, *inputs) -> output`` that can
be called and tested alone.  The harness adds the cache: a stage's output is
saved under ``<out>/cache/<stage>-<key>/``, where ``key`` hashes the config
values the stage depends on, the keys of its upstream stages, the package
version and the digest of the code the stage runs (:mod:`audit.sourcecode`).
Entries are written into a ``.partial-<pid>`` folder that is renamed into place
only when complete, so a run killed at any point (even ``kill -9``)
leaves no entry that a later run could mistake for a finished one; the next run
removes the leftovers and redoes only what is missing.

The report stage is never cached: it is cheap and writes the run's outputs
(``report.html``, ``results.json``, ``per_image.csv``, ``config.toml``) into ``<out>``.

Modules: :mod:`.stages` (the stage functions and the table of their inputs), :mod:`.outputs`
(what they return, saved and loaded next to its type), :mod:`.cache` (the keys and the cache
folder) and :mod:`.run` (the run loop); provenance and the results contract (with its builder)
are :mod:`audit.provenance` and :mod:`audit.results`.
"""

from audit.pipeline.cache import stage_keys
from audit.pipeline.run import RunResult, cached_outputs, report_input, run_pipeline
from audit.pipeline.stages import STAGE_ORDER, STAGES, StageSpec, validate_run

__all__ = [
    "STAGES",
    "STAGE_ORDER",
    "RunResult",
    "StageSpec",
    "cached_outputs",
    "report_input",
    "run_pipeline",
    "stage_keys",
    "validate_run",
]
