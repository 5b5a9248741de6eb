"""The example notebook runs top to bottom (nbclient + ipykernel, offline), so it cannot rot."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "examples" / "audit_a_keras_model.ipynb"


def test_the_example_notebook_runs_and_shows_the_audit_inline(tmp_path):
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    inline = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {}) and "ba-summary" in
              o["data"]["text/html"]]  # fmt: skip
    assert len(inline) == 1 and "Verdict: " in inline[0] and "<svg" in inline[0] and "artifact_reliance" in inline[0]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 3  # the gallery strips
    printed = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "full report: " in printed and "report.html" in printed
