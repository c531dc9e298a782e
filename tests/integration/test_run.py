"""`tinyml run` end to end on a small digits project."""

import json
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.needs_toolchain, pytest.mark.needs_qemu]

PROJECT = """
name: tiny
build_dir: {build}
model: {{zoo: digits_cnn, epochs: 8}}
dataset: {{kind: digits}}
optimize: {{prune: {{sparsity: 0.5, fine_tune_epochs: 1}}}}
boards: [mps2-an386]
runtime: aot
emulate: {{boards: [mps2-an386], samples: 12}}
thresholds: {{min_agreement: 1.0, max_latency_ms: {latency}}}
"""


def _run(tmp_path, latency):
    path = tmp_path / "tinyml.yaml"
    path.write_text(PROJECT.format(build=tmp_path / "b", latency=latency))
    return subprocess.run([sys.executable, "-m", "tinyml", "run", str(path), "--json"],
                          capture_output=True, text=True, timeout=900)


def test_run_end_to_end_then_skips_then_gates(tmp_path):
    first = _run(tmp_path, 1000)
    assert first.returncode == 0, first.stderr
    out = json.loads(first.stdout)
    assert out["passed"] and not any(s["skipped"] for s in out["stages"])
    emu = json.loads((tmp_path / "b" / "emulate" / "mps2-an386-qemu.json").read_text())
    assert emu["agreement"]["matching"] == emu["agreement"]["total"] == 12
    assert emu["accuracy"]["device"] == emu["accuracy"]["host_int8"]
    assert (tmp_path / "b" / "report" / "report.html").exists()
    assert (tmp_path / "b" / "firmware" / "mps2-an386-aot" / "build" / "firmware.elf").exists()
    # each stage's wall time, in the JSON and in <build>/run.json
    record = json.loads((tmp_path / "b" / "run.json").read_text())
    assert [s["name"] for s in record["stages"]] == [s["name"] for s in out["stages"]]
    seconds = {s["name"]: s["seconds"] for s in out["stages"]}
    assert seconds["train"] > 0.5 and seconds["emulate mps2-an386"] > 0.1 and min(seconds.values()) >= 0
    assert out["total_seconds"] == pytest.approx(sum(seconds.values()), abs=0.01)
    # the fit check is recorded per board and runtime
    assert json.loads((tmp_path / "b" / "check" / "mps2-an386-aot.json").read_text())["runtime"] == "aot"
    # an accuracy warning exactly when pruning cost more than 2 points
    pruned = json.loads((tmp_path / "b" / "optimize" / "metrics.json").read_text())
    drop = 100 * (pruned["before"]["accuracy"] - pruned["after"]["accuracy"])
    assert (drop > 2) == any(w.startswith("pruning cost") for w in out["warnings"])
    assert pruned["warnings"] == [w for w in out["warnings"] if w.startswith("pruning cost")]

    # Same inputs: every stage is skipped. A threshold no run can meet exits 1.
    second = _run(tmp_path, 0.0001)
    assert second.returncode == 1
    out = json.loads(second.stdout)
    assert all(s["skipped"] for s in out["stages"] if s["name"] != "report")
    assert any("max_latency_ms" in f for f in out["threshold_failures"])
    assert "threshold(s) failed" in second.stderr and "Traceback" not in second.stderr
