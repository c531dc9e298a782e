"""Figures from one source: the READMEs equal what scripts/figures.py renders from
docs/figures/*.json, and that JSON (and the aot footprint table) was measured with the
kernel library in this tree. A failure here is for developers: re-measure and commit
(the messages say how); users never see it."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import yaml

from tinyml.check import kernel_sources_sha256
from tinyml.runtimes.tflm.pins import DEFAULT_REF

ROOT = Path(__file__).resolve().parents[2]
FIGURES = ROOT / "docs" / "figures"


def _figures_module():
    spec = importlib.util.spec_from_file_location("figures", ROOT / "scripts" / "figures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _blocks() -> list[tuple[Path, str]]:
    fig = _figures_module()
    return [(p, m["name"]) for p in fig.TARGETS for m in fig.BLOCK.finditer(p.read_text())]


def test_every_readme_block_equals_its_json():
    fig = _figures_module()
    stale = [str(p.relative_to(ROOT)) for p in fig.stale_files()]
    assert not stale, (f"{', '.join(stale)} disagree with docs/figures/*.json: run `python scripts/figures.py write` "
                       "(or re-measure first; see the script's docstring)")


def test_the_readmes_carry_the_blocks():
    names = {name for _, name in _blocks()}
    assert {"runtime-table", "runtime-summary", "mlperf-tiny", "example-digits", "example-fashion",
            "example-gestures", "example-kws"} <= names


# The summaries scripts/figures.py renders (docs/figures/ also holds other tools' JSON, e.g.
# bench/renode_boards.py's renode-boards.json, which its own test holds to its README table).
OWNED = [p for p in sorted(FIGURES.glob("*.json")) if p.name.startswith(("bench-", "example-", "mlperf-tiny"))]


def test_the_summaries_are_there():
    assert {p.name for p in OWNED} >= {"bench-mps2-an386.json", "mlperf-tiny.json", "example-digits.json",
                                       "example-fashion.json", "example-gestures.json", "example-kws.json"}


@pytest.mark.parametrize("path", OWNED, ids=lambda p: p.name)
def test_committed_figures_were_measured_with_this_kernel_library(path):
    data = json.loads(path.read_text())
    assert data["kernel_sources_sha256"] == kernel_sources_sha256(), (
        f"docs/figures/{path.name} was measured with another aot kernel library: re-run its measurement "
        f"(`{data.get('command')}`), then `python scripts/figures.py collect-...` and `write`")
    if any(r.get("runtime") == "tflm" for r in data.get("rows", [])):
        assert data.get("tflm_ref") == DEFAULT_REF, f"docs/figures/{path.name}: TFLite Micro rows from another ref"


def test_a_changed_json_makes_the_readme_stale(tmp_path, monkeypatch):
    fig = _figures_module()
    shadow = tmp_path / "figures"
    shadow.mkdir()
    for p in OWNED:
        (shadow / p.name).write_text(p.read_text())
    bench = json.loads((shadow / "bench-mps2-an386.json").read_text())
    next(r for r in bench["rows"] if r["status"] == "ok")["per_inference"] += 1
    (shadow / "bench-mps2-an386.json").write_text(json.dumps(bench))
    monkeypatch.setattr(fig, "FIGURES", shadow)
    assert ROOT / "README.md" in fig.stale_files()


def test_footprint_tables_were_measured_with_this_kernel_library():
    table = yaml.safe_load((ROOT / "firmware_templates" / "aot" / "footprint.yaml").read_text())
    assert table["kernel_sources_sha256"] == kernel_sources_sha256(), (
        "firmware_templates/aot/footprint.yaml was measured from another version of the kernel library: "
        "run `.venv/bin/python bench/measure_footprint.py` and commit both footprint tables")
