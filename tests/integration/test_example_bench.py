"""The MLPerf Tiny bench entry for real on one model: fit check on two boards
and a QEMU bench of ad01 on mps2-an386."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

pytestmark = [pytest.mark.needs_toolchain, pytest.mark.needs_qemu, pytest.mark.slow]

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "bench" / "mlperf_tiny" / "run_bench.py"


def test_mlperf_bench_entry_on_ad01(shared_models, tmp_path):
    spec = importlib.util.spec_from_file_location("run_bench", SCRIPT)
    rb = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rb)
    rc = rb.main([str(shared_models), "--model", "ad", "--check-board", "nucleo-l4r5zi", "--check-board", "microbit",
                  "--bench-board", "mps2-an386",
                  "-B", str(tmp_path), "--timeout-s", "900"])
    record = json.loads((tmp_path / "results.json").read_text())
    assert rc == 0, record
    by_kind = {(r["kind"], r["board"]): r for r in record["results"]}
    bench = by_kind[("bench", "mps2-an386")]
    (row,) = bench["output"]["rows"]
    assert row["status"] == "ok" and row["per_inference"] > 264_192      # at least one instruction per MAC
    assert row["agreement"]["matching"] == row["agreement"]["total"] > 0
    # 277 KB of weights: fits the Nucleo's 2 MB of flash, not the micro:bit's 256 KB
    assert by_kind[("check", "nucleo-l4r5zi")]["status"] == "fits"
    assert by_kind[("check", "microbit")]["status"] == "does not fit"
    text = (tmp_path / "results.md").read_text()
    assert "| ad01_int8 | aot |" in text
