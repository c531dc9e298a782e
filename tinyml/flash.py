"""Put built firmware on a real dev board: pyOCD, OpenOCD, UF2 bootloader, or a mass-storage copy.

The board file's `flashing:` section names the default method and everything
the method needs (pyOCD target, OpenOCD config, UF2 family, volume label), so
nothing here knows about particular boards. The stage first builds a plan (the
exact commands and file copies), then either returns it (`dry_run`, which never
touches USB) or carries it out. A missing probe or volume is one sentence that
says what was looked for.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from .errors import BoardError, ConfigError, ToolError

METHODS = ("pyocd", "openocd", "uf2", "copy")

# Which built file each method hands to its tool, in order of preference.
_ACCEPTED_SUFFIXES: dict[str, tuple[str, ...]] = {
    "pyocd": (".hex", ".elf", ".bin"),
    "openocd": (".elf", ".hex", ".bin"),
    "uf2": (".bin", ".uf2"),
    # .hex first: it carries its own load addresses, and DAPLink, J-Link OB and ST-LINK/V2-1
    # (V2J28+) drives all take it; a .bin is placed at the start of flash by the probe.
    "copy": (".hex", ".bin"),
}

# The board-file fields each method needs (the same table as boards.Flashing's check of `default`).
_NEEDS: dict[str, tuple[str, ...]] = {
    "pyocd": ("pyocd_target",), "openocd": ("openocd_config",),
    "uf2": ("uf2_family", "volume_label"), "copy": ("volume_label",),
}

OPENOCD_INSTALL_HINT = "install the Debian package: sudo apt-get install openocd"
# What OpenOCD prints when its adapter (the probe) is not on USB.
_OPENOCD_NO_PROBE_MARKERS = ("open failed", "unable to find a matching", "no j-link device found",
                             "no device found", "unable to open", "couldn't open",
                             "error: no cmsis-dap device", "libusb_open() failed")
# What pyocd 0.46 prints (checked by running it without a probe, with and without --uid).
_PYOCD_NO_PROBE_MARKERS = ("no connected debug probe", "no matching debug probe",
                           "no target device available", "unable to open probe")
_PYOCD_PROBE_KINDS = "CMSIS-DAP (DAPLink), ST-LINK and Raspberry Pi Debugprobe/picoprobe"

FLASH_TIMEOUT_S = 300
PACK_INSTALL_TIMEOUT_S = 900
LSBLK_TIMEOUT_S = 10


@dataclass(frozen=True)
class FlashStep:
    """One thing the flash does: run a command, write a file, or copy a file onto a volume."""

    kind: str                          # "pack-install" | "run" | "write" | "copy"
    description: str
    argv: list[str] | None = None
    src: Path | None = None
    dest: Path | None = None
    timeout_s: float | None = None

    def display(self) -> str:
        if self.kind in ("run", "pack-install"):
            return shlex.join(self.argv or [])
        if self.kind == "write":
            return f"write {self.dest}"
        return f"copy {self.src} -> {self.dest}"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "description": self.description, "display": self.display()}
        if self.argv is not None:
            out["argv"] = list(self.argv)
        if self.src is not None:
            out["src"] = str(self.src)
        if self.dest is not None:
            out["dest"] = str(self.dest)
        return out


@dataclass
class FlashResult:
    board: str
    method: str
    firmware: Path                     # the file the method programs (hex / elf / bin / uf2)
    dry_run: bool
    steps: list[FlashStep]
    notes: list[str] = field(default_factory=list)
    log_path: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"board": self.board, "method": self.method, "firmware": str(self.firmware),
                "dry_run": self.dry_run, "steps": [s.to_dict() for s in self.steps],
                "notes": list(self.notes), "log": str(self.log_path) if self.log_path else None}


# ---------------------------------------------------------------------------------------------
# Firmware location

def firmware_dir(build_dir: str | Path, board: str, runtime: str) -> Path:
    """Where `tinyml build` leaves firmware.{elf,hex,bin} for a board and runtime."""
    return Path(build_dir) / "firmware" / f"{board}-{runtime}" / "build"


def device_runtimes(build_dir: str | Path, board: str) -> list[str]:
    """Runtimes with built device firmware for the board (the -qemu emulator variants excluded)."""
    root = Path(build_dir) / "firmware"
    if not root.is_dir():
        return []
    found = []
    for path in sorted(root.glob(f"{board}-*")):
        suffix = path.name[len(board) + 1:]
        # <board>-<runtime> is the device variant; <board>-<runtime>-<emulator> runs in an emulator.
        if "-" not in suffix and (path / "build").is_dir():
            found.append(suffix)
    return found


def _build_hint(board: str, build_dir: Path, runtime: str | None) -> str:
    cmd = ["tinyml", "build", "--board", board]
    if runtime:
        cmd += ["--runtime", runtime]
    if str(build_dir) != "build/default":
        cmd += ["-B", str(build_dir)]
    return shlex.join(cmd)


def locate_firmware(method: str, board: str, *, build_dir: str | Path, runtime: str | None = None,
                    firmware: str | Path | None = None) -> Path:
    """The file `method` programs: from --firmware (a file or a build folder) or the build dir."""
    build_dir = Path(build_dir)
    wanted = _ACCEPTED_SUFFIXES[method]
    if firmware is not None:
        path = Path(firmware)
        if path.is_dir():
            folder, stem = path, "firmware"
        elif path.is_file():
            if path.suffix.lower() in wanted:
                return path
            folder, stem = path.parent, path.stem
        else:
            raise ConfigError(f"--firmware {path} does not exist.", path=path)
        for suffix in wanted:
            candidate = folder / f"{stem}{suffix}"
            if candidate.is_file():
                return candidate
        raise ConfigError(f"flashing with {method} needs a {' or '.join(wanted)} file, and there is none "
                          f"for {path}.", path=path)

    if runtime is None:
        root = build_dir / "firmware"
        found = device_runtimes(build_dir, board)
        if len(found) > 1:
            raise ConfigError(f"{root} holds firmware for {board} with runtimes {', '.join(found)}; "
                              f"choose one with --runtime.")
        if not found:
            raise ConfigError(f"no firmware for board {board} in {root}; run "
                              f"`{_build_hint(board, build_dir, None)}` first (or pass --firmware PATH).")
        runtime = found[0]
    folder = firmware_dir(build_dir, board, runtime)
    for suffix in wanted:
        candidate = folder / f"firmware{suffix}"
        if candidate.is_file():
            return candidate
    raise ConfigError(f"no firmware{wanted[0]} in {folder}; run `{_build_hint(board, build_dir, runtime)}` "
                      f"first (or pass --firmware PATH).", path=folder)


# ---------------------------------------------------------------------------------------------
# pyOCD

def pyocd_argv0() -> list[str]:
    """The pyocd installed beside this Python (the pinned one), else python -m pyocd."""
    beside = Path(sys.executable).parent / "pyocd"
    if beside.is_file():
        return [str(beside)]
    return [sys.executable, "-m", "pyocd"]


def pyocd_target_status(target: str) -> str:
    """'builtin', 'pack' (from an installed CMSIS-Pack) or 'missing'. Reads only local caches."""
    from pyocd.target import TARGET, normalise_target_type_name

    name = normalise_target_type_name(target)
    if name in TARGET:
        return "builtin"
    try:
        from pyocd.target.pack.pack_target import ManagedPacks
        installed = ManagedPacks.get_installed_targets()
    except Exception:  # a broken pack cache counts as no pack
        installed = []
    if any(normalise_target_type_name(dev.part_number) == name for dev in installed):
        return "pack"
    return "missing"


def _pack_parts_like(target: str) -> list[str]:
    from pyocd.target import normalise_target_type_name
    from pyocd.target.pack.pack_target import ManagedPacks

    name = normalise_target_type_name(target)
    try:
        return sorted({dev.part_number for dev in ManagedPacks.get_installed_targets()
                       if normalise_target_type_name(dev.part_number).startswith(name)})
    except Exception:
        return []


def connected_pyocd_probes(probe_id: str | None) -> list[tuple[str, str]]:
    """(unique id, description) of the debug probes pyOCD sees on USB."""
    from pyocd.probe.aggregator import DebugProbeAggregator

    probes = DebugProbeAggregator.get_all_connected_probes(unique_id=probe_id)
    return [(p.unique_id, p.description) for p in probes]


def _plan_pyocd(board, fl, fw: Path, probe_id: str | None) -> tuple[list[FlashStep], list[str]]:
    target = _required(fl, "pyocd_target", board, "pyocd")
    exe = pyocd_argv0()
    steps: list[FlashStep] = []
    notes: list[str] = []
    status = pyocd_target_status(target)
    if status == "missing":
        steps.append(FlashStep(
            "pack-install", f"pyOCD has no built-in target {target}; install its CMSIS-Pack "
                   f"(downloads the pack index and the vendor's device pack, once)",
            exe + ["pack", "install", target], timeout_s=PACK_INSTALL_TIMEOUT_S))
    else:
        notes.append(f"pyOCD target {target}: {'built in' if status == 'builtin' else 'from an installed CMSIS-Pack'}.")
    argv = exe + ["flash", "--no-wait", "-t", target]
    if probe_id:
        argv += ["--uid", probe_id]
    if fw.suffix.lower() == ".bin":
        argv += ["--base-address", hex(board.memory.flash.origin)]
    argv.append(str(fw))
    steps.append(FlashStep("run", f"program {fw.name} through the debug probe and reset the target",
                           argv, timeout_s=FLASH_TIMEOUT_S))
    return steps, notes


def _check_pyocd_probe(board_name: str, probe_id: str | None) -> None:
    try:
        probes = connected_pyocd_probes(probe_id)
    except Exception:  # e.g. no libusb: let pyocd itself report what is wrong
        return
    wanted = f" with unique ID {probe_id}" if probe_id else ""
    if not probes:
        raise ToolError(
            f"no debug probe found for board {board_name}: pyOCD looked on USB for "
            f"{_PYOCD_PROBE_KINDS} probes{wanted} and found none.",
            hint="Connect the board's debug (ST-LINK / DAPLink) USB port, or list probes with `pyocd list`.")
    if len(probes) > 1 and not probe_id:
        listing = ", ".join(f"{uid} ({desc})" for uid, desc in probes)
        raise ToolError(f"{len(probes)} debug probes are connected ({listing}); choose one with --probe-id.")


# ---------------------------------------------------------------------------------------------
# OpenOCD

def _openocd_configs(value: str | Iterable[str]) -> list[str]:
    if isinstance(value, str):
        return [v for v in value.replace(",", " ").split() if v]
    return [str(v) for v in value]


def openocd_scripts_dir() -> Path | None:
    exe = shutil.which("openocd")
    candidates = []
    if exe:
        candidates.append(Path(exe).resolve().parent.parent / "share" / "openocd" / "scripts")
    candidates.append(Path("/usr/share/openocd/scripts"))
    for c in candidates:
        if c.is_dir():
            return c
    return None


def _plan_openocd(board, fl, fw: Path, probe_id: str | None) -> tuple[list[FlashStep], list[str]]:
    configs = _openocd_configs(_required(fl, "openocd_config", board, "openocd"))
    notes: list[str] = []
    argv = ["openocd"]
    scripts = openocd_scripts_dir()
    for cfg in configs:
        argv += ["-f", cfg]
        if scripts is not None and not Path(cfg).is_absolute() and not (scripts / cfg).is_file():
            notes.append(f"OpenOCD config {cfg} is not in {scripts}; this OpenOCD may not know the board.")
    if shutil.which("openocd") is None:
        notes.append(f"openocd is not installed; {OPENOCD_INSTALL_HINT}.")
    if probe_id:
        argv += ["-c", f"adapter serial {probe_id}"]
    # Braces quote the path for OpenOCD's Tcl; a .bin needs its load address.
    address = f" {board.memory.flash.origin:#x}" if fw.suffix.lower() == ".bin" else ""
    argv += ["-c", f"program {{{fw}}}{address} verify reset exit"]
    return [FlashStep("run", f"program {fw.name} through OpenOCD, verify it and reset the target",
                      argv, timeout_s=FLASH_TIMEOUT_S)], notes


def _openocd_failed(board_name: str, configs: list[str], probe_id: str | None, result) -> ToolError:
    text = (result.stdout + "\n" + result.stderr).lower()
    tail = (result.stderr.strip() or result.stdout.strip()).splitlines()[-8:]
    if any(m in text for m in _OPENOCD_NO_PROBE_MARKERS):
        wanted = f" with serial {probe_id}" if probe_id else ""
        return ToolError(
            f"no debug probe found for board {board_name}: OpenOCD looked on USB for the adapter that "
            f"{', '.join(configs)} names{wanted} and found none (log: {result.log_path}).",
            hint="Connect the board's debug USB port and check its udev permissions.",
            log_path=result.log_path)
    if result.timed_out:
        return ToolError(f"openocd did not finish within {FLASH_TIMEOUT_S} s (log: {result.log_path}).",
                         log_path=result.log_path)
    return ToolError(f"openocd failed to program board {board_name} with exit code {result.returncode} "
                     f"(log: {result.log_path}).", hint="\n".join(tail) or None, log_path=result.log_path)


# ---------------------------------------------------------------------------------------------
# Mass-storage volumes (UF2 bootloaders, ST-LINK / DAPLink drag-and-drop)

def volume_roots() -> list[Path]:
    """Mount roots searched for a labelled volume; $TINYML_VOLUME_ROOTS replaces the defaults."""
    env = os.environ.get("TINYML_VOLUME_ROOTS")
    if env:
        return [Path(p) for p in env.split(os.pathsep) if p]
    user = os.environ.get("USER") or os.environ.get("LOGNAME") or _login_name()
    roots = []
    if user:
        roots += [Path("/media") / user, Path("/run/media") / user]
    roots += [Path("/media"), Path("/Volumes")]
    return roots


def _login_name() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no passwd entry for the uid (containers)
        return ""


def _lsblk_mounts() -> list[tuple[str, str]]:
    """(label, mountpoint) of mounted block devices from `lsblk -J`, [] when lsblk is absent."""
    if shutil.which("lsblk") is None:
        return []
    from .proc import run

    try:
        result = run(["lsblk", "-o", "LABEL,MOUNTPOINT", "-J"], timeout_s=LSBLK_TIMEOUT_S, check=False)
    except ToolError:
        return []
    if result.returncode != 0:
        return []
    try:
        tree = json.loads(result.stdout)
    except json.JSONDecodeError:
        return []
    found: list[tuple[str, str]] = []

    def walk(devices):
        for dev in devices or []:
            label = dev.get("label")
            mounts = dev.get("mountpoints") or [dev.get("mountpoint")]
            for mount in mounts:
                if label and mount:
                    found.append((label, mount))
            walk(dev.get("children"))

    walk(tree.get("blockdevices"))
    return found


def find_volume(label: str, *, lsblk: Callable[[], list[tuple[str, str]]] = _lsblk_mounts
                ) -> tuple[Path | None, list[str]]:
    """The mount point of the volume labelled `label`, and the places looked at."""
    looked: list[str] = []
    for root in volume_roots():
        candidate = root / label
        looked.append(str(candidate))
        if candidate.is_dir():
            return candidate, looked
    looked.append("lsblk's mounted volume labels")
    for found_label, mount in lsblk():
        if found_label.upper() == label.upper() and Path(mount).is_dir():
            return Path(mount), looked
    return None, looked


def _no_volume(board_name: str, label: str, looked: list[str], method: str) -> ToolError:
    what = "UF2 bootloader" if method == "uf2" else "ST-LINK / DAPLink mass-storage"
    return ToolError(
        f"no mounted {what} volume labelled {label} for board {board_name}: looked in "
        f"{', '.join(looked)}.",
        hint=("Connect the board so the volume mounts (for a UF2 bootloader, start the board in its "
              "bootloader mode), or name the mount point with --volume PATH."))


def crc32_mpeg2(data: bytes) -> int:
    """CRC-32/MPEG-2: polynomial 0x04C11DB7, initial 0xFFFFFFFF, no reflection, no final XOR."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else (crc << 1)
            crc &= 0xFFFFFFFF
    return crc


def _check_rp2040_boot2(image: bytes) -> str | None:
    # RP2040 datasheet 2.8.1.3.1: the boot ROM runs the first 256 bytes of flash only when
    # their last 4 bytes hold the CRC-32/MPEG-2 of the first 252, little-endian.
    if len(image) < 256:
        return "the image is shorter than the 256-byte boot2 stage"
    want = int.from_bytes(image[252:256], "little")
    got = crc32_mpeg2(image[:252])
    if want != got:
        return (f"its first 256 bytes are not a boot2 stage (CRC-32/MPEG-2 of bytes 0-251 is {got:#010x}, "
                f"bytes 252-255 hold {want:#010x})")
    return None


# Checks of the boot stage an image must start with, keyed by the board file's boot_stage.name prefix.
_BOOT_STAGE_CHECKS: dict[str, Callable[[bytes], str | None]] = {
    "rp2040-boot2": _check_rp2040_boot2,
}


def check_boot_stage(board, image: bytes, source: Path) -> str | None:
    """None when the board has no boot stage or the image starts with a valid one; else raise."""
    stage = getattr(board, "boot_stage", None)
    if stage is None:
        return None
    check = next((fn for prefix, fn in _BOOT_STAGE_CHECKS.items() if stage.name.startswith(prefix)), None)
    if check is None:
        return f"boot stage {stage.name} of board {board.name} is not checked by tinyml."
    problem = check(image)
    if problem:
        raise ConfigError(f"{source} would not boot on board {board.name}: {problem}, and the boot ROM "
                          f"needs the {stage.name} stage in front of the image.", path=source)
    return f"{source.name} starts with a valid {stage.name} stage."


def read_ihex(path: Path) -> list[tuple[int, bytes]]:
    """Intel HEX (what objcopy -O ihex writes) as sorted, merged (address, bytes) segments."""
    chunks: list[tuple[int, bytes]] = []
    upper = 0
    for number, raw in enumerate(path.read_text(errors="replace").splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        where = f"{path} line {number}"
        if not line.startswith(":"):
            raise ConfigError(f"{where} is not an Intel HEX record (it does not start with ':').", path=path)
        try:
            record = bytes.fromhex(line[1:])
        except ValueError:
            raise ConfigError(f"{where} has characters that are not hex digits.", path=path) from None
        if len(record) < 5 or len(record) != 5 + record[0]:
            raise ConfigError(f"{where} has a byte count that does not match its length.", path=path)
        if sum(record) & 0xFF:
            raise ConfigError(f"{where} fails its checksum.", path=path)
        offset, kind, data = int.from_bytes(record[1:3], "big"), record[3], record[4:4 + record[0]]
        if kind == 0x00:
            chunks.append((upper + offset, data))
        elif kind == 0x01:
            break
        elif kind == 0x02:
            upper = int.from_bytes(data, "big") << 4
        elif kind == 0x04:
            upper = int.from_bytes(data, "big") << 16
        elif kind not in (0x03, 0x05):
            raise ConfigError(f"{where} has unknown record type {kind:#04x}.", path=path)
    merged: list[tuple[int, bytearray]] = []
    for address, data in sorted(chunks):
        if merged and merged[-1][0] + len(merged[-1][1]) == address:
            merged[-1][1].extend(data)
        else:
            merged.append((address, bytearray(data)))
    return [(a, bytes(d)) for a, d in merged]


def check_image(board, segments: list[tuple[int, bytes]], source: Path) -> str:
    """The image lies in the board's flash and starts (after any boot stage) with a Cortex-M
    vector table whose stack pointer is in the board's RAM and whose reset handler is Thumb
    code in its flash: firmware built for another board (or the emulator variant) fails here."""
    flash = board.memory.flash
    if not segments:
        raise ConfigError(f"{source} holds no data to program.", path=source)
    low = segments[0][0]
    high = max(a + len(d) for a, d in segments)
    hint = f"; it was built for another memory map (rebuild with `tinyml build --board {board.name}`)"
    if low < flash.origin or high > flash.end:
        raise ConfigError(f"{source} writes {low:#x}-{high - 1:#x}, outside board {board.name}'s flash "
                          f"{flash.origin:#x}-{flash.end - 1:#x}{hint}.", path=source)
    first = next((d for a, d in segments if a == flash.origin), b"")
    boot_note = check_boot_stage(board, first, source)
    stage = getattr(board, "boot_stage", None)
    table = flash.origin + (stage.bytes if stage is not None else 0)
    words = b""
    for address, data in segments:
        if address <= table < address + len(data):
            words = data[table - address:table - address + 8]
    if len(words) < 8:
        raise ConfigError(f"{source} has no vector table at {table:#x}, where board {board.name} boots from{hint}.",
                          path=source)
    sp, reset = int.from_bytes(words[:4], "little"), int.from_bytes(words[4:], "little")
    ram = board.memory.ram  # the linker puts the stack in this region (board schema), not in extras
    if not ram.origin < sp <= ram.end:
        raise ConfigError(f"{source}: the initial stack pointer {sp:#x} at {table:#x} is not in board "
                          f"{board.name}'s RAM {board.memory.ram.origin:#x}-{board.memory.ram.end - 1:#x}{hint}.",
                          path=source)
    if not reset & 1 or not flash.contains(reset & ~1):
        raise ConfigError(f"{source}: the reset vector {reset:#x} at {table + 4:#x} is not Thumb code in board "
                          f"{board.name}'s flash{hint}.", path=source)
    note = (f"{source.name}: {high - low} bytes at {low:#x}-{high - 1:#x} in flash; vector table at {table:#x} "
            f"(stack {sp:#x}, reset {reset:#x}).")
    return f"{note} {boot_note}" if boot_note else note


def _image_segments(board, fw: Path) -> tuple[list[tuple[int, bytes]], Path] | None:
    """(segments, the file they were read from), or None when there is nothing to read."""
    suffix = fw.suffix.lower()
    if suffix == ".hex":
        return read_ihex(fw), fw
    if suffix == ".bin":
        return [(board.memory.flash.origin, fw.read_bytes())], fw
    if suffix == ".uf2":
        from . import uf2
        image = uf2.uf2_to_bin(fw.read_bytes(), family=board.flashing.uf2_family, source=str(fw))
        return [(image.base_address, image.image)], fw
    hex_beside = fw.with_suffix(".hex")  # an .elf: objcopy's .hex beside it has the same load image
    return (read_ihex(hex_beside), hex_beside) if hex_beside.is_file() else None


def _write_uf2_step(board, fl, fw: Path) -> tuple[Path, FlashStep | None, list[str]]:
    from . import uf2

    family = uf2.family_id(_required(fl, "uf2_family", board, "uf2"))
    if fw.suffix.lower() == ".uf2":
        image = uf2.uf2_to_bin(fw.read_bytes(), family=family, source=str(fw))
        notes = [f"{fw} is already UF2: {image.blocks} blocks for family {uf2.family_label(family)} "
                 f"at {image.base_address:#x}."]
        if image.base_address != board.memory.flash.origin:
            raise ConfigError(f"{fw} starts at {image.base_address:#x}, but board {board.name} runs from "
                              f"flash at {board.memory.flash.origin:#x}.", path=fw)
        return fw, None, notes
    target = fw.with_suffix(".uf2")
    step = FlashStep("write", f"convert {fw.name} to UF2 (family {uf2.family_label(family)}, "
                              f"base {board.memory.flash.origin:#x}, 256-byte payloads)",
                     src=fw, dest=target)
    return target, step, []


def _do_write_uf2(board, fl, step: FlashStep) -> str:
    from . import uf2
    from .artifacts import atomic_write_bytes

    family = uf2.family_id(fl.uf2_family)
    data = uf2.bin_to_uf2(Path(step.src).read_bytes(), board.memory.flash.origin, family)
    uf2.parse_uf2(data, source=str(step.dest))  # the file we ship must read back as valid UF2
    atomic_write_bytes(step.dest, data)
    return f"wrote {step.dest}: {len(data) // uf2.BLOCK_BYTES} blocks, family {uf2.family_label(family)}."


def _copy_to_volume(src: Path, dest: Path) -> None:
    # Plain write + fsync: the bootloader starts programming as blocks arrive, and some
    # firmware volumes reject the temp-file-and-rename dance (and rename is not needed: a
    # half-written UF2/bin on a bootloader volume is not a stage artifact).
    with open(src, "rb") as fin, open(dest, "wb") as fout:
        shutil.copyfileobj(fin, fout, 64 * 1024)
        fout.flush()
        os.fsync(fout.fileno())


# ---------------------------------------------------------------------------------------------
# The stage

def _required(fl, attr: str, board, method: str):
    value = getattr(fl, attr, None)
    if value in (None, "", []):
        raise BoardError(f"board {board.name} has no flashing.{attr} in {getattr(board, 'source_path', None) or 'its board file'}, "
                         f"which flashing with {method} needs.",
                         path=getattr(board, "source_path", None))
    return value


def _load(board_name: str, boards_dirs):
    from .boards import list_boards, load_board

    board = load_board(board_name, boards_dirs)
    if getattr(board, "flashing", None) is None:
        real = sorted(b.name for b in list_boards(boards_dirs) if getattr(b, "flashing", None) is not None)
        raise BoardError(f"board {board.name} has no flashing section (it is emulator-only); boards that "
                         f"can be flashed: {', '.join(real) or 'none'}.",
                         path=getattr(board, "source_path", None))
    return board


def plan_flash(board_name: str, *, build_dir: str | Path, runtime: str | None = None,
               firmware: str | Path | None = None, method: str | None = None,
               probe_id: str | None = None, volume: str | Path | None = None,
               boards_dirs=None) -> FlashResult:
    """Everything `flash` would do, without touching USB or writing anything."""
    return _plan(board_name, build_dir=build_dir, runtime=runtime, firmware=firmware, method=method,
                 probe_id=probe_id, volume=volume, boards_dirs=boards_dirs)[0]


def _plan(board_name: str, *, build_dir, runtime, firmware, method, probe_id, volume, boards_dirs):
    board = _load(board_name, boards_dirs)
    fl = board.flashing
    method = method or fl.default
    if method not in METHODS:
        raise ConfigError(f"unknown flashing method {method!r}; choose one of {', '.join(METHODS)}.")
    for attr in _NEEDS[method]:
        _required(fl, attr, board, method)
    fw = locate_firmware(method, board.name, build_dir=build_dir, runtime=runtime, firmware=firmware)
    image = _image_segments(board, fw)
    image_note = check_image(board, *image) if image is not None else \
        f"{fw.name} is an ELF without a .hex beside it: its load addresses are not checked here."
    notes: list[str] = []
    if method == "pyocd":
        steps, notes = _plan_pyocd(board, fl, fw, probe_id)
    elif method == "openocd":
        steps, notes = _plan_openocd(board, fl, fw, probe_id)
    else:
        label = _required(fl, "volume_label", board, method)
        if probe_id:
            notes.append(f"--probe-id is for pyocd and openocd; {method} copies to the volume {label} "
                         f"(name another mount point with --volume).")
        steps = []
        src = fw
        if method == "uf2":
            src, write_step, more = _write_uf2_step(board, fl, fw)
            notes += more
            if write_step is not None:
                steps.append(write_step)
        if volume is not None:
            mount: Path | None = Path(volume)
            looked = [str(mount)]
        else:
            mount, looked = find_volume(label)
        if mount is None:
            dest = Path(f"<volume {label}>") / src.name
            notes.append(f"volume {label} is not mounted now (looked in {', '.join(looked)}).")
        else:
            dest = mount / src.name
        steps.append(FlashStep("copy", f"copy {src.name} onto the {label} volume; the board programs "
                                       f"itself and resets", src=src, dest=dest))
    return FlashResult(board.name, method, fw, True, steps, [image_note, *notes]), board


def flash(board_name: str, *, build_dir: str | Path, runtime: str | None = None,
          firmware: str | Path | None = None, method: str | None = None, probe_id: str | None = None,
          volume: str | Path | None = None, dry_run: bool = False, boards_dirs=None,
          notify: Callable[[str], None] | None = None) -> FlashResult:
    """Flash the board. Raises ToolError naming what was looked for when no probe/volume is found.

    With dry_run nothing touches USB or a volume: the result lists the exact
    commands and copies. The one file a dry run writes is the .uf2 (beside the
    .bin in the build folder), so that it can be inspected and validated.
    """
    plan, board = _plan(board_name, build_dir=build_dir, runtime=runtime, firmware=firmware,
                        method=method, probe_id=probe_id, volume=volume, boards_dirs=boards_dirs)
    fl = board.flashing
    notes = list(plan.notes)
    if dry_run:
        for step in plan.steps:
            if step.kind == "write":
                notes.append(_do_write_uf2(board, fl, step))
        return FlashResult(plan.board, plan.method, plan.firmware, True, plan.steps, notes)

    from .proc import require_tool, run

    say = notify or (lambda _msg: None)
    log_dir = Path(build_dir) / "flash"
    log_path = log_dir / f"{board.name}-{plan.method}.log"

    # Fail on a missing probe / volume before anything is written or downloaded.
    if plan.method == "pyocd":
        _check_pyocd_probe(board.name, probe_id)
    elif plan.method == "openocd":
        require_tool("openocd", OPENOCD_INSTALL_HINT)
    else:
        dest_dir = Path(plan.steps[-1].dest).parent
        if volume is None and not dest_dir.is_dir():
            _, looked = find_volume(fl.volume_label)
            raise _no_volume(board.name, fl.volume_label, looked, plan.method)
        if not dest_dir.is_dir():
            raise ToolError(f"--volume {dest_dir} is not a mounted folder.", path=dest_dir)

    for step in plan.steps:
        say(step.description)
        if step.kind == "write":
            notes.append(_do_write_uf2(board, fl, step))
        elif step.kind == "copy":
            _copy_to_volume(Path(step.src), Path(step.dest))
            notes.append(f"copied {step.src} to {step.dest}.")
        elif step.kind == "pack-install":
            run(step.argv, timeout_s=step.timeout_s, log_path=log_dir / f"{board.name}-pyocd-pack.log")
            if pyocd_target_status(fl.pyocd_target) == "missing":
                parts = _pack_parts_like(fl.pyocd_target)
                raise ToolError(
                    f"`pyocd pack install {fl.pyocd_target}` finished but no installed pack names part "
                    f"{fl.pyocd_target}" + (f" (parts that start so: {', '.join(parts)})" if parts else "")
                    + f"; fix flashing.pyocd_target in the board file of {board.name}.")
        else:
            result = run(step.argv, timeout_s=step.timeout_s, log_path=log_path, check=False)
            if result.returncode == 0 and not result.timed_out:
                continue
            if plan.method == "openocd":
                raise _openocd_failed(board.name, _openocd_configs(fl.openocd_config), probe_id, result)
            text = (result.stdout + result.stderr).lower()
            if any(m in text for m in _PYOCD_NO_PROBE_MARKERS):
                raise ToolError(f"no debug probe found for board {board.name}: pyOCD looked on USB for "
                                f"{_PYOCD_PROBE_KINDS} probes and found none (log: {log_path}).",
                                log_path=log_path)
            tail = (result.stderr.strip() or result.stdout.strip()).splitlines()[-8:]
            raise ToolError(f"pyocd failed to program board {board.name} "
                            f"({'timeout' if result.timed_out else f'exit code {result.returncode}'}; "
                            f"log: {log_path}).", hint="\n".join(tail) or None, log_path=log_path)
    return FlashResult(plan.board, plan.method, plan.firmware, False, plan.steps, notes,
                       log_path if log_path.exists() else None)
