"""The boards registry: one YAML file per board, validated against one schema.

A board file (boards/<name>.yaml) says everything the pipeline needs to know
about a board: the core and its clock, the flash and RAM the linker may use,
how the firmware prints (console), how to count cycles, how to emulate the
board and how to flash it. The agreed schema is /work/notes/board-schema.md;
boards/README.md explains every field and where each figure came from.

Decisions where the agreed schema is silent (also in boards/README.md):

- Sizes are `256K`, `1M` (K = 1024, M = 1024*1024, upper or lower case),
  `0x40000` or a plain integer count of bytes; nothing else (no `KB`, no
  floats, no booleans). Addresses (`origin`, `base`) are integers or hex.
- `core` is checked against boards/cores.yaml (not a fixed list in Python),
  so a user can add a core by putting a cores.yaml next to their board files;
  `fpu` must be one the core allows there.
- Extra memory regions (`ccm`, `dtcm`, `sram2`, ...) may be given next to
  `flash` and `ram`; they are informational (the linker uses flash and ram).
- `console` has optional family-specific keys: `instance` (e.g. USART2),
  `tx_pin`, `rx_pin`, `gpio_af`, `clock_hz` (the UART's kernel clock once
  `clock_init` ran), `variant` (for stm32-usart: `v1` = SR/DR registers of
  F1/F2/F4, `v2` = ISR/TDR of F0/F3/F7/L4/L5/H7, `lpuart` = v2 registers with
  BRR = 256 * clock / baud), `qemu_serial` (which QEMU -serial carries it) and
  `note`.
- `alt_consoles`: other UARTs the firmware may use instead (informational).
- `boot_stage`: bytes at the start of flash that the image must contain
  besides the application (the RP2040's 256-byte boot2).
- `emulators.qemu` names exactly one of `machine` (QEMU models this board)
  or `board` (an emulator board file used as a stand-in). `stand_in: true`
  says the emulated memory map or console differs from the real board.
- `flashing.default` must come with what that method needs (pyocd ->
  pyocd_target, openocd -> openocd_config, uf2 -> uf2_family and
  volume_label, copy -> volume_label).
- A board file's `name` must equal its file name; the name `cores` is
  reserved for cores.yaml.

Search path: directories given with --boards-dir (in order), then the
directories in $TINYML_BOARDS_DIR (os.pathsep-separated), then the boards
shipped with tinyml. The first file named <name>.yaml wins, so a user board
with a shipped board's name overrides it.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Literal, NamedTuple

from pydantic import (BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator,
                      model_validator)

from .errors import BoardError

ENV_VAR = "TINYML_BOARDS_DIR"
CORES_FILE = "cores.yaml"
QEMU_MACHINES_FILE = "qemu-machines.yaml"
RESERVED_NAMES = {"cores", "qemu-machines"}   # data files beside the boards, not boards
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_SIZE = re.compile(r"^\s*(\d+)\s*([kKmM]?)\s*$")
SIZE_EXPECTED = "a size such as 256K, 1M or a byte count"
ADDRESS_EXPECTED = "an address such as 0x20000000"


# ----------------------------------------------------------------------------- sizes

def parse_size(value: Any) -> int:
    """Bytes from `256K`, `1M`, `0x40000`, `"0x40000"` or an integer (K = 1024).

    Raises ValueError with what was expected; booleans and floats are refused
    (a YAML `yes` or `1.5M` is a mistake, not a size)."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"expected {SIZE_EXPECTED}, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"expected {SIZE_EXPECTED}, got {value!r} (negative)")
        return value
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"0[xX][0-9a-fA-F]+", text):
            return int(text, 16)
        m = _SIZE.match(text)
        if m:
            unit = {"": 1, "k": 1024, "m": 1024 * 1024}[m.group(2).lower()]
            return int(m.group(1)) * unit
    raise ValueError(f"expected {SIZE_EXPECTED}, got {value!r}")


def parse_address(value: Any) -> int:
    if isinstance(value, bool) or value is None:
        raise ValueError(f"expected {ADDRESS_EXPECTED}, got {value!r}")
    if isinstance(value, int) and 0 <= value <= 0xFFFFFFFF:
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*0[xX][0-9a-fA-F]{1,8}\s*", value):
        return int(value, 16)
    raise ValueError(f"expected {ADDRESS_EXPECTED}, got {value!r}")


def format_size(n_bytes: int) -> str:
    """`256K`, `1M`, or the byte count when it is not a whole K."""
    if n_bytes and n_bytes % (1024 * 1024) == 0:
        return f"{n_bytes // (1024 * 1024)}M"
    if n_bytes and n_bytes % 1024 == 0:
        return f"{n_bytes // 1024}K"
    return str(n_bytes)


# ----------------------------------------------------------------------------- schema

class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Region(_Strict):
    origin: int
    size: int
    note: str | None = None

    @field_validator("origin", mode="before")
    @classmethod
    def parse_origin(cls, v):
        return parse_address(v)

    @field_validator("size", mode="before")
    @classmethod
    def parse_size_field(cls, v):
        n = parse_size(v)
        if n <= 0:
            raise ValueError(f"expected {SIZE_EXPECTED} greater than 0, got {v!r}")
        return n

    @property
    def end(self) -> int:
        """One past the last byte."""
        return self.origin + self.size

    def contains(self, address: int) -> bool:
        return self.origin <= address < self.end


class Memory(BaseModel):
    """`flash` and `ram` (what the linker uses) plus informational named regions."""
    model_config = ConfigDict(extra="allow", frozen=True)
    __pydantic_extra__: dict[str, Region] = Field(init=False)

    flash: Region
    ram: Region

    @model_validator(mode="after")
    def check_regions(self):
        for key in (self.__pydantic_extra__ or {}):
            if not re.fullmatch(r"[a-z][a-z0-9_]*", key):
                raise ValueError(f"extra region name {key!r} must be lowercase letters, digits and _")
        if self.flash.origin < self.ram.end and self.ram.origin < self.flash.end:
            raise ValueError("flash and ram overlap")
        return self

    @property
    def extra_regions(self) -> dict[str, Region]:
        return dict(self.__pydantic_extra__ or {})


ConsoleKind = Literal["semihosting", "stm32-usart", "nrf52-uarte", "cmsdk-uart", "stellaris-uart",
                      "rp2040-uart", "apollo3-uart", "nrf51-uart", "lpc55-flexcomm"]


class Console(_Strict):
    kind: ConsoleKind
    base: int | None = None
    baud: int | None = Field(default=None, gt=0)
    instance: str | None = None
    tx_pin: str | None = None
    rx_pin: str | None = None
    gpio_af: int | None = Field(default=None, ge=0, le=15)
    clock_hz: int | None = Field(default=None, gt=0)
    variant: Literal["v1", "v2", "lpuart"] | None = None
    qemu_serial: int | None = Field(default=None, ge=0)
    note: str | None = None

    @field_validator("base", mode="before")
    @classmethod
    def parse_base(cls, v):
        return None if v is None else parse_address(v)

    @model_validator(mode="after")
    def check_console(self):
        if self.kind == "semihosting":
            if self.base is not None:
                raise ValueError("a semihosting console has no base address; remove 'base'")
        else:
            if self.base is None:
                raise ValueError(f"a {self.kind} console needs 'base' (the UART's peripheral address)")
            if self.baud is None:
                raise ValueError(f"a {self.kind} console needs 'baud'")
        if self.kind == "stm32-usart" and self.variant is None:
            raise ValueError("a stm32-usart console needs 'variant': v1 (SR/DR, F1/F2/F4), "
                             "v2 (ISR/TDR, F0/F3/F7/L4/L5/H7) or lpuart")
        if self.kind != "stm32-usart" and self.variant is not None:
            raise ValueError("'variant' only applies to stm32-usart consoles")
        return self


class BootStage(_Strict):
    name: str
    bytes: int
    note: str | None = None

    @field_validator("bytes", mode="before")
    @classmethod
    def parse_bytes(cls, v):
        return parse_size(v)


class QemuEmulator(_Strict):
    machine: str | None = None
    board: str | None = None
    stand_in: bool = False
    note: str | None = None

    @model_validator(mode="after")
    def one_target(self):
        if (self.machine is None) == (self.board is None):
            raise ValueError("give exactly one of 'machine' (QEMU models this board) or 'board' "
                             "(an emulator board used as a stand-in)")
        return self


class RenodeEmulator(_Strict):
    platform: str
    console: str
    mips: int | None = Field(default=None, gt=0)
    add_dwt: bool = False
    note: str | None = None


class Emulators(_Strict):
    qemu: QemuEmulator
    renode: RenodeEmulator | None = None


class Flashing(_Strict):
    default: Literal["pyocd", "openocd", "uf2", "copy"]
    pyocd_target: str | None = None
    openocd_config: str | list[str] | None = None
    uf2_family: int | None = None
    volume_label: str | None = None
    note: str | None = None

    @field_validator("uf2_family", mode="before")
    @classmethod
    def parse_family(cls, v):
        if v is None:
            return None
        if isinstance(v, bool):
            raise ValueError(f"expected a UF2 family ID such as 0xe48bff56, got {v!r}")
        if isinstance(v, str):
            try:
                v = int(v, 0)
            except ValueError:
                raise ValueError(f"expected a UF2 family ID such as 0xe48bff56, got {v!r}") from None
        if not isinstance(v, int) or not 0 <= v <= 0xFFFFFFFF:
            raise ValueError(f"expected a 32-bit UF2 family ID such as 0xe48bff56, got {v!r}")
        return v

    @model_validator(mode="after")
    def default_has_what_it_needs(self):
        needs = {"pyocd": ["pyocd_target"], "openocd": ["openocd_config"],
                 "uf2": ["uf2_family", "volume_label"], "copy": ["volume_label"]}[self.default]
        missing = [n for n in needs if getattr(self, n) is None]
        if missing:
            raise ValueError(f"default method {self.default} needs {' and '.join(missing)}")
        return self


class Power(_Strict):
    active_ua_per_mhz: float = Field(gt=0)
    supply_v: float = Field(gt=0)
    note: str | None = None


class Board(_Strict):
    """One board, as loaded from boards/<name>.yaml. Sizes are bytes."""
    name: str
    title: str
    vendor: str
    mcu: str
    core: str
    fpu: Literal["none", "fpv4-sp-d16", "fpv5-sp-d16", "fpv5-d16", "auto"]
    clock_hz: int = Field(gt=0)
    memory: Memory
    stack_bytes: int
    heap_bytes: int
    ram_reserve_percent: float = Field(default=10.0, ge=0, lt=100)
    console: Console
    alt_consoles: list[Console] = Field(default_factory=list)
    cycle_counter: Literal["dwt", "systick"]
    clock_init: str = "none"
    boot_stage: BootStage | None = None
    emulators: Emulators
    flashing: Flashing | None = None
    power: Power | None = None
    datasheet: str
    notes: str = ""

    _source_path: Path | None = PrivateAttr(default=None)

    @field_validator("stack_bytes", "heap_bytes", mode="before")
    @classmethod
    def parse_sizes(cls, v):
        return parse_size(v)

    @field_validator("name")
    @classmethod
    def check_name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(f"expected a lowercase name of letters, digits and '-', got {v!r}")
        if v in RESERVED_NAMES:
            raise ValueError(f"{v!r} is reserved (boards/cores.yaml)")
        return v

    @field_validator("clock_init")
    @classmethod
    def check_clock_init(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(f"expected 'none' or a clock-init template name such as stm32f4-hse-pll, got {v!r}")
        return v

    @model_validator(mode="after")
    def check_fits(self):
        if self.stack_bytes + self.heap_bytes >= self.memory.ram.size:
            raise ValueError(f"stack_bytes + heap_bytes ({self.stack_bytes + self.heap_bytes}) leave no RAM "
                             f"of the {self.memory.ram.size} in memory.ram")
        if self.boot_stage is not None and self.boot_stage.bytes >= self.memory.flash.size:
            raise ValueError("boot_stage.bytes is larger than memory.flash")
        return self

    @property
    def source_path(self) -> Path | None:
        """The YAML file this board was loaded from."""
        return self._source_path

    @property
    def is_emulator(self) -> bool:
        """An emulator machine of its own (QEMU models it exactly, no flashing)."""
        return self.emulators.qemu.machine is not None and self.flashing is None

    @property
    def ram_reserve_bytes(self) -> int:
        return reserve_bytes(self.memory.ram.size, self.ram_reserve_percent)


def reserve_bytes(ram_size: int, percent: float) -> int:
    """The reserve margin in bytes: `percent` of the RAM region, rounded up to a byte."""
    return math.ceil(Fraction(ram_size) * Fraction(str(percent)) / 100)


# ----------------------------------------------------------------------------- cores

class CoreFacts(_Strict):
    """Per-core compiler flags and features (boards/cores.yaml)."""
    arch: str
    flags: list[str]
    fpu_flags: dict[str, list[str]]
    dsp: bool
    dwt_cyccnt: bool
    note: str | None = None


# ----------------------------------------------------------------------------- errors

def _display(path: Path) -> str:
    """The path as a user would type it: relative to the cwd when below it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return rel if not rel.startswith("..") else str(path)


def _loc(loc: tuple) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts)


_FIELD_EXPECT = {
    "clock_hz": "an integer number of Hz such as 168000000",
    "ram_reserve_percent": "a percentage from 0 to 99",
    "cycle_counter": "dwt or systick",
}


def _allowed_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    """Field names allowed at the parent of loc (for unknown-key messages)."""
    current: Any = model
    for item in loc[:-1]:
        if isinstance(item, int):
            continue
        field = getattr(current, "model_fields", {}).get(item)
        if field is None:
            return []
        ann = field.annotation
        nxt = None
        for cand in (ann, *getattr(ann, "__args__", ())):
            if isinstance(cand, type) and issubclass(cand, BaseModel):
                nxt = cand
                break
            for sub in getattr(cand, "__args__", ()):
                if isinstance(sub, type) and issubclass(sub, BaseModel):
                    nxt = sub
        if nxt is None:
            return []
        current = nxt
    return sorted(getattr(current, "model_fields", {}))


def _describe_error(err: dict, model: type[BaseModel]) -> str:
    loc = tuple(err.get("loc", ()))
    where = _loc(loc) or "(top level)"
    kind = err.get("type", "")
    got = err.get("input")
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model, loc)
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        allowed_text = f" (allowed here: {', '.join(allowed)})" if allowed else ""
        return f"unknown field {where}{allowed_text}{hint}"
    if kind == "missing":
        return f"field {where} is missing"
    msg = str(err.get("msg", ""))
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
        if msg.startswith("expected"):
            return f"field {where}: {msg}" if loc else msg
        return f"field {where}: {msg}" if loc else msg
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        return f"field {where}: expected one of {expected}, got {got!r}"
    field = str(loc[-1]) if loc else ""
    if field in _FIELD_EXPECT:
        return f"field {where}: expected {_FIELD_EXPECT[field]}, got {got!r}"
    if kind in ("model_type", "dict_type"):
        return f"field {where}: expected a mapping of keys, got {got!r}"
    return f"field {where}: {msg[0].lower() + msg[1:] if msg else kind}, got {got!r}"


def validation_error(path: Path, exc: ValidationError, model: type[BaseModel] = Board) -> BoardError:
    """One sentence naming the file, the field and what was expected."""
    errors = exc.errors()
    first = _describe_error(errors[0], model)
    more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
    hint = None
    if len(errors) > 1:
        hint = "Also: " + "; ".join(_describe_error(e, model) for e in errors[1:6]) + "."
    return BoardError(f"{_display(path)}: {first}{more}.", path=path, hint=hint)


# ----------------------------------------------------------------------------- YAML

def _yaml_load(path: Path) -> Any:
    """Parse YAML, refusing duplicate keys (PyYAML silently keeps the last one)."""
    import yaml

    class _Loader(yaml.SafeLoader):
        pass

    def _mapping(loader, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return loader.construct_mapping(node, deep=deep)

    _Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BoardError(f"{_display(path)}: cannot read the board file ({exc.strerror}).", path=path) from exc
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise BoardError(f"{_display(path)}: not valid YAML{where} ({problem}).", path=path) from exc


# ----------------------------------------------------------------------------- machine facts

def source_of(board) -> str:
    """The board file's name for messages (`mps2-an386.yaml`), from a Board or a plain dict."""
    if isinstance(board, dict):
        path = board.get("source_path")
        name = board.get("name")
    else:
        path = getattr(board, "source_path", None) or (getattr(board, "model_extra", None) or {}).get("source_path")
        name = getattr(board, "name", None)
    return Path(path).name if path else f"{name}.yaml"


@lru_cache(maxsize=1)
def qemu_machines() -> dict[str, dict]:
    """boards/qemu-machines.yaml: facts about QEMU's model of each machine (SysTick rate)."""
    from .resources import data_dir

    path = data_dir("boards") / QEMU_MACHINES_FILE
    raw = _yaml_load(path) or {}
    if not isinstance(raw, dict):
        raise BoardError(f"{QEMU_MACHINES_FILE}: expected a mapping of QEMU machine names.", path=path)
    for machine, facts in raw.items():
        hz = facts.get("systick_hz") if isinstance(facts, dict) else None
        if not isinstance(hz, int) or isinstance(hz, bool) or hz <= 0:
            raise BoardError(f"{QEMU_MACHINES_FILE}: field {machine}.systick_hz: expected a positive "
                             f"integer in Hz, got {hz!r}.", path=path)
    return raw


def qemu_systick_hz(machine: str, fallback_hz: int) -> tuple[int, bool]:
    """(SysTick rate of the machine in QEMU, known): the fallback when the machine is not listed."""
    facts = qemu_machines().get(machine)
    if facts is not None:
        return int(facts["systick_hz"]), True
    return int(fallback_hz), False


# ----------------------------------------------------------------------------- search path

def search_dirs(boards_dirs: Iterable[str | Path] | None = None) -> list[Path]:
    """--boards-dir directories, then $TINYML_BOARDS_DIR, then the shipped boards."""
    from .resources import data_dir

    dirs: list[Path] = []
    for d in boards_dirs or ():
        p = Path(d)
        if not p.is_dir():
            raise BoardError(f"--boards-dir {d} is not a directory.", path=p)
        dirs.append(p)
    for d in (os.environ.get(ENV_VAR) or "").split(os.pathsep):
        if not d.strip():
            continue
        p = Path(d)
        if not p.is_dir():
            raise BoardError(f"{ENV_VAR} names {d}, which is not a directory.", path=p)
        dirs.append(p)
    dirs.append(data_dir("boards"))
    unique: list[Path] = []
    for d in dirs:
        if d.resolve() not in [u.resolve() for u in unique]:
            unique.append(d)
    return unique


def _board_files(dirs: list[Path]) -> dict[str, Path]:
    """name -> file, the first directory winning."""
    found: dict[str, Path] = {}
    for d in dirs:
        for f in sorted(d.glob("*.yaml")):
            if f.stem in RESERVED_NAMES or f.stem in found:
                continue
            found[f.stem] = f
    return found


@lru_cache(maxsize=64)
def _cores_cached(paths: tuple[Path, ...], mtimes: tuple[float, ...]) -> dict[str, CoreFacts]:
    cores: dict[str, CoreFacts] = {}
    for path in reversed(paths):  # later (shipped) first, user files override
        raw = _yaml_load(path)
        if not isinstance(raw, dict):
            raise BoardError(f"{_display(path)}: expected a mapping of core name to its facts.", path=path)
        for name, facts in raw.items():
            try:
                cores[str(name)] = CoreFacts.model_validate(facts)
            except ValidationError as exc:
                err = exc.errors()[0]
                err = dict(err, loc=(str(name), *err.get("loc", ())))
                raise BoardError(f"{_display(path)}: {_describe_error(err, CoreFacts)}.", path=path) from exc
    return cores


def load_cores(boards_dirs: Iterable[str | Path] | None = None) -> dict[str, CoreFacts]:
    """Core facts from every cores.yaml on the search path (user files override shipped ones)."""
    paths = tuple(d / CORES_FILE for d in search_dirs(boards_dirs) if (d / CORES_FILE).is_file())
    if not paths:
        raise BoardError("no boards/cores.yaml was found on the boards search path.")
    return _cores_cached(paths, tuple(p.stat().st_mtime for p in paths))


def load_board_file(path: str | Path, boards_dirs: Iterable[str | Path] | None = None) -> Board:
    """Load and validate one board file; errors name the file and the field."""
    path = Path(path)
    if not path.is_file():
        raise BoardError(f"board file {_display(path)} does not exist.", path=path)
    raw = _yaml_load(path)
    if not isinstance(raw, dict):
        raise BoardError(f"{_display(path)}: expected a mapping of board fields at the top level, "
                         f"got {type(raw).__name__}.", path=path)
    try:
        board = Board.model_validate(raw)
    except ValidationError as exc:
        raise validation_error(path, exc) from exc
    if board.name != path.stem:
        raise BoardError(f"{_display(path)}: field name: expected {path.stem!r} (the file name), "
                         f"got {board.name!r}.", path=path)
    cores = load_cores(boards_dirs)
    if board.core not in cores:
        close = difflib.get_close_matches(board.core, list(cores), n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise BoardError(f"{_display(path)}: field core: expected one of {', '.join(sorted(cores))} "
                         f"(boards/cores.yaml), got {board.core!r}{hint}.", path=path)
    facts = cores[board.core]
    if board.fpu not in facts.fpu_flags:
        raise BoardError(f"{_display(path)}: field fpu: a {board.core} takes one of "
                         f"{', '.join(facts.fpu_flags)}, got {board.fpu!r}.", path=path)
    board._source_path = path
    return board


def _looks_like_path(text: str) -> bool:
    return text.endswith((".yaml", ".yml")) or os.sep in text or "/" in text


def suggest(name: str, names: Iterable[str], n: int = 3) -> list[str]:
    """Closest board names: those the text starts or is part of first, then by spelling."""
    query = name.lower()
    scored = []
    for cand in names:
        ratio = difflib.SequenceMatcher(None, query, cand).ratio()
        if ratio >= 0.5 or query in cand:
            scored.append((not cand.startswith(query), query not in cand, -ratio, cand))
    return [c for *_, c in sorted(scored)[:n]]


def load_board(name_or_path: str | Path, boards_dirs: Iterable[str | Path] | None = None) -> Board:
    """A board by name (searched on the boards path) or by the path of its YAML file."""
    if isinstance(name_or_path, Board):
        return name_or_path
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or _looks_like_path(text):
        return load_board_file(Path(text), boards_dirs)
    dirs = search_dirs(boards_dirs)
    files = _board_files(dirs)
    if text not in files:
        close = suggest(text, files)
        did = f"; did you mean {' or '.join(close)}?" if close else "."
        raise BoardError(f"unknown board {text!r}{did}",
                         hint=f"Boards are searched in: {', '.join(_display(d) for d in dirs)}. "
                              "`tinyml boards list` shows them all.")
    return load_board_file(files[text], boards_dirs)


def list_boards(boards_dirs: Iterable[str | Path] | None = None) -> list[Board]:
    """Every board on the search path, sorted by name (user boards override shipped ones)."""
    files = _board_files(search_dirs(boards_dirs))
    return [load_board_file(files[n], boards_dirs) for n in sorted(files)]


# ----------------------------------------------------------------------------- derived facts

def core_facts(board: Board, boards_dirs: Iterable[str | Path] | None = None) -> CoreFacts:
    return load_cores(boards_dirs)[board.core]


def core_flags(board: Board, boards_dirs: Iterable[str | Path] | None = None) -> list[str]:
    """gcc flags for the board's core and FPU, e.g.
    ['-mcpu=cortex-m4', '-mthumb', '-mfpu=fpv4-sp-d16', '-mfloat-abi=hard']."""
    facts = core_facts(board, boards_dirs)
    return [*facts.flags, *facts.fpu_flags[board.fpu]]


class QemuTarget(NamedTuple):
    """`machine, emulator_board, stand_in = qemu_target(board)`."""
    machine: str
    emulator_board: Board
    stand_in: bool


def qemu_target(board: Board, boards_dirs: Iterable[str | Path] | None = None) -> QemuTarget:
    """(QEMU machine, the board whose memory map and console the emulated firmware
    uses, whether that is a stand-in for `board`)."""
    q = board.emulators.qemu
    if q.machine is not None:
        return QemuTarget(q.machine, board, q.stand_in)
    try:
        emu = load_board(q.board, boards_dirs)
    except BoardError as exc:
        where = _display(board.source_path) if board.source_path else board.name
        raise BoardError(f"{where}: field emulators.qemu.board: {exc.message}", path=board.source_path,
                         hint=exc.hint) from exc
    if emu.emulators.qemu.machine is None:
        where = _display(board.source_path) if board.source_path else board.name
        raise BoardError(f"{where}: field emulators.qemu.board: {emu.name} is not an emulator machine "
                         "(its emulators.qemu names no machine).", path=board.source_path)
    cores = load_cores(boards_dirs)
    if cores[emu.core].arch != cores[board.core].arch:
        # Same architecture (e.g. Cortex-M0 for a Cortex-M0+) runs the same instructions.
        where = _display(board.source_path) if board.source_path else board.name
        raise BoardError(f"{where}: field emulators.qemu.board: {emu.name} has a {emu.core} "
                         f"({cores[emu.core].arch}), not the {cores[board.core].arch} of the board's "
                         f"{board.core}.", path=board.source_path)
    return QemuTarget(emu.emulators.qemu.machine, emu, q.stand_in)


def board_summary(board: Board) -> dict:
    """The board as plain JSON-able data (sizes in bytes), for --json."""
    data = board.model_dump(mode="json")
    data["memory"] = {name: r.model_dump(mode="json", exclude_none=True)
                      for name, r in [("flash", board.memory.flash), ("ram", board.memory.ram),
                                      *board.memory.extra_regions.items()]}
    data["source_path"] = str(board.source_path) if board.source_path else None
    data["ram_reserve_bytes"] = board.ram_reserve_bytes
    return data


# ----------------------------------------------------------------------------- energy

ESTIMATE_SUPPLY_V = 3.3    # supply assumed where no datasheet figure names one


def energy_basis(board, boards_dirs: Iterable[str | Path] | None = None) -> dict:
    """The active current per MHz behind an energy-per-inference figure, and where it comes from.

    A board file's `power` is the datasheet's figure (named in the file). A board
    without one (the QEMU machines, MCUs whose datasheet gives no per-MHz figure) gets
    its core's typical figure: the median of the datasheet figures of the shipped
    boards with that core, or of all shipped boards when none has it, and is labelled
    an estimate with the boards it came from.
    """
    power = getattr(board, "power", None)
    if power is not None:
        return {"active_ua_per_mhz": float(power.active_ua_per_mhz), "supply_v": float(power.supply_v),
                "clock_hz": int(board.clock_hz), "kind": "datasheet",
                "source": f"{source_of(board)}: {power.note or board.datasheet}"}
    import statistics

    by_mcu: dict[str, Board] = {}      # one figure per MCU (two boards with one chip count once)
    for b in list_boards(boards_dirs):
        if getattr(b, "power", None) is not None:
            by_mcu.setdefault(b.mcu, b)
    with_figures = list(by_mcu.values())
    same_core = [b for b in with_figures if b.core == board.core]
    pool = same_core or with_figures
    if not pool:
        return {}
    figure = float(statistics.median_low(b.power.active_ua_per_mhz for b in pool))
    names = ", ".join(f"{b.mcu} {b.power.active_ua_per_mhz:g}" for b in pool)
    which = f"the shipped {board.core} boards" if same_core else f"all shipped boards (none with a {board.core})"
    return {"active_ua_per_mhz": figure, "supply_v": ESTIMATE_SUPPLY_V, "clock_hz": int(board.clock_hz),
            "kind": "core typical (estimate)",
            "source": (f"{board.name} has no datasheet current per MHz: the median of the datasheet figures "
                       f"of {which} (uA/MHz: {names}) at an assumed {ESTIMATE_SUPPLY_V:g} V")}
