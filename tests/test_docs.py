"""Every Python example in README.md and docs/ runs, and the README's check does what it says."""

import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from audit.checks import CheckContext, run_check

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S)


def run_block(path: Path, k: int) -> dict:
    namespace: dict = {"__name__": f"doc_example_{path.stem}_{k}"}
    exec(compile(python_blocks(path)[k], f"{path.name} example {k + 1}", "exec"), namespace)
    return namespace


EXAMPLES = [(p, k) for p in PAGES for k in range(len(python_blocks(p)))]


def test_the_readme_has_an_example():
    assert any(p.name == "README.md" for p, _ in EXAMPLES)


@pytest.mark.parametrize(("path", "k"), EXAMPLES, ids=[f"{p.name}-{k + 1}" for p, k in EXAMPLES])
def test_every_python_example_runs(path, k):
    run_block(path, k)


def test_the_readme_check_warns_on_border_attention_and_passes_without():
    blocks = python_blocks(ROOT / "README.md")
    k = next(k for k, block in enumerate(blocks) if "class BorderAttention" in block)
    check = run_block(ROOT / "README.md", k)["BorderAttention"]
    n, size = 4, 32
    border = np.zeros((n, size, size), np.float32)
    border[:, :4, :] = 1.0  # every map's energy on the top 4 rows
    centre = np.zeros((n, size, size), np.float32)
    centre[:, 12:20, 12:20] = 1.0

    def ctx(maps):
        return CheckContext(
            images=np.zeros((n, size, size, 1), np.float32), labels=np.zeros(n, int), regions=None,
            class_names=("healthy", "tumor"), model=None, proba=np.full((n, 2), 0.5),
            cams=SimpleNamespace(maps=maps, grid=None), cam_engine=None, per_image=None, config=None,
            params={}, rng=np.random.default_rng(0),
        )  # fmt: skip

    on_border = run_check(check, ctx(border))
    assert (on_border.name, on_border.status) == ("border_attention", "warn"), on_border.headline
    assert on_border.metrics["border_share"] == pytest.approx(1.0)
    inside = run_check(check, ctx(centre))
    assert inside.status == "pass" and inside.metrics["border_share"] == pytest.approx(0.0)


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_relative_link_and_picture_exists(page):
    text = page.read_text(encoding="utf-8")
    targets = [t.split("#")[0] for t in re.findall(r"\]\(([^)\s]+)\)", text)]
    missing = [t for t in targets if t and "://" not in t and not (page.parent / t).exists()]
    assert missing == []


def test_the_readme_stays_short():
    assert len((ROOT / "README.md").read_text(encoding="utf-8").encode()) <= 12 * 1024


def test_the_results_reference_is_generated_from_the_schema():
    from audit.results import SCHEMA, schema_markdown

    text = (ROOT / "docs" / "outputs.md").read_text()
    begin, end = "<!-- schema:begin -->\n", "<!-- schema:end -->"
    assert text.split(begin, 1)[1].split(end, 1)[0] == schema_markdown(), (
        "docs/outputs.md is stale: run python -m audit.results --write docs/outputs.md"
    )
    assert "| `verdict.evidence.attention.lead` | string |" in text and "A *check*:" in text
    assert set(SCHEMA) <= {row.split("`")[1].split(".")[0] for row in schema_markdown().splitlines() if "`" in row}


def test_a_results_file_missing_a_documented_key_is_refused(quick_run):
    import copy

    from audit.results import validate_results

    _, _, run = quick_run
    assert validate_results(run.results) == []
    broken = copy.deepcopy(run.results)
    del broken["verdict"]["evidence"]["attention"]["lead"]
    check = {"name": "x", "status": "pass", "evidence": "other", "headline": "", "metrics": {}, "details": ""}
    broken["checks"] = [{**check, "seconds": "slow"}]
    assert validate_results(broken) == [
        "verdict.evidence.attention.lead: missing",
        "checks[0].seconds: expected int or float, got str",
    ]
