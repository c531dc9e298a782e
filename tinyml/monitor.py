"""Read a real board's harness lines from its serial port and record them like an emulator run.

The runner half of `tinyml monitor`: find the port (the debug probe's virtual
COM port, or a USB-UART bridge), read console lines until the run ends or a
timeout, and hand them to the same harness parser and result builder that
`tinyml emulate` uses, so a board's accuracy, agreement and cycles land in
emulate/<board>-serial.json and in the report beside the emulators'.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .errors import BoardError, ConfigError, EmulatorError, ToolError

# USB IDs of the debug probes whose virtual COM port carries a dev board's console, and of
# the USB-UART bridges soldered onto boards. These are facts about probes, not boards.
PROBE_USB_IDS: dict[tuple[int, int | None], str] = {
    (0x0483, 0x374B): "ST-LINK/V2-1",
    (0x0483, 0x3752): "ST-LINK/V2-1",
    (0x0483, 0x374E): "STLINK-V3",
    (0x0483, 0x374F): "STLINK-V3",
    (0x0483, 0x3753): "STLINK-V3",
    (0x0483, 0x3754): "STLINK-V3",
    (0x0D28, 0x0204): "DAPLink CMSIS-DAP",
    (0x2E8A, 0x000C): "Raspberry Pi Debugprobe",
    (0x2E8A, 0x0004): "Raspberry Pi Picoprobe",
    (0x1366, None): "SEGGER J-Link",
    (0x1FC9, 0x0090): "NXP LPC-Link2",
    (0x1FC9, 0x0143): "NXP MCU-Link",
    (0x0403, 0x6001): "FTDI FT232R",
    (0x0403, 0x6010): "FTDI FT2232",
    (0x0403, 0x6014): "FTDI FT232H",
    (0x0403, 0x6015): "FTDI FT-X",
    (0x10C4, 0xEA60): "Silicon Labs CP210x",
    (0x1A86, 0x7523): "WCH CH340",
}
PROBE_DESCRIPTIONS = ("stlink", "st-link", "daplink", "cmsis-dap", "j-link", "jlink", "mbed serial",
                      "debugprobe", "picoprobe", "mcu-link", "lpc-link")

# Consoles that are a real UART a serial port can listen to (semihosting is a debugger channel).
_NOT_SERIAL = {"semihosting"}
READ_CHUNK_S = 0.1


@dataclass(frozen=True)
class SerialCandidate:
    device: str
    description: str
    vid: int | None
    pid: int | None

    def label(self) -> str:
        ids = f" {self.vid:04x}:{self.pid:04x}" if self.vid is not None and self.pid is not None else ""
        return f"{self.device} ({self.description}{ids})"


def _probe_name(vid: int | None, pid: int | None, description: str) -> str | None:
    if vid is not None:
        name = PROBE_USB_IDS.get((vid, pid)) or PROBE_USB_IDS.get((vid, None))
        if name:
            return name
    text = (description or "").lower()
    for pattern in PROBE_DESCRIPTIONS:
        if pattern in text:
            return description
    return None


def list_serial_ports() -> list[SerialCandidate]:
    from serial.tools import list_ports

    return [SerialCandidate(p.device, p.description or "n/a", p.vid, p.pid) for p in list_ports.comports()]


def find_port(ports: list[SerialCandidate] | None = None) -> str:
    """The one serial port that belongs to a debug probe or USB-UART bridge."""
    ports = list_serial_ports() if ports is None else ports
    matches = [p for p in ports if _probe_name(p.vid, p.pid, p.description)]
    if len(matches) == 1:
        return matches[0].device
    if len(matches) > 1:
        raise ToolError(f"{len(matches)} serial ports of debug probes are connected "
                        f"({', '.join(p.label() for p in matches)}); choose one with --port.")
    names = sorted({n for n in PROBE_USB_IDS.values()})
    present = ", ".join(p.label() for p in ports) or "none"
    raise ToolError(
        f"no serial port of a debug probe or USB-UART bridge found: looked for the USB IDs of "
        f"{', '.join(names)} and for descriptions containing {', '.join(PROBE_DESCRIPTIONS)} among the "
        f"serial ports present ({present}).",
        hint="Connect the board's debug USB port, or name the port with --port (e.g. --port /dev/ttyACM0).")


def read_run_lines(port: str, baud: int, timeout_s: float, *,
                   on_line: Callable[[str], None] | None = None,
                   opener: Callable[..., Any] | None = None) -> tuple[list[str], bool]:
    """Console lines of one run, from its `TINYML BEGIN` to `TINYML END`/`FAIL`.

    Anything before BEGIN (boot noise, a half line from a run already under
    way) is dropped, and a second BEGIN (the board was reset mid-run) starts
    over. Returns (lines, finished); finished is False on timeout.
    """
    import serial

    open_port = opener or serial.Serial
    try:
        conn = open_port(port, baudrate=baud, timeout=READ_CHUNK_S)
    except (serial.SerialException, OSError) as exc:
        raise ToolError(f"cannot open serial port {port}: {exc}.",
                        hint="Check the port name and that your user may open it (e.g. the dialout group).") from exc
    lines: list[str] = []
    started = False
    pending = b""
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            try:
                chunk = conn.read(4096)
            except (serial.SerialException, OSError) as exc:
                raise ToolError(f"reading serial port {port} failed: {exc}.") from exc
            if not chunk:
                continue
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for raw in complete:
                line = raw.decode("ascii", "replace").rstrip("\r")
                if on_line is not None:
                    on_line(line)
                if line.startswith("TINYML BEGIN"):
                    lines, started = [], True
                if not started:
                    continue
                lines.append(line)
                if line.startswith("TINYML END") or line.startswith("TINYML FAIL"):
                    return lines, True
    finally:
        conn.close()
    return lines, False


@dataclass
class MonitorResult:
    record: dict
    path: Path
    port: str
    log_path: Path


def _device_project_dir(build_dir: Path, board_name: str, runtime: str | None) -> Path:
    from .firmware import MANIFEST, project_dir_for
    from .flash import device_runtimes

    if runtime is None:
        found = [rt for rt in device_runtimes(build_dir, board_name)
                 if (project_dir_for(build_dir, board_name, rt, "device") / MANIFEST).is_file()]
        if len(found) > 1:
            raise ConfigError(f"{build_dir / 'firmware'} holds device firmware for {board_name} with runtimes "
                              f"{', '.join(found)}; choose the one on the board with --runtime.")
        runtime = found[0] if found else "aot"
    project_dir = project_dir_for(build_dir, board_name, runtime, "device")
    if not (project_dir / MANIFEST).is_file():
        raise ConfigError(f"no device firmware for board {board_name} in {project_dir}; run "
                          f"`tinyml build --board {board_name} -B {build_dir}` and `tinyml flash` first.",
                          path=project_dir)
    return project_dir


def monitor(board_name: str, *, build_dir: str | Path, port: str | None = None, baud: int | None = None,
            timeout_s: float = 120.0, runtime: str | None = None, boards_dirs=None,
            notify: Callable[[str], None] | None = None, opener: Callable[..., Any] | None = None
            ) -> MonitorResult:
    """Read one harness run from the board's serial port and write emulate/<board>-serial.json."""
    from .artifacts import atomic_write_text, read_json, write_json
    from .boards import load_board
    from .emulate import build_record, host_outputs
    from .firmware import FirmwareProject
    from .harness import parse_lines, require_complete

    say = notify or (lambda _m: None)
    build_dir = Path(build_dir)
    if timeout_s <= 0:
        raise ConfigError(f"--timeout-s must be positive, got {timeout_s:g}.")
    board = load_board(board_name, boards_dirs)
    if board.console.kind in _NOT_SERIAL:
        raise BoardError(f"board {board.name} prints on {board.console.kind}, not on a UART, so there is no "
                         f"serial port to monitor; run it with `tinyml emulate --board {board.name}`.",
                         path=board.source_path)
    project_dir = _device_project_dir(build_dir, board.name, runtime)
    project = FirmwareProject.load(project_dir)
    if project.variant != "device":
        raise ConfigError(f"{project_dir} is a {project.variant} build; monitor reads the device firmware.")
    sample_set = project.samples()
    model_path = Path(project.model)
    if not model_path.is_file():
        raise ConfigError(f"{model_path}, the model the firmware in {project_dir} was built from, is gone; "
                          "the host reference outputs need it.", path=model_path)

    if port is None:
        port = find_port()
    baud = int(baud or board.console.baud or 115200)
    say(f"listening on {port} at {baud} baud for run {project.run_id} (reset the board now; "
        f"timeout {timeout_s:g} s)")
    seen: list[str] = []
    lines, finished = read_run_lines(port, baud, timeout_s, on_line=seen.append, opener=opener)
    log_path = build_dir / "emulate" / f"{board.name}-serial.log"
    atomic_write_text(log_path, "".join(f"{line}\n" for line in seen))
    where = f"{board.name} on serial port {port}"
    harness = parse_lines(lines, expected_run_id=project.run_id)
    if not finished and not harness.started:
        raise EmulatorError(
            f"{where}: no TINYML BEGIN line arrived within {timeout_s:g} s "
            f"({len(seen)} other console lines; log: {log_path}).",
            hint=("Reset the board after starting `tinyml monitor`, and check the port and the baud rate "
                  f"({baud}) against the board file's console."), log_path=log_path)
    require_complete(harness, where, timed_out=not finished, log_path=log_path)

    say(f"comparing {len(harness.samples)} outputs with the host int8 model")
    host = host_outputs(model_path, sample_set.inputs)
    size_path = project_dir / "build" / "size.json"
    size = read_json(size_path) if size_path.is_file() else None
    record = build_record(
        harness=harness, board=board.name, emulator="serial", machine=None, stand_in=False,
        runtime=project.runtime, model_path=model_path, model_sha256=project.model_sha256,
        inputs=sample_set.inputs, labels=sample_set.labels, host=host, clock_hz=int(board.clock_hz),
        size=size,
        extra={"target_board": project.target_board, "samples_origin": sample_set.origin,
               "console": project.console, "port": port, "baud": baud, "firmware": str(project_dir),
               "console_log": str(log_path), "firmware_notes": list(getattr(project, "notes", []) or [])})
    path = write_json(build_dir / "emulate" / f"{board.name}-serial.json", record)
    return MonitorResult(record, path, port, log_path)
