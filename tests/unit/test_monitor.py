"""`tinyml monitor` end to end without hardware: device firmware rendered for a real board, its
console transcript played through a pseudo-terminal, the record compared with the host int8 model."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tinyml import monitor as M
from tinyml.cli import cli
from tinyml.errors import BoardError, ConfigError, EmulatorError, ToolError

BOARD = "nucleo-h743zi"          # stm32-usart console, DWT cycle counter, 480 MHz
LABELS = [11, 9, 0]

# The keys of the emulate record (notes/harness-protocol.md); monitor must write the same shape.
EMULATE_KEYS = {"board", "emulator", "machine", "stand_in", "runtime", "model", "model_sha256", "clock_unit",
                "samples", "agreement", "accuracy", "latency", "arena_bytes", "size", "layers"}


@pytest.fixture(scope="module")
def device_build(tmp_path_factory, shared_models):
    from tinyml.emulate import host_outputs
    from tinyml.firmware import SampleSet, project_dir_for, render_firmware, seeded_samples

    model = shared_models / "kws_ref_model.tflite"
    build = tmp_path_factory.mktemp("build")
    base = seeded_samples(model, 3, 0)
    samples = SampleSet(base.inputs, np.array(LABELS), "three seeded inputs with chosen labels")
    project = render_firmware(model, BOARD, project_dir_for(build, BOARD, "aot", "device"), variant="device",
                              samples=samples)
    host = host_outputs(model, samples.inputs)
    return build, project, host


def _transcript(run_id: str, outputs: list[np.ndarray], ticks=(9_600_000, 9_600_480, 9_599_040)) -> bytes:
    lines = ["\x00boot: clocks up", f"TINYML BEGIN run={run_id} runtime=aot board={BOARD} clock=cycles samples=3"]
    for i, out in enumerate(outputs):
        lines.append(f"TINYML SAMPLE {i} ticks={ticks[i]} out={np.asarray(out, np.int8).tobytes().hex()}")
        if i == 0:
            lines.append("TINYML LAYER 0 0 CONV_2D ticks=1200000")
    lines.append("TINYML END arena=20480 status=ok stack=1800")
    return "".join(f"{line}\r\n" for line in lines).encode()


@pytest.fixture(autouse=True)
def port_opened(monkeypatch):
    """An event set once pyserial has opened (and flushed) the port: pyserial discards input that
    arrived before open, exactly like a real board's boot lines before `tinyml monitor` started."""
    import serial

    opened = threading.Event()
    real = serial.Serial

    def opening(*args, **kwargs):
        conn = real(*args, **kwargs)
        opened.set()
        return conn

    monkeypatch.setattr(serial, "Serial", opening)
    return opened


def _serve(data: bytes, opened: threading.Event):
    master, slave = os.openpty()

    def feed():
        if not opened.wait(30):
            return
        for i in range(0, len(data), 64):
            os.write(master, data[i:i + 64])
            time.sleep(0.001)

    thread = threading.Thread(target=feed, daemon=True)
    thread.start()
    return master, slave, os.ttyname(slave), thread


def _monitor(build, data: bytes, opened, **kwargs):
    master, slave, name, thread = _serve(data, opened)
    try:
        return M.monitor(BOARD, build_dir=build, port=name, **kwargs)
    finally:
        thread.join(5)
        os.close(master)
        os.close(slave)


def test_record_matches_the_host_model_and_has_the_emulate_shape(device_build, port_opened):
    build, project, host = device_build
    device = [host[0], host[1], host[2].copy()]
    device[2][0] = 127                              # the board disagrees on sample 2 (and predicts class 0)
    result = _monitor(build, _transcript(project.run_id, device), port_opened, timeout_s=10)
    rec = result.record
    assert EMULATE_KEYS <= set(rec)
    assert rec["emulator"] == "serial" and rec["board"] == BOARD and rec["machine"] is None
    assert rec["stand_in"] is False and rec["runtime"] == "aot" and rec["clock_unit"] == "cycles"
    assert rec["run_id"] == project.run_id and rec["port"] == result.port
    assert [s["agree"] for s in rec["samples"]] == [True, True, False]
    assert rec["samples"][2]["output"][0] == 127 and rec["samples"][2]["host_output"] == host[2].tolist()
    assert rec["agreement"] == {"matching": 2, "total": 3, "ratio": 2 / 3,
                                "max_abs_diff": int(127 - int(host[2][0]))}
    host_hits = sum(int(np.argmax(host[i])) == LABELS[i] for i in range(3))
    assert rec["accuracy"] == {"device": 1.0, "host_int8": host_hits / 3}
    assert rec["latency"]["median"] == 9_600_000 and rec["latency"]["unit"] == "cycles"
    assert rec["latency"]["estimated_ms_at_clock"] == pytest.approx(9_600_000 / 480e6 * 1e3)
    assert rec["arena_bytes"] == 20480 and rec["stack_bytes_used"] == 1800
    assert rec["layers"] == [{"sample": 0, "op_index": 0, "opcode": "CONV_2D", "ticks": 1200000}]
    assert result.path == build / "emulate" / f"{BOARD}-serial.json"
    assert json.loads(result.path.read_text()) == json.loads(json.dumps(rec))
    assert "boot: clocks up" in result.log_path.read_text()


def test_cli_json_is_the_written_record(device_build, port_opened):
    build, project, host = device_build
    master, slave, name, thread = _serve(_transcript(project.run_id, list(host)), port_opened)
    try:
        res = CliRunner().invoke(cli, ["monitor", "--board", BOARD, "--port", name, "--timeout-s", "10",
                                       "-B", str(build), "--json"])
    finally:
        thread.join(5)
        os.close(master)
        os.close(slave)
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["agreement"]["matching"] == 3
    assert data == json.loads((build / "emulate" / f"{BOARD}-serial.json").read_text())


def test_stale_image_is_rejected(device_build, port_opened):
    build, project, host = device_build
    other = "0" * 8 if project.run_id != "0" * 8 else "1" * 8
    with pytest.raises(EmulatorError, match="a stale firmware image ran"):
        _monitor(build, _transcript(other, list(host)), port_opened, timeout_s=10)


def test_firmware_failure_is_reported(device_build, port_opened):
    build, project, _ = device_build
    data = (f"TINYML BEGIN run={project.run_id} runtime=aot board={BOARD} clock=cycles samples=3\r\n"
            "TINYML FAIL invoke returned 3\r\n").encode()
    with pytest.raises(EmulatorError, match="the firmware failed: invoke returned 3"):
        _monitor(build, data, port_opened, timeout_s=10)


def test_silence_times_out_with_advice(device_build, port_opened):
    build, _, _ = device_build
    with pytest.raises(EmulatorError) as err:
        _monitor(build, b"garbage at the wrong baud\r\n", port_opened, timeout_s=0.8)
    assert err.value.message.startswith(f"{BOARD} on serial port /dev/")
    assert "no TINYML BEGIN line arrived within 0.8 s (1 other console lines" in err.value.message
    assert "baud rate (115200)" in err.value.hint


def test_no_port_found(device_build, monkeypatch):
    build, _, _ = device_build
    monkeypatch.setattr(M, "list_serial_ports", lambda: [M.SerialCandidate("/dev/ttyS0", "n/a", None, None)])
    with pytest.raises(ToolError, match=r"no serial port of a debug probe or USB-UART bridge found: .*\(/dev/ttyS0 \(n/a\)\)\."):
        M.monitor(BOARD, build_dir=build, timeout_s=1)


def test_board_errors(tmp_path):
    with pytest.raises(BoardError, match="board mps2-an386 prints on semihosting, not on a UART"):
        M.monitor("mps2-an386", build_dir=tmp_path, port="/dev/null")
    with pytest.raises(ConfigError, match=r"no device firmware for board nucleo-h743zi in .*; run `tinyml build"):
        M.monitor(BOARD, build_dir=tmp_path, port="/dev/null")
