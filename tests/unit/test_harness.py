"""The harness protocol parser: good runs, hangs, crashes and protocol violations."""

from __future__ import annotations

import pytest

from tinyml.errors import EmulatorError
from tinyml.harness import parse_lines, parse_text, require_complete

GOOD = """\
boot noise from the emulator
TINYML BEGIN run=0badc0de runtime=aot board=mps2-an386 clock=instructions samples=2
TINYML SAMPLE 0 ticks=1234 out=80ff007f
TINYML LAYER 0 0 CONV_2D ticks=1000
TINYML LAYER 0 1 FULLY_CONNECTED ticks=200
TINYML SAMPLE 1 ticks=1240 out=0102fe81
TINYML END arena=2048 status=ok stack=312
qemu-system-arm: trailing noise
"""


def test_good_run_parses_every_field():
    r = parse_text(GOOD, expected_run_id="0BADC0DE")
    assert r.complete and r.failure is None
    assert (r.run_id, r.runtime, r.board, r.clock_unit, r.expected_samples) == \
        ("0badc0de", "aot", "mps2-an386", "instructions", 2)
    assert [s.ticks for s in r.samples] == [1234, 1240]
    assert r.samples[0].output == bytes([0x80, 0xFF, 0x00, 0x7F])
    assert r.samples[0].output_int8() == [-128, -1, 0, 127]
    assert r.samples[1].output_int8() == [1, 2, -2, -127]
    assert [(l.sample, l.op_index, l.opcode, l.ticks) for l in r.layers] == \
        [(0, 0, "CONV_2D", 1000), (0, 1, "FULLY_CONNECTED", 200)]
    assert r.arena_bytes == 2048 and r.extras == {"stack": "312"}
    assert r.last_lines[-1] == "qemu-system-arm: trailing noise"
    assert require_complete(r, "test") is r


def test_carriage_returns_from_a_uart_are_tolerated():
    r = parse_lines(line + "\r" for line in GOOD.splitlines())
    assert r.complete and r.samples[1].output == bytes.fromhex("0102fe81")


def test_stale_run_id_is_rejected():
    with pytest.raises(EmulatorError, match="stale firmware image"):
        parse_text(GOOD, expected_run_id="12345678")


def test_hang_is_incomplete_and_reports_last_lines():
    text = "\n".join(GOOD.splitlines()[:3])
    r = parse_text(text)
    assert not r.complete and r.failure is None and len(r.samples) == 1
    with pytest.raises(EmulatorError, match="did not finish before the timeout") as exc:
        require_complete(r, "mps2-an386", timed_out=True)
    assert "TINYML SAMPLE 0 ticks=1234" in exc.value.hint


def test_fail_line_is_a_failure_with_reason():
    text = GOOD.splitlines()[1] + "\nTINYML FAIL hardfault pc=0x00000124 lr=0xfffffff9\nTINYML END arena=1 status=ok\n"
    r = parse_text(text)
    assert not r.complete and r.failure == "hardfault pc=0x00000124 lr=0xfffffff9"
    with pytest.raises(EmulatorError, match="hardfault pc=0x00000124"):
        require_complete(r, "x")


def test_no_output_at_all():
    r = parse_text("")
    assert not r.started
    with pytest.raises(EmulatorError, match="never printed TINYML BEGIN") as exc:
        require_complete(r, "x")
    assert "(no console output)" in exc.value.hint


@pytest.mark.parametrize("bad, why", [
    ("TINYML SAMPLE 1 ticks=5 out=00", "out of order"),
    ("TINYML SAMPLE 0 ticks=5 out=0", "odd number of hex digits"),
    ("TINYML SAMPLE 0 ticks=-5 out=00", "malformed SAMPLE"),
    ("TINYML SAMPLE 0 ticks=5 out=ZZ", "malformed SAMPLE"),
    ("TINYML END arena=10 status=ok", "END after 0 samples"),
    ("TINYML END status=ok", "without a numeric arena"),
    ("TINYML WHAT 1", "unknown record"),
    ("TINYML BEGIN run=00000000 runtime=aot board=b clock=instructions samples=1", "second BEGIN"),
])
def test_protocol_violations(bad, why):
    head = "TINYML BEGIN run=00000000 runtime=aot board=b clock=instructions samples=1\n"
    with pytest.raises(EmulatorError, match=why):
        parse_text(head + bad + "\n")


def test_records_before_begin_and_bad_clock_unit():
    with pytest.raises(EmulatorError, match="SAMPLE before BEGIN"):
        parse_text("TINYML SAMPLE 0 ticks=1 out=00\n")
    with pytest.raises(EmulatorError, match="unknown clock unit"):
        parse_text("TINYML BEGIN run=00000000 runtime=aot board=b clock=seconds samples=1\n")


def test_output_length_must_stay_the_same():
    head = "TINYML BEGIN run=00000000 runtime=aot board=b clock=cycles samples=2\n"
    with pytest.raises(EmulatorError, match="output length differs"):
        parse_text(head + "TINYML SAMPLE 0 ticks=1 out=0000\nTINYML SAMPLE 1 ticks=1 out=00\n")
