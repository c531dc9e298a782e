"""The instruction clock: a loop of known length reads as exactly that many instructions on every machine."""

from __future__ import annotations

import numpy as np
import pytest
from tiny_models import cached, install_fixture_runtime, make_tiny_dense

from tinyml.build import build_project
from tinyml.emulate import run_project
from tinyml.boards import qemu_machines
from tinyml.firmware import SampleSet, render_firmware

pytestmark = [pytest.mark.needs_toolchain, pytest.mark.needs_qemu]

MACHINES = ["microbit", "lm3s6965evb", "mps2-an385", "mps2-an386", "mps2-an500", "mps2-an505", "mps3-an547",
            "netduinoplus2"]
LOOPS = 100_000          # SUBS + BNE: 2 x LOOPS instructions, then LOOPS / 2 iterations


@pytest.mark.parametrize("machine", MACHINES)
def test_known_loop_counts_exactly(tmp_path_factory, tmp_path, monkeypatch, machine):
    assert machine in qemu_machines()
    dense4 = cached(tmp_path_factory, "dense4.tflite", make_tiny_dense)
    runtime = install_fixture_runtime(monkeypatch, loops=LOOPS)
    samples = SampleSet(np.zeros((2, 4), np.int8), None, "fixture")
    project = render_firmware(dense4, machine, tmp_path / "fw", runtime=runtime, variant="emulator",
                              samples=samples, per_layer=True)
    build_project(project.dir)
    first, _ = run_project(project.dir, timeout_s=60)
    loop = [l.ticks for l in first.layers if l.opcode == "LOOP"]
    half = [l.ticks for l in first.layers if l.opcode == "HALF_LOOP"]
    # the loop itself plus a few instructions of the hook and call: never fewer, never many more
    assert all(2 * LOOPS <= t <= 2 * LOOPS + 40 for t in loop), loop
    assert all(LOOPS <= t <= LOOPS + 40 for t in half), half
    assert all(3 * LOOPS <= s.ticks <= 3 * LOOPS + 200 for s in first.samples)
    second, _ = run_project(project.dir, timeout_s=60)          # deterministic, run after run
    assert [s.ticks for s in second.samples] == [s.ticks for s in first.samples]
    assert second.layers == first.layers
