"""The emulate record built from harness lines, and the QEMU command line (no emulator needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tinyml.emulate import build_record
from tinyml.emulators import get_runner
from tinyml.emulators.base import RunRequest
from tinyml.emulators.qemu import QemuRunner
from tinyml.errors import EmulatorError, ToolError
from tinyml.harness import parse_text


def _harness(outputs: list[bytes], ticks: list[int]):
    lines = ["TINYML BEGIN run=0000abcd runtime=aot board=b clock=instructions samples=%d" % len(outputs)]
    lines += [f"TINYML SAMPLE {i} ticks={t} out={o.hex()}" for i, (o, t) in enumerate(zip(outputs, ticks))]
    lines += ["TINYML LAYER 0 0 CONV_2D ticks=7", "TINYML END arena=96 status=ok stack=120"]
    return parse_text("\n".join(lines))


def test_agreement_accuracy_and_latency_by_hand():
    device = [bytes([0x80, 0x05, 0x7f]), bytes([0x10, 0x00, 0x00]), bytes([0x00, 0x02, 0x01])]
    host = np.array([[-128, 5, 127], [16, 0, 0], [0, 1, 2]], np.int8)     # sample 2 differs
    labels = np.array([2, 0, 1])
    inputs = np.zeros((3, 8), np.int8)
    r = build_record(harness=_harness(device, [300, 100, 200]), board="b", emulator="qemu", machine="m",
                     stand_in=True, runtime="aot", model_path=Path("m.tflite"), model_sha256="x", inputs=inputs,
                     labels=labels, host=host, clock_hz=25_000_000, size={"flash_bytes": 1})
    assert r["agreement"] == {"matching": 2, "total": 3, "ratio": 2 / 3, "max_abs_diff": 1}
    assert [s["agree"] for s in r["samples"]] == [True, True, False]
    assert [s["predicted"] for s in r["samples"]] == [2, 0, 1]
    # device argmax: 2, 0, 1 -> all three right; host argmax: 2, 0, 2 -> two of three
    assert r["accuracy"] == {"device": 1.0, "host_int8": 2 / 3}
    assert r["samples"][0]["output"] == [-128, 5, 127]
    lat = r["latency"]
    assert (lat["min"], lat["median"], lat["max"], lat["unit"]) == (100, 200, 300, "instructions")
    assert lat["estimated_ms_at_clock"] == pytest.approx(200 / 25e6 * 1e3)
    assert "1 instruction per cycle" in lat["note"]
    assert (r["arena_bytes"], r["stack_bytes_used"], r["stand_in"], r["run_id"]) == (96, 120, True, "0000abcd")
    assert r["layers"] == [{"sample": 0, "op_index": 0, "opcode": "CONV_2D", "ticks": 7}]


def test_no_labels_or_an_autoencoder_has_no_accuracy():
    out = [bytes([1, 2, 3, 4])]
    host = np.array([[1, 2, 3, 4]], np.int8)
    common = dict(harness=_harness(out, [5]), board="b", emulator="qemu", machine="m", stand_in=False,
                  runtime="aot", model_path=Path("m"), model_sha256="x", host=host, clock_hz=1, size=None)
    assert build_record(**common, inputs=np.zeros((1, 2), np.int8), labels=None)["accuracy"] == \
        {"device": None, "host_int8": None}
    # output as large as the input: reconstruction, not classes
    assert build_record(**common, inputs=np.zeros((1, 4), np.int8), labels=np.array([1]))["accuracy"]["device"] is None


def test_wrong_sample_count_or_output_size_is_an_error():
    host = np.zeros((2, 3), np.int8)
    common = dict(board="b", emulator="qemu", machine="m", stand_in=False, runtime="aot", model_path=Path("m"),
                  model_sha256="x", inputs=np.zeros((2, 8), np.int8), labels=None, host=host, clock_hz=1,
                  size=None)
    with pytest.raises(EmulatorError, match="reported 1 samples, 2 were baked in"):
        build_record(harness=_harness([bytes(3)], [1]), **common)
    with pytest.raises(EmulatorError, match="built for another model"):
        build_record(harness=_harness([bytes(2), bytes(2)], [1, 1]), **common)


def test_qemu_command_line(tmp_path):
    runner = get_runner("qemu")
    semi = RunRequest(elf=Path("/x/fw.elf"), machine="mps2-an386", work_dir=tmp_path, timeout_s=5, icount_shift=6)
    argv = runner.argv(semi)
    assert argv[:3] == ["qemu-system-arm", "-M", "mps2-an386"]
    assert argv[argv.index("-semihosting-config") + 1] == "enable=on,target=native"
    assert argv[argv.index("-icount") + 1] == "shift=6,sleep=off"
    assert argv[-2:] == ["-kernel", "/x/fw.elf"] and argv.count("-serial") == 1
    uart = RunRequest(elf=Path("fw.elf"), machine="netduinoplus2", work_dir=tmp_path, timeout_s=5,
                      console="stm32-usart", serial_index=1)
    argv = runner.argv(uart)
    serials = [argv[i + 1] for i, a in enumerate(argv) if a == "-serial"]
    assert serials == ["null", "stdio"] and "-icount" not in argv
    with pytest.raises(ToolError, match="unknown emulator 'bochs'"):
        get_runner("bochs")


def test_missing_qemu_names_the_package(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    runner = QemuRunner()
    assert not runner.is_available()
    with pytest.raises(ToolError, match="qemu-system-arm"):
        runner.require()
