"""The host side of the harness protocol: parse the lines the firmware prints.

The firmware (firmware_templates/common/main.c.j2) prints plain lines on its
console; nothing else on the console is trusted:

    TINYML BEGIN run=<8 hex> runtime=<aot|tflm> board=<name> clock=<instructions|cycles> samples=<N>
    TINYML SAMPLE <index> ticks=<n> out=<hex of the int8 output bytes>
    TINYML LAYER <sample index> <op index> <opcode> ticks=<n>      (optional)
    TINYML END arena=<bytes> status=ok [key=value ...]
    TINYML FAIL <reason text>

The same parser serves QEMU (semihosting stderr or -serial), Renode (UART log)
and a real board's serial port. A line that starts with "TINYML " but breaks
the grammar, a stale run id, samples out of order or a count that does not
match BEGIN is a protocol violation (EmulatorError); a run that simply stops
(hang, crash before END) parses into complete=False so the caller can say
what happened with the last console lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable

from .errors import EmulatorError

PREFIX = "TINYML "
CLOCK_UNITS = ("instructions", "cycles")
LAST_LINES = 20

_BEGIN = re.compile(
    r"^TINYML BEGIN run=(?P<run>[0-9a-f]{8}) runtime=(?P<runtime>[a-z0-9_-]+) "
    r"board=(?P<board>[A-Za-z0-9._-]+) clock=(?P<clock>[a-z]+) samples=(?P<n>\d+)$")
_SAMPLE = re.compile(r"^TINYML SAMPLE (?P<i>\d+) ticks=(?P<ticks>\d+) out=(?P<out>[0-9a-f]*)$")
_LAYER = re.compile(r"^TINYML LAYER (?P<i>\d+) (?P<op>\d+) (?P<opcode>[A-Z0-9_:]+) ticks=(?P<ticks>\d+)$")
_END = re.compile(r"^TINYML END (?P<pairs>(?:[a-z_]+=\S+)(?: [a-z_]+=\S+)*)$")
_FAIL = re.compile(r"^TINYML FAIL(?: (?P<reason>.*))?$")


@dataclass(frozen=True)
class SampleResult:
    index: int
    ticks: int
    output: bytes

    def output_int8(self) -> list[int]:
        return [b - 256 if b >= 128 else b for b in self.output]


@dataclass(frozen=True)
class LayerResult:
    sample: int
    op_index: int
    opcode: str
    ticks: int


@dataclass
class HarnessResult:
    run_id: str | None = None
    runtime: str | None = None
    board: str | None = None
    clock_unit: str | None = None
    expected_samples: int | None = None
    samples: list[SampleResult] = field(default_factory=list)
    layers: list[LayerResult] = field(default_factory=list)
    arena_bytes: int | None = None
    extras: dict[str, str] = field(default_factory=dict)   # further key=value pairs of END
    complete: bool = False
    failure: str | None = None
    last_lines: list[str] = field(default_factory=list)

    @property
    def started(self) -> bool:
        return self.run_id is not None

    def tail(self, n: int = 12) -> str:
        return "\n".join(self.last_lines[-n:])


def _violation(message: str, line_no: int, line: str) -> EmulatorError:
    return EmulatorError(f"harness protocol violation on console line {line_no}: {message} "
                         f"(line: {line!r}).")


def parse_lines(lines: Iterable[str], *, expected_run_id: str | None = None) -> HarnessResult:
    """Parse console lines into a HarnessResult.

    Lines before BEGIN are ignored (boot noise); lines after END or FAIL are
    ignored too. `expected_run_id` guards against a stale image: a BEGIN with
    another run id is rejected.
    """
    result = HarnessResult()
    recent: list[str] = []
    finished = False
    for line_no, raw in enumerate(lines, 1):
        line = raw.rstrip("\r\n").rstrip("\r")
        if line.strip():
            recent.append(line)
            if len(recent) > LAST_LINES:
                del recent[0]
        if finished:
            continue
        # Tolerate leading noise on the same line (e.g. a UART glitch byte) only
        # up to the marker; the marker itself must be intact.
        pos = line.find(PREFIX)
        if pos < 0:
            continue
        line = line[pos:].rstrip()
        kind = line[len(PREFIX):].split(" ", 1)[0]
        if kind == "BEGIN":
            m = _BEGIN.match(line)
            if m is None:
                raise _violation("malformed BEGIN", line_no, line)
            if result.started:
                raise _violation("a second BEGIN (did the firmware reset?)", line_no, line)
            if expected_run_id is not None and m["run"] != expected_run_id.lower():
                raise EmulatorError(
                    f"the firmware reported run id {m['run']} but this build baked {expected_run_id}: "
                    f"a stale firmware image ran.")
            if m["clock"] not in CLOCK_UNITS:
                raise _violation(f"unknown clock unit {m['clock']!r}", line_no, line)
            result.run_id, result.runtime, result.board = m["run"], m["runtime"], m["board"]
            result.clock_unit, result.expected_samples = m["clock"], int(m["n"])
            continue
        if kind == "FAIL":
            m = _FAIL.match(line)
            result.failure = (m["reason"] if m and m["reason"] else "unspecified").strip()
            finished = True
            continue
        if not result.started:
            raise _violation(f"{kind} before BEGIN", line_no, line)
        if kind == "SAMPLE":
            m = _SAMPLE.match(line)
            if m is None:
                raise _violation("malformed SAMPLE", line_no, line)
            index = int(m["i"])
            if index != len(result.samples):
                raise _violation(f"sample {index} out of order (expected {len(result.samples)})",
                                 line_no, line)
            if result.expected_samples is not None and index >= result.expected_samples:
                raise _violation(f"more samples than the {result.expected_samples} announced",
                                 line_no, line)
            out = m["out"]
            if len(out) % 2:
                raise _violation("odd number of hex digits in out=", line_no, line)
            if result.samples and len(out) // 2 != len(result.samples[0].output):
                raise _violation("output length differs from sample 0", line_no, line)
            result.samples.append(SampleResult(index, int(m["ticks"]), bytes.fromhex(out)))
        elif kind == "LAYER":
            m = _LAYER.match(line)
            if m is None:
                raise _violation("malformed LAYER", line_no, line)
            result.layers.append(LayerResult(int(m["i"]), int(m["op"]), m["opcode"], int(m["ticks"])))
        elif kind == "END":
            m = _END.match(line)
            if m is None:
                raise _violation("malformed END", line_no, line)
            pairs = dict(p.split("=", 1) for p in m["pairs"].split(" "))
            if "arena" not in pairs or not pairs["arena"].isdigit():
                raise _violation("END without a numeric arena=", line_no, line)
            if pairs.get("status") != "ok":
                raise _violation(f"END with status={pairs.get('status')!r}", line_no, line)
            if len(result.samples) != result.expected_samples:
                raise _violation(f"END after {len(result.samples)} samples, BEGIN announced "
                                 f"{result.expected_samples}", line_no, line)
            result.arena_bytes = int(pairs.pop("arena"))
            pairs.pop("status")
            result.extras = pairs
            result.complete = True
            finished = True
        else:
            raise _violation(f"unknown record {kind!r}", line_no, line)
    result.last_lines = recent
    return result


def parse_text(text: str, *, expected_run_id: str | None = None) -> HarnessResult:
    return parse_lines(text.splitlines(), expected_run_id=expected_run_id)


def require_complete(result: HarnessResult, where: str, *, timed_out: bool = False,
                     log_path=None, detail: str | None = None) -> HarnessResult:
    """Raise EmulatorError unless the run reached END (with the last console lines); `detail` is
    the runner's word on why (it goes in the same sentence, in brackets)."""
    if result.complete:
        return result
    tail = result.tail() or "(no console output)"
    if result.failure is not None:
        message = f"{where}: the firmware failed: {result.failure}."
    elif timed_out:
        message = (f"{where}: the firmware did not finish before the timeout "
                   f"({len(result.samples)} of {result.expected_samples or '?'} samples reported).")
    elif not result.started:
        message = f"{where}: the firmware never printed TINYML BEGIN."
    else:
        message = (f"{where}: the firmware stopped after {len(result.samples)} of "
                   f"{result.expected_samples} samples without TINYML END.")
    if detail:
        message = f"{message[:-1]} ({detail})."
    raise EmulatorError(message, hint=f"last console lines:\n{tail}", log_path=log_path)
