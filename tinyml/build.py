"""`tinyml build`: cross-compile a rendered firmware project with arm-none-eabi-gcc.

The project's own Makefile does the work (so `make` outside the tool gives the
same result); this stage checks the toolchain, runs make into a scratch folder
that replaces build/ only on success, and writes size.json: section sizes from
the ELF and the split of flash and RAM into model / runtime / application from
the linker map (objects of the generated model = model, the kernel library =
runtime, everything else including libc = application).
"""

from __future__ import annotations

import os
import re
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

from . import proc
from .artifacts import sha256_file, write_json
from .errors import ConfigError, ToolError
from .firmware import OPT_LEVELS, FirmwareProject

BUILD_SUBDIR = "build"
_SCRATCH = ".build-tmp"
TOOLCHAIN_HINT = ("install the Debian packages gcc-arm-none-eabi, binutils-arm-none-eabi and "
                  "libnewlib-arm-none-eabi (sudo apt-get install gcc-arm-none-eabi binutils-arm-none-eabi "
                  "libnewlib-arm-none-eabi)")
_TOOLS = {
    "arm-none-eabi-gcc": "install the Debian package gcc-arm-none-eabi (sudo apt-get install gcc-arm-none-eabi "
                         "libnewlib-arm-none-eabi)",
    "arm-none-eabi-objcopy": "install the Debian package binutils-arm-none-eabi "
                             "(sudo apt-get install binutils-arm-none-eabi)",
    "make": "install the Debian package make (sudo apt-get install make)",
}

# Output sections of firmware_templates/common/linker.ld.j2 by what they hold.
CODE_SECTIONS = (".isr_vector", ".text", ".ARM.extab", ".ARM.exidx", ".init_array")
RODATA_SECTIONS = (".rodata",)
DATA_SECTIONS = (".data",)
BSS_SECTIONS = (".bss",)
FLASH_SECTIONS = CODE_SECTIONS + RODATA_SECTIONS + DATA_SECTIONS   # .data's initial image is in flash
RAM_SECTIONS = DATA_SECTIONS + BSS_SECTIONS
CATEGORIES = ("model", "runtime", "application")


@dataclass
class BuildResult:
    project: FirmwareProject
    out_dir: Path
    elf: Path
    bin: Path
    hex: Path
    map: Path
    size: dict
    size_path: Path


def check_toolchain() -> None:
    """Every tool the build needs, with the Debian package that provides it."""
    for tool, hint in _TOOLS.items():
        proc.require_tool(tool, hint)
    found = proc.run(["arm-none-eabi-gcc", "-print-file-name=libc_nano.a"], timeout_s=30).stdout.strip()
    if not os.path.isabs(found) or not os.path.exists(found):
        raise ToolError("arm-none-eabi-gcc has no newlib-nano C library (libc_nano.a); install the Debian "
                        "package libnewlib-arm-none-eabi (sudo apt-get install libnewlib-arm-none-eabi).")


# ----------------------------------------------------------------------------- ELF

@dataclass(frozen=True)
class ElfSection:
    name: str
    type: int
    flags: int
    addr: int
    size: int

    @property
    def allocated(self) -> bool:
        return bool(self.flags & 0x2)        # SHF_ALLOC


def elf_sections(path: Path) -> list[ElfSection]:
    """Section headers of a 32-bit little-endian ELF (all arm-none-eabi produces)."""
    data = Path(path).read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 1 or data[5] != 1:
        raise ToolError(f"{path} is not a 32-bit little-endian ELF file.")
    shoff, = struct.unpack_from("<I", data, 0x20)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x2E)
    raw = [struct.unpack_from("<IIIIIIIIII", data, shoff + i * shentsize) for i in range(shnum)]
    strtab_off, strtab_size = raw[shstrndx][4], raw[shstrndx][5]
    names = data[strtab_off:strtab_off + strtab_size]

    def name_at(offset: int) -> str:
        return names[offset:names.index(b"\0", offset)].decode()

    return [ElfSection(name_at(h[0]), h[1], h[2], h[3], h[5]) for h in raw[1:]]


# ----------------------------------------------------------------------------- map file

_OUT_SECTION = re.compile(r"^(\.[^\s]+|COMMON)(?:\s+0x([0-9a-fA-F]+)\s+0x([0-9a-fA-F]+)(?:\s+load address.*)?)?\s*$")
_IN_FULL = re.compile(r"^ (\.[^\s]+|COMMON|\*fill\*)\s+0x([0-9a-fA-F]+)\s+0x([0-9a-fA-F]+)(?:\s+(\S.*?))?\s*$")
_IN_NAME = re.compile(r"^ (\.[^\s]+|COMMON)\s*$")
_IN_CONT = re.compile(r"^\s+0x([0-9a-fA-F]+)\s+0x([0-9a-fA-F]+)\s+(\S.*)$")


def map_contributions(map_text: str) -> list[tuple[str, str, int]]:
    """(output section, input file or "*fill*", bytes) for every input section of a GNU ld map."""
    start = map_text.find("Linker script and memory map")
    if start < 0:
        raise ToolError("the linker map has no 'Linker script and memory map' part.")
    lines = map_text[start:].splitlines()
    out: list[tuple[str, str, int]] = []
    section = None
    pending = None
    for line in lines:
        if pending is not None:
            m = _IN_CONT.match(line)
            if m:
                out.append((section, m[3].strip(), int(m[2], 16)))
            pending = None
            continue
        if line and not line[0].isspace():
            m = _OUT_SECTION.match(line)
            section = m[1] if m else None
            continue
        if section is None:
            continue
        m = _IN_FULL.match(line)
        if m:
            size = int(m[3], 16)
            if m[1] == "*fill*":
                out.append((section, "*fill*", size))
            elif m[4]:
                out.append((section, m[4].strip(), size))
            continue
        if _IN_NAME.match(line):
            pending = line
    return out


def _category(obj: str, model_objs: set[str], runtime_objs: set[str]) -> str:
    norm = obj.replace("\\", "/")
    for suffix in model_objs:
        if norm.endswith(suffix):
            return "model"
    for suffix in runtime_objs:
        if norm.endswith(suffix) or ("(" in norm and norm.split("(")[0].endswith(suffix)):
            return "runtime"
    return "application"


def size_report(elf: Path, map_path: Path, project: FirmwareProject) -> dict:
    sections = {s.name: s for s in elf_sections(elf) if s.allocated}

    def total(names) -> int:
        return sum(sections[n].size for n in names if n in sections)

    text, rodata, data, bss = (total(CODE_SECTIONS), total(RODATA_SECTIONS), total(DATA_SECTIONS),
                               total(BSS_SECTIONS))
    heap, stack = total((".heap",)), total((".stack",))

    def obj_suffix(src: str) -> str:
        return "/obj/" + re.sub(r"\.(c|cc|cpp)$", ".o", src)

    model_objs = {obj_suffix(s) for s in project.model_sources}
    runtime_objs = {obj_suffix(s) for s in project.runtime_sources if s.endswith((".c", ".cc", ".cpp"))}
    runtime_objs |= {s for s in project.runtime_sources if s.endswith(".a")}
    flash_split = dict.fromkeys(CATEGORIES, 0)
    ram_split = dict.fromkeys(CATEGORIES, 0)
    parsed: dict[str, int] = {}
    last = "application"
    samples_bytes = 0
    for section, obj, size in map_contributions(map_path.read_text()):
        if section not in FLASH_SECTIONS and section not in RAM_SECTIONS:
            continue
        cat = last if obj == "*fill*" else _category(obj, model_objs, runtime_objs)
        last = cat
        parsed[section] = parsed.get(section, 0) + size
        if section in FLASH_SECTIONS:
            flash_split[cat] += size
        if section in RAM_SECTIONS:
            ram_split[cat] += size
        if obj.endswith("/obj/src/tinyml_samples.o") and section in RODATA_SECTIONS:
            samples_bytes += size
    # Alignment the map does not list as *fill*: linker padding, counted as application.
    for name in set(FLASH_SECTIONS) | set(RAM_SECTIONS):
        gap = (sections[name].size if name in sections else 0) - parsed.get(name, 0)
        if gap:
            if name in FLASH_SECTIONS:
                flash_split["application"] += gap
            if name in RAM_SECTIONS:
                ram_split["application"] += gap
    flash_bytes = text + rodata + data
    return {
        "text": text, "rodata": rodata, "data": data, "bss": bss,
        "heap_bytes": heap, "stack_bytes": stack,
        "flash_bytes": flash_bytes, "ram_bytes": data + bss + heap + stack,
        "split": flash_split, "split_ram": ram_split,
        "samples_bytes": samples_bytes,
        "arena_bytes": project.arena_bytes, "weights_bytes": project.weights_bytes,
        "board": project.board, "target_board": project.target_board, "runtime": project.runtime,
        "variant": project.variant, "opt": project.opt, "core_flags": project.core_flags,
        "elf_sha256": sha256_file(elf),
        "notes": ("flash = text + rodata + data (the .data image); ram = data + bss + heap + stack; "
                  "split: objects of the generated model = model, kernel library = runtime, "
                  "everything else (harness, startup, console, baked samples, libc) = application"),
    }


# ----------------------------------------------------------------------------- stage

def build_project(project_dir: str | Path, *, opt: str | None = None, jobs: int = 2,
                  timeout_s: float = 900) -> BuildResult:
    """Run the project's Makefile; on success build/ holds firmware.elf/.bin/.hex/.map and size.json."""
    project_dir = Path(project_dir)
    project = FirmwareProject.load(project_dir)
    opt = opt or project.opt
    if opt not in OPT_LEVELS:
        raise ConfigError(f"optimization {opt!r} is not one of {', '.join(OPT_LEVELS)}.")
    if jobs < 1:
        raise ConfigError(f"--jobs must be at least 1, got {jobs}.")
    check_toolchain()
    scratch = project_dir / _SCRATCH
    shutil.rmtree(scratch, ignore_errors=True)
    log = project_dir / "build.log"
    try:
        result = proc.run(["make", "-C", ".", f"-j{jobs}", f"BUILD={_SCRATCH}", f"OPT={opt}"],
                          cwd=project_dir, timeout_s=timeout_s, log_path=log, check=False)
        if result.timed_out or result.returncode != 0:
            text = result.stderr.strip() or result.stdout.strip()
            keys = ("error", "overflow", "will not fit", "undefined reference", "multiple definition")
            errors = [line for line in text.splitlines() if any(k in line.lower() for k in keys)] \
                or text.splitlines()
            what = "timed out" if result.timed_out else f"failed (make exit code {result.returncode})"
            overflow = next((re.search(r"region `(\w+)' overflowed by (\d+) bytes", line) for line in errors
                             if "overflowed by" in line), None)
            if overflow:
                what += (f": region {overflow[1]} overflowed by {int(overflow[2]):,} bytes (the firmware does "
                         f"not fit the board's {overflow[1]})")
            raise ToolError(f"building {project_dir.name} {what}; full log: {log}.",
                            hint="\n".join(errors[-12:]) or None, log_path=log)
        elf = scratch / "firmware.elf"
        size = size_report(elf, scratch / "firmware.map", project)
        size["opt"] = opt
        write_json(scratch / "size.json", size)
        out = project_dir / BUILD_SUBDIR
        old = project_dir / ".build-old"
        shutil.rmtree(old, ignore_errors=True)
        if out.exists():
            os.replace(out, old)
        os.replace(scratch, out)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return BuildResult(project, out, out / "firmware.elf", out / "firmware.bin", out / "firmware.hex",
                       out / "firmware.map", size, out / "size.json")


def build(build_dir: str | Path, board_name: str, *, runtime: str = "aot", variant: str = "device",
          emulator: str = "qemu", opt: str | None = None, jobs: int = 2, boards_dirs=None,
          notify=None) -> BuildResult:
    """The `tinyml build` stage: build firmware/<board>-<runtime>/, rendering it first if needed."""
    from .firmware import firmware, project_dir_for

    build_dir = Path(build_dir)
    project_dir = project_dir_for(build_dir, board_name, runtime, variant, emulator)
    if not (project_dir / "tinyml_firmware.json").is_file():
        if notify:
            notify(f"{project_dir} is not rendered yet: rendering it (tinyml firmware) first")
        firmware(build_dir, board_name, runtime=runtime, variant=variant, emulator=emulator,
                 opt=opt or "-Os", boards_dirs=boards_dirs)
    return build_project(project_dir, opt=opt, jobs=jobs)
