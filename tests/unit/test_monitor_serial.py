"""The serial side of `tinyml monitor`: a recorded console fed through a pseudo-terminal."""

import os
import threading
import time

import pytest

from tinyml import harness
from tinyml.errors import ToolError
from tinyml.monitor import SerialCandidate, find_port, read_run_lines

# A real-board console: boot noise, a half line from before the port opened, a reset
# mid-run (second BEGIN), CRLF line ends, and text after END that must be ignored.
TRANSCRIPT = (
    b"ms=12 boot\r\n"
    b"ZZ SAMPLE 3 ticks=99 out=00\r\n"
    b"TINYML BEGIN run=0badf00d runtime=aot board=nucleo-f446re clock=cycles samples=2\r\n"
    b"TINYML SAMPLE 0 ticks=5 out=01\r\n"
    b"\x00\xffreset\r\n"
    b"TINYML BEGIN run=1a2b3c4d runtime=aot board=nucleo-f446re clock=cycles samples=2\r\n"
    b"TINYML SAMPLE 0 ticks=123456 out=7f80ff00\r\n"
    b"TINYML LAYER 0 0 CONV_2D ticks=1000\r\n"
    b"TINYML SAMPLE 1 ticks=123470 out=0102fefd\r\n"
    b"TINYML END arena=4096 status=ok\r\n"
    b"TINYML BEGIN run=1a2b3c4d runtime=aot board=nucleo-f446re clock=cycles samples=2\r\n"
)


def _pty_feeding(data: bytes, chunk: int = 7, delay_s: float = 0.002):
    """A pty whose master side writes `data` in small chunks from a thread, once the reader has
    opened the slave (pyserial flushes input on open, as a real port drops what came before).
    Returns (master, slave, slave name, thread, opener for read_run_lines)."""
    import serial

    master, slave = os.openpty()
    name = os.ttyname(slave)
    opened = threading.Event()

    def opener(*args, **kwargs):
        conn = serial.Serial(*args, **kwargs)
        opened.set()
        return conn

    def feed():
        if not opened.wait(30):
            return
        for i in range(0, len(data), chunk):
            os.write(master, data[i:i + chunk])
            time.sleep(delay_s)

    thread = threading.Thread(target=feed, daemon=True)
    return master, slave, name, thread, opener


def test_reads_one_run_from_a_pty_and_the_harness_parses_it():
    master, slave, name, thread, opener = _pty_feeding(TRANSCRIPT)
    try:
        thread.start()
        seen = []
        lines, finished = read_run_lines(name, 115200, timeout_s=10, on_line=seen.append, opener=opener)
        thread.join(5)
    finally:
        os.close(master)
        os.close(slave)
    assert finished
    assert lines[0].startswith("TINYML BEGIN run=1a2b3c4d")
    assert lines[-1] == "TINYML END arena=4096 status=ok"
    assert all(not line.endswith("\r") for line in lines)
    assert seen[0] == "ms=12 boot"
    result = harness.parse_lines(lines, expected_run_id="1a2b3c4d")
    assert result.complete and result.clock_unit == "cycles" and result.arena_bytes == 4096
    assert [s.ticks for s in result.samples] == [123456, 123470]
    assert result.samples[0].output_int8() == [127, -128, -1, 0]
    assert result.samples[1].output_int8() == [1, 2, -2, -3]
    assert result.layers[0].opcode == "CONV_2D"


def test_a_run_that_stops_reports_unfinished_at_the_timeout():
    cut = TRANSCRIPT[:TRANSCRIPT.index(b"TINYML SAMPLE 1 ticks=123470")]
    master, slave, name, thread, opener = _pty_feeding(cut)
    try:
        thread.start()
        lines, finished = read_run_lines(name, 115200, timeout_s=1.0, opener=opener)
        thread.join(5)
    finally:
        os.close(master)
        os.close(slave)
    assert not finished
    parsed = harness.parse_lines(lines)
    assert not parsed.complete and len(parsed.samples) == 1


def test_unopenable_port_is_one_clear_error(tmp_path):
    with pytest.raises(ToolError, match=r"cannot open serial port .*nope"):
        read_run_lines(str(tmp_path / "nope"), 115200, timeout_s=1)


def test_port_autodetect_by_usb_id_and_description():
    stlink = SerialCandidate("/dev/ttyACM0", "STM32 STLink", 0x0483, 0x374B)
    cp210x = SerialCandidate("/dev/ttyUSB0", "CP2102 USB to UART", 0x10C4, 0xEA60)
    by_name = SerialCandidate("/dev/ttyACM3", "DAPLink CMSIS-DAP", None, None)
    legacy = SerialCandidate("/dev/ttyS0", "n/a", None, None)
    assert find_port([legacy, stlink]) == "/dev/ttyACM0"
    assert find_port([cp210x, legacy]) == "/dev/ttyUSB0"
    assert find_port([by_name]) == "/dev/ttyACM3"
    with pytest.raises(ToolError, match=r"2 serial ports of debug probes .*choose one with --port"):
        find_port([stlink, cp210x])
    with pytest.raises(ToolError) as err:
        find_port([legacy])
    message = err.value.message
    assert message.startswith("no serial port of a debug probe or USB-UART bridge found")
    assert "ST-LINK/V2-1" in message and "/dev/ttyS0 (n/a)" in message
    assert message.count(".") >= 1 and "\n" not in message
